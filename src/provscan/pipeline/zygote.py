"""Where ``--workers`` forks its workers from: a process with the worker path imported and no thread.

A spawned worker imports pyarrow, DuckDB and provscan's worker path before its first shard: 0.2 of
its 0.3 CPU-s start, paid again by every worker (issue 23 asks <= 0.1). multiprocessing's forkserver
imports this module once, as its preload, and forks each worker from there: a worker starts with
everything imported and pays only its DuckDB session with the lists (~0.07 CPU-s).

Forking is safe only where no other thread runs: a forked child gets one thread and whatever locks
the others held. The run's own process has DuckDB's and pyarrow's threads, so it never forks; this
one switches off, before they load, the two threads importing pyarrow and numpy would start:
jemalloc's background purger (pyarrow allocates with mimalloc) and OpenBLAS's pool (nothing here
calls BLAS). ``tests/test_zygote.py`` and ``tests/test_orphans.py`` check the server has one thread;
for the same reason ``provscan/__init__`` imports nothing heavy until asked.

The run's process starts the server with this module as its preload
(:func:`provscan.pipeline.executors.forked_workers`); imported anywhere but the server, this module
does nothing.
"""

from __future__ import annotations

import os
import sys
from types import FrameType


def _single_threaded_libraries() -> None:
    conf = os.environ.get("JE_ARROW_MALLOC_CONF")
    os.environ["JE_ARROW_MALLOC_CONF"] = f"{conf},background_thread:false" if conf else "background_thread:false"
    os.environ["OPENBLAS_NUM_THREADS"] = "1"


def start(main_path: str | None) -> None:
    """In the forkserver: die with the run's process, then import what every worker needs.

    ``main_path`` is the run's main script (the ``provscan`` command): a worker would import it
    again, as a spawned one does, unless the server already has. The stdlib's own ``__main__``
    preload imports it before any other module, before this one could switch the threads off."""
    from provscan.pipeline import lifeline

    lifeline.serve_workers()
    _single_threaded_libraries()
    from provscan.io.nopandas import keep_pandas_out

    keep_pandas_out()  # before pyarrow: workers forked from here refuse pandas too
    from provscan.pipeline import executors  # noqa: F401  the worker's entry module and all it imports

    if main_path:
        from multiprocessing import process, spawn

        process.current_process()._inheriting = True  # type: ignore[attr-defined]  # as the stdlib's preload
        try:
            spawn.import_main_path(main_path)
        except Exception:  # noqa: BLE001  each worker imports it then, and fails as a spawned one would
            pass
        finally:
            del process.current_process()._inheriting  # type: ignore[attr-defined]


def _server_main() -> FrameType | None:
    """The forkserver's ``main`` when it is what imports this module (its preload), else None."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "main" and frame.f_globals.get("__name__") == "multiprocessing.forkserver":
            return frame
        frame = frame.f_back  # type: ignore[assignment]
    return None


if (_server := _server_main()) is not None:  # pragma: no cover - runs in the server process only
    start(_server.f_locals.get("main_path"))
