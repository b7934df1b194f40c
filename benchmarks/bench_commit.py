"""Per-shard cost of a run's bookkeeping: OUT's checks, the intent and commit files, the merge (issue 16).

Many tiny shards (``--rows`` each) make the fixed per-shard work dominate: each round scans them into
a fresh OUT, then again into that OUT (the second run reads the earlier manifest and commits, checks
every path they name stays inside OUT, and removes the leftovers first). CPU-seconds (user+sys of a
``provscan scan`` subprocess, pinned to one core with ``taskset`` when present) per shard, min and
median over the rounds, with the load average. ``PYTHONPATH=OTHER/src`` measures another checkout.

    python benchmarks/bench_commit.py --shards 300 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def make_shards(root: Path, shards: int, rows: int) -> Path:
    data = root / "data"
    data.mkdir()
    for s in range(shards):
        urls = [f"http://{'bad' if i % 5 == 0 else 'ok'}{i % 7}.example/{s}/{i}" for i in range(rows)]
        pq.write_table(pa.table({"url": urls, "caption": ["c"] * rows}), data / f"s{s:05d}.parquet")
    (root / "l.txt").write_text(
        "# provscan-list: kind=domain name=l\n" + "".join(f"bad{i}.example\n" for i in range(7))
    )
    return data


def cpu_of(args: list[str]) -> float:
    """User+sys seconds of one ``provscan`` subprocess (its children included)."""
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([*pin, sys.executable, "-m", "provscan", *args], check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=int, default=300)
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    opts = ap.parse_args()
    work = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
        data = make_shards(work, opts.shards, opts.rows)
        args = ["scan", str(data), "--no-config", "-b", f"domain:{work / 'l.txt'}", "-q", "-o"]
        fresh, again = [], []
        for r in range(opts.rounds):
            out = work / f"out{r}"
            fresh.append(cpu_of([*args, str(out)]) / opts.shards * 1000)
            again.append(cpu_of([*args, str(out)]) / opts.shards * 1000)
        print(f"{opts.shards} shards x {opts.rows} rows, {opts.rounds} rounds, load average {os.getloadavg()[0]:.2f}")
        for name, values in (("fresh OUT", fresh), ("into the earlier OUT", again)):
            print(f"  {name:<22} CPU ms per shard: min {min(values):.2f}  median {statistics.median(values):.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
