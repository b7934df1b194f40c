"""Scan + export against DuckDB's copy floor, run back to back, on real and generated URLs.

Workloads:
  real  the LAION-derived corpus (make_real_corpus.py) vs every UT1 ``domains`` + ``urls`` list
  W1    generated shards (bench_scan.py) vs 1 M domains + 100 k urls
  W2    W1 + 1 M url-sha256
Each round runs the copy floor (DuckDB copying the same shards to zstd parquet, in a child process)
then ``provscan scan`` (a child process) immediately after; the ratio is per round. Three rounds by
default; min and median are reported with the load average before each round and the scan's peak RSS
(``wait4`` of the child). The machine is shared: treat a round with load >> cores as noise.

    python benchmarks/bench_real.py --rows 1000000 --workloads real
    python benchmarks/bench_real.py --rows 10000000 --workloads real,W1,W2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scan  # noqa: E402
from benchenv import precompile  # noqa: E402
from make_real_corpus import WORK, make_corpus, ut1_lists  # noqa: E402

COPY = """
import sys, time, duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
for src, dst in zip(sys.argv[1::2], sys.argv[2::2]):
    con.execute(f"COPY (SELECT * FROM read_parquet('{src}')) TO '{dst}' (FORMAT parquet, COMPRESSION zstd)")
print(time.perf_counter() - t)
"""


def timed(args: list[str], **kw) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of a child (and its reaped children).

    CPU seconds are the steadier figure on a shared machine: other agents' load stretches wall time.
    """
    elapsed, usage = timed_usage(args, **kw)
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def timed_usage(args: list[str], **kw) -> tuple[float, Any]:
    """Wall seconds and the ``rusage`` of a child (user and system time apart, faults, peak RSS)."""
    t = time.perf_counter()
    proc = subprocess.Popen(args, **kw)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{args[:4]} exited {proc.returncode}")
    return elapsed, usage


def copy_floor(shards: list[Path]) -> tuple[float, float, float]:
    """(COPY seconds inside the child, child wall seconds including start-up, child CPU seconds).

    The ratio uses the first, as issue 13's figures do; provscan's time includes its start-up.
    """
    out = WORK / f"copy-{os.getpid()}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    pairs = [str(x) for s in shards for x in (s, out / s.name)]
    stamp = WORK / f"copy-seconds-{os.getpid()}.txt"
    with stamp.open("w") as f:
        wall, cpu, _ = timed([sys.executable, "-c", COPY, *pairs], stdout=f)
    shutil.rmtree(out)
    seconds = float(stamp.read_text().split()[-1])
    stamp.unlink()
    return seconds, wall, cpu


SCAN_ARGS: list[str] = []


def scan(shards_dir: Path, lists: list[str], out: Path) -> tuple[float, float, float, dict]:
    shutil.rmtree(out, ignore_errors=True)
    args = [
        sys.executable,
        "-m",
        "provscan",
        "scan",
        str(shards_dir),
        "-o",
        str(out),
        "-q",
        "-c",
        str(WORK / "empty.toml"),
    ]
    for lst in lists:
        args += ["-b", lst]
    elapsed, cpu, rss = timed(args + SCAN_ARGS)
    manifest = json.loads((out / "manifest.json").read_text())
    shutil.rmtree(out)
    return elapsed, cpu, rss, manifest


def workload(name: str, rows: int, shards: int) -> tuple[Path, list[str]]:
    if name == "real":
        return make_corpus(rows, shards), ut1_lists()
    shards_dir = WORK / f"shards-{rows}"
    hosts = bench_scan.make_hosts()
    if not shards_dir.exists():
        shards_dir.mkdir(parents=True)
        for i in range(rows // bench_scan.ROWS_PER_SHARD):
            bench_scan.make_shard(shards_dir / f"part-{i:05d}.parquet", hosts, bench_scan.ROWS_PER_SHARD)
    lists = WORK / "lists"
    if not (lists / "hashes.txt").exists():
        bench_scan.make_lists(sorted(shards_dir.glob("*.parquet")), hosts, lists)
    chosen = [f"domain:{lists / 'domains.txt'}", f"url:{lists / 'urls.txt'}"]
    return shards_dir, chosen + ([f"url-sha256:{lists / 'hashes.txt'}"] if name == "W2" else [])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=0, help="real corpus shards (default: 4 at 1 M, 1 per 500 k above)")
    ap.add_argument("--workloads", default="real")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scan-args", default="", help="extra provscan scan options, e.g. '--workers 2'")
    args = ap.parse_args()
    precompile()
    SCAN_ARGS.extend(args.scan_args.split())
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "empty.toml").write_text("")
    shards_n = args.shards or (4 if args.rows <= 1_000_000 else args.rows // 500_000)
    for name in args.workloads.split(","):
        shards_dir, lists = workload(name, args.rows, shards_n)
        shards = sorted(shards_dir.glob("*.parquet"))
        ratios, floors, scans, rsss, loads, cpu_ratios = [], [], [], [], [], []
        for r in range(args.rounds):
            load = os.getloadavg()[0]
            floor, floor_wall, floor_cpu = copy_floor(shards)
            elapsed, cpu, rss, manifest = scan(shards_dir, lists, WORK / f"out-{name}-{os.getpid()}")
            ratios.append(elapsed / floor)
            cpu_ratios.append(cpu / floor_cpu)
            floors.append(floor)
            scans.append(elapsed)
            rsss.append(rss)
            loads.append(load)
            t = manifest["totals"]
            print(
                f"  {name} round {r + 1}: load {load:.2f}  copy {floor:.2f}s (process {floor_wall:.2f}s)  scan {elapsed:.2f}s  "
                f"ratio {elapsed / floor:.2f}x  CPU copy {floor_cpu:.2f}s scan {cpu:.2f}s ({cpu / floor_cpu:.2f}x)  "
                f"peak RSS {rss:,.0f} MiB  dropped {t['rows_dropped']:,}",
                flush=True,
            )
        med = statistics.median
        print(
            f"{name} {args.rows:,} rows, {len(shards)} shards: ratio min {min(ratios):.2f}x median {med(ratios):.2f}x | "
            f"copy min {min(floors):.2f}s med {med(floors):.2f}s | scan min {min(scans):.2f}s med {med(scans):.2f}s "
            f"({args.rows / min(scans) / 1e6:.2f} M rows/s) | CPU ratio min {min(cpu_ratios):.2f}x "
            f"med {med(cpu_ratios):.2f}x | peak RSS max {max(rsss):,.0f} MiB | "
            f"load {min(loads):.2f}-{max(loads):.2f} (2 cores, shared)",
            flush=True,
        )


if __name__ == "__main__":
    main()
