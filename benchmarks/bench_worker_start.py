"""A worker's fixed cost (issue 23): CPU-s of a fresh process's imports and of its Session.

Plans a run over the first real-corpus shard with every UT1 ``domains`` and ``urls`` list (as a
``--workers 2`` run would, the lists written once to ``OUT/.provscan/lists``), then starts fresh
processes pinned to one core that do what a ``--workers`` / Ray worker does before its first shard:
import provscan's worker path, read the lists, open the Session (DuckDB, lists installed, stages).
The floor (``pyarrow``, ``pyarrow.parquet``, ``pyarrow.compute``, ``duckdb`` alone) is measured the
same way. Min and median of the rounds, with the load average.

    python benchmarks/make_real_corpus.py --rows 400000 --shards 4
    python benchmarks/bench_worker_start.py --rounds 7
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchenv import precompile  # noqa: E402
from make_real_corpus import corpus_dir, make_corpus, ut1_lists  # noqa: E402

WORKER = r"""
import os, pickle, sys
def cpu():
    t = os.times()
    return t.user + t.system
t0 = cpu()
from provscan.pipeline import executors  # the worker's entry module and what it imports
t1 = cpu()
import pyarrow as pa
from provscan.lists.compiled import CompiledLists
from provscan.lists.store import read_lists
from provscan.pipeline.commit import STATE_DIR
from provscan.pipeline.session import Session
from provscan.io.nopandas import keep_pandas_out
keep_pandas_out()  # as executors._init_worker does first
spec = pickle.loads(open(sys.argv[1], "rb").read())
pa.set_cpu_count(1)
lists = CompiledLists(tuple(read_lists(spec.out / STATE_DIR / "lists")))
t2 = cpu()
Session(spec, lists)
t3 = cpu()
print(t1 - t0, t2 - t1, t3 - t2, t3)
"""
FLOOR = "import os, pyarrow, pyarrow.parquet, pyarrow.compute, duckdb; t = os.times(); print(t.user + t.system)"


def plan(work: Path) -> Path:
    """The RunSpec a ``--workers 2`` run hands its workers, pickled (the run stops before any worker)."""
    from provscan import scan
    from provscan.lists.args import parse_list_option
    from provscan.pipeline import executors

    class Planned(Exception):
        pass

    def capture(spec, *args, **kwargs):
        (work / "spec.pkl").write_bytes(pickle.dumps(spec))
        raise Planned

    executors.run_processes = capture
    make_corpus(400_000, 4)
    shard = sorted(corpus_dir(400_000).glob("*.parquet"))[0]
    try:
        scan([shard], lists=tuple(parse_list_option(a) for a in ut1_lists()), output=work / "out", workers=2)
    except Planned:
        pass
    return work / "spec.pkl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    precompile()
    pin = ["taskset", "-c", "0"] if sys.platform.startswith("linux") else []
    with tempfile.TemporaryDirectory(
        prefix="provscan-bench-worker-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None
    ) as tmp:
        spec = plan(Path(tmp))
        print(f"load average before: {os.getloadavg()}")
        rows, floor = [], []
        for _ in range(args.rounds):
            floor.append(
                float(
                    subprocess.run(
                        [*pin, sys.executable, "-c", FLOOR], capture_output=True, text=True, check=True
                    ).stdout
                )
            )
            out = subprocess.run(
                [*pin, sys.executable, "-c", WORKER, str(spec)], capture_output=True, text=True, check=True
            )
            rows.append([float(x) for x in out.stdout.split()])
    print(f"floor: pyarrow + duckdb imports  min {min(floor):.3f}  median {statistics.median(floor):.3f} CPU-s")
    for name, i in (
        ("imports (worker path)", 0),
        ("lists read", 1),
        ("Session: DuckDB, lists installed, stages", 2),
        ("worker start, in-process total", 3),
    ):
        values = [r[i] for r in rows]
        print(f"{name}: min {min(values):.3f}  median {statistics.median(values):.3f} CPU-s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
