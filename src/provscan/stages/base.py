"""The stage contract: everything a stage touches is declared, so the runner needs no stage's name.

A stage is one declared step of a shard's scan. It reads and writes DuckDB tables *by declared
name*, so the order of stages is checked once, when the plan is built (:func:`check_order`),
instead of failing halfway through the first shard. Every stage sees the same two tables:

``raw``   one row per shard row: row, url, url_undecodable, id, [license], [h:KIND...], host, path, query
          (loaded by :mod:`provscan.pipeline.rows` before the first stage)
``hits``  one row per (row, match): row, list, kind, action, entry, distance, image_hash, detail

What a stage declares, and what the runner does with it:

``reads`` / ``writes``  tables; checked against the stages before it (:func:`check_order`)
``temp``     per-shard scratch tables: the runner drops them after each shard
``run_tables`` tables a stage creates once when built and keeps for the run (``local_img``)
``outputs``  per-shard files (:class:`Output`): the runner collects the table into the shard's
             commit, and commit, merge, ``verify`` and ``--resume`` loop over them
``stats``    counters of the shard's manifest entry (:class:`Stats`); an undeclared one is a bug
``finish``   an optional hook run after every stage has run on the shard (e.g. counts over final hits)
``candidates(columns)``  which rows can give the stage a finding: ``None`` (any row: it needs the
             whole ``raw``), or key tables ``((table, column), ...)``: only rows whose host has a
             label suffix among those keys, findings row by row. When every stage of the plan says
             the latter, the runner scans the shard in one pass (:mod:`provscan.pipeline.onepass`):
             ``raw`` then holds only the candidate rows of one row group at a time, and
             ``ctx.rows_in`` counts the rows it stands for.

Matches enter ``hits`` only through :meth:`ShardContext.add_findings` (by column name; constant
columns broadcast), so no stage spells out the column order or builds a hits-shaped table by hand.
A stage lives for the whole run (lists are indexed once); :meth:`Stage.close` is called once at the
end with whether the run succeeded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pyarrow as pa

from provscan.config import ScanConfig
from provscan.errors import IntegrityError
from provscan.io.db import Database, sql_ident
from provscan.io.shards import Columns, Shard

BASE_TABLES = ("raw", "hits")
"""Tables every stage may read: created for each shard before the first stage runs."""

HITS_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("list", pa.string()),
        ("kind", pa.string()),
        ("action", pa.string()),
        ("entry", pa.string()),
        ("distance", pa.int16()),
        ("image_hash", pa.string()),
        ("detail", pa.string()),
    ]
)
HITS_COLUMNS = tuple(HITS_SCHEMA.names)
HITS_DDL = """CREATE OR REPLACE TEMP TABLE hits (
    row BIGINT, list VARCHAR, kind VARCHAR, action VARCHAR, entry VARCHAR,
    distance SMALLINT, image_hash VARCHAR, detail VARCHAR)"""


@dataclass(frozen=True)
class Output:
    """A per-shard file a stage writes: the table it fills per shard, committed as ``file`` in the
    shard's commit and merged, in plan order, into ``OUT/file`` with ``schema``."""

    file: str
    table: str
    schema: pa.Schema


Stat = int | dict[str, int]


class Stats:
    """A shard's counters for its manifest entry: only declared names, values added (so two stages,
    or two calls, may add to one counter), int or a breakdown ``{key: int}``."""

    def __init__(self, declared: Sequence[str] = ()) -> None:
        self.declared = frozenset(declared)
        self._values: dict[str, Stat] = {}

    def add(self, name: str, value: int | Mapping[str, int]) -> None:
        if name not in self.declared:
            raise IntegrityError(f"stat {name!r} is not declared by any stage of the plan")
        if isinstance(value, Mapping):
            old = self._values.get(name, {})
            merged = Counter(old if isinstance(old, dict) else {})
            merged.update(value)
            self._values[name] = dict(sorted(merged.items()))
        else:
            old_int = self._values.get(name, 0)
            self._values[name] = (old_int if isinstance(old_int, int) else 0) + int(value)

    def as_dict(self) -> dict[str, Stat]:
        return dict(self._values)


@dataclass
class ShardContext:
    """What a stage sees of one shard: the database holding ``raw``/``hits``, the shard and its columns.

    Settings are not here: a stage takes the ones it needs from :class:`BuildEnv` when it is built."""

    db: Database
    shard: Shard
    columns: Columns
    stats: Stats = field(default_factory=Stats)  # per-shard counters for the manifest entry
    rows_in: int = 0  # the rows ``raw`` stands for (in one-pass scans ``raw`` holds only candidates)
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # breakdowns for summary.json

    def add_findings(self, source: str | pa.Table, params: Sequence[Any] | None = None, **constants: Any) -> None:
        """The one way matches enter ``hits``, by column name (missing columns are NULL).

        ``source`` is a query or an Arrow table whose columns are named like ``hits``; ``constants``
        (``list=``, ``kind=``, ``action=``...) fill a column with one value for every row."""
        unknown = set(constants) - set(HITS_COLUMNS)
        if isinstance(source, str):
            if unknown:
                raise ValueError(f"not columns of hits: {sorted(unknown)}")
            if constants:
                extra = ", ".join(f"?::{_SQL_TYPES[k]} AS {sql_ident(k)}" for k in constants)
                source = f"SELECT s.*, {extra} FROM ({source}) s"
                params = [*constants.values(), *(params or ())]
                # the constants' placeholders come first in the text, so their values come first
            self.db.execute(f"INSERT INTO hits BY NAME {source}", params)
            return
        unknown |= set(source.column_names) - set(HITS_COLUMNS)
        if unknown:
            raise ValueError(f"not columns of hits: {sorted(unknown)}")
        for name, value in constants.items():
            source = source.append_column(
                name, pa.repeat(pa.scalar(value, HITS_SCHEMA.field(name).type), source.num_rows)
            )
        self.db.append_by_name("hits", source)

    def count(self, section: str, counts: dict[str, int] | Counter[str]) -> None:
        """Add to a breakdown of ``summary.json`` (licences by id, fetch statuses, ...)."""
        self.counts.setdefault(section, Counter()).update(counts)


_SQL_TYPES = {"row": "BIGINT", "distance": "SMALLINT"} | {
    k: "VARCHAR" for k in HITS_COLUMNS if k not in ("row", "distance")
}


@dataclass(frozen=True)
class BuildEnv:
    """What a stage may take when the plan builds it: the session's database (lists installed),
    the compiled lists, the run's config and OUT."""

    db: Database
    lists: Any  # provscan.lists.compiled.CompiledLists
    config: ScanConfig
    out: Path


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

    @property
    def temp(self) -> tuple[str, ...]:
        """Per-shard scratch tables the runner drops after each shard."""

    @property
    def run_tables(self) -> tuple[str, ...]:
        """Tables it creates once when built and keeps for the whole run."""

    @property
    def outputs(self) -> tuple[Output, ...]:
        """Per-shard files, committed with the shard and merged into OUT."""

    @property
    def stats(self) -> tuple[str, ...]:
        """Counter names it adds to the shard's manifest entry."""

    def run(self, ctx: ShardContext) -> None: ...

    def finish(self, ctx: ShardContext) -> None:
        """After every stage of the plan has run on the shard."""

    def candidates(self, columns: Columns) -> tuple[tuple[str, str], ...] | None:
        """None: needs every row. Else only rows whose host has a label suffix in these key columns
        can give findings, and a row's findings depend on that row alone."""

    def close(self, ok: bool) -> None: ...


class BaseStage:
    """Defaults for the protocol: no scratch tables, outputs or counters; nothing to finish or release."""

    name: str = "stage"
    reads: tuple[str, ...] = ("raw",)
    writes: tuple[str, ...] = ("hits",)
    temp: tuple[str, ...] = ()
    run_tables: tuple[str, ...] = ()
    outputs: ClassVar[tuple[Output, ...]] = ()
    stats: tuple[str, ...] = ()

    def run(self, ctx: ShardContext) -> None:  # pragma: no cover - every stage overrides it
        raise NotImplementedError

    def finish(self, ctx: ShardContext) -> None:
        pass

    def candidates(self, columns: Columns) -> tuple[tuple[str, str], ...] | None:
        return None

    def close(self, ok: bool) -> None:
        pass

    @classmethod
    def preflight(cls, config: ScanConfig, lists: Any) -> None:
        """Before any output is touched: raise ConfigError for a setting this stage cannot run with."""

    @classmethod
    def after_merge(cls, out: Path, db: Database) -> None:
        """Once per run, after the merge wrote OUT's final files (e.g. compact a cache)."""


def check_order(stages: Sequence[Stage], list_tables: Sequence[str]) -> None:
    """A stage that reads a table no earlier stage writes is a wiring bug: fail before any output."""
    available = {*BASE_TABLES, *list_tables}
    names: set[str] = set()
    files: set[str] = set()
    for stage in stages:
        if stage.name in names:
            raise IntegrityError(f"stage {stage.name!r} appears twice in the stage list")
        names.add(stage.name)
        available.update(stage.run_tables)
        missing = [t for t in stage.reads if t not in available]
        if missing:
            raise IntegrityError(f"stage {stage.name!r} reads {', '.join(missing)}, which no earlier stage writes")
        for output in stage.outputs:
            if output.table not in stage.writes or output.file in files:
                raise IntegrityError(
                    f"stage {stage.name!r}: output {output.file} is not a table it writes, or is taken"
                )
            files.add(output.file)
        available.update(stage.writes)
