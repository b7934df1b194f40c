"""The simple-URL fast path as a native kernel over Arrow string buffers (``_simple.c``).

DuckDB spends ~1.5 CPU-s per million real LAION URLs deciding the simple class and cutting host,
path and query with regexes and string functions (:func:`provscan.urls.sql.fast_parts_sql`); the
same class and cuts in one C pass over the Arrow buffers cost a few hundredths of that. Results are
identical by construction and by test (tests/test_url_native.py holds the kernel equal to the SQL
fast path and to :func:`provscan.urls.canonical.canonicalize`; benchmarks/fuzz_native.py fuzzes it).

The extension is built by ``pip install -e .`` (setup.py, the machine's C compiler). Where it is
missing, :data:`AVAILABLE` is False and callers use the SQL fast path, which gives the same
results; :func:`status` says which one ran, for the record.
"""

from __future__ import annotations

import os

import pyarrow as pa

try:
    from provscan.urls import _simple  # type: ignore[attr-defined]  # the C extension (setup.py)
except ImportError:  # not built (no compiler at install time): the SQL fast path is used instead
    _simple = None

__all__ = ["AVAILABLE", "fallback_note", "simple_parts", "status"]

DISABLED = os.environ.get("PROVSCAN_NATIVE", "1") == "0"
"""``PROVSCAN_NATIVE=0`` runs the SQL fast path as a clone without a compiler would (tests, benchmarks)."""

AVAILABLE = _simple is not None and not DISABLED


def status() -> str:
    if AVAILABLE:
        return "native"
    return "sql (native kernel disabled by PROVSCAN_NATIVE=0)" if DISABLED else "sql (native kernel not built)"


def fallback_note() -> str | None:
    """The one line a command prints (unless quiet) when the kernel is not used; None when it is."""
    if AVAILABLE:
        return None
    return f"provscan: note: URL fast path: {status()}; results are the same, slower"


def _one(chunk: pa.Array) -> tuple[int, pa.Array, pa.Array, pa.Array]:
    large = pa.types.is_large_string(chunk.type)
    if not (large or pa.types.is_string(chunk.type)):
        raise TypeError(f"expected string or large_string, got {chunk.type}")
    validity, offsets, data = chunk.buffers()
    taken, valid, ho, hd, po, pd, qvalid, qo, qd = _simple.simple_parts(
        validity, offsets, data if data is not None else b"", chunk.offset, len(chunk), large
    )
    n = len(chunk)
    bits = pa.py_buffer(valid)
    host = pa.Array.from_buffers(pa.large_string(), n, [bits, pa.py_buffer(ho), pa.py_buffer(hd)])
    path = pa.Array.from_buffers(pa.large_string(), n, [bits, pa.py_buffer(po), pa.py_buffer(pd)])
    query = pa.Array.from_buffers(pa.large_string(), n, [pa.py_buffer(qvalid), pa.py_buffer(qo), pa.py_buffer(qd)])
    return taken, host, path, query


def simple_parts(urls: pa.Array | pa.ChunkedArray) -> tuple[int, pa.ChunkedArray, pa.ChunkedArray, pa.ChunkedArray]:
    """(rows taken, host, path, query) of the simple-class URLs; NULL in all three for the others.

    Equal to ``fast_parts_sql`` row for row. Raises RuntimeError when the kernel is not built.
    """
    if _simple is None:
        raise RuntimeError("provscan.urls._simple is not built; use the SQL fast path")
    chunks = urls.chunks if isinstance(urls, pa.ChunkedArray) else [urls]
    parts = [_one(c) for c in chunks] or [_one(pa.array([], pa.string()))]
    taken = sum(p[0] for p in parts)
    return (taken, *(pa.chunked_array([p[i] for p in parts], pa.large_string()) for i in (1, 2, 3)))
