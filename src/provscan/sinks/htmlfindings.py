"""report.html's findings, row by row: the first findings as a table a person searches and filters in
the page (no request, no library), and the cell helpers the page shares.

Under ``--redact-urls`` a row's URL and every entry that could name a host are shown only as a SHA-256
prefix; a cell's ``:`` is a character reference, so the page's source holds no ``://`` at all.
"""

from __future__ import annotations

import hashlib
from html import escape
from typing import Any

from provscan.kinds import EXACT_IMAGE_KINDS, PERCEPTUAL_KINDS
from provscan.sinks.redact import Redactor
from provscan.sinks.svg import num


def cell(red: Redactor, value: object) -> str:
    return escape(red.text(value))


_SAFE_ENTRY_KINDS = {
    "url-sha256",
    *EXACT_IMAGE_KINDS,
    *PERCEPTUAL_KINDS,
    "license",
    "consent",
    "ai-generated",
    "unchecked",
}
"""Entries that cannot name a row's host or URL: shown as they are under --redact-urls; others are hashed."""


def text_cell(red: Redactor, value: object) -> str:
    """Escaped text whose ``:`` is a character reference: a row's URL is shown, yet the page's source
    holds no ``://`` (the self-containment test's guarantee that nothing in it is a link to load)."""
    return cell(red, value).replace(":", "&#58;")


def finding_list(extras: Any, red: Redactor) -> str:
    """The first findings as a table a person can search and filter in the page (no request, no library)."""
    rows = extras.findings
    if not rows:
        return ""
    prefix = common_prefix(sorted({str(r["shard"]) for r in rows}))
    lists = sorted({str(r["list"]) for r in rows})
    actions = [a for a in ("drop", "flag", "allow") if any(r["action"] == a for r in rows)]
    hashed = "sha256&#58;{}&hellip;"
    which = (
        f"All {num(len(rows))} findings"
        if len(rows) == extras.findings_total
        else f"The first {num(len(rows))} of {num(extras.findings_total)} findings"
    )
    out = [
        f'<h3 id="findings-rows-h">Findings, row by row</h3><p class="note">{which} in <code>flagged.parquet</code> order'
        + (f", shards under <code>{text_cell(red, prefix)}</code>" if prefix else "")
        + '. Type to search every column; <code>provscan show OUT</code> prints them all.</p>'
        '<div class="filters"><input type="search" id="findings-search" placeholder="search URL, list, entry..." '
        'aria-label="search the findings" autocomplete="off">'
        '<select id="findings-list" aria-label="list"><option value="">every list</option>'
        + "".join(f'<option value="{escape(n)}">{escape(n)}</option>' for n in lists)
        + '</select><select id="findings-action" aria-label="action"><option value="">every action</option>'
        + "".join(f'<option value="{a}">{a}</option>' for a in actions)
        + f'</select> <span id="findings-count" data-total="{len(rows)}">{num(len(rows))} of {num(len(rows))} shown</span></div>'
        '<div class="scroll"><table id="findings-table"><thead><tr><th>shard</th><th class="r">row</th><th>URL</th>'
        "<th>list</th><th>entry</th><th>action</th></tr></thead><tbody>"
    ]
    for r in rows:
        if r["url"] is not None:
            url = text_cell(red, r["url"])
        else:
            url = hashed.format(escape(str(r["url_sha256"])[:16])) if r["url_sha256"] else "-"
        entry = r["entry"] or "-"
        if red.enabled and r["kind"] not in _SAFE_ENTRY_KINDS:
            entry_cell = hashed.format(hashlib.sha256(entry.encode("utf-8")).hexdigest()[:16])
        else:
            entry_cell = text_cell(red, entry)
        out.append(
            f'<tr data-list="{escape(str(r["list"]))}" data-act="{escape(str(r["action"]))}">'
            f'<td class="p">{text_cell(red, str(r["shard"])[len(prefix) :])}</td><td class="r">{r["row"]}</td>'
            f'<td class="p">{url}</td><td>{escape(str(r["list"]))}</td><td class="p">{entry_cell}</td>'
            f'<td>{escape(str(r["action"]))}</td></tr>'
        )
    out.append("</tbody></table></div>")
    return "".join(out)


def common_prefix(paths: list[str]) -> str:
    if len(paths) < 2:
        return paths[0].rpartition("/")[0] + "/" if paths and "/" in paths[0] else ""
    first, last = min(paths), max(paths)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i].rpartition("/")[0] + "/" if "/" in first[:i] else ""
