"""A real two-node Ray cluster (issue 21): a head and a second node started with `ray start` on
127.0.0.1, both in a decoy working directory that holds another `data/` and an earlier run's `out/`,
as a cluster user's nodes would. The second node runs in its own mount namespace (when this machine
allows one): there a folder is hidden and another holds other bytes under the same names, which is
how a node that mounts the wrong thing looks. The module stops only the processes it started.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provscan import scan
from test_distributed import KILLER, ROWS, SHARDS, build, snapshot

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'provscan[ray]')")
RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@dataclass
class Cluster:
    address: str
    root: Path
    user: Path  # the user's working directory: data/, provscan.toml
    decoy: Path  # every node's working directory: another data/ and out/
    expected: dict[str, str]  # outputs of --workers 1 on the user's data
    namespaced: bool  # the second node sees hidden/ empty and swapped/ with other bytes
    nodes: tuple[int, int]  # pids of the head's and the second node's `ray start`: every Ray process descends from one


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], cwd: Path, log: Path, *, namespace: str | None = None) -> subprocess.Popen[bytes]:
    command = [RAY, "start", *args, "--block"]
    if namespace is not None:  # mounts first, in a private mount namespace, then the node
        command = ["unshare", "-m", "--propagation", "private", "sh", "-c", f'{namespace} && exec "$@"', "sh", *command]
    return subprocess.Popen(
        command, cwd=cwd, env=ENV, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_ready(proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if "block forever" in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    raise RuntimeError("ray start did not come up in 90 s")


def _ours(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def _stop(procs: list[subprocess.Popen[bytes]], marker: str) -> None:
    """SIGTERM the `ray start --block` processes (each stops its node), then anything left that
    carries this cluster's temp dir; never `ray stop`, which would stop every Ray on the machine."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _ours(marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("cluster")
    user, decoy = root / "user", root / "decoy"
    data, config = build(user)
    with contextlib.chdir(user):  # shards given as `data`, as the CLI runs below give them
        scan(["data"], config, output=root / "expected")
    expected = snapshot(root / "expected")
    decoy.mkdir()
    pq.write_table(
        pa.table({"URL": [f"http://decoy{i}.example/" for i in range(100)]}), _mk(decoy / "data") / "d.parquet"
    )
    scan([decoy / "data"], output=decoy / "out")  # an earlier run the workers' cwd holds
    (root / "hidden").mkdir()
    shutil.copytree(data, root / "hidden" / "data")
    shutil.copytree(data, root / "swapped" / "data")
    other = _mk(root / "other")  # the same names, other bytes: what the second node sees in swapped/data
    for shard in sorted(data.iterdir()):
        table = pq.read_table(shard)
        pq.write_table(table.slice(0, table.num_rows - 1), other / shard.name)
    temp = Path("/tmp") / f"provscan-ray-{os.getpid()}"  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    logs = _mk(root / "logs")
    common = ["--node-ip-address=127.0.0.1", "--object-store-memory=100000000", "--disable-usage-stats"]
    procs = []
    try:
        head = _start(
            ["--head", f"--port={port}", "--num-cpus=1", f"--temp-dir={temp}", "--include-dashboard=false", *common],
            decoy,
            logs / "head.log",
        )
        procs.append(head)
        _wait_ready(head, logs / "head.log")
        mounts = f"mount -t tmpfs tmpfs {root / 'hidden'} && mount --bind {other} {root / 'swapped' / 'data'}"
        namespaced = (
            subprocess.run(
                ["unshare", "-m", "--propagation", "private", "sh", "-c", mounts], capture_output=True
            ).returncode
            == 0
        )
        second = _start(
            [f"--address=127.0.0.1:{port}", "--num-cpus=2", *common],
            decoy,
            logs / "second.log",
            namespace=mounts if namespaced else None,
        )
        procs.append(second)
        _wait_ready(second, logs / "second.log")
        yield Cluster(f"127.0.0.1:{port}", root, user, decoy, expected, namespaced, (head.pid, second.pid))
    except RuntimeError as exc:
        pytest.skip(f"a two-node Ray cluster cannot start here: {exc}")
    finally:
        _stop(procs, str(temp))
        shutil.rmtree(temp, ignore_errors=True)


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def provscan(cluster: Cluster, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provscan", "scan", *args, "--executor", "ray", "--ray-address", cluster.address],
        cwd=cwd or cluster.user,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_relative_paths_are_the_users_not_the_workers(cluster: Cluster) -> None:
    """Items 1, 2: `scan data -o out` from the user's directory, while every worker's cwd holds
    another data/ and out/: the user's shards are scanned, into the user's out/, byte-identical."""
    decoy_before = _digests(cluster.decoy / "out")
    result = provscan(cluster, "data", "-c", "provscan.toml", "-o", "out", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # Ray's log lines went to the file
    out = cluster.user / "out"
    assert snapshot(out) == cluster.expected
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["rows_in"] == SHARDS * ROWS
    assert not [name for name in manifest["files"] if ".tmp-" in name]
    assert _digests(cluster.decoy / "out") == decoy_before
    assert (out / ".provscan" / "ray.log").is_file()


def test_a_node_that_cannot_see_the_inputs_is_named_by_node_id(cluster: Cluster, tmp_path: Path) -> None:
    """Item 4: both nodes answer at 127.0.0.1; the one whose mount hides the shards is found."""
    if not cluster.namespaced:
        pytest.skip("no private mount namespace here (unshare -m needs root): no node can be made blind")
    result = provscan(
        cluster, str(cluster.root / "hidden" / "data"), "-c", "provscan.toml", "-o", str(tmp_path / "o"), "-q"
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot see" in lines[0] and str(cluster.root / "hidden" / "data") in lines[0], lines
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_a_shard_with_other_bytes_on_a_node_fails_the_run(cluster: Cluster, tmp_path: Path) -> None:
    """Item 1: same path, other bytes on the node the tasks run on: refused, never scanned."""
    if not cluster.namespaced:
        pytest.skip("no private mount namespace here (unshare -m needs root): no node can see other bytes")
    # 2 CPUs per task: only the second node can run them, and there swapped/data holds other bytes.
    result = provscan(
        cluster,
        str(cluster.root / "swapped" / "data"),
        "-c",
        "provscan.toml",
        "-o",
        str(tmp_path / "o"),
        "-q",
        "--ray-cpus-per-task",
        "2",
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not the file the driver planned" in lines[0], lines
    assert "retries" not in lines[0]  # the task raised: Ray did not retry it
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_more_cpus_per_task_than_any_node_has_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    result = provscan(
        cluster, "data", "-c", "provscan.toml", "-o", str(tmp_path / "o"), "-q", "--ray-cpus-per-task", "3"
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: --ray-cpus-per-task 3: no Ray node has that many CPUs (nodes have 1, 2)"


def test_tasks_are_sized_from_their_cpus(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 6: DuckDB threads = the task's CPUs; fetch limits split among a node's task slots."""
    from provscan.config import load_config
    from provscan.pipeline import ray_exec

    seen = {}

    class Stop(Exception):
        pass

    def capture(ray_module, spec, tasks, on_commit, cpus, **_):
        options = spec.config.fetch_options
        seen.update(
            threads=spec.threads,
            cpus=cpus,
            options={"per_host": options.per_host, "concurrency": options.concurrency},
            out=spec.out,
            paths={t.shard.path.is_absolute() for t in tasks},
        )
        raise Stop

    monkeypatch.setattr(ray_exec, "_run", capture)
    monkeypatch.chdir(cluster.user)
    config = load_config(cluster.user / "provscan.toml")
    with pytest.raises(Stop):
        scan(
            ["data"],
            config,
            output="o",
            executor="ray",
            ray_address=cluster.address,
            fetch=True,
            fetch_options={"per_host": 8, "concurrency": 64},
        )
    # the second node has 2 CPUs: 2 one-CPU tasks at once there, each gets half the per-node limits
    assert seen == {
        "threads": 1,
        "cpus": 1,
        "options": {"per_host": 4, "concurrency": 32},
        "out": cluster.user / "o",
        "paths": {True},
    }


def test_sigterm_is_143_and_leaves_the_cluster_up(cluster: Cluster, tmp_path: Path) -> None:
    """Item 5: SIGTERM mid-run: provscan's one line and 143, no Ray dump; the cluster stays up and
    --resume finishes byte-identical."""
    out = tmp_path / "o"
    command = [
        sys.executable,
        "-m",
        "provscan",
        "scan",
        "data",
        "-c",
        "provscan.toml",
        "-o",
        str(out),
        "-q",
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
    ]
    proc = subprocess.Popen(
        command, cwd=cluster.user, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if list((out / ".provscan" / "shards").glob("*/commit.json")):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 143, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "interrupted:" in lines[0] and "--resume" in lines[0], lines
    assert "SIGTERM received" not in stderr and "PC: @" not in stderr
    deadline = time.monotonic() + 30  # the run's tasks stop with it (the driver's job ended): none keeps writing
    while _tasks_running(cluster) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _tasks_running(cluster)
    resumed = provscan(cluster, "data", "-c", "provscan.toml", "-o", str(out), "-q", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(out) == cluster.expected


def _launch(cluster: Cluster, out: Path, *args: str) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "provscan",
        "scan",
        "data",
        "-c",
        "provscan.toml",
        "-o",
        str(out),
        "-q",
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
        *args,
    ]
    return subprocess.Popen(
        command, cwd=cluster.user, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _under_way(proc: subprocess.Popen[str], out: Path) -> bool:
    """Wait for the run's first commit: True while the run is then still going."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if list((out / ".provscan" / "shards").glob("*/commit.json")):
            return True
        time.sleep(0.02)
    return False


def _descendants(roots: tuple[int, ...]) -> dict[int, bytes]:
    """{pid: cmdline} of every process under the given pids (this cluster's Ray processes)."""
    parents = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parents[int(pid)] = int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = set(), set(roots)
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    cmdlines = {}
    for pid in found:
        with contextlib.suppress(OSError):
            cmdlines[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()
    return cmdlines


def _tasks_running(cluster: Cluster) -> list[int]:
    return [pid for pid, cmd in _descendants(cluster.nodes).items() if cmd.startswith(b"ray::_task")]


def test_a_killed_worker_is_retried_and_temp_files_are_never_listed(cluster: Cluster, tmp_path: Path) -> None:
    """Item 3: kill -9 a worker mid-shard (Ray retries it), and while the run is under way a
    half-written clean shard by provscan's temp name appears (`clean/.part-01.parquet.tmp-PID`, as a
    worker killed mid-write leaves it): the merge removes it, the manifest never lists a temp name,
    the outputs are byte-identical and `verify --inputs` passes."""
    out = tmp_path / "o"
    killer = subprocess.Popen(
        [sys.executable, "-c", KILLER, *map(str, cluster.nodes)], stdout=subprocess.PIPE, text=True
    )
    try:
        proc = _launch(cluster, out)
        if not _under_way(proc, out):
            proc.communicate(timeout=300)
            pytest.skip("the run finished before a shard committed")
        (out / "clean").mkdir(exist_ok=True)
        leftover = out / "clean" / ".part-01.parquet.tmp-4242"
        leftover.write_bytes(os.urandom(1 << 20))
        planted_in_time = not (out / "manifest.json").exists()
        _, stderr = proc.communicate(timeout=300)
    finally:
        killer.terminate()
        killed = killer.communicate(timeout=30)[0].strip()
    if not planted_in_time:
        pytest.skip("the run merged before the file was planted")
    assert killed.startswith("killed"), killed
    assert proc.returncode == 0, stderr
    assert not leftover.exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"] and not [name for name in manifest["files"] if ".tmp-" in name]
    assert not [p for p in out.rglob("*.tmp-*") if ".provscan" not in p.parts]
    assert snapshot(out) == cluster.expected
    verified = subprocess.run(
        [sys.executable, "-m", "provscan", "verify", str(out), "--inputs"],
        cwd=cluster.user,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_lost_node_is_retried_quietly(cluster: Cluster, tmp_path: Path) -> None:
    """Item 5, run last (it takes the second node down): kill -9 the second node's raylet while its
    tasks run. Ray retries them on the head; the run ends byte-identical, and Ray's account of the
    lost node goes to OUT/.provscan/ray.log, not to the terminal."""
    out = tmp_path / "o"
    proc = _launch(cluster, out)
    raylet = None
    deadline = time.monotonic() + 120
    while raylet is None and proc.poll() is None and time.monotonic() < deadline:
        second = _descendants((cluster.nodes[1],))
        if any(cmd.startswith(b"ray::_task") for cmd in second.values()):  # a shard task runs there
            raylet = next((pid for pid, cmd in second.items() if b"raylet/raylet" in cmd.split(b"\0")[0]), None)
        time.sleep(0.02)
    if raylet is None:
        proc.communicate(timeout=300)
        pytest.skip("no task ran on the second node while the run lasted")
    os.kill(raylet, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert stderr == ""  # -q: nothing of Ray's on the terminal
    assert snapshot(out) == cluster.expected
    manifest = json.loads((out / "manifest.json").read_text())
    assert not [name for name in manifest["files"] if ".tmp-" in name]


def test_a_lost_head_is_one_line_that_names_rays_log(cluster: Cluster, tmp_path: Path) -> None:
    """Item 5, run after every other test (it ends the cluster): the GCS dies mid-run. Ray's core
    worker writes its errors straight to fd 2 and then ends the driver itself; the terminal gets one
    line naming OUT/.provscan/ray.log, which holds Ray's own lines. (The second node, lost in the test
    before, may still be listed as alive: the preflight passes over a node that left.)"""
    out, many = tmp_path / "o", _mk(tmp_path / "many")
    for copy in range(5):  # 30 shards: the run is still going when the head goes
        for shard in sorted((cluster.user / "data").iterdir()):
            shutil.copy(shard, many / f"{copy}-{shard.name}")
    command = [
        sys.executable,
        "-m",
        "provscan",
        "scan",
        str(many),
        "-c",
        "provscan.toml",
        "-o",
        str(out),
        "-q",
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
    ]
    env = {**ENV, "RAY_gcs_rpc_server_reconnect_timeout_s": "1"}  # Ray's default waits 60 s for the GCS
    proc = subprocess.Popen(
        command, cwd=cluster.user, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if not _under_way(proc, out):
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        pytest.skip("the run finished before a shard committed")
    gcs = [pid for pid, cmd in _descendants((cluster.nodes[0],)).items() if b"gcs_server" in cmd.split(b"\0")[0]]
    assert gcs, "no GCS process found under the head"
    os.kill(gcs[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the GCS was gone")
    log = out / ".provscan" / "ray.log"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Ray ended provscan: ") and str(log) in lines[0], stderr
    assert "GCS" in lines[0] and "--resume" in lines[0]
    assert "GCS" in log.read_text()
