"""One core: provscan's CPU-seconds per million rows against a pyarrow copy of the same shards.

Issue 23's first target: ``taskset -c 0``, ``--workers 1``, the real LAION-derived corpus
(make_real_corpus.py) against every UT1 ``domains`` and ``urls`` list: provscan's CPU-s (user+sys,
the child and its children) <= 2x a pyarrow copy with the export's settings (zstd, the export's
64 KiB dictionary-page limit). Also printed: the copy at pyarrow's default settings, the general
path (``PROVSCAN_ONE_PASS=0``) and DuckDB ``COPY``. Rounds run back to back; min and median are
reported with the load average before each round, and user time alone beside them: this shared VM's
system time (page zeroing of transparent huge pages, for the copy too) swings by 0.4 s between
identical runs, and the user time is the steadier per-row figure.

    python benchmarks/bench_onepass.py --rows 1000000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real import COPY, timed_usage  # noqa: E402
from benchenv import precompile  # noqa: E402
from make_real_corpus import make_corpus, ut1_lists  # noqa: E402

PYARROW_COPY = """
import sys, pyarrow.parquet as pq
from provscan.io.export import DICTIONARY_PAGE_LIMIT
limit = DICTIONARY_PAGE_LIMIT if sys.argv[1] == "export" else 1024 * 1024
for src, dst in zip(sys.argv[2::2], sys.argv[3::2]):
    f = pq.ParquetFile(src)
    with pq.ParquetWriter(dst, f.schema_arrow, compression="zstd", dictionary_pagesize_limit=limit) as w:
        for i in range(f.metadata.num_row_groups):
            g = f.read_row_group(i)
            w.write_table(g, row_group_size=g.num_rows)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpu", default="0", help="taskset CPU list (one core by default)")
    args = ap.parse_args()
    precompile()
    shards = sorted(make_corpus(args.rows, args.shards).glob("*.parquet"))
    tmp = Path(tempfile.mkdtemp(prefix="provscan-onepass-"))
    pin = ["taskset", "-c", args.cpu]
    (tmp / "empty.toml").write_text("")
    lists = [a for lst in ut1_lists() for a in ("-b", lst)]
    pairs = [str(p) for s in shards for p in (s, tmp / f"copy-{s.name}")]
    runs = {
        "pyarrow copy (export settings)": (pin + [sys.executable, "-c", PYARROW_COPY, "export", *pairs], {}),
        "pyarrow copy (defaults)": (pin + [sys.executable, "-c", PYARROW_COPY, "default", *pairs], {}),
        "duckdb COPY (1 thread)": (
            pin
            + [sys.executable, "-c", COPY.replace("duckdb.connect()", "duckdb.connect(config={'threads': 1})"), *pairs],
            {},
        ),
        "provscan one pass": (
            pin
            + [
                sys.executable,
                "-m",
                "provscan",
                "scan",
                *map(str, shards),
                "-o",
                str(tmp / "out"),
                "-q",
                "-c",
                str(tmp / "empty.toml"),
                "--workers",
                "1",
                *lists,
            ],
            {},
        ),
        "provscan general path": (
            pin
            + [
                sys.executable,
                "-m",
                "provscan",
                "scan",
                *map(str, shards),
                "-o",
                str(tmp / "out"),
                "-q",
                "-c",
                str(tmp / "empty.toml"),
                "--workers",
                "1",
                *lists,
            ],
            {"PROVSCAN_ONE_PASS": "0"},
        ),
    }
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    user: dict[str, list[float]] = {k: [] for k in runs}
    wall: dict[str, list[float]] = {k: [] for k in runs}
    try:
        for r in range(args.rounds):
            load = os.getloadavg()[0]
            line = []
            for name, (cmd, env) in runs.items():
                shutil.rmtree(tmp / "out", ignore_errors=True)
                elapsed, usage = timed_usage(cmd, env={**os.environ, **env}, stdout=-3)
                cpu[name].append((usage.ru_utime + usage.ru_stime) * 1e6 / args.rows)
                user[name].append(usage.ru_utime * 1e6 / args.rows)
                wall[name].append(elapsed)
                line.append(f"{name.split(' (')[0].split(' ')[-1]} {cpu[name][-1]:.2f}")
            print(f"round {r + 1}: load {load:.2f}  CPU-s/1M: " + "  ".join(line), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    floor_name = "pyarrow copy (export settings)"
    floor = cpu[floor_name]
    for name in runs:
        print(
            f"{name:32s} CPU-s per 1M rows min {min(cpu[name]):.2f} med {statistics.median(cpu[name]):.2f}  "
            f"wall min {min(wall[name]):.2f}s  ratio to export-settings copy (min/min) {min(cpu[name]) / min(floor):.2f}x"
            f" (med/med {statistics.median(cpu[name]) / statistics.median(floor):.2f}x)"
            f"  user alone min {min(user[name]):.2f} ({min(user[name]) / min(user[floor_name]):.2f}x)"
        )


if __name__ == "__main__":
    main()
