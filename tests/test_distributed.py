"""Many cores, many machines (issue 9): --workers, --part + merge and the Ray executor give outputs
byte-identical to one process, on a corpus that meets every list kind and a licence policy."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provscan import ScanConfig, load_config, scan
from provscan.pipeline.driver import merge_run

SHARDS, ROWS = 6, 3000
OUTPUTS = ("flagged.parquet", "removals.sha256.txt", "summary.json")


def _hex(i: int, n: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()[:n]


def build(root: Path) -> tuple[Path, ScanConfig]:
    """Shards with URL, licence and image-hash columns, and a config with every kind of list."""
    data = root / "data"
    data.mkdir(parents=True)
    for s in range(SHARDS):
        ids = range(s * ROWS, (s + 1) * ROWS)
        pq.write_table(
            pa.table(
                {
                    "URL": [
                        f"http://{'bad' if i % 11 == 0 else 'site'}{i % 40}.example/d{i % 5}/p{i}?q={i % 3}"
                        for i in ids
                    ],
                    "TEXT": [f"caption {i}" for i in ids],
                    "LICENSE": [
                        "https://creativecommons.org/licenses/by-nc/4.0/" if i % 13 == 0 else "CC-BY-4.0" for i in ids
                    ],
                    "image_phash": [_hex(i % 97, 16) for i in ids],
                    "sha256": [_hex(i, 64) for i in ids],
                    "md5": [_hex(i, 32) for i in ids],
                }
            ),
            data / f"part-{s:02d}.parquet",
            row_group_size=1000,
        )
    lists = root / "lists"
    lists.mkdir()
    (lists / "domains.txt").write_text("".join(f"bad{i}.example\n" for i in range(0, 40, 3)))
    (lists / "allow.txt").write_text("bad0.example\n")
    (lists / "urls.txt").write_text("site7.example/d2/\nsite8.example/\n")
    (lists / "optout.txt").write_text("site9.example/\n")
    hashed = hashlib.sha256(b"site3.example/").hexdigest()
    (lists / "hashed.txt").write_text(hashed + "\n")
    (lists / "phash.txt").write_text(_hex(5, 16) + "\n" + _hex(6, 16) + "\n")
    (lists / "sha256.txt").write_text(_hex(17, 64) + "\n")
    (lists / "md5.txt").write_text(_hex(23, 32) + "\n")
    (lists / "registry.csv").write_text("expression,license\nsite4.example/,LicenseRef-no-ai-training\n")
    config = root / "provscan.toml"
    config.write_text("""
[[list]]
path = "lists/domains.txt"
kind = "domain"
[[list]]
path = "lists/allow.txt"
kind = "domain"
action = "allow"
[[list]]
path = "lists/urls.txt"
kind = "url"
[[list]]
path = "lists/optout.txt"
kind = "optout"
[[list]]
path = "lists/hashed.txt"
kind = "url-sha256"
[[list]]
path = "lists/phash.txt"
kind = "phash"
[[list]]
path = "lists/sha256.txt"
kind = "image-sha256"
[[list]]
path = "lists/md5.txt"
kind = "image-md5"
action = "flag"
[[list]]
path = "lists/registry.csv"
kind = "license-registry"
[licenses]
drop = ["LicenseRef-no-ai-training"]
flag = ["cc:nc"]
""")
    return data, load_config(config)


def snapshot(out: Path) -> dict[str, str]:
    files = [out / name for name in OUTPUTS] + sorted((out / "clean").rglob("*.parquet"))
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ScanConfig, dict[str, str]]:
    root = tmp_path_factory.mktemp("distributed")
    data, config = build(root)
    result = scan([data], config, output=root / "one")
    kinds = set(pq.read_table(root / "one" / "flagged.parquet").column("kind").to_pylist())
    assert kinds >= {"domain", "url", "optout", "url-sha256", "phash", "image-sha256", "image-md5", "license"}
    assert "allow" in set(pq.read_table(root / "one" / "flagged.parquet").column("action").to_pylist())
    assert result.manifest is not None and result.manifest["totals"]["rows_dropped"] > 0
    return data, config, snapshot(root / "one")


def test_two_workers_are_byte_identical(tmp_path: Path, reference) -> None:
    data, config, expected = reference
    result = scan([data], config, output=tmp_path / "two", workers=2)
    assert snapshot(tmp_path / "two") == expected
    assert result.committed == SHARDS


def test_parts_then_merge_are_byte_identical(tmp_path: Path, reference) -> None:
    data, config, expected = reference
    out = tmp_path / "parts"
    committed = [scan([data], config, output=out, part=(i, 4)).committed for i in range(4)]
    assert committed == [2, 2, 1, 1]  # shards k % 4 == i
    merge_run(out)
    assert snapshot(out) == expected


def test_a_part_resumes_on_its_own(tmp_path: Path, reference) -> None:
    data, config, expected = reference
    out = tmp_path / "parts"
    scan([data], config, output=out, part=(0, 2))
    again = scan([data], config, output=out, part=(0, 2))
    assert (again.committed, again.kept) == (0, 3)
    scan([data], config, output=out, part=(1, 2))
    merge_run(out)
    assert snapshot(out) == expected


try:
    import ray
except ImportError:  # the workers and parts tests above still run
    ray = None
needs_ray = pytest.mark.skipif(ray is None, reason="the ray extra is not installed (pip install 'provscan[ray]')")


@pytest.fixture(scope="module")
def local_ray():
    """A small local Ray for this module (never `ray stop`: it would kill every Ray on the machine)."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        ray.init(
            num_cpus=2,
            object_store_memory=200 * 2**20,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"Ray cannot start here: {exc}")
    yield
    ray.shutdown()


@needs_ray
def test_ray_executor_is_byte_identical(tmp_path: Path, reference, local_ray) -> None:
    data, config, expected = reference
    result = scan([data], config, output=tmp_path / "ray", executor="ray")
    assert snapshot(tmp_path / "ray") == expected
    assert result.committed == SHARDS


@needs_ray
def test_a_killed_ray_worker_is_retried(tmp_path: Path, reference, local_ray) -> None:
    """kill -9 a Ray worker process while it runs a shard task: Ray retries, outputs unchanged."""
    data, config, expected = reference
    proc = subprocess.Popen([sys.executable, "-c", KILLER, str(os.getpid())], stdout=subprocess.PIPE, text=True)
    try:
        scan([data], config, output=tmp_path / "ray", executor="ray")
    finally:
        proc.terminate()
        killed = proc.communicate(timeout=30)[0].strip()
    assert killed.startswith("killed"), killed
    assert snapshot(tmp_path / "ray") == expected


# Kills the first process whose title says it is running provscan's shard task and that descends from
# one of the pids given as arguments (this test's Ray: never another run's workers on a shared machine).
KILLER = """
import os, signal, sys, time
roots = {int(a) for a in sys.argv[1:]}
def ours(pid):
    while pid > 1:
        if pid in roots:
            return True
        try:
            with open(f'/proc/{pid}/stat', 'rb') as f:
                pid = int(f.read().rsplit(b')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmd = f.read()
        except OSError:
            continue
        if cmd.startswith(b'ray::_task') and ours(int(pid)):
            os.kill(int(pid), signal.SIGKILL)
            print('killed', pid, flush=True)
            raise SystemExit
    time.sleep(0.005)
print('no task seen', flush=True)
"""


@needs_ray
def test_unreachable_ray_address_is_one_line(tmp_path: Path, reference) -> None:
    data, _, _ = reference
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "provscan",
            "scan",
            str(data),
            "--no-config",
            "-o",
            str(tmp_path / "o"),
            "-q",
            "--executor",
            "ray",
            "--ray-address",
            "127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip().splitlines() == [result.stderr.strip()]
        and "cannot reach the Ray cluster at 127.0.0.1:1" in result.stderr
    )


@needs_ray
def test_cli_starts_and_stops_its_own_ray(tmp_path: Path, reference) -> None:
    data, config, expected = reference
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provscan",
            "scan",
            str(data),
            "-c",
            str(config.source),
            "-o",
            str(tmp_path / "cli"),
            "-q",
            "--executor",
            "ray",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = set()
    while proc.poll() is None:  # the Ray it starts is named after it: session_<date>_<time>_<pid>
        seen |= _ray_processes_of(proc.pid)
        time.sleep(0.1)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert snapshot(tmp_path / "cli") == expected
    assert seen, "no Ray process of this run was seen: the check below would prove nothing"
    assert _ray_processes_of(proc.pid) == set()  # the Ray it started is gone


def _ray_processes_of(driver: int) -> set[int]:
    """Pids of Ray processes (raylet, GCS, workers) of the Ray session a driver with this pid started."""
    mark = re.compile(rb"session_[0-9_-]+_%d\b" % driver)
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if mark.search(cmd):
            found.add(int(pid))
    return found


@needs_ray
@pytest.mark.parametrize(
    ("error", "said"),
    [
        ("WorkerCrashedError()", "failed after 3 retries: The worker died unexpectedly"),
        ("NodeDiedError('node 1 died')", "failed after 3 retries: node 1 died"),
        ("TaskUnschedulableError('no node fits')", "failed: The task is not schedulable: no node fits"),
        ("RuntimeEnvSetupError('pip failed')", "failed: "),
    ],
)
def test_retries_are_named_only_when_ray_retried(tmp_path: Path, error: str, said: str) -> None:
    """Issue 21 item 5: 'failed after N retries' only for the failures Ray retries."""
    from types import SimpleNamespace

    from provscan.errors import ProvscanError
    from provscan.io.shards import Columns, Shard
    from provscan.pipeline import ray_exec
    from provscan.pipeline.shard import ShardTask

    shard = tmp_path / "a.parquet"
    shard.write_bytes(b"PAR1")
    exc = eval(error, vars(ray.exceptions))
    fake = SimpleNamespace(
        exceptions=ray.exceptions,
        remote=lambda **_: lambda fn: SimpleNamespace(remote=lambda *a: "ref"),
        wait=lambda refs, num_returns: (refs[:1], refs[1:]),
        get=lambda ref: (_ for _ in ()).throw(exc),
        cancel=lambda ref, force: None,
    )
    task = ShardTask(0, Shard(shard, "a.parquet", "a.parquet"), Columns("url", None))
    with pytest.raises(ProvscanError) as caught:
        ray_exec._run(fake, None, [task], lambda entry: None, 1)
    assert str(caught.value).startswith(f"ray: shard a.parquet {said}")
    assert ("retries" in str(caught.value)) == ("retries" in said)
