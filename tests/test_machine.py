"""Thread pools sized to the CPUs the process may use (issue 23): affinity and the cgroup quota.

On one pinned core, DuckDB sized to the machine's two cores cost a 1 M-row scan up to 0.6 CPU-s of
system time; a Slurm or array-job task pinned to 4 of 64 cores would have run 64 threads."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provscan import machine
from provscan.machine import cgroup_cpu_limit, usable_cpus

pinnable = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")


def _pinned(code: str) -> str:
    """Run ``code`` in a fresh interpreter pinned to one CPU; its stdout."""
    first = min(os.sched_getaffinity(0))
    script = f"import os; os.sched_setaffinity(0, {{{first}}})\n{code}"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()


@pinnable
def test_a_pinned_process_counts_one_cpu_and_its_duckdb_runs_one_thread() -> None:
    out = _pinned(
        "from provscan.machine import usable_cpus\n"
        "from provscan.io.db import Database\n"
        "db = Database()\n"
        "print(usable_cpus(), db.scalar(\"SELECT current_setting('threads')\"))\n"
        "db.close()"
    )
    assert out == "1 1"


@pinnable
def test_workers_share_the_usable_cpus_not_the_machine() -> None:
    out = _pinned("from provscan.pipeline.driver import _resources\nprint(_resources(2)['threads'])")
    assert out == "1"  # os.cpu_count() on this machine is larger; the share must follow the affinity


def test_usable_cpus_is_the_affinity_when_there_is_no_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "CGROUP_CPU_MAX", tmp_path / "absent")
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    assert usable_cpus() == expected


def test_a_cgroup_quota_below_the_affinity_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")
    monkeypatch.setattr(machine, "CGROUP_CPU_MAX", quota)
    assert usable_cpus() == 1
    quota.write_text(f"{1000 * 100000} 100000\n")  # more than the machine: the affinity wins
    monkeypatch.setattr(machine, "CGROUP_CPU_MAX", tmp_path / "absent")
    unlimited = usable_cpus()
    monkeypatch.setattr(machine, "CGROUP_CPU_MAX", quota)
    assert usable_cpus() == unlimited


@pytest.mark.parametrize(
    "text, cpus",
    [
        ("max 100000\n", None),  # no quota
        ("150000 100000\n", 2),  # 1.5 CPUs keep two threads busy part of the time
        ("50000 100000", 1),
        ("400000 100000", 4),
        ("0 100000", None),
        ("-1 100000", None),
        ("100000 0", None),
        ("100000", None),
        ("one two", None),
        ("", None),
        ("100000 100000 7", None),
    ],
)
def test_cgroup_cpu_max_is_parsed_strictly(tmp_path: Path, text: str, cpus: int | None) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(text)
    assert cgroup_cpu_limit(path) == cpus


def test_an_absent_or_unreadable_cgroup_file_is_no_limit(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path / "absent") is None
    assert cgroup_cpu_limit(tmp_path) is None  # a directory
    (tmp_path / "bin").write_bytes(b"\xff\xfe 100000")
    assert cgroup_cpu_limit(tmp_path / "bin") is None


@given(st.integers(1, 10**9), st.integers(1, 10**7))
def test_a_quota_gives_at_least_what_it_allows(quota: int, period: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cpu.max"
        path.write_text(f"{quota} {period}\n")
        assert cgroup_cpu_limit(path) == max(1, math.ceil(quota / period))


def test_pyarrow_pool_is_fitted_to_a_quota_and_never_grown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa

    before = pa.cpu_count()
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")
    monkeypatch.setattr(machine, "CGROUP_CPU_MAX", quota)
    try:
        machine.fit_pyarrow_pool()
        assert pa.cpu_count() == 1
        pa.set_cpu_count(1)
        monkeypatch.setattr(machine, "CGROUP_CPU_MAX", tmp_path / "absent")
        machine.fit_pyarrow_pool()
        assert pa.cpu_count() == 1  # a pool someone made smaller stays so
    finally:
        pa.set_cpu_count(before)
