"""report.html in a real headless Chromium, loaded from file://.

Checked: the scripts ran (``data-ready``), no console message at all (Chromium logs errors and CSP
violations as CONSOLE lines), no request in the network log, and the numbers in the DOM. A control
test proves the harness sees a request and a console message when a page makes them. Screenshots are
written under the test's tmp_path and their paths printed (pytest -s, or the captured output).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from provscan.sinks.page import CSP, SHARD_PAGE
from provscan.sinks.report import write_reports

from report_data import (
    DISTANCES,
    ESTIMATES,
    EXPECTED,
    Elements,
    Tab,
    browse,
    build_inputs,
    chromium,
    load,
    run_scan,
    screenshot,
    synthetic,
)

pytestmark = pytest.mark.skipif(
    chromium() is None,
    reason="no chromium-headless-shell, chromium or chromium-browser on PATH (.ci/run installs one with apt-get)",
)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser-scan")
    build_inputs(root)
    return run_scan(root, root / "out").output


def _png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    print(f"\nscreenshot: {path}")


def test_report_loads_offline_and_shows_the_numbers(scanned: Path, tmp_path: Path) -> None:
    page = scanned / "report.html"
    dom, console, requests = browse(page, tmp_path)
    assert console == []
    assert set(requests) <= {page.resolve().as_uri()}, requests
    els = Elements(dom)
    assert els.all[0][0] == "html" and els.all[0][1].get("data-ready") == "1"  # the inline script ran
    for key, value in EXPECTED.items():
        assert els.by_id(key)["data-value"] == str(value), key
        assert els.text[key].replace(",", "") == str(value), key
    manifest, _ = load(scanned)
    dist = els.having("data-matches")[0]
    assert (dist["data-matches"], dist["data-max"]) == (str(sum(DISTANCES.values())), "8")
    assert [a["data-i"] for t, a in els.all if t == "tr" and "data-i" in a] == ["0", "1"]
    assert els.text["verify"] == f"provscan verify {scanned} --inputs"
    assert json.loads(els.text["config"]) == manifest["config"]
    _png(screenshot(page, tmp_path / "report.png", tmp_path, height=2000))


def test_harness_sees_requests_and_console_messages(scanned: Path, tmp_path: Path) -> None:
    """Control: the same page with its CSP removed and a loopback image and a console error added."""
    html = (scanned / "report.html").read_text(encoding="utf-8")
    bad = html.replace(f'<meta http-equiv="Content-Security-Policy" content="{CSP}">', "")
    bad = bad.replace(
        "</main>", '<img alt="" src="http://127.0.0.1:9/pixel.png"><script>console.error("oops")</script></main>'
    )
    assert bad != html
    page = tmp_path / "bad.html"
    page.write_text(bad, encoding="utf-8")
    _, console, requests = browse(page, tmp_path)
    assert "http://127.0.0.1:9/pixel.png" in requests
    assert any('"oops"' in line for line in console)
    # with the CSP in place the request is refused, and the refusal is itself a console message
    page.write_text(html.replace("</main>", '<img alt="" src="http://127.0.0.1:9/pixel.png"></main>'), encoding="utf-8")
    _, console, requests = browse(page, tmp_path)
    assert "http://127.0.0.1:9/pixel.png" not in requests
    assert any("Content Security Policy" in line for line in console)


def test_thousand_shards_sort_in_the_browser(tmp_path: Path) -> None:
    manifest, summary = synthetic(1000)
    html_path, _ = write_reports(tmp_path, manifest, summary)
    dom, console, requests = browse(html_path, tmp_path, fragment="#sort-2")  # column 2: rows in, descending
    assert console == [] and requests == []
    first = dom.split('id="shard-table"')[1].split("</table>")[0]
    rest = dom.split('id="shard-table-rest"')[1].split("</table>")[0]
    assert first.count("<tr data-i=") == SHARD_PAGE and rest.count("<tr data-i=") == 1000 - SHARD_PAGE
    order = [int(x) for x in re.findall(r'<tr data-i="(\d+)"', first + rest)]
    assert order == list(range(999, -1, -1))  # rows_in grows with i
    assert 'aria-sort="descending"' in first
    dom, _, _ = browse(html_path, tmp_path, fragment="#sort-7-asc")  # invalid URLs (i % 7), ties keep shard order
    first = dom.split('id="shard-table"')[1].split("</table>")[0]
    assert [int(x) for x in re.findall(r'<tr data-i="(\d+)"', first)][:3] == [0, 7, 14]
    _png(screenshot(html_path, tmp_path / "thousand.png", tmp_path, height=2400))


def test_sample_estimates_in_the_browser(scanned: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(scanned, out)
    manifest, summary = load(out)
    html_path, _ = write_reports(out, manifest, summary, ESTIMATES)
    dom, console, requests = browse(html_path, tmp_path)
    assert console == [] and requests == []
    els = Elements(dom)
    shown = {(a["data-dimension"], a["data-value"]): float(a["data-share"]) for a in els.having("data-dimension")}
    assert shown == {(e["dimension"], e["value"]): e["share"] for e in ESTIMATES["estimates"]}
    assert dom.count('class="chart"') >= 3 + 3  # three interval charts besides the scan's bar charts
    _png(screenshot(html_path, tmp_path / "estimates.png", tmp_path, height=4200))


VISIBLE = "[].filter.call(document.querySelectorAll('#findings-table tbody tr'), function(r){return !r.hidden;})"


def test_typing_into_the_findings_table_filters_it(scanned: Path, tmp_path: Path) -> None:
    """Issue 20: real key events into the search box; the list and action selects; no message, no request."""
    page = scanned / "report.html"
    with Tab(page, tmp_path) as tab:
        total = tab.eval("document.querySelectorAll('#findings-table tbody tr').length")
        assert isinstance(total, int) and total > 5 and tab.eval(f"{VISIBLE}.length") == total
        flagme = "https://cdn.okhost-mfr.example/flagme-ptj/2.jpg"
        expected = [f["list"] for f in pq.read_table(scanned / "flagged.parquet").to_pylist() if f["url"] == flagme]
        assert len(expected) == 2  # the review list and the licence policy
        tab.type("#findings-search", "flagme")
        assert tab.eval(f"{VISIBLE}.map(function(r){{return r.cells[2].textContent + ' ' + r.dataset.list;}})") == [
            f"{flagme} {name}" for name in expected
        ]
        assert tab.eval("document.getElementById('findings-count').textContent") == f"2 of {total} shown"
        for _ in "flagme":
            tab.press("Backspace", 8)
        assert tab.eval("document.getElementById('findings-search').value") == ""
        assert tab.eval(f"{VISIBLE}.length") == total
        tab.type("#findings-search", "BADHOST drop")  # words anywhere in the row, any case
        badhost = tab.eval(
            f"{VISIBLE}.map(function(r){{return r.cells[2].textContent + ' ' + r.cells[5].textContent;}})"
        )
        assert badhost == [
            f"{f['url']} drop"
            for f in pq.read_table(scanned / "flagged.parquet").to_pylist()
            if "badhost" in (f["url"] or "") and f["action"] == "drop"
        ]
        assert len(badhost) == 3  # type: ignore[arg-type]  # rows 1 and 7 by the domain list, 7 also by licence
        tab.eval("document.getElementById('findings-search').value = ''")
        tab.eval("(function(s){s.focus();})(document.getElementById('findings-action'))")
        tab.type("#findings-action", "f")  # keyboard selection of the "flag" option
        assert tab.eval("document.getElementById('findings-action').value") == "flag"
        actions = tab.eval(f"{VISIBLE}.map(function(r){{return r.dataset.act;}})")
        assert actions and set(actions) == {"flag"}  # type: ignore[arg-type]
        assert tab.console == []
        assert set(tab.requests) == {page.resolve().as_uri()}
