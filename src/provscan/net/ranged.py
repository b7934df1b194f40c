"""Reading remote parquet files with HTTP Range requests: the footer, then only the chunks needed.

An auditor samples a hosted dataset without downloading it. :class:`RangeReader` fetches the
footer with a suffix range (``bytes=-65536``, whose ``Content-Range`` also gives the file size),
then exactly the byte ranges of the column chunks a sample needs, concurrently, into a
:class:`~provscan.io.sparse.SparseFile` that pyarrow reads with ``pre_buffer=False``. No read-ahead
cache: every byte fetched was asked for (fsspec's default caches fetch 2-3x the bytes).

Redirects are followed by hand so the ``Range`` header is re-sent on every hop and every hop is
re-vetted by the SSRF guard; credentials (``headers``) go only to the first host. A ``200`` answer
to a Range request means the server ignores Range: that ends the run with :class:`RangeNotSupported`
unless ``allow_full_download``, in which case the body is streamed to a spill file and read locally.
429 and 5xx answers and dropped connections are retried with exponential backoff.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from provscan._version import __version__
from provscan.errors import ShardError
from provscan.net.guard import AddressGuard, GuardedBackend, Resolver, SystemResolver
from provscan.net.transport import BOUNDARY_ERRORS, GuardedTransport, LoopThread, classify, retry_after

__all__ = ["FOOTER_PROBE", "RangeNotSupported", "RangeReader", "RemoteInfo"]

FOOTER_PROBE = 64 * 1024
"""The first suffix range: pyarrow's own footer read size, so it never reads the tail twice."""
BACKOFF = 0.5
"""Seconds before the first retry of a 429/5xx/dropped connection; doubled on each further retry."""
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_MAX_HOPS = 10
_MAX_RETRY_AFTER = 30.0


class RangeNotSupported(ShardError):
    """The server answered a Range request with the whole file (200): reading would download it all."""


@dataclass
class RemoteInfo:
    """What the first (footer) response told us about one remote file, plus bytes moved so far."""

    url: str
    size: int
    etag: str | None = None
    last_modified: str | None = None
    tail: bytes = b""  # the last len(tail) bytes of the file
    spill: Path | None = None  # the whole file, when the server ignored Range and that was allowed
    bytes_read: int = 0
    requests: int = 0
    final_url: str | None = None  # where the last redirect chain ended (re-used, re-resolved on failure)
    headers: Mapping[str, str] = field(default_factory=dict)


class RangeReader:
    """Range GETs through the guarded transport, driven from synchronous code (one loop thread).

    ``allow_cidrs`` / ``allow_private`` open private ranges exactly as for ``--fetch`` (tests pass
    ``127.0.0.0/8``). ``spill_dir`` receives whole files when ``allow_full_download`` is set.
    """

    def __init__(
        self,
        *,
        allow_cidrs: Sequence[str] = (),
        allow_private: bool = False,
        allow_full_download: bool = False,
        spill_dir: Path | None = None,
        concurrency: int = 8,
        retries: int = 4,
        backoff: float | None = None,
        timeout: float = 60.0,
        resolver: Resolver | None = None,
        user_agent: str = f"provscan/{__version__} (sample; +dataset provenance scanner)",
    ) -> None:
        self.guard = AddressGuard(tuple(allow_cidrs), allow_private)
        self.allow_full_download, self.spill_dir = allow_full_download, spill_dir
        self.retries, self.backoff = retries, BACKOFF if backoff is None else backoff
        self._resolver = resolver or SystemResolver()
        self._concurrency = concurrency
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._user_agent = user_agent
        self._loop = LoopThread()
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None

    def __enter__(self) -> RangeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        async def last() -> None:
            if self._client is not None:
                await self._client.aclose()

        self._loop.close(last)

    # -- the synchronous face ------------------------------------------------------------------

    def open(self, url: str, headers: Mapping[str, str] | None = None) -> RemoteInfo:
        """Fetch the footer (suffix range): the file's size, validators and its last 64 KiB."""
        return self.open_all([(url, headers or {})])[0]

    def open_all(self, items: Sequence[tuple[str, Mapping[str, str]]]) -> list[RemoteInfo]:
        """:meth:`open` for many files at once (a dataset of 500 shards opens in parallel)."""
        infos = [RemoteInfo(url=url, size=0, headers=dict(headers)) for url, headers in items]

        async def run() -> None:
            await asyncio.gather(*(self._get(info, f"bytes=-{FOOTER_PROBE}", first=True) for info in infos))

        self._run(run())
        return infos

    def fetch(self, info: RemoteInfo, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """The bytes of each ``(start, length)`` range, fetched concurrently, in order."""
        return self.fetch_all([(info, ranges)])[0]

    def fetch_all(self, jobs: Sequence[tuple[RemoteInfo, Sequence[tuple[int, int]]]]) -> list[list[bytes]]:
        """:meth:`fetch` over several files, all ranges in flight together (up to ``concurrency``)."""
        return self.fetch_all_async(jobs).result()

    def fetch_all_async(
        self, jobs: Sequence[tuple[RemoteInfo, Sequence[tuple[int, int]]]]
    ) -> Future[list[list[bytes]]]:
        """:meth:`fetch_all` started now, its result later: the caller decodes one window meanwhile."""

        async def run() -> list[list[bytes]]:
            return list(await asyncio.gather(*(self._fetch_many(info, ranges) for info, ranges in jobs)))

        return self._loop.submit(run())

    def _run(self, coro: Any) -> Any:
        return self._loop.submit(coro).result()

    # -- on the loop thread --------------------------------------------------------------------

    def _session(self) -> httpx.AsyncClient:
        if self._client is None:
            backend = GuardedBackend(self.guard, self._resolver)
            self._client = httpx.AsyncClient(
                transport=GuardedTransport(backend, max_connections=self._concurrency, keepalive=self._concurrency),
                timeout=self._timeout,
                follow_redirects=False,
                trust_env=False,  # an env proxy would bypass the guard
                headers={"User-Agent": self._user_agent, "Accept-Encoding": "identity"},
            )
            self._slots = asyncio.Semaphore(self._concurrency)
        return self._client

    async def _fetch_many(self, info: RemoteInfo, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        return list(await asyncio.gather(*(self._fetch_one(info, start, length) for start, length in ranges)))

    async def _fetch_one(self, info: RemoteInfo, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        return await self._get(info, f"bytes={start}-{start + length - 1}", expect=(start, length))

    async def _get(
        self, info: RemoteInfo, range_header: str, *, first: bool = False, expect: tuple[int, int] | None = None
    ) -> bytes:
        client = self._session()
        assert self._slots is not None
        last = "no answer"
        async with self._slots:
            for attempt in range(self.retries + 1):
                start_url = info.final_url if (info.final_url and attempt == 0) else info.url
                try:
                    outcome = await self._follow(client, info, start_url, range_header, first, expect)
                except BOUNDARY_ERRORS as exc:
                    status, detail = classify(exc)
                    if status == "refused_private":
                        raise ShardError(info.url, f"refused: {detail} (allow it with --allow-addresses CIDR)") from exc
                    if attempt == self.retries or status in ("invalid_url", "dns_error", "tls_error"):
                        raise ShardError(info.url, f"cannot read: {status}: {detail}") from exc
                    outcome, last = (None, None, f"{status}: {detail}"), f"{status}: {detail}"
                if outcome[0] is not None:
                    return outcome[0]
                retry_wait, last = outcome[1], outcome[2] or last
                if attempt == self.retries:
                    break
                await asyncio.sleep(max(self.backoff * 2**attempt, min(retry_wait or 0.0, _MAX_RETRY_AFTER)))
        raise ShardError(info.url, f"cannot read {range_header}: {last} after {self.retries + 1} attempts")

    async def _follow(
        self,
        client: httpx.AsyncClient,
        info: RemoteInfo,
        url: str,
        range_header: str,
        first: bool,
        expect: tuple[int, int] | None,
    ) -> tuple[bytes | None, float | None, str | None]:
        """One attempt along the redirect chain: ``(body, None, None)``, or ``(None, wait, why)`` to retry."""
        origin = httpx.URL(info.url).host
        for _ in range(_MAX_HOPS):
            if (refused := self.guard.vet_url(url)) is not None:
                hop = "" if url == info.url else f" (redirected to {url})"
                raise ShardError(info.url, f"refused{hop}: {refused[1]} (allow it with --allow-addresses CIDR)")
            target = httpx.URL(url)
            headers = {"Range": range_header}
            if target.host == origin:
                headers.update(info.headers)  # a token never follows a redirect to another host
            async with client.stream("GET", target, headers=headers) as resp:
                info.requests += 1
                code = resp.status_code
                if code in _REDIRECTS and "location" in resp.headers:
                    url = str(target.join(resp.headers["location"]))
                    continue
                if code == 429 or code >= 500:
                    return None, retry_after(resp.headers.multi_items()), f"HTTP {code}"
                if code == 200:
                    return await self._whole(info, resp, url, first), None, None
                if code != 206:
                    if info.final_url and url == info.final_url and code in (401, 403, 404, 410):
                        info.final_url = None  # a signed redirect target expired: resolve again
                        return None, 0.0, f"HTTP {code} from the redirect target"
                    hint = "; for a gated or private Hugging Face dataset set HF_TOKEN" if code in (401, 403) else ""
                    raise ShardError(info.url, f"HTTP {code} for a Range request{hint}")
                body = await self._partial(info, resp, first, expect)
                info.final_url = url
                return body, None, None
        raise ShardError(info.url, f"more than {_MAX_HOPS} redirects")

    async def _partial(
        self, info: RemoteInfo, resp: httpx.Response, first: bool, expect: tuple[int, int] | None
    ) -> bytes:
        match = _CONTENT_RANGE.fullmatch(resp.headers.get("content-range", "").strip())
        if match is None or match.group(3) == "*":
            raise ShardError(info.url, f"206 without a usable Content-Range: {resp.headers.get('content-range')!r}")
        lo, hi, total = int(match.group(1)), int(match.group(2)), int(match.group(3))
        etag, modified = resp.headers.get("etag"), resp.headers.get("last-modified")
        if first:
            info.size, info.etag, info.last_modified = total, etag, modified
        elif total != info.size or (etag and info.etag and etag != info.etag):
            raise ShardError(info.url, "the file changed while it was being read (size or ETag differs)")
        want = hi - lo + 1
        if expect is not None and (lo, want) != expect:
            raise ShardError(info.url, f"asked for {expect[1]} bytes at {expect[0]}, got Content-Range {lo}-{hi}")
        parts: list[bytes] = []
        got = 0
        async for chunk in resp.aiter_raw():
            parts.append(chunk)
            got += len(chunk)
            info.bytes_read += len(chunk)
            if got > want:
                raise ShardError(info.url, f"more bytes than Content-Range {lo}-{hi} announced")
        if got != want:
            raise ShardError(info.url, f"short read: {got} of {want} bytes at {lo}")
        body = b"".join(parts)
        if first:
            info.tail = body
        return body

    async def _whole(self, info: RemoteInfo, resp: httpx.Response, url: str, first: bool) -> bytes:
        """A 200 to a Range request: the server ignores Range. Stop, or download it whole if allowed."""
        if not first:
            raise RangeNotSupported(info.url, "the server stopped honouring Range requests mid-read (answered 200)")
        if not self.allow_full_download or self.spill_dir is None:
            raise RangeNotSupported(
                info.url,
                "the server ignores HTTP Range requests (answered 200 with the whole file); "
                "rerun with --allow-full-download to download the whole file",
            )
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        spill = self.spill_dir / f"full-{abs(hash(info.url)) & 0xFFFFFFFF:08x}.parquet"
        size = 0
        with open(spill, "wb") as out:
            async for chunk in resp.aiter_raw():
                out.write(chunk)
                size += len(chunk)
        info.bytes_read += size
        info.size, info.spill, info.final_url = size, spill, url
        info.etag, info.last_modified = resp.headers.get("etag"), resp.headers.get("last-modified")
        return b""
