"""report.html: a scan's result as one self-contained page, for people.

A pure function of the manifest, the summary, the optional sample estimates and the small data read
from flagged.parquet (:class:`~provscan.sinks.report.Extras`), so the same OUT always renders to the
same bytes: no clock, no random ids, sorted iteration, and the manifest's ``files`` section ignored
(the report is written before the manifest that lists it). Nothing is loaded from anywhere: inline
CSS, hand-written SVG, a few lines of inline JavaScript to sort the shard table and search the findings, and a
Content-Security-Policy that forbids every request, so the page works offline and as an attachment.
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime
from html import escape
from typing import Any

from provscan.consent.policy import describe_sources
from provscan.sinks.htmlfindings import cell, common_prefix, finding_list, text_cell
from provscan.sinks.manifest import Manifest
from provscan.sinks.page import CSP, CSS, SCRIPT, SHARD_PAGE
from provscan.sinks.redact import Redactor
from provscan.sinks.svg import COLORS, bar_chart, histogram, interval_chart, num, pct


def render_html(
    manifest: dict[str, Any], summary: dict[str, Any], extras: Any, estimates: dict[str, Any] | None = None
) -> str:
    """The whole page as one string. ``extras`` is a :class:`~provscan.sinks.report.Extras`."""
    m = Manifest.read(manifest)
    red = Redactor(m.settings.redact_urls)
    parts = [
        _overview(m, summary, red),
        _findings(m, summary, red),
        finding_list(extras, red),
        _distances(m, extras),
        _breakdowns(summary, red, describe_sources(m.consent_sources, summary.get("consent_signals"))),
        _estimates(estimates, red) if estimates else "",
        _shards(m, red),
        _provenance(m, extras, red),
    ]
    title = "provscan report" + (" (sample)" if estimates else "")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{title}</title><style>{CSS}</style></head>\n<body><main>\n"
        + "\n".join(p for p in parts if p)
        + f"\n</main><script>{SCRIPT}</script></body></html>\n"
    )
    return red.text(page)  # under --redact-urls, a last pass: no URL-like string in any field survives


def _card(key: str, value: int | str, label: str, cls: str = "") -> str:
    shown = num(value) if isinstance(value, int) else escape(str(value))
    return (
        f'<div class="card {cls}"><span class="v" id="{key}" data-value="{escape(str(value))}">{shown}</span>'
        f'<span class="l">{escape(label)}</span></div>'
    )


def duration(started: str | None, finished: str | None) -> str:
    try:
        seconds = int((datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "unknown"
    h, rest = divmod(max(seconds, 0), 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


def _overview(m: Manifest, summary: dict[str, Any], red: Redactor) -> str:
    t, lists, output = m.totals, m.lists, m.settings.output
    started, finished = m.started, m.finished
    cards = [
        _card("rows-in", t.get("rows_in", 0), "rows scanned"),
        _card("rows-matched", t.get("rows_matched", 0), "rows matched"),
        _card("rows-dropped", t.get("rows_dropped", 0), "rows dropped", "drop"),
        _card("rows-flagged", t.get("rows_flagged", 0), "rows flagged (kept)", "flag"),
        _card("rows-out", t.get("rows_out", 0), "rows kept", "keep"),
        _card("shards", t.get("shards", len(m.shards)), "shards"),
        _card("lists", len(lists), "lists in effect"),
        _card("removals", t.get("removals", 0), "removal hashes"),
        _card("run-time", duration(started, finished), "run time"),
    ]
    names = ", ".join(f"{escape(lst.name)} ({escape(lst.kind)}, {escape(lst.action)})" for lst in lists) or "none"
    redacted = (
        (
            '<p class="note" id="redacted">URLs redacted (--redact-urls): hosts appear as SHA-256 prefixes, '
            "and no URL or host of a row appears in this report.</p>"
        )
        if red.enabled
        else ""
    )
    return (
        "<h1>provscan report</h1>"
        f'<p class="meta">provscan <span id="version">{escape(m.version if m.version is not None else "?")}</span>'
        f" &middot; output <code>{cell(red, output if output is not None else '?')}</code>"
        f" &middot; started {escape(str(started))} &middot; finished {escape(str(finished))}</p>{redacted}"
        f'<h2 id="overview">Overview</h2><div class="cards">{"".join(cards)}</div>'
        f'<p class="note">Lists in effect: {names}. Every row in is either kept or dropped '
        f"({num(t.get('rows_out', 0))} + {num(t.get('rows_dropped', 0))} = {num(t.get('rows_in', 0))}). "
        "A row is <em>matched</em> when any list or policy found it; matched rows are <em>dropped</em> (removed), "
        "<em>flagged</em> (kept and reported) or <em>allowed</em> (kept by an allowlist).</p>"
    )


def _findings(m: Manifest, summary: dict[str, Any], red: Redactor) -> str:
    actions = {lst.name: lst.action for lst in m.lists}
    by_list = summary.get("findings_by_list") or {}
    rows_by_list = summary.get("rows_by_list") or {}
    if not by_list:
        return '<h2 id="findings">Findings</h2><p id="no-findings">No row matched any list.</p>'
    items = sorted(by_list.items(), key=lambda kv: (-kv[1], kv[0]))
    out = [
        '<h2 id="findings">Findings</h2>',
        bar_chart(
            "Findings by list",
            items,
            unit="findings",
            colors=[COLORS.get(actions.get(k, ""), COLORS[""]) for k, _ in items],
        ),
        '<p class="note">Bar colours: red, a list that drops; amber, a list that flags; blue, a policy whose action '
        "depends on the row (licences, consent).</p>"
        '<table id="findings-by-list"><thead><tr><th>list</th><th>action</th><th class="r">findings</th>'
        '<th class="r">rows</th></tr></thead><tbody>',
    ]
    for name, n in items:
        out.append(
            f'<tr data-list="{escape(name)}"><td>{escape(name)}</td><td>{escape(actions.get(name, "per policy"))}</td>'
            f'<td class="r" data-value="{n}">{num(n)}</td><td class="r">{num(rows_by_list.get(name, 0))}</td></tr>'
        )
    out.append("</tbody></table>")
    for key, label in (("findings_by_kind", "kind"), ("findings_by_action", "action")):
        data = summary.get(key) or {}
        if data:
            pairs = sorted(data.items(), key=lambda kv: (-kv[1], kv[0]))
            colors = [COLORS.get(k, COLORS[""]) for k, _ in pairs] if label == "action" else None
            out.append(
                f"<h3>By {label}</h3>" + bar_chart(f"Findings by {label}", pairs, unit="findings", colors=colors)
            )
    domains = (
        summary.get("top_matched_domains") or summary.get("top_flagged_domains") or []
    )  # (the name before issue 20)
    if domains:
        pairs = [(red.host(d["domain"]), d["rows"]) for d in domains]
        out.append(
            '<h3 id="domains">Top domains of matched rows</h3>'
            + bar_chart("Top domains of matched rows", pairs, unit="matched rows")
        )
    return "".join(out)


def _distances(m: Manifest, extras: Any) -> str:
    perceptual = [lst for lst in m.lists if lst.name in extras.max_distance]
    if not perceptual:
        return ""
    out = [
        '<h2 id="distances">Image match distances</h2><p class="note">Hamming distance between each matched image '
        "hash and the list entry it matched; the dashed line is the list's <code>max_distance</code>.</p>"
    ]
    for lst in perceptual:
        counts = extras.distances.get(lst.name, {})
        limit = extras.max_distance[lst.name]
        total = sum(counts.values())
        out.append(
            f'<h3>{escape(lst.name)} ({escape(lst.kind)}) &middot; '
            f'<span class="dist" data-list="{escape(lst.name)}" data-matches="{total}" data-max="{limit}">'
            f"{num(total)} matches, max_distance {limit}</span></h3>"
        )
        out.append(
            histogram(f"Match distances, {lst.name}", counts, limit, x_label="Hamming distance", y_label="matches")
        )
    return "".join(out)


def _breakdowns(summary: dict[str, Any], red: Redactor, sources: str) -> str:
    sections = [
        ("licenses_by_id", "Licences (resolved)", "rows"),
        ("licenses_by_source", "Licence source", "rows"),
        ("consent_signals", "Consent signals", "rows"),
        ("fetch_status", "Fetch statuses (link rot)", "rows"),
    ]
    out = []
    for key, title, unit in sections:
        data = summary.get(key) or {}
        if not data:
            continue
        pairs = sorted(((red.text(k), v) for k, v in data.items()), key=lambda kv: (-kv[1], kv[0]))
        rows = "".join(f'<tr><td>{escape(k)}</td><td class="r" data-value="{v}">{num(v)}</td></tr>' for k, v in pairs)
        note = f'<p id="consent-sources">{text_cell(red, sources)}</p>' if key == "consent_signals" and sources else ""
        out.append(
            f'<h3 id="{key}">{escape(title)}</h3>'
            + note
            + bar_chart(title, pairs, unit=unit)
            + f'<table class="{key}"><thead><tr><th>value</th><th class="r">{unit}</th></tr></thead><tbody>{rows}</tbody></table>'
        )
    return ('<h2 id="licences">Licences, consent and fetches</h2>' + "".join(out)) if out else ""


def _estimates(est: dict[str, Any], red: Redactor) -> str:
    facts = [
        ("mode", est.get("mode")),
        ("seed", est.get("seed")),
        ("confidence", est.get("confidence")),
        ("population rows", est.get("population_rows")),
        ("sampled rows", est.get("sampled_rows")),
        ("sampled row groups", est.get("sampled_row_groups")),
        ("population row groups", est.get("population_row_groups")),
        ("bytes read", est.get("bytes_read")),
    ]
    out = ['<h2 id="estimates">Sample estimates</h2><table id="sample-facts"><tbody>']
    for label, value in facts:
        shown = num(value) if isinstance(value, int) and not isinstance(value, bool) else escape(str(value))
        out.append(
            f'<tr><th>{escape(label)}</th><td class="r" data-key="{escape(label)}" data-value="{escape(str(value))}">{shown}</td></tr>'
        )
    out.append("</tbody></table>")
    rows = est.get("estimates") or []
    for dim in sorted({r["dimension"] for r in rows}):
        mine = sorted((r for r in rows if r["dimension"] == dim), key=lambda r: (-r["share"], r["value"]))
        out.append(
            f"<h3>By {escape(dim)}</h3>"
            + interval_chart(
                f"Estimated share of rows by {dim}",
                [(red.text(r["value"]), r["share"], r["share_low"], r["share_high"]) for r in mine],
            )
        )
    out.append(
        '<table id="estimates-table"><thead><tr><th>dimension</th><th>value</th><th class="r">sampled</th>'
        '<th class="r">share</th><th class="r">interval</th><th class="r">rows (estimate)</th>'
        '<th class="r">rows interval</th><th>method</th></tr></thead><tbody>'
    )
    for r in sorted(rows, key=lambda r: (r["dimension"], r["value"])):
        out.append(
            f'<tr data-dimension="{escape(r["dimension"])}" data-value="{cell(red, r["value"])}" data-share="{r["share"]!r}" '
            f'data-low="{r["share_low"]!r}" data-high="{r["share_high"]!r}"><td>{escape(r["dimension"])}</td><td>{cell(red, r["value"])}</td>'
            f'<td class="r">{num(r["sampled"])}</td><td class="r">{pct(r["share"])}</td>'
            f'<td class="r">{pct(r["share_low"])} &ndash; {pct(r["share_high"])}</td><td class="r">{num(r["rows"])}</td>'
            f'<td class="r">{num(r["rows_low"])} &ndash; {num(r["rows_high"])}</td><td>{escape(str(r.get("method", "")))}</td></tr>'
        )
    out.append(
        '</tbody></table><h3>Sources</h3><table id="sources"><thead><tr><th>source</th><th class="r">size</th>'
        '<th class="r">rows</th><th class="r">row groups</th><th class="r">bytes read</th><th>etag</th><th>last modified</th></tr></thead><tbody>'
    )
    for s in est.get("sources") or []:
        cells = [
            cell(red, s.get("source", "")),
            *(num(s[k]) if isinstance(s.get(k), int) else "" for k in ("size", "rows", "row_groups", "bytes_read")),
            cell(red, s.get("etag") or ""),
            cell(red, s.get("last_modified") or ""),
        ]
        out.append(
            "<tr>" + "".join(f'<td{" class=r" if 0 < i < 5 else ""}>{c}</td>' for i, c in enumerate(cells)) + "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


_SHARD_COLS = ("rows_in", "rows_matched", "rows_dropped", "rows_flagged", "rows_out", "invalid_urls")


def _shard_rows(shards: list[dict[str, Any]], prefix: str, red: Redactor, start: int) -> str:
    out = []
    for i, s in enumerate(shards, start):
        path = str(s.get("path", ""))[len(prefix) :]
        nums = "".join(f'<td class="r">{num(int(s.get(k) or 0))}</td>' for k in _SHARD_COLS)
        out.append(
            f'<tr data-i="{i}"><td class="r">{i + 1}</td><td class="p">{cell(red, path)}</td>{nums}'
            f'<td class="h"><code>{escape(str(s.get("sha256", "")))}</code></td>'
            f'<td class="h"><code>{escape(str(s.get("output_sha256", "")))}</code></td></tr>'
        )
    return "".join(out)


def _shards(m: Manifest, red: Redactor) -> str:
    shards = list(m.shards)
    if not shards:
        return '<h2 id="shards-h">Shards</h2><p>No shards.</p>'
    prefix = common_prefix([str(s.get("path", "")) for s in shards])
    head = (
        '<thead><tr><th class="r">#</th><th>shard</th><th class="r">rows in</th><th class="r">matched</th>'
        '<th class="r">dropped</th><th class="r">flagged</th><th class="r">rows out</th><th class="r">invalid URLs</th>'
        "<th>SHA-256 in</th><th>SHA-256 out</th></tr></thead>"
    )
    out = [
        '<h2 id="shards-h">Shards</h2>',
        f'<p class="note">{num(len(shards))} shards'
        + (f" under <code>{cell(red, prefix)}</code>" if prefix else "")
        + ". Click a column to sort (hashes are shortened on screen; copy them for the full value).</p>",
        f'<table id="shard-table">{_sortable(head)}<tbody>{_shard_rows(shards[:SHARD_PAGE], prefix, red, 0)}</tbody></table>',
    ]
    if len(shards) > SHARD_PAGE:
        out.append(
            f'<details id="shards-more"><summary>Show the other {num(len(shards) - SHARD_PAGE)} shards</summary>'
            f'<table id="shard-table-rest">{head}<tbody>{_shard_rows(shards[SHARD_PAGE:], prefix, red, SHARD_PAGE)}</tbody></table></details>'
        )
    return "".join(out)


def _sortable(head: str) -> str:
    """Header cells become buttons (keyboard-reachable) for the sorting script."""
    return re.sub(r"(<th(?:\s[^>]*)?>)(.*?)</th>", r'\1<button type="button">\2</button></th>', head)


def _provenance(m: Manifest, extras: Any, red: Redactor) -> str:
    settings, t = m.settings, m.totals
    out = [
        '<h2 id="provenance">Provenance</h2><h3>Lists</h3><table id="lists-table"><thead><tr><th>name</th><th>kind</th>'
        '<th>action</th><th class="r">entries</th><th>SHA-256</th><th>parameters</th><th>path</th></tr></thead><tbody>'
    ]
    for lst in m.lists:
        params = ", ".join(f"{k}={v}" for k, v in sorted(lst.params.items()))
        out.append(
            f'<tr data-list="{escape(lst.name)}"><td>{escape(lst.name)}</td><td>{escape(lst.kind)}</td>'
            f'<td>{escape(lst.action)}</td><td class="r" data-value="{lst.entries}">{num(lst.entries)}</td>'
            f'<td><code class="sha">{escape(lst.sha256)}</code></td><td>{cell(red, params)}</td>'
            f'<td class="p">{cell(red, lst.path)}</td></tr>'
        )
    out.append('</tbody></table><h3>Totals</h3><table id="totals-table"><tbody>')
    for key in sorted(t):
        value = t[key]
        shown = num(value) if isinstance(value, int) and not isinstance(value, bool) else cell(red, value)
        out.append(
            f'<tr><th>{escape(key)}</th><td class="r" data-key="{escape(key)}" data-value="{escape(str(value))}">{shown}</td></tr>'
        )
    out.append("</tbody></table>")
    if extras.removals_sha256:
        out.append(
            f'<p>Removal list <code>removals.sha256.txt</code> SHA-256 <code id="removals-sha256">{extras.removals_sha256}</code>; '
            "a derivative dataset applies it with <code>provscan scan copy/ -b url-sha256:removals.sha256.txt</code>.</p>"
        )
    target = shlex.quote(red.text(settings.output if settings.output is not None else "OUT"))
    out.append(
        f'<h3>Verify</h3><p>Check this output against its manifest and the input shards:</p>'
        f'<p><code class="cmd" id="verify">provscan verify {escape(target)} --inputs</code></p>'
    )
    release = getattr(extras, "release", ())
    if release:
        links = " and ".join(
            f"<code>{escape(name)}</code>" for name in release
        )  # names beside this page, no href: the page makes no request
        out.append(
            f'<h3>Croissant metadata and provenance</h3><p id="release-files">{links}: the cleaned shards as MLCommons Croissant '
            "metadata, and an in-toto / SLSA provenance statement naming every released file by SHA-256 (sign it with "
            "<code>cosign sign-blob</code>). Check them against the files:</p>"
            f'<p><code class="cmd" id="verify-attestation">provscan verify {escape(target)} --attestation</code></p>'
        )
    out.append(
        f'<h3>Configuration</h3><pre id="config">{cell(red, json.dumps(settings.recorded, indent=2, sort_keys=True, default=str))}</pre>'
    )
    return "".join(out)
