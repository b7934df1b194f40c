"""The command line: parse options, call the library, format the result.

Exit codes: 0 success, 1 any provscan error (one line naming the file and line at fault), 2 usage.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import click

from provscan._version import __version__
from provscan.config import DEFAULT_CONFIG_NAME, UNCHECKED_ACTIONS, ScanConfig, load_config
from provscan.errors import ConfigError, ProvscanError
from provscan.kinds import ALL_KINDS
from provscan.lists.args import parse_list_option
from provscan.lists.files import whitelist_hint
from provscan.pipeline.signals import interruptible
from provscan.progress import terminal_progress


class _Failure(click.ClickException):
    """A provscan error as one line on stderr; exit 1, or 130/143 for an interrupted run."""

    def __init__(self, exc: ProvscanError) -> None:
        super().__init__(str(exc))
        self.exit_code = int(getattr(exc, "exit_code", 1))  # type: ignore[misc]  # click's ClassVar, per instance


def _fail(exc: ProvscanError) -> None:
    raise _Failure(exc) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provscan")
def cli() -> None:
    """Dataset provenance scanner for image-text training corpora."""


@cli.command()
@click.argument("shards", nargs=-1, required=True)
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), help=f"TOML config (default: ./{DEFAULT_CONFIG_NAME} if present).")
@click.option("--no-config", is_flag=True, help=f"Do not load ./{DEFAULT_CONFIG_NAME}: only the lists and policy given here.")
@click.option("-b", "--list", "lists", multiple=True, metavar="[KIND:]LIST[;key=value...]",
              help="Add a list (.gz/.bz2/.xz/.zst read as is). Options: kind, name, action (drop|flag|allow), "
                   "max_distance; e.g. -b 'domain:a/piracy.txt;name=piracy-a;action=flag'.")
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
@click.option("--unchecked", type=click.Choice(UNCHECKED_ACTIONS),
              help="Rows whose image could not be fetched or hashed: keep (default), flag or drop.")
@click.option("--check-consent", is_flag=True, help="Check X-Robots-Tag, TDMRep and robots.txt per row (cached per origin).")
@click.option("--resume", is_flag=True, help="Keep the shards an interrupted run committed; redo the rest.")
@click.option("--workers", type=click.IntRange(1), help="Processes on this machine (default 1).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Run shards here, or as Ray tasks (extra provscan[ray]).")
@click.option("--ray-address", metavar="ADDR", help="Join this Ray cluster instead of starting a local Ray.")
@click.option("--part", metavar="I/N", help="Array job: scan only shards k % N == I; then run 'provscan merge OUT'.")
@click.option("--quiet", "-q", is_flag=True, help="Nothing on the terminal but errors.")
def scan(shards: tuple[str, ...], config_path: str | None, no_config: bool, lists: tuple[str, ...], output: str | None, no_export: bool,
         url_column: str | None, id_column: str | None, redact_urls: bool, hash_columns: tuple[str, ...],
         images: tuple[str, ...], fetch: bool, dihedral: bool, concurrency: int | None, per_host: int | None,
         timeout: float | None, max_image_bytes: int | None, allow_addresses: tuple[str, ...],
         allow_private_addresses: bool, unchecked: str | None, check_consent: bool, resume: bool,
         workers: int | None, executor: str, ray_address: str | None, part: str | None, quiet: bool) -> None:
    """Match every row of SHARDS (parquet files, directories, quoted globs) against the lists.

    \b
    Example:
        provscan scan sample_data/*.parquet
        provscan scan shards/ -b domain:blocklists/adult-domains.txt -o out/
        provscan scan shards/ --no-config -b 'domain:ut1/liste_blanche/domains;action=allow'
    """
    from provscan.pipeline.driver import scan as run_scan

    if no_config and config_path is not None:
        raise click.UsageError("--config and --no-config exclude each other")
    try:
        config = _config(config_path, no_config=no_config)
        if config.source is not None and not quiet:
            auto = "" if config_path else "  (found in the current directory; --no-config skips it)"
            click.echo(f"config: {_shown(config.source)}{auto}", err=True)
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
            "unchecked": unchecked,
        })
        if not quiet:
            for spec in overrides["lists"]:
                if spec.action in (None, "drop") and (hint := whitelist_hint(spec.path)):
                    click.echo(f"provscan: warning: {hint}", err=True)
        if not quiet and _plain_copy(config.with_overrides(**overrides)):
            click.echo("provscan: no list and no licence or consent policy: this scan flags nothing and "
                       "writes a plain copy", err=True)
        with interruptible():
            result = run_scan(list(shards), config, progress=terminal_progress(quiet=quiet), resume=resume,
                              workers=workers, executor=executor, ray_address=ray_address, part=_part(part),
                              **overrides)
    except ProvscanError as exc:
        _fail(exc)
        return
    if resume:
        total = result.kept + sum(result.redone.values())
        reasons = ", ".join(f"{why}: {n}" if len(result.redone) > 1 else why for why, n in result.redone.items())
        redo = f"; redoing {sum(result.redone.values())} ({reasons})" if result.redone else ""
        click.echo(f"resume: kept {result.kept} of {total} shards{redo}", err=True)
    if result.manifest is None:
        click.echo(f"part {part}: {result.committed} shards committed ({result.kept} kept from earlier); "
                   f"when every part is done run: provscan merge {result.output}", err=True)
    elif not quiet:
        _print_result(result.manifest, result.summary)


def _print_result(manifest: dict[str, Any], summary: dict[str, Any] | None) -> None:
    from provscan.terminal import print_end_of_run, print_lists

    print_lists(sys.stderr, manifest)
    print_end_of_run(sys.stdout, manifest, summary or {})


def _shown(path: str) -> str:
    """``provscan.toml`` -> ``./provscan.toml``: a bare name reads as a word, not a file."""
    p = Path(path)
    return path if p.is_absolute() or p.parent != Path(".") or path.startswith(".") else f"./{path}"


def _plain_copy(config: ScanConfig) -> bool:
    """Nothing can flag a row: no list, no licence policy, no consent check, no unchecked policy."""
    return not config.lists and not config.licenses.drop and not config.licenses.flag and not config.consent.check


@cli.command()
@click.argument("output", type=click.Path(file_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No summary table.")
def merge(output: str, quiet: bool) -> None:
    """Finish a run whose shards were scanned as array-job parts (--part I/N).

    Refuses while any shard is missing, naming them.

    \b
    Example:
        provscan scan shards/ -o out --part 0/2 ; provscan scan shards/ -o out --part 1/2
        provscan merge out
    """
    from provscan.pipeline.driver import merge_run

    try:
        with interruptible():
            result = merge_run(output)
    except ProvscanError as exc:
        _fail(exc)
        return
    if not quiet and result.manifest is not None:
        _print_result(result.manifest, result.summary)


def _part(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    i, sep, n = text.partition("/")
    if not (sep and i.isdigit() and n.isdigit() and int(i) < int(n)):
        raise ConfigError(f"--part {text!r}: expected I/N with 0 <= I < N, e.g. --part 0/4")
    return int(i), int(n)


def _run_overrides(config: ScanConfig, lists: tuple[str, ...], *, output: str | None, redact_urls: bool, fetch: bool,
                   check_consent: bool, fetch_options: dict[str, Any]) -> dict[str, Any]:
    """The options ``scan`` and ``sample`` share, as overrides of ``config`` (``None``: not given)."""
    overrides: dict[str, Any] = {
        "lists": config.lists + tuple(parse_list_option(arg) for arg in lists),
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
    from provscan.lists.files import default_name, list_header, write_list

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
            write_list(Path(output), kind, values, name=name or default_name(output), action=action,
                       comments=(f"{len(values)} {kind} hashes of local images, made by provscan hash",))
        else:
            for line in list_header(Path("-"), kind, name=name or "hashes", action=action):
                click.echo(line)
            for value in values:
                click.echo(value)
    except ProvscanError as exc:
        _fail(exc)
    if output:
        tail = f"; {failed} images could not be hashed" if failed else ""
        click.echo(f"{len(values)} {kind} hashes written to {output}{tail}", err=True)


@cli.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--inputs", is_flag=True, help="Also re-hash and re-count the input shards (paths as the manifest records them).")
@click.option("--failures-only", is_flag=True, help="Print only the checks that failed.")
def verify(out: str, inputs: bool, failures_only: bool) -> None:
    """Recompute every checksum and row count that OUT/manifest.json records; exit 1 on a mismatch.

    Checks each clean shard's SHA-256 and rows, flagged.parquet's dropped rows per shard, rows in =
    rows out + rows dropped per shard and in the totals, summary.json and removals.sha256.txt against
    them, every file the manifest lists, and that no unlisted file is under OUT.

    \b
    Example:
        provscan verify provscan-out/
        provscan verify release/ --inputs
    """
    from provscan.pipeline.verify import verify_output

    try:
        result = verify_output(Path(out), inputs=inputs)
    except ProvscanError as exc:
        _fail(exc)
        return
    checks = result.failures if failures_only else result.checks
    if checks:
        click.echo(format_table([("file", "check", "expected", "actual", "ok")]
                                + [(c.file, c.check, c.expected, c.actual, "ok" if c.ok else "MISMATCH") for c in checks]))
    if not result.ok:
        files = list(dict.fromkeys(c.file for c in result.failures))
        raise click.ClickException(f"{len(result.failures)} of {len(result.checks)} checks failed: {', '.join(files)}")
    click.echo(f"all {len(result.checks)} checks passed")


def format_table(rows: Sequence[tuple[str, ...]]) -> str:
    """Left-aligned columns under a rule."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


@cli.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Report file (default OUT/report.html); datacard.md is written beside it.")
def report(out: str, output: str | None) -> None:
    """Regenerate report.html and datacard.md from a finished scan or sample output OUT.

    An OUT without manifest.json (interrupted or still running) is an error; nothing is written.

    \b
    Example:
        provscan report provscan-out/
        provscan report provscan-out/ -o /tmp/scan-report.html
    """
    from provscan.sinks.report import differs_from_manifest, regenerate

    try:
        paths = regenerate(Path(out), Path(output) if output else None)
        changed = [] if output else differs_from_manifest(Path(out))
    except ProvscanError as exc:
        _fail(exc)
        return
    for path in paths:
        click.echo(str(path))
    for name in changed:
        click.echo(f"provscan: {name} differs from the SHA-256 manifest.json records for it "
                   "(rendered by another provscan version?); provscan verify will report it", err=True)


def _config(path: str | None, *, no_config: bool = False) -> ScanConfig:
    """The ``-c`` file, else ``./provscan.toml`` when present (unless ``--no-config``), else defaults."""
    if path is not None:
        return load_config(path)
    if not no_config and Path(DEFAULT_CONFIG_NAME).is_file():
        return load_config(DEFAULT_CONFIG_NAME)
    return ScanConfig()


def main() -> None:
    cli(prog_name="provscan")
