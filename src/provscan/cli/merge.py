"""``provscan merge``: finish a run whose shards were scanned as array-job parts."""

from __future__ import annotations

import click

from provscan.cli.common import fail, print_result
from provscan.errors import ProvscanError
from provscan.pipeline.signals import interruptible


@click.command()
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
        fail(exc)
        return
    if not quiet and result.manifest is not None:
        print_result(result.manifest, result.summary)
