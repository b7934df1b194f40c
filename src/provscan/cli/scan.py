"""``provscan scan``: options to a config and overrides, one library call, the end-of-run tables."""

from __future__ import annotations

from pathlib import Path

import click

from provscan.cli.common import (
    config_note,
    fail,
    load,
    note_url_fast_path,
    pairs,
    parse_part,
    plain_copy,
    print_result,
    run_overrides,
)
from provscan.config import DEFAULT_CONFIG_NAME, apply_overrides, UNCHECKED_ACTIONS
from provscan.errors import ProvscanError
from provscan.lists.files import whitelist_hint
from provscan.pipeline.signals import interruptible
from provscan.progress import terminal_progress


@click.command()
@click.argument("shards", nargs=-1, required=True)
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
    metavar="[KIND:]LIST[;key=value...]",
    help="Add a list (.gz/.bz2/.xz/.zst read as is). Options: kind, name, action (drop|flag|allow), "
    "max_distance; e.g. -b 'domain:a/piracy.txt;name=piracy-a;action=flag'.",
)
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output directory (default ./provscan-out).")
@click.option("--no-export", is_flag=True, help="Skip writing clean/ shards.")
@click.option("--url-column", metavar="C", help="URL column (default: auto-detected).")
@click.option("--id-column", metavar="C", help="Row id column (default: auto-detected).")
@click.option("--redact-urls", is_flag=True, help="Leave URLs out of flagged.parquet (hashes only).")
@click.option(
    "--hash-column",
    "hash_columns",
    multiple=True,
    metavar="KIND=COLUMN",
    callback=pairs,
    help="Image hash column, e.g. phash=image_phash.",
)
@click.option(
    "--images", multiple=True, type=click.Path(exists=True), help="img2dataset output (folder or .tar) to hash locally."
)
@click.option("--fetch", is_flag=True, help="Download each row's image and hash it.")
@click.option("--dihedral", is_flag=True, help="Also match the 7 rotations/flips of each hashed image.")
@click.option(
    "--fast-decode",
    is_flag=True,
    help="Decode JPEGs at reduced size for perceptual hashes: 4-5x faster, a hash may move 1-2 bits.",
)
@click.option("--concurrency", type=click.IntRange(1), help="Fetches in flight (default 64).")
@click.option("--per-host", type=click.IntRange(1), help="Fetches in flight per host (default 8).")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), help="Per-URL time limit in seconds (default 30).")
@click.option("--max-image-bytes", type=click.IntRange(1), help="Largest body to download (default 20 MB).")
@click.option(
    "--allow-addresses",
    multiple=True,
    metavar="CIDR",
    help="Let fetches reach these private ranges (e.g. 127.0.0.0/8 for tests).",
)
@click.option("--allow-private-addresses", is_flag=True, help="Let fetches reach every private address (intranets).")
@click.option(
    "--unchecked",
    type=click.Choice(UNCHECKED_ACTIONS),
    help="Rows whose image could not be fetched or hashed: keep (default), flag or drop.",
)
@click.option(
    "--check-consent", is_flag=True, help="Check X-Robots-Tag, TDMRep and robots.txt per row (cached per origin)."
)
@click.option("--resume", is_flag=True, help="Keep the shards an interrupted run committed; redo the rest.")
@click.option("--workers", type=click.IntRange(1), help="Processes on this machine (default 1).")
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Run shards here, or as Ray tasks (extra provscan[ray]).",
)
@click.option("--ray-address", metavar="ADDR", help="Join this Ray cluster instead of starting a local Ray.")
@click.option(
    "--ray-cpus-per-task",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="CPUs Ray reserves per shard task; DuckDB and pyarrow threads are sized to them.",
)
@click.option(
    "--part",
    metavar="I/N",
    callback=parse_part,
    help="Array job: scan only shards k % N == I; then run 'provscan merge OUT'.",
)
@click.option("--quiet", "-q", is_flag=True, help="Nothing on the terminal but errors.")
def scan(
    shards: tuple[str, ...],
    config_path: str | None,
    no_config: bool,
    lists: tuple[str, ...],
    output: str | None,
    no_export: bool,
    url_column: str | None,
    id_column: str | None,
    redact_urls: bool,
    hash_columns: dict[str, str],
    images: tuple[str, ...],
    fetch: bool,
    dihedral: bool,
    fast_decode: bool,
    concurrency: int | None,
    per_host: int | None,
    timeout: float | None,
    max_image_bytes: int | None,
    allow_addresses: tuple[str, ...],
    allow_private_addresses: bool,
    unchecked: str | None,
    check_consent: bool,
    resume: bool,
    workers: int | None,
    executor: str,
    ray_address: str | None,
    ray_cpus_per_task: int,
    part: tuple[int, int] | None,
    quiet: bool,
) -> None:
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
            fetch_options={
                "concurrency": concurrency,
                "per_host": per_host,
                "total_timeout": timeout,
                "max_bytes": max_image_bytes,
                "allow_cidrs": tuple(allow_addresses) or None,
                "allow_private": True if allow_private_addresses else None,
            },
        )
        overrides.update(
            {
                "export": False if no_export else None,
                "url_column": url_column,
                "id_column": id_column,
                "hash_columns": hash_columns or None,
                "images": tuple(Path(p) for p in images) if images else None,
                "dihedral": True if dihedral else None,
                "fast_decode": True if fast_decode else None,
                "unchecked": unchecked,
            }
        )
        effective = apply_overrides(config, **overrides)
        if not quiet:
            for spec in effective.lists:
                if spec.action in (None, "drop") and (hint := whitelist_hint(spec.path)):
                    click.echo(f"provscan: warning: {hint}", err=True)
        if not quiet and plain_copy(effective):
            click.echo(
                "provscan: no list and no licence or consent policy: this scan flags nothing and writes a plain copy",
                err=True,
            )
        note_url_fast_path(quiet)
        with interruptible():
            result = run_scan(
                list(shards),
                effective,
                progress=terminal_progress(quiet=quiet),
                resume=resume,
                workers=workers,
                executor=executor,
                ray_address=ray_address,
                ray_cpus_per_task=ray_cpus_per_task,
                part=part,
            )
    except ProvscanError as exc:
        fail(exc)
        return
    if resume and not quiet:
        total = result.kept + sum(result.redone.values())
        reasons = ", ".join(f"{why}: {n}" if len(result.redone) > 1 else why for why, n in result.redone.items())
        redo = f"; redoing {sum(result.redone.values())} ({reasons})" if result.redone else ""
        click.echo(f"resume: kept {result.kept} of {total} shards{redo}", err=True)
    if result.manifest is None:
        click.echo(
            f"part {'/'.join(map(str, part or ()))}: {result.committed} shards committed ({result.kept} kept from earlier); "
            f"when every part is done run: provscan merge {result.output}",
            err=True,
        )
    elif not quiet:
        print_result(result.manifest, result.summary, note)
