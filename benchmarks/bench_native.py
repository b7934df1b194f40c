"""Cost of the native URL kernel alone: CPU-s per million URLs and minor page faults per call.

Run: ``python benchmarks/bench_native.py [parquet] [rows] [rounds]``. The URLs are the LAION
sample's, repeated with a per-row query variation to ``rows`` (1 M by default). Each round is one
``native.simple_parts`` call over the whole array, measured in process CPU time (user+sys) and in
minor page faults (``ru_minflt``, the cost of touching freshly allocated result memory); min and
median over the rounds, with the load average (the machine is shared).
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

from provscan.urls import native

SAMPLE = "/work/shared/eval-data/corpora/img2dataset/test_10000.parquet"


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else SAMPLE
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    if not native.AVAILABLE:
        sys.exit(f"native kernel: {native.status()}")
    urls = [u for u in pq.read_table(path, columns=["URL"]).column("URL").to_pylist() if u is not None]
    big = pa.array(
        [f"{u}{'&' if '?' in u else '?'}v={i}" if i % 3 else u for i in range(total) for u in [urls[i % len(urls)]]],
        pa.string(),
    )
    cpu, faults = [], []
    for _ in range(rounds):
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
        taken, *_parts = native.simple_parts(big)
        cpu.append(time.process_time() - start)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before.ru_minflt)
        del _parts
    per = 1e6 / total
    print(f"native simple_parts, {total:,} URLs ({taken:,} taken), {rounds} rounds, load {os.getloadavg()[0]:.2f}")
    print(f"  CPU-s per 1M URLs: min {min(cpu) * per:.3f}  median {statistics.median(cpu) * per:.3f}")
    print(f"  minor page faults per call: min {min(faults):,}  median {statistics.median(faults):,.0f}")


if __name__ == "__main__":
    main()
