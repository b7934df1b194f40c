"""The consent stage (``--check-consent``): opt-out signals per row, robots.txt and TDMRep per origin.

Per row it needs only response headers (``X-Robots-Tag``, ``tdm-reservation``, ``Content-Usage``): they come from the
image fetch when ``--fetch`` ran, else from a HEAD request (a ranged GET when HEAD is refused), so
consent alone never downloads images. ``robots.txt`` (with its AIPREF and Content-Signal lines), ``/.well-known/tdmrep.json`` and ``/ai.txt`` are fetched
once per origin (:class:`~provscan.consent.signals.ConsentCache`), through the same guarded fetcher.
Opt-out signals become findings of kind ``consent``; a broken or unreachable file is counted in
``summary.json`` and never fails the run.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pyarrow as pa

from provscan.lists.compiled import CompiledLists
from provscan.config import ScanConfig
from provscan.stages.base import BaseStage, BuildEnv, ShardContext
from provscan.consent.policy import ConsentPolicy
from provscan.consent.signals import ConsentCache
from provscan.net.fetch import Fetcher
from provscan.net.headers import header_pairs
from provscan.net.transport import LoopThread
from provscan.stages.fetch import CONSENT_HEADERS, fetch_policy
from provscan.urls.redirects import RedirectChecker
from provscan.consent.robots import DEFAULT_AI_AGENTS

CONSENT_LIST = "consent"
_BATCH = 2_000


class ConsentStage(BaseStage):
    """Opt-out signals per row; reads the fetch stage's ``fetch_headers`` when images were fetched."""

    name = "consent"
    writes = ("hits",)
    stats = ("consent_rows_checked",)

    @classmethod
    def preflight(cls, config: ScanConfig, lists: CompiledLists) -> None:
        fetch_policy(config)  # a bad fetch setting fails before OUT is touched

    @classmethod
    def build(cls, env: BuildEnv) -> ConsentStage:
        return cls(env.lists, env.config)

    def __init__(self, compiled: CompiledLists, config: ScanConfig) -> None:
        self.reads = ("raw", "hits", "fetch_log", "fetch_headers") if config.fetch else ("raw", "hits")
        self.policy = fetch_policy(config)
        self.action = config.consent.action
        self.opt_outs = ConsentPolicy(config.consent.signals)  # which signals are findings; the rest are counted
        self.agents = config.consent.agents or DEFAULT_AI_AGENTS
        self.loop = LoopThread()
        self.fetcher = Fetcher(self.policy, redirect_check=RedirectChecker(compiled))
        self.cache = ConsentCache(self.fetcher.get_text, agents=self.agents, directives=config.consent.directives)

    def run(self, ctx: ShardContext) -> None:
        db = ctx.db
        todo = db.rows(
            """SELECT row, url FROM raw WHERE host IS NOT NULL
               AND row NOT IN (SELECT row FROM hits WHERE action = 'drop') ORDER BY row"""
        )
        known: dict[int, list[tuple[str, str]]] = {}  # from this shard's image fetches, in response order
        if "fetch_headers" in self.reads:  # rows fetched (not cached) this run have their headers already
            known = {row: [] for (row,) in db.rows("SELECT row FROM fetch_log WHERE NOT cached")}
            for row, name, value in db.rows("SELECT row, name, value FROM fetch_headers"):
                known.setdefault(row, []).append((name, value))
        found: dict[str, list] = {"row": [], "signal": []}
        counts: Counter[str] = Counter()
        for lo in range(0, len(todo), _BATCH):
            batch = todo[lo : lo + _BATCH]
            results = self.loop.submit(self._check(batch, known)).result()
            for row, signals in results:
                counts.update(signals or ["none"])
                for signal in dict.fromkeys(signals):
                    if self.opt_outs.opt_out(signal):
                        found["row"].append(row)
                        found["signal"].append(signal)
        ctx.count("consent_signals", counts)
        ctx.stats.add("consent_rows_checked", len(todo))
        if found["row"]:
            ctx.add_findings(
                pa.table(
                    {
                        "row": pa.array(found["row"], pa.int64()),
                        "entry": pa.array(found["signal"], pa.string()),
                        "detail": pa.array([s.split(":", 1)[0] for s in found["signal"]], pa.string()),
                    }
                ),
                list=CONSENT_LIST,
                kind="consent",
                action=self.action,
            )

    async def _check(self, batch: list[tuple[int, str]], known: dict) -> list[tuple[int, list[str]]]:
        async def one(row: int, url: str) -> tuple[int, list[str]]:
            headers = known.get(row)
            if headers is None:
                headers = await self._headers(url)
            return row, await self.cache.signals(url, headers)

        return await asyncio.gather(*(one(row, url) for row, url in batch))

    async def _headers(self, url: str) -> tuple[tuple[str, str], ...]:
        """Response headers without the body: HEAD, or a 1-byte ranged GET where HEAD is refused."""
        result = await self.fetcher.get(url, head=True)
        if result.http_status in (405, 501):
            result = await self.fetcher.get(url, range_bytes=1)
        return header_pairs(result.headers, CONSENT_HEADERS)

    def close(self, ok: bool) -> None:
        self.loop.close(self.fetcher.aclose)
