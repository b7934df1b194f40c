"""Scan configuration: one frozen value object, built from ``provscan.toml`` and CLI overrides.

Validated once here so the engine can trust it; every problem is a :class:`ConfigError` naming the
file and key. Paths in a TOML file are relative to that file, so a config works from any directory.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from provscan.errors import ConfigError
from provscan.kinds import ACTIONS, ALL_KINDS, unknown_kind

DEFAULT_CONFIG_NAME = "provscan.toml"
UNCHECKED_ACTIONS = ("keep", "flag", "drop")
"""What to do with a row whose image could not be checked against the image lists (``[fetch] unchecked``)."""


@dataclass(frozen=True)
class ListSpec:
    """Where a list lives and how to use it; unset fields fall back to the list's header."""

    path: Path
    kind: str | None = None
    name: str | None = None
    action: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LicenseConfig:
    """Glob patterns over resolved licence ids (``CC-BY-NC-*``); ``drop`` wins over ``flag``."""

    drop: tuple[str, ...] = ()
    flag: tuple[str, ...] = ()
    column: str | None = None


@dataclass(frozen=True)
class ConsentConfig:
    check: bool = False
    action: str = "drop"
    agents: tuple[str, ...] | None = None  # None: the documented default AI crawler list
    directives: tuple[str, ...] = ("noai", "noimageai")
    signals: tuple[str, ...] | None = None  # globs over signal names that count as opt-outs; None: the default list
    ai_generated: str = "flag"  # flag | drop | keep: images whose metadata says a model made them


@dataclass(frozen=True)
class ScanConfig:
    lists: tuple[ListSpec, ...] = ()
    output: Path = Path("provscan-out")
    export: bool = True
    workers: int = 1  # processes on this machine (--workers)
    url_column: str | None = None
    id_column: str | None = None
    hash_columns: Mapping[str, str] = field(default_factory=dict)
    redact_urls: bool = False
    images: tuple[Path, ...] = ()
    fetch: bool = False
    dihedral: bool = False
    fetch_options: Mapping[str, Any] = field(default_factory=dict)
    unchecked: str = "keep"  # keep | flag | drop: rows whose image could not be fetched or hashed
    licenses: LicenseConfig = LicenseConfig()
    consent: ConsentConfig = ConsentConfig()
    source: str | None = None  # the TOML file this came from, for the manifest

    def with_overrides(self, **changes: Any) -> ScanConfig:
        """A copy with the given fields replaced; ``None`` values mean "not given" and are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """The effective configuration as plain JSON data, for the manifest."""
        data = asdict(self)
        data["output"] = str(self.output)
        data["images"] = [str(p) for p in self.images]
        data["lists"] = [{**asdict(s), "path": str(s.path), "params": dict(s.params)} for s in self.lists]
        data["hash_columns"] = dict(self.hash_columns)
        data["fetch_options"] = dict(self.fetch_options)
        return data


_SCAN_KEYS = {"output", "export", "workers", "url_column", "id_column", "hash_columns", "redact_urls", "images", "fetch", "dihedral"}
_TOP_KEYS = {"scan", "list", "licenses", "consent", "fetch"}


def load_config(path: str | Path) -> ScanConfig:
    """Read a ``provscan.toml``; unknown sections and keys are errors (a typo must not disable a list)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    base = path.parent
    _reject_unknown(path, "top level", data, _TOP_KEYS)
    scan = _table(path, data, "scan")
    _reject_unknown(path, "[scan]", scan, _SCAN_KEYS)
    lists = tuple(_list_spec(path, base, i, item) for i, item in enumerate(_array(path, data, "list")))
    kwargs: dict[str, Any] = {k: v for k, v in scan.items() if k not in ("output", "images", "hash_columns")}
    if "output" in scan:
        kwargs["output"] = base / str(scan["output"])
    if "images" in scan:
        kwargs["images"] = tuple(base / str(p) for p in scan["images"])
    if "hash_columns" in scan:
        kwargs["hash_columns"] = {str(k): str(v) for k, v in _mapping(path, "hash_columns", scan["hash_columns"]).items()}
    lic = _table(path, data, "licenses")
    _reject_unknown(path, "[licenses]", lic, {"drop", "flag", "column"})
    consent = _table(path, data, "consent")
    _reject_unknown(path, "[consent]", consent, {"check", "action", "agents", "directives", "signals", "ai_generated"})
    if consent.get("action", "drop") not in ("drop", "flag"):
        raise ConfigError(f"{path}: [consent] action must be one of drop, flag")
    if consent.get("ai_generated", "flag") not in ("flag", "drop", "keep"):
        raise ConfigError(f"{path}: [consent] ai_generated must be one of flag, drop, keep")
    fetch = dict(_table(path, data, "fetch"))
    if "unchecked" in fetch:
        kwargs["unchecked"] = fetch.pop("unchecked")
        if kwargs["unchecked"] not in UNCHECKED_ACTIONS:
            raise ConfigError(f"{path}: [fetch] unchecked must be one of {', '.join(UNCHECKED_ACTIONS)}")
    return ScanConfig(
        lists=lists,
        licenses=LicenseConfig(
            drop=_strings(path, "licenses.drop", lic.get("drop", [])),
            flag=_strings(path, "licenses.flag", lic.get("flag", [])),
            column=lic.get("column"),
        ),
        consent=ConsentConfig(
            check=bool(consent.get("check", False)),
            action=consent.get("action", "drop"),
            agents=_strings(path, "consent.agents", consent["agents"]) if "agents" in consent else None,
            directives=_strings(path, "consent.directives", consent.get("directives", ["noai", "noimageai"])),
            signals=_strings(path, "consent.signals", consent["signals"]) if "signals" in consent else None,
            ai_generated=consent.get("ai_generated", "flag"),
        ),
        fetch_options=fetch,
        source=str(path),
        **kwargs,
    )


def _list_spec(path: Path, base: Path, index: int, item: Any) -> ListSpec:
    where = f"{path}: [[list]] #{index + 1}"
    if not isinstance(item, dict) or "path" not in item:
        raise ConfigError(f"{where}: needs a path")
    kind, action = item.get("kind"), item.get("action")
    if kind is not None and kind not in ALL_KINDS:
        raise ConfigError(f"{where}: {unknown_kind(kind)}")
    if action is not None and action not in ACTIONS:
        raise ConfigError(f"{where}: action must be one of {', '.join(ACTIONS)}")
    params = {str(k): str(v) for k, v in item.items() if k not in ("path", "kind", "name", "action")}
    return ListSpec(base / str(item["path"]), kind, item.get("name"), action, params)


def _table(path: Path, data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{key}] must be a table")
    return value


def _array(path: Path, data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{path}: [[{key}]] must be an array of tables")
    return value


def _mapping(path: Path, key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {key} must be a table")
    return value


def _strings(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {key} must be a list of strings")
    return tuple(value)


def _reject_unknown(path: Path, where: str, data: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in {where}: {', '.join(unknown)}")
