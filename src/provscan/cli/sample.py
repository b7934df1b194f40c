"""``provscan sample``: an auditor's seeded sample and its estimates table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from provscan.cli.common import config_note, fail, load, note_url_fast_path, run_overrides
from provscan.config import DEFAULT_CONFIG_NAME
from provscan.errors import ProvscanError


@click.command(name="sample")
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--rows", type=click.IntRange(1), metavar="N", help="Sample N rows uniformly over all rows of all sources."
)
@click.option(
    "--row-groups", type=click.IntRange(1), metavar="K", help="Sample K whole row groups (cheaper on the wire)."
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    metavar="S",
    help="Random seed: same seed, same rows.",
)
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help=f"TOML config (default: ./{DEFAULT_CONFIG_NAME} if present).",
)
@click.option(
    "--no-config", is_flag=True, help=f"Do not load ./{DEFAULT_CONFIG_NAME}: only the lists and policy given here."
)
@click.option(
    "-b",
    "--list",
    "lists",
    multiple=True,
    metavar="[KIND:]LIST",
    help="Add a list; kind from KIND: or the list's header.",
)
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output directory (default ./provscan-out).")
@click.option(
    "--fetch", is_flag=True, help="Download each sampled row's image and hash it (link rot is estimated too)."
)
@click.option("--check-consent", is_flag=True, help="Check X-Robots-Tag, TDMRep and robots.txt per sampled row.")
@click.option("--redact-urls", is_flag=True, help="Leave URLs out of flagged.parquet (hashes only).")
@click.option(
    "--allow-addresses",
    multiple=True,
    metavar="CIDR",
    help="Let reads and fetches reach these private ranges (e.g. 127.0.0.0/8 for tests).",
)
@click.option(
    "--allow-full-download", is_flag=True, help="Read a source whose server ignores Range by downloading it whole."
)
@click.option("--quiet", "-q", is_flag=True, help="No estimates table.")
def sample_command(
    sources: tuple[str, ...],
    rows: int | None,
    row_groups: int | None,
    seed: int,
    config_path: str | None,
    no_config: bool,
    lists: tuple[str, ...],
    output: str | None,
    fetch: bool,
    check_consent: bool,
    redact_urls: bool,
    allow_addresses: tuple[str, ...],
    allow_full_download: bool,
    quiet: bool,
) -> None:
    """Estimate what SOURCES contain from a seeded sample, with 95 % intervals.

    SOURCES: parquet files, directories, quoted globs, https:// URLs (read with range requests),
    @FILE (one source per line) and hf://datasets/ORG/NAME[@REVISION][/PATH-OR-GLOB].

    \b
    Example:
        provscan sample hf://datasets/ORG/NAME --rows 10000 -b domain:blocklists/adult-domains.txt
        provscan sample https://example.org/part-0.parquet --row-groups 20 --seed 7 -o audit/
    """
    from provscan.sampling.run import sample

    if (rows is None) == (row_groups is None):
        raise click.UsageError("give exactly one of --rows N or --row-groups K")
    if no_config and config_path is not None:
        raise click.UsageError("--config and --no-config exclude each other")
    try:
        config = load(config_path, no_config=no_config)
        note = config_note(config, auto=config_path is None)
        if note is not None and not quiet:
            click.echo(note, err=True)
        overrides = run_overrides(
            config,
            lists,
            output=output,
            redact_urls=redact_urls,
            fetch=fetch,
            check_consent=check_consent,
            fetch_options={"allow_cidrs": tuple(allow_addresses) or None},
        )
        note_url_fast_path(quiet)
        result = sample(
            list(sources),
            config,
            rows=rows,
            row_groups=row_groups,
            seed=seed,
            allow_full_download=allow_full_download,
            **overrides,
        )
    except ProvscanError as exc:
        fail(exc)
        return
    if not quiet:
        click.echo(format_estimates(result.estimates, result.output))


def format_estimates(estimates: dict[str, Any], output: Path | str, limit: int = 8) -> str:
    """The main estimates: per dimension its most frequent values, share and rows with 95 % intervals."""
    e = estimates
    head = (
        f"{e['sampled_rows']:,} of {e['population_rows']:,} rows sampled ({e['mode']}, seed {e['seed']}; "
        f"{e['sampled_row_groups']:,} of {e['population_row_groups']:,} row groups) from {len(e['sources'])} "
        f"source(s), {e['bytes_read']:,} bytes read"
    )
    rows = [("dimension", "value", "sampled", "share (95% CI)", "est. rows (95% CI)")]
    shown: dict[str, int] = {}
    for x in e["estimates"]:
        shown[x["dimension"]] = shown.get(x["dimension"], 0) + 1
        if shown[x["dimension"]] > limit:
            continue
        rows.append(
            (
                x["dimension"],
                x["value"][:40],
                f"{x['sampled']:,}",
                f"{100 * x['share']:.2f}% [{100 * x['share_low']:.2f}, {100 * x['share_high']:.2f}]",
                f"{x['rows']:,} [{x['rows_low']:,}, {x['rows_high']:,}]",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head, ""]
    for n, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("-" * len(lines[-1]))
    if len(rows) == 1:
        lines.append("(nothing matched in the sample)")
    lines += ["", f"output: {output}  (estimates.json, sample.parquet, flagged.parquet, summary.json, manifest.json)"]
    return "\n".join(lines)
