"""The httpx/httpcore boundary under :class:`provscan.net.fetch.Fetcher`.

Here, and only here, the dependency's behaviour is shaped for hostile input: the transport
connects through :class:`provscan.net.guard.GuardedBackend`, bodies are decoded with a hard size
bound, and third-party exceptions become fetch statuses (:func:`classify`), like httpx's own
``map_httpcore_exceptions`` but mapping to row statuses instead of exception classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ssl
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from concurrent.futures import Future
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from provscan.net.guard import AddressRefused, ResolveError
from provscan.net.headers import header_values

__all__ = [
    "BOUNDARY_ERRORS",
    "GuardedTransport",
    "HostSlots",
    "LoopThread",
    "classify",
    "host_key",
    "read_capped",
    "retry_after",
]

BOUNDARY_ERRORS: tuple[type[BaseException], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.StreamError,
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ConnectionNotAvailable,
    OSError,
    zlib.error,
    ValueError,
    AddressRefused,
    ResolveError,
)
"""What a fetch may raise because of the remote side or the network; anything else is a bug."""


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            await self._stream.aclose()


class _LinearPool(httpcore.AsyncConnectionPool):
    """httpcore 1.0's pool with the same decisions made in linear time.

    Its ``_assign_requests_to_connections`` (run on every request start and end) evaluates
    ``len([c.is_idle() for c in connections])`` once per idle connection, which is just the number
    of connections, and lists the idle connections for every queued request even when a connection
    is available: 2.4 M ``is_idle()`` calls for 2 000 loopback requests over 64 connections, a
    fifth of the event loop's CPU (benchmarks/bench_fetch_compare.py). ``is_idle`` has no side
    effects, so taking the length once and the idle list only when needed changes nothing else.
    Used only with the httpcore line it was copied from (1.0.x); any other falls back to the stock pool.
    """

    def _assign_requests_to_connections(self) -> list[Any]:
        closing_connections = []
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif connection.has_expired():
                self._connections.remove(connection)
                closing_connections.append(connection)
            elif connection.is_idle() and len(self._connections) > self._max_keepalive_connections:
                self._connections.remove(connection)
                closing_connections.append(connection)
        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            available = next((c for c in self._connections if c.can_handle_request(origin) and c.is_available()), None)
            if available is not None:
                pool_request.assign_to_connection(available)
            elif len(self._connections) < self._max_connections:
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)
            elif (idle := next((c for c in self._connections if c.is_idle()), None)) is not None:
                self._connections.remove(idle)
                closing_connections.append(idle)
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)
        return closing_connections


_POOL = _LinearPool if httpcore.__version__.startswith("1.0.") else httpcore.AsyncConnectionPool


class GuardedTransport(httpx.AsyncBaseTransport):
    """httpx transport over an httpcore pool on a guarded network backend: HTTP/1.1, no proxy.

    httpx's ``AsyncHTTPTransport`` cannot take a network backend, hence this small twin.
    httpcore exceptions pass through unmapped; :func:`classify` turns them into statuses.
    """

    def __init__(self, backend: httpcore.AsyncNetworkBackend, *, max_connections: int, keepalive: int) -> None:
        self._pool = _POOL(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=keepalive,
            keepalive_expiry=5.0,
            network_backend=backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        resp = await self._pool.handle_async_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            status_code=resp.status,
            headers=resp.headers,
            stream=_ResponseStream(resp.stream),
            extensions=resp.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _Inflater:
    """Content-Encoding decoder with a hard output bound.

    httpx's own decoders inflate each network chunk without a limit, so 64 KiB of gzip can
    become 64 MB in one step; here a bomb never costs more than the caller's cap.
    """

    def __init__(self, encoding: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip().lower() not in ("", "identity")]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise ValueError(f"unsupported content-encoding {encoding!r}")  # we only advertise gzip, deflate
        self._raw_fallback = codings == ["deflate"]
        wbits = zlib.MAX_WBITS | 16 if codings and codings[0] != "deflate" else zlib.MAX_WBITS
        self._z = zlib.decompressobj(wbits) if codings else None

    def feed(self, data: bytes, limit: int) -> bytes:
        """Decoded bytes of ``data``, at most ``limit`` of them (callers stop once they reach it)."""
        if self._z is None:
            return data
        try:
            return self._z.decompress(data, limit)
        except zlib.error:
            if not self._raw_fallback:
                raise
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # many servers send raw deflate, no zlib header
            return self._z.decompress(data, limit)
        finally:
            self._raw_fallback = False

    def flush(self, limit: int) -> bytes:
        return self._z.flush(limit) if self._z is not None else b""


async def read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """Stream and decode the body, stopping after ``cap`` bytes: ``(first cap bytes, exceeded)``.

    Decoded bytes are what is counted, so a small compressed body cannot smuggle in a large one.
    """
    parts: list[bytes] = []
    size = 0
    inflater = _Inflater(response.headers.get("content-encoding", ""))
    async for raw in response.aiter_raw():
        parts.append(inflater.feed(raw, cap + 1 - size))
        size += len(parts[-1])
        if size > cap:
            break
    else:
        parts.append(inflater.flush(cap + 1 - size))
        size += len(parts[-1])
    body = b"".join(parts)  # one copy; a bytearray grown per chunk cost ~20% of the loopback CPU
    return body[:cap], size > cap


class HostSlots:
    """Per-host semaphores, dropped when unused so 10 M rows over a million hosts stay small."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        sem, users = self._slots.setdefault(host, (asyncio.Semaphore(self._per_host), [0]))
        users[0] += 1
        try:
            async with sem:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._slots[host]

    def __len__(self) -> int:
        return len(self._slots)


class LoopThread:
    """An asyncio loop on a daemon thread, so synchronous callers can drive the async fetcher."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="provscan-fetch", daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self, last: Callable[[], Awaitable[None]]) -> None:
        """Cancel every task still running, await ``last()`` (closing the client), stop the loop."""

        async def shutdown() -> None:
            for _ in range(10):  # a cancelled task may spawn helpers on its way out: sweep again
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                if not tasks:
                    break
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            await last()

        self.submit(shutdown()).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> bool:
    for _ in range(10):  # httpcore wraps ssl errors one or two levels deep; bound the walk anyway
        if exc is None:
            return False
        if isinstance(exc, kind):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def classify(exc: BaseException) -> tuple[str, str]:
    """A boundary exception as ``(status, short detail)`` for the report."""
    detail = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, AddressRefused):
        return "refused_private", str(exc)
    if isinstance(exc, ResolveError):
        return "dns_error", str(exc)
    if _caused_by(exc, ssl.SSLError):  # httpcore reports a failed handshake as a ConnectError
        return "tls_error", detail
    if isinstance(exc, (httpx.TimeoutException, httpcore.TimeoutException, TimeoutError)):
        return "timeout", detail
    if isinstance(exc, (httpx.ConnectError, httpcore.ConnectError, ConnectionError)):
        return "connect_error", detail
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol, httpcore.UnsupportedProtocol)):
        return "invalid_url", detail
    return "error", detail


def host_key(url: str) -> str:
    """The lower-cased host name of ``url`` (the per-host limit key), ``""`` if it has none."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def retry_after(headers: Iterable[tuple[str, str]]) -> float | None:
    """Seconds a 429/503 asks us to wait (delta-seconds or HTTP date), ``None`` if absent or garbled."""
    value = next(iter(header_values(headers, "retry-after")), "").strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    return None
