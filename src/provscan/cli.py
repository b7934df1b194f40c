"""The command line: parse options, call the library, format the result.

Exit codes: 0 success, 1 any provscan error (one line naming the file and line at fault), 2 usage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from provscan import __version__
from provscan.config import DEFAULT_CONFIG_NAME, ListSpec, ScanConfig, load_config
from provscan.errors import ConfigError, ProvscanError
from provscan.kinds import ALL_KINDS
from provscan.lists import parse_list_arg
from provscan.progress import LineProgress, NullProgress


def _fail(exc: ProvscanError) -> None:
    raise click.ClickException(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provscan")
def cli() -> None:
    """Dataset provenance scanner for image-text training corpora."""


@cli.command()
@click.argument("shards", nargs=-1, required=True)
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), help=f"TOML config (default: ./{DEFAULT_CONFIG_NAME} if present).")
@click.option("-b", "--list", "lists", multiple=True, metavar="[KIND:]LIST", help="Add a list; kind from KIND: or the list's header.")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output directory (default ./provscan-out).")
@click.option("--no-export", is_flag=True, help="Skip writing clean/ shards.")
@click.option("--url-column", metavar="C", help="URL column (default: auto-detected).")
@click.option("--id-column", metavar="C", help="Row id column (default: auto-detected).")
@click.option("--redact-urls", is_flag=True, help="Leave URLs out of flagged.parquet (hashes only).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary table.")
def scan(shards: tuple[str, ...], config_path: str | None, lists: tuple[str, ...], output: str | None, no_export: bool,
         url_column: str | None, id_column: str | None, redact_urls: bool, quiet: bool) -> None:
    """Match every row of SHARDS (parquet files, directories, quoted globs) against the lists.

    \b
    Example:
        provscan scan sample_data/*.parquet
        provscan scan shards/ -b domain:blocklists/adult-domains.txt -o out/
    """
    from provscan.scan import scan as run_scan

    try:
        config = _config(config_path)
        extra = []
        for arg in lists:
            kind, path = parse_list_arg(arg)
            if kind is not None and kind not in ALL_KINDS:
                raise ConfigError(f"{arg}: unknown list kind {kind!r}")
            extra.append(ListSpec(Path(path), kind=kind))
        overrides: dict[str, Any] = {
            "lists": config.lists + tuple(extra),
            "output": Path(output) if output else None,
            "export": False if no_export else None,
            "url_column": url_column,
            "id_column": id_column,
            "redact_urls": True if redact_urls else None,
        }
        show = not quiet and sys.stderr.isatty()
        result = run_scan(list(shards), config, progress=LineProgress() if show else NullProgress(), **overrides)
    except ProvscanError as exc:
        _fail(exc)
        return
    if not quiet:
        click.echo(format_summary(result.manifest))


def _config(path: str | None) -> ScanConfig:
    if path is not None:
        return load_config(path)
    if Path(DEFAULT_CONFIG_NAME).is_file():
        return load_config(DEFAULT_CONFIG_NAME)
    return ScanConfig()


def format_summary(manifest: dict[str, Any]) -> str:
    """A short table: one line per shard, then totals and findings per list."""
    rows = [("shard", "rows in", "flagged", "dropped", "rows out", "invalid urls")]
    for s in manifest["shards"]:
        rows.append((s["path"], s["rows_in"], s["rows_flagged"], s["rows_dropped"], s["rows_out"], s["invalid_urls"]))
    t = manifest["totals"]
    rows.append(("total", t.get("rows_in", 0), t.get("rows_flagged", 0), t.get("rows_dropped", 0), t.get("rows_out", 0), t.get("invalid_urls", 0)))
    widths = [max(len(f"{r[i]:,}" if isinstance(r[i], int) else str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [(f"{v:,}" if isinstance(v, int) else str(v)) for v in r]
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    lines.append("")
    lines.append(f"output: {manifest['config']['output']}  (flagged.parquet, clean/, removals.sha256.txt, summary.json, manifest.json)")
    return "\n".join(lines)


def main() -> None:
    cli(prog_name="provscan")
