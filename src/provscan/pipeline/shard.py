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
    findings = _findings(db, shard, redact=redact)
    dropped = np.asarray(
        db.arrow("SELECT DISTINCT row FROM hits WHERE action = 'drop' ORDER BY row")
        .column(0)
        .to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    removals = (
        db.arrow(
            f"""SELECT DISTINCT {expression_sha256_sql()} AS h FROM raw
            WHERE host IS NOT NULL AND row IN (SELECT row FROM hits WHERE action = 'drop') ORDER BY h"""
        )
        .column(0)
        .combine_chunks()
    )
    matched = int(db.scalar("SELECT count(DISTINCT row) FROM hits"))
    flagged = int(
        db.scalar(  # kept and reported: a flag finding and no drop
            "SELECT count(DISTINCT row) FROM hits WHERE action = 'flag' AND row NOT IN (SELECT row FROM hits WHERE action = 'drop')"
        )
    )
    return Results(findings, dropped, removals, matched, flagged, _summary(db, findings))


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


def _summary(db: Database, findings: pa.Table) -> dict[str, Any]:
    """The shard's part of summary.json: counts merge by addition across shards.

    Findings are counted from the findings table itself (distinct, as flagged.parquet holds them), not
    from ``hits``: a URL-expression or hashed list can match one row through several expressions, and
    counting hits put 12 findings in summary.json for the 9 rows of flagged.parquet."""
    by: dict[str, dict[str, int]] = {}
    for key in ("list", "kind", "action"):
        counts = pc.value_counts(findings.column(key)).to_pylist() if findings.num_rows else []
        by[f"findings_by_{key}"] = {c["values"]: c["counts"] for c in sorted(counts, key=lambda c: c["values"])}
    by["rows_by_list"] = dict(db.rows("SELECT list, count(DISTINCT row) FROM hits GROUP BY 1 ORDER BY 1"))
    by_action: dict[str, dict[str, int]] = {}
    for lst, action, n in db.rows("SELECT list, action, count(DISTINCT row) FROM hits GROUP BY 1, 2 ORDER BY 1, 2"):
        by_action.setdefault(lst, {})[action] = n
    by["flagged_hosts"] = dict(
        db.rows(
            "SELECT r.host, count(DISTINCT h.row) FROM hits h JOIN raw r USING (row) WHERE r.host IS NOT NULL GROUP BY 1 ORDER BY 1"
        )
    )
    by["rows_by_list_action"] = by_action  # type: ignore[assignment]
    return by


def _findings(db: Database, shard: Shard, *, redact: bool) -> pa.Table:
    url = "NULL::VARCHAR" if redact else "r.url"
    return db.arrow(
        f"""SELECT DISTINCT {sql_literal(shard.given)} AS shard, h.row, r.id, {url} AS url,
                  CASE WHEN r.host IS NULL THEN NULL ELSE {expression_sha256_sql('r.')} END AS url_sha256,
                  h.list, h.kind, h.entry, h.action, h.distance, h.image_hash, h.detail
           FROM hits h JOIN raw r USING (row)
           ORDER BY h.row, h.list, h.kind, h.entry, h.image_hash NULLS FIRST, h.detail NULLS FIRST"""
    )
