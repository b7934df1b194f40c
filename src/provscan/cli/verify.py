"""``provscan verify``: recompute what a release's manifest records; a line per kind of check, the
failures in full (``--verbose``: every check)."""

from __future__ import annotations

from pathlib import Path

import click

from provscan.cli.common import fail, format_table
from provscan.errors import ProvscanError


@click.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--inputs", is_flag=True, help="Also re-hash and re-count the input shards (paths as the manifest records them)."
)
@click.option(
    "--attestation",
    is_flag=True,
    help="Also check provenance.intoto.json (in-toto/SLSA) and croissant.json against the files and the manifest.",
)
@click.option("--verbose", "-v", is_flag=True, help="Print every check in full (file, check, expected, actual).")
@click.option("--failures-only", is_flag=True, help="Print only the checks that failed, in full.")
def verify(out: str, inputs: bool, attestation: bool, verbose: bool, failures_only: bool) -> None:
    """Recompute every checksum and row count that OUT/manifest.json records; exit 1 on a mismatch.

    Checks each clean shard's SHA-256 and rows, flagged.parquet's dropped rows per shard, rows in =
    rows out + rows dropped per shard and in the totals, summary.json and removals.sha256.txt against
    them, every file the manifest lists, and that no unlisted file is under OUT. With --attestation,
    also every subject and dependency of provenance.intoto.json and every file croissant.json names.
    Prints one line per kind of check and every failed check in full.

    \b
    Example:
        provscan verify provscan-out/
        provscan verify release/ --inputs --verbose
        provscan verify release/ --attestation
    """
    from provscan.pipeline.verify import verify_output

    if verbose and failures_only:
        raise click.UsageError("--verbose and --failures-only exclude each other")
    try:
        result = verify_output(Path(out), inputs=inputs, attestation=attestation)
    except ProvscanError as exc:
        fail(exc)
        return
    if not failures_only:
        kinds = result.by_kind()
        width = max(len(kind) for kind, _, _ in kinds) if kinds else 0
        for kind, ok, bad in kinds:
            click.echo(
                f"{'ok' if not bad else 'FAILED':<6}  {kind:<{width}}  {ok:>5,} passed"
                + (f", {bad:,} failed" if bad else "")
            )
    checks = result.checks if verbose else result.failures
    if checks:
        if not failures_only:
            click.echo()
        click.echo(
            format_table(
                [("file", "check", "expected", "actual", "ok")]
                + [(c.file, c.check, c.expected, c.actual, "ok" if c.ok else "MISMATCH") for c in checks]
            )
        )
    if not result.ok:
        files = list(dict.fromkeys(c.file for c in result.failures))
        raise click.ClickException(f"{len(result.failures)} of {len(result.checks)} checks failed: {', '.join(files)}")
    click.echo(f"all {len(result.checks)} checks passed")
