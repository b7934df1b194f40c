"""The house rules that a test can check: the no-egress guard is on for every test."""

from __future__ import annotations

import socket

import pytest


def test_every_test_runs_under_the_no_egress_guard(request: pytest.FixtureRequest) -> None:
    # This test does not ask for the guard; conftest.py makes it autouse.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: never routed
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 443)
    violations = request.getfixturevalue("no_egress")
    assert violations == ["socket.create_connection(('192.0.2.1', 80))", "getaddrinfo('example.com')"]
    violations.clear()  # recorded as it should be; clear so the guard's own teardown check passes
