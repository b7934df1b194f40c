"""``provscan hash``: a hash list from local images."""

from __future__ import annotations

from pathlib import Path

import click

from provscan.cli.common import fail
from provscan.errors import ProvscanError

@click.command(name="hash")
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
        fail(exc)
    if output:
        tail = f"; {failed} images could not be hashed" if failed else ""
        click.echo(f"{len(values)} {kind} hashes written to {output}{tail}", err=True)
