"""Licence registries: CSV files that map URL expressions to SPDX licences.

Kept apart from the line-based kinds because a registry annotates rows instead of flagging them, and its
rows carry columns (licence, source, note) that the matchers never see.
"""

from __future__ import annotations

import csv
import re
from collections import Counter

import pyarrow as pa

from provscan.urls.canonical import entry_expression

REGISTRY_COLUMNS = ("expression", "license", "source", "note")
_SPDX = re.compile(r"[A-Za-z0-9.+:()\- ]+")


def parse_registry(lines: list[str]) -> tuple[pa.Table, Counter, list[tuple[int, str]]]:
    """A licence registry: CSV ``expression,license[,source][,note]`` (header required, any order).

    One record per physical line (no quoted newlines) so errors carry a line number. The same expression
    twice is fine; with two different licences it is an error, since keeping either would be a guess.
    """
    header: list[str] | None = None
    rows: dict[str, list] = {c: [] for c in ("line", "entry", "value", *REGISTRY_COLUMNS[1:])}
    first: dict[str, tuple[int, str]] = {}
    errors: list[tuple[int, str]] = []
    for ln, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fields = [f.strip() for f in next(csv.reader([line], strict=True))]
        except csv.Error as exc:
            errors.append((ln, f"bad CSV row: {exc}"))
            continue
        if header is None:
            header = [f.lower() for f in fields]
            bad = [c for c in header if c not in REGISTRY_COLUMNS] or sorted({"expression", "license"} - set(header))
            if bad or len(set(header)) != len(header):
                return (
                    _empty_registry(),
                    Counter(),
                    [(ln, f"expected the CSV header 'expression,license' (+ optional source, note), got {line!r}")],
                )
            continue
        if len(fields) != len(header):
            errors.append((ln, f"expected {len(header)} CSV fields, got {len(fields)}"))
            continue
        rec = dict(zip(header, fields))
        value = entry_expression(rec["expression"]) if rec["expression"] else None
        lic = rec["license"]
        if value is None:
            errors.append((ln, f"not a valid URL expression: {rec['expression']!r}"))
        elif not _SPDX.fullmatch(lic) or not any(c.isalnum() for c in lic):
            errors.append((ln, f"not an SPDX licence id/expression or LicenseRef-: {lic!r}"))
        elif value in first:
            if first[value][1] != lic:
                errors.append((ln, f"{value!r} already has licence {first[value][1]!r} (line {first[value][0]})"))
        else:
            first[value] = (ln, lic)
            for col, val in (
                ("line", ln),
                ("entry", rec["expression"]),
                ("value", value),
                ("license", lic),
                ("source", rec.get("source") or None),
                ("note", rec.get("note") or None),
            ):
                rows[col].append(val)
    if header is None:
        errors.append((1, "missing the CSV header 'expression,license'"))
    return _empty_registry() if errors else _registry_table(rows), Counter(), errors


def _registry_table(rows: dict[str, list]) -> pa.Table:
    return pa.table({c: pa.array(v, pa.int32() if c == "line" else pa.string()) for c, v in rows.items()})


def _empty_registry() -> pa.Table:
    return _registry_table({c: [] for c in ("line", "entry", "value", *REGISTRY_COLUMNS[1:])})
