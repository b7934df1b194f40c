"""A worker's fixed cost (issue 23): CPU-s of a worker's start, forked and spawned.

Plans a run over the first real-corpus shard with every UT1 ``domains`` and ``urls`` list (as a
``--workers 2`` run would, the lists written once to ``OUT/.provscan/lists``), then, pinned to one core:

* **forked** (what ``--workers`` does): a process starts the run's forkserver
  (:mod:`provscan.pipeline.zygote`) and a one-worker pool through it, with the workers' own
  initializer; the worker reports its CPU once ready for its first shard. The server's own CPU
  (its imports, paid once per run, and the fork) and its thread count are read from ``/proc``.
* **spawned** (what a Ray worker, or a run without a forkserver, pays): a fresh process imports
  provscan's worker path, reads the lists and opens the Session (DuckDB, lists installed, stages).

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
FORKED = r"""
import os, pickle, sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver
from provscan.pipeline import executors, lifeline
spec, preload = pickle.loads(open(sys.argv[1], "rb").read())
initargs = (spec, os.getpid(), lifeline.InheritedLocks(()))
with executors.forked_workers(preload) as context:
    with ProcessPoolExecutor(1, mp_context=context, initializer=executors._init_worker, initargs=initargs) as pool:
        worker = pool.submit(os.times).result()
    server = forkserver._forkserver._forkserver_pid
    stat = open(f"/proc/{server}/stat").read().rsplit(")", 1)[1].split()
    threads = len(os.listdir(f"/proc/{server}/task"))
    server_cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
print(worker.user + worker.system, server_cpu, threads)
"""
FLOOR = "import os, pyarrow, pyarrow.parquet, pyarrow.compute, duckdb; t = os.times(); print(t.user + t.system)"


def plan(work: Path) -> Path:
    """The RunSpec a ``--workers 2`` run hands its workers, pickled (the run stops before any worker)."""
    from provscan import scan
    from provscan.lists.args import parse_list_option
    from provscan.pipeline import executors

    class Planned(Exception):
        pass

    def capture(spec, *args, preload=(), **kwargs):
        (work / "spec.pkl").write_bytes(pickle.dumps(spec))
        (work / "forked.pkl").write_bytes(pickle.dumps((spec, preload)))
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
        rows, floor, forked = [], [], []

        def child(*argv: str) -> list[float]:
            done = subprocess.run([*pin, sys.executable, *argv], capture_output=True, text=True, check=True)
            return [float(x) for x in done.stdout.split()]

        for _ in range(args.rounds):
            floor.append(child("-c", FLOOR)[0])
            forked.append(child("-c", FORKED, str(spec.parent / "forked.pkl")))
            rows.append(child("-c", WORKER, str(spec)))
    print(f"floor: pyarrow + duckdb imports  min {min(floor):.3f}  median {statistics.median(floor):.3f} CPU-s")
    for label, table, fields in (
        (
            "forked (--workers)",
            forked,
            (("worker start, ready for its first shard", 0), ("the server, once per run: imports and fork", 1)),
        ),
        (
            "spawned (Ray, no forkserver)",
            rows,
            (
                ("imports (worker path)", 0),
                ("lists read", 1),
                ("Session: DuckDB, lists installed, stages", 2),
                ("worker start, in-process total", 3),
            ),
        ),
    ):
        print(label)
        for name, i in fields:
            values = [r[i] for r in table]
            print(f"  {name}: min {min(values):.3f}  median {statistics.median(values):.3f} CPU-s")
    print(f"forkserver threads when forking: {sorted({int(r[2]) for r in forked})}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
