"""The licence stage: what each row may be used for, and the findings the licence policy asks for.

A row's licence comes from its own licence column when that says something, else from the licence
embedded in its image (XMP ``cc:license`` / ``xmpRights:WebStatement``, source ``embedded``), else from
the most specific matching ``license-registry`` entry, else it is ``unknown``. Licence strings repeat across
millions of rows, so they are resolved once per distinct value in Python and joined back in DuckDB;
registries are matched like ``url`` lists (only rows whose host can match are expanded). Every scan
counts the resolved licences, policy or not: maintainers need that table for the dataset card.

Images are read later in the plan (fetch, ``--images``), so in such a run this stage settles only the
rows its column decides (their findings come now: a row dropped by licence is never fetched) and
:class:`EmbeddedLicenseStage`, after the fetch, resolves the rest and counts. An embedded value that
names no known licence (a rights page URL) does not hide a registry entry; with none it is kept as
``unrecognized:...`` so nothing read is lost.
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
    writes = ("hits", "lic")
    temp = ("lic", "lic_map", "lic_reg", "lic_action")

    @classmethod
    def build(cls, env: BuildEnv) -> LicenseStage:
        return cls(env.config, env.lists)

    def __init__(self, config: ScanConfig, lists: CompiledLists) -> None:
        self.policy = LicensePolicy(drop=config.licenses.drop, flag=config.licenses.flag)
        self.has_registry = bool(lists.of_kind("license-registry"))
        self.deferred = reads_images(config)  # an embedded licence may still come: EmbeddedLicenseStage finishes

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
            db.execute(
                "CREATE OR REPLACE TEMP TABLE lic_reg (row BIGINT, list VARCHAR, value VARCHAR, license VARCHAR)"
            )
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
        if self.deferred:
            _policy_findings(ctx, self.policy, "source LIKE 'column:%'")
        else:
            _count(ctx)
            _policy_findings(ctx, self.policy, "true")

    def _trivial(self, column: str | None) -> bool:
        return (
            not self.deferred and column is None and not self.has_registry and self.policy.action_for(UNKNOWN) is None
        )

    def candidates(self, columns: Columns) -> tuple[tuple[str, str], ...] | None:
        """Without a licence column, registry or policy on ``unknown``, it only counts rows."""
        return () if self._trivial(columns.license) else None

    @staticmethod
    def _resolve_column(db: Database, present: bool) -> None:
        _resolve_values(
            db, "SELECT DISTINCT license FROM raw WHERE license IS NOT NULL" if present else None, "lic_map"
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


class EmbeddedLicenseStage(BaseStage):
    """After the images are read: rows their column did not decide take their image's licence
    (``emb_lic``, filled by the image-hashes and fetch stages), then the registry's, then ``unknown``."""

    name = "embedded-license"
    reads = ("lic", "emb_lic")
    writes = ("hits",)
    temp = ("emb_map", "lic_action")

    @classmethod
    def build(cls, env: BuildEnv) -> EmbeddedLicenseStage:
        return cls(env.config)

    def __init__(self, config: ScanConfig) -> None:
        self.policy = LicensePolicy(drop=config.licenses.drop, flag=config.licenses.flag)

    def run(self, ctx: ShardContext) -> None:
        db = ctx.db
        _resolve_values(db, "SELECT DISTINCT value FROM emb_lic", "emb_map")
        db.execute(
            """CREATE OR REPLACE TEMP TABLE lic AS
            WITH e AS (SELECT b.row, m.id, m.how FROM emb_lic b JOIN emb_map m ON m.value = b.value WHERE m.how <> 'missing'
                       QUALIFY row_number() OVER (PARTITION BY b.row ORDER BY m.how = 'unrecognized', m.id) = 1)
            SELECT lic.row,
                   CASE WHEN lic.source LIKE 'column:%' THEN lic.license WHEN e.how <> 'unrecognized' THEN e.id
                        WHEN lic.source <> 'none' THEN lic.license ELSE coalesce(e.id, lic.license) END AS license,
                   CASE WHEN lic.source LIKE 'column:%' THEN lic.source WHEN e.how <> 'unrecognized' THEN 'embedded'
                        WHEN lic.source <> 'none' THEN lic.source WHEN e.id IS NOT NULL THEN 'embedded' ELSE lic.source END AS source
            FROM lic LEFT JOIN e USING (row)"""
        )
        _count(ctx)
        _policy_findings(ctx, self.policy, "source NOT LIKE 'column:%'")


def reads_images(config: ScanConfig) -> bool:
    """Whether this run reads image bytes (``--fetch``, ``--images``), and so their embedded licences."""
    return bool(config.fetch or config.images)


def _resolve_values(db: Database, query: str | None, table: str) -> None:
    """``table(value, id, how)``: each distinct licence string resolved once (they repeat across millions of rows)."""
    values = [v for (v,) in db.rows(query)] if query else []
    resolved = [resolve_license(v) for v in values]
    db.put(
        table,
        pa.table(
            {
                "value": pa.array(values, pa.string()),
                "id": pa.array([r[0] for r in resolved], pa.string()),
                "how": pa.array([r[1] for r in resolved], pa.string()),
            }
        ),
    )


def _count(ctx: ShardContext) -> None:
    ctx.count("licenses_by_id", dict(ctx.db.rows("SELECT license, count(*) FROM lic GROUP BY license")))
    ctx.count(
        "licenses_by_source", dict(ctx.db.rows("SELECT split_part(source, ':', 1), count(*) FROM lic GROUP BY 1"))
    )


def _policy_findings(ctx: ShardContext, policy: LicensePolicy, where: str) -> None:
    """Findings for the ``lic`` rows matching ``where`` whose licence the ``[licenses]`` policy acts on."""
    db = ctx.db
    ids = [lic for (lic,) in db.rows(f"SELECT DISTINCT license FROM lic WHERE {where}")]
    actions = {lic: a for lic in ids if (a := policy.action_for(lic)) is not None}
    if actions:
        db.put("lic_action", pa.table({"license": list(actions), "action": list(actions.values())}))
        ctx.add_findings(
            f"""SELECT lic.row, a.action, lic.license AS entry, lic.source AS detail
            FROM lic JOIN lic_action a USING (license) WHERE {where}""",
            list=POLICY_LIST,
            kind="license",
        )
