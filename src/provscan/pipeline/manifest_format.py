"""The scan manifest's versioned format: what ``provscan verify`` validates before it checks anything.

A manifest is untrusted input. ``verify`` decides from it what to check, so a manifest whose
``files`` map is null or gone, or whose counts are strings, must fail as a manifest, not quietly
turn its checks off. ``manifest_format`` names the version; a manifest without it (written before
format 1, or with the field removed) is not verifiable. Paths in it are relative to OUT, never
absolute, never ``..``.

Format 1 (``manifest_format: 1``), the fields a check rests on:

* ``provscan_version`` string; ``config`` object; ``lists`` array;
* ``shards``: array of objects with ``path`` (the input, as given), ``sha256`` (hex SHA-256),
  ``rows_in``, ``rows_dropped``, ``rows_out`` (integers >= 0; ``rows_matched`` and ``rows_flagged``
  too where present), and with ``output`` (a path in OUT) its ``output_sha256``;
* ``totals``: object with integers ``rows_in``, ``rows_dropped``, ``rows_out``, ``shards``, ``removals``;
* ``files``: object mapping every file under OUT (but the manifest, ``cache/`` and ``.provscan/``)
  to its SHA-256.

Other fields (timestamps, ``url_fast_path``, ``consent_sources``...) are informational.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

MANIFEST_FORMAT = 1
"""The version of the scan manifest's layout, written as ``manifest_format``; raised when a field a
check rests on changes shape."""

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHARD_COUNTS = ("rows_in", "rows_dropped", "rows_out")
_OPTIONAL_COUNTS = ("rows_matched", "rows_flagged")
_TOTALS = ("rows_in", "rows_dropped", "rows_out", "shards", "removals")


def problems(data: Any) -> list[str]:
    """What in ``data`` does not match format :data:`MANIFEST_FORMAT` (empty: it matches)."""
    if not isinstance(data, dict):
        return [f"expected a JSON object, got {_kind(data)}"]
    version = data.get("manifest_format")
    if "manifest_format" not in data:
        return ["no manifest_format (written before manifest format 1, or edited): not verifiable; scan again"]
    if not isinstance(version, int) or isinstance(version, bool) or version != MANIFEST_FORMAT:
        return [f"manifest_format {version!r}: this provscan reads format {MANIFEST_FORMAT}"]
    found: list[str] = []
    for key, kind in (
        ("provscan_version", str),
        ("config", dict),
        ("lists", list),
        ("shards", list),
        ("totals", dict),
        ("files", dict),
    ):
        if not isinstance(data.get(key), kind):
            found.append(f"{key}: expected {_name(kind)}, got {_kind(data.get(key)) if key in data else 'nothing'}")
    if isinstance(data.get("shards"), list):
        for i, entry in enumerate(data["shards"]):
            found += [f"shards[{i}]{p}" for p in _shard(entry)]
    if isinstance(data.get("totals"), dict):
        found += [f"totals.{key}: expected an integer >= 0" for key in _TOTALS if not _count(data["totals"].get(key))]
    if isinstance(data.get("files"), dict):
        for rel, sha in data["files"].items():
            if not relative_path(rel):
                found.append(f"files: {rel!r} is not a relative path inside OUT")
            elif not _sha(sha):
                found.append(f"files[{rel!r}]: expected a SHA-256, got {sha!r}")
    return found


def relative_path(value: Any) -> bool:
    """A non-empty relative POSIX path without ``..``: how a manifest names a file in OUT. A backslash is
    an ordinary character in a POSIX name (a shard ``back\\slash.parquet`` is a real file), not a separator."""
    if not isinstance(value, str) or not value or "\x00" in value:
        return False
    path = PurePosixPath(value)
    return not path.is_absolute() and ".." not in path.parts and path.parts[:1] not in ((".provscan",), ("cache",))


def _shard(entry: Any) -> list[str]:
    if not isinstance(entry, dict):
        return [f": expected an object, got {_kind(entry)}"]
    found = []
    if not isinstance(entry.get("path"), str):
        found.append(".path: expected a string")
    if not _sha(entry.get("sha256")):
        found.append(".sha256: expected a SHA-256")
    found += [f".{key}: expected an integer >= 0" for key in _SHARD_COUNTS if not _count(entry.get(key))]
    found += [
        f".{key}: expected an integer >= 0" for key in _OPTIONAL_COUNTS if key in entry and not _count(entry[key])
    ]
    if "output" in entry:
        if not relative_path(entry["output"]):
            found.append(f".output: {entry['output']!r} is not a relative path inside OUT")
        if not _sha(entry.get("output_sha256")):
            found.append(".output_sha256: expected a SHA-256")
    return found


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _sha(value: Any) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def _name(kind: type) -> str:
    names: dict[type, str] = {str: "a string", dict: "an object", list: "an array"}
    return names[kind]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names: dict[type, str] = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return names.get(type(value), type(value).__name__)
