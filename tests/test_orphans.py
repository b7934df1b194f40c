"""kill -9 of a ``--workers N`` run (issue 16 item 5): its workers die with it, commit nothing more, hold
OUT's lock while they live, and a ``--resume`` started at once finishes byte-identical to one process.
The workers are forked by the run's forkserver (:mod:`provscan.pipeline.zygote`): it must die with
the run too, and have no thread of its own when it forks.

Real processes and a real SIGKILL; Linux only (workers are found through /proc).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_lifecycle import corpus, lists, run, snapshot, start

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper (a container's init may never reap orphans)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_text()
    except OSError:
        return ""


def _holds(pid: int, path: Path) -> bool:
    try:
        fds = list((Path("/proc") / str(pid) / "fd").iterdir())
    except OSError:
        return False
    return any(os.path.realpath(fd) == str(path) for fd in fds if fd.is_symlink())


def _commits(out: Path) -> int:
    return len(list((out / ".provscan" / "shards").glob("*/commit.json")))


def test_kill_9_of_the_parent_ends_its_workers_and_resume_runs_alone(tmp_path: Path) -> None:
    data = corpus(tmp_path / "data", shards=8, rows=10_000)
    args = lists(tmp_path)
    reference = run("scan", str(data), *args, "-o", str(tmp_path / "ref"), "-q")
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "out"
    parent = start("scan", str(data), *args, "-o", str(out), "-q", "--workers", "2")
    children: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while _commits(out) < 1 and parent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        children = _children(parent.pid)  # the forkserver and multiprocessing's resource tracker
        servers = [pid for pid in children if "multiprocessing.forkserver" in _cmdline(pid)]
        workers = [pid for server in servers for pid in _children(server)]
        if parent.poll() is not None or _commits(out) == 8:
            pytest.skip("the run finished before the kill (machine too fast for this corpus)")
        assert len(servers) == 1 and len(workers) == 2
        (server,) = servers
        assert len(list((Path("/proc") / str(server) / "task").iterdir())) == 1, "a forking process has no thread"
        lock = (out / ".provscan" / "lock").resolve()
        assert all(_holds(pid, lock) for pid in workers), "every worker holds OUT's lock while it may write into OUT"
        assert not _holds(server, lock), "the server writes nothing into OUT"
        children += workers
        parent.send_signal(signal.SIGKILL)
        parent.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while any(map(_alive, [server, *workers])) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(server), "the forkserver outlived the run"
        assert not any(map(_alive, workers)), "workers outlived their parent"
        after_kill = _commits(out)
        time.sleep(1.0)
        assert _commits(out) == after_kill < 8, "nothing may commit once the parent is gone"
        resumed = run("scan", str(data), *args, "-o", str(out), "-q", "--resume", "--workers", "2")
        assert resumed.returncode == 0, resumed.stderr
        assert snapshot(out) == snapshot(tmp_path / "ref")
    finally:
        parent.kill()
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_whose_parent_died_before_it_was_bound_exits_at_once(tmp_path: Path) -> None:
    """The window before ``bind_to_parent``: a parent pid that is not this process's parent ends it."""
    code = (
        "from provscan.pipeline import lifeline; lifeline.bind_to_parent(1, lifeline.InheritedLocks(())); "
        "print('still running')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 128 + signal.SIGKILL and "still running" not in result.stdout
