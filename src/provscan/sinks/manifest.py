"""manifest.json read back as one typed value: what the terminal, the reports and ``provscan show`` read.

A manifest may come from disk (``provscan report OUT``, ``provscan show OUT``), and OUT's own files are
untrusted: a field of the wrong shape is an :class:`~provscan.errors.IntegrityError` that names it,
not a ``TypeError`` three calls deep in a renderer. Readers take typed fields (``m.settings.redact_urls``,
``m.lists[0].action``) instead of spelling the manifest's keys; counters (``totals``, each shard's
entry) stay mappings, since stages add their own (``rows_allowed``, ``unchecked``...). Scan and sample
manifests share this shape; a sample's totals and sources differ and are read as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provscan.errors import IntegrityError


def _map(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise IntegrityError(f"manifest.json: {where} is not an object")
    return dict(value)


def _strs(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise IntegrityError(f"manifest.json: {where} is not a list of strings")
    return tuple(value)


def _str(data: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise IntegrityError(f"manifest.json: {where}.{key} is not a string")
    return value


@dataclass(frozen=True)
class Settings:
    """The run's recorded configuration, the parts the outputs show; ``recorded`` is all of it, as written."""

    output: str | None
    redact_urls: bool
    licence_drop: tuple[str, ...]
    licence_flag: tuple[str, ...]
    consent_check: bool
    consent_action: str
    consent_directives: tuple[str, ...]
    unchecked: str
    recorded: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, data: Any) -> Settings:
        config = _map(data, "config")
        licences, consent = (
            _map(config.get("licenses"), "config.licenses"),
            _map(config.get("consent"), "config.consent"),
        )
        output = config.get("output")
        return cls(
            output=None if output is None else str(output),
            redact_urls=bool(config.get("redact_urls")),
            licence_drop=_strs(licences.get("drop"), "config.licenses.drop"),
            licence_flag=_strs(licences.get("flag"), "config.licenses.flag"),
            consent_check=bool(consent.get("check")),
            consent_action=_str(consent, "action", "config.consent", "drop"),
            consent_directives=_strs(consent.get("directives"), "config.consent.directives"),
            unchecked=_str(config, "unchecked", "config", "keep"),
            recorded=config,
        )


@dataclass(frozen=True)
class ListInfo:
    """One list in effect, as the manifest records it."""

    name: str
    kind: str
    action: str
    entries: int = 0
    sha256: str = ""
    path: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, data: Any, where: str) -> ListInfo:
        entry = _map(data, where)
        entries = entry.get("entries") or 0
        if not isinstance(entries, int) or isinstance(entries, bool):
            raise IntegrityError(f"manifest.json: {where}.entries is not a whole number")
        skipped = _map(entry.get("skipped"), f"{where}.skipped")
        if not all(isinstance(n, int) for n in skipped.values()):
            raise IntegrityError(f"manifest.json: {where}.skipped holds a count that is not a whole number")
        return cls(
            _str(entry, "name", where),
            _str(entry, "kind", where),
            _str(entry, "action", where),
            entries,
            str(entry.get("sha256") or ""),
            str(entry.get("path") or ""),
            _map(entry.get("params"), f"{where}.params"),
            skipped,
        )


@dataclass(frozen=True)
class Manifest:
    """A scan's or sample's manifest.json, checked field by field."""

    version: str | None
    started: str | None
    finished: str | None
    settings: Settings
    lists: tuple[ListInfo, ...]
    shards: tuple[dict[str, Any], ...]  # scan: each shard's entry (counters by name); sample: none
    totals: dict[str, Any]
    consent_sources: Any  # None when not recorded (older runs); read by consent.policy.describe_sources
    files: dict[str, Any] = field(
        default_factory=dict
    )  # OUT's files by path -> SHA-256 (none before the manifest is written)

    @classmethod
    def read(cls, data: Any) -> Manifest:
        top = _map(data, "the file")
        lists, shards = top.get("lists") or [], top.get("shards") or []
        if not isinstance(lists, list) or not isinstance(shards, list):
            raise IntegrityError("manifest.json: lists and shards must be lists")
        version, started, finished = (
            None if top.get(k) is None else str(top[k]) for k in ("provscan_version", "started", "finished")
        )
        return cls(
            version,
            started,
            finished,
            Settings.read(top.get("config")),
            tuple(ListInfo.read(lst, f"lists[{i}]") for i, lst in enumerate(lists)),
            tuple(_map(s, f"shards[{i}]") for i, s in enumerate(shards)),
            _map(top.get("totals"), "totals"),
            top.get("consent_sources"),
            _map(top.get("files"), "files"),
        )
