"""Compiled lists on disk: an Arrow table plus a small JSON per list.

Two uses, one format. A *run copy* in ``OUT/.provscan/lists/`` lets worker processes and Ray tasks
load the run's lists without re-parsing text (and without the text files: a cluster node may see
OUT but not the user's home). A *cache* (``$PROVSCAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/provscan``,
else ``~/.cache/provscan``) keyed by the SHA-256 of the list file, the explicit list settings and
the provscan version spares a second scan the parse of a 1 M-entry list. Tables are Arrow IPC files,
memory-mapped on read: reading 1 M entries back costs under a millisecond (zstd parquet: 80 ms), so
what remains is hashing the list file, which the manifest needs anyway. The cache is an
optimisation: when it cannot be written, lists are parsed as before.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType

import pyarrow as pa

from provscan._version import __version__
from provscan.config import ListSpec
from provscan.errors import ListError, OutputError
from provscan.io.atomic import atomic_path, write_json
from provscan.lists.files import LoadedList, default_name, load_list

_FORMAT = 2

_RULES = 2
"""What :func:`load_list` accepts, in the cache key: a cached parse must not let through a list today's rules
refuse (2: an unknown header setting such as ``acton=flag`` is an error, issue 16)."""


def cache_dir() -> Path:
    if env := os.environ.get("PROVSCAN_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "provscan"


def save_list(lst: LoadedList, directory: Path) -> None:
    """Write one list as ``entries.arrow`` + ``list.json`` (written last: its presence means complete)."""
    with (
        atomic_path(directory / "entries.arrow") as tmp,
        pa.OSFile(str(tmp), "wb") as sink,
        pa.ipc.new_file(sink, lst.entries.schema) as writer,
    ):
        writer.write_table(lst.entries)
    write_json(
        directory / "list.json",
        {
            "format": _FORMAT,
            "provscan_version": __version__,
            "name": lst.name,
            "kind": lst.kind,
            "action": lst.action,
            "path": lst.path,
            "sha256": lst.sha256,
            "params": dict(lst.params),
            "skipped": dict(lst.skipped),
        },
    )


def read_list(directory: Path, *, path: str | None = None) -> LoadedList:
    """Read a list written by :func:`save_list`; ``path`` replaces the recorded one (a cache hit)."""
    try:
        meta = json.loads((directory / "list.json").read_text(encoding="utf-8"))
        entries = pa.ipc.open_file(pa.memory_map(str(directory / "entries.arrow"))).read_all()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ListError(directory, f"cannot read compiled list: {exc}") from exc
    return LoadedList(
        name=meta["name"],
        kind=meta["kind"],
        action=meta["action"],
        path=path or meta["path"],
        sha256=meta["sha256"],
        params=MappingProxyType(meta["params"]),
        entries=entries,
        skipped=MappingProxyType(meta["skipped"]),
    )


def save_lists(lists: Sequence[LoadedList], directory: Path) -> None:
    for i, lst in enumerate(lists):
        save_list(lst, directory / f"{i:04d}")
    write_json(directory / "index.json", {"lists": [f"{i:04d}" for i in range(len(lists))]})


def read_lists(directory: Path) -> list[LoadedList]:
    try:
        names = json.loads((directory / "index.json").read_text(encoding="utf-8"))["lists"]
    except (OSError, ValueError, KeyError) as exc:
        raise ListError(directory, f"cannot read the run's compiled lists: {exc}") from exc
    return [read_list(directory / name) for name in names]


def cache_key(spec: ListSpec, file_sha256: str) -> str:
    """Keyed by content *and* the name the list will carry: two files with the same lines but different
    names (``a.txt``, ``d.txt``) are two lists, and a hit must never rename one as the other."""
    name = spec.name or default_name(spec.path)
    settings = {
        "v": __version__,
        "format": _FORMAT,
        "rules": _RULES,
        "sha256": file_sha256,
        "kind": spec.kind,
        "name": name,
        "action": spec.action,
        "params": {str(k): str(v) for k, v in sorted(spec.params.items())},
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def load_cached(spec: ListSpec) -> LoadedList:
    """:func:`load_list` through the cache: parse once per list version and settings."""
    try:
        digest = hashlib.sha256(Path(spec.path).read_bytes()).hexdigest()
    except OSError:
        return _parse(spec)  # load_list reports the unreadable file
    entry = cache_dir() / "lists" / cache_key(spec, digest)
    if (entry / "list.json").is_file():
        try:
            return read_list(entry, path=str(spec.path))
        except ListError:
            pass  # a damaged cache entry is rebuilt below
    lst = _parse(spec)
    if lst.sha256 == digest:
        try:
            save_list(lst, entry)
        except OutputError:
            pass  # read-only home or full disk: the cache is only an optimisation
    return lst


def _parse(spec: ListSpec) -> LoadedList:
    return load_list(spec.path, kind=spec.kind, name=spec.name, action=spec.action, params=dict(spec.params))
