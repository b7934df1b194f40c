"""The fetch stage (``--fetch``): download each row's image, hash it, record how the fetch went.

Rows that a URL list already drops are never fetched: a list of known abuse URLs must keep
provscan from downloading that material. Rows that already have hashes (shard columns, local
images) are not fetched either. Every other row with a valid URL gets a status in
``fetch.parquet`` (``ok``, ``http_404``, ``timeout``, ``refused_private``, ``too_large``,
``not_image``...), so link rot is measured as a side effect. Results are cached by the SHA-256 of
the canonical URL expression in ``OUT/cache/fetch-cache/``, appended every few seconds, so neither
a re-run nor ``--resume`` after a kill downloads again.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa

from provscan.lists.compiled import CompiledLists
from provscan.config import ScanConfig
from provscan.machine import usable_cpus
from provscan.stages.base import BaseStage, BuildEnv, Output, ShardContext
from provscan.stages.fetchcache import FetchCache, compact
from provscan.io.db import Database
from provscan.net.fetch import FetchPolicy, FetchResult, fetch_all
from provscan.net.procfetch import fetch_all_processes
from provscan.net.headers import header_pairs
from provscan.images.hashing import hash_image
from provscan.consent.embedded import read_embedded
from provscan.stages.embedded import record_embedded
from provscan.urls.redirects import RedirectChecker
from provscan.urls.sql import expression_sha256_sql
from provscan.stages.unchecked import record_unchecked

FETCH_SCHEMA = pa.schema(
    [
        ("shard", pa.string()),
        ("row", pa.int64()),
        ("url", pa.string()),
        ("url_sha256", pa.string()),
        ("status", pa.string()),
        ("http_status", pa.int16()),
        ("error", pa.string()),
        ("bytes", pa.int64()),
        ("cached", pa.bool_()),
        ("signals", pa.list_(pa.string())),
    ]
)
PROCESS_MIN_ROWS = 500
"""Rows to fetch in a shard from which worker processes are used (their start costs 1-2 s)."""
HEADERS_SCHEMA = pa.schema([("row", pa.int64()), ("name", pa.string()), ("value", pa.string())])
CONSENT_HEADERS = ("x-robots-tag", "tdm-reservation", "tdm-policy", "content-usage")
_IMAGE_STATUS = {"too_large": "too_many_pixels"}  # image-layer names that would clash with fetch ones
SIGNALS_KEY = "@signals"
LICENSE_KEY = "@license"
"""Embedded signals and licence ride in the hashes mapping (and so in the fetch cache's ``hashes`` JSON)
under keys no hash kind can have; the cache key says ``;embedded2`` so entries written before are not reused."""


def hash_fetched(kinds: tuple[str, ...], dihedral: bool, row: int, result: FetchResult, *, fast: bool = False) -> tuple:
    """Runs on fetch_all's thread pool (PIL decodes without the GIL): (status, http, error, bytes, hashes, headers)."""
    headers = header_pairs(result.headers, CONSENT_HEADERS)  # for --check-consent
    if not result.ok or result.body is None:
        return result.status, result.http_status, result.error, None, {}, headers
    image = hash_image(result.body, kinds, dihedral=dihedral, draft=fast)
    status = _IMAGE_STATUS.get(image.status, image.status)
    hashes = dict(image.hashes)
    embedded = read_embedded(result.body)  # XMP / C2PA in the bytes we already hold: no extra request
    if embedded.signals:
        hashes[SIGNALS_KEY] = list(embedded.signals)
    if embedded.license is not None:
        hashes[LICENSE_KEY] = [embedded.license]
    return status, result.http_status, image.error or None, len(result.body), hashes, headers


class FetchStage(BaseStage):
    """Fetches rows without hashes into ``img``; hands status rows and consent headers on as tables."""

    name = "fetch"
    reads = ("raw", "hits", "img", "emb_rows")
    writes = ("img", "fetch_log", "fetch_headers", "hits", "emb_lic")
    temp = ("fetch_headers",)  # for the consent stage
    outputs = (Output("fetch.parquet", "fetch_log", FETCH_SCHEMA),)
    stats = ("fetch", "unchecked")

    @classmethod
    def preflight(cls, config: ScanConfig, lists: CompiledLists) -> None:
        fetch_policy(config)  # a bad fetch setting fails before OUT is touched

    @classmethod
    def build(cls, env: BuildEnv) -> FetchStage:
        from provscan.stages.image import image_kinds

        # With --workers the run is already one process per core: fetch in-process there.
        processes = 2 if env.config.workers == 1 and usable_cpus() >= 2 else 1
        return cls(env.lists, env.config, image_kinds(env.lists), cache_dir=env.out / "cache", processes=processes)

    def __init__(
        self, lists: CompiledLists, config: ScanConfig, kinds: set[str], *, cache_dir: Path, processes: int = 1
    ) -> None:
        self.kinds, self.dihedral = tuple(sorted(kinds)), config.dihedral
        self.processes = processes  # > 1: downloads and hashing in worker processes (net/procfetch.py)
        self.fast = config.fast_decode
        # the cache keeps hashes per way of hashing: a fast-decode hash never answers a full-decode run
        self.key = (
            ",".join(self.kinds)
            + (";dihedral" if self.dihedral else "")
            + (";fast" if self.fast else "")
            + ";embedded2"
        )
        self.policy = fetch_policy(config)
        self.redact, self.unchecked, self.consent = config.redact_urls, config.unchecked, config.consent
        self.redirect_check = RedirectChecker(lists)
        self.cache = FetchCache(cache_dir)

    def run(self, ctx: ShardContext) -> None:
        db, shard = ctx.db, ctx.shard
        todo = db.arrow(
            f"""SELECT row, url, {expression_sha256_sql()} AS key
            FROM raw WHERE host IS NOT NULL
              AND row NOT IN (SELECT row FROM hits WHERE action = 'drop') AND row NOT IN (SELECT row FROM img)
            ORDER BY row"""
        ).to_pydict()
        keys = dict(zip(todo["row"], todo["key"]))
        urls = dict(zip(todo["row"], todo["url"]))
        hits = self.cache.lookup(db, self.key, set(todo["key"]))
        results: dict[int, tuple] = {}
        for row, key in keys.items():
            if key in hits:
                h = hits[key]
                results[row] = (h["status"], h["http_status"], h["error"], h["bytes"], json.loads(h["hashes"]), True)
        pending = ((row, urls[row]) for row in todo["row"] if row not in results)
        handle = functools.partial(hash_fetched, self.kinds, self.dihedral, fast=self.fast)
        headers: dict[str, list] = {"row": [], "name": [], "value": []}
        for row, out in self._fetch(pending, len(todo["row"]) - len(results), handle):
            results[row] = (*out[:5], False)
            for name, value in out[5]:
                headers["row"].append(row)
                headers["name"].append(name)
                headers["value"].append(value)
            self.cache.remember(keys[row], self.key, out[:5])
        self.cache.flush()
        db.put("fetch_headers", pa.table(headers, schema=HEADERS_SCHEMA))
        self._record(ctx, shard.given, results, urls, keys)

    def _fetch(
        self, pending: Iterator[tuple[int, str]], count: int, handle: Callable[..., tuple]
    ) -> Iterator[tuple[int, tuple]]:
        """One process's event loop for small shards; worker processes when there is enough to fetch
        that their start (1-2 s) pays: in one process the loop thread and the hashing threads share
        one GIL (fetch + pHash reached 63 % of the decode+hash floor threaded, 73 % in processes)."""
        if self.processes > 1 and count >= PROCESS_MIN_ROWS:
            return fetch_all_processes(
                pending, self.policy, handle, processes=self.processes, redirect_check=self.redirect_check
            )
        return fetch_all(pending, self.policy, handle, redirect_check=self.redirect_check)

    def _record(
        self, ctx: ShardContext, shard: str, results: dict[int, tuple], urls: dict[int, str], keys: dict[int, str]
    ) -> None:
        rows = sorted(results)
        img: dict[str, list] = {"row": [], "kind": [], "hash": [], "source": []}
        signals = {r: results[r][4].pop(SIGNALS_KEY, []) for r in rows}
        licenses = {r: lic[0] for r in rows if (lic := results[r][4].pop(LICENSE_KEY, None))}
        for row in rows:
            for kind, values in results[row][4].items():
                for value in values:
                    img["row"].append(row)
                    img["kind"].append(kind)
                    img["hash"].append(value)
                    img["source"].append("fetch")
        if img["row"]:
            ctx.db.append_by_name(
                "img", pa.table({k: pa.array(v, pa.int64() if k == "row" else pa.string()) for k, v in img.items()})
            )
        redact = self.redact
        ctx.db.put(
            "fetch_log",
            pa.table(
                {
                    "shard": [shard] * len(rows),
                    "row": rows,
                    "url": [None if redact else urls[r] for r in rows],
                    "url_sha256": [keys[r] for r in rows],
                    "status": [results[r][0] for r in rows],
                    "http_status": [results[r][1] for r in rows],
                    "error": [results[r][2] for r in rows],
                    "bytes": [results[r][3] for r in rows],
                    "cached": [results[r][5] for r in rows],
                    "signals": [signals[r] for r in rows],
                },
                schema=FETCH_SCHEMA,
            ),
        )
        local = {r for (r,) in ctx.db.rows("SELECT row FROM emb_rows")}  # read from --images already: counted once
        record_embedded(
            ctx,
            {r: v for r, v in signals.items() if r not in local},
            {r: v for r, v in licenses.items() if r not in local},
            self.consent,
        )
        statuses = Counter(results[r][0] for r in rows)
        ctx.stats.add("fetch", statuses)
        record_unchecked(ctx, self.kinds, {r: results[r][0] for r in rows}, self.unchecked)
        ctx.count("fetch_status", statuses)

    def close(self, ok: bool) -> None:
        self.cache.flush()  # even a failed run keeps what it downloaded: --resume does not fetch it again

    @classmethod
    def after_merge(cls, out: Path, db: Database) -> None:
        """One cache part for the next run, once no worker appends any more."""
        compact(db, out / "cache")


def fetch_policy(config: ScanConfig) -> FetchPolicy:
    """The run's FetchPolicy from ``[fetch]`` and the CLI flags (validated in :mod:`provscan.config`);
    shared by the fetch and consent stages."""
    return config.fetch_options
