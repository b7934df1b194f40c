"""``provscan diff OLD_OUT NEW_OUT``: rows a list update or a policy change moved, on the terminal and
as diff.parquet, diff.json and diff.html under DIFF_DIR."""

from __future__ import annotations

from pathlib import Path

import click

from provscan.cli.common import fail, format_table
from provscan.errors import ProvscanError

SHOWN = 10  # lists and shards on the terminal; diff.html and diff.json have them all


@click.command()
@click.argument("old_out", type=click.Path(exists=True, file_okay=False))
@click.argument("new_out", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(file_okay=False),
    default="provscan-diff",
    show_default=True,
    help="DIFF_DIR for diff.parquet (every changed row), diff.json and diff.html; never inside OLD_OUT or NEW_OUT.",
)
@click.option(
    "--inputs-may-differ",
    is_flag=True,
    help="Compare runs over different input shards (two releases): rows are matched by url_sha256.",
)
def diff(old_out: str, new_out: str, output: str, inputs_may_differ: bool) -> None:
    """Compare two finished runs: rows newly dropped, no longer dropped, or dropped or flagged for other
    reasons, per list, kind and shard.

    Runs over the same inputs are matched row by row; runs whose input shards differ are refused
    unless --inputs-may-differ. Only OLD_OUT/manifest.json and flagged.parquet of each are read.

    \b
    Example:
        provscan diff release-v1/ release-v2/ -o v1-to-v2/
        provscan diff old-release/ new-release/ --inputs-may-differ
    """
    from provscan.pipeline.diff import diff_runs

    try:
        result = diff_runs(Path(old_out), Path(new_out), Path(output), inputs_may_differ=inputs_may_differ)
    except ProvscanError as exc:
        fail(exc)
        return
    click.echo(f"{result.rows:,} rows changed (matched by {result.by})" + (":" if result.changes else ""))
    for change, n in result.changes.items():
        click.echo(f"  {n:>10,}  {change}")
    if result.by_list:
        click.echo()
        rows = [(r["list"], r["kind"], r["change"], f"{r['rows']:,}") for r in result.by_list[:SHOWN]]
        click.echo(format_table([("list", "kind", "change", "rows")] + rows))
    shards = sorted({r["shard"] for r in result.by_shard})
    if shards:
        click.echo(
            f"\n{len(shards):,} shards with a changed row"
            + (f" (first {SHOWN} in diff.html)" if len(shards) > SHOWN else "")
            + ":"
        )
        per: dict[str, int] = {}
        for r in result.by_shard:
            per[r["shard"]] = per.get(r["shard"], 0) + r["rows"]
        for shard in shards[:SHOWN]:
            click.echo(f"  {per[shard]:>10,}  {shard}")
    click.echo(f"\nwritten: {Path(output) / 'diff.parquet'}, diff.json, diff.html")
