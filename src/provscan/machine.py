"""The CPUs this process may use: what sizes DuckDB's and pyarrow's pools and the worker shares.

``os.cpu_count()`` counts the machine, not the process. Under ``taskset``, a Slurm or array-job
allocation (which pin a task to its cores) or a container's CPU quota, a pool sized to the machine
runs more threads than the process has cores: on one pinned core DuckDB's second thread cost a
1 M-row scan 0.2-0.6 CPU-s of system time (0.45-0.84 s against 0.18 s), the swing the issue-23
figures kept showing. ``usable_cpus`` is the smaller of the scheduler affinity and the cgroup v2
quota (``cpu.max``), as Go and the JVM size themselves; Python's own ``os.process_cpu_count``
(3.13) reads the affinity alone.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus() -> int:
    """CPUs this process may run on at once: affinity, then the cgroup quota; at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_limit(CGROUP_CPU_MAX)
    return max(1, min(cpus, quota) if quota is not None else cpus)


def cgroup_cpu_limit(path: Path) -> int | None:
    """CPUs the cgroup v2 quota allows (``"150000 100000"`` -> 2), None without a quota.

    Absent, unreadable or malformed (cgroup v1, a sandbox, a file someone edited): no limit. The
    quota is a rate, not a set of cores, so a fractional one rounds up: 1.5 CPUs keep 2 threads busy
    part of the time, never fewer than the quota can run."""
    try:
        fields = path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


def fit_pyarrow_pool() -> None:
    """Size pyarrow's CPU pool to :func:`usable_cpus` in a process provscan owns (the command; its
    workers size theirs to their share). pyarrow follows the affinity on its own, not a quota."""
    import pyarrow as pa

    cpus = usable_cpus()
    if pa.cpu_count() > cpus:
        pa.set_cpu_count(cpus)
