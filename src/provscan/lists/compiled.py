"""Compiled lists: every configured list loaded once, checked, and installed as DuckDB tables.

Compilation is separate from scanning so the lists are parsed once per run (not per shard, and not
again when :mod:`provscan.lists.store` has them cached), and so workers load the compiled tables
from the run's copy instead of the raw files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from provscan.config import ListSpec
from provscan.io.db import Database
from provscan.errors import ConfigError, ShardError
from provscan.kinds import EXACT_IMAGE_KINDS, REGISTRY_KINDS, URL_KINDS
from provscan.lists.files import LoadedList
from provscan.lists.store import load_cached

_URL_EXPRESSION_KINDS = ("url", "optout")


@dataclass(frozen=True)
class CompiledLists:
    lists: tuple[LoadedList, ...]

    def of_kind(self, *kinds: str) -> list[LoadedList]:
        return [lst for lst in self.lists if lst.kind in kinds]

    @property
    def kinds(self) -> set[str]:
        return {lst.kind for lst in self.lists}

    def manifest(self) -> list[dict[str, object]]:
        """What the manifest records of each list: enough to prove which bytes were used."""
        return [
            {
                "name": lst.name,
                "kind": lst.kind,
                "action": lst.action,
                "path": lst.path,
                "sha256": lst.sha256,
                "entries": lst.entry_count,
                "params": dict(lst.params),
                "skipped": dict(lst.skipped),
            }
            for lst in self.lists
        ]


def compile_lists(specs: Sequence[ListSpec]) -> CompiledLists:
    """Load every list; two lists with one name would make the report ambiguous, so that is an error."""
    loaded = [load_cached(s) for s in specs]
    seen: dict[str, str] = {}
    for lst in loaded:
        if lst.name in seen:
            raise ConfigError(
                f"{lst.path}: list name {lst.name!r} is already used by {seen[lst.name]}; give one a name "
                f"(command line: -b '{lst.path};name=OTHER', config: name = \"OTHER\")"
            )
        seen[lst.name] = lst.path
    return CompiledLists(tuple(loaded))


TABLES = ("l_lists", "l_domain", "l_url", "l_registry", "l_urlhash", "l_image")
"""The lookup tables :func:`install` creates: what stages may declare they read."""


def require_url_column(
    compiled: CompiledLists, shard: str, has_url: bool, *, fetch: bool = False, consent: bool = False
) -> None:
    """An image-only shard (hash columns, no URL column) can be scanned against image lists; URL
    lists, registries, fetching and consent checks need URLs, so asking for them is an error naming
    the shard rather than a silent "nothing matched"."""
    if has_url:
        return
    needs = [lst.name for lst in compiled.of_kind(*URL_KINDS, *REGISTRY_KINDS)]
    if needs or fetch or consent:
        what = f"URL lists ({', '.join(needs)})" if needs else ("--fetch" if fetch else "--check-consent")
        raise ShardError(
            shard,
            f"no URL column, but {what} need one; name it with --url-column, or scan this shard with image lists only",
        )


def install(db: Database, compiled: CompiledLists) -> None:
    """Create the lookup tables the matchers join against (empty tables when no list of a kind)."""
    meta = pa.table(
        {
            "name": [lst.name for lst in compiled.lists],
            "kind": [lst.kind for lst in compiled.lists],
            "action": [lst.action for lst in compiled.lists],
        },
        schema=pa.schema([("name", pa.string()), ("kind", pa.string()), ("action", pa.string())]),
    )
    db.put("l_lists", meta)
    db.put("l_domain", _entries(compiled.of_kind("domain")))
    db.put("l_url", _with_host(_entries(compiled.of_kind(*_URL_EXPRESSION_KINDS))))
    db.put("l_registry", _with_host(_entries(compiled.of_kind("license-registry"), extra=("license",))))
    db.put("l_urlhash", _entries(compiled.of_kind("url-sha256")))
    db.put("l_image", _entries(compiled.of_kind(*EXACT_IMAGE_KINDS), with_kind=True))


def _with_host(entries: pa.Table) -> pa.Table:
    """Split each expression into host and path: matchers join on both instead of building strings."""
    values = entries.column("value").combine_chunks()
    if not len(values):
        return entries.append_column("host", pa.array([], pa.string())).append_column("path", pa.array([], pa.string()))
    parts = pc.extract_regex(values, r"^(?P<host>[^/]*)(?P<path>/.*)$")
    return entries.append_column("host", pc.struct_field(parts, [0])).append_column("path", pc.struct_field(parts, [1]))


def _entries(lists: Sequence[LoadedList], *, with_kind: bool = False, extra: Sequence[str] = ()) -> pa.Table:
    parts = []
    for lst in lists:
        n = lst.entries.num_rows
        cols = {"list": pa.array([lst.name] * n, pa.string())}
        if with_kind:
            cols["kind"] = pa.array([lst.kind] * n, pa.string())
        cols["value"] = lst.entries.column("value").cast(pa.string())
        cols["entry"] = lst.entries.column("entry").cast(pa.string())
        for name in extra:
            cols[name] = lst.entries.column(name).cast(pa.string())
        parts.append(pa.table(cols))
    if not parts:
        names = ["list", *(["kind"] if with_kind else []), "value", "entry", *extra]
        return pa.table({n: pa.array([], pa.string()) for n in names})
    return pa.concat_tables(parts)
