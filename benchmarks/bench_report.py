"""Render time and size of report.html + datacard.md for big outputs.

Run: ``python benchmarks/bench_report.py [shards ...]`` (default 1000 10000). Each OUT is synthetic:
a manifest of N shards with full SHA-256s, a summary with 25 top domains and licences, and a real
flagged.parquet of 1,000,000 findings (20% perceptual, with distances; 10% licence-policy drops), so the figure
includes reading flagged.parquet for the distance histogram and the per-list dropped rows.
Prints min and median of 5 rounds and the load average (the machine is shared).
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

from provscan.sinks.flagged import FINDINGS_SCHEMA
from provscan.sinks.html import render_html
from provscan.sinks.report import read_extras, write_reports

FINDINGS = 1_000_000


def _out(root: Path, n: int) -> tuple[dict, dict]:
    rng = np.random.default_rng(0)
    shards = [
        {
            "path": f"/data/laion/part-{i:06d}.parquet",
            "sha256": hashlib.sha256(b"%d" % i).hexdigest(),
            "rows_in": 1_000_000,
            "rows_matched": 900 + i % 50,
            "rows_dropped": 400 + i % 30,
            "rows_flagged": 500 + i % 20,
            "rows_out": 1_000_000 - 400 - i % 30,
            "null_urls": 3,
            "invalid_urls": i % 11,
            "findings": 1000,
            "output": f"clean/part-{i:06d}.parquet",
            "output_sha256": hashlib.sha256(b"-%d" % i).hexdigest(),
        }
        for i in range(n)
    ]
    totals = {
        k: sum(s[k] for s in shards)
        for k in ("rows_in", "rows_matched", "rows_dropped", "rows_flagged", "rows_out", "invalid_urls")
    }
    lists = [
        {
            "name": "blocked",
            "kind": "domain",
            "action": "drop",
            "path": "lists/blocked.txt",
            "sha256": "a" * 64,
            "entries": 120_000,
            "params": {},
            "skipped": {},
        },
        {
            "name": "near",
            "kind": "phash",
            "action": "drop",
            "path": "lists/near.txt",
            "sha256": "b" * 64,
            "entries": 5_000,
            "params": {"max_distance": "10"},
            "skipped": {},
        },
    ]
    manifest = {
        "provscan_version": "bench",
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T03:00:00+00:00",
        "config": {"output": str(root), "redact_urls": False},
        "lists": lists,
        "shards": shards,
        "totals": {**totals, "shards": n, "removals": totals["rows_dropped"]},
    }
    summary = {
        "findings_by_list": {"blocked": 700_000, "near": 200_000, "license-policy": 100_000},
        "rows_by_list": {"blocked": 700_000, "near": 200_000, "license-policy": 100_000},
        "findings_by_kind": {"domain": 700_000, "phash": 200_000, "license": 100_000},
        "findings_by_action": {"drop": 1_000_000},
        "top_matched_domains": [{"domain": f"cdn{i}.example.com", "rows": 50_000 - i} for i in range(25)],
        "licenses_by_id": {"CC-BY-4.0": 10, "unknown": 20},
        "licenses_by_source": {"column": 10, "none": 20},
    }
    draw = rng.random(FINDINGS)
    near, policy = draw < 0.2, draw > 0.9  # 20% perceptual matches, 10% licence-policy drops
    table = pa.table(
        {
            "shard": pa.array([shards[i]["path"] for i in rng.integers(0, n, FINDINGS)]),
            "row": pa.array(rng.integers(0, 1_000_000, FINDINGS), pa.int64()),
            "id": pa.nulls(FINDINGS, pa.string()),
            "url": pa.nulls(FINDINGS, pa.string()),
            "url_sha256": pa.nulls(FINDINGS, pa.string()),
            "list": pa.array(np.where(near, "near", np.where(policy, "license-policy", "blocked"))),
            "kind": pa.array(np.where(near, "phash", np.where(policy, "license", "domain"))),
            "entry": pa.nulls(FINDINGS, pa.string()),
            "action": pa.array(["drop"] * FINDINGS),
            "distance": pa.array(np.where(near, rng.integers(0, 11, FINDINGS), 0), pa.int16(), mask=~near),
            "image_hash": pa.nulls(FINDINGS, pa.string()),
            "detail": pa.nulls(FINDINGS, pa.string()),
        },
        schema=FINDINGS_SCHEMA,
    )
    pq.write_table(table, root / "flagged.parquet", compression="zstd")
    (root / "removals.sha256.txt").write_text("# provscan-list: kind=url-sha256\n" + "0" * 64 + "\n")
    return manifest, summary


def main(sizes: list[int]) -> None:
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            manifest, summary = _out(root, n)
            times, reads, pages = [], [], []
            for _ in range(5):
                t0 = time.perf_counter()
                html, card = write_reports(root, manifest, summary)
                t1 = time.perf_counter()
                extras = read_extras(root, manifest, summary)
                t2 = time.perf_counter()
                render_html(manifest, summary, extras)
                t3 = time.perf_counter()
                times.append(t1 - t0), reads.append(t2 - t1), pages.append(t3 - t2)
            print(
                f"{n:>6} shards, {FINDINGS:,} findings: write_reports min {min(times):.2f} s, median {statistics.median(times):.2f} s "
                f"(of which flagged.parquet read min {min(reads):.2f} s, HTML render min {min(pages):.3f} s); "
                f"report.html {html.stat().st_size / 1e6:.2f} MB, datacard.md {card.stat().st_size / 1e3:.1f} kB; "
                f"load average {os.getloadavg()[0]:.2f}"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000])
