"""What every command shares: errors as one line, the config a command starts from, the overrides
``scan`` and ``sample`` take, and small formatters.

Exit codes: 0 success, 1 any provscan error (one line naming the file and line at fault), 2 usage.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import click

from provscan.config import DEFAULT_CONFIG_NAME, ScanConfig, load_config
from provscan.errors import ProvscanError
from provscan.kinds import ALL_KINDS
from provscan.lists.args import parse_list_option


class _Failure(click.ClickException):
    """A provscan error as one line on stderr; exit 1, or 130/143 for an interrupted run."""

    def __init__(self, exc: ProvscanError) -> None:
        super().__init__(str(exc))
        self.exit_code = int(getattr(exc, "exit_code", 1))  # type: ignore[misc]  # click's ClassVar, per instance


def fail(exc: ProvscanError) -> None:
    raise _Failure(exc) from exc


def print_result(manifest: dict[str, Any], summary: dict[str, Any] | None, config_note: str | None = None) -> None:
    from provscan.terminal import print_end_of_run, print_lists

    print_lists(sys.stderr, manifest)
    print_end_of_run(sys.stdout, manifest, summary or {}, config_note)


def config_note(config: ScanConfig, *, auto: bool) -> str | None:
    """``config: ./provscan.toml (6 lists, 1 policy; ...)``: what a config file added to the run, so
    that lists a user did not name on the command line are seen in the result, not only in a stderr line."""
    if config.source is None:
        return None
    policies = sum(
        (bool(config.licenses.drop or config.licenses.flag), config.consent.check, config.unchecked != "keep")
    )
    counts = (
        f"{len(config.lists)} list{'s' * (len(config.lists) != 1)}, {policies} polic{'ies' if policies != 1 else 'y'}"
    )
    return f"config: {shown(config.source)} ({counts}" + (
        "; found in the current directory, --no-config skips it)" if auto else ")"
    )


def note_url_fast_path(quiet: bool) -> None:
    """Without the C kernel (a clone run from ``src/``, no compiler) one plain line says so, once."""
    from provscan.urls.native import fallback_note

    if not quiet and (note := fallback_note()) is not None:
        click.echo(note, err=True)


def shown(path: str) -> str:
    """``provscan.toml`` -> ``./provscan.toml``: a bare name reads as a word, not a file."""
    p = Path(path)
    return path if p.is_absolute() or p.parent != Path(".") or path.startswith(".") else f"./{path}"


def plain_copy(config: ScanConfig) -> bool:
    """Nothing can flag a row: no list, no licence policy, no consent check, no unchecked policy."""
    return not config.lists and not config.licenses.drop and not config.licenses.flag and not config.consent.check


def parse_part(ctx: click.Context, param: click.Parameter, text: str | None) -> tuple[int, int] | None:
    """``--part I/N`` as a click callback: a malformed value is a usage error (exit 2)."""
    if text is None:
        return None
    i, sep, n = text.partition("/")
    if not (sep and i.isdigit() and n.isdigit() and int(i) < int(n)):
        raise click.BadParameter(f"{text!r}: expected I/N with 0 <= I < N, e.g. --part 0/4")
    return int(i), int(n)


def run_overrides(
    config: ScanConfig,
    lists: tuple[str, ...],
    *,
    output: str | None,
    redact_urls: bool,
    fetch: bool,
    check_consent: bool,
    fetch_options: dict[str, Any],
) -> dict[str, Any]:
    """The options ``scan`` and ``sample`` share, as overrides of ``config`` (``None``: not given);
    :func:`provscan.config.apply_overrides` adds the lists and merges the fetch options."""
    overrides: dict[str, Any] = {
        "lists": tuple(parse_list_option(arg) for arg in lists),
        "output": Path(output) if output else None,
        "redact_urls": True if redact_urls else None,
        "fetch": True if fetch else None,
    }
    if any(v is not None for v in fetch_options.values()):
        overrides["fetch_options"] = fetch_options
    if check_consent:
        overrides["consent"] = replace(config.consent, check=True)
    return overrides


def pairs(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> dict[str, str]:
    """``--hash-column KIND=COLUMN`` as a click callback: a malformed value is a usage error (exit 2)."""
    out = {}
    for item in items:
        kind, sep, column = item.partition("=")
        if not sep or not column or kind not in ALL_KINDS:
            raise click.BadParameter(f"{item!r}: expected KIND=COLUMN with KIND one of the image kinds")
        out[kind] = column
    return out


def format_table(rows: Sequence[tuple[str, ...]]) -> str:
    """Left-aligned columns under a rule."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def load(path: str | None, *, no_config: bool = False) -> ScanConfig:
    """The ``-c`` file, else ``./provscan.toml`` when present (unless ``--no-config``), else defaults."""
    if path is not None:
        return load_config(path)
    if not no_config and Path(DEFAULT_CONFIG_NAME).is_file():
        return load_config(DEFAULT_CONFIG_NAME)
    return ScanConfig()
