"""The merge's tail at 1,000+ shards: what is left after the last shard commits (issue 21, item 7).

A run's merge used to start after the last task: one serial pass over every commit in the driver.
The scan now merges as shards commit (``MergeStream``), so the tail is the last shard plus the final
files (removals sorted, summary, reports, manifest). This builds N synthetic commits (real commit
files, ``--findings`` and ``--removals`` per shard), then, several rounds each:

* ``at the end``: ``merge()`` over all N commits (what the driver did, and ``provscan merge`` does);
* ``streamed``: commits revealed one by one with ``advance()`` after each (as the driver does), the
  tail timed from the last commit to the manifest.

CPU-seconds (user+sys of this process, DuckDB at one thread), min and median, with the load average;
a projection to 10^5 shards from the per-shard slope.

    python benchmarks/bench_merge.py --shards 1000 10000 --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from provscan.io.db import Database
from provscan.io.shards import Columns, Shard
from provscan.pipeline.commit import STATE_DIR, commit, shard_dir
from provscan.pipeline.merge import MergeStream, RunState, merge
from provscan.pipeline.shard import ShardOutcome, ShardTask
from provscan.sinks.flagged import FINDINGS_SCHEMA

FINGERPRINT = "bench"


def build(out: Path, shards: int, findings: int, removals: int) -> RunState:
    """N committed shards with ``findings`` flagged rows and ``removals`` distinct hashes each."""
    plan = []
    for i in range(shards):
        name = f"part-{i:05d}.parquet"
        task = ShardTask(i, Shard(Path(name), name, name), Columns("url", None))
        rows = np.arange(findings, dtype=np.int64) * 7
        table = pa.table(
            {
                "shard": [name] * findings,
                "row": rows,
                "id": [None] * findings,
                "url": [f"http://bad{i % 97}.example/p{r}" for r in rows],
                "url_sha256": [None] * findings,
                "list": ["blocklist"] * findings,
                "kind": ["domain"] * findings,
                "entry": [f"bad{i % 97}.example"] * findings,
                "action": ["drop"] * findings,
                "distance": pa.nulls(findings, pa.int16()),
                "image_hash": [None] * findings,
                "detail": [None] * findings,
            },
            schema=FINDINGS_SCHEMA,
        )
        hashes = sorted(hashlib.sha256(f"{i}/{k}".encode()).hexdigest() for k in range(removals))
        entry = {
            "path": name,
            "sha256": "0" * 64,
            "rows_in": 600_000,
            "rows_matched": findings,
            "rows_flagged": 0,
            "rows_dropped": findings,
            "rows_out": 600_000 - findings,
            "null_urls": 0,
            "invalid_urls": 0,
            "findings": findings,
        }
        summary = {
            "findings_by_list": {"blocklist": findings},
            "rows_by_list": {"blocklist": findings},
            "findings_by_kind": {"domain": findings},
            "findings_by_action": {"drop": findings},
            "rows_by_list_action": {"blocklist": {"drop": findings}},
            "flagged_hosts": {f"bad{i % 97}.example": findings},
            "extra": {},
        }
        commit(
            out,
            ShardOutcome(task, table, pa.array(hashes, pa.string()), {}, entry, summary, np.empty(0, np.int64)),
            FINGERPRINT,
        )
        plan.append({"index": i, "path": name, "relative": name})
    state = RunState(
        FINGERPRINT,
        "2026-01-01T00:00:00+00:00",
        {"export": False},
        [{"name": "blocklist", "kind": "domain", "action": "drop"}],
        plan,
        ["url"],
    )
    state.save(out)
    return state


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def at_the_end(out: Path, state: RunState) -> float:
    with Database(threads=1, temp_dir=out / STATE_DIR / "tmp" / "merge") as db:
        t0 = cpu()
        merge(out, state, db)
        return cpu() - t0


def streamed(out: Path, state: RunState) -> tuple[float, float]:
    """(CPU-s spent while shards were still running, CPU-s of the tail after the last commit)."""
    hidden = []
    for shard in state.shards:  # "not committed yet": each commit.json revealed in turn
        marker = shard_dir(out, shard["index"]) / "commit.json"
        marker.rename(marker.with_name("held.json"))
        hidden.append(marker)
    with Database(threads=1, temp_dir=out / STATE_DIR / "tmp" / "merge") as db, MergeStream(out, state, db) as stream:
        during = 0.0
        for marker in hidden[:-1]:
            marker.with_name("held.json").rename(marker)
            t0 = cpu()
            stream.advance()
            during += cpu() - t0
        hidden[-1].with_name("held.json").rename(hidden[-1])
        t0 = cpu()
        stream.advance()
        stream.finish()
        return during, cpu() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--findings", type=int, default=60, help="flagged rows per shard")
    parser.add_argument("--removals", type=int, default=40, help="distinct removal hashes per shard")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    args = parser.parse_args()
    print(
        f"{args.findings} findings and {args.removals} removals per shard; {args.rounds} rounds; "
        f"load average before: {os.getloadavg()}"
    )
    slopes = []
    for n in args.shards:
        root = Path(tempfile.mkdtemp(prefix="provscan-bench-merge-", dir=args.work))
        try:
            state = build(root / "out", n, args.findings, args.removals)
            end, during, tail = [], [], []
            for _ in range(args.rounds):
                end.append(at_the_end(root / "out", state))
                d, t = streamed(root / "out", state)
                during.append(d)
                tail.append(t)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(f"{n:>7,} shards: merge at the end  min {min(end):6.2f}  median {statistics.median(end):6.2f} CPU-s")
        print(
            f"{'':>15} streamed: tail  min {min(tail):6.2f}  median {statistics.median(tail):6.2f} CPU-s"
            f"  (while running: {statistics.median(during):.2f} CPU-s, {statistics.median(during) / n * 1e3:.2f} ms/shard)"
        )
        slopes.append((n, statistics.median(end), statistics.median(tail)))
    if len(slopes) >= 2:
        (n0, e0, t0), (n1, e1, t1) = slopes[0], slopes[-1]
        end_per, tail_per = (e1 - e0) / (n1 - n0), (t1 - t0) / (n1 - n0)
        n = 100_000
        print(
            f"projection to {n:,} shards (linear in shards): merge at the end ~{e1 + end_per * (n - n1):.0f} CPU-s, "
            f"streamed tail ~{t1 + tail_per * (n - n1):.0f} CPU-s"
        )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
