"""Fetching against the field's downloader: provscan (threads, processes) vs img2dataset, loopback nginx.

The same real JPEGs of ``../shared/eval-data/images`` served by nginx on 127.0.0.1 (install it with
``apt-get install -y nginx-light``; this benchmark refuses to run without it) under N distinct URLs
(``/img/<i>``, symlinks, so nothing is cached client-side). Modes:

  download   provscan with an ``image-sha256`` list (download + SHA-256, no decode)
  phash      provscan fetch + decode + pHash; the floor is decode + pHash from memory on 2 threads
  i2d-noresize / i2d-default   img2dataset (its own venv: IMG2DATASET=/tmp/i2d-venv/bin/img2dataset),
             2 processes x 32 threads, no retries; ``--resize_mode no --disable_all_reencoding True``
             or its default (resize to 256 px)

provscan runs ``fetch_all`` (one process: a loop thread + 2 hashing threads) and
``fetch_all_processes`` (2 worker processes, each its loop + 1 hashing thread; ``-proc2``: 2 hashing
threads each), with the stage's
handler (``hash_fetched``), concurrency 64, per-host 32 (the loopback is one host). Min and median
of the rounds, with the load average: the machine is shared and nginx shares its 2 cores.

    python benchmarks/bench_fetch_compare.py --urls 3000,15000 --rounds 3
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fetch import IMAGES  # noqa: E402
from bench_fetch_hash import nginx_server, pure  # noqa: E402

from provscan.net.fetch import FetchPolicy, fetch_all  # noqa: E402
from provscan.net.procfetch import fetch_all_processes  # noqa: E402
from provscan.stages.fetch import hash_fetched  # noqa: E402

I2D = os.environ.get("IMG2DATASET", "/tmp/i2d-venv/bin/img2dataset")
POLICY = FetchPolicy(concurrency=64, per_host=32, allow_cidrs=("127.0.0.0/8",), retries=0)


def provscan_rate(port: int, n: int, kinds: tuple[str, ...], processes: int, threads: int = 1) -> float:
    items = ((i, f"http://127.0.0.1:{port}/img/{i}") for i in range(n))
    handle = functools.partial(hash_fetched, kinds, False)
    start = time.perf_counter()
    if processes > 1:
        out = fetch_all_processes(items, POLICY, handle, processes=processes, threads=threads)
    else:
        out = fetch_all(items, POLICY, handle, workers=2)
    ok = sum(1 for _, r in out if r[0] == "ok")
    elapsed = time.perf_counter() - start
    assert ok == n, f"{ok} of {n} ok"
    return n / elapsed


def img2dataset_rate(port: int, n: int, resize: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        urls = Path(tmp) / "urls.txt"
        urls.write_text("".join(f"http://127.0.0.1:{port}/img/{i}\n" for i in range(n)))
        args = [
            I2D,
            "--url_list",
            str(urls),
            "--output_folder",
            f"{tmp}/out",
            "--input_format",
            "txt",
            "--output_format",
            "files",
            "--processes_count",
            "2",
            "--thread_count",
            "32",
            "--retries",
            "0",
            "--timeout",
            "30",
            "--enable_wandb",
            "False",
            "--number_sample_per_shard",
            "5000",
        ]
        if not resize:
            args += ["--resize_mode", "no", "--disable_all_reencoding", "True"]
        start = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        saved = sum(1 for _ in Path(f"{tmp}/out").rglob("*.jpg"))
        assert saved >= 0.99 * n, f"img2dataset saved {saved} of {n}"
        return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--urls", default="3000,15000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--runs", default="floor,download,download-proc,phash,phash-proc,phash-proc2,i2d-noresize,i2d-default"
    )
    args = ap.parse_args()
    if not shutil.which("nginx"):
        raise SystemExit("nginx not installed: apt-get install -y nginx-light")
    paths = sorted(str(p) for p in IMAGES.rglob("*.jpg") if "corrupt" not in p.name)
    images = [Path(p).read_bytes() for p in paths]
    print(f"{len(paths)} JPEGs, mean {sum(map(len, images)) / len(images) / 1024:.0f} KiB")
    runs = args.runs.split(",")
    for n in map(int, args.urls.split(",")):
        with nginx_server(paths, n) as port:
            for run in runs:
                rates, loads = [], []
                for _ in range(args.rounds):
                    loads.append(os.getloadavg()[0])
                    if run == "floor":
                        pure(images, 60, ("phash",))
                        rates.append(pure(images, min(n, 3000), ("phash",)))
                    elif run.startswith("download") or run.startswith("phash"):
                        kinds = ("image-sha256",) if run.startswith("download") else ("phash",)
                        procs = 2 if "-proc" in run else 1
                        rates.append(provscan_rate(port, n, kinds, procs, 2 if run.endswith("-proc2") else 1))
                    elif shutil.which(I2D) or Path(I2D).exists():
                        rates.append(img2dataset_rate(port, n, resize=run == "i2d-default"))
                if rates:
                    print(
                        f"{n:6d} URLs  {run:13s} max {max(rates):7.1f}  median {statistics.median(rates):7.1f} images/s  "
                        f"(rounds: {', '.join(f'{r:.0f}' for r in rates)}; load {min(loads):.2f}-{max(loads):.2f}, 2 cores shared)",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
