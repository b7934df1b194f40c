"""Throughput of ``fetch_all`` over loopback: requests/s and MB/s with a trivial handler.

Run: ``python benchmarks/bench_fetch.py [requests] [concurrency ...]``. A threaded HTTP/1.1
keep-alive server in a child process serves the real JPEGs under ``/work/shared/eval-data/images``
from memory on 127.0.0.1 only, and answers at most ``requests`` per run (503 after that), so a
runaway client cannot hammer it. The figures include the server's cost: both share the machine's
cores, so they are a lower bound for fetching from remote hosts with spare CPU; "client CPU" (this
process: event loop + handler threads) is the figure that load on the machine distorts least.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from provscan.net.fetch import FetchPolicy, FetchResult, fetch_all

IMAGES = Path("/work/shared/eval-data/images")


def _serve(paths: list[str], limit: int, ports: mp.Queue) -> None:  # type: ignore[type-arg]
    images = [Path(p).read_bytes() for p in paths]
    served = connections = 0
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real image hosts do
        disable_nagle_algorithm = True  # else headers-then-body writes stall ~40 ms on delayed ACKs

        def setup(self) -> None:
            nonlocal connections
            with lock:
                connections += 1
            super().setup()

        def do_GET(self) -> None:
            nonlocal served
            with lock:
                served += 1
                over = served > limit
            body = b"limit reached" if over else images[int(self.path.rsplit("/", 1)[-1]) % len(images)]
            self.send_response(503 if over else 200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Connections", str(connections))  # lets the client see keep-alive reuse
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256
        daemon_threads = True

        def server_bind(self) -> None:  # skip HTTPServer's getfqdn(): no reverse DNS lookup
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    server = Server(("127.0.0.1", 0), Handler)
    ports.put(server.server_address[1])
    server.serve_forever()


def run(requests: int, concurrency: int, paths: list[str]) -> tuple[float, float, int, dict[str, int]]:
    ports: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    server = mp.Process(target=_serve, args=(paths, requests, ports), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=30)
        policy = FetchPolicy(concurrency=concurrency, per_host=concurrency, allow_cidrs=("127.0.0.0/8",), retries=0)
        items = ((i, f"http://127.0.0.1:{port}/img/{i}") for i in range(requests))

        def handle(key: int, result: FetchResult) -> tuple[str, int, int]:
            return result.status, len(result.body or b""), int(next(iter(result.header_values("x-connections")), 0))

        statuses: dict[str, int] = {}
        total = opened = 0
        start, cpu = time.perf_counter(), time.process_time()
        for _, (status, size, conns) in fetch_all(items, policy, handle, workers=2):
            statuses[status] = statuses.get(status, 0) + 1
            total += size
            opened = max(opened, conns)
        statuses["connections"] = opened
        return time.perf_counter() - start, time.process_time() - cpu, total, statuses
    finally:
        server.terminate()
        server.join()


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    levels = [int(a) for a in sys.argv[2:]] or [8, 32, 64]
    paths = sorted(str(p) for p in IMAGES.rglob("*.jpg"))
    sizes = [os.path.getsize(p) for p in paths]
    print(
        f"{len(paths)} JPEGs, mean {sum(sizes) / len(sizes) / 1e3:.0f} kB; {requests} requests per run; "
        f"{os.cpu_count()} CPUs"
    )
    for concurrency in levels:
        elapsed, cpu, total, statuses = run(requests, concurrency, paths)
        print(
            f"concurrency {concurrency:3d}: {requests / elapsed:7,.0f} req/s  {total / elapsed / 1e6:7.1f} MB/s  "
            f"client CPU {cpu / requests * 1e3:.2f} ms/req  ({elapsed:.2f} s, {statuses})"
        )


if __name__ == "__main__":
    main()
