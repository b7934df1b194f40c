"""What the terminal shows around a scan: the lists in effect and the end-of-run tables.

Rendered with ``rich`` (tables that fit the terminal, colour only on a TTY) from the manifest and
summary the library returns (read through :class:`~provscan.sinks.manifest.Manifest`), so the
terminal says exactly what the files say. When the stream is
not a terminal the width is fixed and generous, so piped output and tests see whole shard paths.
"""

from __future__ import annotations

import shlex
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from provscan.sinks.manifest import ListInfo, Manifest, Settings

PIPE_WIDTH = 160


def console(stream: TextIO) -> Console:
    """A console on ``stream``: the terminal's width on a TTY, a fixed width (no colour) otherwise."""
    tty = stream.isatty()
    return Console(
        file=stream,
        width=None if tty else PIPE_WIDTH,
        highlight=False,
        color_system="auto" if tty else None,
        soft_wrap=False,
    )


def lists_table(lists: tuple[ListInfo, ...]) -> Table:
    """One row per list in effect: name, kind, action, entries, skipped rules (reason: count)."""
    table = Table(title="lists in effect", title_justify="left", show_edge=False)
    for name, justify in (
        ("list", "left"),
        ("kind", "left"),
        ("action", "left"),
        ("entries", "right"),
        ("skipped rules", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for lst in lists:
        skipped = ", ".join(f"{reason}: {n:,}" for reason, n in sorted(lst.skipped.items())) or "-"
        extra = ", ".join(f"{k}={v}" for k, v in sorted(lst.params.items()))
        table.add_row(
            escape(lst.name),
            escape(lst.kind + (f" ({extra})" if extra else "")),
            lst.action,
            f"{lst.entries:,}",
            escape(skipped),
        )
    return table


def shards_table(manifest: Manifest) -> Table:
    """One row per shard and a total row, in the one vocabulary of every output: rows in, matched (any
    finding), dropped, flagged (kept and reported), allowed (kept by an allowlist), out, invalid URLs,
    unchecked images (allowed and unchecked only when some shard has them)."""
    shards, totals = manifest.shards, manifest.totals
    has = {key for s in shards for key in ("rows_allowed", "unchecked") if key in s}
    columns = [
        ("rows in", "rows_in"),
        ("matched", "rows_matched"),
        ("dropped", "rows_dropped"),
        ("flagged", "rows_flagged"),
        *([("allowed", "rows_allowed")] if "rows_allowed" in has else []),
        ("rows out", "rows_out"),
        ("invalid urls", "invalid_urls"),
        *([("unchecked", "unchecked")] if "unchecked" in has else []),
    ]
    cols, keys = [c for c, _ in columns], [k for _, k in columns]
    table = Table(show_edge=False, show_footer=True)
    table.add_column("shard", footer="total")
    for col, key in zip(cols, keys):
        table.add_column(col, justify="right", footer=f"{totals.get(key, 0):,}")
    for s in shards:
        table.add_row(escape(s["path"]), *(f"{s.get(k, 0):,}" for k in keys))
    return table


def per_list_table(manifest: Manifest, summary: dict[str, Any]) -> Table | None:
    """Per list, the rows it matched and what it did to them: dropped / flagged / allowed (a row counts
    once per list; lists overlap, so the column sums can exceed the run's totals, and a row one list
    flags and another drops is dropped in the shard table). Licence, consent and unchecked findings
    appear under their own ``list`` names."""
    by_list: dict[str, dict[str, int]] = summary.get("rows_by_list_action", {})
    names = [lst.name for lst in manifest.lists]
    names += sorted(n for n in by_list if n not in names)
    if not names:
        return None
    table = Table(title="rows per list", title_justify="left", show_edge=False)
    table.add_column("list")
    for col in ("matched", "dropped", "flagged", "allowed"):
        table.add_column(col, justify="right")
    totals = summary.get("rows_by_list", {})
    for name in names:
        actions = by_list.get(name, {})
        table.add_row(
            escape(name), f"{totals.get(name, 0):,}", *(f"{actions.get(a, 0):,}" for a in ("drop", "flag", "allow"))
        )
    return table


def findings_table(records: list[dict[str, Any]]) -> Table:
    """``provscan show``: one line per finding; URLs fold rather than widen the table."""
    from provscan.sinks.findings import COLUMNS, display_url

    table = Table(show_edge=False)
    for name in COLUMNS:
        table.add_column(
            name,
            justify="right" if name == "row" else "left",  # type: ignore[arg-type]
            overflow="fold" if name in ("url", "entry", "shard") else "ellipsis",
        )
    for r in records:
        table.add_row(
            escape(r["shard"]),
            f"{r['row']:,}",
            escape(display_url(r["url"], r["url_sha256"])),
            escape(r["list"]),
            escape(r["entry"] or "-"),
            r["action"],
        )
    return table


def print_end_of_run(
    stream: TextIO, manifest: dict[str, Any], summary: dict[str, Any], config_note: str | None = None
) -> None:
    """The shard table, the rows per list, the config file that added lists (if any) and the output."""
    out, typed = console(stream), Manifest.read(manifest)
    out.print(shards_table(typed))
    per_list = per_list_table(typed, summary)
    if per_list is not None:
        out.print()
        out.print(per_list)
    out.print()
    if config_note:
        out.print(config_note, markup=False)
    out.print(
        f"output: {typed.settings.output}  (flagged.parquet, clean/, removals.sha256.txt, "
        "summary.json, report.html, datacard.md, manifest.json)",
        markup=False,
    )
    release = [name for name in ("croissant.json", "provenance.intoto.json") if name in typed.files]
    if release:
        target = shlex.quote(str(typed.settings.output))
        out.print(f"release: {', '.join(release)}   (check: provscan verify {target} --attestation)", markup=False)
    if typed.totals.get("findings"):
        target = shlex.quote(str(typed.settings.output))
        out.print(f"which rows, and why: provscan show {target}   (--action drop: the removed rows)", markup=False)


def policy_lines(settings: Settings) -> list[str]:
    """The licence and consent policy in effect, one line each (only those that can flag a row)."""
    lines = []
    if settings.licence_drop or settings.licence_flag:
        lines.append(
            f"licence policy: drop {', '.join(settings.licence_drop or ['-'])}; flag {', '.join(settings.licence_flag or ['-'])}"
        )
    if settings.consent_check:
        lines.append(f"consent check: {settings.consent_action} rows that reserve AI use")
    if settings.unchecked != "keep":
        lines.append(f"unchecked images: {settings.unchecked}")
    return lines


def print_lists(stream: TextIO, manifest: dict[str, Any]) -> None:
    """The lists and policies in effect, on the terminal (the manifest has the same, in full)."""
    out, typed = console(stream), Manifest.read(manifest)
    if typed.lists:
        out.print(lists_table(typed.lists))
    for line in policy_lines(typed.settings):
        out.print(line, markup=False)
