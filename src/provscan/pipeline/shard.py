"""One shard, the unit of work: (shard, session) -> findings, removals, cleaned shard, manifest entry.

Two phases so a driver can overlap them: :func:`match_shard` runs the stages in DuckDB;
:func:`export_shard` writes the cleaned shard with pyarrow (no DuckDB, so it can run beside the
next shard's matching) and checks the shard's invariant, rows in = rows kept + rows dropped,
against the file it actually wrote, before anything is committed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provscan.errors import IntegrityError
from provscan.io.db import Database, sql_literal
from provscan.io.export import count_rows, export_clean
from provscan.io.shards import Columns, Shard, file_sha256
from provscan.pipeline import rows
from provscan.stages.base import HITS_DDL, ShardContext, Stage, Stats
from provscan.urls.sql import expression_sha256_sql


@dataclass(frozen=True)
class ShardTask:
    """What a worker needs to scan one shard (picklable: it crosses process and Ray boundaries)."""

    index: int  # position in the run's plan: the merge order
    shard: Shard
    columns: Columns

    @property
    def clean_name(self) -> str:
        """The cleaned shard's path relative to OUT."""
        return f"clean/{self.shard.relative}"


@dataclass
class ShardOutcome:
    task: ShardTask
    findings: pa.Table
    removals: pa.Array  # SHA-256 of dropped rows' canonical expressions (distinct in the shard)
    outputs: dict[str, pa.Table]  # the stages' declared per-shard files (fetch.parquet...), by file name
    entry: dict[str, Any]  # the shard's manifest entry
    summary: dict[str, Any]  # the shard's contribution to summary.json
    dropped: np.ndarray = field(repr=False)  # sorted row numbers with a drop match
    exported: bool = False  # the one-pass scan wrote and checked the cleaned shard already


def new_context(db: Database, stages: list[Stage], task: ShardTask) -> ShardContext:
    """The context the stages share for one shard; only the counters they declare may be set."""
    return ShardContext(db, task.shard, task.columns, Stats([n for s in stages for n in s.stats]))


def match_shard(db: Database, stages: list[Stage], task: ShardTask, ctx: ShardContext, *, redact: bool) -> ShardOutcome:
    """Phase 1, in DuckDB: load the shard's rows, run the stages, collect findings and drops
    (``redact``: findings without URLs, ``--redact-urls``)."""
    try:
        return _match(db, stages, task, ctx, redact)
    finally:  # a failed shard leaves no table behind for the next one
        db.drop("raw", "hits", *(t for s in stages for t in s.temp), *(o.table for s in stages for o in s.outputs))


def _match(db: Database, stages: list[Stage], task: ShardTask, ctx: ShardContext, redact: bool) -> ShardOutcome:
    shard = task.shard
    shard_sha = file_sha256(shard.path)  # one full read, which also warms the page cache for DuckDB's
    rows.load_rows(db, shard, task.columns)
    db.execute(HITS_DDL)
    rows_in, null_urls, invalid_urls = rows.url_counts(db)
    ctx.rows_in = rows_in
    for stage in stages:
        stage.run(ctx)
    for stage in stages:
        stage.finish(ctx)
    r = results(db, shard, redact=redact)
    entry = make_entry(shard, shard_sha, r, rows_in, null_urls, invalid_urls, ctx)
    summary = {**r.summary, "extra": extra_counts(ctx)}
    outputs = {
        o.file: db.arrow(f"SELECT * FROM {o.table}").select(o.schema.names).cast(o.schema)
        for s in stages
        for o in s.outputs
    }
    return ShardOutcome(task, r.findings, r.removals, outputs, entry, summary, r.dropped)


@dataclass
class Results:
    """What the final ``hits`` (and the ``raw`` rows they name) give a shard, or a part of one."""

    findings: pa.Table
    dropped: np.ndarray  # sorted row numbers with a drop finding
    removals: pa.Array  # distinct, sorted
    matched: int  # rows with any finding
    flagged: int  # rows with a flag finding and no drop
    summary: dict[str, Any]  # summary.json's per-shard counts, "extra" aside


def results(db: Database, shard: Shard, *, redact: bool) -> Results:
    """The shard's findings and everything counted from them. One query reads the findings (distinct,
    ordered by row, with each row's host alongside); the dropped rows, the removal list and the
    counts are taken from that table in Arrow, not from seven more queries over ``hits`` and ``raw``
    (a few ms of DuckDB overhead each per row group, and a second SHA-256 of every dropped row's
    expression)."""
    table = _findings(db, shard, redact=redact)
    hosts = table.column("host")
    findings = table.drop_columns(["host"])
    row = findings.column("row").to_numpy()
    action = findings.column("action")
    drop_mask = pc.equal(action, "drop")
    drop = drop_mask.to_numpy(zero_copy_only=False)
    dropped = _distinct(row[drop])
    removals = pc.unique(findings.column("url_sha256").filter(drop_mask)).drop_null()
    removals = removals.take(pc.array_sort_indices(removals))
    flag = pc.equal(action, "flag").to_numpy(zero_copy_only=False)
    flagged = int(np.count_nonzero(~np.isin(_distinct(row[flag]), dropped)))  # a flag finding and no drop
    return Results(findings, dropped, removals, int(_distinct(row).size), flagged, _summary(findings, hosts))


def _distinct(rows: np.ndarray) -> np.ndarray:
    """Sorted distinct row numbers (int64): ``np.unique`` without its first call's import of
    ``numpy.ma`` (7 ms per process and per worker, for a masked-array check)."""
    ordered = np.sort(rows.astype(np.int64, copy=False))
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if ordered.size else ordered


def make_entry(
    shard: Shard, sha: str, r: Results, rows_in: int, null_urls: int, invalid_urls: int, ctx: ShardContext
) -> dict[str, Any]:
    """The shard's manifest entry (its keys in this order in every run)."""
    return {
        "path": shard.given,
        "sha256": sha,
        "rows_in": rows_in,
        "rows_matched": r.matched,  # any finding
        "rows_dropped": int(r.dropped.size),
        "rows_flagged": r.flagged,
        "rows_out": rows_in - int(r.dropped.size),
        "null_urls": null_urls,
        "invalid_urls": invalid_urls,
        "findings": r.findings.num_rows,
        **ctx.stats.as_dict(),
    }


def extra_counts(ctx: ShardContext) -> dict[str, dict[str, int]]:
    return {section: dict(sorted(Counter(c).items())) for section, c in sorted(ctx.counts.items())}


def export_shard(
    outcome: ShardOutcome, out: Path, *, export: bool, on_rows: Callable[[int], None] | None = None
) -> ShardOutcome:
    """Phase 2, pyarrow only: write the cleaned shard and check rows in = rows kept + rows dropped.

    ``on_rows`` hears of each row group written (the progress bar advances within a shard)."""
    entry, dropped, shard = outcome.entry, outcome.dropped, outcome.task.shard
    if export and not outcome.exported:
        clean_path = out / outcome.task.clean_name
        written, output_sha = export_clean(shard.path, clean_path, dropped, shard_name=shard.given, on_rows=on_rows)
        on_disk = count_rows(clean_path)
        if not (written == on_disk == entry["rows_in"] - dropped.size):
            raise IntegrityError(
                f"{shard.given}: rows in {entry['rows_in']} != rows kept {on_disk} + rows dropped {dropped.size}"
            )
        entry["output"] = outcome.task.clean_name
        entry["output_sha256"] = output_sha
        entry["rows_out"] = on_disk
    if entry["rows_in"] != entry["rows_out"] + entry["rows_dropped"]:
        raise IntegrityError(f"{shard.given}: rows in != rows out + rows dropped")
    return outcome


def _summary(findings: pa.Table, hosts: pa.ChunkedArray) -> dict[str, Any]:
    """The shard's part of summary.json: counts merge by addition across shards.

    Findings are counted from the findings table itself (distinct, as flagged.parquet holds them), not
    from ``hits``: a URL-expression or hashed list can match one row through several expressions, and
    counting hits put 12 findings in summary.json for the 9 rows of flagged.parquet. Rows are
    counted distinct; every level is sorted by key."""
    by: dict[str, Any] = {}
    for key in ("list", "kind", "action"):
        counts = pc.value_counts(findings.column(key)).to_pylist() if findings.num_rows else []
        by[f"findings_by_{key}"] = {c["values"]: c["counts"] for c in sorted(counts, key=lambda c: c["values"])}
    by["rows_by_list"] = _distinct_rows(findings, "list")
    by["flagged_hosts"] = _distinct_rows(findings.append_column("host", hosts).filter(pc.is_valid(hosts)), "host")
    by_action: dict[str, dict[str, int]] = {}
    for (lst, action), n in _distinct_rows(findings, "list", "action").items():
        by_action.setdefault(lst, {})[action] = n
    by["rows_by_list_action"] = by_action
    return by


def _distinct_rows(findings: pa.Table, *keys: str) -> dict[Any, int]:
    """{key value (a tuple for several keys): rows with a finding there}, sorted by key."""
    if not findings.num_rows:
        return {}
    counted = findings.group_by(list(keys)).aggregate([("row", "count_distinct")]).to_pylist()
    out = {(c[keys[0]] if len(keys) == 1 else tuple(c[k] for k in keys)): c["row_count_distinct"] for c in counted}
    return dict(sorted(out.items()))


def _findings(db: Database, shard: Shard, *, redact: bool) -> pa.Table:
    """flagged.parquet's rows for this shard, and each row's canonical host (``host``, for the counts)."""
    url = "NULL::VARCHAR" if redact else "r.url"
    return db.arrow(
        f"""SELECT DISTINCT {sql_literal(shard.given)} AS shard, h.row, r.id, {url} AS url,
                  CASE WHEN r.host IS NULL THEN NULL ELSE {expression_sha256_sql('r.')} END AS url_sha256,
                  h.list, h.kind, h.entry, h.action, h.distance, h.image_hash, h.detail, r.host
           FROM hits h JOIN raw r USING (row)
           ORDER BY h.row, h.list, h.kind, h.entry, h.image_hash NULLS FIRST, h.detail NULLS FIRST"""
    )
