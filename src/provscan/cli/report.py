"""``provscan report``: regenerate report.html and datacard.md from a finished OUT."""

from __future__ import annotations

from pathlib import Path

import click

from provscan.cli.common import fail
from provscan.errors import ProvscanError


@click.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write only this HTML file (outside OUT); default: OUT/report.html and OUT/datacard.md.",
)
def report(out: str, output: str | None) -> None:
    """Regenerate report.html and datacard.md from a finished scan or sample output OUT.

    An OUT without manifest.json (interrupted or still running) is an error; nothing is written.

    \b
    Example:
        provscan report provscan-out/
        provscan report provscan-out/ -o /tmp/scan-report.html
    """
    from provscan.pipeline.rerender import regenerate
    from provscan.sinks.report import differs_from_manifest

    try:
        paths = regenerate(Path(out), Path(output) if output else None)
        changed = [] if output else differs_from_manifest(Path(out))
    except ProvscanError as exc:
        fail(exc)
        return
    for path in paths:
        click.echo(str(path))
    for name in changed:
        click.echo(
            f"provscan: {name} differs from the SHA-256 manifest.json records for it "
            "(rendered by another provscan version?); provscan verify will report it",
            err=True,
        )
