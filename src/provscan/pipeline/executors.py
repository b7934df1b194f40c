"""Who runs the shard tasks: this process, a pool of local processes, or a Ray cluster.

Every executor does the same thing per shard (:func:`provscan.pipeline.session.run_task`: match,
export, commit) and reports each committed shard's manifest entry to ``on_commit``; the merge then
reads the commits in plan order, so outputs are byte-identical whoever ran the shards.

* ``run_serial``: one session; shard i's export and commit (pyarrow, releases the GIL) overlap
  shard i+1's matching (DuckDB).
* ``run_processes``: ``--workers N``: N spawned processes, each with its own session, fed in plan
  order; DuckDB threads and memory are divided among them by the driver (:class:`RunSpec`). Each
  worker dies with the parent and holds OUT's lock with it (:mod:`provscan.pipeline.lifeline`).
* ``run_ray``: ``--executor ray``: one Ray task per shard (see :mod:`provscan.pipeline.ray_exec`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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


def run_processes(
    spec: RunSpec, tasks: Sequence[ShardTask], workers: int, on_commit: OnCommit, *, lock_fds: tuple[int, ...] = ()
) -> None:
    """``workers`` processes (spawned: DuckDB and threads do not survive fork), tasks in plan order;
    ``lock_fds``, OUT's locks this process holds, are held by every worker too."""
    from concurrent.futures import ProcessPoolExecutor  # 4 ms of imports a one-process run does not need

    context = multiprocessing.get_context("spawn")
    initargs = (spec, os.getpid(), lifeline.InheritedLocks(lock_fds))
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=initargs) as pool:
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
