"""Fuzz the native simple-URL kernel (atheris): no crash, and equal to the SQL fast path and the reference.

Each input becomes a batch of URLs (split on a control byte, bytes decoded as UTF-8 with
replacement so Arrow gets valid strings), passed as a sliced string array and as large_string.
The kernel's rows are compared with ``fast_parts_sql`` in DuckDB and with ``canonicalize``.
The reference check runs on every input; the DuckDB comparison on batches of 500 inputs (one
query per input would cap the run at ~15 inputs/s). Coverage guidance sees the reference's branches, not the C;
for memory errors build the kernel with AddressSanitizer (see the notes) and preload libasan.

    pip install atheris   # dev only, not a provscan dependency
    python benchmarks/fuzz_native.py CORPUS_DIR -max_total_time=300 -max_len=256 -dict=benchmarks/fuzz_native.dict
"""

from __future__ import annotations

import sys

import atheris

import duckdb
import pyarrow as pa

from provscan.urls import native
from provscan.urls.sql import fast_parts_sql

from provscan.urls import canonical
from provscan.urls.canonical import canonicalize

for _f in vars(canonical).values():  # coverage feedback from the reference's branches (already imported)
    if getattr(_f, "__module__", None) == canonical.__name__ and hasattr(_f, "__code__"):
        atheris.instrument_func(_f)

CON = duckdb.connect()
PENDING: list[tuple[str | None, tuple]] = []
PARTS = fast_parts_sql("u")
PREFIXES = ["", "http://", "https://", "HTTP://a.com", "http://a.b.c/", "https://x.y:8/p/"]


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    prefix = PREFIXES[fdp.ConsumeIntInRange(0, len(PREFIXES) - 1)]
    text = fdp.ConsumeBytes(fdp.remaining_bytes()).decode("utf-8", "replace")
    urls = [prefix + u if i % 2 == 0 else u for i, u in enumerate(text.split("\x01"))] + [None]
    for arr in (pa.array(["x"] + urls, pa.string()).slice(1), pa.array(urls, pa.large_string())):
        taken, host, path, query = native.simple_parts(arr)
        got = list(zip(host.to_pylist(), path.to_pylist(), query.to_pylist()))
        for url, g in zip(urls, got, strict=True):
            if g[0] is not None:
                c = canonicalize(url)
                if c is None or g != (c.host, c.path, c.query):
                    raise AssertionError(f"kernel {g} != reference {c} for {url!r}")
        if taken != sum(g[0] is not None for g in got):
            raise AssertionError("taken count")
    PENDING.extend(zip(urls, got))
    if len(PENDING) >= 500 * 4:
        compare_with_sql()


def compare_with_sql() -> None:
    urls = [u for u, _ in PENDING]
    rel = CON.from_arrow(pa.table({"u": pa.array(urls, pa.string()), "i": range(len(urls))}))  # noqa: F841
    want = CON.sql(f"SELECT {PARTS['host']}, {PARTS['path']}, {PARTS['query']} FROM rel ORDER BY i").fetchall()
    for (url, g), w in zip(PENDING, want, strict=True):
        if g != w:
            raise AssertionError(f"kernel {g} != sql {w} for {url!r}")
    PENDING.clear()


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
