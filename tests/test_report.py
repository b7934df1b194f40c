"""report.html and datacard.md from real scans: numbers, determinism, redaction, scale, the CLI.

The browser half (Chromium loads the page) is in test_report_browser.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from provscan.cli import cli
from provscan.errors import OutputError
from provscan.sinks.page import CSP, SHARD_PAGE
from provscan.sinks.redact import Redactor
from provscan.pipeline.rerender import regenerate
from provscan.sinks.report import write_reports
from provscan.sinks.svg import bar_chart, histogram, interval_chart

from report_data import DISTANCES, ESTIMATES, EXPECTED, Elements, build_inputs, input_strings, load, run_scan, synthetic


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-scan")
    build_inputs(root)
    return run_scan(root, root / "out").output


@pytest.fixture(scope="module")
def redacted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-redacted")
    build_inputs(root)
    return run_scan(root, root / "out", redact_urls=True).output


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_scan_writes_a_report_with_its_numbers(scanned: Path) -> None:
    manifest, summary = load(scanned)
    page = Elements((scanned / "report.html").read_text(encoding="utf-8"))
    totals = manifest["totals"]
    for key, value in EXPECTED.items():
        assert page.by_id(key)["data-value"] == str(value), key
    assert totals["rows_in"] == EXPECTED["rows-in"] and totals["rows_dropped"] == EXPECTED["rows-dropped"]
    # findings per list, as in summary.json
    html = (scanned / "report.html").read_text()
    table = html.split('id="findings-by-list"')[1].split("</table>")[0]
    by_list = {name: int(n) for name, n in re.findall(r'<tr data-list="([^"]+)">.*?data-value="(\d+)"', table)}
    assert by_list == summary["findings_by_list"]
    assert set(by_list) == {"blocked-hosts", "review-urls", "near-dupes", "license-policy"}
    # perceptual distances against max_distance, read from flagged.parquet
    dist = next(a for a in page.having("data-matches"))
    assert (dist["data-list"], dist["data-matches"], dist["data-max"]) == (
        "near-dupes",
        str(sum(DISTANCES.values())),
        "8",
    )
    svg_desc = (scanned / "report.html").read_text()
    for d in range(9):  # the axis runs to max_distance; the row at distance 12 did not match
        assert f"Hamming distance {d}: {DISTANCES.get(d, 0)} matches" in svg_desc
    assert "Hamming distance 9:" not in svg_desc
    # licences and provenance
    assert page.text["licenses_by_id"] and "CC-BY-NC-4.0" in svg_desc and "CC-BY-ND-4.0" in svg_desc
    assert page.text["removals-sha256"] == _sha(scanned / "removals.sha256.txt")
    assert page.text["verify"] == f"provscan verify {scanned} --inputs"
    for lst in manifest["lists"]:
        assert lst["sha256"] in svg_desc
    shard_rows = [a for t, a in page.all if t == "tr" and "data-i" in a]
    assert len(shard_rows) == 2


def test_report_is_self_contained(scanned: Path) -> None:
    html = (scanned / "report.html").read_text(encoding="utf-8")
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in html
    assert "://" not in html  # not even an SVG namespace: no URL of any kind
    assert not re.search(r"\b(src|href|action|srcset|poster)\s*=|url\(|@import", html, re.IGNORECASE)
    ids = [a["id"] for _, a in Elements(html).all if "id" in a]
    assert len(ids) == len(set(ids)) > 20  # getElementById must find the one element meant


def test_datacard_states_what_was_removed_and_how_to_apply_it(scanned: Path) -> None:
    manifest, _ = load(scanned)
    card = (scanned / "datacard.md").read_text(encoding="utf-8")
    assert "2 parquet shards, 11 rows" in card and "**6 rows were removed**" in card
    for lst in manifest["lists"]:
        assert f"| {lst['name']} | {lst['kind']} | {lst['action']} | {lst['entries']} | `{lst['sha256']}` |" in card
    # dropped rows per reason, from flagged.parquet: 2 by the domain list, 4 near-duplicates, 1 by licence policy
    assert "| blocked-hosts | domain | 2 |" in card
    assert "| near-dupes | phash | 4 |" in card
    assert "| license-policy | license | 1 |" in card
    assert "review-urls | url |" not in card.split("### Rows removed")[1].split("###")[0]  # flag-only: not removed
    assert "| CC-BY-NC-4.0 | 1 |" in card and "| unknown |" in card
    assert _sha(scanned / "removals.sha256.txt") in card
    assert "provscan scan copy/ -b url-sha256:removals.sha256.txt" in card
    assert f"provscan verify {scanned} --inputs" in card
    assert "Licence policy: drop `CC-BY-ND-*`; flag `CC-BY-NC-*`" in card


def test_rerendering_an_out_gives_the_same_bytes_and_ignores_files(scanned: Path, tmp_path: Path) -> None:
    manifest, summary = load(scanned)
    before = (scanned / "report.html").read_bytes(), (scanned / "datacard.md").read_bytes()
    listed = {**manifest, "files": {"report.html": "0" * 64, "flagged.parquet": "1" * 64}}
    html, card = write_reports(scanned, listed, summary, report=tmp_path / "elsewhere" / "r.html")
    assert (html.read_bytes(), card.read_bytes()) == before
    assert card == tmp_path / "elsewhere" / "datacard.md"
    regenerate(scanned)
    assert ((scanned / "report.html").read_bytes(), (scanned / "datacard.md").read_bytes()) == before


def test_two_scans_of_the_same_inputs_give_the_same_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two copies of one dataset scanned from their own directory with the same relative paths:
    only the run's own times differ, so the reports are equal once those are set alike."""
    outs = []
    for name in ("one", "two"):
        root = tmp_path / name
        build_inputs(root)
        monkeypatch.chdir(root)
        outs.append(root / run_scan(root, "out").output)
    (ma, sa), (mb, sb) = load(outs[0]), load(outs[1])
    differ = {k for k in ma if ma[k] != mb[k]}
    assert differ <= {"started", "finished", "files"}, differ
    # the manifest lists the reports' own SHA-256, and the reports (and the release metadata) show the run's times: only they differ
    assert {f for f in ma["files"] if ma["files"][f] != mb["files"].get(f)} <= {
        "report.html",
        "datacard.md",
        "croissant.json",
        "provenance.intoto.json",
    }
    assert sa == sb
    monkeypatch.chdir(outs[1].parent)
    html, card = write_reports(
        Path("out"),
        {**mb, "started": ma["started"], "finished": ma["finished"]},
        sb,
        report=tmp_path / "b" / "report.html",
    )
    assert html.read_bytes() == (outs[0] / "report.html").read_bytes()
    assert card.read_bytes() == (outs[0] / "datacard.md").read_bytes()


def test_redacted_report_has_nothing_of_the_urls(scanned: Path, redacted: Path) -> None:
    strings = input_strings()
    assert len(strings) > 15
    plain = (scanned / "report.html").read_text() + (scanned / "datacard.md").read_text()
    assert "badhost-zqx.example" in plain and "img.okhost-mfr.example" in plain  # the check can fail
    for name in ("report.html", "datacard.md"):
        text = (redacted / name).read_text(encoding="utf-8")
        leaked = [s for s in strings if s.lower() in text.lower()]
        assert not leaked, (name, leaked)
    html = (redacted / "report.html").read_text()
    host = hashlib.sha256(b"badhost-zqx.example").hexdigest()[:16]
    assert f"host sha256:{host}" in html and 'id="redacted"' in html


def test_redactor_replaces_url_like_strings() -> None:
    red = Redactor(True)
    assert (
        red.text("shards from hf://datasets/x/y and https://a.example/b?c=d end")
        == "shards from [URL redacted] and [URL redacted] end"
    )
    assert Redactor(False).text("https://a.example/") == "https://a.example/"


def test_a_thousand_shards_render_small_with_a_first_page(tmp_path: Path) -> None:
    manifest, summary = synthetic(1000)
    html_path, _ = write_reports(tmp_path, manifest, summary)
    html = html_path.read_text(encoding="utf-8")
    assert len(html.encode()) < 2_000_000
    page = Elements(html)
    assert len([a for t, a in page.all if t == "tr" and "data-i" in a]) == 1000
    first, rest = html.split('id="shards-more"')
    assert first.count("<tr data-i=") == SHARD_PAGE and rest.count("<tr data-i=") == 1000 - SHARD_PAGE
    assert page.by_id("run-time")["data-value"] == "1 h 02 min"


def test_sample_estimates_are_drawn_as_intervals(scanned: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(scanned, out)
    (out / "estimates.json").write_text(json.dumps(ESTIMATES))
    html_path, card_path = regenerate(out)  # picks up OUT/estimates.json
    html = html_path.read_text(encoding="utf-8")
    page = Elements(html)
    rows = {(a["data-dimension"], a["data-value"]): a for a in page.having("data-dimension")}
    assert len(rows) == 3
    for est in ESTIMATES["estimates"]:
        row = rows[(est["dimension"], est["value"])]
        assert (float(row["data-share"]), float(row["data-low"]), float(row["data-high"])) == (
            est["share"],
            est["share_low"],
            est["share_high"],
        )
    facts = {a["data-key"]: a["data-value"] for a in page.having("data-key")}
    assert facts["mode"] == "row-groups" and facts["sampled rows"] == "40000" and facts["bytes read"] == "2345678"
    assert "Estimated share of rows by license" in html and "20.00% [19.00%, 21.00%]" in html
    assert "shards/a.parquet" in page.text["sources"]
    card = card_path.read_text()
    assert "row-groups sample (seed 7) of 40,000 rows out of 2,000,000; 95% intervals." in card
    assert "| license | CC-BY-NC-4.0 | 20.00% | 19.00% - 21.00% | wilson |" in card


def test_report_command(scanned: Path, tmp_path: Path) -> None:
    half = tmp_path / "half"
    shutil.copytree(scanned, half)
    (half / "manifest.json").unlink()
    (half / "report.html").unlink()
    (half / "datacard.md").unlink()
    result = CliRunner().invoke(cli, ["report", str(half)])
    assert result.exit_code == 1 and "manifest.json" in result.output
    assert not (half / "report.html").exists() and not (half / "datacard.md").exists()
    assert not [p for p in half.iterdir() if ".tmp-" in p.name]  # no temp file left either
    target = tmp_path / "r" / "scan.html"
    result = CliRunner().invoke(cli, ["report", str(scanned), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == (scanned / "report.html").read_bytes()
    assert sorted(target.parent.iterdir()) == [target]  # only the file named (issue 16.3)
    assert CliRunner().invoke(cli, ["report", str(tmp_path / "nothing")]).exit_code == 1


def test_regenerate_refuses_a_half_written_out(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(OutputError, match="manifest.json"):
        regenerate(tmp_path)
    assert list(tmp_path.iterdir()) == [tmp_path / "summary.json"]


def test_scan_without_findings_still_reports(tmp_path: Path) -> None:
    root = tmp_path
    build_inputs(root)
    from provscan import scan

    result = scan([root / "shards" / "a.parquet"], output=root / "out")
    page = Elements((result.output / "report.html").read_text())
    assert page.by_id("rows-in")["data-value"] == "6" and "no-findings" in page.text
    assert "No row was removed." in (result.output / "datacard.md").read_text()


def test_charts_are_labelled() -> None:
    bars = bar_chart("Findings by list", [("a", 3), ("b", 1)], unit="findings")
    assert "<title>Findings by list</title>" in bars and ">3</text>" in bars and ">findings</text>" in bars
    hist = histogram("d", {0: 2, 5: 1}, 4, x_label="Hamming distance", y_label="matches")
    assert "max_distance 4" in hist and hist.count("<rect") == 6  # 0..5: the observed 5 widens the axis
    iv = interval_chart("e", [("x", 0.1, 0.05, 0.15)])
    assert "10.00% [5.00%, 15.00%]" in iv and "20.00%" in iv  # axis ends at the next nice step


def test_redaction_covers_every_field(tmp_path: Path) -> None:
    """Shards and sample sources given as URLs, and a host in the top domains: none survives redaction."""
    manifest, summary = synthetic(3)
    manifest["config"]["redact_urls"] = True
    manifest["shards"][0]["path"] = "hf://datasets/secret-org-qzv/part-0.parquet"
    manifest["config"]["output"] = "s3://bucket-qzv/out"
    estimates = {**ESTIMATES, "sources": [{**ESTIMATES["sources"][0], "source": "https://cdn-qzv.example/a.parquet"}]}
    html, card = write_reports(tmp_path, manifest, summary, estimates)
    for text in (html.read_text(), card.read_text()):
        assert "qzv" not in text and "://" not in text and "host0.example" not in text
        assert "[URL redacted]" in text


def test_report_command_warns_when_the_manifest_recorded_other_bytes(scanned: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(scanned, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"] = {
        "report.html": hashlib.sha256((out / "report.html").read_bytes()).hexdigest(),
        "datacard.md": hashlib.sha256((out / "datacard.md").read_bytes()).hexdigest(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(cli, ["report", str(out)])
    assert result.exit_code == 0 and "differs" not in result.output
    manifest["files"]["datacard.md"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(cli, ["report", str(out)])
    assert (
        result.exit_code == 0 and "datacard.md differs" in result.output and "report.html differs" not in result.output
    )


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    manifest, summary = synthetic(2)
    evil = '<script>alert("x")</script>'
    manifest["lists"][0]["name"] = evil
    manifest["shards"][0]["path"] = f"/data/{evil}.parquet"
    summary["findings_by_list"] = {evil: 3}
    summary["top_matched_domains"] = [{"domain": evil, "rows": 3}]
    summary["licenses_by_id"] = {"a</td><td>b": 1}
    html, card = write_reports(tmp_path, manifest, summary)
    text = html.read_text()
    assert "<script>alert" not in text and text.count("<script>") == 1 and "</td><td>b" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    card_text = card.read_text()  # Markdown renders inline HTML, so the card escapes it too
    assert "</td>" not in card_text and "| a&lt;/td&gt;&lt;td&gt;b | 1 |" in card_text


def test_a_sample_out_without_summary_renders(tmp_path: Path) -> None:
    manifest, _ = synthetic(2)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(OutputError, match="summary.json"):
        regenerate(tmp_path)  # a scan OUT always has one
    (tmp_path / "estimates.json").write_text(json.dumps(ESTIMATES))
    html, _ = regenerate(tmp_path)
    assert 'id="estimates-table"' in html.read_text() and 'id="no-findings"' in html.read_text()


def _findings_rows(html: str) -> list[list[str]]:
    """The findings table's cells, as a browser would show their text."""
    import html as html_lib

    body = html.split('id="findings-table"')[1].split("</tbody>")[0]
    return [[html_lib.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)] for row in body.split("<tr ")[1:]]


def test_findings_table_lists_the_findings_in_file_order(scanned: Path) -> None:
    import pyarrow.parquet as pq

    html = (scanned / "report.html").read_text(encoding="utf-8")
    rows = _findings_rows(html)
    flagged = pq.read_table(scanned / "flagged.parquet").to_pylist()
    assert len(rows) == len(flagged) > 5
    prefix = str(scanned.parent / "shards") + "/"
    assert [(prefix + r[0], int(r[1]), r[2], r[3], r[4], r[5]) for r in rows] == [
        (f["shard"], f["row"], f["url"] or "-", f["list"], f["entry"] or "-", f["action"]) for f in flagged
    ]
    assert "https://badhost-zqx.example/path-kwv/1.jpg" in [r[2] for r in rows]  # shown, yet the source has no "://"
    assert "://" not in html
    count = Elements(html).by_id("findings-count")
    assert count["data-total"] == str(len(flagged))


def test_findings_table_is_capped_and_escaped(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from provscan.sinks.flagged import FINDINGS_SCHEMA
    from provscan.sinks.report import FINDINGS_SHOWN

    manifest, summary = synthetic(2)
    n = FINDINGS_SHOWN + 500
    evil = '<img src=x onerror=alert(1)>'
    pq.write_table(
        pa.table(
            {
                "shard": [manifest["shards"][0]["path"]] * n,
                "row": list(range(n)),
                "id": [None] * n,
                "url": [f"https://h.example/{evil}/{i}" for i in range(n)],
                "url_sha256": ["ab" * 32] * n,
                "list": ["blocked"] * n,
                "kind": ["domain"] * n,
                "entry": [evil] * n,
                "action": ["drop"] * n,
                "distance": [None] * n,
                "image_hash": [None] * n,
                "detail": [None] * n,
            },
            schema=FINDINGS_SCHEMA,
        ),
        tmp_path / "flagged.parquet",
    )
    html = write_reports(tmp_path, manifest, summary)[0].read_text(encoding="utf-8")
    rows = _findings_rows(html)
    assert len(rows) == FINDINGS_SHOWN and rows[-1][1] == str(FINDINGS_SHOWN - 1)
    assert f"The first 1,000 of {n:,} findings" in html
    assert "<img" not in html and rows[0][4] == evil and rows[0][2] == f"https://h.example/{evil}/0"
