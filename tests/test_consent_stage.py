"""--check-consent in a scan: three loopback origins with every header form, robots.txt and tdmrep.json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pytest_httpserver import HTTPServer

from provscan.config import ConsentConfig, ListSpec
from provscan import scan

OPTIONS = {"allow_cidrs": ("127.0.0.0/8",), "total_timeout": 5.0, "retries": 0}


@pytest.fixture
def origins() -> Iterator[list[HTTPServer]]:
    servers = [HTTPServer(host="127.0.0.1", port=0) for _ in range(4)]
    for s in servers:
        s.start()
        s.expect_request("/ai.txt").respond_with_data("", status=404)  # no ai.txt unless a test serves one
    yield servers
    for s in servers:
        s.clear()
        s.stop()


def _url(server: HTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def test_consent_signals_findings_and_export(tmp_path: Path, make_shard, make_list, origins, no_egress) -> None:
    a, b, c, d = origins
    a.expect_request("/robots.txt").respond_with_data(
        "User-agent: GPTBot\nDisallow: /private/\n\nUser-agent: *\nAllow: /\n"
    )
    a.expect_request("/.well-known/tdmrep.json").respond_with_data(
        json.dumps(
            [
                {"location": "/reserved/*", "tdm-reservation": 1, "tdm-policy": "https://a.example/policy.json"},
                {"location": "/*", "tdm-reservation": 0},
            ]
        ),
        content_type="application/json",
    )
    plain = {"/ok.jpg": [], "/private/x.jpg": [], "/reserved/y.jpg": []}
    headers = {
        "/noai.jpg": [("X-Robots-Tag", "noai")],
        "/scoped-other.jpg": [("X-Robots-Tag", "otherbot: noai")],
        "/scoped-gpt.jpg": [("X-Robots-Tag", "GPTBot: noimageai")],
        "/mixed.jpg": [("X-Robots-Tag", "index, follow"), ("x-robots-tag", "NOAI")],
        "/tdm.jpg": [("tdm-reservation", "1")],
    }
    for path, hdrs in {**plain, **headers}.items():
        a.expect_request(path).respond_with_data(b"img", headers=hdrs, content_type="image/jpeg")
    b.expect_request("/robots.txt").respond_with_data("down", status=500)
    b.expect_request("/.well-known/tdmrep.json").respond_with_data("{not json", content_type="application/json")
    b.expect_request("/a.jpg").respond_with_data(b"img", content_type="image/jpeg")
    c.expect_request("/robots.txt").respond_with_data("garbage line\nUser-agent: CCBot\nDisallow: /\n")
    c.expect_request("/.well-known/tdmrep.json").respond_with_data("", status=404)
    c.expect_request("/head-refused.jpg", method="HEAD").respond_with_data("", status=405)
    c.expect_request("/head-refused.jpg", method="GET").respond_with_data(
        b"img", headers=[("X-Robots-Tag", "noimageai")]
    )

    d.expect_request("/robots.txt").respond_with_data("", status=301, headers={"Location": "/robots-real.txt"})
    d.expect_request("/robots-real.txt").respond_with_data("User-agent: img2dataset\nDisallow: /\n")
    d.expect_request("/.well-known/tdmrep.json").respond_with_data("", status=404)
    d.expect_request("/d.jpg").respond_with_data(b"img")

    rows = [
        (_url(a, "/ok.jpg"), set()),
        (_url(a, "/noai.jpg"), {"x-robots-tag:noai"}),
        (_url(a, "/scoped-other.jpg"), set()),
        (_url(a, "/scoped-gpt.jpg"), {"x-robots-tag:noimageai"}),
        (_url(a, "/mixed.jpg"), {"x-robots-tag:noai"}),
        (_url(a, "/tdm.jpg"), {"tdmrep:reserved"}),
        (_url(a, "/private/x.jpg"), {"robots:disallow"}),
        (_url(a, "/reserved/y.jpg"), {"tdmrep:reserved"}),
        (_url(b, "/a.jpg"), set()),  # robots.txt 500 is recorded, not an opt-out
        (_url(c, "/head-refused.jpg"), {"robots:disallow", "x-robots-tag:noimageai"}),
        (_url(d, "/d.jpg"), {"robots:disallow"}),  # robots.txt reached through a redirect
        ("http://blocked.example/x.jpg", None),  # dropped by a URL list: never contacted
    ]
    shard = make_shard("s.parquet", url=[u for u, _ in rows])
    blocked = make_list("d.txt", "# provscan-list: kind=domain name=blocked\nblocked.example\n")
    result = scan(
        [shard],
        lists=(ListSpec(blocked),),
        consent=ConsentConfig(check=True),
        fetch_options=OPTIONS,
        output=tmp_path / "out",
    )
    flagged = pq.read_table(result.output / "flagged.parquet").to_pylist()
    got = {(f["row"], f["entry"]) for f in flagged if f["kind"] == "consent"}
    assert got == {(i, s) for i, (_, sigs) in enumerate(rows) if sigs for s in sigs}
    assert {f["action"] for f in flagged} == {"drop"}
    dropped = {i for i, (_, sigs) in enumerate(rows) if sigs is None or sigs}
    clean = pq.read_table(result.output / "clean" / "s.parquet").column("url").to_pylist()
    assert clean == [u for i, (u, _) in enumerate(rows) if i not in dropped]
    summary = json.loads((result.output / "summary.json").read_text())
    assert summary["consent_signals"]["robots:unreachable"] == 1
    assert summary["consent_signals"]["none"] == 2
    assert result.manifest["shards"][0]["consent_rows_checked"] == 11
    robots_hits = [r for r in a.log if r[0].path == "/robots.txt"]
    assert len(robots_hits) == 1  # fetched once per origin, not per row


def test_consent_action_flag_keeps_rows(tmp_path: Path, make_shard, origins, no_egress) -> None:
    a = origins[0]
    a.expect_request("/robots.txt").respond_with_data("", status=404)
    a.expect_request("/.well-known/tdmrep.json").respond_with_data("", status=404)
    a.expect_request("/x.jpg").respond_with_data(b"img", headers=[("X-Robots-Tag", "noai")])
    shard = make_shard("s.parquet", url=[_url(a, "/x.jpg")])
    result = scan(
        [shard], consent=ConsentConfig(check=True, action="flag"), fetch_options=OPTIONS, output=tmp_path / "o"
    )
    assert result.manifest["shards"][0]["rows_dropped"] == 0
    assert pq.read_table(result.output / "flagged.parquet").column("action").to_pylist() == ["flag"]
