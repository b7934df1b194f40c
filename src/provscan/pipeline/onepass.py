"""One pass over a shard: each row group read once, matched, filtered and written.

The general path (:mod:`provscan.pipeline.shard`) loads every row into DuckDB and reads the shard
again to export it. When every stage of the plan says which rows can match (``candidates`` in
:mod:`provscan.stages.base`: rows whose host has a label suffix among a list's keys), most rows need
none of that: per row group, the C kernel reads each URL's canonical host from the Arrow buffers
(``simple_hosts``), the few whose authority it declines (~0.04 % of real rows) get the SQL and
reference passes, the distinct hosts are checked against the candidate keys in DuckDB, and only
candidate rows (~4 % of real rows against UT1) get their path and query cut and become ``raw``.
The stages run on that, then the row group is filtered and written, its bytes hashed as they are
written. Outputs are the bytes the general path writes (tests/test_onepass.py,
benchmarks/check_identical.py).

Taken only for plain string URL columns (string, large_string) and ids DuckDB casts the same from
Arrow as from parquet; anything else takes the general path.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provscan.errors import IntegrityError, ShardError
from provscan.io.db import Database, sql_ident
from provscan.io.export import CleanWriter, count_rows, open_shard
from provscan.io.shards import file_sha256
from provscan.pipeline import rows
from provscan.pipeline.shard import ShardOutcome, ShardTask, Results, extra_counts, make_entry, results
from provscan.stages.base import HITS_DDL, ShardContext, Stage
from provscan.urls import native
from provscan.urls.sql import suffixes_sql

_ID_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer)


def keys_for(stages: list[Stage], task: ShardTask) -> list[tuple[str, str]] | None:
    """The candidate key columns of the plan for this shard, or None when the shard needs the general path."""
    keys: list[tuple[str, str]] = []
    for stage in stages:
        wanted = stage.candidates(task.columns)
        if wanted is None:
            return None
        keys += [k for k in wanted if k not in keys]
    return keys if native.AVAILABLE and task.columns.url is not None and not task.columns.hashes else None


def scan_shard(
    db: Database,
    stages: list[Stage],
    task: ShardTask,
    ctx: ShardContext,
    keys: list[tuple[str, str]],
    *,
    out: Path,
    export: bool,
    redact: bool,
    on_rows: Callable[[int], None] | None = None,
) -> ShardOutcome | None:
    """Match and export the shard in one pass; None when its column types need the general path."""
    shard, columns = task.shard, task.columns
    if columns.url is None:
        return None
    parquet = open_shard(shard.path, shard.given)
    schema = parquet.schema_arrow
    if parquet.metadata.num_row_groups == 0:
        return None
    url_type = schema.field(columns.url).type
    if not (pa.types.is_string(url_type) or pa.types.is_large_string(url_type)):
        return None
    if columns.id is not None and not any(t(schema.field(columns.id).type) for t in _ID_TYPES):
        return None
    sha = file_sha256(shard.path)
    names = [c for c in (columns.url, columns.id) if c is not None]
    writer = CleanWriter(parquet, out / task.clean_name) if export else None
    parts: list[Results] = []
    totals = Counter[str]()
    try:
        start = 0
        for index in range(parquet.metadata.num_row_groups):
            group = parquet.read_row_group(index) if export else parquet.read_row_group(index, columns=names)
            _require_utf8(group, names, shard.given)
            part, null_urls, invalid_urls = _match_group(
                db, stages, ctx, keys, group, start, columns.url, columns.id, redact=redact
            )
            totals.update(rows_in=group.num_rows, null_urls=null_urls, invalid_urls=invalid_urls)
            if writer is not None:
                writer.write(group, part.dropped - start)
            parts.append(part)
            if on_rows is not None:
                on_rows(group.num_rows)
            start += group.num_rows
        written = writer.commit() if writer is not None else None
    except pa.ArrowException as exc:
        if writer is not None:
            writer.abort()
        raise ShardError(shard.given, f"cannot read: {exc}") from exc
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    whole = _combine(parts)
    entry = make_entry(shard, sha, whole, totals["rows_in"], totals["null_urls"], totals["invalid_urls"], ctx)
    outcome = ShardOutcome(
        task,
        whole.findings,
        whole.removals,
        {},
        entry,
        {**whole.summary, "extra": extra_counts(ctx)},
        whole.dropped,
        exported=written is not None,
    )
    if written is not None:
        on_disk = count_rows(out / task.clean_name)
        if not (written[0] == on_disk == entry["rows_in"] - whole.dropped.size):
            raise IntegrityError(
                f"{shard.given}: rows in {entry['rows_in']} != rows kept {on_disk} + rows dropped {whole.dropped.size}"
            )
        entry["output"] = task.clean_name
        entry["output_sha256"] = written[1]
        entry["rows_out"] = on_disk
    return outcome


def _require_utf8(group: pa.Table, names: list[str], shard: str) -> None:
    """Refuse the shard, as the general path does (DuckDB's parquet reader), when its URL or id
    column is a string column holding bytes that are not UTF-8: a file that breaks its own schema.
    Checking costs ~4 ms per 250 k real URLs; without it, rows the kernel never declines would be
    exported unread and the rest fail later with an engine error."""
    for name in names:
        column = group.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            try:
                column.validate(full=True)
            except pa.ArrowInvalid as exc:
                raise ShardError(shard, f"column {name!r} is not valid UTF-8 ({exc})") from None


def _match_group(
    db: Database,
    stages: list[Stage],
    ctx: ShardContext,
    keys: list[tuple[str, str]],
    group: pa.Table,
    start: int,
    url_col: str,
    id_col: str | None,
    *,
    redact: bool,
) -> tuple[Results, int, int]:
    """One row group: canonical hosts, candidate rows into ``raw``, the stages, their results.

    Deciding candidates needs only hosts: the kernel's :func:`~provscan.urls.native.simple_hosts`
    gives every URL with a simple authority its host whatever its path (all but ~0.04 % of real
    rows); only those left go through the SQL and reference passes here, and full parts (path,
    query) are cut for candidate rows alone."""
    n = group.num_rows
    url = _whole(group.column(url_col))
    ids = _whole(group.column(id_col)) if id_col is not None else None
    row = pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(np.arange(start, start + n, dtype=np.int64))])
    host = _whole(native.simple_hosts(url)[1])
    declined = pc.and_(pc.is_null(host), pc.is_valid(url))
    null_urls, invalid_urls = url.null_count, 0
    fixed: pa.Table | None = None  # canonical parts of the URLs whose authority the kernel declined
    if pc.any(declined).as_py():
        fixed, blank, invalid_urls = _later_passes(db, row.filter(declined), url.filter(declined))
        null_urls += blank
    matched = _matched_hosts(db, keys, [host] + ([fixed.column("host")] if fixed is not None else []))
    pieces = []
    if matched is not None:
        take = pc.fill_null(pc.is_in(host, value_set=matched), False)
        if pc.any(take).as_py():
            pieces += _candidate_parts(
                db, row.filter(take), url.filter(take), ids.filter(take) if ids is not None else None
            )
        if fixed is not None and fixed.num_rows:
            hit = fixed.filter(pc.fill_null(pc.is_in(fixed.column("host"), value_set=matched.cast(pa.string())), False))
            if hit.num_rows:
                at = pc.subtract(hit.column("row"), pa.scalar(start, pa.int64()))
                pieces.append(_piece(hit, url.take(at), ids.take(at) if ids is not None else None))
    source = pa.concat_tables(pieces).sort_by("row") if pieces else _schema(ids).empty_table()
    id_sql = "TRY_CAST(id AS VARCHAR)" if ids is not None else "NULL::VARCHAR"
    db.put(  # in raw's shape straight from Arrow: one table materialised, not two
        "raw",
        source,
        select=f"""row, url::VARCHAR AS url, false AS url_undecodable, {id_sql} AS id,
                   host::VARCHAR AS host, path::VARCHAR AS path, query::VARCHAR AS query""",
    )
    db.execute(HITS_DDL)
    ctx.rows_in = n
    try:
        for stage in stages:
            stage.run(ctx)
        for stage in stages:
            stage.finish(ctx)
        return results(db, ctx.shard, redact=redact), null_urls, invalid_urls
    finally:
        db.drop("raw", "hits", *(t for s in stages for t in s.temp))


def _whole(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array: its only chunk as it is (``combine_chunks`` copies even one chunk,
    26 MB of fresh memory per 250 k real URLs, page faults included), else the chunks combined."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _later_passes(db: Database, row: pa.Array, url: pa.Array) -> tuple[pa.Table, int, int]:
    """The SQL escaped pass and the reference on URLs the kernel declined: (row, host, path, query)
    of the valid ones, and the counts of blank and invalid URLs among them. A few (the usual case:
    ~100 per 250 k real rows) go to the reference alone, which gives the same parts for less."""
    if len(row) <= rows.REFERENCE_AT_MOST:
        return rows.reference_parts(row, url)
    return _sql_passes(db, row, url)


def _sql_passes(db: Database, row: pa.Array, url: pa.Array) -> tuple[pa.Table, int, int]:
    """:func:`_later_passes` for many URLs: the SQL escaped pass, then the reference on the rest."""
    d = len(row)
    db.put(
        "raw",
        pa.table(
            {
                "row": row,
                "url": url.cast(pa.string()),
                "url_undecodable": pa.repeat(False, d),
                "host": pa.nulls(d, pa.string()),
                "path": pa.nulls(d, pa.string()),
                "query": pa.nulls(d, pa.string()),
            }
        ),
    )
    rows.canonicalize_declined(db)
    _, blank, invalid = rows.url_counts(db)
    return db.arrow("SELECT row, host, path, query FROM raw WHERE host IS NOT NULL"), blank, invalid


def _candidate_parts(db: Database, row: pa.Array, url: pa.Array, ids: pa.Array | None) -> list[pa.Table]:
    """Full canonical parts of candidate rows whose host the kernel gave: its simple class cuts most;
    the rest (escapes, dot segments, raw spaces in the path) take the later passes, which never
    invalidate a URL whose authority is simple (:func:`~provscan.urls.native.simple_hosts`)."""
    _, host_c, path_c, query_c = native.simple_parts(url)
    host = _whole(host_c)
    cut = pc.is_valid(host)
    parts = pa.table({"row": row, "host": host, "path": _whole(path_c), "query": _whole(query_c)})
    pieces = [_piece(parts.filter(cut), url.filter(cut), ids.filter(cut) if ids is not None else None)]
    rest = pc.invert(cut)
    if pc.any(rest).as_py():
        fixed, _, invalid = _later_passes(db, row.filter(rest), url.filter(rest))
        if invalid or fixed.num_rows != pc.sum(rest).as_py():
            raise IntegrityError("a URL whose authority the native kernel took was refused by the reference")
        at = pc.index_in(fixed.column("row"), value_set=row)
        pieces.append(_piece(fixed, url.take(at), ids.take(at) if ids is not None else None))
    return pieces


def _piece(parts: pa.Table, url: pa.Array, ids: pa.Array | None) -> pa.Table:
    """Candidate rows in ``raw``'s shape: (row, host, path, query) with their URL and id."""
    piece = {
        "row": parts.column("row"),
        "url": url,
        "host": parts.column("host"),
        "path": parts.column("path"),
        "query": parts.column("query"),
    }
    if ids is not None:
        piece["id"] = ids
    return pa.table(piece).cast(_schema(ids))


def _schema(ids: pa.Array | None) -> pa.Schema:
    fields = [
        ("row", pa.int64()),
        ("url", pa.large_string()),
        ("host", pa.large_string()),
        ("path", pa.large_string()),
        ("query", pa.large_string()),
    ]
    return pa.schema(fields + ([("id", ids.type)] if ids is not None else []))


def _matched_hosts(db: Database, keys: list[tuple[str, str]], hosts: list[pa.Array]) -> pa.Array | None:
    """The distinct hosts with a label suffix among the keys, decided once per distinct host in DuckDB."""
    if not keys:
        return None
    distinct = pc.unique(
        pa.chunked_array([pc.unique(h).cast(pa.large_string()) for h in hosts], pa.large_string())
    ).drop_null()
    if not len(distinct):
        return None
    table = _key_table(db, keys)
    db.put("rg_hosts", pa.table({"host": distinct.cast(pa.string())}))
    matched = db.arrow(
        f"""SELECT DISTINCT host FROM (SELECT host, unnest({suffixes_sql('host', 1)}) AS s FROM rg_hosts) x
            SEMI JOIN {table} k ON k.key = x.s"""
    ).column(0)
    db.drop("rg_hosts")
    return matched.combine_chunks().cast(pa.large_string()) if len(matched) else None


def _key_table(db: Database, keys: list[tuple[str, str]]) -> str:
    """The values of the key columns as one table, made once per session (the lists do not
    change within one): an ``IN`` over the list tables built a hash table of every key in every row
    group, 70 ms per group against 1 M domains (23 ms with this table), for a few thousand hosts."""
    spec = ",".join(f"{table}.{col}" for table, col in keys)
    name = sql_ident("cand_keys_" + hashlib.sha256(spec.encode()).hexdigest()[:16])
    union = " UNION ALL ".join(f"SELECT {sql_ident(col)} AS key FROM {sql_ident(table)}" for table, col in keys)
    db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} AS {union}")
    return name


def _combine(parts: list[Results]) -> Results:
    """The shard's results from its row groups': rows are disjoint, so counts add up and findings,
    ordered by row within each part, stay ordered when concatenated."""
    if not parts:
        raise IntegrityError("a shard without row groups reached the one-pass scan")
    findings = pa.concat_tables([p.findings for p in parts]).combine_chunks()
    dropped = np.concatenate([p.dropped for p in parts]) if parts else np.zeros(0, np.int64)
    removals = pa.chunked_array([p.removals for p in parts], pa.string())
    removals = pc.unique(removals)
    removals = removals.take(pc.array_sort_indices(removals))
    summary: dict[str, Any] = {}
    for part in parts:
        _add(summary, part.summary)
    return Results(findings, dropped, removals, sum(p.matched for p in parts), sum(p.flagged for p in parts), summary)


def _add(into: dict[str, Any], more: dict[str, Any]) -> None:
    """Add nested {key: int} counts; every level sorted by key, as the SQL's ORDER BY gives them."""
    for key, value in more.items():
        if isinstance(value, dict):
            _add(into.setdefault(key, {}), value)
        else:
            into[key] = into.get(key, 0) + value
    for key in sorted(into):
        into[key] = into.pop(key)
