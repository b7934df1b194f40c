"""The simple-URL fast path as a native kernel over Arrow string buffers (``_simple.c``).

DuckDB spends ~1.5 CPU-s per million real LAION URLs deciding the simple class and cutting host,
path and query with regexes and string functions (:func:`provscan.urls.sql.fast_parts_sql`); the
same class and cuts in one C pass over the Arrow buffers cost a few hundredths of that. Results are
identical by construction and by test (tests/test_url_native.py holds the kernel equal to the SQL
fast path and to :func:`provscan.urls.canonical.canonicalize`; benchmarks/fuzz_native.py fuzzes it).

The extension is optional: ``pip install`` compiles it where a C compiler is present (setup.py) and
installs provscan without it where not. Missing, or present but unloadable (a stale sanitizer build
in ``build/`` dies at import unless its runtime was preloaded), :data:`AVAILABLE` is False and callers
use the SQL fast path, which gives the same results; :func:`status` says which one ran, for the record,
and :func:`fallback_note` is the one line a command prints about it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import pyarrow as pa

__all__ = ["AVAILABLE", "fallback_note", "simple_hosts", "simple_parts", "status"]

SQL_EXTRA_CPU = "~0.8 CPU-s more per million URLs"
"""What the SQL fast path costs over the kernel (benchmarks/bench_native.py; load_rows on 1 M real
LAION URLs, one core: 1.10 vs 1.87 CPU-s, 2026-12-04)."""


def _sanitizer_without_runtime(origin: str | None) -> bool:
    """A kernel built with AddressSanitizer calls exit() at import (not an exception) unless the ASan
    runtime is already in the process (LD_PRELOAD): such a build is treated as absent, not loaded."""
    if origin is None:
        return False
    try:
        with open(origin, "rb") as handle:
            if b"__asan_init" not in handle.read():
                return False
        with open("/proc/self/maps", "rb") as maps:
            loaded = maps.read()
        return b"libasan" not in loaded and b"libclang_rt.asan" not in loaded
    except OSError:
        return False


def _load() -> tuple[Any, str]:
    """The extension, or None and why not. Any failure to load it means "absent", never a crash."""
    name = "provscan.urls._simple"
    try:
        spec = importlib.util.find_spec(name)
        if spec is None:
            return None, "not built"
        if _sanitizer_without_runtime(spec.origin):
            return None, "a sanitizer build without its runtime; reinstall"
        return importlib.import_module(name), ""
    except Exception as exc:  # noqa: BLE001  (ImportError, OSError, a broken .so: all mean "absent")
        return None, f"cannot be loaded: {type(exc).__name__}"


_simple, _WHY = _load()

DISABLED = os.environ.get("PROVSCAN_NATIVE", "1") == "0"
"""``PROVSCAN_NATIVE=0`` runs the SQL fast path as a clone without a compiler would (tests, benchmarks)."""

AVAILABLE = _simple is not None and not DISABLED


def status() -> str:
    if AVAILABLE:
        return "native"
    return "sql (native kernel disabled by PROVSCAN_NATIVE=0)" if DISABLED else f"sql (native kernel {_WHY})"


def fallback_note() -> str | None:
    """The one line a command prints (unless quiet) when the kernel is not used; None when it is."""
    if AVAILABLE:
        return None
    how = "" if DISABLED else "; with a C compiler (gcc or clang), `pip install -e .` builds it"
    return f"provscan: note: URL fast path: {status()}; results are the same, {SQL_EXTRA_CPU}{how}"


_LARGE = {
    pa.string_view(): pa.large_string(),
    pa.binary(): pa.large_string(),
    pa.large_binary(): pa.large_string(),
    pa.binary_view(): pa.large_string(),
}


def _buffers(chunk: pa.Array) -> tuple[Any, ...]:
    """The kernel's arguments for one chunk: (validity, offsets, data, offset, length, large)."""
    if pa.types.is_dictionary(chunk.type):
        chunk = chunk.cast(chunk.type.value_type)
    if chunk.type in _LARGE:  # views have no offsets buffer; binary must be UTF-8 (the cast checks)
        chunk = chunk.cast(_LARGE[chunk.type])
    large = pa.types.is_large_string(chunk.type)
    if not (large or pa.types.is_string(chunk.type)):
        raise TypeError(f"expected a string or binary type, got {chunk.type}")
    validity, offsets, data = chunk.buffers()
    return validity, offsets, data if data is not None else b"", chunk.offset, len(chunk), large


def _one(chunk: pa.Array) -> tuple[int, pa.Array, pa.Array, pa.Array]:
    taken, valid, ho, hd, po, pd, qvalid, qo, qd = _simple.simple_parts(*_buffers(chunk))
    n = len(chunk)
    bits = pa.py_buffer(valid)
    host = pa.Array.from_buffers(pa.large_string(), n, [bits, pa.py_buffer(ho), pa.py_buffer(hd)])
    path = pa.Array.from_buffers(pa.large_string(), n, [bits, pa.py_buffer(po), pa.py_buffer(pd)])
    query = pa.Array.from_buffers(pa.large_string(), n, [pa.py_buffer(qvalid), pa.py_buffer(qo), pa.py_buffer(qd)])
    return taken, host, path, query


def _chunks(urls: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    if _simple is None:
        raise RuntimeError("provscan.urls._simple is not built; use the SQL fast path")
    chunks = urls.chunks if isinstance(urls, pa.ChunkedArray) else [urls]
    return chunks or [pa.array([], pa.string())]


def simple_parts(urls: pa.Array | pa.ChunkedArray) -> tuple[int, pa.ChunkedArray, pa.ChunkedArray, pa.ChunkedArray]:
    """(rows taken, host, path, query) of the simple-class URLs; NULL in all three for the others.

    Equal to ``fast_parts_sql`` row for row. Any Arrow string type: views and dictionaries are
    converted, binary is decoded as UTF-8 (pyarrow raises ArrowInvalid for bytes that are not).
    Raises RuntimeError when the kernel is not built.
    """
    parts = [_one(c) for c in _chunks(urls)]
    taken = sum(p[0] for p in parts)
    return (taken, *(pa.chunked_array([p[i] for p in parts], pa.large_string()) for i in (1, 2, 3)))


def simple_hosts(urls: pa.Array | pa.ChunkedArray) -> tuple[int, pa.ChunkedArray]:
    """(rows taken, canonical host) of the URLs whose ``http(s)://host[:port]`` is in the simple class
    and ends at ``/``, ``?``, ``#`` or the end, whatever their path and query; NULL for the others.

    A superset of :func:`simple_parts`' rows with the same hosts: what follows the authority cannot
    change the canonical host (the reference's unescaping only reaches bytes after it), so a
    candidate filter needs no path work on the ~5 % of real URLs whose path the fast class declines
    (tests/test_url_native.py holds every host equal to :func:`provscan.urls.canonical.canonicalize`).
    """
    taken, hosts = 0, []
    for chunk in _chunks(urls):
        count, valid, ho, hd = _simple.simple_hosts(*_buffers(chunk))
        taken += count
        hosts.append(
            pa.Array.from_buffers(
                pa.large_string(), len(chunk), [pa.py_buffer(valid), pa.py_buffer(ho), pa.py_buffer(hd)]
            )
        )
    return taken, pa.chunked_array(hosts, pa.large_string())
