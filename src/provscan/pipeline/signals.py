"""SIGINT and SIGTERM end a run cleanly: every committed shard kept, one line, exit 130 / 143.

Both signals become a ``KeyboardInterrupt`` in the main thread (DuckDB then cancels its query), and
the driver turns whatever that interrupt surfaces as (it may arrive wrapped in a DuckDB or pyarrow
error) into :class:`~provscan.errors.RunInterrupted` once it knows how many shards were committed.
Only the CLI installs the handlers: a library caller keeps its own signal handling.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_received: list[int] = []


def received() -> int | None:
    """The signal that interrupted this run, if any."""
    return _received[-1] if _received else None


def _handler(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[None]:
    """Route SIGINT and SIGTERM to a KeyboardInterrupt for the duration of a command."""
    _received.clear()
    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except KeyboardInterrupt:  # before the driver knew of any shard (planning, compiling lists)
        from provscan.errors import RunInterrupted

        raise RunInterrupted(None, None, received() or signal.SIGINT) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_code(signum: int | None) -> int:
    """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + (signum or signal.SIGINT)
