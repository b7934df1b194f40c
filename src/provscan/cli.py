"""The command line: parse options, call the library, format the result.

Exit codes: 0 success, 1 any provscan error (one line naming the file and line at fault), 2 usage.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from provscan._version import __version__
from provscan.config import DEFAULT_CONFIG_NAME, ListSpec, ScanConfig, load_config
from provscan.errors import ConfigError, ProvscanError
from provscan.kinds import ALL_KINDS
from provscan.lists.files import parse_list_arg
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
@click.option("--hash-column", "hash_columns", multiple=True, metavar="KIND=COLUMN", help="Image hash column, e.g. phash=image_phash.")
@click.option("--images", multiple=True, type=click.Path(exists=True), help="img2dataset output (folder or .tar) to hash locally.")
@click.option("--fetch", is_flag=True, help="Download each row's image and hash it.")
@click.option("--dihedral", is_flag=True, help="Also match the 7 rotations/flips of each hashed image.")
@click.option("--concurrency", type=click.IntRange(1), help="Fetches in flight (default 64).")
@click.option("--per-host", type=click.IntRange(1), help="Fetches in flight per host (default 8).")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), help="Per-URL time limit in seconds (default 30).")
@click.option("--max-image-bytes", type=click.IntRange(1), help="Largest body to download (default 20 MB).")
@click.option("--allow-addresses", multiple=True, metavar="CIDR", help="Let fetches reach these private ranges (e.g. 127.0.0.0/8 for tests).")
@click.option("--allow-private-addresses", is_flag=True, help="Let fetches reach every private address (intranets).")
@click.option("--check-consent", is_flag=True, help="Check X-Robots-Tag, TDMRep and robots.txt per row (cached per origin).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary table.")
def scan(shards: tuple[str, ...], config_path: str | None, lists: tuple[str, ...], output: str | None, no_export: bool,
         url_column: str | None, id_column: str | None, redact_urls: bool, hash_columns: tuple[str, ...],
         images: tuple[str, ...], fetch: bool, dihedral: bool, concurrency: int | None, per_host: int | None,
         timeout: float | None, max_image_bytes: int | None, allow_addresses: tuple[str, ...],
         allow_private_addresses: bool, check_consent: bool, quiet: bool) -> None:
    """Match every row of SHARDS (parquet files, directories, quoted globs) against the lists.

    \b
    Example:
        provscan scan sample_data/*.parquet
        provscan scan shards/ -b domain:blocklists/adult-domains.txt -o out/
    """
    from provscan.pipeline.driver import scan as run_scan

    try:
        config = _config(config_path)
        overrides = _run_overrides(
            config, lists, output=output, redact_urls=redact_urls, fetch=fetch, check_consent=check_consent,
            fetch_options={
                "concurrency": concurrency, "per_host": per_host, "total_timeout": timeout, "max_bytes": max_image_bytes,
                "allow_cidrs": tuple(allow_addresses) or None, "allow_private": True if allow_private_addresses else None,
            },
        )
        overrides.update({
            "export": False if no_export else None,
            "url_column": url_column,
            "id_column": id_column,
            "hash_columns": {**config.hash_columns, **_pairs(hash_columns)} if hash_columns else None,
            "images": tuple(Path(p) for p in images) if images else None,
            "dihedral": True if dihedral else None,
        })
        show = not quiet and sys.stderr.isatty()
        result = run_scan(list(shards), config, progress=LineProgress() if show else NullProgress(), **overrides)
    except ProvscanError as exc:
        _fail(exc)
        return
    if not quiet:
        click.echo(format_summary(result.manifest))


def _run_overrides(config: ScanConfig, lists: tuple[str, ...], *, output: str | None, redact_urls: bool, fetch: bool,
                   check_consent: bool, fetch_options: dict[str, Any]) -> dict[str, Any]:
    """The options ``scan`` and ``sample`` share, as overrides of ``config`` (``None``: not given)."""
    extra = []
    for arg in lists:
        kind, path = parse_list_arg(arg)
        if kind is not None and kind not in ALL_KINDS:
            raise ConfigError(f"{arg}: unknown list kind {kind!r}")
        extra.append(ListSpec(Path(path), kind=kind))
    overrides: dict[str, Any] = {
        "lists": config.lists + tuple(extra),
        "output": Path(output) if output else None,
        "redact_urls": True if redact_urls else None,
        "fetch": True if fetch else None,
    }
    if any(v is not None for v in fetch_options.values()):
        overrides["fetch_options"] = {**config.fetch_options, **{k: v for k, v in fetch_options.items() if v is not None}}
    if check_consent:
        overrides["consent"] = replace(config.consent, check=True)
    return overrides


def _pairs(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        kind, sep, column = item.partition("=")
        if not sep or not column or kind not in ALL_KINDS:
            raise ConfigError(f"--hash-column {item!r}: expected KIND=COLUMN with KIND one of the image kinds")
        out[kind] = column
    return out


@cli.command(name="sample")
@click.argument("sources", nargs=-1, required=True)
@click.option("--rows", type=click.IntRange(1), metavar="N", help="Sample N rows uniformly over all rows of all sources.")
@click.option("--row-groups", type=click.IntRange(1), metavar="K", help="Sample K whole row groups (cheaper on the wire).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, metavar="S", help="Random seed: same seed, same rows.")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), help=f"TOML config (default: ./{DEFAULT_CONFIG_NAME} if present).")
@click.option("-b", "--list", "lists", multiple=True, metavar="[KIND:]LIST", help="Add a list; kind from KIND: or the list's header.")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output directory (default ./provscan-out).")
@click.option("--fetch", is_flag=True, help="Download each sampled row's image and hash it (link rot is estimated too).")
@click.option("--check-consent", is_flag=True, help="Check X-Robots-Tag, TDMRep and robots.txt per sampled row.")
@click.option("--redact-urls", is_flag=True, help="Leave URLs out of flagged.parquet (hashes only).")
@click.option("--allow-addresses", multiple=True, metavar="CIDR", help="Let reads and fetches reach these private ranges (e.g. 127.0.0.0/8 for tests).")
@click.option("--allow-full-download", is_flag=True, help="Read a source whose server ignores Range by downloading it whole.")
@click.option("--quiet", "-q", is_flag=True, help="No estimates table.")
def sample_command(sources: tuple[str, ...], rows: int | None, row_groups: int | None, seed: int, config_path: str | None,
                   lists: tuple[str, ...], output: str | None, fetch: bool, check_consent: bool, redact_urls: bool,
                   allow_addresses: tuple[str, ...], allow_full_download: bool, quiet: bool) -> None:
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
    try:
        config = _config(config_path)
        overrides = _run_overrides(
            config, lists, output=output, redact_urls=redact_urls, fetch=fetch, check_consent=check_consent,
            fetch_options={"allow_cidrs": tuple(allow_addresses) or None},
        )
        result = sample(list(sources), config, rows=rows, row_groups=row_groups, seed=seed,
                        allow_full_download=allow_full_download, **overrides)
    except ProvscanError as exc:
        _fail(exc)
        return
    if not quiet:
        click.echo(format_estimates(result.estimates, result.output))


def format_estimates(estimates: dict[str, Any], output: Path | str, limit: int = 8) -> str:
    """The main estimates: per dimension its most frequent values, share and rows with 95 % intervals."""
    e = estimates
    head = (f"{e['sampled_rows']:,} of {e['population_rows']:,} rows sampled ({e['mode']}, seed {e['seed']}; "
            f"{e['sampled_row_groups']:,} of {e['population_row_groups']:,} row groups) from {len(e['sources'])} "
            f"source(s), {e['bytes_read']:,} bytes read")
    rows = [("dimension", "value", "sampled", "share (95% CI)", "est. rows (95% CI)")]
    shown: dict[str, int] = {}
    for x in e["estimates"]:
        shown[x["dimension"]] = shown.get(x["dimension"], 0) + 1
        if shown[x["dimension"]] > limit:
            continue
        rows.append((x["dimension"], x["value"][:40], f"{x['sampled']:,}",
                     f"{100 * x['share']:.2f}% [{100 * x['share_low']:.2f}, {100 * x['share_high']:.2f}]",
                     f"{x['rows']:,} [{x['rows_low']:,}, {x['rows_high']:,}]"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head, ""]
    for n, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("-" * len(lines[-1]))
    if len(rows) == 1:
        lines.append("(nothing flagged in the sample)")
    lines += ["", f"output: {output}  (estimates.json, sample.parquet, flagged.parquet, summary.json, manifest.json)"]
    return "\n".join(lines)


@cli.command(name="hash")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--kind", required=True, type=click.Choice(["image-md5", "image-sha1", "image-sha256", "phash", "dhash", "ahash", "whash", "pdq"]))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="List file to write (default: stdout).")
@click.option("--name", help="List name for the header (default: the output file's stem).")
@click.option("--action", type=click.Choice(["drop", "flag"]), default="drop", show_default=True)
@click.option("--dihedral", is_flag=True, help="Also write the hashes of the 7 rotations/flips.")
def hash_command(images: tuple[str, ...], kind: str, output: str | None, name: str | None, action: str, dihedral: bool) -> None:
    """Build a hash list from local images (files or directories, walked in sorted order).

    Images that cannot be hashed are reported on stderr and left out; the list is still written.

    \b
    Example:
        provscan hash reported/ --kind phash -o blocklists/reported-phash.txt
    """
    from provscan.images.hashing import hash_files
    from provscan.lists.files import list_header, write_list

    values: list[str] = []
    failed = 0
    try:
        for path, result in hash_files([Path(p) for p in images], kind, dihedral=dihedral):
            if result.status != "ok" or kind not in result.hashes:
                failed += 1
                click.echo(f"provscan: {path}: {result.status} {result.error}".rstrip(), err=True)
                continue
            values.extend(result.hashes[kind])
        values = list(dict.fromkeys(values))
        if output:
            write_list(Path(output), kind, values, name=name, action=action,
                       comments=(f"{len(values)} {kind} hashes of local images, made by provscan hash",))
        else:
            for line in list_header(Path("-"), kind, name=name or "hashes", action=action):
                click.echo(line)
            for value in values:
                click.echo(value)
    except ProvscanError as exc:
        _fail(exc)
    if output:
        click.echo(f"{len(values)} hashes written to {output}; {failed} images could not be hashed", err=True)


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
