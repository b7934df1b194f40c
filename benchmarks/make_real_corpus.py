"""A LAION-derived scan corpus: the real 10 000-row LAION-400M sample, repeated with ``?r=i``.

Generated benchmark URLs never take the slow path of canonicalization; real ones do (percent
escapes, odd hosts), so throughput on real data needs real URLs. Repetition ``i`` appends
``?r=i`` to every URL (literally, even after an existing query or fragment), so rows stay
distinct while keeping each URL's shape. Also the UT1 list arguments shared by the benchmarks.

    python benchmarks/make_real_corpus.py --rows 1000000 --shards 4
    python benchmarks/make_real_corpus.py --rows 10000000 --shards 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

EVAL = Path(os.environ.get("PROVSCAN_EVAL_DATA") or Path(__file__).resolve().parents[2] / "shared/eval-data")
SAMPLE = EVAL / "corpora/img2dataset/test_10000.parquet"
UT1 = EVAL / "blocklists/ut1"
WORK = Path(
    os.environ.get("PROVSCAN_BENCH_DIR")
    or ("/dev/shm/provscan-bench" if Path("/dev/shm").is_dir() else Path(__file__).resolve().parent / "work")
)


def ut1_lists() -> list[str]:
    """``-b`` values for every UT1 category's ``domains`` and ``urls`` file, as shipped."""
    out = [f"domain:{p}" for p in sorted(UT1.glob("*/domains"))]
    return out + [f"url:{p}" for p in sorted(UT1.glob("*/urls"))]


def corpus_dir(rows: int) -> Path:
    return WORK / f"real-{rows}"


def make_corpus(rows: int, shards: int) -> Path:
    """Write ``rows`` rows in ``shards`` zstd shards under WORK (skipped if already there)."""
    out = corpus_dir(rows)
    if out.is_dir() and len(list(out.glob("*.parquet"))) == shards:
        return out
    # written beside it and renamed into place: an interrupted run, or one asking for another shard
    # count, never leaves a mixed corpus behind
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    base = pq.read_table(SAMPLE)
    n = base.num_rows
    reps, per_shard = rows // n, rows // shards
    assert reps * n == rows and per_shard * shards == rows and per_shard % n == 0, "rows must split evenly"
    rep = 0
    for s in range(shards):
        parts = []
        for _ in range(per_shard // n):
            url = pc.binary_join_element_wise(base["URL"], pa.scalar(f"?r={rep}"), "")
            parts.append(base.set_column(base.schema.get_field_index("URL"), "URL", url))
            rep += 1
        pq.write_table(
            pa.concat_tables(parts), tmp / f"part-{s:05d}.parquet", compression="zstd", row_group_size=250_000
        )
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=4)
    args = ap.parse_args()
    t = time.perf_counter()
    out = make_corpus(args.rows, args.shards)
    print(f"{out}: {args.rows:,} rows in {args.shards} shards ({time.perf_counter() - t:.1f}s)")


if __name__ == "__main__":
    main()
