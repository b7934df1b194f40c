"""Scan configuration: one frozen value object, built from ``provscan.toml`` and CLI overrides.

Validated once here so the engine can trust it; every problem is a :class:`ConfigError` naming the
file and key. Paths in a TOML file are relative to that file, so a config works from any directory.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from provscan.errors import ConfigError
from provscan.kinds import ACTIONS, ALL_KINDS, LIST_SETTINGS, did_you_mean, unknown_kind, unknown_setting

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

    def __post_init__(
        self,
    ) -> None:  # the library API gets the checks provscan.toml gets: a typo is an error, not an action
        if self.action not in ("drop", "flag"):
            raise ConfigError(f"[consent] action must be one of drop, flag (got {self.action!r})")
        if self.ai_generated not in ("flag", "drop", "keep"):
            raise ConfigError(f"[consent] ai_generated must be one of flag, drop, keep (got {self.ai_generated!r})")


_NUM = (int, float)
_FETCH_LIMITS = (
    ("concurrency", int, 1),
    ("per_host", int, 1),
    ("max_bytes", int, 1),
    ("retries", int, 0),
    ("max_redirects", int, 0),
    ("connect_timeout", _NUM, 0.001),
    ("read_timeout", _NUM, 0.001),
    ("total_timeout", _NUM, 0.001),
    ("backoff", _NUM, 0),
)


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for fetching (``[fetch]`` and the fetch flags), validated on construction so a typo
    fails at startup, not per row. The fetcher (:mod:`provscan.net.fetch`) takes it as it is."""

    concurrency: int = 64
    per_host: int = 8
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0  # wall clock per URL once it holds its slots: redirects, retries, drip-feeds
    retries: int = 2
    backoff: float = 0.5
    max_bytes: int = 20_000_000
    max_redirects: int = 5
    allow_cidrs: tuple[str, ...] = ()
    allow_private: bool = False
    user_agent: str = "provscan/0.1 (+dataset provenance scanner)"

    def __post_init__(self) -> None:
        for name, kind, low in _FETCH_LIMITS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, kind) or not value >= low:  # NaN fails too
                raise ConfigError(f"fetch policy: {name} must be a number >= {low}, got {value!r}")
        if isinstance(self.allow_cidrs, str) or not all(isinstance(c, str) for c in self.allow_cidrs):
            raise ConfigError("fetch policy: allow_cidrs must be a list of CIDR strings, not one string")
        object.__setattr__(self, "allow_cidrs", tuple(self.allow_cidrs))  # a TOML array arrives as a list
        for cidr in self.allow_cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ConfigError(f"fetch policy: allow_cidrs: {exc}") from exc
        if not isinstance(self.allow_private, bool):
            raise ConfigError(f"fetch policy: allow_private must be true or false, got {self.allow_private!r}")
        if not isinstance(self.user_agent, str) or not self.user_agent or any(c in self.user_agent for c in "\r\n"):
            raise ConfigError("fetch policy: user_agent must be one non-empty line")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "config") -> FetchPolicy:
        """``[fetch]`` keys (or ``fetch_options=`` in the API): an unknown key is an error naming it."""
        return cls().merged(data, where)

    def merged(self, changes: Mapping[str, Any], where: str = "config") -> FetchPolicy:
        """This policy with the given keys replaced; ``None`` values mean "not given"."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) in [fetch]: {', '.join(unknown)}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def divided(self, parts: int) -> FetchPolicy:
        """Concurrency and per-host limits split among ``parts`` processes that fetch at once: the
        run as a whole still keeps ``concurrency`` in flight and never more than ``per_host`` per host."""
        if parts <= 1:
            return self
        return replace(self, concurrency=max(1, self.concurrency // parts), per_host=max(1, self.per_host // parts))


_RELEASE_KEYS = ("name", "description", "license", "citation", "url", "version", "data_collection")


@dataclass(frozen=True)
class ReleaseConfig:
    """``[release]``: what a publisher says about the cleaned dataset, copied into croissant.json
    (name, description, licence, citation, URL, data-collection notes). Not part of the run
    fingerprint's meaning (it changes no row), but recorded in the manifest like every setting."""

    name: str | None = None
    description: str | None = None
    license: str | None = None  # an SPDX id or a licence URL, as the publisher states it
    citation: str | None = None  # BibTeX or a plain reference
    url: str | None = None  # the dataset's home page (http or https)
    version: str | None = None  # the release's version (Croissant recommends one)
    data_collection: str | None = None  # how the original rows were collected (Croissant's rai:dataCollection)

    def __post_init__(self) -> None:
        for key in _RELEASE_KEYS:
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(f"[release] {key} must be a non-empty string, got {value!r}")
        if self.url is not None and not self.url.startswith(("https://", "http://")):
            raise ConfigError(f"[release] url must start with https:// or http://, got {self.url!r}")
        if self.name is not None and any(c in self.name for c in "\r\n"):
            raise ConfigError("[release] name must be one line")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "config") -> ReleaseConfig:
        """``[release]`` keys (or ``release=`` in the API): an unknown key is an error naming it."""
        unknown = sorted(set(data) - set(_RELEASE_KEYS))
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) in [release]: {', '.join(unknown)} (keys: {', '.join(_RELEASE_KEYS)})"
            )
        return cls(**dict(data))


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
    fast_decode: bool = False  # JPEGs decoded at reduced size: 4-5x faster, a pHash may move 1-2 bits
    fetch_options: FetchPolicy = FetchPolicy()  # a mapping given here is read as [fetch] keys
    unchecked: str = "keep"  # keep | flag | drop: rows whose image could not be fetched or hashed
    licenses: LicenseConfig = LicenseConfig()
    consent: ConsentConfig = ConsentConfig()
    release: ReleaseConfig = ReleaseConfig()  # a mapping given here is read as [release] keys
    source: str | None = None  # the TOML file this came from, for the manifest

    def __post_init__(self) -> None:
        if isinstance(self.fetch_options, Mapping):
            object.__setattr__(
                self, "fetch_options", FetchPolicy.from_mapping(self.fetch_options, self.source or "config")
            )
        elif not isinstance(self.fetch_options, FetchPolicy):
            raise ConfigError(
                f"fetch_options must be a FetchPolicy or a mapping of [fetch] keys, got {self.fetch_options!r}"
            )
        if isinstance(self.release, Mapping):
            object.__setattr__(self, "release", ReleaseConfig.from_mapping(self.release, self.source or "config"))
        elif not isinstance(self.release, ReleaseConfig):
            raise ConfigError(f"release must be a ReleaseConfig or a mapping of [release] keys, got {self.release!r}")

    def with_overrides(self, **changes: Any) -> ScanConfig:
        """A copy with the given fields replaced; ``None`` values mean "not given" and are ignored.
        (For settings given on top of a config, with lists appended, see :func:`apply_overrides`.)"""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """The effective configuration as plain JSON data, for the manifest."""
        data = asdict(self)
        data["output"] = str(self.output)
        data["images"] = [str(p) for p in self.images]
        data["lists"] = [{**asdict(s), "path": str(s.path), "params": dict(s.params)} for s in self.lists]
        data["hash_columns"] = dict(self.hash_columns)
        data["fetch_options"] = {**asdict(self.fetch_options), "allow_cidrs": list(self.fetch_options.allow_cidrs)}
        return data


def apply_overrides(config: ScanConfig, **changes: Any) -> ScanConfig:
    """Settings given on top of a config, by the CLI or by ``provscan.scan(config, **changes)``: the
    one rule both follow. ``None`` means "not given"; ``lists`` are added to the config's lists (as
    ``-b`` adds to ``provscan.toml``'s); ``hash_columns`` merge by kind; ``fetch_options`` (a mapping)
    merge key by key; every other setting is replaced. An unknown setting is an error, not ignored."""
    known = {f.name for f in fields(ScanConfig)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)} (settings: {', '.join(sorted(known))})")
    given = {k: v for k, v in changes.items() if v is not None}
    if "lists" in given:
        given["lists"] = config.lists + tuple(given["lists"])
    if "hash_columns" in given:
        given["hash_columns"] = {**config.hash_columns, **given["hash_columns"]}
    if isinstance(given.get("fetch_options"), Mapping):
        given["fetch_options"] = config.fetch_options.merged(given["fetch_options"], "fetch_options")
    if "output" in given:
        given["output"] = Path(given["output"])
    return replace(config, **given)


_SCAN_KEYS = {
    "output",
    "export",
    "workers",
    "url_column",
    "id_column",
    "hash_columns",
    "redact_urls",
    "images",
    "fetch",
    "dihedral",
    "fast_decode",
}
_TOP_KEYS = {"scan", "list", "licenses", "consent", "fetch", "release"}


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
        kwargs["hash_columns"] = {
            str(k): str(v) for k, v in _mapping(path, "hash_columns", scan["hash_columns"]).items()
        }
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
    try:
        fetch_options = FetchPolicy.from_mapping(fetch, str(path))
    except ConfigError as exc:
        raise ConfigError(str(exc) if str(exc).startswith(str(path)) else f"{path}: [fetch]: {exc}") from exc
    try:
        release = ReleaseConfig.from_mapping(_table(path, data, "release"), str(path))
    except ConfigError as exc:
        raise ConfigError(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}") from exc
    return ScanConfig(
        lists=lists,
        release=release,
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
        fetch_options=fetch_options,
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
    for key in item:
        if key != "path" and key not in LIST_SETTINGS:
            raise ConfigError(f"{where}: {unknown_setting(str(key), ('path', *LIST_SETTINGS))}")
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
        raise ConfigError(f"{path}: unknown key(s) in {where}: {', '.join(unknown)}{did_you_mean(unknown[0], known)}")
