"""Allowlists: a list with ``action=allow`` exempts the rows it matches from some drops.

UT1 ships ``liste_blanche`` (its whitelist) beside its blacklists; without an allow action, loading
it drops the very sites it vouches for. The rule, applied per row after the matchers ran:

* a row matched by an ``allow`` list keeps that match as a finding with action ``allow``;
* its ``drop`` findings of kind ``domain``, ``url`` and ``optout`` become ``allow`` (kept in
  ``flagged.parquet`` with ``detail = "allowed by LIST[,LIST]"``), so the row is not dropped;
* ``url-sha256`` and image-hash findings are never overridden: those lists come from
  child-protection and abuse programmes, and no allowlist may override them. Licence, consent and
  ``unchecked`` findings are not list matches and are not overridden either.
* ``flag`` findings stay ``flag``.

It runs as a stage right after the URL stage, so allowed rows are still fetched and checked
against image lists (the fetch and consent stages skip rows with a ``drop`` finding).
"""

from __future__ import annotations

from provscan.io.db import Database, sql_literal
from provscan.kinds import ALLOW_OVERRIDES
from provscan.io.shards import Columns
from provscan.stages.base import BaseStage, BuildEnv, ShardContext

_OVERRIDES = ", ".join(sql_literal(k) for k in ALLOW_OVERRIDES)


class AllowStage(BaseStage):
    name = "allow"
    reads = ("hits", "l_lists")
    writes = ("hits",)
    stats = ("rows_allowed",)

    @classmethod
    def build(cls, env: BuildEnv) -> AllowStage:
        return cls()

    def run(self, ctx: ShardContext) -> None:
        apply_allow(ctx.db)

    def candidates(self, columns: Columns) -> tuple[tuple[str, str], ...]:
        return ()  # acts on rows that already have findings, row by row

    def finish(self, ctx: ShardContext) -> None:
        """Counted once every stage ran: a later stage's drop (an image match) cancels the allowance."""
        ctx.stats.add("rows_allowed", count_allowed(ctx.db))


def apply_allow(db: Database) -> None:
    """Turn overridable ``drop`` findings of allowlisted rows into ``allow``."""
    db.execute(
        f"""UPDATE hits SET action = 'allow', detail = a.by
        FROM (SELECT h.row, 'allowed by ' || string_agg(DISTINCT h.list, ',' ORDER BY h.list) AS by
              FROM hits h JOIN l_lists l ON l.name = h.list WHERE l.action = 'allow' GROUP BY h.row) a
        WHERE hits.row = a.row AND hits.action = 'drop' AND hits.kind IN ({_OVERRIDES})"""
    )


def count_allowed(db: Database) -> int:
    """Rows an allowlist kept: an overridden finding and no drop left (the manifest's ``rows_allowed``)."""
    return int(
        db.scalar(
            """SELECT count(DISTINCT row) FROM hits WHERE action = 'allow' AND starts_with(detail, 'allowed by ')
           AND row NOT IN (SELECT row FROM hits WHERE action = 'drop')"""
        )
        or 0
    )
