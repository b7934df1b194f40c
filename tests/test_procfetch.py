"""fetch_all_processes against a real server on 127.0.0.1: same contract as fetch_all, in worker processes.

The workers are spawned processes, so the in-process ``no_egress`` patches do not reach them; they
get the loopback-only network backend and a stub resolver instead (pickled to them), and every URL
names 127.0.0.1 or a stub name that resolves only to it.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import Counter
from dataclasses import replace

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from fetch_fixtures import LOOP, Net, StubResolver
from provscan.net.procfetch import fetch_all_processes, worker_policy


def status_and_pid(key: int, result) -> tuple[str, int]:
    return result.status, os.getpid()


def explode_on_three(key: int, result) -> int:
    if key == 3:
        raise RuntimeError("decoder exploded")
    return key


def test_every_item_once_with_its_status_handled_in_the_workers(net: Net, server: HTTPServer) -> None:
    server.expect_request("/ok").respond_with_data(b"ok")
    server.expect_request("/gone").respond_with_data(b"", status=404)
    server.expect_request("/far").respond_with_data(b"", status=302, headers={"Location": "/ok"})
    paths = ["/ok", "/gone", "/far"] * 70
    items = [(i, server.url_for(p)) for i, p in enumerate(paths)]
    out = list(
        fetch_all_processes(
            iter(items),
            replace(LOOP, retries=0),
            status_and_pid,
            processes=2,
            resolver=StubResolver(),
            network_backend=net.backend,
        )
    )
    assert sorted(k for k, _ in out) == list(range(len(paths)))
    want = {"/ok": "ok", "/gone": "http_404", "/far": "ok"}
    assert all(status == want[paths[k]] for k, (status, _) in out)
    pids = Counter(pid for _, (_, pid) in out)
    assert len(pids) == 2 and os.getpid() not in pids  # hashed where downloaded, in both workers


def test_handle_errors_propagate_and_workers_stop(net: Net, server: HTTPServer) -> None:
    server.expect_request("/ok").respond_with_data(b"ok")
    gen = fetch_all_processes(
        ((i, server.url_for("/ok")) for i in range(40)),
        LOOP,
        explode_on_three,
        processes=2,
        resolver=StubResolver(),
        network_backend=net.backend,
    )
    with pytest.raises(RuntimeError, match="decoder exploded"):
        for _ in gen:
            pass
    time.sleep(0.1)
    assert not multiprocessing.active_children()


def test_closing_early_terminates_the_workers(net: Net, server: HTTPServer) -> None:
    server.expect_request("/ok").respond_with_data(b"ok")
    gen = fetch_all_processes(
        ((i, server.url_for("/ok")) for i in range(100_000)),
        LOOP,
        status_and_pid,
        processes=2,
        resolver=StubResolver(),
        network_backend=net.backend,
    )
    first = next(gen)
    gen.close()
    assert first[1][0] == "ok" and not multiprocessing.active_children()


def test_limits_are_split_or_routed_by_host() -> None:
    assert worker_policy(replace(LOOP, concurrency=64, per_host=8), 2) == (
        replace(LOOP, concurrency=32, per_host=4),
        False,
    )
    assert worker_policy(replace(LOOP, concurrency=3, per_host=1), 2) == (
        replace(LOOP, concurrency=1, per_host=1),
        True,
    )


def test_per_host_bound_holds_across_workers(net: Net, server: HTTPServer) -> None:
    state = {"now": Counter(), "max": Counter()}
    lock = threading.Lock()

    def handler(request: Request) -> Response:
        host = request.headers["Host"].split(":")[0]
        with lock:
            state["now"][host] += 1
            state["max"][host] = max(state["max"][host], state["now"][host])
        time.sleep(0.1)
        with lock:
            state["now"][host] -= 1
        return Response(b"c")

    server.expect_request("/c").respond_with_handler(handler)
    resolver = StubResolver({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    items = [(i, f"http://{'ab'[i % 2]}.test:{server.port}/c") for i in range(12)]
    out = list(
        fetch_all_processes(
            items,
            replace(LOOP, concurrency=8, per_host=1),
            status_and_pid,
            processes=2,
            resolver=resolver,
            network_backend=net.backend,
        )
    )
    assert len(out) == 12 and {s for _, (s, _) in out} == {"ok"}
    assert state["max"]["a.test"] == 1 and state["max"]["b.test"] == 1
