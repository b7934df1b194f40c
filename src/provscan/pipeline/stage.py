"""The stage contract: what a stage may read and write, and how it reports matches.

A stage is one declared step of a shard's scan. It reads and writes DuckDB tables *by declared
name*, so the order of stages is checked once, when the run's stage list is built
(:func:`check_order`), instead of failing halfway through the first shard. Every stage sees the
same two tables:

``raw``   one row per shard row: row, url, url_undecodable, id, [license], [h:KIND...], host, path, query
          (loaded by :mod:`provscan.pipeline.rows` before the first stage)
``hits``  one row per (row, match): row, list, kind, action, entry, distance, image_hash, detail

Matches go into ``hits`` only through :meth:`ShardContext.add_hits` (named columns; the unnamed ones
are NULL), so no stage spells out the column order. Data one stage hands to a later one is a
declared table (``fetch_headers`` from the fetch stage for the consent stage), never a field on the
context. A stage lives for the whole run (lists are indexed once); :meth:`Stage.close` is called
once at the end with whether the run succeeded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from provscan.config import ScanConfig
from provscan.errors import IntegrityError
from provscan.io.db import Database
from provscan.io.shards import Columns, Shard

BASE_TABLES = ("raw", "hits")
"""Tables every stage may read: created for each shard before the first stage runs."""

HITS_COLUMNS = ("row", "list", "kind", "action", "entry", "distance", "image_hash", "detail")
HITS_DDL = """CREATE OR REPLACE TEMP TABLE hits (
    row BIGINT, list VARCHAR, kind VARCHAR, action VARCHAR, entry VARCHAR,
    distance SMALLINT, image_hash VARCHAR, detail VARCHAR)"""


@dataclass
class ShardContext:
    """What a stage sees of one shard: the database holding ``raw``/``hits``, the shard, the run's config."""

    db: Database
    shard: Shard
    columns: Columns
    config: ScanConfig
    stats: dict[str, Any] = field(default_factory=dict)  # per-shard counters for the manifest entry
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # breakdowns for summary.json

    def add_hits(self, select: str, params: Sequence[Any] | None = None) -> None:
        """Insert matches from a query whose columns are named like ``hits`` (missing ones are NULL)."""
        insert_hits(self.db, select, params)

    def add_hit_table(self, table: pa.Table) -> None:
        """Insert matches held in an Arrow table with (a subset of) the ``hits`` column names."""
        unknown = set(table.column_names) - set(HITS_COLUMNS)
        if unknown:
            raise ValueError(f"not columns of hits: {sorted(unknown)}")
        self.db.append_by_name("hits", table)

    def count(self, section: str, counts: dict[str, int] | Counter[str]) -> None:
        """Add to a breakdown of ``summary.json`` (licences by id, fetch statuses, ...)."""
        self.counts.setdefault(section, Counter()).update(counts)


def insert_hits(db: Database, select: str, params: Sequence[Any] | None = None) -> None:
    """The one way matches enter ``hits``: by column name, so no caller depends on the column order."""
    db.execute(f"INSERT INTO hits BY NAME {select}", params)


class Stage(Protocol):
    """One declared step of a shard's scan."""

    @property
    def name(self) -> str: ...

    @property
    def reads(self) -> tuple[str, ...]:
        """Tables it needs: BASE_TABLES, list tables (``l_*``) or an earlier stage's."""

    @property
    def writes(self) -> tuple[str, ...]:
        """Tables it creates or fills (``hits`` included when it adds matches)."""

    def run(self, ctx: ShardContext) -> None: ...

    def close(self, ok: bool) -> None: ...


class BaseStage:
    """Defaults for the protocol: nothing to release at the end of a run."""

    name: str = "stage"
    reads: tuple[str, ...] = ("raw",)
    writes: tuple[str, ...] = ("hits",)

    def run(self, ctx: ShardContext) -> None:  # pragma: no cover - every stage overrides it
        raise NotImplementedError

    def close(self, ok: bool) -> None:
        pass


def check_order(stages: Sequence[Stage], list_tables: Sequence[str]) -> None:
    """A stage that reads a table no earlier stage writes is a wiring bug: fail before any output."""
    available = {*BASE_TABLES, *list_tables}
    names: set[str] = set()
    for stage in stages:
        if stage.name in names:
            raise IntegrityError(f"stage {stage.name!r} appears twice in the stage list")
        names.add(stage.name)
        missing = [t for t in stage.reads if t not in available]
        if missing:
            raise IntegrityError(f"stage {stage.name!r} reads {', '.join(missing)}, which no earlier stage writes")
        available.update(stage.writes)
