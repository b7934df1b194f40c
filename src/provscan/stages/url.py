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

from provscan.io.db import Database, sql_ident, translate
from provscan.io.shards import Columns, Shard
from provscan.urls.sql import fast_parts_sql, suffixes_sql
from provscan.urls.canonical import canonicalize

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


def expression_sha256_sql(prefix: str = "") -> str:
    """SQL for the SHA-256 of a row's full canonical expression (host + path + ?query): the row's
    ``url_sha256``, its removal-list entry and its fetch-cache key."""
    return (
        f"sha256({prefix}host || {prefix}path || "
        f"CASE WHEN {prefix}query IS NULL THEN '' ELSE '?' || {prefix}query END)"
    )


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


def _path_keys_sql(rows: str, keys: tuple[int, ...] = (0, 1, 2, 3, 4, 5)) -> str:
    """``(row, host, key)`` for the Safe Browsing path prefixes of the rows in ``rows``.

    Key numbers: 0 ``/``, 1 the exact path, 2 ``path?query``, 3-5 the directory prefixes ``/c1/``,
    ``/c1/c2/``, ``/c1/c2/c3/``, cut with string positions: no lists, no lambdas, which is what
    makes this several times faster than building expression lists per row. A directory prefix
    equal to the whole path is the exact path anyway, so keys form the same set as
    :func:`provscan.urls.canonical.path_prefixes`.
    """
    p1 = "strpos(substr(path, 2), '/')"
    p2 = f"strpos(substr(path, {p1} + 2), '/')"
    p3 = f"strpos(substr(path, {p1} + {p2} + 2), '/')"
    return f"""
        SELECT row, host, CASE i WHEN 0 THEN '/' WHEN 1 THEN path WHEN 2 THEN pq WHEN 3 THEN d1
                                 WHEN 4 THEN d2 ELSE d3 END AS key
        FROM (SELECT row, host, path,
                     CASE WHEN query IS NOT NULL THEN path || '?' || query END AS pq,
                     CASE WHEN {p1} > 0 THEN substr(path, 1, {p1} + 1) END AS d1,
                     CASE WHEN {p1} > 0 AND {p2} > 0 THEN substr(path, 1, {p1} + {p2} + 1) END AS d2,
                     CASE WHEN {p1} > 0 AND {p2} > 0 AND {p3} > 0 THEN substr(path, 1, {p1} + {p2} + {p3} + 1) END AS d3
              FROM {rows}), (SELECT unnest({list(keys)}) AS i) t
        WHERE key IS NOT NULL"""


def candidate_keys_cte(entries: str) -> str:
    """CTEs ending in ``ck(row, h, key)``: for rows on a host with some suffix ``h`` among the entry
    hosts of ``entries`` (a table with ``host`` and ``path`` columns), their path keys.

    A row matches entry (``host``, ``path``) iff ``h = host AND key = path``: two equi-joins, no
    expression strings built. Host suffixes are taken over the shard's distinct hosts.
    """
    return f"""hosts AS (SELECT DISTINCT host FROM raw WHERE host IS NOT NULL),
        cand AS (SELECT hs.host, hs.h
                 FROM (SELECT host, unnest({suffixes_sql('host', 2)}) AS h FROM hosts) hs
                 SEMI JOIN (SELECT DISTINCT host FROM {entries}) u ON u.host = hs.h),
        ck AS (SELECT k.row, cand.h, k.key
               FROM ({_path_keys_sql('raw SEMI JOIN (SELECT DISTINCT host FROM cand) c USING (host)')}) k
               JOIN cand USING (host))"""


def match_expressions(db: Database) -> None:
    """``url`` and ``optout`` lists: a row matches when an entry is one of its expressions."""
    db.execute(
        f"""INSERT INTO hits
        WITH {candidate_keys_cte('l_url')}
        SELECT ck.row, u.list, l.kind, l.action, u.entry, NULL, NULL, NULL
        FROM ck JOIN l_url u ON u.host = ck.h AND u.path = ck.key JOIN l_lists l ON l.name = u.list"""
    )


_SHARED_KEYS = (0, 3, 4, 5)  # '/' and directory prefixes: shared by many rows of a host
_ROW_KEYS = (1, 2)  # the exact path and path?query: nearly unique per row


def match_hashed(db: Database) -> int:
    """``url-sha256`` lists: every expression of every row must be hashed, so hash as few as possible.

    Shared keys are hashed once per distinct (host suffix, key); the per-row keys are hashed per
    row without a DISTINCT, which would cost more than the few duplicate URLs it saves. Returns the
    number of SHA-256 computed (for the benchmark's hashing floor).
    """
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE hs AS
        SELECT host, unnest({suffixes_sql('host', 2)}) AS h FROM (SELECT DISTINCT host FROM raw WHERE host IS NOT NULL)"""
    )
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE sk AS
        SELECT DISTINCT host, key FROM ({_path_keys_sql('raw WHERE host IS NOT NULL', _SHARED_KEYS)})"""
    )
    db.execute(
        """CREATE OR REPLACE TEMP TABLE shared_hits AS
        SELECT hs.host, sk.key, l.list, l.entry
        FROM sk JOIN hs USING (host) JOIN l_urlhash l ON l.value = sha256(hs.h || sk.key)"""
    )
    db.execute(
        f"""INSERT INTO hits
        SELECT k.row, m.list, 'url-sha256', ll.action, m.entry, NULL, NULL, NULL
        FROM shared_hits m
        JOIN ({_path_keys_sql('raw SEMI JOIN (SELECT DISTINCT host FROM shared_hits) s USING (host)', _SHARED_KEYS)}) k
             ON k.host = m.host AND k.key = m.key
        JOIN l_lists ll ON ll.name = m.list"""
    )
    db.execute(
        f"""INSERT INTO hits
        SELECT k.row, l.list, 'url-sha256', ll.action, l.entry, NULL, NULL, NULL
        FROM ({_path_keys_sql('raw WHERE host IS NOT NULL', _ROW_KEYS)}) k JOIN hs USING (host)
        JOIN l_urlhash l ON l.value = sha256(hs.h || k.key) JOIN l_lists ll ON ll.name = l.list"""
    )
    hashed = db.scalar(
        f"""SELECT (SELECT count(*) FROM sk JOIN hs USING (host))
                 + (SELECT count(*) FROM ({_path_keys_sql('raw WHERE host IS NOT NULL', _ROW_KEYS)}) k JOIN hs USING (host))"""
    )
    db.drop("hs", "sk", "shared_hits")
    return int(hashed or 0)
