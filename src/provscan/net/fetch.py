"""Fetching row URLs from the hostile web: the one public face of provscan's HTTP.

Every outcome is a :class:`FetchResult` status, never an exception: a 10 M-row scan must not stop
because one host sent garbage. Third-party errors are mapped in :mod:`provscan.net.transport`; the SSRF
guard lives in :mod:`provscan.net.guard`. Only bad configuration raises (``ConfigError``).

Usage: ``for key, digest in fetch_all(((i, url) for i, url in rows), FetchPolicy(), hash_image): ...``
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, TypeVar

import httpcore
import httpx

from provscan.config import FetchPolicy  # the run's [fetch] settings, validated there
from provscan.errors import ConfigError
from provscan.machine import usable_cpus
from provscan.net.headers import header_pairs, header_values
from provscan.net.transport import (
    BOUNDARY_ERRORS,
    GuardedTransport,
    HostSlots,
    LoopThread,
    classify,
    host_key,
    read_capped,
    retry_after,
)
from provscan.net.guard import AddressGuard, GuardedBackend, Resolver, SystemResolver

__all__ = ["STATUSES", "FetchPolicy", "FetchResult", "Fetcher", "fetch_all"]

K = TypeVar("K")
T = TypeVar("T")
STATUSES = frozenset(
    {
        "ok",
        "timeout",
        "refused_private",
        "refused_scheme",
        "dns_error",
        "connect_error",
        "too_large",
        "too_many_redirects",
        "blocked_redirect",
        "invalid_url",
        "tls_error",
        "error",
    }
)  # plus "http_<code>" for every non-2xx final response
_END: Any = object()
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_RETRY_AFTER = 60.0  # seconds; a longer Retry-After is capped, and never waited past total_timeout


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one URL: a status from :data:`STATUSES` or ``http_<code>``, never an exception.

    ``headers`` keeps every instance in order (X-Robots-Tag may repeat), names lower-cased.
    """

    status: str
    http_status: int | None = None
    final_url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in the order received."""
        return header_values(self.headers, name)

    def text(self) -> str | None:
        """The body as text (charset from Content-Type, else UTF-8), for robots.txt and tdmrep.json."""
        if self.body is None:
            return None
        charset = next(iter(self.header_values("content-type")), "").partition("charset=")[2].split(";")[0]
        try:
            return self.body.decode(charset.strip(' "') or "utf-8", errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


class Fetcher:
    """Fetches URLs over one shared ``httpx.AsyncClient`` (keep-alive reuse) within a :class:`FetchPolicy`.

    Redirects are followed by hand so each hop is re-vetted: scheme, IP literal, ``redirect_check``
    (a blocklist hit ends as ``blocked_redirect``), and the connect-time address guard.
    ``network_backend`` replaces the socket layer under the guard (tests pass a loopback-only one).
    Use from one event loop; :func:`fetch_all` wraps it for synchronous callers.
    """

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        resolver: Resolver | None = None,
        redirect_check: Callable[[str], str | None] | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self._guard = AddressGuard(policy.allow_cidrs, policy.allow_private)
        self._redirect_check = redirect_check
        backend = GuardedBackend(self._guard, resolver or SystemResolver(), network_backend)
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(backend, max_connections=policy.concurrency, keepalive=policy.concurrency),
            timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout, pool=policy.total_timeout),
            headers={"User-Agent": policy.user_agent, "Accept-Encoding": "gzip, deflate", "Accept": "*/*"},
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),  # no cookie jar growth, no tracking
            follow_redirects=False,
            trust_env=False,  # trust_env=False: an env proxy would bypass the guard
        )
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._hosts = HostSlots(policy.per_host)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(
        self, url: str, *, head: bool = False, max_bytes: int | None = None, range_bytes: int | None = None
    ) -> FetchResult:
        """Fetch ``url``; ``max_bytes`` overrides the policy cap, ``range_bytes`` asks for a prefix only
        (a server ignoring Range is cut off there, not ``too_large``). The total timeout starts once
        the URL holds its host and global slots, so queueing behind a busy host never counts."""
        cap = min(self.policy.max_bytes if max_bytes is None else max_bytes, range_bytes or 1 << 62)
        if cap <= 0:
            raise ConfigError(f"max_bytes/range_bytes must be > 0, got {max_bytes!r}/{range_bytes!r}")
        if not isinstance(url, str):
            return FetchResult("invalid_url", error=f"not a string: {type(url).__name__}")
        host = host_key(url)
        async with self._hosts.slot(host), self._slots:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.policy.total_timeout
            hops = [url]
            try:
                async with asyncio.timeout_at(deadline):
                    return await self._follow(hops, host, head, cap, range_bytes, deadline)
            except TimeoutError:
                return FetchResult("timeout", final_url=hops[-1], error=f"total timeout {self.policy.total_timeout:g}s")

    async def get_text(self, url: str, max_bytes: int = 512_000) -> tuple[str, int | None, str | None]:
        """``(status, http_status, text)`` for robots.txt/tdmrep.json; 512 kB is RFC 9309's floor."""
        r = await self.get(url, max_bytes=max_bytes)
        return r.status, r.http_status, r.text()

    def _vet(self, url: str) -> httpx.URL | FetchResult:
        """Refuse before any connection: bad URL, non-http(s) scheme, forbidden IP literal."""
        if (refused := self._guard.vet_url(url)) is not None:
            return FetchResult(refused[0], final_url=url, error=refused[1])
        try:  # httpx parses on its own; vet the host as it will read it too
            parsed = httpx.URL(url)
            refusal = self._guard.check_host(parsed.raw_host.decode("ascii"))
        except (ValueError, httpx.InvalidURL) as exc:
            return FetchResult("invalid_url", final_url=url, error=f"{type(exc).__name__}: {exc}"[:300])
        if refusal is not None:
            return FetchResult("refused_private", final_url=url, error=refusal)
        return parsed

    async def _follow(
        self, hops: list[str], host0: str, head: bool, cap: int, range_bytes: int | None, deadline: float
    ) -> FetchResult:
        for hop in range(self.policy.max_redirects + 1):
            target = self._vet(hops[-1])
            if isinstance(target, FetchResult):
                return target
            if hop and self._redirect_check is not None and (reason := self._redirect_check(hops[-1])):
                return FetchResult("blocked_redirect", final_url=hops[-1], error=reason)
            outcome = await self._with_retries(target, host0, head, cap, range_bytes, deadline)
            if isinstance(outcome, FetchResult):
                return outcome
            try:
                hops.append(str(target.join(outcome)))
            except (ValueError, httpx.InvalidURL) as exc:
                return FetchResult("invalid_url", final_url=outcome[:2000], error=f"bad Location: {exc}"[:300])
        return FetchResult("too_many_redirects", final_url=hops[-1], error=f"more than {self.policy.max_redirects}")

    async def _with_retries(
        self, target: httpx.URL, host0: str, head: bool, cap: int, range_bytes: int | None, deadline: float
    ) -> FetchResult | str:
        for attempt in range(self.policy.retries + 1):
            outcome = await self._once(target, host0, head, cap, range_bytes)
            if (
                isinstance(outcome, str)
                or attempt == self.policy.retries
                or not (
                    outcome.status == "connect_error" or outcome.http_status == 429 or (outcome.http_status or 0) >= 500
                )
            ):
                return outcome
            delay = self.policy.backoff * 2**attempt
            if (after := retry_after(outcome.headers)) is not None:
                delay = max(delay, min(after, _MAX_RETRY_AFTER))
            if asyncio.get_running_loop().time() + delay >= deadline:
                return outcome  # waiting would outlive the budget: report what we have now
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _once(
        self, target: httpx.URL, host0: str, head: bool, cap: int, range_bytes: int | None
    ) -> FetchResult | str:
        """One request; a redirect returns its Location, anything else a FetchResult."""
        url = str(target)
        host = host_key(url)
        slot = self._hosts.slot(host) if host != host0 else contextlib.nullcontext()
        headers = {"Range": f"bytes=0-{range_bytes - 1}"} if range_bytes else None
        try:
            async with slot, self._client.stream("HEAD" if head else "GET", target, headers=headers) as resp:
                code, hdrs = resp.status_code, header_pairs(resp.headers)
                if code in _REDIRECTS and "location" in resp.headers:
                    return str(resp.headers["location"])
                if not 200 <= code < 300:
                    return FetchResult(f"http_{code}", code, url, hdrs)
                if head:
                    return FetchResult("ok", code, url, hdrs)
                declared = resp.headers.get("content-length", "")
                if range_bytes is None and declared.isdigit() and int(declared) > cap:
                    return FetchResult("too_large", code, url, hdrs, error=f"Content-Length {declared} > {cap}")
                body, exceeded = await read_capped(resp, cap)
                if exceeded and range_bytes is None:  # a server ignoring Range is cut off, not an error
                    return FetchResult("too_large", code, url, hdrs, error=f"body exceeds {cap} bytes (decoded)")
                return FetchResult("ok", code, url, hdrs, body)
        except BOUNDARY_ERRORS as exc:
            status, detail = classify(exc)
            return FetchResult(status, final_url=url, error=detail)


def fetch_all(
    items: Iterable[tuple[K, str]],
    policy: FetchPolicy,
    handle: Callable[[K, FetchResult], T],
    *,
    head: bool = False,
    resolver: Resolver | None = None,
    redirect_check: Callable[[str], str | None] | None = None,
    executor: Executor | None = None,
    workers: int | None = None,
    network_backend: httpcore.AsyncNetworkBackend | None = None,
) -> Iterator[tuple[K, T]]:
    """Fetch every ``(key, url)`` and yield ``(key, handle(key, result))`` as each completes.

    The event loop runs in a worker thread, so callers stay synchronous. ``items`` is consumed
    lazily and at most ``concurrency + 4 * workers`` rows are in flight, so memory stays bounded
    over 10 M rows. ``handle`` (decode + hash: CPU work) runs on ``executor``, or on a thread pool
    of ``workers`` (default: the CPUs this process may use); pass a ``ProcessPoolExecutor`` to escape the GIL.
    Exceptions from ``handle`` or ``items`` propagate; closing the generator cancels what is in flight.
    """
    workers = workers or usable_cpus()
    pool = executor or ThreadPoolExecutor(workers, thread_name_prefix="provscan-handle")
    done: queue.SimpleQueue[tuple[K, bool, Any]] = queue.SimpleQueue()

    def handled(key: K, fut: Future[T]) -> None:
        if not fut.cancelled():
            exc = fut.exception()
            done.put((key, exc is None, fut.result() if exc is None else exc))

    def fetched(key: K, fut: Future[FetchResult]) -> None:  # runs on the loop thread
        if fut.cancelled():
            return
        try:
            pool.submit(handle, key, fut.result()).add_done_callback(lambda h: handled(key, h))
        except Exception as exc:  # a fetcher bug, or the pool shut down as the generator closes
            done.put((key, False, exc))

    fetcher = Fetcher(policy, resolver=resolver, redirect_check=redirect_check, network_backend=network_backend)
    runner = LoopThread()
    try:
        rows, pending, window = iter(items), 0, policy.concurrency + 4 * workers
        while True:
            while pending < window and (row := next(rows, _END)) is not _END:
                key, url = row
                fut = runner.submit(fetcher.get(url, head=head))
                fut.add_done_callback(lambda f, key=key: fetched(key, f))  # type: ignore[misc]
                pending += 1
            if pending == 0:
                return
            key, good, value = done.get()
            pending -= 1
            if not good:
                raise value
            yield key, value
    finally:
        runner.close(fetcher.aclose)
        if executor is None:
            pool.shutdown(wait=True, cancel_futures=True)
