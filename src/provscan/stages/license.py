"""The licence stage: what each row may be used for, and the findings the licence policy asks for.

A row's licence comes from its own licence column when that says something, else from the most
specific matching ``license-registry`` entry, else it is ``unknown``. Licence strings repeat across
millions of rows, so they are resolved once per distinct value in Python and joined back in DuckDB;
registries are matched like ``url`` lists (only rows whose host can match are expanded). Every scan
counts the resolved licences, policy or not: maintainers need that table for the dataset card.
"""

from __future__ import annotations

import pyarrow as pa

from provscan.config import ScanConfig
from provscan.lists.compiled import CompiledLists
from provscan.io.shards import Columns
from provscan.stages.base import BaseStage, BuildEnv, ShardContext
from provscan.io.db import Database, sql_literal
from provscan.urls.sql import candidate_keys_cte
from provscan.licenses.spdx import UNKNOWN, LicensePolicy, resolve_license

POLICY_LIST = "license-policy"
"""The ``list`` name of licence findings in ``flagged.parquet``."""


class LicenseStage(BaseStage):
    """Resolves row licences into the ``lic`` table, adds policy findings and counts the breakdown."""

    name = "license"
    reads = ("raw", "l_registry")
    writes = ("hits",)
    temp = ("lic", "lic_map", "lic_reg", "lic_action")

    @classmethod
    def build(cls, env: BuildEnv) -> LicenseStage:
        return cls(env.config, env.lists)

    def __init__(self, config: ScanConfig, lists: CompiledLists) -> None:
        self.policy = LicensePolicy(drop=config.licenses.drop, flag=config.licenses.flag)
        self.has_registry = bool(lists.of_kind("license-registry"))

    def run(self, ctx: ShardContext) -> None:
        db = ctx.db
        column = ctx.columns.license
        if self._trivial(column):
            rows = ctx.rows_in  # every row is unknown: nothing to join
            ctx.count("licenses_by_id", {UNKNOWN: rows})
            ctx.count("licenses_by_source", {"none": rows})
            return
        self._resolve_column(db, column is not None)
        if self.has_registry:
            self._match_registry(db)
        else:
            db.execute("CREATE OR REPLACE TEMP TABLE lic_reg (row BIGINT, list VARCHAR, value VARCHAR, license VARCHAR)")
        source = f"'column:' || {sql_literal(column)}" if column else "NULL"
        db.execute(
            f"""CREATE OR REPLACE TEMP TABLE lic AS
            SELECT raw.row,
                   CASE WHEN m.how IS NOT NULL AND m.how <> 'missing' THEN m.id
                        WHEN reg.license IS NOT NULL THEN reg.license ELSE 'unknown' END AS license,
                   CASE WHEN m.how IS NOT NULL AND m.how <> 'missing' THEN {source}
                        WHEN reg.license IS NOT NULL THEN 'registry:' || reg.list || ':' || reg.value
                        ELSE 'none' END AS source
            FROM raw LEFT JOIN lic_map m ON m.value = {'raw.license' if column else 'NULL'}
                     LEFT JOIN lic_reg reg USING (row)"""
        )
        by_id = dict(db.rows("SELECT license, count(*) FROM lic GROUP BY license"))
        by_source = dict(db.rows("SELECT split_part(source, ':', 1), count(*) FROM lic GROUP BY 1"))
        ctx.count("licenses_by_id", by_id)
        ctx.count("licenses_by_source", by_source)
        actions = {lic: a for lic in by_id if (a := self.policy.action_for(lic)) is not None}
        if actions:
            db.put("lic_action", pa.table({"license": list(actions), "action": list(actions.values())}))
            ctx.add_findings(
                """SELECT lic.row, a.action, lic.license AS entry, lic.source AS detail
                FROM lic JOIN lic_action a USING (license)""",
                list=POLICY_LIST, kind="license",
            )

    def _trivial(self, column: str | None) -> bool:
        return column is None and not self.has_registry and self.policy.action_for(UNKNOWN) is None

    def candidates(self, columns: Columns) -> tuple[tuple[str, str], ...] | None:
        """Without a licence column, registry or policy on ``unknown``, it only counts rows."""
        return () if self._trivial(columns.license) else None

    @staticmethod
    def _resolve_column(db: Database, present: bool) -> None:
        values = [v for (v,) in db.rows("SELECT DISTINCT license FROM raw WHERE license IS NOT NULL")] if present else []
        resolved = [resolve_license(v) for v in values]
        db.put(
            "lic_map",
            pa.table(
                {"value": pa.array(values, pa.string()), "id": pa.array([r[0] for r in resolved], pa.string()),
                 "how": pa.array([r[1] for r in resolved], pa.string())}
            ),
        )

    @staticmethod
    def _match_registry(db: Database) -> None:
        """The most specific registry entry per row: longest host, then longest expression."""
        db.execute(
            f"""CREATE OR REPLACE TEMP TABLE lic_reg AS
            WITH {candidate_keys_cte('l_registry')}
            SELECT ck.row, r.list, r.value, r.license
            FROM ck JOIN l_registry r ON r.host = ck.h AND r.path = ck.key
            QUALIFY row_number() OVER (PARTITION BY ck.row ORDER BY length(r.host) DESC, length(r.value) DESC, r.list) = 1"""
        )
