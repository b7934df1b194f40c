"""Throughput with 1 and 2 workers and with the Ray executor, Ray's start-up cost, and a projection
of the wall time to scan LAION-5B (issue 9).

Workload W1 of ``bench_scan.py`` (generated LAION-like shards, 1 M domains + 100 k urls), on
/dev/shm. Each round runs the DuckDB copy floor and every provscan variant back to back (``provscan
scan`` in a subprocess, cold start included); min and median over the rounds, with the load average,
because this machine is shared and noisy.

    python benchmarks/bench_workers.py --rows 4000000 --shards 8 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scan import WORK, copy_floor, make_hosts, make_lists, make_shard  # noqa: E402

LAION_ROWS = 5_850_000_000


def scan(shards: Path, lists: list[str], out: Path, *extra: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "provscan", "scan", str(shards), "--no-config", *lists, "-o", str(out),
                    "-q", *extra], check=True)
    return time.perf_counter() - t0


def ray_startup() -> float:
    code = ("import os, time; os.environ.setdefault('RAY_AUTH_MODE', 'disabled'); t = time.perf_counter(); import ray; "
            "ray.init(num_cpus=2, object_store_memory=200 * 2**20, include_dashboard=False, log_to_driver=False, "
            "configure_logging=False); ray.shutdown(); print(time.perf_counter() - t)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    work = WORK / f"workers-{args.rows}-{args.shards}"
    shards_dir, lists_dir = work / "shards", work / "lists"
    if not (work / "ready").exists():
        shards_dir.mkdir(parents=True, exist_ok=True)
        lists_dir.mkdir(parents=True, exist_ok=True)
        hosts = make_hosts()
        paths = [shards_dir / f"part-{i:05d}.parquet" for i in range(args.shards)]
        for path in paths:
            make_shard(path, hosts, args.rows // args.shards)
        make_lists(paths, hosts, lists_dir)
        (work / "ready").write_text("")
    shards = sorted(shards_dir.glob("*.parquet"))
    lists = ["-b", f"domain:{lists_dir / 'domains.txt'}", "-b", f"url:{lists_dir / 'urls.txt'}"]
    variants = {"workers 1": (), "workers 2": ("--workers", "2")}
    if not args.no_ray:
        variants["ray (local, incl. start-up)"] = ("--executor", "ray")
    times: dict[str, list[float]] = {"copy floor": [], **{k: [] for k in variants}}
    print(f"{args.rows:,} rows in {args.shards} shards; load average before: {os.getloadavg()}")
    for r in range(args.rounds):
        times["copy floor"].append(copy_floor(shards, work / "copy"))
        for name, extra in variants.items():
            times[name].append(scan(shards_dir, lists, work / f"out-{name.split()[0]}{extra[-1] if extra else ''}", *extra))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    startup = [ray_startup() for _ in range(2)] if not args.no_ray else []
    print(f"load average after: {os.getloadavg()}")
    print("| run | min s | median s | rows/s (min) | ratio to copy floor (min / median) |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        ratio = f"{min(values) / min(times['copy floor']):.2f}x / {statistics.median(values) / statistics.median(times['copy floor']):.2f}x"
        print(f"| {name} | {min(values):.2f} | {statistics.median(values):.2f} | {args.rows / min(values):,.0f} | {ratio} |")
    if startup:
        print(f"Ray start + shutdown alone: {min(startup):.2f} s (min of {len(startup)})")
    best = min(min(times["workers 2"]), min(times["workers 1"]))
    per_core = args.rows / best / 2  # rows/s per core on this 2-core machine, start-up included
    bytes_per_row = sum(p.stat().st_size for p in shards) / args.rows
    print(json.dumps({"rows_per_second_per_core": round(per_core), "input_bytes_per_row": round(bytes_per_row, 1)}))
    project(per_core, bytes_per_row)


def project(per_core: float, bytes_per_row: float, *, disk_gbs: float = 1.0, shared_gbs: float = 10.0) -> None:
    """LAION-5B with URL lists: CPU at the measured per-core rate, or I/O (read the shards, write the
    cleaned copy: about twice the input bytes) at ``disk_gbs`` per machine and ``shared_gbs`` for the
    whole cluster's shared filesystem, whichever is slower."""
    for machines in (1, 8, 64):
        cpu = LAION_ROWS / (per_core * 16 * machines)
        io = 2 * LAION_ROWS * bytes_per_row / 1e9 / min(disk_gbs * machines, shared_gbs)
        print(f"projection, URL lists only, {machines:>2} machine(s) x 16 cores: CPU {cpu / 60:,.0f} min, "
              f"I/O {io / 60:,.0f} min -> {max(cpu, io) / 60:,.0f} min ({'I/O' if io > cpu else 'CPU'}-bound)")

if __name__ == "__main__":
    main()
