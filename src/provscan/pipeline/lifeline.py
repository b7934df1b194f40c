"""Worker processes live only as long as the run that started them, and write only under its lock.

A ``kill -9`` of a ``--workers N`` parent runs no cleanup: without this module its workers live on
(re-parented to init), keep committing shards into OUT, and a ``--resume`` started at once runs
beside them. So a worker is bound to its parent three ways:

* **It dies with it.** On Linux the kernel sends the worker SIGKILL when its parent exits
  (``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon thread watches the parent pid and exits. A worker
  forked by the forkserver (:mod:`provscan.pipeline.zygote`) has the server for parent: the server is
  bound to the run's process the same way, so the run's death ends the server and that ends the worker.
* **It never commits for a dead parent.** :func:`exit_if_orphaned` runs just before a shard's
  ``commit.json`` is written (the binding may not have been in place yet when the parent died).
* **It holds the run's lock.** The parent's locked file descriptions of ``OUT/.provscan/lock`` are
  passed to the worker (:class:`InheritedLocks`): an ``flock`` belongs to the open file, so OUT
  stays locked until the last process that may write into it is gone, and a new run is refused
  until then instead of running beside an orphan.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from multiprocessing import reduction
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_parent: int | None = None  # the process this worker's parent must be
_held: tuple[int, ...] = ()
_server: tuple[int, int] | None = None  # in the forkserver and its children: (server pid, its run's pid)


class InheritedLocks:
    """Lock file descriptors given to a spawned worker: pickled while the worker is being spawned,
    they travel as descriptors (``multiprocessing.reduction.DupFd``), not as numbers."""

    def __init__(self, fds: tuple[int, ...]) -> None:
        self.fds = fds

    def __reduce__(self) -> tuple[Any, ...]:
        return _received, (tuple(reduction.DupFd(fd) for fd in self.fds),)


def _received(dups: tuple[Any, ...]) -> InheritedLocks:
    return InheritedLocks(tuple(dup.detach() for dup in dups))


def serve_workers() -> None:
    """In the forkserver, first thing: die with the run's process; the workers it forks take the
    server for their parent. The run's pid is read after the binding: a run already gone leaves a
    server whose recorded run is not the workers', and they exit. No watcher thread here (a process
    that forks must have none): without ``prctl`` the stdlib's server ends when the run's end of its
    pipe closes."""
    global _server
    _kernel_binding()
    _server = (os.getpid(), os.getppid())


def bind_to_parent(parent: int, locks: InheritedLocks) -> None:
    """In a worker, first thing: die with ``parent`` (the run's process, or the forkserver it
    started), keep its locks open for as long as this process lives."""
    global _parent, _held
    _held = locks.fds
    server = _server if _server is not None and _server[1] == parent and _server[0] != os.getpid() else None
    _parent = server[0] if server else parent
    if not _kernel_binding():
        threading.Thread(target=_watch, name="provscan-lifeline", daemon=True).start()
    exit_if_orphaned()  # the parent may have died before the binding was in place


def exit_if_orphaned() -> None:
    """End this worker at once when the run that started it is gone (no-op outside a worker)."""
    if _parent is not None and os.getppid() != _parent:
        os._exit(128 + signal.SIGKILL)


def _kernel_binding() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch() -> None:
    while True:
        exit_if_orphaned()
        time.sleep(0.2)
