"""flagged.parquet read back for people: ``provscan show`` and the report's findings table.

A run's findings are one row per (input row, match) in ``OUT/flagged.parquet``; a person asks "which
rows did my list remove?" and should not need pyarrow or DuckDB to answer. :func:`read_findings`
filters them by list, kind, action and shard in DuckDB (so a billion-finding file is streamed, not
loaded), keeps the file's order (shards in plan order, rows ascending) and returns the first
``limit`` with the count of all that matched. The file is untrusted like everything in OUT: a
missing column or an unreadable file is a one-line :class:`~provscan.errors.OutputError`, and a
list, kind or shard that names nothing the file or the manifest holds is a
:class:`~provscan.errors.ConfigError` listing what they do hold (a typo must not read as "nothing
was removed").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from provscan.errors import ConfigError, IntegrityError, OutputError, ProvscanError
from provscan.io.db import Database, sql_literal
from provscan.sinks.flagged import FINDINGS_SCHEMA
from provscan.sinks.manifest import Manifest

FLAGGED = "flagged.parquet"
COLUMNS = ("shard", "row", "url", "list", "entry", "action")
"""What a person reads per finding (the terminal table and the report); csv and jsonl carry every column."""


@dataclass(frozen=True)
class Findings:
    table: pa.Table  # the first ``limit`` matching findings, every column of flagged.parquet
    total: int  # matching findings in the whole file
    rows: int  # distinct (shard, row) among them

    @property
    def shown(self) -> int:
        return self.table.num_rows


@dataclass(frozen=True)
class Filters:
    """Each field: keep findings whose value is one of these (empty: no filter)."""

    lists: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    shards: tuple[str, ...] = ()  # a shard's path as recorded, or its file name

    def where(self) -> str:
        clauses = [
            f"{column} IN ({', '.join(sql_literal(v) for v in values)})"
            for column, values in (("list", self.lists), ("kind", self.kinds), ("action", self.actions))
            if values
        ]
        if self.shards:
            clauses.append(
                "("
                + " OR ".join(f"shard = {sql_literal(s)} OR suffix(shard, {sql_literal('/' + s)})" for s in self.shards)
                + ")"
            )
        return " AND ".join(clauses) or "true"


def read_findings(
    out: str | Path, filters: Filters = Filters(), *, limit: int | None = None, count_rows: bool = True
) -> Findings:
    """The findings of OUT that pass ``filters``, the first ``limit`` of them (None: all), in file order.

    The first rows stream (the scan stops at ``limit``: DuckDB keeps file order when asked, see
    ``io.db``); the counts read the whole file. ``count_rows=False`` skips the distinct (shard, row)
    count, the one costly part on a billion findings (``rows`` is then -1)."""
    path = Path(out) / FLAGGED
    if not path.is_file():
        raise OutputError(path, "missing: not the output of a finished provscan scan or sample")
    source = f"read_parquet({sql_literal(str(path))})"
    columns = ", ".join(FINDINGS_SCHEMA.names)
    try:
        with Database(threads=2) as db:
            _check_columns(db, source, path)
            where = filters.where()
            distinct = "count(DISTINCT (shard, row))" if count_rows else "-1"
            total, rows = db.rows(f"SELECT count(*), {distinct} FROM {source} WHERE {where}")[0]
            top = "" if limit is None else f" LIMIT {int(limit)}"
            table = db.arrow(f"SELECT {columns} FROM {source} WHERE {where}{top}")
            if not total:
                _check_filters(db, source, filters, _in_effect(Path(out)))
    except (ConfigError, OutputError):
        raise
    except ProvscanError as exc:
        raise OutputError(path, f"cannot read: {exc}") from exc
    return Findings(table.cast(FINDINGS_SCHEMA), int(total), int(rows))


def _check_columns(db: Database, source: str, path: Path) -> None:
    have = {name for (name, *_) in db.rows(f"DESCRIBE SELECT * FROM {source}")}
    missing = [name for name in FINDINGS_SCHEMA.names if name not in have]
    if missing:
        raise OutputError(path, f"not a provscan findings file (no column {', '.join(missing)})")


def _check_filters(db: Database, source: str, filters: Filters, in_effect: dict[str, list[str]]) -> None:
    """Nothing matched: say so if a filter value names nothing the file holds."""
    for column, flag, values in (
        ("list", "--list", filters.lists),
        ("kind", "--kind", filters.kinds),
        ("shard", "--shard", filters.shards),
    ):
        if not values:
            continue
        known = [v for (v,) in db.rows(f"SELECT DISTINCT {column} FROM {source} WHERE {column} IS NOT NULL ORDER BY 1")]
        known += sorted(set(in_effect.get(column, ())) - set(known))  # in effect, matched nothing: not a typo
        unknown = [
            v for v in values if v not in known and not (column == "shard" and any(k.endswith("/" + v) for k in known))
        ]
        if unknown:
            raise ConfigError(
                f"{flag} {', '.join(unknown)}: no finding has that {column}; "
                f"the findings' {column}s are: {_some(known)}"
            )


def _in_effect(out: Path) -> dict[str, list[str]]:
    """The lists and shards the manifest names (a list that matched nothing is still a list); an
    unreadable manifest names nothing, the findings alone then say what exists."""
    try:
        manifest = Manifest.read(json.loads((out / "manifest.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, IntegrityError):
        return {}
    return {
        "list": [lst.name for lst in manifest.lists],
        "kind": [lst.kind for lst in manifest.lists],
        "shard": [str(s.get("path")) for s in manifest.shards if s.get("path") is not None],
    }


def _some(values: Sequence[str], most: int = 12) -> str:
    if not values:
        return "(none: nothing matched in this run)"
    return ", ".join(values[:most]) + (f" and {len(values) - most} more" if len(values) > most else "")


def display_url(url: str | None, url_sha256: str | None) -> str:
    """The URL, or under ``--redact-urls`` (url is null) the start of its hash, or ``-`` for no URL."""
    if url is not None:
        return url
    return f"sha256:{url_sha256[:16]}…" if url_sha256 else "-"
