"""List files: reading, the ``# provscan-list:`` header, naming and writing.

The file format is a contract with users (``blocklists/README.md``): UTF-8 text, one entry per line, ``#``
comments, an optional first-line header ``# provscan-list: kind=K name=N action=drop|flag [max_distance=D]``.
Settings resolve as explicit arguments (``-b KIND:PATH``, config) > header > defaults, so a shared list
can carry its own kind and a user can still override it. A malformed line is an error, never a skip: a
dropped hash is a missed match. Only Adblock rules no entry can express are skipped, and counted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import pyarrow as pa
import pyarrow.compute as pc

from provscan.io.atomic import write_text
from provscan.errors import ConfigError, ListError, OutputError
from provscan.kinds import (
    ACTIONS,
    ALL_KINDS,
    ALLOW_KINDS,
    LIST_SETTINGS,
    PERCEPTUAL_KINDS,
    REGISTRY_KINDS,
    unknown_kind,
    unknown_setting,
)
from provscan.lists.compression import decompress, strip_compression
from provscan.lists.formats import dedupe, parse_lines
from provscan.lists.registry import parse_registry

HEADER_TAG = "provscan-list:"
_HEADER = re.compile(r"^\ufeff?#\s*provscan-list:(.*)$")
GENERIC_STEMS = frozenset({"domains", "urls", "hosts", "list", "blocklist", "blacklist", "expressions"})
"""Stems that say nothing about the list (UT1 ``adult/urls``): the parent folder is prefixed to the name."""


@dataclass(frozen=True)
class LoadedList:
    """One parsed list, ready for the matchers and the manifest."""

    name: str
    kind: str
    action: str
    path: str
    sha256: str  # of the file bytes, so a report pins exactly which list version it used
    params: Mapping[str, str]  # header/config parameters beyond kind/name/action (e.g. max_distance)
    entries: pa.Table  # line int32, entry string, value string (+ license, source, note for registries)
    skipped: Mapping[str, int]  # reason -> count of lines that are valid but express nothing we can match

    @property
    def entry_count(self) -> int:
        return self.entries.num_rows


_KIND_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9_-]+):")


def parse_list_arg(arg: str) -> tuple[str | None, str]:
    """``"KIND:PATH"`` -> (KIND, PATH); ``"PATH"`` -> (None, PATH).

    A word of two or more letters, digits, ``-`` or ``_`` before the first ``:`` is always a kind, so
    ``domian:x.txt`` is "unknown kind", never "no such file". A one-letter prefix is a Windows drive
    (``C:/lists/a.txt``); any other path with a ``:`` is written ``./name:with:colons.txt`` or after
    an explicit kind (``domain:name:with:colons.txt``: only the first ``:`` separates).
    """
    m = _KIND_PREFIX.match(arg)
    if m is None:
        return None, arg
    prefix, rest = m.group(1), arg[m.end() :]
    if prefix not in ALL_KINDS:
        raise ConfigError(f"{arg!r}: {unknown_kind(prefix)}")
    if not rest:
        raise ConfigError(f"{arg!r}: a path must follow '{prefix}:'")
    return prefix, rest


def default_name(path: str | Path) -> str:
    """The file stem, or ``<folder>-<stem>`` for generic stems (``ut1/adult/urls`` -> ``adult-urls``).

    A compression suffix is not part of the name: ``piracy.txt.gz`` is ``piracy``."""
    p = strip_compression(path)
    stem = p.stem or p.name
    if stem.lower() in GENERIC_STEMS:
        parent = p.resolve().parent.name
        stem = f"{parent}-{stem}" if parent else stem
    return re.sub(r"\s+", "_", stem)


def whitelist_hint(path: str | Path) -> str | None:
    """A warning when a list file sits in a UT1 category whose ``usage`` file says ``white``
    (``liste_blanche``): loaded with the default action it would drop the sites it vouches for."""
    usage = Path(path).parent / "usage"
    try:
        tags = usage.read_text(encoding="utf-8", errors="replace").split() if usage.is_file() else []
    except OSError:
        return None
    if "white" in tags:
        return (
            f"{path}: UT1 marks this category 'white' (a whitelist, {usage}); "
            f"to exempt its sites from drops load it as -b '{path};action=allow'"
        )
    return None


def load_list(
    path: str | Path,
    *,
    kind: str | None = None,
    name: str | None = None,
    action: str | None = None,
    params: Mapping[str, object] | None = None,
) -> LoadedList:
    """Read and parse one list file; explicit arguments win over the header, which wins over defaults."""
    p = Path(path)
    data = _read(p)
    try:
        text = _decode(p, decompress(p, data))
    except ValueError as exc:
        raise ListError(p, str(exc)) from exc
    header = _header(p, text)
    kind = kind or header.pop("kind", None)
    action = action or header.pop("action", None) or "drop"
    name = name or header.pop("name", None) or default_name(p)
    for key in ("kind", "action", "name"):
        header.pop(key, None)  # overridden by an explicit argument
    if kind is None:
        raise ListError(
            p,
            "no list kind: write KIND:PATH (e.g. -b domain:PATH), kind= in the config, "
            f"or a first line '# {HEADER_TAG} kind=KIND'",
        )
    if kind not in ALL_KINDS:
        raise ListError(p, unknown_kind(kind))
    if action not in ACTIONS:
        raise ListError(p, f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    if action == "allow" and kind not in ALLOW_KINDS:
        raise ListError(
            p,
            f"action=allow applies to {', '.join(ALLOW_KINDS)} lists, not {kind!r} "
            "(image-hash lists cannot be overridden)",
        )
    merged = _check_params(p, kind, {**header, **{str(k): _param_str(v) for k, v in (params or {}).items()}})

    lines = pc.split_pattern(pa.array([text], pa.large_string()), "\n").flatten()
    if kind in REGISTRY_KINDS:
        table, skipped, errors = parse_registry(lines.to_pylist())
    else:
        table, skipped, errors = parse_lines(kind, lines)
    if errors:
        line, reason = errors[0]
        more = f" (and {len(errors) - 1} more malformed lines)" if len(errors) > 1 else ""
        raise ListError(p, reason + more, line=line)
    return LoadedList(
        name=name,
        kind=kind,
        action=action,
        path=str(p),
        sha256=hashlib.sha256(data).hexdigest(),
        params=MappingProxyType(merged),
        entries=dedupe(table),
        skipped=MappingProxyType(dict(skipped)),
    )


def list_header(
    path: Path,
    kind: str,
    *,
    name: str | None = None,
    action: str | None = None,
    params: Mapping[str, object] | None = None,
    comments: Iterable[str] = (),
) -> list[str]:
    """The header line and ``#`` comment lines of a list file, checked: shared by :func:`write_list`
    and writers that stream their values (the removal list)."""
    if kind not in ALL_KINDS or kind in REGISTRY_KINDS:
        raise ConfigError(f"write_list: cannot write kind {kind!r}")
    if action is not None and action not in ACTIONS:
        raise ConfigError(f"write_list: unknown action {action!r}")
    if action == "allow" and kind not in ALLOW_KINDS:
        raise ConfigError(f"write_list: action=allow applies to {', '.join(ALLOW_KINDS)} lists, not {kind!r}")
    fields = {"kind": kind, "name": name, "action": action}
    fields.update(_check_params(path, kind, {str(k): _param_str(v) for k, v in (params or {}).items()}))
    for key, val in fields.items():
        if val is not None and (not val or re.search(r"[\s=]", key) or re.search(r"\s", val)):
            raise ConfigError(f"write_list: header field {key}={val!r} must be non-empty without whitespace")
    head = [f"# {HEADER_TAG} " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)]
    for comment in comments:
        if "\n" in comment or "\r" in comment or _HEADER.match(f"# {comment}"):
            raise ConfigError(f"write_list: a comment must be one line and not a header: {comment!r}")
        head.append(f"# {comment}".rstrip())
    return head


def write_list(
    path: str | Path,
    kind: str,
    values: Iterable[str],
    *,
    name: str | None = None,
    action: str | None = None,
    params: Mapping[str, object] | None = None,
    comments: Iterable[str] = (),
) -> None:
    """Write a header, ``#`` comments and the values in the given order, atomically (temp file + rename).

    Every value is parsed as ``load_list`` would before anything is written, so provscan never produces a
    list it cannot read back (and never writes half a list).
    """
    p = Path(path)
    head = list_header(p, kind, name=name, action=action, params=params, comments=comments)
    values = list(values)
    for i, value in enumerate(values):
        if (
            not isinstance(value, str)
            or value != value.strip()
            or not value
            or value[0] in "#!"
            or "\n" in value
            or "\r" in value
        ):
            raise ListError(p, f"cannot write value {value!r}: not a one-line entry", line=len(head) + i + 1)
    table, skipped, errors = parse_lines(kind, pa.array(values, pa.string()))
    if errors or skipped or table.num_rows != len(values):
        line, reason = errors[0] if errors else (1, f"value skipped as {dict(skipped)}")
        raise ListError(p, f"cannot write: {reason}", line=len(head) + line)
    if not p.parent.is_dir():  # a list goes where the user said, not into a directory made up for it
        raise OutputError(p, "cannot write list: no such directory")
    write_text(p, "\n".join([*head, *values]) + "\n")


def _read(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ListError(p, f"cannot read list: {exc.strerror or exc}") from exc


def _decode(p: Path, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ListError(p, f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line) from exc
    return text.removeprefix("\ufeff")


def _header(p: Path, text: str) -> dict[str, str]:
    """The ``key=value`` fields of a first-line header; a header elsewhere would be silently ignored."""
    first = text.split("\n", 1)[0].strip()
    m = _HEADER.match(first)
    if m is None:
        at = text.find(HEADER_TAG)
        while at != -1:
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at)
            if _HEADER.match(text[start : None if end == -1 else end].strip()):
                raise ListError(
                    p, f"the '# {HEADER_TAG}' header must be the first line", line=text.count("\n", 0, start) + 1
                )
            at = text.find(HEADER_TAG, at + 1)
        return {}
    fields: dict[str, str] = {}
    for token in m.group(1).split():
        key, sep, value = token.partition("=")
        if not sep or not key or not value:
            raise ListError(p, f"header: expected key=value, got {token!r}", line=1)
        if key in fields:
            raise ListError(p, f"header: {key}= given twice", line=1)
        if key not in LIST_SETTINGS:
            raise ListError(p, f"header: {unknown_setting(key)}", line=1)
        fields[key] = value
    return fields


def _param_str(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _check_params(p: Path, kind: str, params: dict[str, str]) -> dict[str, str]:
    """Validate the parameters beyond kind/name/action (header, config, ``-b``, API): an unknown key is an
    error naming the nearest setting, never passed through (``max_distanse=2`` left the default radius)."""
    for key in params:
        if key not in LIST_SETTINGS:
            raise ListError(p, unknown_setting(key))
    if "max_distance" in params:
        if kind not in PERCEPTUAL_KINDS:
            raise ListError(p, f"max_distance applies to perceptual hash kinds, not {kind!r}")
        bits = PERCEPTUAL_KINDS[kind] * 4
        raw = params["max_distance"]
        if not re.fullmatch(r"\d+", raw) or int(raw) > bits:
            raise ListError(p, f"max_distance must be an integer 0..{bits} for {kind}, got {raw!r}")
    return params
