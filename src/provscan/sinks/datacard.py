"""datacard.md: the cleaning statement a maintainer pastes into a dataset card.

Written beside report.html from the same inputs, deterministic in the same way. It says what was
scanned, with which lists and policies (names, kinds, SHA-256), how many rows each removed, the
licence table, the removal list's SHA-256 with the command a derivative dataset applies it with, and
the command that verifies the release. Markdown only: tables and fenced commands render on every hub.
"""

from __future__ import annotations

import shlex
from html import escape
from typing import Any

from provscan.consent.policy import describe_sources
from provscan.sinks.manifest import Manifest
from provscan.sinks.redact import Redactor
from provscan.sinks.svg import num, pct


def _cell(red: Redactor, value: object) -> str:
    """Table text: a ``|`` would split the cell, and hubs render inline HTML, so both are escaped."""
    return escape(red.text(value), quote=False).replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: list[tuple[object, ...]], red: Redactor) -> list[str]:
    right = {i for i, h in enumerate(header) if h in {"rows", "entries", "rows removed", "matches"}}
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(num(v) if isinstance(v, int) else _cell(red, v) for v in row) + " |")
    return lines


def render_datacard(
    manifest: dict[str, Any], summary: dict[str, Any], extras: Any, estimates: dict[str, Any] | None = None
) -> str:
    m = Manifest.read(manifest)
    settings, t = m.settings, m.totals
    red = Redactor(settings.redact_urls)
    rows_in, dropped = int(t.get("rows_in", 0)), int(t.get("rows_dropped", 0))
    lines = [
        "## Data cleaning statement",
        "",
        f"Scanned with provscan {m.version or '?'} (run finished {m.finished or '?'}): "
        f"{num(int(t.get('shards', len(m.shards))))} parquet shards, {num(rows_in)} rows. "
        f"**{num(dropped)} rows were removed** ({pct(dropped / rows_in) if rows_in else '0.00%'}), "
        f"{num(int(t.get('rows_out', 0)))} rows kept. {num(int(t.get('rows_matched', 0)))} rows matched a list or policy; "
        f"of the kept rows, {num(int(t.get('rows_flagged', 0)))} were flagged (reported, not removed)"
        + (f" and {num(int(t['rows_allowed']))} were allowed (kept by an allowlist)" if t.get("rows_allowed") else "")
        + ".",
        "",
        "### Lists and policies",
        "",
        *_table(
            ("list", "kind", "action", "entries", "SHA-256"),
            [(lst.name, lst.kind, lst.action, lst.entries, f"`{lst.sha256}`") for lst in m.lists],
            red,
        ),
    ]
    if settings.licence_drop or settings.licence_flag:
        lines += [
            "",
            f"Licence policy: drop {_globs(settings.licence_drop)}; flag {_globs(settings.licence_flag)} (drop wins).",
        ]
    signals = summary.get("consent_signals") or {}
    if settings.consent_check:
        lines += [
            "",
            f"Consent signals checked (X-Robots-Tag, TDMRep, robots.txt, AIPREF, Content-Signal, ai.txt); directives "
            f"{_globs(settings.consent_directives)}, action {settings.consent_action}.",
        ]
    if sources := describe_sources(m.consent_sources, signals):
        lines += ["", sources]
    if signals:
        lines += [
            "",
            "### Consent signals",
            "",
            "Every signal read, counted per row (opt-outs become findings as the `[consent]` policy says):",
            "",
        ]
        lines += _table(("signal", "rows"), sorted(signals.items(), key=lambda kv: (-kv[1], kv[0])), red)
    lines += ["", "### Rows removed, by reason", ""]
    if extras.dropped:
        lines += _table(
            ("reason", "kind", "rows removed"), [(name, kind, n) for name, (kind, n) in extras.dropped.items()], red
        )
        lines += [
            "",
            f"A row removed for several reasons is counted under each; {num(dropped)} distinct rows were removed in all.",
        ]
    else:
        lines.append("No row was removed.")
    by_id = summary.get("licenses_by_id") or {}
    if by_id:
        lines += ["", "### Licences", ""]
        lines += _table(("licence", "rows"), sorted(by_id.items(), key=lambda kv: (-kv[1], kv[0])), red)
    if estimates:
        lines += [
            "",
            "### Estimated from a sample",
            "",
            f"{estimates.get('mode')} sample (seed {estimates.get('seed')}) of {num(int(estimates.get('sampled_rows') or 0))} "
            f"rows out of {num(int(estimates.get('population_rows') or 0))}; "
            f"{int(round(float(estimates.get('confidence') or 0) * 100))}% intervals.",
            "",
        ]
        lines += _table(
            ("dimension", "value", "share", "interval", "method"),
            [
                (
                    e["dimension"],
                    e["value"],
                    pct(e["share"]),
                    f"{pct(e['share_low'])} - {pct(e['share_high'])}",
                    e.get("method", ""),
                )
                for e in sorted(estimates.get("estimates") or [], key=lambda e: (e["dimension"], e["value"]))
            ],
            red,
        )
    lines += ["", "### Removal list", ""]
    if extras.removals_sha256:
        lines += [
            f"`removals.sha256.txt` lists the SHA-256 of the canonical URL expression of each of the "
            f"{num(int(t.get('removals', 0)))} removed URLs (no URL is published). SHA-256 of the file:",
            "",
            f"    {extras.removals_sha256}",
            "",
            "A derivative dataset (a copy, a re-crawl, a subset) removes the same rows with:",
            "",
            "```sh",
            "provscan scan copy/ -b url-sha256:removals.sha256.txt",
            "```",
        ]
    else:
        lines.append("No removal list was written with this output.")
    target = shlex.quote(red.text(settings.output if settings.output is not None else "OUT"))
    lines += [
        "",
        "### Verify",
        "",
        "The release's manifest.json records the SHA-256 of every input shard, list and output file. Check them with:",
        "",
        "```sh",
        f"provscan verify {target} --inputs",
        "```",
        "",
    ]
    release = getattr(extras, "release", ())
    if release:
        lines += ["### Croissant metadata and provenance", ""]
        if "croissant.json" in release:
            lines += [
                "`croissant.json` describes the cleaned shards in MLCommons Croissant 1.0 (files with SHA-256, the record "
                "fields, and this cleaning statement in its Responsible-AI fields); `mlcroissant` loads it.",
                "",
            ]
        if "provenance.intoto.json" in release:
            lines += [
                "`provenance.intoto.json` is an in-toto Statement with SLSA Provenance: every released file by SHA-256, made by "
                "provscan from every input shard and list. Sign it with `cosign sign-blob`; anyone checks it, and the "
                "Croissant file, against the files with:",
                "",
                "```sh",
                f"provscan verify {target} --attestation",
                "```",
                "",
            ]
    return red.text("\n".join(lines))


def _globs(values: Any) -> str:
    return ", ".join(f"`{v}`" for v in values) if values else "nothing"
