"""URL canonicalization and URL-list matching for one shard, as set operations in DuckDB.

Speed comes from doing each thing once: DuckDB canonicalizes the simple URLs (nearly all of them)
with vectorized SQL and only the rest go through Python; domain lists are joined against the
*distinct hosts* of the shard, not its rows; ``url`` lists only expand the Safe Browsing expressions
of rows whose host can match some entry; only hashed lists need every expression of every row
hashed, and each distinct expression is hashed once.

Tables (per shard, replaced for the next one):
``raw``   row, url, id, host, path, query, + image-hash columns: one row per shard row
``hits``  row, list, kind, action, entry, distance, image_hash, detail: one row per match
"""

from __future__ import annotations

import pyarrow as pa

from provscan.db import Database, sql_ident, translate
from provscan.shards import Columns, Shard
from provscan.url_sql import expressions_sql, fast_parts_sql, suffixes_sql
from provscan.urls import canonicalize

HITS_DDL = """
CREATE OR REPLACE TEMP TABLE hits (
    row BIGINT, list VARCHAR, kind VARCHAR, action VARCHAR, entry VARCHAR,
    distance SMALLINT, image_hash VARCHAR, detail VARCHAR)
"""

_SLOW_BATCH = 65_536


def load_rows(db: Database, shard: Shard, columns: Columns) -> None:
    """Read the shard's URL (and id, licence, hash) columns into ``raw`` with canonical URL parts."""
    cols = [f"TRY_CAST({sql_ident(columns.url)} AS VARCHAR) AS url"]
    cols.append(f"TRY_CAST({sql_ident(columns.id)} AS VARCHAR) AS id" if columns.id else "NULL::VARCHAR AS id")
    if columns.license:
        cols.append(f"TRY_CAST({sql_ident(columns.license)} AS VARCHAR) AS license")
    for kind, col in sorted(columns.hashes.items()):
        cols.append(f"lower(trim(TRY_CAST({sql_ident(col)} AS VARCHAR))) AS {sql_ident('h:' + kind)}")
    parts = fast_parts_sql("url")
    with translate(shard.given):
        db.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE raw AS
            SELECT *, {parts['host']} AS host, {parts['path']} AS path, {parts['query']} AS query
            FROM (SELECT file_row_number AS row, {', '.join(cols)} FROM {db.read_parquet_sql(shard.path)})"""
        ).fetchall()
    _canonicalize_rest(db)
    db.execute(HITS_DDL)


def _canonicalize_rest(db: Database) -> None:
    """The slow path: URLs the SQL fast path declined go through the reference canonicalizer."""
    rows: list[int] = []
    hosts: list[str | None] = []
    paths: list[str | None] = []
    queries: list[str | None] = []
    for batch in db.batches("SELECT row, url FROM raw WHERE host IS NULL AND url IS NOT NULL", batch_rows=_SLOW_BATCH):
        for row, url in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
            canon = canonicalize(url)
            if canon is not None:
                rows.append(row)
                hosts.append(canon.host)
                paths.append(canon.path)
                queries.append(canon.query)
    if rows:
        db.put("slow", pa.table({"row": pa.array(rows, pa.int64()), "host": hosts, "path": paths, "query": queries}))
        db.execute("UPDATE raw SET host = s.host, path = s.path, query = s.query FROM slow s WHERE raw.row = s.row")
        db.drop("slow")


def url_counts(db: Database) -> tuple[int, int, int]:
    """(rows, null or blank URLs, other URLs that are not valid URLs)."""
    rows, null, invalid = db.rows(
        """SELECT count(*),
                  count(*) FILTER (WHERE url IS NULL OR regexp_full_match(url, '[[:space:]]*')),
                  count(*) FILTER (WHERE host IS NULL AND url IS NOT NULL AND NOT regexp_full_match(url, '[[:space:]]*'))
           FROM raw"""
    )[0]
    return int(rows), int(null), int(invalid)


def match_domains(db: Database) -> None:
    """``domain`` lists: any label suffix of the row's host, computed over distinct hosts."""
    db.execute(
        f"""INSERT INTO hits
        WITH hosts AS (SELECT DISTINCT host FROM raw WHERE host IS NOT NULL),
             sfx AS (SELECT host, unnest({suffixes_sql('host', 1)}) AS suffix FROM hosts),
             hit AS (SELECT sfx.host, d.list, d.entry FROM sfx JOIN l_domain d ON d.value = sfx.suffix)
        SELECT raw.row, hit.list, 'domain', l.action, hit.entry, NULL, NULL, NULL
        FROM raw JOIN hit USING (host) JOIN l_lists l ON l.name = hit.list"""
    )


def candidate_expressions_cte(entries: str) -> str:
    """CTEs ending in ``ex(row, e)``: the expressions of rows whose host can match an entry of ``entries``.

    ``entries`` is a table with a ``host`` column (the host part of each entry's expression); rows on
    other hosts are never expanded, which is what keeps ``url`` lists cheap.
    """
    return f"""hosts AS (SELECT DISTINCT host FROM raw WHERE host IS NOT NULL),
        cand AS (SELECT DISTINCT h.host
                 FROM (SELECT host, unnest({suffixes_sql('host', 1)}) AS s FROM hosts) h
                 JOIN (SELECT DISTINCT host FROM {entries}) u ON u.host = h.s),
        ex AS (SELECT row, unnest({expressions_sql('host', 'path', 'query')}) AS e
               FROM raw SEMI JOIN cand USING (host))"""


def match_expressions(db: Database) -> None:
    """``url`` and ``optout`` lists: Safe Browsing expressions, only for rows whose host can match."""
    db.execute(
        f"""INSERT INTO hits
        WITH {candidate_expressions_cte('l_url')}
        SELECT ex.row, u.list, l.kind, l.action, u.entry, NULL, NULL, NULL
        FROM ex JOIN l_url u ON u.value = ex.e JOIN l_lists l ON l.name = u.list"""
    )


def match_hashed(db: Database) -> int:
    """``url-sha256`` lists: hash each distinct expression of the shard once; returns how many."""
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE ex AS
        SELECT row, unnest({expressions_sql('host', 'path', 'query')}) AS e FROM raw WHERE host IS NOT NULL"""
    )
    db.execute("CREATE OR REPLACE TEMP TABLE dx AS SELECT DISTINCT e FROM ex")
    hashed = db.scalar("SELECT count(*) FROM dx")
    db.execute(
        """CREATE OR REPLACE TEMP TABLE exh AS
        SELECT e, h.list, h.entry FROM dx JOIN l_urlhash h ON h.value = sha256(dx.e)"""
    )
    db.execute(
        """INSERT INTO hits
        SELECT ex.row, exh.list, 'url-sha256', l.action, exh.entry, NULL, NULL, NULL
        FROM ex JOIN exh USING (e) JOIN l_lists l ON l.name = exh.list"""
    )
    db.drop("ex", "dx", "exh")
    return int(hashed or 0)
