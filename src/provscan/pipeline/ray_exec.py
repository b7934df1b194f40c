"""``--executor ray``: each shard a Ray task that scans, exports and commits it into OUT.

Ray is the one distributed engine the field's curation tools share (NeMo Curator, datatrove,
img2dataset). Tasks need no object-store traffic beyond their small arguments: each loads the run's
compiled lists from ``OUT/.provscan/lists`` (one session per Ray worker process, reused across its
tasks) and writes its commit into OUT, so inputs and OUT must be on a filesystem every node sees;
that is checked on every node before the first task. A worker that dies is retried (``max_retries``);
a shard whose task raises ends the run with that shard's error, named. Without an address a local
Ray is started and stopped here; with one, provscan joins the cluster and never stops it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from provscan.errors import ConfigError, MissingDependency, ProvscanError
from provscan.pipeline.session import RunSpec, Session, run_task
from provscan.pipeline.shard import ShardTask

MAX_RETRIES = 3
_SESSIONS: dict[str, Session] = {}


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependency("--executor ray needs Ray: pip install 'provscan[ray]'") from exc
    return ray


def _task(spec: RunSpec, task: ShardTask) -> dict[str, Any]:
    """Runs in a Ray worker: one session per (worker process, run)."""
    from provscan.lists.compiled import CompiledLists
    from provscan.lists.store import read_lists
    from provscan.pipeline.commit import STATE_DIR

    key = f"{spec.out}:{spec.fingerprint}"
    if key not in _SESSIONS:
        lists = CompiledLists(tuple(read_lists(spec.out / STATE_DIR / "lists")))
        _SESSIONS[key] = Session(spec, lists)
    try:
        return run_task(_SESSIONS[key], task)
    except ProvscanError as exc:
        raise RuntimeError(f"{task.shard.given}: {exc}") from None  # plain, so it pickles with its text


def _missing_paths(paths: list[str]) -> list[str]:
    return [p for p in paths if not os.path.exists(p)]


def run_ray(spec: RunSpec, tasks: Sequence[ShardTask], on_commit: Callable[[dict[str, Any]], None], *,
            address: str | None = None) -> None:
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        _init(ray, address)
    try:
        _check_shared_paths(ray, spec, tasks)
        remote = ray.remote(max_retries=MAX_RETRIES, num_cpus=1)(_task)
        pending = {remote.remote(spec, task): task for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            task = pending.pop(ref)
            try:
                on_commit(ray.get(ref))
            except ray.exceptions.RayError as exc:
                for other in pending:
                    ray.cancel(other)
                cause = getattr(exc, "cause", None) or exc
                raise ProvscanError(f"ray: shard {task.shard.given} failed after retries: {_one_line(cause)}") from None
    finally:
        if started_here:
            ray.shutdown()


def _init(ray: Any, address: str | None) -> None:
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if address:
        _probe(address)
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=os.cpu_count() or 2, object_store_memory=200 * 2**20, **options)
    except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError: Ray raises many kinds
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ConfigError(f"cannot start or join {where}: {_one_line(exc)}") from None


def _probe(address: str) -> None:
    """Fail in seconds on an address nothing listens at: Ray itself retries for minutes."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def _check_shared_paths(ray: Any, spec: RunSpec, tasks: Sequence[ShardTask]) -> None:
    """Every node must see OUT and the inputs: say which node cannot, before any task runs."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    paths = [str(Path(spec.out).resolve()), *(str(Path(t.shard.path).resolve()) for t in tasks)]
    check = ray.remote(num_cpus=0)(_missing_paths)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = {
        n["NodeManagerAddress"]: check.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(paths)
        for n in nodes
    }
    for node, ref in refs.items():
        missing = ray.get(ref)
        if missing:
            raise ConfigError(
                f"Ray node {node} cannot see {missing[0]}"
                + (f" (and {len(missing) - 1} more paths)" if len(missing) > 1 else "")
                + ": inputs and OUT must be on a filesystem every node mounts (NFS, Lustre, ...)"
            )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
