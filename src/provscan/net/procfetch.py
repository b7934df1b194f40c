"""``fetch_all`` in several processes, so downloading and hashing stop sharing one GIL.

In one process the event-loop thread (~1.2 ms of client CPU per request) and the decode + hash
threads take turns on the GIL: the loop thread ran ~90 % busy and the run made ~39 k voluntary
context switches per 3 000 images (issue 13). Here each worker process runs its own loop *and* its
own handler, so bodies are hashed where they were downloaded and only ``handle``'s small result
crosses a process boundary.

Limits stay what the policy says, summed over workers: the global ``concurrency`` is split among
them; ``per_host`` is split too when it is at least the number of workers, else each host's URLs
go to a single worker (chosen by the host's CRC-32), which keeps the exact per-host bound.
``handle``, ``resolver``, ``redirect_check`` and ``network_backend`` are pickled to the workers.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import pickle
import queue
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from provscan.net.fetch import FetchPolicy, FetchResult, fetch_all
from provscan.net.transport import host_key

__all__ = ["fetch_all_processes", "worker_policy"]

K = TypeVar("K")
T = TypeVar("T")
_BATCH = 64  # rows per message: one pickle per row would cost more than the fetch
_INBOX = 8  # batches queued per worker: enough to keep its window full, bounded memory


def worker_policy(policy: FetchPolicy, processes: int) -> tuple[FetchPolicy, bool]:
    """(each worker's policy, whether rows must be routed by host to keep ``per_host`` exact)."""
    by_host = policy.per_host < processes
    per_host = policy.per_host if by_host else policy.per_host // processes
    return dataclasses.replace(policy, concurrency=max(1, policy.concurrency // processes), per_host=per_host), by_host


def _worker(inbox: Any, outbox: Any, config: tuple) -> None:
    """One process: fetch rows from ``inbox`` batches, ``handle`` them here, send back results."""
    policy, handle, head, resolver, redirect_check, backend, threads = config

    def rows() -> Iterator[tuple[Any, str]]:
        while (batch := inbox.get()) is not None:
            yield from batch

    out: list[tuple[Any, Any]] = []
    try:
        for item in fetch_all(
            rows(),
            policy,
            handle,
            head=head,
            resolver=resolver,
            redirect_check=redirect_check,
            workers=threads,
            network_backend=backend,
        ):
            out.append(item)
            if len(out) >= _BATCH or inbox.empty():
                outbox.put(("ok", out))
                out = []
        outbox.put(("ok", out))
        outbox.put(("end", None))
    except BaseException as exc:  # handed to the parent, which raises it (as text if it cannot travel)
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        outbox.put(("error", exc))


def fetch_all_processes(
    items: Iterable[tuple[K, str]],
    policy: FetchPolicy,
    handle: Callable[[K, FetchResult], T],
    *,
    processes: int = 2,
    threads: int = 2,
    head: bool = False,
    resolver: Any = None,
    redirect_check: Callable[[str], str | None] | None = None,
    network_backend: Any = None,
) -> Iterator[tuple[K, T]]:
    """Like :func:`provscan.net.fetch.fetch_all`, over ``processes`` worker processes.

    Each worker runs ``handle`` on ``threads`` threads of its own (2: PIL decodes without the GIL;
    with 1, fetch + pHash of 15 k loopback images ran at 166-187/s, with 2 at 258-263/s, against
    220-226/s for threaded ``fetch_all``; benchmarks/bench_fetch_compare.py). Results arrive in
    completion order; exceptions from ``handle`` or ``items`` propagate; closing the generator
    stops the workers.
    """
    ctx = mp.get_context("spawn")  # never fork a process that holds DuckDB and loop threads
    each, by_host = worker_policy(policy, processes)
    outbox = ctx.Queue()
    inboxes = [ctx.Queue(_INBOX) for _ in range(processes)]
    config = (each, handle, head, resolver, redirect_check, network_backend, threads)
    workers = [ctx.Process(target=_worker, args=(inbox, outbox, config), daemon=True) for inbox in inboxes]
    for w in workers:
        w.start()
    failure: list[BaseException] = []
    stop = threading.Event()

    def feed() -> None:  # a thread, so that a full inbox never blocks the reading of results
        batches: list[list[tuple[K, str]]] = [[] for _ in range(processes)]
        turn = 0
        try:
            for key, url in items:
                if stop.is_set():
                    return
                i = zlib.crc32(host_key(url).encode()) % processes if by_host else turn
                turn = (turn + 1) % processes
                batches[i].append((key, url))
                if len(batches[i]) >= _BATCH:
                    inboxes[i].put(batches[i])
                    batches[i] = []
        except BaseException as exc:
            failure.append(exc)
        finally:
            for inbox, batch in zip(inboxes, batches):
                if batch and not failure:
                    inbox.put(batch)
                inbox.put(None)

    feeder = threading.Thread(target=feed, name="provscan-fetch-feed", daemon=True)
    feeder.start()
    try:
        ended = 0
        while ended < processes:
            try:
                kind, value = outbox.get(timeout=1.0)
            except queue.Empty:
                dead = [w for w in workers if w.exitcode not in (None, 0)]
                if dead:  # killed or crashed (a segfault in a decoder): it will never report
                    raise RuntimeError(f"fetch worker {dead[0].pid} exited with code {dead[0].exitcode}") from None
                continue
            if kind == "error":
                raise value
            if kind == "end":
                ended += 1
                continue
            yield from value
        feeder.join()
        if failure:
            raise failure[0]
        for w in workers:
            w.join()
    finally:
        stop.set()
        for w in workers:
            if w.is_alive():
                w.terminate()
            w.join()
        for q in (*inboxes, outbox):
            q.cancel_join_thread()
            q.close()
