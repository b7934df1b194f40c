"""Worker processes live only as long as the run that started them, and write only under its lock.

A ``kill -9`` of a ``--workers N`` parent runs no cleanup: without this module its workers live on
(re-parented to init), keep committing shards into OUT, and a ``--resume`` started at once runs
beside them. So a worker is bound to its parent three ways:

* **It dies with it.** On Linux the kernel sends the worker SIGKILL when its parent exits
  (``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon thread watches the parent pid and exits.
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

_parent: int | None = None
_held: tuple[int, ...] = ()


class InheritedLocks:
    """Lock file descriptors given to a spawned worker: pickled while the worker is being spawned,
    they travel as descriptors (``multiprocessing.reduction.DupFd``), not as numbers."""

    def __init__(self, fds: tuple[int, ...]) -> None:
        self.fds = fds

    def __reduce__(self) -> tuple[Any, ...]:
        return _received, (tuple(reduction.DupFd(fd) for fd in self.fds),)


def _received(dups: tuple[Any, ...]) -> InheritedLocks:
    return InheritedLocks(tuple(dup.detach() for dup in dups))


def bind_to_parent(parent: int, locks: InheritedLocks) -> None:
    """In a worker, first thing: die with ``parent``, keep its locks open for as long as this process lives."""
    global _parent, _held
    _parent, _held = parent, locks.fds
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
