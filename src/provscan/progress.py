"""Progress reporting, swappable: library callers and tests get silence, the CLI a live line.

A plain ``\\r`` status line on stderr (rows/s, shards done, findings) rather than a progress-bar
library: the scan advances a shard at a time, so a one-line renderer says everything.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def start(self, shards: int, rows: int) -> None: ...
    def advance(self, rows: int, findings: int) -> None: ...
    def finish(self) -> None: ...


class NullProgress:
    def start(self, shards: int, rows: int) -> None:
        pass

    def advance(self, rows: int, findings: int) -> None:
        pass

    def finish(self) -> None:
        pass


class LineProgress:
    """``[####......] 3/10 shards  2,100,000/10,000,000 rows  812,345 rows/s  1,204 findings``."""

    WIDTH = 24

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.shards = self.total_rows = self.done_shards = self.rows = self.findings = 0
        self.t0 = time.perf_counter()

    def start(self, shards: int, rows: int) -> None:
        self.shards, self.total_rows, self.t0 = shards, rows, time.perf_counter()
        self._draw()

    def advance(self, rows: int, findings: int) -> None:
        self.done_shards += 1
        self.rows += rows
        self.findings += findings
        self._draw()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self) -> None:
        frac = self.rows / self.total_rows if self.total_rows else (self.done_shards / self.shards if self.shards else 1)
        bar = "#" * int(frac * self.WIDTH)
        rate = self.rows / max(time.perf_counter() - self.t0, 1e-9)
        self.stream.write(
            f"\r[{bar:<{self.WIDTH}}] {self.done_shards}/{self.shards} shards  "
            f"{self.rows:,}/{self.total_rows:,} rows  {rate:,.0f} rows/s  {self.findings:,} findings"
        )
        self.stream.flush()
