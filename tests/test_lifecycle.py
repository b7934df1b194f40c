"""The output directory belongs to the run (issue 8): inputs never clobbered, one run per OUT, OUT holds
exactly one run, clean interruption, and --resume after kill -9 gives byte-identical outputs.

Real processes and real signals: every run here is `python -m provscan` in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provscan.pipeline.outdir import OutputDir
from provscan.pipeline.verify import verify_output

OUTPUTS = ("flagged.parquet", "removals.sha256.txt", "summary.json")


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provscan", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "provscan", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def corpus(root: Path, shards: int = 6, rows: int = 4000) -> Path:
    """Shards whose rows hit a domain list, a url list and a url-sha256 list (about 1 row in 7)."""
    root.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        urls = [f"http://{'bad' if i % 7 == 0 else 'ok'}{i % 50}.example/p/{s}/{i}?q={i}" for i in range(rows)]
        table = pa.table(
            {
                "URL": urls,
                "TEXT": [f"caption {i}" for i in range(rows)],
                "SAMPLE_ID": list(range(s * rows, (s + 1) * rows)),
            }
        )
        pq.write_table(table, root / f"part-{s:03d}.parquet", row_group_size=1000)
    return root


def lists(root: Path) -> list[str]:
    domain = root / "bad.txt"
    domain.write_text("# provscan-list: kind=domain name=bad\n" + "".join(f"bad{i}.example\n" for i in range(0, 50, 2)))
    url = root / "urls.txt"
    url.write_text("# provscan-list: kind=url name=paths\nok3.example/p/1/\n")
    return ["-b", str(domain), "-b", str(url), "-c", str(_empty_config(root))]


def _empty_config(root: Path) -> Path:
    path = root / "empty.toml"
    path.write_text("")
    return path


def snapshot(out: Path) -> dict[str, str]:
    """SHA-256 of the files a resumed run must reproduce byte for byte."""
    files = [out / name for name in OUTPUTS] + sorted((out / "clean").rglob("*.parquet"))
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def manifest_holds(out: Path) -> None:
    """If OUT has a manifest, it describes exactly the files on disk, and `provscan verify` accepts it."""
    path = out / "manifest.json"
    if not path.exists():
        return
    manifest = json.loads(path.read_text())
    on_disk = {
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and p.relative_to(out).parts[0] not in (".provscan", "cache") and p.name != "manifest.json"
    }
    assert set(manifest["files"]) == on_disk
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest, rel
    checked = verify_output(out)
    assert not checked.failures, checked.failures


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], dict[str, str]]:
    root = tmp_path_factory.mktemp("lifecycle")
    data = corpus(root / "data")
    args = lists(root)
    result = run("scan", str(data), *args, "-o", str(root / "ref"), "-q")
    assert result.returncode == 0, result.stderr
    return data, args, snapshot(root / "ref")


def test_output_inside_the_dataset_never_clobbers_a_shard(tmp_path: Path) -> None:
    """Reproduction 1: `-o ds` where ds/clean/part.parquet is one of the user's shards."""
    ds = corpus(tmp_path / "ds", shards=1, rows=50)
    (ds / "clean").mkdir()
    user = ds / "clean" / "part-000.parquet"
    (ds / "part-000.parquet").rename(user)
    corpus(tmp_path / "tmp", shards=1, rows=50)
    (tmp_path / "tmp" / "part-000.parquet").rename(ds / "part-000.parquet")
    before = user.read_bytes()
    result = run("scan", str(ds), *lists(tmp_path), "-o", str(ds), "-q")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert user.read_bytes() == before


def test_scanning_its_own_clean_output_is_refused(tmp_path: Path, reference) -> None:
    data, args, _ = reference
    out = tmp_path / "out"
    assert run("scan", str(data), *args, "-o", str(out), "-q").returncode == 0
    before = snapshot(out)
    result = run("scan", str(out / "clean"), *args, "-o", str(out), "-q")
    assert result.returncode == 1
    assert "is the input shard" in result.stderr and str(out / "clean") in result.stderr
    assert snapshot(out) == before


def test_output_below_the_input_directory_is_not_scanned(tmp_path: Path) -> None:
    d = corpus(tmp_path / "d", shards=2, rows=100)
    for _ in range(2):
        result = run("scan", str(d), *lists(tmp_path), "-o", str(d / "out"), "-q")
        assert result.returncode == 0, result.stderr
        manifest = json.loads((d / "out" / "manifest.json").read_text())
        assert [s["path"] for s in manifest["shards"]] == [str(d / "part-000.parquet"), str(d / "part-001.parquet")]


def test_a_second_run_into_a_locked_out_fails_at_once(tmp_path: Path, reference) -> None:
    data, args, _ = reference
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from provscan.pipeline.outdir import OutputDir\n"
            f"with OutputDir(Path({str(out)!r})):\n print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = run("scan", str(data), *args, "-o", str(out), "-q")
        assert result.returncode == 1
        assert f"is in use by another provscan run (pid {holder.pid})" in result.stderr
        assert not (out / "manifest.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert run("scan", str(data), *args, "-o", str(out), "-q").returncode == 0


def test_two_concurrent_runs_exactly_one_proceeds(tmp_path: Path, reference) -> None:
    data, args, expected = reference
    out = tmp_path / "out"
    with OutputDir(out):  # a run is in progress: both newcomers must be refused, neither may write
        results = [start("scan", str(data), *args, "-o", str(out), "-q") for _ in range(2)]
        codes = [p.wait(timeout=120) for p in results]
    assert codes == [1, 1]
    procs = [start("scan", str(data), *args, "-o", str(out), "-q") for _ in range(2)]
    outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    winners = [code for code, _ in outcomes if code == 0]
    losers = [err for code, err in outcomes if code != 0]
    assert len(winners) >= 1  # both may succeed one after the other; never both at once
    assert all("in use by another provscan run" in err for err in losers)
    assert snapshot(out) == expected
    manifest_holds(out)


def test_rerun_with_fewer_shards_leaves_only_this_run(tmp_path: Path, reference) -> None:
    data, args, _ = reference
    out = tmp_path / "out"
    assert run("scan", str(data), *args, "-o", str(out), "-q").returncode == 0
    assert (out / "clean" / "part-005.parquet").exists()
    assert run("scan", str(data / "part-000.parquet"), *args, "-o", str(out), "-q").returncode == 0
    assert sorted(p.name for p in (out / "clean").iterdir()) == ["part-000.parquet"]
    manifest_holds(out)


def test_unknown_files_in_out_are_refused_and_kept(tmp_path: Path, reference) -> None:
    data, args, _ = reference
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run("scan", str(data), *args, "-o", str(out), "-q")
    assert result.returncode == 1 and "notes.txt" in result.stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "flagged.parquet").exists()


@pytest.mark.parametrize("name", ["summary.json", "manifest.json", "report.html"])
def test_a_file_named_like_an_output_is_not_ours_in_a_fresh_out(tmp_path: Path, reference, name: str) -> None:
    """provscan never deletes a file it did not write, even one named like its own outputs."""
    data, args, _ = reference
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text('{"mine": true}')
    result = run("scan", str(data), *args, "-o", str(out), "-q")
    assert result.returncode == 1 and name in result.stderr
    assert (out / name).read_text() == '{"mine": true}'


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_ends_with_one_line_and_resume_finishes(tmp_path: Path, reference, signum: int, code: int) -> None:
    data, args, expected = reference
    out = tmp_path / "out"
    proc = start("scan", str(data), *args, "-o", str(out), "-q")
    _wait_for_commits(out, 1, proc)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived (machine too fast for this corpus)")
    assert proc.returncode == code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "interrupted:" in lines[0] and "--resume" in lines[0], stderr
    assert "Traceback" not in stderr
    assert not (out / "manifest.json").exists()
    resumed = run("scan", str(data), *args, "-o", str(out), "-q", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(out) == expected
    manifest_holds(out)


def test_kill_9_at_20_moments_then_resume_is_byte_identical(tmp_path: Path) -> None:
    """kill -9 at 17 seeded moments spread over the run, and at 3 events (first cleaned shard being
    written, every shard committed, flagged.parquet merged), each followed by --resume: outputs are
    byte-identical to an uninterrupted run, and OUT never holds a manifest that does not describe
    the files beside it."""
    data = corpus(tmp_path / "data", shards=8, rows=20_000)
    args = lists(tmp_path)
    events: dict[str, float] = {}
    t0 = time.monotonic()
    proc = start("scan", str(data), *args, "-o", str(tmp_path / "ref"), "-q")
    while proc.poll() is None:
        _note_events(tmp_path / "ref", events, time.monotonic() - t0)
        time.sleep(0.005)
    assert proc.returncode == 0
    expected, duration = snapshot(tmp_path / "ref"), time.monotonic() - t0
    rng = random.Random(8)
    first = events.get("intent", 0.3 * duration)
    plans: list[float | str] = [rng.uniform(0.6 * first, duration) for _ in range(17)]
    plans += ["intent", "committed", "flagged"]
    phases: set[str] = set()
    for i, when in enumerate(plans):
        out = tmp_path / f"out{i}"
        proc = start("scan", str(data), *args, "-o", str(out), "-q")
        t0, seen = time.monotonic(), {}
        while proc.poll() is None:
            elapsed = time.monotonic() - t0
            _note_events(out, seen, elapsed)
            if (when in seen) if isinstance(when, str) else elapsed >= when:
                proc.kill()
                break
            time.sleep(0.002)
        proc.wait()
        commits = len(list((out / ".provscan" / "shards").glob("*/commit.json")))
        phases.add(
            "complete"
            if (out / "manifest.json").exists()
            else "before"
            if commits == 0
            else "merging"
            if commits == 8
            else "scanning"
        )
        manifest_holds(out)
        resumed = run("scan", str(data), *args, "-o", str(out), "-q", "--resume")
        assert resumed.returncode == 0, (when, resumed.stderr)
        assert snapshot(out) == expected, when
        assert not any(".tmp-" in p.name for p in out.rglob("*")), "temp files of the killed run must be removed"
        manifest_holds(out)
    print(f"run of {duration:.2f} s; kills hit phases {sorted(phases)}")
    assert {"before", "scanning", "merging"} <= phases


def _note_events(out: Path, seen: dict[str, float], elapsed: float) -> None:
    shards = out / ".provscan" / "shards"
    if "intent" not in seen and any(shards.glob("*/intent.json")):
        seen["intent"] = elapsed
    if "committed" not in seen and len(list(shards.glob("*/commit.json"))) == 8:
        seen["committed"] = elapsed
    if "flagged" not in seen and (out / "flagged.parquet").exists():
        seen["flagged"] = elapsed


def test_resume_after_a_list_change_redoes_and_says_so(tmp_path: Path, reference) -> None:
    data, args, _ = reference
    out = tmp_path / "out"
    assert run("scan", str(data), *args, "-o", str(out), "-q").returncode == 0
    kept = run("scan", str(data), *args, "-o", str(out), "--resume")
    assert kept.returncode == 0
    assert "resume: kept 6 of 6 shards" in kept.stderr
    changed = tmp_path / "more.txt"
    changed.write_text("# provscan-list: kind=domain name=more\nok1.example\n")
    redo = run("scan", str(data), *args, "-b", str(changed), "-o", str(out), "--resume")
    assert redo.returncode == 0
    assert "resume: kept 0 of 6 shards; redoing 6 (lists or config changed)" in redo.stderr
    flagged = pq.read_table(out / "flagged.parquet")
    assert "more" in set(flagged.column("list").to_pylist())


def _wait_for_commits(out: Path, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / ".provscan" / "shards").glob("*/commit.json"))) >= n:
            return
        time.sleep(0.02)


def test_disk_full_is_a_clear_error_and_resume_finishes(tmp_path: Path, reference) -> None:
    data, args, expected = reference
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        out = mnt / "out"
        result = run("scan", str(data), *args, "-o", str(out), "-q")
        assert result.returncode == 1, result.stderr
        assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert not (out / "manifest.json").exists()
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        resumed = run("scan", str(data), *args, "-o", str(out), "-q", "--resume")
        assert resumed.returncode == 0, resumed.stderr
        assert snapshot(out) == expected
        manifest_holds(out)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_workers_and_parts_are_byte_identical_to_one_process(tmp_path: Path, reference) -> None:
    data, args, expected = reference
    two = tmp_path / "two"
    result = run("scan", str(data), *args, "-o", str(two), "-q", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert snapshot(two) == expected
    manifest_holds(two)
    parts = tmp_path / "parts"
    for i in range(3):
        part = run("scan", str(data), *args, "-o", str(parts), "-q", "--part", f"{i}/3")
        assert part.returncode == 0, part.stderr
        if i == 1:
            early = run("merge", str(parts), "-q")
            assert early.returncode == 1 and "2 of 6 shards are not committed yet" in early.stderr
            assert str(data / "part-002.parquet") in early.stderr
    merged = run("merge", str(parts), "-q")
    assert merged.returncode == 0, merged.stderr
    assert snapshot(parts) == expected
    manifest_holds(parts)
