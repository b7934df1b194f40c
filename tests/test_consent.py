"""Consent signals: X-Robots-Tag, TDMRep (headers + tdmrep.json), robots.txt, and the per-origin cache.

Everything is pure except the last tests, which run a loopback server (127.0.0.1 only) and an
httpx client defined *in the test* to stand in for provscan's fetcher.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from pytest_httpserver import HTTPServer

from provscan.consent.signals import (
    AI_DIRECTIVES,
    DEFAULT_AI_AGENTS,
    INDEX_DIRECTIVES,
    ConsentCache,
    origin_of,
    path_of,
    x_robots_signals,
)
from provscan.consent.robots import MAX_BYTES, PathPattern, parse_robots, robots_outcome
from provscan.consent.tdmrep import TdmDecl, TdmRep, TdmRepInvalid, parse_tdmrep_json, resolve_tdm, tdm_header_signals

US = ["provscanbot", "img2dataset"]


# --- X-Robots-Tag ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["noai"], ["noai"]),
        (["NoImageAI, NOAI"], ["noai", "noimageai"]),  # output in configured order, case-folded
        (["noindex", "noimageai"], ["noimageai"]),  # several header instances
        (["noindex, nofollow"], []),  # index family is off by default
        (["ProvscanBot: noai"], ["noai"]),  # scoped to us (case-insensitive)
        ([" img2dataset : noimageai "], ["noimageai"]),  # spaces around the scope token
        (["googlebot: noai"], []),  # scoped to someone else
        (["otherbot: noindex, noai"], []),  # a scope covers the rest of its instance
        (["noai, otherbot: noimageai"], ["noai"]),  # unscoped before the scope applies to all
        (["otherbot: noai", "noimageai"], ["noimageai"]),  # scopes do not leak across instances
        (["unavailable_after: 25 Jun 2010 15:00:00 PST, noai"], ["noai"]),  # not a user agent
        (["unavailable_after: Friday, 25-Jun-10 15:00:00 PST", "max-image-preview: none"], []),
        (["googlebot: unavailable_after: 2025-01-01, noai"], []),
        ([], []),
        ([""], []),
        ([":::, ,, :"], []),
        (["noai-please"], []),
    ],
)
def test_x_robots_tag(values: list[str], expected: list[str]) -> None:
    assert x_robots_signals(values, US) == [f"x-robots-tag:{d}" for d in expected]


def test_x_robots_index_family_when_configured() -> None:
    directives = AI_DIRECTIVES + INDEX_DIRECTIVES
    assert x_robots_signals(["noindex", "provscanbot: none"], US, directives) == [
        "x-robots-tag:noindex",
        "x-robots-tag:none",
    ]
    assert x_robots_signals(["googlebot: noimageindex"], US, directives) == []


# --- TDMRep headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"tdm-reservation": "1"}, ["tdmrep:reserved"]),
        (
            {"TDM-Reservation": " 1 ", "tdm-policy": "https://p.example/policy.json"},
            ["tdmrep:reserved", "tdmrep:policy=https://p.example/policy.json"],
        ),
        ({"tdm-reservation": "0", "tdm-policy": "https://p.example/policy.json"}, []),  # policy ignored when 0
        ([("tdm-reservation", "1"), ("tdm-reservation", "1")], ["tdmrep:reserved"]),
        ([("tdm-reservation", "1"), ("tdm-reservation", "0")], ["tdmrep:protocol-error"]),  # conflicting instances
        ({"tdm-reservation": "1, 1"}, ["tdmrep:reserved"]),  # a client that comma-joined instances
        ({"tdm-reservation": "yes"}, ["tdmrep:protocol-error"]),
        ({"tdm-reservation": "2"}, ["tdmrep:protocol-error"]),
        ({"tdm-reservation": ""}, ["tdmrep:protocol-error"]),
        ({"content-type": "image/jpeg", "tdm-policy": "https://p.example/x"}, []),
    ],
)
def test_tdm_header_signals(headers: object, expected: list[str]) -> None:
    assert tdm_header_signals(headers) == expected  # type: ignore[arg-type]


def test_tdm_headers_from_httpx_headers_keep_every_instance() -> None:
    headers = httpx.Headers([("tdm-reservation", "1"), ("TDM-RESERVATION", "0")])
    assert tdm_header_signals(headers) == ["tdmrep:protocol-error"]
    assert tdm_header_signals(httpx.Headers({"Tdm-Reservation": "1"})) == ["tdmrep:reserved"]


# --- tdmrep.json ----------------------------------------------------------------------------------

SPEC_EXAMPLE = b"""[
  {"location": "/directory-a/", "tdm-reservation": 1},
  {"location": "/directory-b/html/", "tdm-reservation": 1, "tdm-policy": "https://provider.com/policies/policy.json"},
  {"location": "/directory-b/images/*.jpg", "tdm-reservation": 0}
]"""


def parse_ok(data: bytes) -> TdmRep:
    parsed = parse_tdmrep_json(data)
    assert isinstance(parsed, TdmRep), parsed
    return parsed


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/directory-a/report.pdf", (True, None)),
        ("/directory-b/html/page.html?x=1", (True, "https://provider.com/policies/policy.json")),
        ("/directory-b/images/cat.jpg", (False, None)),
        ("/directory-b/images/sub/cat.jpg.png", (False, None)),  # no $: a prefix match, like robots.txt
        ("/directory-b/images/cat.png", None),
        ("/Directory-a/report.pdf", None),  # case-sensitive
        ("/", None),
    ],
)
def test_tdmrep_spec_example(path: str, expected: tuple[bool, str | None] | None) -> None:
    rep = parse_ok(SPEC_EXAMPLE)
    assert rep.errors == ()
    assert rep.lookup(path) == expected


def test_tdmrep_first_matching_rule_wins_not_the_longest() -> None:
    rep = parse_ok(b'[{"location": "/a/", "tdm-reservation": 0}, {"location": "/a/b/", "tdm-reservation": 1}]')
    assert rep.lookup("/a/b/c.jpg") == (False, None)
    rep = parse_ok(b'[{"location": "/a/b/", "tdm-reservation": 1}, {"location": "/a/", "tdm-reservation": 0}]')
    assert rep.lookup("/a/b/c.jpg") == (True, None)
    assert rep.lookup("/a/c.jpg") == (False, None)


@pytest.mark.parametrize(
    ("location", "path", "matches"),
    [
        ("/exact$", "/exact", True),
        ("/exact$", "/exact/more", False),
        ("/*.jpg$", "/x/y.jpg", True),
        ("/*.jpg$", "/x/y.jpg?s=1", False),
        ("*", "/anything", True),
        ("/a*b*c", "/a-b-xc-tail", True),
        ("/a*b*c", "/a-c-b", False),
        ("/caf%C3%A9/", "/café/1.jpg", True),
        ("/%7Euser/", "/~user/x", True),
        ("/~user/", "/%7euser/x", True),
        ("/path/foo-%24", "/path/foo-$", True),
        ("/path/foo-$", "/path/foo-$", False),
        ("/a%2fb", "/a/b", False),  # an encoded reserved character stays distinct
    ],
)
def test_tdmrep_location_patterns(location: str, path: str, matches: bool) -> None:
    rep = parse_ok(f'[{{"location": "{location}", "tdm-reservation": 1}}]'.encode())
    assert (rep.lookup(path) is not None) is matches


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b'[{"location": "/", "tdm-reservation": 1}', "tdmrep:invalid"),  # truncated JSON
        (b'{"location": "/", "tdm-reservation": 1}', "tdmrep:invalid"),  # an object, not an array
        (b"[" * 100_000 + b"]" * 100_000, "tdmrep:invalid"),  # nesting bomb: no RecursionError escapes
        (b"<!doctype html><title>Not found</title>", "tdmrep:not-json"),  # soft 404
        (b"\xff\xfe\x00[", "tdmrep:not-json"),
        (b"", "tdmrep:not-json"),
    ],
)
def test_tdmrep_unusable_files(data: bytes, status: str) -> None:
    parsed = parse_tdmrep_json(data)
    assert isinstance(parsed, TdmRepInvalid)
    assert parsed.status == status and parsed.reason


def test_tdmrep_wrong_types_are_reported_and_never_read_as_reserved() -> None:
    rep = parse_ok(
        b'\xef\xbb\xbf[ "not a rule", {"tdm-reservation": 1}, {"location": 5, "tdm-reservation": 1},'
        b' {"location": "images/", "tdm-reservation": 1},'
        b' {"location": "/s/", "tdm-reservation": "1"}, {"location": "/b/", "tdm-reservation": true},'
        b' {"location": "/f/", "tdm-reservation": 1.0}, {"location": "/p/", "tdm-reservation": 1, "tdm-policy": 7},'
        b' {"location": "/", "tdm-reservation": 1}]'
    )
    assert [r.location for r in rep.rules] == ["/s/", "/b/", "/f/", "/p/", "/"]
    assert len(rep.errors) == 8 and rep.errors[0].startswith("rule 0:")
    for path in ("/s/x", "/b/x", "/f/x"):  # erroneous first match -> unset, even though "/" says 1
        assert rep.lookup(path) is None
        assert rep.match(path) is not None and rep.match(path).reservation is None  # type: ignore[union-attr]
    assert rep.lookup("/p/x") == (True, None)  # bad policy dropped, reservation kept
    assert rep.lookup("/other") == (True, None)
    assert parse_ok(b"[]").lookup("/x") is None


def test_header_supersedes_file() -> None:
    file_decl = TdmDecl(True, "https://p.example/file")
    assert resolve_tdm(file_decl, TdmDecl(False, None)) == (False, None)
    assert resolve_tdm(file_decl, None) == file_decl
    assert resolve_tdm(None, None) is None


# --- robots.txt -----------------------------------------------------------------------------------

RFC_LIKE = """\
User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot
"""  # modelled on RFC 9309 section 5.1


@pytest.mark.parametrize(
    ("agent", "path", "allowed"),
    [
        ("anybot", "/example/x", False),
        ("anybot", "/publications/a.html", True),
        ("anybot", "/img/x.gif", False),
        ("anybot", "/img/x.gif?v=1", True),
        ("anybot", "/", True),
        ("FooBot", "/example/page.html", True),
        ("foobot", "/example/allowed.gif", True),
        ("foobot", "/other", False),
        ("barbot", "/example/page.html", False),
        ("bazbot", "/example/page.html", False),
        ("bazbot", "/example/x", True),
        ("quxbot", "/example/x", True),  # its own empty group: no fallback to *
        ("foobot", "/robots.txt", True),  # always allowed
    ],
)
def test_robots_rfc_example(agent: str, path: str, allowed: bool) -> None:
    assert parse_robots(RFC_LIKE).allowed(agent, path) is allowed


@pytest.mark.parametrize(
    ("text", "agent", "path", "allowed"),
    [
        ("", "gptbot", "/x", True),
        ("User-agent: *\nDisallow:\n", "gptbot", "/x", True),  # empty disallow matches nothing
        ("User-agent: *\nDisallow: /\n", "gptbot", "/x", False),
        ("User-agent: GPTBot\nDisallow: /\n", "ccbot", "/x", True),  # only that agent
        ("User-agent: GPTBot/1.1\nDisallow: /\n", "gptbot", "/x", False),  # version suffix dropped
        ("USER-AGENT: img2dataset\nDISALLOW: /\n", "IMG2DATASET", "/x", False),  # digits kept in tokens
        ("User-agent: img\nDisallow: /\n", "img2dataset", "/x", True),
        ("User-agent: a\nUser-agent: b\nDisallow: /p\n", "b", "/p/1", False),  # one group, two agents
        ("User-agent: a\nDisallow: /p\nUser-agent: a\nDisallow: /q\n", "a", "/q", False),  # groups merged
        ("Disallow: /\nUser-agent: *\nDisallow: /q\n", "x", "/p", True),  # rule before any agent ignored
        ("User-agent: a\nSitemap: /s.xml\nUser-agent: b\nDisallow: /\n", "a", "/x", False),  # sitemap ends nothing
        ("User-agent: *\nDisallow: /p\nAllow: /p\n", "x", "/p", True),  # tie: allow wins
        ("User-agent: *\nAllow: /p\nDisallow: /p/\n", "x", "/p/x", False),  # longer disallow wins
        ("User-agent: *\nDisallow: /\nAllow: /$\n", "x", "/", True),
        ("User-agent: *\nDisallow: /\nAllow: /$\n", "x", "/page", False),
        ("User-agent: *\nDisallow: /*?session=\n", "x", "/a?b=1&session=2", True),  # no & in pattern
        ("User-agent: *\nDisallow: /*session=\n", "x", "/a?b=1&session=2", False),
        ("User-agent: *\nDisallow: /~joe/\n", "x", "/%7Ejoe/a", False),
        ("User-agent: *\nDisallow: /café\n", "x", "/caf%C3%A9/1", False),
        ("User-agent: *\nDisallow: /Private\n", "x", "/private", True),  # paths are case-sensitive
        ("\ufeffUser-agent: *\r\nDisallow: /x # comment\r\n", "y", "/x/1", False),  # BOM, CRLF, comment
        ("User-agent *\nDisallow /x\n", "y", "/x", False),  # missing colons tolerated
        ("useragent: *\ndissallow: /x\n", "y", "/x", False),  # common misspellings
        ("<html>\n<body>User-agent: * Disallow: /</body>\n", "y", "/x", True),  # soft-404 HTML: nothing parseable
        ("User-agent: *\nDisallow: /x\nfoo bar baz\n::::\nAllow\n", "y", "/x", False),  # junk lines skipped
    ],
)
def test_robots_variants(text: str, agent: str, path: str, allowed: bool) -> None:
    assert parse_robots(text).allowed(agent, path) is allowed


def test_robots_any_agent_disallowed_is_a_signal() -> None:
    robots = parse_robots("User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    assert robots.disallows(["CCBot", "GPTBot"], "/a.jpg")
    assert robots.disallowed_agents(["CCBot", "GPTBot"], "/a.jpg") == ["GPTBot"]
    assert not robots.disallows(["CCBot", "Bytespider"], "/a.jpg")
    assert robots.agents == ["*", "gptbot"]


def test_robots_only_first_500_kib_parsed() -> None:
    text = "User-agent: *\n" + "# pad\n" * (MAX_BYTES // 6) + "Disallow: /late\n"
    assert parse_robots(text).allowed("x", "/late")
    assert not parse_robots("User-agent: *\nDisallow: /late\n").allowed("x", "/late")


class _CountingPath(str):
    """A path that counts the searches run on it: the cost of a match, without a wall clock."""

    searches = 0

    def find(self, *args):  # type: ignore[override]
        _CountingPath.searches += 1
        return super().find(*args)

    def startswith(self, *args):  # type: ignore[override]
        _CountingPath.searches += 1
        return super().startswith(*args)

    def endswith(self, *args):  # type: ignore[override]
        _CountingPath.searches += 1
        return super().endswith(*args)


def test_hostile_patterns_do_not_backtrack() -> None:
    # A backtracking matcher retries every split of 20 000 "a"s among 40 wildcards; this one searches
    # each literal piece once, left to right (one linear str.find per piece).
    path = _CountingPath("/" + "a" * 20_000)
    for pattern, expected in ((PathPattern("/" + "*a" * 40 + "b"), False), (PathPattern("/" + "*a" * 40 + "$"), True)):
        _CountingPath.searches = 0
        assert pattern.matches(path) is expected
        assert _CountingPath.searches <= len(pattern.pieces) + 1


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "parse"),
        (204, "parse"),
        (301, "unavailable"),
        (401, "unavailable"),
        (403, "unavailable"),
        (404, "unavailable"),
        (429, "unreachable"),
        (500, "unreachable"),
        (503, "unreachable"),
        (None, "unreachable"),
    ],
)
def test_robots_http_outcomes(status: int | None, outcome: str) -> None:
    assert robots_outcome(status) == outcome


def test_default_ai_agents_are_distinct_product_tokens() -> None:
    lowered = [a.lower() for a in DEFAULT_AI_AGENTS]
    assert len(set(lowered)) == len(lowered)
    assert {"img2dataset", "ccbot", "gptbot", "google-extended", "anthropic-ai", "claudebot", "bytespider"} <= set(
        lowered
    )
    robots = parse_robots("".join(f"User-agent: {a}\nDisallow: /\n" for a in DEFAULT_AI_AGENTS))
    assert robots.disallowed_agents(DEFAULT_AI_AGENTS, "/x") == list(DEFAULT_AI_AGENTS)


# --- origins and the cache ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("HTTP://Example.COM/a.jpg", ("http://example.com:80", "http://example.com")),
        ("http://example.com:80/b", ("http://example.com:80", "http://example.com")),
        ("https://example.com:8443/b", ("https://example.com:8443", "https://example.com:8443")),
        ("https://[2001:db8::1]/x", ("https://[2001:db8::1]:443", "https://[2001:db8::1]")),
        ("ftp://example.com/x", None),
        ("UNLIKELY", None),
        ("http://[::1/x", None),
        ("http://h:99999/x", None),
    ],
)
def test_origin_of(url: str, origin: tuple[str, str] | None) -> None:
    assert origin_of(url) == origin


def test_path_of() -> None:
    assert path_of("https://a.example/p/q.jpg?w=1#frag") == "/p/q.jpg?w=1"
    assert path_of("https://a.example") == "/"


class FakeFetcher:
    """``get_text`` stand-in: url -> (status, http_status, text); counts calls; can be slow."""

    def __init__(self, responses: dict[str, tuple[str, int | None, str | None]], delay: float = 0.0) -> None:
        self.responses = responses
        self.delay = delay
        self.calls: Counter[str] = Counter()

    async def __call__(self, url: str) -> tuple[str, int | None, str | None]:
        self.calls[url] += 1
        await asyncio.sleep(self.delay)
        return self.responses.get(url, ("ok", 404, "not found"))


SITE = "https://img.example"
ROBOTS = "User-agent: GPTBot\nDisallow: /private/\n"
TDM = '[{"location": "/reserved/", "tdm-reservation": 1, "tdm-policy": "https://img.example/tdm.json"}]'


def test_cache_fetches_each_origin_once_for_many_concurrent_rows() -> None:
    fake = FakeFetcher(
        {f"{SITE}/robots.txt": ("ok", 200, ROBOTS), f"{SITE}/.well-known/tdmrep.json": ("ok", 200, TDM)}, 0.01
    )
    cache = ConsentCache(fake)

    async def run() -> list[list[str]]:
        urls = [f"{SITE}/private/{i}.jpg" for i in range(30)] + [f"{SITE}:443/reserved/{i}.jpg" for i in range(30)]
        return await asyncio.gather(*(cache.signals(u) for u in urls))

    results = asyncio.run(run())
    assert fake.calls == {f"{SITE}/robots.txt": 1, f"{SITE}/.well-known/tdmrep.json": 1, f"{SITE}/ai.txt": 1}
    assert results[0] == ["robots:disallow"]
    assert results[-1] == ["tdmrep:reserved", "tdmrep:policy=https://img.example/tdm.json"]
    assert len(cache) == 1


@pytest.mark.parametrize(
    ("robots", "tdmrep", "expected", "statuses"),
    [
        (("ok", 404, "nope"), ("ok", 404, "nope"), [], ("unavailable", "absent")),
        (("ok", 503, "busy"), ("ok", 403, ""), ["robots:unreachable"], ("unreachable", "absent")),
        (
            ("timeout", None, None),
            ("dns_error", None, None),
            ["robots:unreachable", "tdmrep:unreachable"],
            ("unreachable", "unreachable"),
        ),
        (("ok", 200, "<html>hi</html>"), ("ok", 200, "<html>soft 404</html>"), [], ("ok", "not-json")),
        (("ok", 200, ""), ("ok", 200, '{"location": "/"}'), ["tdmrep:invalid"], ("ok", "invalid")),
        (
            ("ok", 200, "User-agent: *\nDisallow: /\n"),
            ("ok", 200, '[{"location": "/", "tdm-reservation": "1"}]'),
            ["robots:disallow", "tdmrep:protocol-error"],
            ("ok", "ok"),
        ),
    ],
)
def test_cache_statuses(robots: tuple, tdmrep: tuple, expected: list[str], statuses: tuple[str, str]) -> None:
    fake = FakeFetcher({f"{SITE}/robots.txt": robots, f"{SITE}/.well-known/tdmrep.json": tdmrep})
    cache = ConsentCache(fake)
    assert asyncio.run(cache.signals(f"{SITE}/a.jpg")) == expected
    consent = asyncio.run(cache.origin(f"{SITE}/a.jpg"))
    assert consent is not None and (consent.robots_status, consent.tdmrep_status) == statuses
    assert str(robots[1]) in consent.detail


def test_cache_merges_response_headers() -> None:
    fake = FakeFetcher({f"{SITE}/.well-known/tdmrep.json": ("ok", 200, TDM)})
    cache = ConsentCache(fake)
    headers = httpx.Headers(
        [("X-Robots-Tag", "googlebot: noai"), ("x-robots-tag", "img2dataset: noimageai"), ("tdm-reservation", "0")]
    )
    # the header's tdm-reservation: 0 supersedes the file's 1
    assert asyncio.run(cache.signals(f"{SITE}/reserved/a.jpg", headers)) == ["x-robots-tag:noimageai"]
    assert asyncio.run(cache.signals(f"{SITE}/free/a.jpg", {"tdm-reservation": "1"})) == ["tdmrep:reserved"]
    assert asyncio.run(cache.signals("UNLIKELY", {"x-robots-tag": "noai"})) == [
        "x-robots-tag:noai",
        "consent:invalid-url",
    ]


def test_cache_without_tdmrep_never_asks_for_it() -> None:
    fake = FakeFetcher({})
    consent = asyncio.run(ConsentCache(fake, tdmrep=False, aitxt=False).origin(f"{SITE}/x"))
    assert consent is not None and consent.tdmrep_status == "skipped"
    assert list(fake.calls) == [f"{SITE}/robots.txt"]


def test_cache_does_not_keep_raised_failures() -> None:
    attempts = Counter[str]()

    async def flaky(url: str) -> tuple[str, int | None, str | None]:
        attempts[url] += 1
        if attempts[url] == 1:
            raise RuntimeError("fetcher bug")
        return ("ok", 404, None)

    cache = ConsentCache(flaky, tdmrep=False, aitxt=False)
    with pytest.raises(RuntimeError):
        asyncio.run(cache.signals(f"{SITE}/x"))
    assert len(cache) == 0
    assert asyncio.run(cache.signals(f"{SITE}/x")) == []
    assert attempts[f"{SITE}/robots.txt"] == 2


def test_one_cancelled_row_does_not_cancel_the_shared_fetch() -> None:
    fake = FakeFetcher({f"{SITE}/robots.txt": ("ok", 200, "User-agent: *\nDisallow: /\n")}, delay=0.05)
    cache = ConsentCache(fake, tdmrep=False, aitxt=False)

    async def run() -> list[str]:
        first = asyncio.ensure_future(cache.signals(f"{SITE}/a"))
        second = asyncio.ensure_future(cache.signals(f"{SITE}/b"))
        await asyncio.sleep(0.01)
        first.cancel()
        return await second

    assert asyncio.run(run()) == ["robots:disallow"]
    assert fake.calls[f"{SITE}/robots.txt"] == 1


def test_cache_evicts_least_recently_used_origins() -> None:
    fake = FakeFetcher({})
    cache = ConsentCache(fake, tdmrep=False, aitxt=False, max_origins=2)

    async def run() -> None:
        for host in ("a", "b", "a", "c", "a", "b"):
            await cache.origin(f"https://{host}.example/x")

    asyncio.run(run())
    assert len(cache) == 2
    # b was evicted when c arrived (a had just been used), so b is fetched twice; a only once.
    assert fake.calls == {
        "https://a.example/robots.txt": 1,
        "https://b.example/robots.txt": 2,
        "https://c.example/robots.txt": 1,
    }


def test_cache_never_evicts_a_fetch_in_flight() -> None:
    fake = FakeFetcher({}, delay=0.02)
    cache = ConsentCache(fake, tdmrep=False, aitxt=False, max_origins=1)

    async def run() -> None:
        await asyncio.gather(*(cache.origin(f"https://{h}.example/x") for h in ("a", "b", "a", "b")))

    asyncio.run(run())
    assert fake.calls == {"https://a.example/robots.txt": 1, "https://b.example/robots.txt": 1}
    assert len(cache) == 2  # over the cap while both were pending; trimmed on the next insert


def test_cache_accepts_one_shot_header_iterables() -> None:
    cache = ConsentCache(FakeFetcher({}))
    pairs = iter([("x-robots-tag", "noai"), ("tdm-reservation", "1")])  # e.g. FetchResult.headers as a generator
    assert asyncio.run(cache.signals(f"{SITE}/a.jpg", pairs)) == ["x-robots-tag:noai", "tdmrep:reserved"]


# --- loopback: a real server and a minimal httpx fetcher (test-only) ------------------------------


@pytest.fixture(scope="module")
def loopback() -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server  # type: ignore[misc]
    server.clear()
    server.stop()


def _get_text(client: httpx.AsyncClient):
    """ConsentCache's get_text over a real httpx client (the product wires the guarded fetcher)."""

    async def get_text(url: str) -> tuple[str, int | None, str | None]:
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            return type(exc).__name__, None, None
        return "ok", response.status_code, response.text

    return get_text


def test_loopback_site_with_robots_tdmrep_and_x_robots(loopback: HTTPServer) -> None:
    loopback.clear()
    loopback.expect_request("/robots.txt").respond_with_data(
        "User-agent: CCBot\nDisallow: /no-ccbot/\n", content_type="text/plain"
    )
    loopback.expect_request("/.well-known/tdmrep.json").respond_with_json(
        [{"location": "/reserved/", "tdm-reservation": 1}]
    )
    loopback.expect_request("/ai.txt").respond_with_data("not here", status=404)
    loopback.expect_request("/img/tagged.jpg").respond_with_data(
        b"\xff\xd8", headers={"X-Robots-Tag": "img2dataset: noai"}
    )
    loopback.expect_request("/img/plain.jpg").respond_with_data(b"\xff\xd8", headers={"tdm-reservation": "1"})

    async def run() -> dict[str, list[str]]:
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
            cache = ConsentCache(_get_text(client))
            out: dict[str, list[str]] = {}
            for name in ("/no-ccbot/a.jpg", "/reserved/a.jpg", "/elsewhere/a.jpg"):
                out[name] = await cache.signals(loopback.url_for(name))
            for name in ("/img/tagged.jpg", "/img/plain.jpg"):
                response = await client.get(loopback.url_for(name))
                out[name] = await cache.signals(loopback.url_for(name), response.headers)
            return out

    out = asyncio.run(run())
    assert out == {
        "/no-ccbot/a.jpg": ["robots:disallow"],
        "/reserved/a.jpg": ["tdmrep:reserved"],
        "/elsewhere/a.jpg": [],
        "/img/tagged.jpg": ["x-robots-tag:noai"],
        "/img/plain.jpg": ["tdmrep:reserved"],
    }
    paths = Counter(request.path for request, _ in loopback.log)
    assert paths["/robots.txt"] == 1 and paths["/.well-known/tdmrep.json"] == 1


def test_loopback_unreachable_server_is_recorded_not_raised(loopback: HTTPServer) -> None:
    loopback.clear()
    loopback.expect_request("/robots.txt").respond_with_data("oops", status=500)
    loopback.expect_request("/.well-known/tdmrep.json").respond_with_data("no such file", status=404)
    loopback.expect_request("/ai.txt").respond_with_data("no such file", status=404)
    dead = "http://127.0.0.1:9/x.jpg"  # discard port: nothing listens, connection refused

    async def run() -> tuple[list[str], list[str]]:
        async with httpx.AsyncClient(trust_env=False, timeout=2) as client:
            cache = ConsentCache(_get_text(client))
            return await cache.signals(loopback.url_for("/x.jpg")), await cache.signals(dead)

    served, dead_signals = asyncio.run(run())
    assert served == ["robots:unreachable"]  # 500 on robots.txt; 404 on tdmrep.json is just "absent"
    assert dead_signals == ["robots:unreachable", "tdmrep:unreachable", "ai.txt:unreachable"]
