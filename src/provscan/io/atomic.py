"""Atomic file writes: every output appears under its final name only when it is complete.

One helper for every writer (reports, lists, cleaned shards, caches, manifests): the bytes go to a
hidden temporary name beside the target (``.NAME.tmp-PID``) and are renamed into place on success,
so an interrupted run never leaves a file that looks finished. Temporary names are recognisable
(:func:`is_temp`) so a later run can remove the leftovers of a killed one. Write errors (disk full,
permissions) become :class:`~provscan.errors.OutputError` naming the target.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from provscan.errors import OutputError

_TEMP = re.compile(r"^\..+\.tmp-[0-9]+$")


def temp_path(path: Path) -> Path:
    """The temporary name ``path`` is written under: hidden, beside it (same filesystem), per process."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def is_temp(name: str) -> bool:
    """True for a name :func:`temp_path` makes: a leftover if no live run owns it."""
    return bool(_TEMP.match(name))


class AtomicTarget:
    """A file being written under its temporary name; :meth:`commit` renames it into place."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.tmp = temp_path(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(self.path.parent, f"cannot create directory: {exc.strerror or exc}") from exc

    def commit(self) -> None:
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.abort()
            raise OutputError(self.path, f"cannot write: {exc.strerror or exc}") from exc

    def abort(self) -> None:
        self.tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` when the block succeeds, else remove it."""
    target = AtomicTarget(path)
    try:
        yield target.tmp
    except OSError as exc:
        target.abort()
        raise OutputError(target.path, f"cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        target.abort()
        raise
    target.commit()


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any) -> None:
    """JSON with a stable layout (2-space indent, trailing newline): the same data, the same bytes."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_parquet(path: str | Path, table: pa.Table) -> None:
    """A small table of provscan's own (commits, cache parts, sample outputs) as zstd parquet."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
