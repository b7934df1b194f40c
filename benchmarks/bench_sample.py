"""``provscan sample`` against downloading the dataset whole: bytes moved and seconds, on loopback.

A LAION-like dataset (10 M rows, ~1 GB zstd, 10 files, row groups of ``--group-rows`` rows) is
generated once into /dev/shm and served on 127.0.0.1 by nginx when installed (``--server python``: a
Range-capable Python server in its own process). Measured, each
``--rounds`` times (min and median reported, with the load average):

- ``--rows 1000`` and ``--rows 10000`` (uniform rows: every touched row group costs its URL/id chunks)
- ``--row-groups K`` for K = 1, 10 and 30 (one row group is the fewest rows this mode can read; K = 1
  gives no interval, K >= 2 is needed for the between-group variance)
- the floor it replaces: downloading every file whole (urllib, streamed to /dev/null), and that
  download plus ``provscan scan`` of the local copy (what an auditor without ``sample`` would run).

    python benchmarks/bench_sample.py                      # 10 M rows, groups of 10 000 rows
    python benchmarks/bench_sample.py --rows 1000000 --files 2   # a quick scaled-down run
"""

from __future__ import annotations

import argparse
import binascii
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import sys
import multiprocessing
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import provscan  # noqa: E402

WORK = Path(os.environ.get("PROVSCAN_BENCH_DIR") or "/dev/shm/provscan-bench-sample")
WORDS = np.array(
    "photo image stock vintage red blue green summer dress shoes chair table lamp city river mountain "
    "beach forest flower garden kitchen wedding poster art print design logo icon car bike dog cat".split()
)
HOSTS = 20_000


def _hex(rng: np.random.Generator, n: int, nbytes: int) -> pa.Array:
    """n random hex strings of 2*nbytes characters, built from one buffer (no Python loop)."""
    data = binascii.hexlify(rng.bytes(n * nbytes))
    offsets = np.arange(0, 2 * nbytes * n + 1, 2 * nbytes, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _pick(rng: np.random.Generator, values: np.ndarray, n: int, p: np.ndarray | None = None) -> pa.Array:
    return pa.array(values[rng.choice(len(values), n, p=p)])


def generate(files: int, rows: int, group_rows: int) -> tuple[list[Path], Path]:
    """The dataset (cached by its shape) and a domain list flagging hosts that hold ~3 % of rows."""
    root = WORK / f"ds-{rows}-{files}-{group_rows}"
    paths = [root / f"part-{i:05d}.parquet" for i in range(files)]
    blocklist = root / "blocked-domains.txt"
    if all(p.exists() for p in paths) and blocklist.exists():
        return paths, blocklist
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(10)
    hosts = np.array(
        [f"{a}{b}{i}.example.com" for i, (a, b) in enumerate(zip(rng.choice(WORDS, HOSTS), rng.choice(WORDS, HOSTS)))]
    )
    weights = 1.0 / np.arange(1, HOSTS + 1) ** 0.8
    weights /= weights.sum()
    order = rng.permutation(HOSTS)  # blocked: random hosts until they hold ~3 % of the rows
    blocked, share = [], 0.0
    for h in order:
        if share + weights[h] <= 0.03:
            blocked.append(hosts[h])
            share += weights[h]
    blocklist.write_text("# provscan-list: kind=domain name=blocked\n" + "\n".join(blocked) + "\n", encoding="utf-8")
    per = rows // files
    for i, path in enumerate(paths):
        started = time.perf_counter()
        host = _pick(rng, hosts, per, weights)
        url = pc.binary_join_element_wise("https://", host, "/images/", _hex(rng, per, 16), ".jpg", "")
        caption = pc.binary_join_element_wise(*(_pick(rng, WORDS, per) for _ in range(10)), " ")
        table = pa.table(
            {
                "SAMPLE_ID": pa.array(np.arange(i * per, (i + 1) * per, dtype=np.int64)),
                "URL": url,
                "TEXT": caption,
                "HEIGHT": pa.array(rng.integers(64, 2048, per, dtype=np.int32)),
                "WIDTH": pa.array(rng.integers(64, 2048, per, dtype=np.int32)),
                "similarity": pa.array(rng.random(per, dtype=np.float32)),
                "punsafe": pa.array(rng.random(per, dtype=np.float32)),
                "pwatermark": pa.array(rng.random(per, dtype=np.float32)),
                "md5": _hex(rng, per, 16),
                "image_phash": _hex(rng, per, 8),
            }
        )
        pq.write_table(table, path, compression="zstd", row_group_size=group_rows)
        print(
            f"  generated {path.name}: {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.1f}s",
            flush=True,
        )
    return paths, blocklist


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root: Path = WORK

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = path.stat().st_size
        start, end = 0, size - 1
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes="):
            lo, _, hi = rng[6:].partition("-")
            start, end = (size - int(hi), size - 1) if lo == "" else (int(lo), min(int(hi or size - 1), size - 1))
            start = max(0, start)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("ETag", f'"{size:x}"')
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                self.wfile.write(chunk)
                left -= len(chunk)


def _serve_forever(root: Path, port: "multiprocessing.Queue") -> None:
    handler = type("H", (_Handler,), {"root": root})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    port.put(server.server_address[1])
    server.serve_forever()


def _serve(root: Path) -> tuple[multiprocessing.Process, int]:
    """The file server in its own process, so its GIL and CPU are not counted as provscan's."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_serve_forever, args=(root, queue), daemon=True)
    proc.start()
    return proc, queue.get(timeout=30)


def _nginx(root: Path) -> tuple[subprocess.Popen, int]:
    """nginx on 127.0.0.1 serving ``root``: a real server's Range, ETag and keep-alive handling."""
    conf_dir = Path(tempfile.mkdtemp(prefix="provscan-nginx-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (conf_dir / "nginx.conf").write_text(
        f"daemon off; worker_processes 1; pid {conf_dir}/nginx.pid; error_log {conf_dir}/error.log;\n"
        "events { worker_connections 1024; }\n"
        f"http {{ access_log off; sendfile on; keepalive_requests 100000; default_type application/octet-stream;\n"
        f"  client_body_temp_path {conf_dir}; proxy_temp_path {conf_dir}; fastcgi_temp_path {conf_dir};\n"
        f"  server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n"
    )
    proc = subprocess.Popen(
        ["nginx", "-c", str(conf_dir / "nginx.conf"), "-p", str(conf_dir)], stderr=subprocess.DEVNULL
    )
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    return proc, port


def _download(urls: list[str], into: Path | None) -> int:
    total = 0
    for url in urls:
        with urllib.request.urlopen(url) as resp:
            out = open(into / url.rsplit("/", 1)[1], "wb") if into else None
            while chunk := resp.read(1 << 20):
                total += len(chunk)
                if out:
                    out.write(chunk)
            if out:
                out.close()
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--group-rows", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-scan", action="store_true", help="skip the download + local scan baseline")
    ap.add_argument(
        "--server",
        choices=("nginx", "python"),
        default="nginx" if shutil.which("nginx") else "python",
        help="the loopback file server (default: nginx when installed)",
    )
    args = ap.parse_args()
    paths, blocklist = generate(args.files, args.rows, args.group_rows)
    size = sum(p.stat().st_size for p in paths)
    server, port = _nginx(paths[0].parent) if args.server == "nginx" else _serve(paths[0].parent)
    base = f"http://127.0.0.1:{port}"
    urls = [f"{base}/{p.name}" for p in paths]
    config = provscan.ScanConfig(lists=(provscan.ListSpec(blocklist),), fetch_options={"allow_cidrs": ("127.0.0.0/8",)})
    out = WORK / "out"
    cases = [("rows", 1_000), ("rows", 10_000), ("row-groups", 1), ("row-groups", 10), ("row-groups", 30)]
    print(
        f"server: {args.server}; dataset: {args.rows:,} rows, {len(paths)} files, {size / 1e9:.2f} GB, row groups of {args.group_rows:,} rows; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    results = []
    for mode, n in cases:
        times, last = [], None
        for r in range(args.rounds):
            shutil.rmtree(out, ignore_errors=True)
            started = time.perf_counter()
            kw = {"rows": n} if mode == "rows" else {"row_groups": n}
            last = provscan.sample(urls, config, seed=r, output=out, **kw)
            times.append(time.perf_counter() - started)
        est = last.estimates
        bad = next((e for e in est["estimates"] if e["dimension"] == "list" and e["value"] == "blocked"), None)
        results.append(
            {
                "case": f"--{mode} {n}",
                "sampled_rows": est["sampled_rows"],
                "bytes": est["bytes_read"],
                "share_of_file_bytes": est["bytes_read"] / size,
                "s_min": min(times),
                "s_median": statistics.median(times),
                "blocked_share": None
                if bad is None
                else f"{100 * bad['share']:.2f}% [{100 * bad['share_low']:.2f}, {100 * bad['share_high']:.2f}]",
            }
        )
        print(json.dumps(results[-1]), flush=True)
    times = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        moved = _download(urls, None)
        times.append(time.perf_counter() - started)
    results.append(
        {
            "case": "download whole (urllib, to /dev/null)",
            "bytes": moved,
            "share_of_file_bytes": moved / size,
            "s_min": min(times),
            "s_median": statistics.median(times),
        }
    )
    print(json.dumps(results[-1]), flush=True)
    if not args.no_scan:
        local = WORK / "download"
        shutil.rmtree(local, ignore_errors=True)
        local.mkdir(parents=True)
        started = time.perf_counter()
        _download(urls, local)
        fetched = time.perf_counter() - started
        scanned = provscan.scan([str(local)], config, output=WORK / "scan-out", export=False)
        total = time.perf_counter() - started
        t = scanned.summary["rows_by_list"].get("blocked", 0)
        results.append(
            {
                "case": "download whole + provscan scan",
                "bytes": size,
                "s_download": fetched,
                "s_total": total,
                "blocked_share": f"{100 * t / args.rows:.2f}% (exact)",
            }
        )
        print(json.dumps(results[-1]), flush=True)
        shutil.rmtree(local, ignore_errors=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    server.terminate()
    server.wait() if isinstance(server, subprocess.Popen) else server.join()


if __name__ == "__main__":
    main()
