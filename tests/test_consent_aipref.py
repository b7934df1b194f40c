"""AIPREF (Content-Usage header and robots.txt rules), Content-Signal and ai.txt, parsed and served on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from provscan.consent.aipref import aipref_signals, content_signal_signals, parse_usage
from provscan.consent.aitxt import aitxt_disallows, parse_aitxt
from provscan.consent.robots import parse_robots
from provscan.consent.signals import ConsentCache


@pytest.mark.parametrize(
    "text,expected",
    [
        ("train-ai=n, search=y", {"train-ai": "n", "search": "y"}),
        ("train-ai=n;note=\"x\",bots=y", {"train-ai": "n", "bots": "y"}),
        ("train-ai=maybe, foo=1, bar", {"train-ai": "", "foo": "", "bar": "y"}),  # bare key is ?1 (true), read as y
        ("train-ai=y, train-ai=n", {"train-ai": "n"}),  # last value wins
        ("", {}),
        ("Train-AI=n", None),
        ("train-ai=n,", None),
        ("train-ai=n train-genai=n", None),
        ("=n", None),
    ],
)
def test_parse_usage(text: str, expected: dict | None) -> None:
    assert parse_usage(text) == expected


@given(st.text(max_size=80))
def test_parse_usage_never_raises(text: str) -> None:
    assert parse_usage(text) is None or isinstance(parse_usage(text), dict)


def test_precedence_specific_category_header_and_n_beats_y() -> None:
    assert aipref_signals(["bots=n, train-genai=y"], []) == [
        "aipref:bots=n",
        "aipref:train-ai=n",
        "aipref:train-genai=y",
        "aipref:search=n",
    ]
    # the header for the resource beats robots.txt, category by category
    assert aipref_signals(["train-ai=y"], ["train-ai=n, search=n"]) == [
        "aipref:train-ai=y",
        "aipref:train-genai=y",
        "aipref:search=n",
    ]
    # two robots rules at the same specificity: n beats y
    assert aipref_signals([], ["train-genai=y", "train-genai=n"]) == ["aipref:train-genai=n"]
    # several header lines are one field
    assert aipref_signals(["search=y", "train-genai=n"], []) == ["aipref:train-genai=n", "aipref:search=y"]
    assert aipref_signals(["train-ai=n,,"], ["train-genai=n"]) == ["aipref:invalid", "aipref:train-genai=n"]
    assert aipref_signals(["unknown-thing=n"], []) == []


def test_robots_content_usage_rules_are_path_scoped() -> None:
    robots = parse_robots(
        "User-Agent: *\nAllow: /\nContent-Usage: train-ai=n\nContent-Usage: /open/ train-ai=y\n"
        "Content-Signal: search=yes, ai-train=no\n\n"
        "User-Agent: GPTBot\nDisallow: /\nContent-Usage: bots=n\n"
    )
    assert robots.preferences("content-usage", ["CCBot"], "/photos/a.jpg") == ["train-ai=n"]
    assert robots.preferences("content-usage", ["CCBot"], "/open/a.jpg") == ["train-ai=y"]
    assert robots.preferences("content-usage", ["GPTBot"], "/open/a.jpg") == ["bots=n"]
    assert robots.preferences("content-signal", ["CCBot"], "/x") == ["search=yes, ai-train=no"]
    assert robots.preferences("content-signal", ["GPTBot"], "/x") == []
    assert not robots.disallows(["CCBot"], "/photos/a.jpg")  # preference lines are not crawl rules


def test_content_signal() -> None:
    assert content_signal_signals(["search=yes, ai-train=no, ai-input=no"]) == [
        "content-signal:search=yes",
        "content-signal:ai-train=no",
        "content-signal:ai-input=no",
    ]
    assert content_signal_signals(["ai-train=yes", "ai-train=no"]) == ["content-signal:ai-train=no"]
    assert content_signal_signals(["ai-train=perhaps"]) == ["content-signal:invalid"]


def test_aitxt_patterns() -> None:
    aitxt = parse_aitxt("User-Agent: *\nDisallow: *.jpg\nDisallow: /private/\nAllow: /private/ok.png\n")
    assert aitxt_disallows(aitxt, [], "/a/IMG_1.JPG")
    assert aitxt_disallows(aitxt, [], "/a/b.jpg?size=2")
    assert not aitxt_disallows(aitxt, [], "/a/b.jpg.html")
    assert aitxt_disallows(aitxt, [], "/private/x.png") and not aitxt_disallows(aitxt, [], "/private/ok.png")
    assert not aitxt_disallows(parse_aitxt("<html>soft 404</html>"), [], "/a.jpg")


@pytest.fixture
def site() -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server  # type: ignore[misc]
    server.clear()
    server.stop()


def test_loopback_site_signals(site: HTTPServer) -> None:
    site.expect_request("/robots.txt").respond_with_data(
        "User-Agent: *\nContent-Signal: search=yes, ai-train=no\nContent-Usage: /art/ train-genai=n\nAllow: /\n",
        content_type="text/plain",
    )
    site.expect_request("/.well-known/tdmrep.json").respond_with_data("", status=404)
    site.expect_request("/ai.txt").respond_with_data("User-Agent: *\nDisallow: *.png\n", content_type="text/plain")
    site.expect_request("/art/a.jpg").respond_with_data(b"\xff\xd8", headers={"Content-Usage": "train-ai=y"})
    site.expect_request("/art/b.jpg").respond_with_data(b"\xff\xd8", headers={"Content-Usage": "train-ai=n;;"})

    async def get_text(client: httpx.AsyncClient, url: str) -> tuple[str, int | None, str | None]:
        response = await client.get(url)
        return "ok", response.status_code, response.text

    async def run() -> dict[str, list[str]]:
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
            cache = ConsentCache(lambda u: get_text(client, u))
            out = {}
            for path in ("/art/a.jpg", "/art/b.jpg"):
                response = await client.get(site.url_for(path))
                out[path] = await cache.signals(site.url_for(path), response.headers)
            out["/c.png"] = await cache.signals(site.url_for("/c.png"))
            return out

    out = asyncio.run(run())
    # header train-ai=y beats robots' train-genai=n only where the header speaks more specifically; here
    # train-genai has no header value of its own but inherits train-ai=y from the header
    assert out["/art/a.jpg"] == [
        "aipref:train-ai=y",
        "aipref:train-genai=y",
        "content-signal:search=yes",
        "content-signal:ai-train=no",
    ]
    assert out["/art/b.jpg"] == [
        "aipref:invalid",
        "aipref:train-genai=n",
        "content-signal:search=yes",
        "content-signal:ai-train=no",
    ]
    assert out["/c.png"] == ["content-signal:search=yes", "content-signal:ai-train=no", "ai.txt:disallow"]
    assert Counter(r.path for r, _ in site.log)["/ai.txt"] == 1  # once per origin


def test_scan_turns_site_signals_into_consent_findings(tmp_path, make_shard, site: HTTPServer, no_egress) -> None:
    import json

    import pyarrow.parquet as pq

    from provscan import scan
    from provscan.config import ConsentConfig

    site.expect_request("/robots.txt").respond_with_data(
        "User-Agent: *\nContent-Signal: ai-train=no\nContent-Usage: /ok/ train-ai=y\n"
    )
    site.expect_request("/.well-known/tdmrep.json").respond_with_data("", status=404)
    site.expect_request("/ai.txt").respond_with_data("User-Agent: *\nDisallow: *.png\n")
    for path, usage in (("/ok/a.jpg", "train-ai=y"), ("/b.jpg", "train-genai=n"), ("/c.png", "search=y")):
        site.expect_request(path).respond_with_data(b"img", headers={"Content-Usage": usage})
    urls = [site.url_for(p) for p in ("/ok/a.jpg", "/b.jpg", "/c.png")]
    options = {"allow_cidrs": ("127.0.0.0/8",), "total_timeout": 5.0, "retries": 0}
    result = scan(
        [make_shard("s.parquet", url=urls)],
        consent=ConsentConfig(check=True, action="flag"),
        fetch_options=options,
        output=tmp_path / "out",
    )
    flagged = {
        (f["row"], f["entry"])
        for f in pq.read_table(result.output / "flagged.parquet").to_pylist()
        if f["kind"] == "consent"
    }
    assert flagged == {
        (0, "content-signal:ai-train=no"),
        (1, "content-signal:ai-train=no"),
        (1, "aipref:train-genai=n"),
        (2, "content-signal:ai-train=no"),
        (2, "ai.txt:disallow"),
    }
    summary = json.loads((result.output / "summary.json").read_text())
    assert summary["consent_signals"]["aipref:train-ai=y"] == 1 and summary["consent_signals"]["aipref:search=y"] == 1
    narrowed = scan(
        [make_shard("t.parquet", url=urls)],
        consent=ConsentConfig(check=True, action="flag", signals=("ai.txt:*",)),
        fetch_options=options,
        output=tmp_path / "out2",
    )
    entries = pq.read_table(narrowed.output / "flagged.parquet").column("entry").to_pylist()
    assert entries == ["ai.txt:disallow"]
