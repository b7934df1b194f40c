"""SSRF guard: which addresses provscan may connect to, enforced where the socket is opened.

Shard URLs are attacker-controlled. Checking the URL's host name is not enough: a name can
resolve to ``169.254.169.254`` (cloud metadata), resolve differently on the second lookup (DNS
rebinding) or be an IP written in decimal/hex/octal. So :class:`GuardedBackend` sits *under*
httpcore: it resolves the name itself, drops every forbidden address and connects to one of the
addresses it checked. No other code path opens a connection (no proxies, no UNIX sockets).

:mod:`provscan.net.transport` builds the httpx transport on top of this backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import re
import socket
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import httpcore

from provscan.errors import ConfigError

__all__ = [
    "AddressGuard",
    "AddressRefused",
    "AsyncioBackend",
    "GuardedBackend",
    "ResolveError",
    "Resolver",
    "SystemResolver",
    "parse_ip_literal",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HEX, _OCT, _DEC = re.compile(r"0[xX][0-9a-fA-F]*"), re.compile(r"0[0-7]+"), re.compile(r"0|[1-9][0-9]*")
_MAX_ADDRESSES = 3  # addresses tried per connection; bounds the time a many-A-record host costs


class AddressRefused(Exception):
    """A host resolved only to forbidden addresses; no connection was attempted."""


class ResolveError(Exception):
    """A host name did not resolve (NXDOMAIN, no addresses, resolver failure)."""


class Resolver(Protocol):
    """Turns a host name into IP address strings; injectable so tests never query real DNS."""

    async def resolve(self, host: str, port: int) -> list[str]: ...


@functools.cache
def _dns_threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(32, thread_name_prefix="provscan-dns")


class SystemResolver:
    """The OS resolver (``getaddrinfo``) on a shared pool of 32 threads, off the event loop.

    ``loop.getaddrinfo`` would use the default pool of CPUs + 4 threads: too few when most of
    64 concurrent fetches are new hosts waiting on DNS.
    """

    async def resolve(self, host: str, port: int) -> list[str]:
        lookup = functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        infos = await asyncio.get_running_loop().run_in_executor(_dns_threads(), lookup)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes as an IP literal in any notation, else ``None``.

    Follows the WHATWG URL host parser, which is what browsers and ``inet_aton`` accept:
    ``2852039166``, ``0xa9fea9fe``, ``0251.0376.0251.0376`` and ``169.254.43518`` all mean
    ``169.254.169.254``. Raises ``ValueError`` for a numeric host that is no valid address
    (``999.1.1.1``), which callers report as an invalid URL.
    """
    host = unquote(host).strip("[]").rstrip(".").lower()
    if ":" in host:
        return ipaddress.IPv6Address(host)
    parts = host.split(".")
    if not host or len(parts) > 4:
        return None
    numbers = [_ipv4_part(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    *head, last = [n for n in numbers if n is not None]
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(parts)):
        raise ValueError(f"invalid IPv4 literal {host!r}")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _ipv4_part(part: str) -> int | None:
    # A regex, not bare int(): int() also takes "1_0", " 7" and non-ASCII digits.
    if _HEX.fullmatch(part):
        return int(part[2:] or "0", 16)
    if _OCT.fullmatch(part):
        return int(part, 8)
    return int(part) if _DEC.fullmatch(part) else None


class AddressGuard:
    """Decides whether one IP address may be connected to.

    Refused by default: loopback, private, link-local (incl. 169.254.169.254), multicast,
    reserved, unspecified, CGNAT 100.64/10 and anything else not globally routable, in v4 and v6;
    IPv6 addresses that embed an IPv4 one (``::ffff:a.b.c.d``, NAT64, 6to4) are judged by it too.
    ``allow_cidrs`` opens listed networks (tests use ``127.0.0.0/8``); ``allow_private`` opens all.
    """

    def __init__(self, allow_cidrs: Iterable[str] = (), allow_private: bool = False) -> None:
        if isinstance(allow_cidrs, str):
            raise ConfigError("allow_cidrs must be a sequence of CIDR strings, not one string")
        try:
            self.allowed = tuple(ipaddress.ip_network(c, strict=False) for c in allow_cidrs)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"allow_cidrs: {exc}") from exc
        self.allow_private = allow_private

    def refusal(self, ip: IPAddress) -> str | None:
        """Why ``ip`` is forbidden (a short phrase for the report), or ``None`` if allowed."""
        if self.allow_private or any(ip in net for net in self.allowed):
            return None
        if isinstance(ip, ipaddress.IPv6Address):
            v4 = ip.ipv4_mapped or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
            if v4 is not None:
                inner = self.refusal(v4)
                return None if inner is None else f"{ip} embeds {inner}"
            if ip.sixtofour is not None and (inner := self.refusal(ip.sixtofour)) is not None:
                return f"{ip} embeds {inner}"
        for attr in ("loopback", "unspecified", "link_local", "multicast", "reserved", "private"):
            if getattr(ip, f"is_{attr}"):
                return f"{ip} is {attr.replace('_', '-')}"
        if ip in _CGNAT:
            return f"{ip} is shared address space (CGNAT)"
        if not ip.is_global:
            return f"{ip} is not globally routable"
        return None

    def check_host(self, host: str) -> str | None:
        """Refusal for a host that is an IP literal (no DNS involved); ``None`` for names."""
        ip = parse_ip_literal(host)
        return None if ip is None else self.refusal(ip)

    def vet_url(self, url: str) -> tuple[str, str] | None:
        """``(status, detail)`` refusing ``url`` before any DNS or socket, or ``None`` to go ahead.

        Catches what needs no resolution: a non-http(s) scheme, no host, a forbidden IP literal.
        """
        try:
            parts = urlsplit(url)
            host = parts.hostname
            if parts.scheme.lower() not in ("http", "https"):
                return ("refused_scheme" if parts.scheme else "invalid_url"), f"scheme {parts.scheme!r}"
            refusal = self.check_host(host) if host else None
        except ValueError as exc:
            return "invalid_url", str(exc)[:300]
        if not host:
            return "invalid_url", "no host"
        return None if refusal is None else ("refused_private", refusal)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses the guard allows.

    ``inner`` does the actual connecting (default :class:`AsyncioBackend`); it only ever sees
    IP addresses that passed :meth:`AddressGuard.refusal`. TLS still verifies the original host
    name because httpcore passes it to ``start_tls`` separately.
    """

    def __init__(
        self, guard: AddressGuard, resolver: Resolver, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.guard, self.resolver = guard, resolver
        self.inner = inner if inner is not None else AsyncioBackend()

    async def _addresses(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        literal = parse_ip_literal(host)
        if literal is not None:
            return [literal]
        try:
            async with asyncio.timeout(timeout):
                found = await self.resolver.resolve(host, port)
            addresses = [ipaddress.ip_address(a) for a in found]
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except (OSError, ValueError) as exc:
            raise ResolveError(f"{host}: {exc}") from exc
        if not addresses:
            raise ResolveError(f"{host}: no addresses")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._addresses(host, port, timeout)
        allowed = [ip for ip in addresses if self.guard.refusal(ip) is None]
        if not allowed:
            raise AddressRefused(f"{host}: {self.guard.refusal(addresses[0])}")
        error: Exception | None = None
        for ip in allowed[:_MAX_ADDRESSES]:
            try:
                return await self.inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("UNIX sockets are never used for fetching")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _Stream(httpcore.AsyncNetworkStream):
    """An asyncio streams connection in httpcore's shape, raising httpcore's exceptions."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _mapped(httpcore.ReadTimeout, httpcore.ReadError):
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _mapped(httpcore.WriteTimeout, httpcore.WriteError):
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()

    async def aclose(self) -> None:
        self._writer.transport.abort()  # never wait on a peer that will not finish closing

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # httpcore asks before reusing an idle keep-alive connection
            return self._reader.at_eof() or self._writer.is_closing()
        names = {"client_addr": "sockname", "server_addr": "peername"}
        return self._writer.get_extra_info(names.get(info, info))


@contextlib.contextmanager
def _mapped(on_timeout: type[Exception], on_error: type[Exception]) -> Any:
    try:
        yield
    except TimeoutError as exc:
        raise on_timeout(str(exc) or "timed out") from exc
    except OSError as exc:  # includes ssl.SSLError; chained so the caller can tell TLS apart
        raise on_error(str(exc)) from exc


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Plain asyncio streams under httpcore: ~5x the loopback throughput of the anyio backend.

    anyio pauses the transport after every 64 KiB read; for 250 kB images that dominated the
    client's CPU (see benchmarks/bench_fetch.py). Used for IP addresses only, so no DNS.
    """

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
            async with asyncio.timeout(timeout):
                local = (local_address, 0) if local_address else None
                reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        for option in socket_options or ():
            writer.get_extra_info("socket").setsockopt(*option)
        return _Stream(reader, writer)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("UNIX sockets are never used for fetching")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
