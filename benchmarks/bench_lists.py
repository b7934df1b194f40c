"""Compiled-list cache (issue 7): a 1 M-entry domain list parsed from text vs read back from the cache.

python benchmarks/bench_lists.py [--entries 1000000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from provscan.config import ListSpec
from provscan.lists.compiled import compile_lists


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "domains.txt"
        path.write_text("".join(f"host{i}.example{i % 97}.com\n" for i in range(args.entries)))
        spec = (ListSpec(path, kind="domain"),)
        parse, cached = [], []
        for r in range(args.rounds):
            os.environ["PROVSCAN_CACHE_DIR"] = str(Path(tmp) / f"cache{r}")
            t = time.perf_counter()
            compile_lists(spec)  # empty cache: parse the text, then store it
            parse.append(time.perf_counter() - t)
            t = time.perf_counter()
            compile_lists(spec)  # the same list again: read back from the cache
            cached.append(time.perf_counter() - t)
        print(f"{args.entries:,} domains, load average {os.getloadavg()}")
        print(f"parse + store: min {min(parse):.3f} s, median {statistics.median(parse):.3f} s")
        print(f"from cache:    min {min(cached):.3f} s, median {statistics.median(cached):.3f} s")


if __name__ == "__main__":
    main()
