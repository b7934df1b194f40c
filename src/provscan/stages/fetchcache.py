"""The fetch cache: statuses and image hashes by canonical-URL SHA-256, append-only on disk.

A ``--fetch`` run over billions of rows takes days and gets interrupted; what it downloaded must
survive a ``kill -9``. So results are appended as small parquet *parts* every few seconds (each
written atomically, named by process so workers never collide) under ``OUT/cache/fetch-cache/``,
and compacted into one part when a run ends. Readers take the union and keep one row per
(URL hash, hash kinds), so a compaction interrupted halfway only leaves duplicates. Transient
failures (timeouts, 5xx) are not cached: they are worth trying again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from provscan.io.atomic import write_parquet
from provscan.io.db import Database, sql_literal

CACHE_SCHEMA = pa.schema(
    [
        ("url_sha256", pa.string()),
        ("kinds", pa.string()),
        ("status", pa.string()),
        ("http_status", pa.int16()),
        ("error", pa.string()),
        ("bytes", pa.int64()),
        ("hashes", pa.string()),
    ]
)
FLUSH_SECONDS = 2.0
FLUSH_ROWS = 5_000
_TRANSIENT = frozenset({"timeout", "connect_error", "dns_error", "error"})


def cache_parts(directory: Path) -> list[Path]:
    """The cache's parts, in a stable order (a legacy single-file cache beside the folder counts too)."""
    parts = sorted((directory / "fetch-cache").glob("part-*.parquet")) if (directory / "fetch-cache").is_dir() else []
    legacy = directory / "fetch-cache.parquet"
    return ([legacy] if legacy.is_file() else []) + parts


def _union_sql(parts: list[Path]) -> str:
    files = ", ".join(sql_literal(str(p)) for p in parts)
    return f"SELECT DISTINCT ON (url_sha256, kinds) * FROM read_parquet([{files}]) ORDER BY url_sha256, kinds"


class FetchCache:
    """One process's view of the cache: what earlier runs stored, plus its own appends."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._loaded = False
        self._new: dict[str, list[Any]] = {name: [] for name in CACHE_SCHEMA.names}
        self._flushed_at = time.monotonic()
        self._seq = 0

    def lookup(self, db: Database, kinds: str, keys: set[str]) -> dict[str, dict[str, Any]]:
        """Cached results for these URL hashes, fetched with the same hash kinds."""
        if not self._loaded:  # once per process: later parts are this run's own (other shards)
            parts = cache_parts(self.directory)
            db.execute(
                f"CREATE OR REPLACE TEMP TABLE fcache AS {_union_sql(parts)}"
                if parts
                else "CREATE OR REPLACE TEMP TABLE fcache AS SELECT * FROM (SELECT NULL::VARCHAR AS url_sha256, "
                "NULL::VARCHAR AS kinds, NULL::VARCHAR AS status, NULL::SMALLINT AS http_status, "
                "NULL::VARCHAR AS error, NULL::BIGINT AS bytes, NULL::VARCHAR AS hashes) WHERE false"
            )
            self._loaded = True
        if not keys:
            return {}
        rows = db.arrow(
            "SELECT * FROM fcache WHERE kinds = ? AND url_sha256 IN (SELECT unnest(?))", [kinds, sorted(keys)]
        )
        return {r["url_sha256"]: r for r in rows.to_pylist()}

    def remember(self, key: str, kinds: str, out: tuple) -> None:
        status, http_status, error, size, hashes = out
        if status in _TRANSIENT or status.startswith("http_5"):
            return
        for name, value in zip(
            CACHE_SCHEMA.names, (key, kinds, status, http_status, error, size, json.dumps(hashes, sort_keys=True))
        ):
            self._new[name].append(value)
        if len(self._new["url_sha256"]) >= FLUSH_ROWS or time.monotonic() - self._flushed_at >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Append what is buffered as one part: a kill after this loses none of it."""
        self._flushed_at = time.monotonic()
        if not self._new["url_sha256"]:
            return
        table = pa.table(self._new, schema=CACHE_SCHEMA)
        self._seq += 1
        write_parquet(
            self.directory / "fetch-cache" / f"part-{os.getpid()}-{time.time_ns()}-{self._seq:06d}.parquet", table
        )
        self._new = {name: [] for name in CACHE_SCHEMA.names}


def compact(db: Database, directory: Path) -> None:
    """Merge every part into one (deduplicated, sorted); run by the driver once no worker appends."""
    parts = cache_parts(directory)
    if len(parts) <= 1:
        return
    digest = hashlib.sha256("\n".join(p.name for p in parts).encode()).hexdigest()[:16]
    target = directory / "fetch-cache" / f"part-0-compacted-{digest}.parquet"
    db.write_parquet(_union_sql(parts), target)
    for part in parts:
        if part != target:
            part.unlink(missing_ok=True)
