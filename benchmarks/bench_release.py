"""Time to write croissant.json + provenance.intoto.json for a release of N shards (issue 19: < 1 s at 1,000).

Run: ``python benchmarks/bench_release.py [shards ...]`` (default 1000). Each OUT is synthetic but real
on disk: N small clean parquet shards (the Croissant writer stats each and reads one footer), a
flagged.parquet of 1,000,000 findings and a removals.sha256.txt of 400,000 hashes (both hashed for the
attestation's subjects, a cost the manifest then reuses), a manifest of N shard entries and 6 lists.
Floor: hashing flagged.parquet and removals.sha256.txt alone, which the merge must do anyway.
Prints min and median wall and CPU seconds of 5 rounds and the load average (the machine is shared).
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from provscan.io.shards import file_sha256
from provscan.sinks.attestation import write_release
from provscan.sinks.flagged import FINDINGS_SCHEMA

FINDINGS, REMOVALS, ROUNDS = 1_000_000, 400_000, 5


def _out(root: Path, n: int) -> tuple[dict, dict]:
    (root / "clean").mkdir(parents=True)
    shard = pa.table(
        {
            "url": [f"https://cdn.example.com/{i}.jpg" for i in range(100)],
            "caption": ["a photo"] * 100,
            "width": pa.array(range(100), pa.int32()),
            "similarity": [0.3] * 100,
        }
    )
    pq.write_table(shard, root / "clean" / "part-000000.parquet")
    data = (root / "clean" / "part-000000.parquet").read_bytes()
    for i in range(1, n):
        (root / "clean" / f"part-{i:06d}.parquet").write_bytes(data)
    rng = np.random.default_rng(0)
    hashes = pa.array([f"{v:064x}" for v in rng.integers(0, 2**62, FINDINGS)])
    findings = pa.table(
        {
            "shard": pa.array([f"/data/laion/part-{i % n:06d}.parquet" for i in range(FINDINGS)]),
            "row": pa.array(rng.integers(0, 1_000_000, FINDINGS)),
            "id": pa.nulls(FINDINGS, pa.string()),
            "url": pa.nulls(FINDINGS, pa.string()),
            "url_sha256": hashes,
            "list": pa.array(["blocked"] * FINDINGS),
            "kind": pa.array(["domain"] * FINDINGS),
            "entry": pa.array(["example.com"] * FINDINGS),
            "action": pa.array(["drop"] * FINDINGS),
            "distance": pa.nulls(FINDINGS, pa.int16()),
            "image_hash": pa.nulls(FINDINGS, pa.string()),
            "detail": pa.nulls(FINDINGS, pa.string()),
        },
        schema=FINDINGS_SCHEMA,
    )
    pq.write_table(findings, root / "flagged.parquet", compression="zstd")
    (root / "removals.sha256.txt").write_text("\n".join(sorted(hashes.to_pylist()[:REMOVALS])) + "\n")
    sha = file_sha256(root / "clean" / "part-000000.parquet")
    shards = [
        {
            "path": f"/data/laion/part-{i:06d}.parquet",
            "sha256": hashlib.sha256(b"%d" % i).hexdigest(),
            "rows_in": 1_000_000,
            "rows_matched": 900,
            "rows_dropped": 400,
            "rows_flagged": 500,
            "rows_out": 999_600,
            "null_urls": 3,
            "invalid_urls": 7,
            "findings": 1000,
            "output": f"clean/part-{i:06d}.parquet",
            "output_sha256": sha,
        }
        for i in range(n)
    ]
    lists = [
        {
            "name": f"list{j}",
            "kind": "domain",
            "action": "drop",
            "path": f"/lists/l{j}.txt",
            "sha256": f"{j:064x}",
            "entries": 120_000,
            "params": {},
            "skipped": {},
        }
        for j in range(6)
    ]
    totals = {
        k: sum(s[k] for s in shards)
        for k in ("rows_in", "rows_matched", "rows_dropped", "rows_flagged", "rows_out", "invalid_urls")
    }
    manifest = {
        "provscan_version": "bench",
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T03:00:00+00:00",
        "config": {"output": str(root), "export": True, "release": {"name": "bench", "license": "CC-BY-4.0"}},
        "lists": lists,
        "shards": shards,
        "totals": {**totals, "shards": n, "removals": REMOVALS},
    }
    summary = {"rows_by_list": {f"list{j}": 50_000 for j in range(6)}}
    return manifest, summary


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(sizes: list[int]) -> None:
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "out"
            manifest, summary = _out(root, n)
            floor, release = [], []
            for _ in range(ROUNDS):  # back to back, so both see the same machine
                floor.append(
                    _timed(lambda: [file_sha256(root / f) for f in ("flagged.parquet", "removals.sha256.txt")])
                )
                release.append(_timed(lambda: write_release(root, manifest, summary)))
            sizes_kb = {f: (root / f).stat().st_size / 1024 for f in ("croissant.json", "provenance.intoto.json")}
            print(
                f"{n:,} shards, flagged.parquet {(root / 'flagged.parquet').stat().st_size / 2**20:.1f} MiB, "
                f"croissant.json {sizes_kb['croissant.json']:.0f} KiB, provenance.intoto.json {sizes_kb['provenance.intoto.json']:.0f} KiB"
            )
            for name, runs in (
                ("floor: sha256 of flagged + removals", floor),
                ("write_release (croissant + attestation)", release),
            ):
                walls, cpus = [w for w, _ in runs], [c for _, c in runs]
                print(
                    f"  {name:<42} wall min {min(walls):.3f} s  median {statistics.median(walls):.3f} s   "
                    f"cpu min {min(cpus):.3f} s  median {statistics.median(cpus):.3f} s"
                )
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000])
