"""Consent signals for a row's URL: X-Robots-Tag, robots.txt and TDMRep, as short signal strings.

Signals are recorded, never acted on here: the policy decides what ``robots:disallow`` or
``tdmrep:reserved`` means for a scan. The vocabulary (stable, part of the report format):

``x-robots-tag:<directive>``  a configured directive (default ``noai``, ``noimageai``) applies to us
``robots:disallow``           robots.txt disallows the path for at least one of the agents
``robots:unreachable``        robots.txt answered 5xx/429 or not at all (RFC 9309: assume disallow)
``tdmrep:reserved``           TDM rights reserved (header or tdmrep.json; header wins)
``tdmrep:policy=<url>``       the TDM policy URL of a reservation
``tdmrep:protocol-error``     a tdm-reservation value the report calls an error (hence unset)
``tdmrep:invalid``            tdmrep.json is JSON but not a valid rule array
``tdmrep:unreachable``        tdmrep.json answered 5xx/429 or not at all (the report reads this as
                              "protocol not implemented"; recorded so the policy can choose)
``consent:invalid-url``       the URL has no http(s) origin to ask
``aipref:<category>=y|n``     IETF AIPREF: ``Content-Usage`` header and robots.txt rules (:mod:`.aipref`)
``aipref:invalid``            a Content-Usage value that does not parse
``content-signal:<k>=yes|no`` Content-Signal robots.txt lines (:mod:`.aipref`)
``ai.txt:disallow``           Spawning's ai.txt disallows the path (:mod:`.aitxt`)
``ai.txt:unreachable``        ai.txt answered 5xx/429 or not at all

This module does no I/O. ``ConsentCache`` takes the fetcher as an async callable so it can be
wired to ``provscan.net.fetch`` later and tested with a fake; it fetches robots.txt and tdmrep.json
once per origin (scheme, host, port) however many rows share it.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from provscan.consent.aipref import aipref_signals, content_signal_signals
from provscan.consent.aitxt import DISALLOW as AITXT_DISALLOW
from provscan.consent.aitxt import UNREACHABLE as AITXT_UNREACHABLE
from provscan.consent.aitxt import aitxt_disallows, parse_aitxt
from provscan.consent.robots import DEFAULT_AI_AGENTS, Robots, parse_robots, robots_outcome
from provscan.net.headers import header_values
from provscan.consent.tdmrep import (
    PROTOCOL_ERROR,
    TdmRep,
    TdmRepInvalid,
    parse_tdmrep_json,
    read_tdm_headers,
    resolve_tdm,
    tdm_signals,
)

__all__ = [
    "AI_DIRECTIVES",
    "DEFAULT_AI_AGENTS",
    "INDEX_DIRECTIVES",
    "ConsentCache",
    "GetText",
    "OriginConsent",
    "header_values",
    "origin_of",
    "path_of",
    "x_robots_signals",
]

AI_DIRECTIVES = ("noai", "noimageai")
INDEX_DIRECTIVES = ("noindex", "noimageindex", "none")
"""Search-index directives; opt in with ``directives=AI_DIRECTIVES + INDEX_DIRECTIVES``."""

ROBOTS_DISALLOW = "robots:disallow"
ROBOTS_UNREACHABLE = "robots:unreachable"
TDMREP_INVALID = "tdmrep:invalid"
TDMREP_UNREACHABLE = "tdmrep:unreachable"
INVALID_URL = "consent:invalid-url"

# Directives whose own syntax contains ":" and must not be read as a user-agent scope.
_VALUE_DIRECTIVES = {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
_UA = re.compile(r"[a-z0-9_.-]+")

GetText = Callable[[str], Awaitable[tuple[str, int | None, str | None]]]
"""``await get_text(url) -> (fetch_status, http_status, text)``; ``http_status`` None = no response."""


def x_robots_signals(
    header_values: Sequence[str], agents: Sequence[str], directives: Sequence[str] = AI_DIRECTIVES
) -> list[str]:
    """``x-robots-tag:<d>`` for each configured directive that applies to one of ``agents``.

    Pass every ``X-Robots-Tag`` header instance separately (``headers.get_list(name)``). Within an
    instance, items are comma-separated; ``ua: d1, d2`` scopes the following items to ``ua`` (as
    Google documents ``otherbot: noindex, nofollow``); unscoped items apply to everyone. Names and
    directives are case-insensitive. Unlike img2dataset's ``is_disallowed``, the scope token is
    stripped, and ``unavailable_after: <date>`` is not mistaken for a user agent.
    """
    wanted = {d.lower() for d in directives}
    ours = {a.lower() for a in agents}
    found: set[str] = set()
    for value in header_values:
        scope: str | None = None
        for item in value.split(","):
            name, sep, rest = item.partition(":")
            name = name.strip().lower()
            if sep and name not in _VALUE_DIRECTIVES and _UA.fullmatch(name):
                scope = name
                name = rest.partition(":")[0].strip().lower()
            if name in wanted and (scope is None or scope in ours):
                found.add(name)
    return [f"x-robots-tag:{d}" for d in dict.fromkeys(d.lower() for d in directives) if d in found]


def origin_of(url: str) -> tuple[str, str] | None:
    """``(origin key, base URL)`` for an http(s) URL, e.g. ``("https://a.example:443", "https://a.example")``."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    base = f"{scheme}://{host}" + (f":{port}" if port not in (None, default) else "")
    return f"{scheme}://{host}:{port or default}", base


def path_of(url: str) -> str:
    """The ``/path?query`` robots.txt and tdmrep.json patterns are matched against."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "/"
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True)
class OriginConsent:
    """What one origin said: parsed files (when usable) and how each fetch went.

    ``robots_status``: ``ok``, ``unavailable`` (4xx: allow all) or ``unreachable``.
    ``tdmrep_status``: ``ok``, ``absent`` (3xx/4xx), ``not-json``, ``invalid``, ``unreachable``
    or ``skipped``. ``detail`` keeps the fetcher's own statuses for the report.
    """

    origin: str
    robots: Robots | None
    robots_status: str
    tdmrep: TdmRep | None
    tdmrep_status: str
    detail: str = ""
    aitxt: Robots | None = None
    aitxt_status: str = "skipped"  # ok, absent (4xx), unreachable, skipped

    def signals(
        self,
        path: str,
        agents: Sequence[str] = DEFAULT_AI_AGENTS,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> list[str]:
        """Origin-level signals for ``path``, merged with one response's TDM headers if given."""
        out: list[str] = []
        if self.robots_status == "unreachable":
            out.append(ROBOTS_UNREACHABLE)
        elif self.robots is not None and self.robots.disallows(agents, path):
            out.append(ROBOTS_DISALLOW)
        if self.tdmrep_status == "unreachable":
            out.append(TDMREP_UNREACHABLE)
        elif self.tdmrep_status == "invalid":
            out.append(TDMREP_INVALID)
        rule = self.tdmrep.match(path) if self.tdmrep is not None else None
        file_decl = self.tdmrep.lookup(path) if self.tdmrep is not None else None
        header_decl, header_error = read_tdm_headers(headers) if headers is not None else (None, False)
        out += tdm_signals(resolve_tdm(file_decl, header_decl))
        if header_error or (header_decl is None and rule is not None and rule.reservation is None):
            out.append(PROTOCOL_ERROR)
        robots = self.robots if self.robots_status == "ok" else None
        usage = robots.preferences("content-usage", agents, path) if robots is not None else []
        out += aipref_signals(header_values(headers, "content-usage") if headers is not None else [], usage)
        if robots is not None:
            out += content_signal_signals(robots.preferences("content-signal", agents, path))
        if self.aitxt_status == "unreachable":
            out.append(AITXT_UNREACHABLE)
        elif self.aitxt is not None and aitxt_disallows(self.aitxt, agents, path):
            out.append(AITXT_DISALLOW)
        return out


class ConsentCache:
    """Per-origin robots.txt + tdmrep.json, fetched once (concurrent rows share one fetch).

    ``get_text`` failures that *raise* propagate to every waiting caller and are not cached, so a
    later row retries; failures *reported* as statuses are cached like any answer. At most
    ``max_origins`` finished origins are kept (least recently used evicted first).
    """

    def __init__(
        self,
        get_text: GetText,
        *,
        agents: Sequence[str] = DEFAULT_AI_AGENTS,
        directives: Sequence[str] = AI_DIRECTIVES,
        tdmrep: bool = True,
        aitxt: bool = True,
        max_origins: int = 100_000,
    ) -> None:
        self._get_text = get_text
        self.agents = tuple(agents)
        self.directives = tuple(directives)
        self._tdmrep = tdmrep
        self._aitxt = aitxt
        self._max = max_origins
        self._tasks: OrderedDict[str, asyncio.Future[OriginConsent]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tasks)

    async def origin(self, url: str) -> OriginConsent | None:
        """The cached (or freshly fetched) ``OriginConsent`` of ``url``'s origin; None if no origin."""
        found = origin_of(url)
        if found is None:
            return None
        key, base = found
        task = self._tasks.get(key)
        if task is None:
            task = self._tasks[key] = asyncio.ensure_future(self._load(key, base))
            self._evict()
        else:
            self._tasks.move_to_end(key)
        try:
            return await asyncio.shield(task)  # one caller's cancellation must not cancel the shared fetch
        except BaseException:
            if task.done() and self._tasks.get(key) is task:
                del self._tasks[key]
            raise

    async def signals(
        self, url: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None
    ) -> list[str]:
        """All consent signals for one row: X-Robots-Tag of ``headers`` (if given), robots, TDMRep.

        ``headers`` may be a mapping, ``httpx.Headers`` or ``(name, value)`` pairs such as
        ``FetchResult.headers``; pass every instance, not comma-joined values.
        """
        if headers is not None and not isinstance(headers, Mapping) and not hasattr(headers, "multi_items"):
            headers = list(headers)  # read twice below (X-Robots-Tag, TDM): a generator would be spent
        out = x_robots_signals(header_values(headers, "x-robots-tag"), self.agents, self.directives) if headers else []
        consent = await self.origin(url)
        if consent is None:
            return [*out, INVALID_URL]
        return out + consent.signals(path_of(url), self.agents, headers)

    def _evict(self) -> None:
        for key in [k for k, t in self._tasks.items() if t.done()][: max(0, len(self._tasks) - self._max)]:
            del self._tasks[key]

    async def _load(self, key: str, base: str) -> OriginConsent:
        fetches = [self._get_text(base + "/robots.txt")]
        if self._tdmrep:
            fetches.append(self._get_text(base + "/.well-known/tdmrep.json"))
        if self._aitxt:
            fetches.append(self._get_text(base + "/ai.txt"))
        gathered = await asyncio.gather(*fetches, return_exceptions=True)  # no orphaned, unretrieved failure
        for result in gathered:
            if isinstance(result, BaseException):
                raise result
        results = cast("list[tuple[str, int | None, str | None]]", gathered)
        status, http_status, text = results[0]
        outcome = robots_outcome(http_status)
        robots = parse_robots(text) if outcome == "parse" and text is not None else None
        robots_status = "ok" if robots is not None else "unavailable" if outcome == "unavailable" else "unreachable"
        detail = f"robots: {status} {http_status}"
        tdmrep, tdmrep_status = None, "skipped"
        if self._tdmrep:
            status, http_status, text = results[1]
            detail += f"; tdmrep: {status} {http_status}"
            outcome = robots_outcome(http_status)  # same HTTP reading: 4xx absent, 5xx/429/none unreachable
            if outcome == "parse" and text is not None:
                parsed = parse_tdmrep_json(text.encode("utf-8"))
                if isinstance(parsed, TdmRepInvalid):
                    tdmrep_status = parsed.status.removeprefix("tdmrep:")
                    detail += f" ({parsed.reason})"
                else:
                    tdmrep, tdmrep_status = parsed, "ok"
            else:
                tdmrep_status = "absent" if outcome == "unavailable" else "unreachable"
        aitxt, aitxt_status = None, "skipped"
        if self._aitxt:
            status, http_status, text = results[-1]
            detail += f"; ai.txt: {status} {http_status}"
            outcome = robots_outcome(http_status)
            if outcome == "parse" and text is not None:
                aitxt, aitxt_status = parse_aitxt(text), "ok"
            else:
                aitxt_status = "absent" if outcome == "unavailable" else "unreachable"
        return OriginConsent(key, robots, robots_status, tdmrep, tdmrep_status, detail, aitxt, aitxt_status)
