"""Progress reporting, swappable: library callers and tests get silence, the CLI a live bar.

The bar advances per row group (the export calls :meth:`Progress.rows_done` after each one), not per
shard, so an 18 M-row shard does not sit at 0 % for a minute. ``rich`` draws it (rows/s, ETA,
shards, findings) on stderr, and the CLI only uses it on a TTY: a log file gets no ``\\r`` noise.

Protocol, in call order: ``start(shards, rows)`` once; then any number of ``rows_done(n)`` (from
the export thread, possibly many per shard) and one ``shard_done(findings)`` per shard, in shard
order; ``finish()`` once, also after an error.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from rich.progress import TaskID


class Progress(Protocol):
    def start(self, shards: int, rows: int) -> None: ...
    def rows_done(self, n: int) -> None: ...
    def shard_done(self, findings: int) -> None: ...
    def finish(self) -> None: ...


class NullProgress:
    def start(self, shards: int, rows: int) -> None:
        pass

    def rows_done(self, n: int) -> None:
        pass

    def shard_done(self, findings: int) -> None:
        pass

    def finish(self) -> None:
        pass


class RichProgress:
    """``━━━━━━━━━━━  42%  2,100,000/5,000,000 rows  812,345 rows/s  0:00:03  3/10 shards  1,204 findings``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[shards]}/{task.fields[total_shards]} shards  {task.fields[findings]:,} findings"),
            # stderr looked up at each write: a Ray run points sys.stderr at the terminal while fd 2 is Ray's log
            console=Console(stderr=True) if stream in (None, sys.stderr) else Console(file=stream),
            transient=False,
            refresh_per_second=4,
        )
        self._task: TaskID | None = None
        self._lock = threading.Lock()
        self._shards = self._findings = 0

    def start(self, shards: int, rows: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task("scan", total=max(rows, 1), shards=0, total_shards=shards, findings=0, rate="")

    def rows_done(self, n: int) -> None:
        if self._task is None:
            return
        with self._lock:
            self._bar.advance(self._task, n)
            speed = self._bar.tasks[0].speed
            self._bar.update(self._task, rate=f"{speed:,.0f} rows/s" if speed else "")

    def shard_done(self, findings: int) -> None:
        if self._task is None:
            return
        with self._lock:
            self._shards += 1
            self._findings += findings
            self._bar.update(self._task, shards=self._shards, findings=self._findings)

    def finish(self) -> None:
        if self._task is not None:
            self._bar.stop()
            self._task = None


def terminal_progress(stream: TextIO | None = None, *, quiet: bool = False) -> Progress:
    """A rich bar when ``stream`` (default stderr) is a terminal and not ``quiet``; silence otherwise."""
    stream = stream or sys.stderr
    return RichProgress(stream) if not quiet and stream.isatty() else NullProgress()
