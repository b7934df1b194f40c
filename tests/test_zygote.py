"""``--workers`` forks its workers from a server that imported their code once (issue 23: a worker's
start <= 0.1 CPU-s): the server forks from one thread, its workers find the worker path and the run's
stages already imported, they take the server for their parent, and the server ends with the run.
Linux only (processes are found through /proc; ``prctl`` binds them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provscan.pipeline import executors
from provscan.stages import plan
from test_lifecycle import corpus, lists
from test_orphans import _children, _cmdline
from zygote_probe import probe

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")

EVERY_STAGE = plan.modules([step.name for step in plan.PLAN])


def _servers() -> list[int]:
    return [pid for pid in _children(os.getpid()) if "multiprocessing.forkserver" in _cmdline(pid)]


def test_workers_fork_from_a_single_threaded_server_with_their_code_imported() -> None:
    wanted = ["pyarrow", "duckdb", "provscan.pipeline.executors", "provscan.pipeline.session", *EVERY_STAGE]
    with executors.forked_workers(EVERY_STAGE) as context:
        assert context.get_start_method() == "forkserver"
        with context.Pool(1) as pool:
            imported = pool.apply(probe, (wanted,))
        (server,) = _servers()
        assert len(os.listdir(f"/proc/{server}/task")) == 1, "a forking process has no thread"
    assert imported == [True] * len(wanted), dict(zip(wanted, imported))
    assert _servers() == [], "the server is stopped (and waited for) when the run ends"


def test_a_scan_with_workers_leaves_no_server_behind(tmp_path: Path) -> None:
    data = corpus(tmp_path / "data", shards=3, rows=500)
    code = f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from provscan.cli import main
        from test_orphans import _children, _cmdline
        sys.argv = ["provscan", "scan", {str(data)!r}, *{lists(tmp_path)!r}, "-o", {str(tmp_path / "out")!r}, "-q", "--workers", "2"]
        try:
            main()
        except SystemExit as done:
            assert done.code == 0, done.code
        left = [p for p in _children(os.getpid()) if "forkserver" in _cmdline(p)]
        print("left", left)
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "left []" in done.stdout
    assert (tmp_path / "out" / "manifest.json").is_file()


PARENTS = """
import os, signal, sys
from provscan.pipeline import lifeline
run = os.getpid()
server = os.fork()
if server == 0:
    lifeline.serve_workers()
    worker = os.fork()
    if worker == 0:
        lifeline.bind_to_parent(run if sys.argv[1] == "run" else 1, lifeline.InheritedLocks(()))
        print("bound", flush=True)
        os._exit(0)
    _, status = os.waitpid(worker, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(128 - code if code < 0 else code)
_, status = os.waitpid(server, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_worker_of_the_server_takes_it_for_its_parent() -> None:
    done = subprocess.run([sys.executable, "-c", PARENTS, "run"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "bound\n"), done.stderr


def test_a_worker_of_a_server_started_by_another_run_exits() -> None:
    done = subprocess.run([sys.executable, "-c", PARENTS, "other"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 128 + signal.SIGKILL and "bound" not in done.stdout, done.stderr
