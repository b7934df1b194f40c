"""Throughput of URL canonicalization: pure Python (``urls``) and the DuckDB fast path (``url_sql``).

Run: ``python benchmarks/bench_urls.py [parquet] [rows]``. The SQL figures are for ~1 M rows made
from the sample's URLs with a per-row query variation, so nothing is cached across repeats. Each
figure is the best of 3; "per core" divides rows by the process CPU time with DuckDB on one thread,
which is steadier than wall time on a shared machine.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from provscan.urls.sql import fast_parts_sql, path_keys_sql, suffixes_sql
from provscan.urls.canonical import canonicalize, expressions

SAMPLE = "/work/shared/eval-data/corpora/img2dataset/test_10000.parquet"


def _best(fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    times = []
    for _ in range(3):
        start = clock()
        fn()
        times.append(clock() - start)
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

    con = duckdb.connect()
    parts = fast_parts_sql("url")
    con.register("sample", pa.table({"url": urls}))
    declined = [r[0] for r in con.sql(f"SELECT url FROM sample WHERE {parts['host']} IS NULL").fetchall()]
    print(f"sql fast path takes {1 - len(declined) / len(urls):.2%} of the {len(urls):,} sample rows")
    dt = _best(lambda: [canonicalize(u) for u in declined])
    print(f"python canonicalize on the {len(declined)} declined rows: {len(declined) / dt:,.0f} URLs/s")

    big = [f"{u}{'&' if '?' in u else '?'}v={i}" if i % 3 else u for i in range(total) for u in [urls[i % len(urls)]]]
    con.register("big_arrow", pa.table({"url": big}))
    con.execute("CREATE TABLE big AS SELECT * FROM big_arrow")
    fast = f"SELECT {parts['host']} AS host, {parts['path']} AS path, {parts['query']} AS query FROM big"
    queries = {
        "fast_parts": f"SELECT count(host), count(path), count(query) FROM ({fast})",
        # what stages/url.py runs: host suffixes and path keys, joined to the lists instead of
        # building each row's expression strings
        "fast_parts + host suffixes": f"SELECT sum(len({suffixes_sql('host', 2)})) FROM ({fast})",
        "fast_parts + path keys": f"SELECT count(*) FROM ({path_keys_sql(f'(SELECT 0 AS row, * FROM ({fast})) r WHERE host IS NOT NULL')})",
    }
    threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    for name, sql in queries.items():
        con.execute(f"SET threads = {threads}")
        wall = _best(lambda: con.sql(sql).fetchall())
        con.execute("SET threads = 1")
        cpu = _best(lambda: con.sql(sql).fetchall(), time.process_time)
        print(f"sql {name}: {total / wall:,.0f} rows/s on {threads} threads, {total / cpu:,.0f} rows/s per core")


if __name__ == "__main__":
    main()
