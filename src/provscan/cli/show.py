"""``provscan show``: the findings of a finished run, for a person (a table) or a pipe (csv, jsonl)."""

from __future__ import annotations

import csv
import json
import sys

import click

from provscan.cli.common import fail
from provscan.errors import ProvscanError

TABLE_LIMIT = 20


@click.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--list",
    "lists",
    multiple=True,
    metavar="NAME",
    help="Only findings of this list (or policy: license-policy, ...).",
)
@click.option(
    "--kind", "kinds", multiple=True, metavar="K", help="Only findings of this kind (domain, url, phash, license...)."
)
@click.option(
    "--action",
    "actions",
    multiple=True,
    type=click.Choice(["drop", "flag", "allow"]),
    help="Only findings with this action: drop (the rows removed), flag, allow.",
)
@click.option(
    "--shard", "shards", multiple=True, metavar="S", help="Only this shard (its path as scanned, or its file name)."
)
@click.option(
    "--limit",
    type=click.IntRange(0),
    metavar="N",
    help=f"Show the first N findings; 0: all (default {TABLE_LIMIT} in a table, all in csv/jsonl).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "jsonl"]),
    default="table",
    show_default=True,
    help="A table for reading, or every column as csv / JSON lines for a pipe.",
)
def show(
    out: str,
    lists: tuple[str, ...],
    kinds: tuple[str, ...],
    actions: tuple[str, ...],
    shards: tuple[str, ...],
    limit: int | None,
    fmt: str,
) -> None:
    """Print the findings in OUT/flagged.parquet: which rows matched which list entry, and what was done.

    One line per finding: shard, row (0-based, in the input shard), URL (its SHA-256 under
    --redact-urls), list, entry and action (drop: removed from clean/; flag: kept and reported;
    allow: an allowlist kept it).

    \b
    Example:
        provscan show provscan-out/
        provscan show provscan-out/ --action drop --list example-domains
        provscan show provscan-out/ --format csv --limit 0 > findings.csv
    """
    from provscan.sinks.findings import Filters, read_findings

    if limit is None:
        limit = TABLE_LIMIT if fmt == "table" else 0
    try:
        found = read_findings(out, Filters(lists, kinds, actions, shards), limit=limit or None)
    except ProvscanError as exc:
        fail(exc)
        return
    records = found.table.to_pylist()
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=found.table.column_names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    elif fmt == "jsonl":
        for record in records:
            click.echo(json.dumps(record, ensure_ascii=False))
    else:
        from provscan.terminal import console, findings_table

        if records:
            console(sys.stdout).print(findings_table(records))
    if not found.total:
        filtered = any((lists, kinds, actions, shards))
        message = "no finding matches these filters" if filtered else "no finding: no row matched any list or policy"
    else:
        more = (
            ""
            if found.shown == found.total
            else "; --limit 0 for all" + (", --format csv for a file" if fmt == "table" else "")
        )
        message = f"{found.shown:,} of {found.total:,} findings shown ({found.rows:,} rows){more}"
    click.echo(message, err=fmt != "table")
