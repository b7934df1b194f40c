"""The image stage: collect each row's image hashes, then match exact and perceptual lists.

Hashes come from three places, in this order, into the per-shard table ``img(row, kind, hash,
source)``: the shard's own hash columns (COYO ``image_phash``, DataComp ``sha256``, Re-LAION
``md5``: no download), images already on disk (``--images``, matched by URL or key), and fetched
images (``--fetch``, see :mod:`provscan.stages.fetch`). Exact digests are a DuckDB join; perceptual
hashes go through :class:`~provscan.images.hamming.HammingIndex`, built once per list per run, which is
exact (no misses against brute force) without a cross join.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from provscan.lists.compiled import CompiledLists
from provscan.stages.base import BaseStage, BuildEnv, ShardContext
from provscan.config import ScanConfig
from provscan.io.db import Database, sql_ident, sql_literal
from provscan.errors import ConfigError
from provscan.images.hamming import HammingIndex, hex_to_u64
from provscan.images.hashing import DEFAULT_MAX_DISTANCE, check_kinds
from provscan.kinds import EXACT_IMAGE_KINDS, PERCEPTUAL_KINDS
from provscan.stages.localimages import read_local_images, record_local_embedded

IMG_DDL = "CREATE OR REPLACE TEMP TABLE img (row BIGINT, kind VARCHAR, hash VARCHAR, source VARCHAR)"
EMB_LIC_DDL = "CREATE OR REPLACE TEMP TABLE emb_lic (row BIGINT, value VARCHAR)"  # licences read inside images
EMB_ROWS_DDL = "CREATE OR REPLACE TEMP TABLE emb_rows (row BIGINT)"  # rows whose local image's signals are recorded
_BITS = {k: n * 4 for k, n in {**EXACT_IMAGE_KINDS, **PERCEPTUAL_KINDS}.items()}


def image_kinds(compiled: CompiledLists) -> set[str]:
    """The image hash kinds some list needs; nothing is hashed or fetched for kinds no list has."""
    return compiled.kinds & (set(EXACT_IMAGE_KINDS) | set(PERCEPTUAL_KINDS))


class PerceptualList:
    """One perceptual list, indexed once per run."""

    def __init__(
        self, name: str, kind: str, action: str, values: list[str], entries: list[str], max_distance: int
    ) -> None:
        hashes, valid = hex_to_u64(values, _BITS[kind])
        if not valid.all():  # lists.py validated the hex already; this guards the contract
            raise ConfigError(f"list {name}: {int((~valid).sum())} malformed {kind} hashes")
        self.name, self.kind, self.action, self.entries = name, kind, action, entries
        self.max_distance = max_distance
        self.index = HammingIndex(hashes, max_distance)


class ImageHashesStage(BaseStage):
    """Fills ``img`` from shard hash columns and local images (the fetch stage adds fetched ones)."""

    name = "image-hashes"
    reads: tuple[str, ...] = ("raw",)
    writes = ("img", "emb_lic", "emb_rows")
    temp = (
        "img",
        "emb_lic",
        "emb_rows",
    )  # read by the fetch, image-match and embedded-license stages, dropped after the shard
    stats = ("invalid_image_hashes",)

    @classmethod
    def build(cls, env: BuildEnv) -> ImageHashesStage:
        return cls(env.db, env.lists, env.config)

    @classmethod
    def preflight(cls, config: ScanConfig, lists: CompiledLists) -> None:
        check_kinds(image_kinds(lists))  # pdq needs the provscan[pdq] extra

    def __init__(self, db: Database, lists: CompiledLists, config: ScanConfig) -> None:
        self.kinds = image_kinds(lists)
        check_kinds(self.kinds)  # pdq without provscan[pdq] fails here, before any output
        self.local, self.consent = bool(config.images), config.consent
        if self.local:  # hashed and read once per run, matched to every shard's rows by URL or key
            self.run_tables = ("local_img", "local_emb")
            self.reads = ("raw", "local_img", "local_emb")
            read_local_images(db, config.images, self.kinds, config.dihedral, config.fast_decode)

    def run(self, ctx: ShardContext) -> None:
        db = ctx.db
        db.execute(IMG_DDL)
        db.execute(EMB_LIC_DDL)
        db.execute(EMB_ROWS_DDL)
        invalid = 0
        for kind, column in sorted(ctx.columns.hashes.items()):
            if kind not in self.kinds:
                continue
            col = sql_ident("h:" + kind)
            pattern = sql_literal(f"^[0-9a-f]{{{_BITS[kind] // 4}}}$")
            db.execute(
                f"""INSERT INTO img SELECT row, {sql_literal(kind)}, {col}, {sql_literal("column:" + column)}
                    FROM raw WHERE regexp_matches({col}, {pattern})"""
            )
            invalid += int(
                db.scalar(
                    f"SELECT count(*) FROM raw WHERE {col} IS NOT NULL AND {col} <> '' AND NOT regexp_matches({col}, {pattern})"
                )
            )
        ctx.stats.add("invalid_image_hashes", invalid)
        if self.local:
            db.execute(
                """INSERT INTO img
                SELECT DISTINCT raw.row, l.kind, l.hash, 'local:' || l.source
                FROM raw JOIN local_img l ON l.url = raw.url OR (l.url IS NULL AND l.key = raw.id)"""
            )
            record_local_embedded(ctx, self.consent)


class ImageMatchStage(BaseStage):
    """Matches ``img`` against exact lists (a join) and perceptual lists (indexed once per run)."""

    name = "image-match"
    reads = ("img", "l_image", "l_lists")
    writes = ("hits",)
    stats = ("rows_image_hashed",)

    @classmethod
    def build(cls, env: BuildEnv) -> ImageMatchStage:
        return cls(env.lists)

    def __init__(self, lists: CompiledLists) -> None:
        self.perceptual = []
        for lst in lists.of_kind(*PERCEPTUAL_KINDS):
            distance = int(lst.params.get("max_distance", DEFAULT_MAX_DISTANCE[lst.kind]))
            self.perceptual.append(
                PerceptualList(
                    lst.name,
                    lst.kind,
                    lst.action,
                    lst.entries.column("value").to_pylist(),
                    lst.entries.column("entry").to_pylist(),
                    distance,
                )
            )

    def run(self, ctx: ShardContext) -> None:
        db = ctx.db
        ctx.add_findings(
            """SELECT img.row, l.list, l.kind, ll.action, l.entry, img.hash AS image_hash, img.source AS detail
            FROM img JOIN l_image l ON l.kind = img.kind AND l.value = img.hash JOIN l_lists ll ON ll.name = l.list"""
        )
        for plist in self.perceptual:
            rows = db.arrow("SELECT row, hash, source FROM img WHERE kind = ? ORDER BY row, hash", [plist.kind])
            if not rows.num_rows:
                continue
            hashes, _ = hex_to_u64(rows.column("hash"), _BITS[plist.kind])
            r, e, d = plist.index.query(hashes)
            if not len(r):
                continue
            ctx.add_findings(
                pa.table(
                    {
                        "row": rows.column("row").take(pa.array(r)),
                        "entry": pa.array(np.asarray(plist.entries, dtype=object)[e], pa.string()),
                        "distance": pa.array(d.astype(np.int16)),
                        "image_hash": rows.column("hash").take(pa.array(r)),
                        "detail": rows.column("source").take(pa.array(r)),
                    }
                ),
                list=plist.name,
                kind=plist.kind,
                action=plist.action,
            )
        ctx.stats.add("rows_image_hashed", int(db.scalar("SELECT count(DISTINCT row) FROM img")))
