"""Shard discovery and column detection.

A *shard* is one parquet file; it is the unit of work. Inputs may be files, directories (every
``*.parquet`` below, sorted, keeping relative paths for the cleaned export) or quoted globs. Everything
is checked here, before any output is written, so a missing file or column fails the run up front.
"""

from __future__ import annotations

import glob
import hashlib
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provscan.errors import ConfigError, ShardError

URL_COLUMNS = ("URL", "url")
ID_COLUMNS = ("SAMPLE_ID", "key", "uid", "id")
LICENSE_COLUMNS = ("LICENSE", "license")
HASH_COLUMNS: Mapping[str, tuple[str, ...]] = {
    # kind -> candidate columns: COYO-700M, COYO-Labeled-300M, DataComp, Re-LAION
    "phash": ("image_phash", "imagehash"),
    "image-sha256": ("sha256",),
    "image-md5": ("md5",),
}


@dataclass(frozen=True)
class Shard:
    path: Path  # where to read it
    given: str  # the path as the user gave it (reports use this)
    relative: str  # output path below clean/


@dataclass(frozen=True)
class Columns:
    url: str | None  # None: an image-only shard (hash columns, no URL column)
    id: str | None
    license: str | None = None
    hashes: Mapping[str, str] = field(default_factory=dict)  # kind -> column


def expand_shards(inputs: Iterable[str | Path], *, exclude: Path | None = None) -> list[Shard]:
    """Resolve files, directories and globs into shards, each file once (inputs that overlap, links);
    two files with the same clean/ name is an error.

    ``exclude`` (the run's output directory) is skipped when a directory or glob is walked, so
    ``scan d/ -o d/out`` never scans its own earlier outputs.
    """
    skip = exclude.resolve() if exclude is not None else None

    def walked(p: Path) -> bool:
        if _special(p):
            raise ShardError(str(p), f"not a regular file ({_file_type(p)}): a shard is a parquet file")
        return p.is_file() and not (skip is not None and p.resolve().is_relative_to(skip))

    shards: list[Shard] = []
    for item in inputs:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            inside = skip is not None and path.resolve().is_relative_to(skip)  # scanning OUT itself: no skip
            found = sorted(
                p for p in path.rglob("*.parquet") if (p.is_file() if inside else walked(p))
            )  # dirs: Spark's x.parquet/
            if not found:
                raise ShardError(text, "directory contains no *.parquet file")
            shards += [Shard(p, str(p), p.relative_to(path).as_posix()) for p in found]
        elif path.exists():
            if _special(path):  # a FIFO blocks the open (SIGTERM cannot end it), a device never ends
                raise ShardError(text, f"not a regular file ({_file_type(path)}): a shard is a parquet file")
            shards.append(Shard(path, text, path.name))
        elif glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise ShardError(text, "no file matches this pattern")
            shards += [Shard(Path(m), m, Path(m).name) for m in matches if walked(Path(m))]
        else:
            raise ShardError(text, "no such file or directory")
    if not shards:
        raise ConfigError("no shards given")
    shards = _once_each(shards)
    seen: dict[str, str] = {}
    for shard in shards:
        if shard.relative in seen:
            raise ConfigError(
                f"{shard.given}: same output name clean/{shard.relative} as {seen[shard.relative]}; "
                "pass their common directory instead"
            )
        seen[shard.relative] = shard.given
    return shards


def _once_each(shards: list[Shard]) -> list[Shard]:
    """Each file once, by identity (device, inode), the first way it was named winning: ``scan in in/sub``
    or two overlapping globs name a file twice, and scanning it twice counted its rows twice."""
    seen: set[tuple[int, int]] = set()
    unique = []
    for shard in shards:
        try:
            st = shard.path.stat()
        except OSError as exc:
            raise ShardError(shard.given, f"cannot read: {exc.strerror or exc}") from exc
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            unique.append(shard)
    return unique


def _special(path: Path) -> bool:
    """A FIFO, socket or device: neither a regular file nor a directory."""
    return path.exists() and not path.is_file() and not path.is_dir()


def _file_type(path: Path) -> str:
    mode = path.stat().st_mode
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a file"


def read_parquet(path: str | Path, columns: Sequence[str] | None = None) -> pa.Table:
    """One parquet file as a table. ``pq.read_table`` reads through ``pyarrow.dataset``, whose first
    import costs 0.14 CPU-s (its shared libraries): a quarter of a small scan's fixed cost, paid by
    every merge for nothing a single file needs. Errors are the caller's to translate."""
    return pq.ParquetFile(path).read(columns=columns)


def read_schema(shard: Shard) -> pa.Schema:
    """The shard's Arrow schema from its footer; a missing or corrupt file is a ShardError."""
    try:
        return pq.read_schema(shard.path)
    except (OSError, pa.ArrowException) as exc:
        raise ShardError(shard.given, f"not a readable parquet file ({exc})") from exc


def detect_columns(
    shard: Shard,
    schema: pa.Schema,
    *,
    url_column: str | None = None,
    id_column: str | None = None,
    license_column: str | None = None,
    hash_columns: Mapping[str, str] | None = None,
) -> Columns:
    """Pick the URL/id/licence/hash columns: explicit names must exist, else the known layouts."""
    names = set(schema.names)

    def pick(explicit: str | None, candidates: Sequence[str], what: str, required: bool) -> str | None:
        if explicit is not None:
            if explicit not in names:
                raise ShardError(shard.given, f"no {what} column {explicit!r} (columns: {', '.join(schema.names)})")
            return explicit
        found = next((c for c in candidates if c in names), None)
        if found is None and required:
            raise ShardError(
                shard.given,
                f"no {what} column (looked for {', '.join(candidates)}; columns: {', '.join(schema.names)}); "
                f"name it with --{what}-column",
            )
        return found

    hashes = {
        kind: col for kind, cands in HASH_COLUMNS.items() if (col := next((c for c in cands if c in names), None))
    }
    for kind, col in (hash_columns or {}).items():
        hashes[kind] = pick(col, (), f"{kind} hash", True)  # type: ignore[assignment]
    # friction (issue 12): a shard with image-hash columns may have no URL column (image-only data,
    # hashes published apart from URLs); whether its lists need URLs is checked by the driver.
    url = pick(url_column, URL_COLUMNS, "url", not hashes)
    check_column_types(shard, schema, url, hashes)
    return Columns(
        url=url,
        id=pick(id_column, ID_COLUMNS, "id", False),
        license=pick(license_column, LICENSE_COLUMNS, "license", False),
        hashes=hashes,
    )


_VIEW_TYPES = tuple(
    getattr(pa, name)() for name in ("string_view", "binary_view") if hasattr(pa, name)
)  # pyarrow >= 16


def is_text_type(dtype: pa.DataType) -> bool:
    """Text as parquet stores it: (large) string or binary, string views, or a dictionary of them."""
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    return (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
        or dtype in _VIEW_TYPES
    )


def check_column_types(shard: Shard, schema: pa.Schema, url: str | None, hashes: Mapping[str, str]) -> None:
    """URL and hash columns must hold text, or the scan silently misreads them.

    An int64 "URL" of 16843009 would be read as the IPv4 address 1.1.1.1 and matched; a list or
    struct column would make every row "invalid" and match nothing. Hash columns hold hex text;
    a ``fixed_size_binary`` column of raw digest bytes is refused too (its text form is not hex),
    so the fix is to store hex or name another column, never a silent miss.
    """
    named = ([("url", url)] if url is not None else []) + [
        (f"{kind} hash", col) for kind, col in sorted(hashes.items())
    ]
    for what, column in named:
        dtype = schema.field(column).type
        if not is_text_type(dtype):
            raise ShardError(
                shard.given,
                f"{what} column {column!r} has type {dtype}, not text (string, large_string, binary or a "
                f"dictionary of them); name another with --{'url-column' if what == 'url' else 'hash-column'}",
            )


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, streamed: the manifest proves which bytes were scanned and written."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
