"""Scanning one shard: (shard, compiled lists, policy) -> findings, cleaned shard, manifest entry.

This is the unit of work a driver runs and merges (see :mod:`provscan.scan`). It owns the order of
the stages and the shard's invariant, rows in = rows kept + rows dropped, which it checks against the
file it actually wrote before anything is reported.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from provscan.pipeline import rows
from provscan.stages.allow import apply_allow
from provscan.stages import url as urlmatch
from provscan.urls.sql import expression_sha256_sql
from provscan.lists.compiled import CompiledLists
from provscan.config import ScanConfig
from provscan.io.db import Database, sql_literal
from provscan.errors import IntegrityError
from provscan.io.export import count_rows, export_clean
from provscan.io.shards import Columns, Shard, file_sha256


@dataclass
class ShardContext:
    """What a matcher sees: the database holding ``raw``/``hits``, the shard and the run's settings."""

    db: Database
    shard: Shard
    columns: Columns
    compiled: CompiledLists
    config: ScanConfig
    out_dir: Path
    stats: dict[str, Any] = field(default_factory=dict)  # per-shard counters for the manifest
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # breakdowns for summary.json
    headers: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # fetched rows' consent headers


Matcher = Callable[[ShardContext], None]
"""A stage that inserts its matches into ``hits`` (and may add counters to ``ctx.stats``)."""


@dataclass
class ShardOutcome:
    findings: pa.Table
    removals: pa.ChunkedArray  # SHA-256 of dropped rows' canonical expressions (distinct in the shard)
    hosts: dict[str, int]  # flagged rows per canonical host, for the summary
    counts: dict[str, Counter[str]]
    entry: dict[str, Any]
    seconds: float
    dropped: np.ndarray  # sorted row numbers with a drop match


def url_matchers(compiled: CompiledLists) -> list[Matcher]:
    """The URL-list stages this run needs; kinds with no list cost nothing."""
    stages: list[Matcher] = []
    if compiled.of_kind("domain"):
        stages.append(lambda ctx: urlmatch.match_domains(ctx.db))
    if compiled.of_kind("url", "optout"):
        stages.append(lambda ctx: urlmatch.match_expressions(ctx.db))
    if compiled.of_kind("url-sha256"):
        stages.append(lambda ctx: ctx.stats.__setitem__("expressions_hashed", urlmatch.match_hashed(ctx.db)))
    # friction (issue 12): allowlists resolved right after the URL stages, so allowed rows are still
    # fetched and image-checked (fetch/consent skip action='drop'); applied again in match_shard.
    if any(lst.action == "allow" for lst in compiled.lists):
        stages.append(lambda ctx: apply_allow(ctx.db))
    return stages


def match_shard(ctx: ShardContext, matchers: list[Matcher]) -> ShardOutcome:
    """Phase 1, in DuckDB: load the shard's rows, run the stages, collect findings and drops."""
    started = time.perf_counter()
    db, shard = ctx.db, ctx.shard
    # One full read from disk that also warms the page cache for DuckDB's read and the export's.
    shard_sha = file_sha256(shard.path)
    rows.load_rows(db, shard, ctx.columns)
    rows_in, null_urls, invalid_urls = rows.url_counts(db)
    for matcher in matchers:
        matcher(ctx)
    # friction (issue 12): final allowlist pass (stages/allow.py) before drops are computed.
    if any(lst.action == "allow" for lst in ctx.compiled.lists):
        ctx.stats["rows_allowed"] = apply_allow(db)
    findings = _findings(db, shard, redact=ctx.config.redact_urls)
    dropped = np.asarray(
        db.arrow("SELECT DISTINCT row FROM hits WHERE action = 'drop' ORDER BY row").column(0).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    removals = db.arrow(
        f"""SELECT DISTINCT {expression_sha256_sql()} AS h FROM raw
            WHERE host IS NOT NULL AND row IN (SELECT row FROM hits WHERE action = 'drop')"""
    ).column(0)
    entry: dict[str, Any] = {
        "path": shard.given,
        "sha256": shard_sha,
        "rows_in": rows_in,
        "rows_flagged": int(db.scalar("SELECT count(DISTINCT row) FROM hits")),
        "rows_dropped": int(dropped.size),
        "rows_out": rows_in - int(dropped.size),
        "null_urls": null_urls,
        "invalid_urls": invalid_urls,
        "findings": findings.num_rows,
        **ctx.stats,
    }
    hosts = dict(
        db.rows("SELECT r.host, count(DISTINCT h.row) FROM hits h JOIN raw r USING (row) WHERE r.host IS NOT NULL GROUP BY r.host")
    )
    db.drop("raw", "hits")
    return ShardOutcome(findings, removals, hosts, ctx.counts, entry, time.perf_counter() - started, dropped)


def export_shard(outcome: ShardOutcome, shard: Shard, clean_path: Path | None,
                 on_rows: Callable[[int], None] | None = None) -> ShardOutcome:
    """Phase 2, pyarrow only (no DuckDB, so it can overlap the next shard's phase 1): write the
    cleaned shard and check rows in = rows kept + rows dropped against the file written."""
    entry, dropped = outcome.entry, outcome.dropped
    if clean_path is not None:
        # friction (issue 12): on_rows advances the progress bar per row group
        written, output_sha = export_clean(shard.path, clean_path, dropped, shard_name=shard.given, on_rows=on_rows)
        on_disk = count_rows(clean_path)
        if not (written == on_disk == entry["rows_in"] - dropped.size):
            raise IntegrityError(
                f"{shard.given}: rows in {entry['rows_in']} != rows kept {on_disk} + rows dropped {dropped.size}"
            )
        entry["output"] = str(clean_path)
        entry["output_sha256"] = output_sha
        entry["rows_out"] = on_disk
    if entry["rows_in"] != entry["rows_out"] + entry["rows_dropped"]:
        raise IntegrityError(f"{shard.given}: rows in != rows out + rows dropped")
    return outcome


def scan_shard(ctx: ShardContext, matchers: list[Matcher], *, clean_path: Path | None) -> ShardOutcome:
    """Both phases for one shard: the unit of work, as a function of (shard, lists, policy)."""
    return export_shard(match_shard(ctx, matchers), ctx.shard, clean_path)


def _findings(db: Database, shard: Shard, *, redact: bool) -> pa.Table:
    url = "NULL::VARCHAR" if redact else "r.url"
    return db.arrow(
        f"""SELECT DISTINCT {sql_literal(shard.given)} AS shard, h.row, r.id, {url} AS url,
                  CASE WHEN r.host IS NULL THEN NULL ELSE {expression_sha256_sql('r.')} END AS url_sha256,
                  h.list, h.kind, h.entry, h.action, h.distance, h.image_hash, h.detail
           FROM hits h JOIN raw r USING (row)
           ORDER BY h.row, h.list, h.kind, h.entry, h.image_hash NULLS FIRST, h.detail NULLS FIRST"""
    )
