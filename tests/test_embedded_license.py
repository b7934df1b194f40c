"""Licences and signals embedded in images feed the scan: fetched images and ``--images`` files alike.

The licence precedence the issue sets: the row's licence column, then the image's embedded licence
(source ``embedded``), then a ``license-registry`` entry; an embedded value that names no known
licence does not hide a registry entry, and without one it is kept (``unrecognized``), never lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pytest_httpserver import HTTPServer

from provscan import scan
from provscan.config import ConsentConfig, LicenseConfig, ListSpec
from provscan.consent import credentials
from provscan.errors import ConfigError
from test_consent_embedded import PROHIBITED, jpeg, packet, png

NC = packet('<cc:license rdf:resource="https://creativecommons.org/licenses/by-nc/4.0/"/>')
BY = packet(
    "<xmpRights:UsageTerms><rdf:Alt><rdf:li xml:lang='x-default'>Licensed under https://creativecommons.org/licenses/by/4.0/."
    "</rdf:li></rdf:Alt></xmpRights:UsageTerms>"
)
RIGHTS_PAGE = packet("<xmpRights:WebStatement>https://rights.example/terms</xmpRights:WebStatement>")
OPTIONS = {"allow_cidrs": ("127.0.0.0/8",), "total_timeout": 5.0, "retries": 0}


def test_fetched_embedded_licence_precedence_and_policy(tmp_path: Path, make_shard, make_list, no_egress) -> None:
    served = {
        "/col/nc.jpg": jpeg(NC),
        "/nc.jpg": jpeg(NC),
        "/reg/page.jpg": jpeg(RIGHTS_PAGE),
        "/reg/nc.png": png(NC),
        "/page.jpg": jpeg(RIGHTS_PAGE),
        "/plain.jpg": jpeg(),
    }
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        for path, body in served.items():
            server.expect_request(path).respond_with_data(
                body, content_type="image/png" if path.endswith("png") else "image/jpeg"
            )
        urls = [server.url_for(p) for p in served]
        registry = make_list(
            "lic.csv", "# provscan-list: kind=license-registry name=reg\nexpression,license\n127.0.0.1/reg/,MIT\n"
        )
        shard = make_shard("s.parquet", url=urls, license=["Apache-2.0", None, None, "", None, None])
        result = scan(
            [shard],
            lists=(ListSpec(registry),),
            fetch=True,
            fetch_options=OPTIONS,
            licenses=LicenseConfig(drop=("CC-BY-NC-*",), flag=("LicenseRef-unrecognized:*",)),
            output=tmp_path / "out",
        )
    finally:
        server.clear()
        server.stop()
    flagged = {
        (f["row"], f["action"], f["entry"], f["detail"])
        for f in pq.read_table(result.output / "flagged.parquet").to_pylist()
    }
    assert flagged == {
        (1, "drop", "CC-BY-NC-4.0", "embedded"),  # no column value: the image's cc:license, before the registry
        (3, "drop", "CC-BY-NC-4.0", "embedded"),  # embedded beats the registry entry for /reg/
        (4, "flag", "LicenseRef-unrecognized:https://rights.example/terms", "embedded"),  # kept, not lost
    }
    summary = json.loads((result.output / "summary.json").read_text())
    assert summary["licenses_by_source"] == {"column": 1, "embedded": 3, "registry": 1, "none": 1}
    assert (
        summary["licenses_by_id"]["MIT"] == 1 and summary["licenses_by_id"]["Apache-2.0"] == 1
    )  # row 2: rights page, registry wins
    assert summary["consent_signals"]["xmp:license"] == 5
    sources = result.manifest["consent_sources"]
    assert sources["site"] == [] and sources["embedded"] == ["xmp", "c2pa"]
    assert "C2PA checked with c2pa-python" in (result.output / "datacard.md").read_text()
    assert (
        sources["c2pa_extra"] == credentials.extra_version()
        and json.loads((result.output / "manifest.json").read_text())["consent_sources"] == sources
    )
    clean = pq.read_table(result.output / "clean" / "s.parquet").column("url").to_pylist()
    assert clean == [u for i, u in enumerate(urls) if i not in (1, 3)]
    # the server is gone: a second run answers from the fetch cache, embedded licences and signals included
    again = scan(
        [shard],
        lists=(ListSpec(registry),),
        fetch=True,
        fetch_options=OPTIONS,
        licenses=LicenseConfig(drop=("CC-BY-NC-*",), flag=("LicenseRef-unrecognized:*",)),
        output=tmp_path / "out",
    )
    assert pq.read_table(again.output / "fetch.parquet").column("cached").to_pylist() == [True] * 6
    assert {
        (f["row"], f["action"], f["entry"], f["detail"])
        for f in pq.read_table(again.output / "flagged.parquet").to_pylist()
    } == flagged
    assert json.loads((again.output / "summary.json").read_text())["consent_signals"] == summary["consent_signals"]


def test_local_images_carry_signals_and_licences(tmp_path: Path, make_shard) -> None:
    """``--images`` files are read like fetched ones (no list needs their hashes: they are still read)."""
    ai = packet(
        '<Iptc4xmpExt:DigitalSourceType rdf:resource="http://cv.iptc.org/newscodes/digitalsourcetype/'
        'compositeWithTrainedAlgorithmicMedia"/>'
    )
    images = {
        "http://a.example/optout.jpg": jpeg(PROHIBITED),
        "http://a.example/ai.png": png(ai),
        "http://a.example/by.jpg": jpeg(BY),
        "http://a.example/plain.jpg": jpeg(),
    }
    folder = tmp_path / "dl" / "00000"
    folder.mkdir(parents=True)
    for i, (url, body) in enumerate(images.items()):
        (folder / f"{i:09d}.{url.rsplit('.', 1)[-1]}").write_bytes(body)
        (folder / f"{i:09d}.json").write_text(json.dumps({"key": f"{i:09d}", "url": url}))
    shard = make_shard("s.parquet", url=[*images, "http://a.example/absent.jpg"])
    result = scan(
        [shard],
        images=(tmp_path / "dl",),
        consent=ConsentConfig(action="drop", ai_generated="drop"),
        output=tmp_path / "out",
    )
    flagged = {
        (f["row"], f["kind"], f["action"], f["entry"])
        for f in pq.read_table(result.output / "flagged.parquet").to_pylist()
    }
    assert flagged == {
        (0, "consent", "drop", "xmp:dmi-prohibited-aimltraining"),
        (1, "ai-generated", "drop", "xmp:ai-generated"),
    }
    summary = json.loads((result.output / "summary.json").read_text())
    assert summary["licenses_by_id"]["CC-BY-4.0"] == 1 and summary["licenses_by_source"] == {"embedded": 1, "none": 4}
    assert summary["consent_signals"]["xmp:dmi-prohibited-aimltraining"] == 1
    assert pq.read_table(result.output / "clean" / "s.parquet").column("url").to_pylist() == [
        *list(images)[2:],
        "http://a.example/absent.jpg",
    ]


def test_c2pa_without_the_extra_is_counted_and_recorded(tmp_path: Path, make_shard, monkeypatch, no_egress) -> None:
    """Without ``provscan[c2pa]`` an image with Content Credentials is ``c2pa:not-checked``: counted in
    summary.json and fetch.parquet, and the manifest says the extra was absent; never silent."""
    monkeypatch.setattr(credentials, "_library", lambda: None)
    jumbf = b"JP\x00\x01" + b"\x00" * 8 + b"jumb" + b"c2pa" + b"\x00" * 20
    plain = jpeg()
    boxed = plain[:2] + b"\xff\xeb" + len(jumbf + b"..").to_bytes(2, "big") + jumbf + plain[2:]
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        server.expect_request("/cr.jpg").respond_with_data(boxed, content_type="image/jpeg")
        result = scan(
            [make_shard("s.parquet", url=[server.url_for("/cr.jpg")])],
            fetch=True,
            fetch_options=OPTIONS,
            output=tmp_path / "out",
        )
    finally:
        server.clear()
        server.stop()
    assert json.loads((result.output / "summary.json").read_text())["consent_signals"] == {"c2pa:not-checked": 1}
    assert pq.read_table(result.output / "fetch.parquet").column("signals").to_pylist() == [["c2pa:not-checked"]]
    assert result.manifest["consent_sources"] == {"site": [], "embedded": ["xmp", "c2pa"], "c2pa_extra": None}
    card = (result.output / "datacard.md").read_text()
    assert (
        "C2PA not checked (the provscan[c2pa] extra was absent; 1 images" in card and "| c2pa:not-checked | 1 |" in card
    )
    page = (result.output / "report.html").read_text()
    assert 'id="consent-sources"' in page and "C2PA not checked" in page


def test_consent_settings_are_checked_in_the_library_api_too() -> None:
    with pytest.raises(ConfigError, match="ai_generated must be one of"):
        ConsentConfig(ai_generated="dorp")
    with pytest.raises(ConfigError, match="action must be one of"):
        ConsentConfig(action="keep")


def test_an_image_on_disk_and_fetched_is_counted_once(tmp_path: Path, make_shard, no_egress) -> None:
    """With ``--images`` and ``--fetch`` and no image list, the row is still fetched (link rot), but its
    signals and licence come from the local file once, not twice."""
    body = jpeg(PROHIBITED)
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        server.expect_request("/o.jpg").respond_with_data(body, content_type="image/jpeg")
        url = server.url_for("/o.jpg")
        folder = tmp_path / "dl" / "00000"
        folder.mkdir(parents=True)
        (folder / "000000000.jpg").write_bytes(body)
        (folder / "000000000.json").write_text(json.dumps({"key": "000000000", "url": url}))
        result = scan(
            [make_shard("s.parquet", url=[url])],
            images=(tmp_path / "dl",),
            fetch=True,
            fetch_options=OPTIONS,
            consent=ConsentConfig(action="flag"),
            output=tmp_path / "out",
        )  # flag: the row is still fetched
    finally:
        server.clear()
        server.stop()
    flagged = pq.read_table(result.output / "flagged.parquet").to_pylist()
    assert [(f["row"], f["kind"], f["entry"]) for f in flagged] == [(0, "consent", "xmp:dmi-prohibited-aimltraining")]
    assert json.loads((result.output / "summary.json").read_text())["consent_signals"] == {
        "xmp:dmi-prohibited-aimltraining": 1
    }
    assert pq.read_table(result.output / "fetch.parquet").column("signals").to_pylist() == [
        ["xmp:dmi-prohibited-aimltraining"]
    ]
