"""The ``raw`` table: one shard's rows with their canonical URL parts, the input of every stage.

A native kernel (:mod:`provscan.urls.native`, the SQL fast path's class and cuts in C over the Arrow
buffers; the SQL itself where the kernel is not built) canonicalizes the URLs it can prove simple
(~95 % of real LAION rows, see :mod:`provscan.urls.sql`); a second SQL pass those whose
percent-escapes decode to printable ASCII (all but ~0.2 % of the rest); only what is left goes
through the Python reference, :mod:`provscan.urls.canonical`.

``raw``  row, url, url_undecodable, id, [license], [h:KIND...], host, path, query: one row per shard row
(``hits``, the other table every stage sees, is :mod:`provscan.stages.base`'s.)
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from provscan.io.db import Database, sql_ident
from provscan.io.shards import Columns, Shard
from provscan.urls import native
from provscan.urls.canonical import canonicalize
from provscan.urls.sql import escaped_parts_select, fast_parts_sql

_SLOW_BATCH = 65_536


def load_rows(db: Database, shard: Shard, columns: Columns) -> None:
    """Read the shard's URL (and id, licence, hash) columns into ``raw`` with canonical URL parts."""
    blobs = _blob_columns(db, shard, columns)
    # friction (issue 12): an image-only shard has no URL column: url/host/path/query are NULL
    url = columns.url
    cols = [_text(url, blobs, strict=True) + " AS url" if url else "NULL::VARCHAR AS url"]
    # an undecodable binary URL is NULL in url (no pass can read it as another string), counted invalid
    cols.append(
        f"{sql_ident(url)} IS NOT NULL AND {_text(url, blobs, strict=True)} IS NULL AS url_undecodable"
        if url is not None and url in blobs
        else "false AS url_undecodable"
    )
    cols.append(_text(columns.id, blobs) + " AS id" if columns.id else "NULL::VARCHAR AS id")
    if columns.license:
        cols.append(_text(columns.license, blobs) + " AS license")
    for kind, col in sorted(columns.hashes.items()):
        cols.append(f"lower(trim({_text(col, blobs)})) AS {sql_ident('h:' + kind)}")
    source = f"SELECT file_row_number AS row, {', '.join(cols)} FROM {db.read_parquet_sql(shard.path)}"
    if native.AVAILABLE:  # the simple class in one C pass over the Arrow buffers
        _put_with_native_parts(db, db.arrow(source, reading=shard.given))
    else:  # the same class and cuts in SQL (equal by test; ~0.45 CPU-s more per 250 k real URLs)
        parts = fast_parts_sql("url")
        db.execute(
            f"""CREATE OR REPLACE TEMP TABLE raw AS
            SELECT *, {parts['host']} AS host, {parts['path']} AS path, {parts['query']} AS query FROM ({source})""",
            reading=shard.given,
        )
    _canonicalize_escaped(db)
    _canonicalize_rest(db)


def _blob_columns(db: Database, shard: Shard, columns: Columns) -> set[str]:
    """The named columns DuckDB reads as BLOB (parquet binary, or a string without its UTF-8 mark)."""
    named = [c for c in (columns.url, columns.id, columns.license, *columns.hashes.values()) if c]
    if not named:
        return set()
    described = db.arrow(
        f"DESCRIBE SELECT {', '.join(sql_ident(c) for c in named)} FROM {db.read_parquet_sql(shard.path)}",
        reading=shard.given,
    ).to_pylist()
    return {d["column_name"] for d in described if d["column_type"] == "BLOB"}


def _text(column: str, blobs: set[str], *, strict: bool = False) -> str:
    """The column as text. Binary is decoded as UTF-8: a cast would give DuckDB's ``\\xNN`` rendering,
    a different string (``http://b\\xC3\\xBCcher.example/`` missed the list line ``bücher.example``;
    issue 22). An undecodable value is NULL when ``strict`` (URLs), else that rendering (an id
    shown in the report, a licence or hash that then matches nothing and is counted malformed)."""
    name = sql_ident(column)
    if column not in blobs:
        return f"TRY_CAST({name} AS VARCHAR)"
    return f"TRY(decode({name}))" if strict else f"coalesce(TRY(decode({name})), TRY_CAST({name} AS VARCHAR))"


def _put_with_native_parts(db: Database, table: pa.Table) -> None:
    """``raw`` = the shard's columns + the kernel's parts, in one CREATE TABLE AS: appending slices
    instead saved ~100 MiB of peak RSS on 1 M-row shards but left DuckDB statistics that made
    match_domains' join 15x slower. The Arrow copies are freed on return, before the next passes."""
    _, host, path, query = native.simple_parts(table.column("url"))
    db.put("raw", table.append_column("host", host).append_column("path", path).append_column("query", query))


def canonicalize_declined(db: Database) -> None:
    """The passes after the kernel, on the rows of ``raw`` it declined (host NULL, URL not NULL)."""
    _canonicalize_escaped(db)
    _canonicalize_rest(db)


def _canonicalize_escaped(db: Database) -> None:
    """The second SQL pass: declined URLs whose escapes decode to printable ASCII (~96 % of them)."""
    db.execute(
        f"""UPDATE raw SET host = e.host, path = e.path, query = e.query
        FROM ({escaped_parts_select('(SELECT row, url FROM raw WHERE host IS NULL AND url IS NOT NULL)')}) e
        WHERE raw.row = e.row"""
    )


def _canonicalize_rest(db: Database) -> None:
    """The slow path: URLs both fast passes declined (~0.2 % of real rows) go through the reference."""
    declined = db.batches("SELECT row, url FROM raw WHERE host IS NULL AND url IS NOT NULL", batch_rows=_SLOW_BATCH)
    slow, _ = _by_reference(pair for b in declined for pair in zip(b.column(0).to_pylist(), b.column(1).to_pylist()))
    if slow.num_rows:
        db.put("slow", slow)
        db.execute("UPDATE raw SET host = s.host, path = s.path, query = s.query FROM slow s WHERE raw.row = s.row")
        db.drop("slow")


def _by_reference(rows_urls: Iterable[tuple[int, str]]) -> tuple[pa.Table, list[str]]:
    """(row, host, path, query) of the URLs the reference canonicalizes, and the texts it refuses."""
    rows: list[int] = []
    hosts: list[str] = []
    paths: list[str] = []
    queries: list[str | None] = []
    refused: list[str] = []
    for row, url in rows_urls:
        canon = canonicalize(url)
        if canon is None:
            refused.append(url)
            continue
        rows.append(row)
        hosts.append(canon.host)
        paths.append(canon.path)
        queries.append(canon.query)
    table = pa.table(
        {
            "row": pa.array(rows, pa.int64()),
            "host": pa.array(hosts, pa.string()),
            "path": pa.array(paths, pa.string()),
            "query": pa.array(queries, pa.string()),
        }
    )
    return table, refused


REFERENCE_AT_MOST = 1024
"""Declined URLs up to this many (per row group of a one-pass scan) go straight to the reference."""

_BLANK = " \t\n\v\f\r"  # RE2's [[:space:]], which url_counts' SQL uses


def reference_parts(row: pa.Array, url: pa.Array) -> tuple[pa.Table, int, int]:
    """The later passes for a few declined URLs, without DuckDB: (row, host, path, query) of the
    valid ones, and the counts of blank and other invalid URLs among them (as :func:`url_counts`).

    The SQL escaped pass equals the reference on every URL it takes (tests/test_url_sql.py, under
    hypothesis), so the result is the same; what differs is the cost. The SQL passes spend
    ~10 ms of fixed cost per call (a table put, two UPDATEs, the counts) and the reference ~8 us per
    URL, so below :data:`REFERENCE_AT_MOST` URLs the reference is the cheaper of the two: 2 x 4
    calls per 1 M real rows cost 0.08 CPU-s that way."""
    table, refused = _by_reference(zip(row.to_pylist(), url.to_pylist()))
    blank = sum(1 for text in refused if not text.strip(_BLANK))
    return table, blank, len(refused) - blank


def url_counts(db: Database) -> tuple[int, int, int]:
    """(rows, null or blank URLs, other URLs that are not valid URLs, undecodable binary ones included)."""
    rows, null, invalid = db.rows(
        """SELECT count(*),
                  count(*) FILTER (WHERE NOT url_undecodable AND (url IS NULL OR regexp_full_match(url, '[[:space:]]*'))),
                  count(*) FILTER (WHERE url_undecodable
                                   OR host IS NULL AND url IS NOT NULL AND NOT regexp_full_match(url, '[[:space:]]*'))
           FROM raw"""
    )[0]
    return int(rows), int(null), int(invalid)
