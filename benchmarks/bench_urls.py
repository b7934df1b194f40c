"""Throughput of URL canonicalization: pure Python (``urls``) and the DuckDB fast path (``url_sql``).

Run: ``python benchmarks/bench_urls.py [parquet] [rows]``. The SQL figure is for ~1 M rows made from
the sample's URLs with a per-row variation, so DuckDB cannot reuse results across repeats.
"""

from __future__ import annotations

import sys
import time

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from provscan.url_sql import expressions_sql, fast_parts_sql
from provscan.urls import canonicalize, expressions

SAMPLE = "/work/shared/eval-data/corpora/img2dataset/test_10000.parquet"


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else SAMPLE
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    urls = [u for u in pq.read_table(path, columns=["URL"]).column("URL").to_pylist() if u is not None]

    dt = _best(lambda: [canonicalize(u) for u in urls])
    print(f"python canonicalize: {len(urls) / dt:,.0f} URLs/s")
    canon = [c for c in map(canonicalize, urls) if c is not None]
    dt = _best(lambda: [expressions(c) for c in canon])
    print(f"python expressions:  {len(canon) / dt:,.0f} URLs/s")

    big = [f"{u}{'&' if '?' in u else '?'}v={i}" if i % 3 else u for i in range(total) for u in [urls[i % len(urls)]]]
    con = duckdb.connect()
    con.register("big_arrow", pa.table({"url": big}))
    con.execute("CREATE TABLE big AS SELECT * FROM big_arrow")
    parts = fast_parts_sql("url")
    fast = f"SELECT {parts['host']} AS host, {parts['path']} AS path, {parts['query']} AS query FROM big"
    covered = con.sql(f"SELECT count(host) FROM ({fast})").fetchall()[0][0]
    print(f"sql fast path takes {covered / total:.2%} of {total:,} rows")
    for name, sql in [
        ("scan", "SELECT count(url) FROM big"),
        ("fast_parts", f"SELECT count(host), count(path), count(query) FROM ({fast})"),
        ("fast_parts + expressions", f"SELECT sum(len({expressions_sql('host', 'path', 'query')})) FROM ({fast})"),
    ]:
        dt = _best(lambda: con.sql(sql).fetchall())
        print(f"sql {name}: {total / dt:,.0f} rows/s ({dt:.2f} s)")


if __name__ == "__main__":
    main()
