"""Benchmark HammingIndex: 10 M row hashes vs a 100 k-entry list at distance <= 8.

Planted near-duplicates at every distance 0..d+1 make sure there is something to find; the result on
the first --check-rows rows is compared with brute force (exactness, not just speed). Prints build
time, query rows/s and peak RSS (ru_maxrss of this process).

    python benchmarks/bench_hamming.py [--rows 10000000] [--list 100000] [--d 8] [--check-rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np

from provscan.images.hamming import HammingIndex, brute_force, plan_bands


def planted(rng, n_rows: int, lst: np.ndarray, d: int, per_distance: int) -> np.ndarray:
    """Random rows, with per_distance copies of list entries at each distance 0..d+1."""
    rows = rng.integers(0, 2**64, n_rows, dtype=np.uint64)
    for k in range(d + 2):
        at = rng.choice(n_rows, per_distance, replace=False)
        v = lst[rng.integers(0, len(lst), per_distance)].copy()
        for i in range(per_distance):  # exactly k distinct bits
            for b in rng.choice(64, k, replace=False):
                v[i] ^= np.uint64(1) << np.uint64(b)
        rows[at] = v
    return rows


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--list", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=8)
    ap.add_argument("--check-rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    lst = rng.integers(0, 2**64, a.list, dtype=np.uint64)
    rows = planted(rng, a.rows, lst, a.d, per_distance=max(1, a.rows // 10_000))
    print(f"load average before: {os.getloadavg()[0]:.1f} (other processes share the cores)")
    print(f"rows {a.rows:,}  list {a.list:,}  d {a.d}  bands {plan_bands(a.list, 1, a.d)}")
    print(f"data ready, peak RSS {rss_mib():.0f} MiB")

    t = time.perf_counter()
    index = HammingIndex(lst, a.d)
    build = time.perf_counter() - t
    entries = sum(len(tab[4]) for tab in index.tables)
    print(f"build {build:.2f} s, {entries:,} table entries, peak RSS {rss_mib():.0f} MiB")

    t, c = time.perf_counter(), time.process_time()
    r, l, dist = index.query(rows)
    q, qc = time.perf_counter() - t, time.process_time() - c
    print(
        f"query {q:.2f} s wall = {a.rows / q / 1e6:.2f} M rows/s; {qc:.2f} s CPU = "
        f"{a.rows / qc / 1e6:.2f} M rows per CPU-second (what a quiet core gives); {len(r):,} pairs, "
        f"distance histogram {np.bincount(dist, minlength=a.d + 1).tolist()}"
    )
    print(f"peak RSS {rss_mib():.0f} MiB")

    n = min(a.check_rows, a.rows)
    if n:
        t = time.perf_counter()
        br, bl, bd = brute_force(rows[:n], lst, a.d)
        bt = time.perf_counter() - t
        m = r < n
        same = np.array_equal(r[m], br) and np.array_equal(l[m], bl) and np.array_equal(dist[m], bd)
        print(
            f"brute force on {n:,} rows: {bt:.1f} s ({n * len(lst) / bt / 1e9:.2f} G pairs/s), "
            f"{len(br):,} pairs, identical to the index: {same}"
        )
        if not same:
            raise SystemExit("MISMATCH against brute force")


if __name__ == "__main__":
    main()
