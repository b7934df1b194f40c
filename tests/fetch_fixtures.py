"""Loopback-only doubles for the fetch tests: nothing here can reach a non-127.0.0.1 address.

Three layers, so a leak would have to get past all of them *and* fail the test:

* ``no_egress``: patches ``socket.socket.connect``/``connect_ex`` and the stdlib resolver
  functions for the whole test; anything but 127.0.0.1 or ::1 (or a local unix socket) is
  refused and recorded, and the fixture fails the test at teardown if anything was recorded
  (the code under test turns exceptions into statuses, so raising alone would not be enough).
  tests/conftest.py makes it autouse: every test of the suite runs under it.
* ``LoopbackBackend``: the httpcore network backend under the guard; it records every
  address the guard decided to connect to and refuses anything but 127.0.0.1.
* ``StubResolver``: answers from a dict and records every name it was asked about; it never
  falls back to real DNS.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import pytest
from pytest_httpserver import HTTPServer

from provscan.net.fetch import Fetcher, FetchPolicy, FetchResult
from provscan.net.guard import AsyncioBackend

LOOPBACK = "127.0.0.1"
LOOPBACKS = (LOOPBACK, "::1")  # what a test may connect to or look up
# The policy most tests use: loopback allowed, tiny timeouts and backoff so the suite stays fast.
LOOP = FetchPolicy(
    concurrency=8,
    per_host=8,
    connect_timeout=1.0,
    read_timeout=2.0,
    total_timeout=5.0,
    retries=2,
    backoff=0.01,
    allow_cidrs=("127.0.0.0/8",),
)


class Violations(list[str]):
    def check(self) -> None:
        assert not self, f"connection or lookup outside 127.0.0.1 attempted: {list(self)}"


class LoopbackBackend(httpcore.AsyncNetworkBackend):
    """Connects only to 127.0.0.1; records every host it is asked to connect to."""

    def __init__(self, violations: Violations) -> None:
        self.connects: list[tuple[str, int]] = []
        self._violations = violations
        self._inner = AsyncioBackend()  # the production socket layer, behind the loopback check

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, **kw: Any) -> Any:
        self.connects.append((host, port))
        if host != LOOPBACK:
            self._violations.append(f"backend connect_tcp({host!r}, {port})")
            raise httpcore.ConnectError(f"test stand-in refuses {host}")
        return await self._inner.connect_tcp(host, port, timeout=timeout, **kw)

    async def connect_unix_socket(self, path: str, timeout: float | None = None, **kw: Any) -> Any:
        self._violations.append(f"unix socket {path}")
        raise httpcore.ConnectError("no unix sockets in tests")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class StubResolver:
    """A resolver from a dict: ``{"evil.test": ["10.0.0.5"]}``; unknown names fail like NXDOMAIN."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = dict(table or {})
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, f"stub: {host} not found")
        return list(self.table[host])


class Net:
    """What a test needs to fetch over loopback and then prove where it connected."""

    def __init__(self, violations: Violations) -> None:
        self.violations = violations
        self.backend = LoopbackBackend(violations)
        self.resolver = StubResolver()

    def fetcher(self, policy: FetchPolicy = LOOP, **kw: Any) -> Fetcher:
        return Fetcher(policy, resolver=self.resolver, network_backend=self.backend, **kw)

    def get(self, url: str, policy: FetchPolicy = LOOP, *, redirect_check: Any = None, **kw: Any) -> FetchResult:
        async def go() -> FetchResult:
            async with self.fetcher(policy, redirect_check=redirect_check) as fetcher:
                return await fetcher.get(url, **kw)

        return asyncio.run(go())

    @property
    def connected_hosts(self) -> set[str]:
        return {host for host, _ in self.backend.connects}


@pytest.fixture
def no_egress(monkeypatch: pytest.MonkeyPatch) -> Iterator[Violations]:
    violations = Violations()
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo, real_create_connection = socket.getaddrinfo, socket.create_connection

    def allowed(address: Any) -> bool:
        if isinstance(address, (str, bytes)):
            return True  # AF_UNIX: a local socket file, not the network
        return isinstance(address, tuple) and address[0] in LOOPBACKS

    def connect(self: socket.socket, address: Any) -> Any:
        if not allowed(address):
            violations.append(f"socket.connect({address!r})")
            raise ConnectionRefusedError(f"no_egress: {address!r}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if not allowed(address):
            violations.append(f"socket.connect_ex({address!r})")
            return 111
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name == "localhost":  # answered here as 127.0.0.1: a second loopback host name, no resolver asked
            return real_getaddrinfo("127.0.0.1", *args, **kw)
        if host is not None and name not in LOOPBACKS:
            violations.append(f"getaddrinfo({host!r})")
            raise socket.gaierror(socket.EAI_NONAME, f"no_egress: {host!r}")
        return real_getaddrinfo(host, *args, **kw)

    def create_connection(address: Any, *args: Any, **kw: Any) -> Any:
        if not allowed(address):
            violations.append(f"socket.create_connection({address!r})")
            raise ConnectionRefusedError(f"no_egress: {address!r}")
        return real_create_connection(address, *args, **kw)

    def no_lookup(name: str) -> Any:
        def refuse(*args: Any, **kw: Any) -> Any:
            violations.append(f"{name}{args!r}")
            raise socket.gaierror(socket.EAI_NONAME, "no_egress")

        return refuse

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)

    def loopback_name(address: str) -> Any:
        # A server binding 127.0.0.1 asks for its own name (http.server calls getfqdn): answered
        # here, so not even a reverse lookup reaches the system resolver.
        if address in LOOPBACKS:
            return ("localhost", [], [address])
        return no_lookup("gethostbyaddr")(address)

    for name in ("gethostbyname", "gethostbyname_ex"):
        monkeypatch.setattr(socket, name, no_lookup(name))
    monkeypatch.setattr(socket, "gethostbyaddr", loopback_name)
    yield violations
    violations.check()


@pytest.fixture
def net(no_egress: Violations) -> Iterator[Net]:
    n = Net(no_egress)
    yield n
    bad = [h for h in n.connected_hosts if h != LOOPBACK]
    assert not bad, f"the guard let a connection through to {bad}"


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    """A threaded loopback server of the test's own: a slow response does not hold up the others."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture(scope="module")
def loop_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host=LOOPBACK, port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def server(loop_server: HTTPServer) -> Iterator[HTTPServer]:
    loop_server.clear()
    yield loop_server
    loop_server.clear()


class QuietServer(ThreadingHTTPServer):
    """``HTTPServer.server_bind`` calls ``socket.getfqdn``: a reverse lookup we do not want."""

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = LOOPBACK, self.server_address[1]


class KeepAliveServer:
    """A tiny HTTP/1.1 keep-alive server on 127.0.0.1 (werkzeug always closes connections).

    ``/close`` answers and then drops the connection *without* saying so, as idle-timeout
    servers do; ``/garbage`` answers with bytes that are not HTTP.
    """

    def __init__(self) -> None:
        self.connections = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                outer.connections += 1
                super().setup()

            def do_GET(self) -> None:
                if self.path == "/garbage":
                    self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff\r\n\r\n")
                    self.close_connection = True
                    return
                body = self.path.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = self.path == "/close"

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = QuietServer((LOOPBACK, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def keepalive_server() -> Iterator[KeepAliveServer]:
    srv = KeepAliveServer()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throwaway self-signed certificate for ``tls.test`` (openssl CLI), as (cert, key) paths."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available")
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "1",
            "-subj",
            "/CN=tls.test",
            "-addext",
            "subjectAltName=DNS:tls.test",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_server(tls_cert: tuple[str, str]) -> Iterator[HTTPServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_cert)
    server = HTTPServer(host=LOOPBACK, port=0, ssl_context=context, threaded=True)
    server.start()
    server.expect_request("/secure").respond_with_data(b"over tls")
    yield server
    server.clear()
    server.stop()
