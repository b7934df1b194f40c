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
from benchenv import precompile  # noqa: E402

LAION_ROWS = 5_850_000_000


def scan(shards: Path, lists: list[str], out: Path, *extra: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "provscan", "scan", str(shards), "--no-config", *lists, "-o", str(out), "-q", *extra],
        check=True,
    )
    return time.perf_counter() - t0


def ray_startup() -> float:
    code = (
        "import os, time; os.environ.setdefault('RAY_AUTH_MODE', 'disabled'); t = time.perf_counter(); import ray; "
        "ray.init(num_cpus=2, object_store_memory=200 * 2**20, include_dashboard=False, log_to_driver=False, "
        "configure_logging=False); ray.shutdown(); print(time.perf_counter() - t)"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument(
        "--project",
        nargs=2,
        type=float,
        metavar=("CPU_S_PER_1M_ROWS", "BYTES_PER_ROW"),
        help="only print the LAION-5B cluster projection from these measured figures",
    )
    ap.add_argument("--merge-ms", type=float, default=2.1, help="the driver's merge per shard (bench_merge.py)")
    ap.add_argument("--tail", type=float, default=1.0, help="the merge's tail after the last shard at 10,000 shards")
    args = ap.parse_args()
    if args.project:
        cluster(
            LAION_ROWS / 1e6 * args.project[0], bytes_per_row=args.project[1], merge_ms=args.merge_ms, tail_s=args.tail
        )
        return
    precompile()
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
            times[name].append(
                scan(shards_dir, lists, work / f"out-{name.split()[0]}{extra[-1] if extra else ''}", *extra)
            )
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    startup = [ray_startup() for _ in range(2)] if not args.no_ray else []
    print(f"load average after: {os.getloadavg()}")
    print("| run | min s | median s | rows/s (min) | ratio to copy floor (min / median) |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        ratio = f"{min(values) / min(times['copy floor']):.2f}x / {statistics.median(values) / statistics.median(times['copy floor']):.2f}x"
        print(
            f"| {name} | {min(values):.2f} | {statistics.median(values):.2f} | {args.rows / min(values):,.0f} | {ratio} |"
        )
    if startup:
        print(f"Ray start + shutdown alone: {min(startup):.2f} s (min of {len(startup)})")
    best = min(min(times["workers 2"]), min(times["workers 1"]))
    per_core = args.rows / best / 2  # rows/s per core on this 2-core machine, start-up included
    bytes_per_row = sum(p.stat().st_size for p in shards) / args.rows
    print(json.dumps({"rows_per_second_per_core": round(per_core), "input_bytes_per_row": round(bytes_per_row, 1)}))
    project(per_core, bytes_per_row)


def project(per_core: float, bytes_per_row: float, *, disk_gbs: float = 1.0, shared_gbs: float = 10.0) -> None:
    """LAION-5B with URL lists from this run's per-core rate (start-up included), as issue 9 first did."""
    cluster(LAION_ROWS / per_core, bytes_per_row=bytes_per_row, disk_gbs=disk_gbs, shared_gbs=shared_gbs)


def cluster(
    cpu_s: float,
    *,
    bytes_per_row: float,
    shards: int = 10_000,
    join_s: float = 2.0,
    slot_s: float = 0.5,
    merge_ms: float = 2.1,
    tail_s: float = 1.0,
    out_ratio: float = 1.5,
    disk_gbs: float = 1.0,
    shared_gbs: float = 10.0,
    cores: int = 16,
) -> None:
    """LAION-5B on a Ray cluster of 1, 8 and 64 machines (issue 21, item 8), from measured parts:

    * ``cpu_s``: CPU-seconds of the whole scan at the per-row rate (one-pass, one core);
    * ``join_s``: the driver joining the cluster; ``slot_s``: a Ray worker's start (imports, lists
      loaded from OUT/.provscan/lists), paid once per task slot, in parallel;
    * ``merge_ms`` per shard in the driver as shards commit (serial: the run cannot end before the
      driver has merged every shard), then ``tail_s`` after the last one;
    * I/O: the shards read once and clean/ written at ``out_ratio`` times the input, at ``disk_gbs``
      per machine and at most ``shared_gbs`` for the cluster's shared filesystem.
    """
    print(
        f"LAION-5B ({LAION_ROWS / 1e9:.2f} B rows, {shards:,} shards of {LAION_ROWS // shards:,} rows), "
        f"{cpu_s / 3600:,.1f} CPU-h of scanning, {bytes_per_row:.0f} B/row in, clean/ {out_ratio}x:"
    )
    print("| machines x cores | start | scan (CPU) | I/O | driver merge | tail | wall | bound by |")
    print("|---|---|---|---|---|---|---|---|")
    for machines in (1, 8, 64):
        start = join_s + slot_s
        scan = cpu_s / (cores * machines)
        io = (1 + out_ratio) * LAION_ROWS * bytes_per_row / 1e9 / min(disk_gbs * machines, shared_gbs)
        merge = shards * merge_ms / 1e3
        parts = {"CPU": scan, "I/O": io, "driver merge": merge}
        bound = max(parts, key=parts.__getitem__)
        wall = start + parts[bound] + tail_s
        print(
            f"| {machines} x {cores} | {start:.1f} s | {_span(scan)} | {_span(io)} | {_span(merge)} | {tail_s:.1f} s "
            f"| **{_span(wall)}** | {bound} |"
        )


def _span(seconds: float) -> str:
    return f"{seconds / 60:,.1f} min" if seconds >= 120 else f"{seconds:,.0f} s"


if __name__ == "__main__":
    main()
