"""The SSRF guard on its own: address rules, IP-literal notations, and the connect-time backend.

Nothing here opens a socket: the backend tests use an inner backend that only records.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from typing import Any

import httpcore
import pytest
from fetch_fixtures import StubResolver
from hypothesis import given
from hypothesis import strategies as st

from provscan.errors import ConfigError
from provscan.net.guard import (
    AddressGuard,
    AddressRefused,
    GuardedBackend,
    ResolveError,
    SystemResolver,
    parse_ip_literal,
)

METADATA = ipaddress.ip_address("169.254.169.254")


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "2852039166",
        "0xa9fea9fe",
        "0XA9FEA9FE",
        "0251.0376.0251.0376",
        "169.254.43518",
        "0xa9.0xfe.0xa9.0xfe",
        "169.16689662",
        "%31%36%39.254.169.254",
        "169.254.169.254.",
    ],
)
def test_ipv4_notations_all_mean_the_metadata_address(host: str) -> None:
    assert parse_ip_literal(host) == METADATA
    assert "link-local" in (AddressGuard().check_host(host) or "")


@pytest.mark.parametrize(
    "host", ["example.com", "1.2.3.example", "08.1.1.1", "1_0.0.0.1", "1.2.3.4.5", "xn--bcher-kva.de"]
)
def test_names_are_not_literals(host: str) -> None:
    assert parse_ip_literal(host) is None


@pytest.mark.parametrize("host", ["999.1.1.1", "0x100000000", "1.2.65536", "4294967296", "::1::2"])
def test_malformed_numeric_hosts_raise_value_error(host: str) -> None:
    with pytest.raises(ValueError):
        parse_ip_literal(host)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", ""),
        ("192.0.2.1", ""),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2002:a00:1::1", "private"),
        ("2001:db8::1", ""),
    ],
)
def test_forbidden_addresses_are_refused_with_a_reason(address: str, why: str) -> None:
    reason = AddressGuard().refusal(ipaddress.ip_address(address))
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert AddressGuard().refusal(ipaddress.ip_address(address)) is None


def test_allow_cidrs_opens_only_the_listed_networks() -> None:
    guard = AddressGuard(("127.0.0.0/8", "fd00::/8"))
    assert guard.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert guard.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None  # mapped form of an allowed v4
    assert guard.refusal(ipaddress.ip_address("fd00::5")) is None
    assert guard.refusal(ipaddress.ip_address("10.0.0.1")) is not None
    assert guard.refusal(METADATA) is not None


def test_allow_private_opens_everything() -> None:
    guard = AddressGuard(allow_private=True)
    assert all(guard.refusal(ipaddress.ip_address(a)) is None for a in ("10.0.0.1", "169.254.169.254", "::1"))


@pytest.mark.parametrize("cidrs", [("10.0.0.0/33",), ("not-a-net",), "127.0.0.0/8", (None,)])
def test_bad_cidrs_are_config_errors(cidrs: Any) -> None:
    with pytest.raises(ConfigError):
        AddressGuard(cidrs)


@given(st.integers(0, 2**32 - 1))
def test_decimal_and_hex_forms_parse_to_the_same_address(n: int) -> None:
    expected = ipaddress.IPv4Address(n)
    assert parse_ip_literal(str(n)) == expected
    assert parse_ip_literal(hex(n)) == expected
    assert parse_ip_literal(".".join(oct(b).replace("0o", "0") for b in expected.packed)) == expected


@given(st.integers(0, 2**32 - 1))
def test_mapped_ipv6_is_judged_like_its_ipv4(n: int) -> None:
    guard = AddressGuard()
    v4 = ipaddress.IPv4Address(n)
    mapped = ipaddress.IPv6Address(f"::ffff:{v4}")
    assert (guard.refusal(mapped) is None) == (guard.refusal(v4) is None)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("ftp://127.0.0.1/x", "refused_scheme"),
        ("file:///etc/passwd", "refused_scheme"),
        ("javascript:alert(1)", "refused_scheme"),
        ("example.com/x", "invalid_url"),
        ("http:///x", "invalid_url"),
        ("http://[::1", "invalid_url"),
        ("http://999.1.1.1/", "invalid_url"),
        ("http://0251.0376.0251.0376/", "refused_private"),
        ("HTTP://[::ffff:a9fe:a9fe]:80/", "refused_private"),
    ],
)
def test_vet_url_refuses_before_any_lookup(url: str, status: str) -> None:
    refused = AddressGuard().vet_url(url)
    assert refused is not None and refused[0] == status


def test_vet_url_passes_names_and_public_literals() -> None:
    assert AddressGuard().vet_url("https://example.com/a.jpg") is None
    assert AddressGuard().vet_url("http://8.8.8.8/") is None


class RecordingInner(httpcore.AsyncNetworkBackend):
    """An inner backend that never touches the network: it records and fails or returns a dummy."""

    def __init__(self, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.connects: list[str] = []
        self.fail = fail

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, **kw: Any) -> Any:
        self.connects.append(host)
        if host in self.fail:
            raise httpcore.ConnectError("refused")
        return object()


def connect(backend: GuardedBackend, host: str) -> Any:
    return asyncio.run(backend.connect_tcp(host, 80, timeout=1.0))


def test_backend_refuses_a_name_resolving_to_metadata_without_connecting() -> None:
    resolver, inner = StubResolver({"evil.test": ["169.254.169.254"]}), RecordingInner()
    with pytest.raises(AddressRefused, match="169.254.169.254"):
        connect(GuardedBackend(AddressGuard(), resolver, inner), "evil.test")
    assert resolver.calls == ["evil.test"] and inner.connects == []


def test_backend_connects_only_to_the_allowed_address_it_checked() -> None:
    resolver, inner = StubResolver({"mixed.test": ["10.0.0.5", "127.0.0.1", "169.254.169.254"]}), RecordingInner()
    connect(GuardedBackend(AddressGuard(("127.0.0.0/8",)), resolver, inner), "mixed.test")
    assert inner.connects == ["127.0.0.1"]


def test_backend_tries_the_next_allowed_address_on_connect_error() -> None:
    resolver = StubResolver({"two.test": ["127.0.0.2", "127.0.0.3"]})
    inner = RecordingInner(fail={"127.0.0.2"})
    connect(GuardedBackend(AddressGuard(("127.0.0.0/8",)), resolver, inner), "two.test")
    assert inner.connects == ["127.0.0.2", "127.0.0.3"]


def test_backend_checks_literals_in_any_notation_without_resolving() -> None:
    resolver, inner = StubResolver(), RecordingInner()
    for host in ("0xa9fea9fe", "2852039166", "::ffff:a9fe:a9fe"):
        with pytest.raises(AddressRefused):
            connect(GuardedBackend(AddressGuard(), resolver, inner), host)
    assert resolver.calls == [] and inner.connects == []


def test_backend_maps_resolver_failures() -> None:
    inner = RecordingInner()
    with pytest.raises(ResolveError, match="nx.test"):
        connect(GuardedBackend(AddressGuard(), StubResolver(), inner), "nx.test")
    with pytest.raises(ResolveError, match="no addresses"):
        connect(GuardedBackend(AddressGuard(), StubResolver({"empty.test": []}), inner), "empty.test")

    class Slow(StubResolver):
        async def resolve(self, host: str, port: int) -> list[str]:
            await asyncio.sleep(5)
            return ["8.8.8.8"]

    with pytest.raises(httpcore.ConnectTimeout):
        asyncio.run(GuardedBackend(AddressGuard(), Slow(), inner).connect_tcp("slow.test", 80, timeout=0.05))
    assert inner.connects == []


def test_backend_never_opens_unix_sockets() -> None:
    with pytest.raises(AddressRefused):
        asyncio.run(GuardedBackend(AddressGuard(allow_private=True), StubResolver()).connect_unix_socket("/x"))


def test_system_resolver_returns_addresses_for_a_numeric_host() -> None:
    # Only a numeric host: getaddrinfo parses it locally, so not even a DNS packet is sent.
    assert asyncio.run(SystemResolver().resolve("127.0.0.1", 80)) == ["127.0.0.1"]


def test_tls_through_the_guarded_backend_verifies_the_host_name(net, tls_server, tls_cert) -> None:
    # The guard connects to 127.0.0.1, but certificate and SNI checks must still use "tls.test".
    trusting = ssl.create_default_context(cafile=tls_cert[0])
    net.resolver.table.update({"tls.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    backend = GuardedBackend(AddressGuard(("127.0.0.0/8",)), net.resolver, net.backend)

    async def get(host: str) -> tuple[int, bytes]:
        async with httpcore.AsyncConnectionPool(ssl_context=trusting, network_backend=backend) as pool:
            resp = await pool.request("GET", f"https://{host}:{tls_server.port}/secure")
            return resp.status, resp.content

    assert asyncio.run(get("tls.test")) == (200, b"over tls")
    with pytest.raises(httpcore.ConnectError) as info:
        asyncio.run(get("other.test"))  # right address, wrong name: refused by hostname check
    assert "Hostname mismatch" in str(info.value)
    assert net.connected_hosts == {"127.0.0.1"}


def test_fetcher_refuses_an_untrusted_certificate(net, tls_server) -> None:
    net.resolver.table["tls.test"] = ["127.0.0.1"]
    r = net.get(f"https://tls.test:{tls_server.port}/secure")
    assert r.status == "tls_error" and "CERTIFICATE_VERIFY_FAILED" in (r.error or ""), r
