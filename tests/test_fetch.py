"""Fetcher and fetch_all against a real server on 127.0.0.1 (pytest-httpserver, threaded).

Every test runs under ``no_egress`` and the ``net`` fixture: a socket-level guard plus a
loopback-only network backend and a stub resolver, so a guard failure fails the test instead of
sending a packet anywhere (see tests/fetch_fixtures.py).
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
import tracemalloc
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest
from fetch_fixtures import LOOP, Net
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from provscan.errors import ConfigError
from provscan.net.fetch import STATUSES, FetchPolicy, fetch_all


def hits(server: HTTPServer, path: str) -> int:
    return sum(1 for request, _ in server.log if request.path == path)


def test_ok_body_and_request_headers(net: Net, server: HTTPServer) -> None:
    server.expect_request("/ok").respond_with_data(b"hello", content_type="image/jpeg")
    r = net.get(server.url_for("/ok"))
    assert (r.status, r.http_status, r.body, r.error) == ("ok", 200, b"hello", None)
    assert r.final_url == server.url_for("/ok") and ("content-type", "image/jpeg") in r.headers
    sent = server.log[0][0].headers
    assert sent["User-Agent"] == LOOP.user_agent and sent["Accept-Encoding"] == "gzip, deflate"


def test_404_is_final_and_not_retried(net: Net, server: HTTPServer) -> None:
    server.expect_request("/missing").respond_with_data(b"no", status=404)
    r = net.get(server.url_for("/missing"))
    assert (r.status, r.http_status, r.body) == ("http_404", 404, None)
    assert hits(server, "/missing") == 1


def test_500_then_200_is_retried(net: Net, server: HTTPServer) -> None:
    server.expect_oneshot_request("/flaky").respond_with_data(b"down", status=500)
    server.expect_request("/flaky").respond_with_data(b"up")
    r = net.get(server.url_for("/flaky"))
    assert (r.status, r.body) == ("ok", b"up")
    assert hits(server, "/flaky") == 2


def test_persistent_500_ends_after_the_retries(net: Net, server: HTTPServer) -> None:
    server.expect_request("/down").respond_with_data(b"", status=503)
    r = net.get(server.url_for("/down"), replace(LOOP, retries=2))
    assert (r.status, r.http_status) == ("http_503", 503)
    assert hits(server, "/down") == 3


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every ``asyncio.sleep`` delay asked for (and still slept): waits are checked by what the code
    asked for, not by a wall clock that a loaded machine stretches."""
    asked: list[float] = []
    real = asyncio.sleep

    async def recording(delay: float, *args: object, **kw: object) -> object:
        asked.append(delay)
        return await real(delay, *args, **kw)

    monkeypatch.setattr(asyncio, "sleep", recording)
    return asked


def test_429_honours_retry_after(net: Net, server: HTTPServer, sleeps: list[float]) -> None:
    server.expect_oneshot_request("/busy").respond_with_data(b"", status=429, headers={"Retry-After": "1"})
    server.expect_request("/busy").respond_with_data(b"done")
    start = time.monotonic()
    r = net.get(server.url_for("/busy"))
    assert (r.status, r.body) == ("ok", b"done") and hits(server, "/busy") == 2
    assert 1.0 in sleeps  # backoff alone would ask for 0.01 s
    assert time.monotonic() - start >= 0.9  # and it really waited (a lower bound: load cannot break it)


def test_retry_after_beyond_the_budget_gives_up_at_once(net: Net, server: HTTPServer, sleeps: list[float]) -> None:
    server.expect_request("/later").respond_with_data(b"", status=429, headers={"Retry-After": "3600"})
    r = net.get(server.url_for("/later"), replace(LOOP, total_timeout=3.0))
    assert r.status == "http_429" and hits(server, "/later") == 1
    assert not [d for d in sleeps if d > 0]  # no wait at all: waiting would outlive the budget


def _settle(server: HTTPServer, requests: int) -> None:
    """Wait (bounded) until the server logged ``requests`` requests: a handler still running after
    its test would log into the next test's ``server.log``."""
    for _ in range(500):
        if len(server.log) >= requests:
            return
        time.sleep(0.01)


def test_slow_first_byte_is_a_read_timeout(net: Net, server: HTTPServer) -> None:
    # The answer comes only after the fetch has returned (or 5 s, the total budget): only the
    # 0.2 s read timeout can end it.
    answered = threading.Event()
    server.expect_request("/slow").respond_with_handler(lambda req: (answered.wait(5.0), Response("late"))[1])
    try:
        r = net.get(server.url_for("/slow"), replace(LOOP, read_timeout=0.2, retries=0))
    finally:
        answered.set()
        _settle(server, 1)
    assert r.status == "timeout" and r.body is None
    assert "total timeout" not in (r.error or "")


def test_slow_drip_ends_at_the_total_timeout(net: Net, server: HTTPServer) -> None:
    done = threading.Event()

    def drip(request: Request) -> Response:
        def chunks():  # each byte arrives well within read_timeout; only the total budget stops it
            for _ in range(100):  # 10 s of drip (until the test is over): read to the end, it would be "ok"
                if done.is_set():
                    return
                yield b"x"
                time.sleep(0.1)

        return Response(chunks(), mimetype="application/octet-stream")

    server.expect_request("/drip").respond_with_handler(drip)
    start = time.monotonic()
    try:
        r = net.get(server.url_for("/drip"), replace(LOOP, read_timeout=0.5, total_timeout=0.8))
    finally:
        done.set()
    elapsed = time.monotonic() - start
    assert (r.status, r.body) == ("timeout", None) and "total timeout 0.8s" in (r.error or "")
    assert elapsed >= 0.7  # not before the budget (a lower bound: load cannot break it)


def test_oversized_content_length_is_rejected_before_reading(net: Net, server: HTTPServer) -> None:
    server.expect_request("/big").respond_with_data(b"x" * 5000)
    r = net.get(server.url_for("/big"), max_bytes=1000)
    assert (r.status, r.body) == ("too_large", None) and "Content-Length 5000" in (r.error or "")


def test_oversized_chunked_body_without_length_is_cut_off(net: Net, server: HTTPServer) -> None:
    server.expect_request("/stream").respond_with_handler(lambda req: Response(iter([b"y" * 1000] * 10)))
    r = net.get(server.url_for("/stream"), replace(LOOP, max_bytes=2500))
    assert (r.status, r.body) == ("too_large", None) and "exceeds 2500" in (r.error or "")
    assert not r.header_values("content-length")
    ok = net.get(server.url_for("/stream"), max_bytes=10_000)
    assert ok.status == "ok" and ok.body == b"y" * 10_000  # the cap, not chunking, refused it


def test_range_bytes_asks_for_a_prefix_and_truncates_servers_that_ignore_it(net: Net, server: HTTPServer) -> None:
    server.expect_request("/img").respond_with_data(b"z" * 5000)
    r = net.get(server.url_for("/img"), range_bytes=100)
    assert (r.status, r.body) == ("ok", b"z" * 100)
    assert server.log[0][0].headers["Range"] == "bytes=0-99"


def test_gzip_bomb_is_refused_with_bounded_memory(net: Net, server: HTTPServer) -> None:
    bomb = gzip.compress(b"\0" * 100_000_000)
    assert len(bomb) < 200_000
    server.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        r = net.get(server.url_for("/bomb"), max_bytes=1_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (r.status, r.body) == ("too_large", None) and "decoded" in (r.error or "")
    assert peak < 25_000_000  # 100 MB of zeros were never materialised (peak includes the server thread)


@pytest.mark.parametrize("encoding", ["gzip", "deflate-zlib", "deflate-raw"])
def test_compressed_bodies_are_decoded(net: Net, server: HTTPServer, encoding: str) -> None:
    plain = b"provenance " * 500
    if encoding == "gzip":
        data = gzip.compress(plain)
    elif encoding == "deflate-zlib":
        data = zlib.compress(plain)
    else:
        z = zlib.compressobj(wbits=-15)
        data = z.compress(plain) + z.flush()
    server.expect_request("/z").respond_with_data(data, headers={"Content-Encoding": encoding.split("-")[0]})
    r = net.get(server.url_for("/z"))
    assert (r.status, r.body) == ("ok", plain)


def test_unsupported_content_encoding_is_an_error_not_garbage(net: Net, server: HTTPServer) -> None:
    server.expect_request("/br").respond_with_data(b"\x0b\x02\x80hi\x03", headers={"Content-Encoding": "br"})
    r = net.get(server.url_for("/br"))
    assert r.status == "error" and "content-encoding" in (r.error or "") and r.body is None


def test_redirect_chain_is_followed(net: Net, server: HTTPServer) -> None:
    server.expect_request("/r1").respond_with_data(b"", status=302, headers={"Location": "/r2"})
    server.expect_request("/r2").respond_with_data(b"", status=301, headers={"Location": server.url_for("/end")})
    server.expect_request("/end").respond_with_data(b"landed")
    r = net.get(server.url_for("/r1"))
    assert (r.status, r.body, r.final_url) == ("ok", b"landed", server.url_for("/end"))


def test_redirect_loop_stops_at_max_redirects(net: Net, server: HTTPServer) -> None:
    server.expect_request("/loop").respond_with_data(b"", status=307, headers={"Location": "/loop"})
    r = net.get(server.url_for("/loop"), replace(LOOP, max_redirects=3))
    assert r.status == "too_many_redirects"
    assert hits(server, "/loop") == 4


def test_redirect_to_a_name_resolving_private_is_refused_without_connecting(net: Net, server: HTTPServer) -> None:
    net.resolver.table["evil.test"] = ["10.0.0.5"]
    evil = f"http://evil.test:{server.port}/steal"
    server.expect_request("/to-evil").respond_with_data(b"", status=302, headers={"Location": evil})
    r = net.get(server.url_for("/to-evil"))
    assert (r.status, r.final_url) == ("refused_private", evil) and "10.0.0.5" in (r.error or "")
    assert net.resolver.calls == ["evil.test"]
    assert net.backend.connects == [("127.0.0.1", server.port)]  # only the first hop


def test_redirect_to_metadata_literal_is_refused_before_dns(net: Net, server: HTTPServer) -> None:
    server.expect_request("/to-meta").respond_with_data(
        b"", status=301, headers={"Location": "http://0xa9fea9fe/latest/meta-data/"}
    )
    r = net.get(server.url_for("/to-meta"))
    assert r.status == "refused_private" and "169.254.169.254" in (r.error or "")
    assert net.resolver.calls == [] and net.connected_hosts == {"127.0.0.1"}


def test_dns_rebinding_to_metadata_is_caught_at_connect(net: Net, server: HTTPServer) -> None:
    # The name is not a literal, so only the connect-time check can see where it points.
    net.resolver.table["rebind.test"] = ["169.254.169.254"]
    r = net.get(f"http://rebind.test:{server.port}/x")
    assert r.status == "refused_private" and net.backend.connects == []


def test_only_the_checked_address_is_connected_to(net: Net, server: HTTPServer) -> None:
    net.resolver.table["multi.test"] = ["10.0.0.5", "169.254.169.254", "127.0.0.1"]
    server.expect_request("/m").respond_with_data(b"via loopback")
    r = net.get(f"http://multi.test:{server.port}/m")
    assert (r.status, r.body) == ("ok", b"via loopback")
    assert net.backend.connects == [("127.0.0.1", server.port)]
    assert server.log[0][0].headers["Host"] == f"multi.test:{server.port}"  # the name, not the IP


def test_redirect_check_blocks_a_hop(net: Net, server: HTTPServer) -> None:
    seen: list[str] = []

    def check(url: str) -> str | None:
        seen.append(url)
        return "url_blocklist: example-list" if "/blocked" in url else None

    server.expect_request("/hop").respond_with_data(b"", status=302, headers={"Location": "/blocked"})
    server.expect_request("/blocked").respond_with_data(b"secret")
    r = net.get(server.url_for("/hop"), redirect_check=check)
    assert (r.status, r.error, r.final_url) == (
        "blocked_redirect",
        "url_blocklist: example-list",
        server.url_for("/blocked"),
    )
    assert seen == [server.url_for("/blocked")]  # hops only: the start URL is the caller's business
    assert hits(server, "/blocked") == 0


def test_redirect_to_another_scheme_is_refused(net: Net, server: HTTPServer) -> None:
    server.expect_request("/to-file").respond_with_data(b"", status=302, headers={"Location": "file:///etc/passwd"})
    r = net.get(server.url_for("/to-file"))
    assert r.status == "refused_scheme" and (r.final_url or "").startswith("file:")


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "javascript:alert(1)", "gopher://127.0.0.1:70/"]
)
def test_non_http_schemes_are_refused(net: Net, url: str) -> None:
    assert net.get(url).status == "refused_scheme"
    assert net.backend.connects == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://0xa9fea9fe/",
        "http://0251.0376.0251.0376/",
        "http://169.254.43518/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/",
        "http://[::1]:8080/",
        "http://10.1/",
        "http://100.64.0.1/",
        "http://0/",
    ],
)
def test_forbidden_ip_literals_are_refused_without_any_connection(net: Net, url: str) -> None:
    r = net.get(url, FetchPolicy(retries=0))
    assert r.status == "refused_private", r
    assert net.resolver.calls == [] and net.backend.connects == []


def test_default_policy_refuses_loopback_and_allow_cidrs_opens_it(net: Net, server: HTTPServer) -> None:
    server.expect_request("/ok").respond_with_data(b"fine")
    refused = net.get(server.url_for("/ok"), FetchPolicy())
    assert refused.status == "refused_private" and "loopback" in (refused.error or "")
    net.resolver.table["localhost.test"] = ["127.0.0.1"]
    assert net.get(f"http://localhost.test:{server.port}/ok", FetchPolicy()).status == "refused_private"
    assert net.backend.connects == [] and hits(server, "/ok") == 0
    assert net.get(server.url_for("/ok"), replace(FetchPolicy(), allow_cidrs=("127.0.0.0/8",))).body == b"fine"


def test_connect_error_is_retried(net: Net) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = net.get(f"http://127.0.0.1:{port}/", replace(LOOP, retries=2))
    assert r.status == "connect_error" and len(net.backend.connects) == 3


def test_dns_error(net: Net) -> None:
    r = net.get("http://nx.test/a.jpg")
    assert r.status == "dns_error" and "nx.test" in (r.error or "") and net.backend.connects == []


def test_tls_handshake_against_plain_http_is_a_tls_error(net: Net, server: HTTPServer) -> None:
    r = net.get(server.url_for("/ok").replace("http://", "https://"), replace(LOOP, retries=0))
    assert r.status == "tls_error", r


@pytest.mark.parametrize("url", ["http://", "http://exa[mple.com/", "http://999.1.1.1/", "http://[::1/", "", "//x"])
def test_invalid_urls(net: Net, url: str) -> None:
    assert net.get(url).status == "invalid_url"
    assert net.backend.connects == []


def test_head_has_no_body(net: Net, server: HTTPServer) -> None:
    server.expect_request("/h", method="HEAD").respond_with_data(b"", headers={"X-Robots-Tag": "noai"})
    r = net.get(server.url_for("/h"), head=True)
    assert (r.status, r.body, r.header_values("X-Robots-Tag")) == ("ok", None, ["noai"])
    assert server.log[0][0].method == "HEAD"


def test_repeated_headers_are_kept_in_order(net: Net, server: HTTPServer) -> None:
    tags = ["noai", "noimageai", "googlebot: none", "provscan: noindex"]
    server.expect_request("/tags").respond_with_response(Response(b"x", headers=[("X-Robots-Tag", t) for t in tags]))
    r = net.get(server.url_for("/tags"))
    assert r.header_values("x-robots-tag") == tags
    assert [v for k, v in r.headers if k == "x-robots-tag"] == tags


def test_text_helper_for_robots_txt_uses_the_charset(net: Net, server: HTTPServer) -> None:
    server.expect_request("/robots.txt").respond_with_data(
        "User-agent: *\nDisallow: /café\n".encode("latin-1"), content_type="text/plain; charset=iso-8859-1"
    )
    r = net.get(server.url_for("/robots.txt"), max_bytes=500_000)
    assert r.text() == "User-agent: *\nDisallow: /café\n"

    server.expect_request("/nope").respond_with_data(b"", status=404)

    async def via_get_text() -> tuple:  # the shape consent.GetText expects
        async with net.fetcher() as f:
            return await f.get_text(server.url_for("/robots.txt")), await f.get_text(server.url_for("/nope"))

    found, missing = asyncio.run(via_get_text())
    assert found == ("ok", 200, "User-agent: *\nDisallow: /café\n") and missing[:2] == ("http_404", 404)


def test_cookies_are_never_sent_back(net: Net, server: HTTPServer) -> None:
    server.expect_request("/c").respond_with_data(b"", headers={"Set-Cookie": "track=1; Path=/"})

    async def twice() -> None:
        async with net.fetcher() as f:
            await f.get(server.url_for("/c"))
            await f.get(server.url_for("/c"))

    asyncio.run(twice())
    assert [req.headers.get("Cookie") for req, _ in server.log] == [None, None]


@pytest.mark.parametrize(
    "change",
    [
        {"concurrency": 0},
        {"per_host": -1},
        {"total_timeout": 0},
        {"retries": -1},
        {"max_bytes": 0},
        {"allow_cidrs": ("300.0.0.0/8",)},
        {"allow_cidrs": "127.0.0.0/8"},
        {"user_agent": "a\r\nX-Evil: 1"},
        {"concurrency": "64"},
        {"per_host": 2.5},
        {"read_timeout": float("nan")},
        {"backoff": -1},
        {"retries": True},
    ],
)
def test_bad_policies_are_config_errors(change: dict) -> None:
    with pytest.raises(ConfigError):
        FetchPolicy(**change)


def concurrency_probe() -> tuple[dict, object]:
    state = {"now": Counter(), "max": Counter(), "all": 0, "max_all": 0}
    lock = threading.Lock()

    def handler(request: Request) -> Response:
        host = request.headers["Host"].split(":")[0]
        with lock:
            state["now"][host] += 1
            state["all"] += 1
            state["max"][host] = max(state["max"][host], state["now"][host])
            state["max_all"] = max(state["max_all"], state["all"])
        time.sleep(0.15)
        with lock:
            state["now"][host] -= 1
            state["all"] -= 1
        return Response(b"c")

    return state, handler


def test_concurrency_bound_is_respected(net: Net, server: HTTPServer) -> None:
    state, handler = concurrency_probe()
    server.expect_request("/c").respond_with_handler(handler)
    items = ((i, server.url_for("/c")) for i in range(12))
    out = list(
        fetch_all(
            items,
            replace(LOOP, concurrency=3),
            lambda k, r: r.status,
            resolver=net.resolver,
            network_backend=net.backend,
        )
    )
    assert sorted(out) == [(i, "ok") for i in range(12)]
    assert state["max_all"] == 3  # reached, never exceeded


def test_per_host_bound_is_respected(net: Net, server: HTTPServer) -> None:
    state, handler = concurrency_probe()
    server.expect_request("/c").respond_with_handler(handler)
    net.resolver.table.update({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    items = [(i, f"http://{'ab'[i % 2]}.test:{server.port}/c") for i in range(16)]
    out = list(
        fetch_all(
            items,
            replace(LOOP, concurrency=8, per_host=2),
            lambda k, r: r.status,
            resolver=net.resolver,
            network_backend=net.backend,
        )
    )
    assert len(out) == 16 and {s for _, s in out} == {"ok"}
    assert state["max"]["a.test"] == 2 and state["max"]["b.test"] == 2 and state["max_all"] <= 4


PATHS = {"/ok": "ok", "/gone": "http_404", "/boom": "http_500", "/far": "ok"}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(sorted(PATHS)), max_size=40), st.integers(1, 6))
def test_fetch_all_yields_every_item_exactly_once(
    net: Net, loop_server: HTTPServer, paths: list[str], conc: int
) -> None:
    loop_server.clear()
    loop_server.expect_request("/ok").respond_with_data(b"ok")
    loop_server.expect_request("/gone").respond_with_data(b"", status=404)
    loop_server.expect_request("/boom").respond_with_data(b"", status=500)
    loop_server.expect_request("/far").respond_with_data(b"", status=302, headers={"Location": "/ok"})
    items = [((i, p), loop_server.url_for(p)) for i, p in enumerate(paths)]
    policy = replace(LOOP, concurrency=conc, retries=1, backoff=0.0)
    out = list(
        fetch_all(
            iter(items), policy, lambda k, r: r.status, resolver=net.resolver, network_backend=net.backend, workers=2
        )
    )
    assert Counter(k for k, _ in out) == Counter(k for k, _ in items)
    assert all(status == PATHS[path] and status in STATUSES | {"http_404", "http_500"} for (_, path), status in out)


def test_fetch_all_consumes_items_lazily(net: Net, server: HTTPServer) -> None:
    server.expect_request("/ok").respond_with_data(b"ok")
    pulled = 0

    def rows():
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield i, server.url_for("/ok")

    gen = fetch_all(
        rows(),
        replace(LOOP, concurrency=2),
        lambda k, r: k,
        resolver=net.resolver,
        network_backend=net.backend,
        workers=1,
    )
    first = next(gen)
    gen.close()
    assert first[0] in range(10) and pulled <= 2 + 4 * 1 + 1  # the window, not 10 000


def test_fetch_all_runs_handle_on_the_executor_and_propagates_its_errors(net: Net, server: HTTPServer) -> None:
    server.expect_request("/ok").respond_with_data(b"ok")
    threads: set[str] = set()

    def handle(key: int, result) -> int:
        threads.add(threading.current_thread().name)
        if key == 3:
            raise RuntimeError("decoder exploded")
        return key

    with ThreadPoolExecutor(2, thread_name_prefix="caller-pool") as pool:
        with pytest.raises(RuntimeError, match="decoder exploded"):
            for _ in fetch_all(
                ((i, server.url_for("/ok")) for i in range(6)),
                LOOP,
                handle,
                resolver=net.resolver,
                network_backend=net.backend,
                executor=pool,
            ):
                pass
    assert threads and all(t.startswith("caller-pool") for t in threads)
    time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name == "provscan-fetch"]  # loop thread shut down


def test_keep_alive_connections_are_reused_and_stale_ones_replaced(net: Net, keepalive_server) -> None:
    async def sequence() -> list:
        async with net.fetcher() as f:
            out = [await f.get(keepalive_server.url(f"/k{i}")) for i in range(4)]
            out.append(await f.get(keepalive_server.url("/close")))  # server drops it silently
            await asyncio.sleep(0.1)  # let the FIN arrive while the connection sits idle in the pool
            out.append(await f.get(keepalive_server.url("/after")))
            return out

    results = asyncio.run(sequence())
    assert [r.body for r in results] == [b"/k0", b"/k1", b"/k2", b"/k3", b"/close", b"/after"]
    assert keepalive_server.connections == 2  # one for /k0../close, a fresh one after the drop


def test_a_non_http_answer_is_an_error_status_not_an_exception(net: Net, keepalive_server) -> None:
    r = net.get(keepalive_server.url("/garbage"), replace(LOOP, retries=0))
    assert r.status == "error" and "Protocol" in (r.error or "") and r.body is None


def test_nonpositive_byte_limits_are_config_errors(net: Net) -> None:
    async def go(**kw) -> None:
        async with net.fetcher() as f:
            await f.get("http://127.0.0.1:9/", **kw)

    for kw in ({"max_bytes": 0}, {"range_bytes": -1}):
        with pytest.raises(ConfigError):
            asyncio.run(go(**kw))
    assert net.backend.connects == []


def test_one_header_normaliser_for_every_shape() -> None:
    """net/headers: httpx.Headers, mappings and pairs give the same lower-cased instances, in order."""
    from provscan.net.headers import header_pairs, header_values

    pairs = [("X-Robots-Tag", "noai"), ("Content-Type", "image/png"), ("x-robots-tag ", "bot: noimageai")]
    expected = (("x-robots-tag", "noai"), ("content-type", "image/png"), ("x-robots-tag", "bot: noimageai"))
    assert header_pairs(pairs) == expected
    assert header_pairs(httpx.Headers(pairs)) == tuple((k.strip(), v) for k, v in expected)
    assert header_pairs({"TDM-Reservation": "1", "Server": "x"}, ("tdm-reservation",)) == (("tdm-reservation", "1"),)
    assert header_values(iter(pairs), "X-ROBOTS-TAG") == ["noai", "bot: noimageai"]
