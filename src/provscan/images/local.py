"""Images already downloaded by img2dataset, read back for hashing (``--images DIR|TAR``).

Why: a corpus owner who ran img2dataset has the pictures on disk, so image hashes can be checked
without downloading again. img2dataset writes two layouts, both handled here:

* ``files``: ``00000/000000001.jpg`` beside ``000000001.json`` (``key``, ``url``, ``caption``...)
  and ``000000001.txt``;
* ``webdataset``: ``00000.tar`` with members ``000000001.jpg``, ``.json``, ``.txt`` (members of one
  sample are contiguous, as webdataset requires).

Tars are read as a stream (``r|*``, gzip too), one sample buffered at a time, so memory stays
bounded by the largest sample whatever the shard size; members over ``max_member_bytes`` are
skipped with a warning instead of being read.
"""

from __future__ import annotations

import json
import logging
import os
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from provscan.errors import InputError

log = logging.getLogger(__name__)

SIDECAR_EXTS = {"json", "txt", "npy", "parquet", "csv", "tsv", "md"}
"""Member or file extensions that are metadata, never image data."""

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
MAX_MEMBER_BYTES = 256 << 20


@dataclass(frozen=True, slots=True)
class LocalImage:
    key: str | None  # img2dataset key (sidecar ``key``, else the file stem)
    url: str | None  # the URL it was downloaded from (sidecar ``url``), if known
    data: bytes
    source: str  # file path, or ``shard.tar::member`` inside a tar


def iter_local_images(paths: Iterable[Path | str], *, max_member_bytes: int = MAX_MEMBER_BYTES) -> Iterator[LocalImage]:
    """Every image under the given directories / tar shards / files, in sorted order."""
    for path in map(Path, paths):
        if path.is_dir():
            yield from _iter_dir(path, max_member_bytes)
        elif is_tar(path.name):
            yield from _iter_tar(path, max_member_bytes)
        elif _ext(path.name) not in SIDECAR_EXTS:
            yield _file_image(path)


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def walk_files(root: Path) -> Iterator[Path]:
    """The one walker of image folders (``--images DIR`` and ``provscan hash DIR``): files in sorted
    order, sorted directories first-to-last, hidden files and directories and img2dataset sidecars
    left out. Tars are yielded too; the caller opens or skips them."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and _ext(name) not in SIDECAR_EXTS:
                yield Path(dirpath) / name


def is_tar(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


def _iter_dir(root: Path, max_member_bytes: int) -> Iterator[LocalImage]:
    for path in walk_files(root):
        if is_tar(path.name):
            yield from _iter_tar(path, max_member_bytes)
        else:
            yield _file_image(path)


def _file_image(path: Path) -> LocalImage:
    meta = _read_json(path.with_suffix(".json"))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read image: {exc.strerror or exc}") from exc
    return LocalImage(_key(meta, path.stem), _url(meta), data, str(path))


def _read_json(path: Path) -> dict:
    try:
        return _parse_json(path.read_bytes())
    except OSError:
        return {}


def _parse_json(raw: bytes) -> dict:
    try:
        meta = json.loads(raw)
    except ValueError:  # a broken sidecar costs the metadata, never the image
        return {}
    return meta if isinstance(meta, dict) else {}


def _key(meta: dict, fallback: str) -> str:
    key = meta.get("key")
    return str(key) if key not in (None, "") else fallback


def _url(meta: dict) -> str | None:
    url = meta.get("url")
    return str(url) if url else None


def _iter_tar(path: Path, max_member_bytes: int) -> Iterator[LocalImage]:
    """A tar's images; a truncated or corrupt tar is an :class:`InputError` naming it."""
    try:
        yield from _read_tar(path, max_member_bytes)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise InputError(path, f"not a readable tar ({exc})") from exc


def _read_tar(path: Path, max_member_bytes: int) -> Iterator[LocalImage]:
    """Group consecutive members by sample key (path up to the first dot of the basename)."""
    current: str | None = None
    members: dict[str, tuple[str, bytes]] = {}
    with tarfile.open(path, mode="r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            directory, _, base = member.name.rpartition("/")
            stem, _, ext = base.partition(".")
            sample = f"{directory}/{stem}" if directory else stem
            if sample != current:
                yield from _tar_sample(path, current, members)
                current, members = sample, {}
            if member.size > max_member_bytes:
                log.warning(
                    "%s::%s: %d bytes, over the %d limit: skipped", path, member.name, member.size, max_member_bytes
                )
                continue
            fh = tar.extractfile(member)
            members[ext.lower()] = (member.name, fh.read() if fh else b"")
        yield from _tar_sample(path, current, members)


def _tar_sample(path: Path, sample: str | None, members: dict) -> Iterator[LocalImage]:
    if sample is None:
        return
    meta = _parse_json(members["json"][1]) if "json" in members else {}
    key, url = _key(meta, sample.rpartition("/")[2]), _url(meta)
    for ext in sorted(members):
        if ext.rsplit(".", 1)[-1] not in SIDECAR_EXTS:
            name, data = members[ext]
            yield LocalImage(key, url, data, f"{path}::{name}")
