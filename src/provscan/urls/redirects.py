"""Redirect targets re-checked against the URL lists, in Python, before the fetcher follows them.

A blocked site can hide behind a clean URL that redirects to it; the fetcher asks this checker at
every hop. Built lazily on the first redirect so runs without redirects pay nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import pyarrow as pa

from provscan.urls.canonical import canonicalize, expression_sha256, expressions, host_suffixes


class _List(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def entries(self) -> pa.Table: ...


class _Lists(Protocol):
    """What the checker needs of :class:`provscan.lists.compiled.CompiledLists` (which sits a layer
    above ``urls/``: it imports this package to canonicalize entries)."""

    def of_kind(self, *kinds: str) -> Sequence[_List]: ...


class RedirectChecker:
    """``checker(url) -> reason | None``: the reason names the list and entry that matched."""

    def __init__(self, compiled: _Lists) -> None:
        # Only what a redirect can match, as Arrow columns: small to pickle to fetch worker processes.
        self._lists = [
            (lst.name, lst.kind, lst.entries.column("value"))
            for lst in compiled.of_kind("domain", "url", "optout", "url-sha256")
            if lst.action != "allow"  # an allowlist never blocks a redirect
        ]
        self._tables: tuple[dict[str, str], dict[str, str], dict[str, str]] | None = None

    def _build(self) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        def table(*kinds: str) -> dict[str, str]:
            out: dict[str, str] = {}
            for name, kind, values in self._lists:
                if kind in kinds:
                    for value in values.to_pylist():
                        out.setdefault(value, name)
            return out

        return table("domain"), table("url", "optout"), table("url-sha256")

    def __call__(self, url: str) -> str | None:
        if self._tables is None:
            self._tables = self._build()
        domains, exprs, hashed = self._tables
        canon = canonicalize(url)
        if canon is None:
            return None  # the fetcher itself refuses what it cannot parse
        for suffix in host_suffixes(canon.host, min_labels=1):
            if suffix in domains:
                return f"{domains[suffix]}:{suffix}"
        for expression in expressions(canon):
            if expression in exprs:
                return f"{exprs[expression]}:{expression}"
            if hashed and (digest := expression_sha256(expression)) in hashed:
                return f"{hashed[digest]}:{digest}"
        return None
