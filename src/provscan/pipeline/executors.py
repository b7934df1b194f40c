"""Who runs the shard tasks: this process, a pool of local processes, or a Ray cluster.

Every executor does the same thing per shard (:func:`provscan.pipeline.session.run_task`: match,
export, commit) and reports each committed shard's manifest entry to ``on_commit``; the merge then
reads the commits in plan order, so outputs are byte-identical whoever ran the shards.

* ``run_serial``: one session; shard i's export and commit (pyarrow, releases the GIL) overlap
  shard i+1's matching (DuckDB).
* ``run_processes``: ``--workers N``: N processes forked from a server that imported their code once
  (:mod:`provscan.pipeline.zygote`), each with its own session, fed in plan order; DuckDB threads
  and memory are divided among them by the driver (:class:`RunSpec`). Each worker dies with the
  parent and holds OUT's lock with it (:mod:`provscan.pipeline.lifeline`).
* ``run_ray``: ``--executor ray``: one Ray task per shard (see :mod:`provscan.pipeline.ray_exec`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from multiprocessing import forkserver
from multiprocessing.context import BaseContext
from typing import Any

from provscan.io.nopandas import keep_pandas_out
from provscan.lists.compiled import CompiledLists
from provscan.lists.store import read_lists
from provscan.pipeline import lifeline
from provscan.pipeline.commit import STATE_DIR
from provscan.pipeline.session import RunSpec, Session, finish, run_task
from provscan.pipeline.shard import ShardTask

OnCommit = Callable[[dict[str, Any]], None]


def run_serial(
    spec: RunSpec,
    lists: CompiledLists,
    tasks: Sequence[ShardTask],
    on_commit: OnCommit,
    *,
    on_rows: Callable[[int], None] | None = None,
) -> None:
    session = Session(spec, lists)
    ok = False
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="provscan-export") as exporter:
            pending: Future[dict[str, Any]] | None = None
            for task in tasks:
                outcome = session.match(task, on_rows)
                if pending is not None:
                    on_commit(pending.result())
                pending = exporter.submit(finish, spec, outcome, on_rows)
            if pending is not None:
                on_commit(pending.result())
        ok = True
    finally:
        session.close(ok)


_WORKER: Session | None = None


def _init_worker(spec: RunSpec, parent: int, locks: lifeline.InheritedLocks) -> None:
    global _WORKER
    lifeline.bind_to_parent(parent, locks)
    keep_pandas_out()
    import pyarrow as pa

    # pyarrow's pool defaults to every core in every worker (16 threads each on 16 cores): size it
    # like DuckDB's, the worker's share of the machine
    pa.set_cpu_count(max(1, spec.threads or 1))
    _WORKER = Session(spec, CompiledLists(tuple(read_lists(spec.out / STATE_DIR / "lists"))))


def _work(task: ShardTask) -> dict[str, Any]:
    assert _WORKER is not None, "worker initializer did not run"
    return run_task(_WORKER, task)


_lock = threading.Lock()
_runs = 0  # runs of this process using the server: the last one to end stops it


@contextmanager
def forked_workers(preload: Sequence[str] = ()) -> Iterator[BaseContext]:
    """The context to start workers with: the forkserver, preloaded by :mod:`~provscan.pipeline.zygote`
    and ``preload`` (the run's stage modules), or spawn where there is no forkserver (Windows).

    The server is started from the calling thread (it dies with the thread that started it) and
    stopped, and waited for, when the last run using it ends: its CPU time and its workers' then
    count as this process's children's, as ``time`` and ``wait4`` report them."""
    global _runs
    if "forkserver" not in multiprocessing.get_all_start_methods():
        yield multiprocessing.get_context("spawn")
        return
    context = multiprocessing.get_context("forkserver")
    with _lock:
        if _runs == 0:
            context.set_forkserver_preload(["provscan.pipeline.zygote", *preload])
            forkserver.ensure_running()
        _runs += 1
    try:
        yield context
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                stop = getattr(forkserver._forkserver, "_stop", None)  # not public; present 3.8-3.14
                if stop is not None:
                    stop()


def run_processes(
    spec: RunSpec,
    tasks: Sequence[ShardTask],
    workers: int,
    on_commit: OnCommit,
    *,
    lock_fds: tuple[int, ...] = (),
    preload: Sequence[str] = (),
) -> None:
    """``workers`` processes (never forked from this one: DuckDB and threads do not survive fork),
    tasks in plan order; ``lock_fds``, OUT's locks this process holds, are held by every worker too;
    ``preload``, modules the workers will import (the run's stages), are imported once for all."""
    from concurrent.futures import ProcessPoolExecutor  # 4 ms of imports a one-process run does not need

    initargs = (spec, os.getpid(), lifeline.InheritedLocks(lock_fds))
    with (
        forked_workers(preload) as context,
        ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=initargs) as pool,
    ):
        pending = {pool.submit(_work, task) for task in tasks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    on_commit(future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise
