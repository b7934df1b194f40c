"""``provscan hash``: a hash list from local images."""

from __future__ import annotations

from pathlib import Path

import click

from provscan.cli.common import fail
from provscan.errors import ProvscanError


@click.command(name="hash")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["image-md5", "image-sha1", "image-sha256", "phash", "dhash", "ahash", "whash", "pdq"]),
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="List file to write (default: stdout).")
@click.option("--name", help="List name for the header (default: the output file's stem).")
@click.option("--action", type=click.Choice(["drop", "flag"]), default="drop", show_default=True)
@click.option("--dihedral", is_flag=True, help="Also write the hashes of the 7 rotations/flips.")
def hash_command(
    images: tuple[str, ...], kind: str, output: str | None, name: str | None, action: str, dihedral: bool
) -> None:
    """Build a hash list from local images (files or directories, walked in sorted order).

    An image that cannot be hashed is one line on stderr and left out; the others' list is still
    written, and the exit status is 1. When no image can be hashed nothing is written.

    \b
    Example:
        provscan hash reported/ --kind phash -o blocklists/reported-phash.txt
    """
    from provscan.images.hashing import hash_files
    from provscan.lists.files import default_name, list_header, write_list

    values: list[str] = []
    failures: list[str] = []  # held until the first image hashes: a lone failure is then the one error line
    failed = hashed = 0
    try:
        for path, result in hash_files([Path(p) for p in images], kind, dihedral=dihedral):
            if result.status != "ok" or kind not in result.hashes:
                failed += 1
                status = "not an image" if result.status == "not_image" else result.status.replace("_", " ")
                failures.append(f"{path}: cannot hash ({f'{status}: {result.error}' if result.error else status})")
                if hashed:
                    _report(failures)
                continue
            hashed += 1
            _report(failures)
            values.extend(result.hashes[kind])
        if not hashed:
            if len(failures) == 1:
                raise click.ClickException(f"{failures[0]}; nothing written")
            _report(failures)
            raise click.ClickException(
                f"none of {failed} images could be hashed: nothing written"
                if failed
                else "no image files found: nothing written"
            )
        values = list(dict.fromkeys(values))
        if output:
            write_list(
                Path(output),
                kind,
                values,
                name=name or default_name(output),
                action=action,
                comments=(f"{len(values)} {kind} hashes of local images, made by provscan hash",),
            )
        else:
            for line in list_header(Path("-"), kind, name=name or "hashes", action=action):
                click.echo(line)
            for value in values:
                click.echo(value)
    except ProvscanError as exc:
        fail(exc)
    if output:
        tail = f"; {failed} image{'s' * (failed != 1)} could not be hashed" if failed else ""
        click.echo(f"{len(values)} {kind} hashes written to {output}{tail}", err=True)
    if failed:
        raise SystemExit(1)


def _report(failures: list[str]) -> None:
    for line in failures:
        click.echo(f"provscan: {line}", err=True)
    failures.clear()
