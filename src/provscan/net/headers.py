"""The one HTTP header normaliser: every header instance as a ``(lower-case name, value)`` pair.

Headers reach provscan as ``httpx.Headers`` (fetches), ``FetchResult.headers`` pairs (kept per row
for the consent stage), plain mappings (tests, callers) or any iterable of pairs. Repeated headers
matter (``X-Robots-Tag`` may come several times, each instance with its own scope), so nothing is
comma-joined; names are compared lower-cased and stripped. Pure Python, no httpx import: consent/
and stages/ use it without crossing the net/ door.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def header_pairs(headers: Headers, names: Collection[str] | None = None) -> tuple[tuple[str, str], ...]:
    """Every header instance in the order received, names lower-cased; only ``names`` if given."""
    multi = getattr(headers, "multi_items", None)  # httpx.Headers: one pair per instance
    pairs = multi() if callable(multi) else headers.items() if isinstance(headers, Mapping) else headers
    wanted = None if names is None else {n.lower() for n in names}
    out = []
    for name, value in pairs:
        key = name.strip().lower()
        if wanted is None or key in wanted:
            out.append((key, value))
    return tuple(out)


def header_values(headers: Headers, name: str) -> list[str]:
    """Every value of header ``name`` (case-insensitive), in the order received."""
    return [value for _, value in header_pairs(headers, (name,))]
