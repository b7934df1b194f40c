"""diff.html: ``provscan diff`` for people, in report.html's style (same stylesheet, same CSP: no request).

Counts per change, then per list and kind, per shard, and the first changed rows (every row is in
diff.parquet). Everything shown comes from the two OUTs, so every value is escaped; URLs never
appear, only their SHA-256 (a redacted release stays redacted).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from provscan.io.atomic import write_text
from provscan.sinks.page import CSP, CSS
from provscan.sinks.svg import num

_CLASS = {"newly dropped": "drop", "no longer dropped": "keep", "newly flagged": "flag"}


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    right = {i for i, h in enumerate(head) if h == "rows"}
    cells = "".join(f'<th{" class=r" if i in right else ""}>{escape(h)}</th>' for i, h in enumerate(head))
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="r">{num(v)}</td>' if i in right else f"<td>{escape(_text(v))}</td>" for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def render_diff(diff: Any, old: dict[str, Any], new: dict[str, Any]) -> str:
    cards = (
        "".join(
            f'<div class="card {_CLASS.get(change, "")}"><span class="v">{num(n)}</span><span class="l">{escape(change)}</span></div>'
            for change, n in diff.changes.items()
        )
        or '<div class="card"><span class="v">0</span><span class="l">rows changed</span></div>'
    )
    inputs = diff.inputs
    parts = [
        "<h1>provscan diff</h1>",
        f'<p class="meta">OLD <code>{escape(str(diff.old))}</code> (provscan {escape(str(old.get("provscan_version", "?")))}, '
        f'finished {escape(str(old.get("finished", "?")))})<br>NEW <code>{escape(str(diff.new))}</code> '
        f'(provscan {escape(str(new.get("provscan_version", "?")))}, finished {escape(str(new.get("finished", "?")))})</p>',
        f'<p class="note">Rows matched by {escape(diff.by)}; inputs: {num(inputs.get("same", 0))} shards the same, '
        f'{num(inputs.get("only_old", 0))} only in OLD, {num(inputs.get("only_new", 0))} only in NEW, {num(inputs.get("changed", 0))} changed.</p>',
        f'<h2 id="changes">Rows changed: {num(diff.rows)}</h2><div class="cards">{cards}</div>',
        '<h2 id="lists">By list and kind</h2>',
        _table(
            ("list", "kind", "change", "rows"), [(r["list"], r["kind"], r["change"], r["rows"]) for r in diff.by_list]
        )
        if diff.by_list
        else '<p class="note">No list or policy changed a row.</p>',
        '<h2 id="shards">By shard</h2>',
        _table(("shard", "change", "rows"), [(r["shard"], r["change"], r["rows"]) for r in diff.by_shard])
        if diff.by_shard
        else '<p class="note">No shard has a changed row.</p>',
        f'<h2 id="rows">Changed rows (first {num(len(diff.first))} of {num(diff.rows)}; all in diff.parquet)</h2>',
        _table(
            ("shard", "row", "url_sha256", "change", "before", "after", "lists"),
            [
                (r["shard"], r["row"], r["url_sha256"], r["change"], r["before"], r["after"], r["lists"])
                for r in diff.first
            ],
        ),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>provscan diff</title><style>{CSS}</style></head>\n<body><main>\n"
        + "\n".join(parts)
        + "\n</main></body></html>\n"
    )


def write_diff_page(path: Path, diff: Any, old: dict[str, Any], new: dict[str, Any]) -> None:
    write_text(path, render_diff(diff, old, new))
