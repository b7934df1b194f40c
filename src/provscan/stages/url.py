"""URL-list matching for one shard, as set operations in DuckDB.

Speed comes from doing each thing once: domain lists are joined against the
*distinct hosts* of the shard, not its rows; ``url`` lists only expand the Safe Browsing expressions
of rows whose host can match some entry; only hashed lists need every expression of every row
hashed, and each distinct expression is hashed once.

Reads ``raw`` (see :mod:`provscan.pipeline.rows`), adds to ``hits``.
"""

from __future__ import annotations

from provscan.lists.compiled import CompiledLists
from provscan.io.shards import Columns
from provscan.stages.base import BaseStage, BuildEnv, ShardContext
from provscan.urls.sql import candidate_keys_cte, path_keys_sql, suffixes_sql


def match_domains(ctx: ShardContext) -> None:
    """``domain`` lists: any label suffix of the row's host, computed over distinct hosts."""
    ctx.add_findings(
        f"""WITH hosts AS (SELECT DISTINCT host FROM raw WHERE host IS NOT NULL),
             sfx AS (SELECT host, unnest({suffixes_sql('host', 1)}) AS suffix FROM hosts),
             hit AS (SELECT sfx.host, d.list, d.entry FROM sfx JOIN l_domain d ON d.value = sfx.suffix)
        SELECT raw.row, hit.list, 'domain' AS kind, l.action, hit.entry
        FROM raw JOIN hit USING (host) JOIN l_lists l ON l.name = hit.list""",
    )


def match_expressions(ctx: ShardContext) -> None:
    """``url`` and ``optout`` lists: a row matches when an entry is one of its expressions."""
    ctx.add_findings(
        f"""WITH {candidate_keys_cte('l_url')}
        SELECT ck.row, u.list, l.kind, l.action, u.entry
        FROM ck JOIN l_url u ON u.host = ck.h AND u.path = ck.key JOIN l_lists l ON l.name = u.list""",
    )


_SHARED_KEYS = (0, 3, 4, 5)  # '/' and directory prefixes: shared by many rows of a host
_ROW_KEYS = (1, 2)  # the exact path and path?query: nearly unique per row


def match_hashed(ctx: ShardContext) -> int:
    """``url-sha256`` lists: every expression of every row must be hashed, so hash as few as possible.

    Shared keys are hashed once per distinct (host suffix, key); the per-row keys are hashed per
    row without a DISTINCT, which would cost more than the few duplicate URLs it saves. Returns the
    number of SHA-256 computed (for the benchmark's hashing floor). Its scratch tables are
    :attr:`UrlStage.temp`.
    """
    db = ctx.db
    db.execute(  # rows per host, and rows with a query (which add the path?query key): for the count
        """CREATE OR REPLACE TEMP TABLE hn AS
        SELECT host, count(*) AS n, count(query) AS nq FROM raw WHERE host IS NOT NULL GROUP BY host"""
    )
    db.execute(f"CREATE OR REPLACE TEMP TABLE hs AS SELECT host, unnest({suffixes_sql('host', 2)}) AS h FROM hn")
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE sk AS
        SELECT DISTINCT host, key FROM ({path_keys_sql('raw WHERE host IS NOT NULL', _SHARED_KEYS)})"""
    )
    db.execute(
        """CREATE OR REPLACE TEMP TABLE shared_hits AS
        SELECT hs.host, sk.key, l.list, l.entry
        FROM sk JOIN hs USING (host) JOIN l_urlhash l ON l.value = sha256(hs.h || sk.key)"""
    )
    ctx.add_findings(
        f"""SELECT k.row, m.list, 'url-sha256' AS kind, ll.action, m.entry
        FROM shared_hits m
        JOIN ({path_keys_sql('raw SEMI JOIN (SELECT DISTINCT host FROM shared_hits) s USING (host)', _SHARED_KEYS)}) k
             ON k.host = m.host AND k.key = m.key
        JOIN l_lists ll ON ll.name = m.list""",
    )
    ctx.add_findings(
        f"""SELECT k.row, l.list, 'url-sha256' AS kind, ll.action, l.entry
        FROM ({path_keys_sql('raw WHERE host IS NOT NULL', _ROW_KEYS)}) k JOIN hs USING (host)
        JOIN l_urlhash l ON l.value = sha256(hs.h || k.key) JOIN l_lists ll ON ll.name = l.list""",
    )
    # SHA-256 computed = shared (host, key) x suffixes + per-row keys (path, and path?query when
    # there is a query) x suffixes: products of per-host counts, no second pass over the rows' keys.
    hashed = db.scalar(
        """WITH s AS (SELECT host, count(*) AS n FROM hs GROUP BY host)
        SELECT (SELECT sum(k.n * s.n) FROM (SELECT host, count(*) AS n FROM sk GROUP BY host) k JOIN s USING (host))
             + (SELECT sum((hn.n + hn.nq) * s.n) FROM hn JOIN s USING (host))"""
    )
    return int(hashed or 0)


class UrlStage(BaseStage):
    """``domain``, ``url``/``optout`` and ``url-sha256`` lists; kinds with no list cost nothing."""

    name = "url"
    reads = ("raw", "l_lists", "l_domain", "l_url", "l_urlhash")
    writes = ("hits",)
    temp = ("hn", "hs", "sk", "shared_hits")
    stats = ("expressions_hashed",)

    @classmethod
    def build(cls, env: BuildEnv) -> UrlStage:
        return cls(env.lists)

    def __init__(self, lists: CompiledLists) -> None:
        self.domains = bool(lists.of_kind("domain"))
        self.expressions = bool(lists.of_kind("url", "optout"))
        self.hashed = bool(lists.of_kind("url-sha256"))

    def candidates(self, columns: Columns) -> tuple[tuple[str, str], ...] | None:
        """Domain and url lists match only hosts under their entries; hashed lists need every row."""
        if self.hashed:
            return None
        return (("l_domain", "value"),) * self.domains + (("l_url", "host"),) * self.expressions

    @property
    def needed(self) -> bool:
        return self.domains or self.expressions or self.hashed

    def run(self, ctx: ShardContext) -> None:
        if self.domains:
            match_domains(ctx)
        if self.expressions:
            match_expressions(ctx)
        if self.hashed:
            ctx.stats.add("expressions_hashed", match_hashed(ctx))
