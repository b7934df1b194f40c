"""``--executor ray``: each shard a Ray task that scans, exports and commits it into OUT.

Ray is the one distributed engine the field's curation tools share (NeMo Curator, datatrove,
img2dataset). Tasks need no object-store traffic beyond their small arguments: each loads the run's
compiled lists from ``OUT/.provscan/lists`` (one session per Ray worker process, reused across its
tasks) and writes its commit into OUT, so inputs and OUT must be on a filesystem every node sees.

A worker's working directory is not the user's: every path a task opens (shards, OUT, ``--images``)
is made absolute here, on the driver, before anything is shipped, and each task checks that the
shard it opened is the one the driver planned (size and the SHA-256 of its parquet footer), so a
node that mounts other bytes under the same name fails the run instead of scanning them. Every
node (by node id: two nodes may share an address) must see the paths before the first task runs.

Each task is scheduled with ``--ray-cpus-per-task`` CPUs and sizes DuckDB and pyarrow to them; the
fetch limits are split among the task slots of a node, so a host sees ``--per-host`` per node at
most. A worker that dies is retried (``max_retries``); a task that raises ends the run with that
shard's error. Ray's own output goes to ``OUT/.provscan/ray.log`` (:mod:`provscan.pipeline.raylog`),
not the user's terminal, and SIGINT/SIGTERM keep provscan's meaning (the run stops, commits kept, 130/143). Without an address a
local Ray is started and stopped here; with one, provscan joins the cluster and never stops it.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from provscan.config import ScanConfig
from provscan.errors import ConfigError, MissingDependency, ProvscanError
from provscan.machine import usable_cpus
from provscan.pipeline.raylog import ray_log
from provscan.pipeline.session import RunSpec, Session, run_task
from provscan.pipeline.shard import ShardTask

MAX_RETRIES = 3
FOOTER_BYTES = 1 << 16  # the parquet footer (schema, row groups, statistics) and the data just before it
_SESSIONS: dict[str, Session] = {}


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependency("--executor ray needs Ray: pip install 'provscan[ray]'") from exc
    return ray


def input_signature(path: Path) -> tuple[int, str]:
    """(size, SHA-256 of the last 64 KiB): which file a task must find, read in one small request."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - FOOTER_BYTES))
        return size, hashlib.sha256(handle.read()).hexdigest()


def _task(spec: RunSpec, task: ShardTask, signature: tuple[int, str]) -> dict[str, Any]:
    """Runs in a Ray worker: one session per (worker process, run)."""
    from provscan.lists.compiled import CompiledLists
    from provscan.lists.store import read_lists
    from provscan.pipeline.commit import STATE_DIR

    try:
        found = input_signature(task.shard.path)
    except OSError as exc:
        raise RuntimeError(f"{task.shard.path}: cannot read on node {_node()}: {exc.strerror or exc}") from None
    if found != signature:
        raise RuntimeError(
            f"{task.shard.path}: not the file the driver planned (size {found[0]} vs {signature[0]}"
            f"{'' if found[0] != signature[0] else ', footer differs'}) on node {_node()}: "
            "inputs must be the same bytes on every node"
        )
    key = f"{spec.out}:{spec.fingerprint}"
    if key not in _SESSIONS:
        import pyarrow as pa

        if spec.threads:
            pa.set_cpu_count(spec.threads)  # the task's CPUs, not the node's
        lists = CompiledLists(tuple(read_lists(spec.out / STATE_DIR / "lists")))
        _SESSIONS[key] = Session(spec, lists)
    try:
        return run_task(_SESSIONS[key], task)
    except ProvscanError as exc:
        raise RuntimeError(f"{task.shard.given}: {exc}") from None  # plain, so it pickles with its text


def _node() -> str:
    try:
        import ray

        return str(ray.get_runtime_context().get_node_id())[:12]
    except Exception:  # pragma: no cover - outside a Ray worker
        return socket.gethostname()


def _missing_paths(paths: list[str]) -> list[str]:
    return [p for p in paths if not os.path.exists(p)]


def absolute(spec: RunSpec, tasks: Sequence[ShardTask]) -> tuple[RunSpec, list[ShardTask]]:
    """Every path a task opens made absolute against the driver's working directory."""

    def a(path: Path) -> Path:
        return Path(os.path.abspath(path))

    config = replace(
        spec.config,
        output=a(spec.config.output),
        images=tuple(a(p) for p in spec.config.images),
        lists=tuple(replace(s, path=a(s.path)) for s in spec.config.lists),
    )
    shipped = [replace(t, shard=replace(t.shard, path=a(t.shard.path))) for t in tasks]
    return replace(spec, out=a(spec.out), config=config), shipped


def run_ray(
    spec: RunSpec,
    tasks: Sequence[ShardTask],
    on_commit: Callable[[dict[str, Any]], None],
    *,
    address: str | None = None,
    cpus_per_task: int = 1,
) -> None:
    ray = _ray()
    if cpus_per_task < 1:
        raise ConfigError(f"--ray-cpus-per-task must be >= 1, got {cpus_per_task}")
    spec, shipped = absolute(spec, tasks)
    started_here = not ray.is_initialized()
    with ray_log(spec.out, terminal=started_here):
        if started_here:
            _init(ray, address)
        try:
            _check_shared_paths(ray, spec, shipped)
            spec = replace(
                spec, threads=cpus_per_task, config=divide_fetch(spec.config, _slots_per_node(ray, cpus_per_task))
            )
            _run(ray, spec, shipped, on_commit, cpus_per_task, cancel=not started_here)
        finally:
            if started_here:
                ray.shutdown()


def _run(
    ray: Any,
    spec: RunSpec,
    tasks: Sequence[ShardTask],
    on_commit: Callable[[dict[str, Any]], None],
    cpus: int,
    *,
    cancel: bool = True,
) -> None:
    """Submit every shard, commit results as they come. Interrupted or failed, the tasks still out
    must stop writing into OUT: when provscan connected this driver, disconnecting ends the job and
    Ray kills its workers (``cancel=False``); a caller's own Ray session is cancelled task by task.
    Cancelling is avoided where it can be: Ray 2.60's driver aborts (``Check failed: it !=
    submissible_tasks_.end()``, exit 1 and a C++ stack on the terminal) when a cancel crosses the
    reply of a task finishing at that moment (ray-project/ray#54846)."""
    remote = ray.remote(max_retries=MAX_RETRIES, num_cpus=cpus)(_task)
    pending = {remote.remote(spec, task, input_signature(task.shard.path)): task for task in tasks}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(done[0])
            try:
                on_commit(ray.get(done[0]))
            except ray.exceptions.RayTaskError as exc:  # the task raised: Ray does not retry that
                raise ProvscanError(f"ray: shard {task.shard.given} failed: {_one_line(exc.cause or exc)}") from None
            except ray.exceptions.RayError as exc:
                raise ProvscanError(
                    f"ray: shard {task.shard.given} failed{_after_retries(ray, exc)}: {_one_line(exc)}"
                ) from None
    finally:
        if cancel and pending:  # nothing may keep writing into OUT after its lock
            _, running = ray.wait(
                list(pending), num_returns=len(pending), timeout=0
            )  # finished ones: no cancel to race
            for ref in running:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # finished meanwhile, or Ray is going away
                    pass


def _after_retries(ray: Any, exc: BaseException) -> str:
    """' after N retries' only for the failures Ray retries (a worker or node lost, the memory
    monitor's kill, a lost result rebuilt): an unschedulable task or a broken runtime env is not."""
    e = ray.exceptions
    retried = (e.WorkerCrashedError, e.NodeDiedError, e.OutOfMemoryError, e.ObjectReconstructionFailedError)
    return f" after {MAX_RETRIES} retries" if isinstance(exc, retried) else ""


def _init(ray: Any, address: str | None) -> None:
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if address:
        _probe(address)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=usable_cpus(), object_store_memory=200 * 2**20, **options)
    except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError: Ray raises many kinds
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ConfigError(f"cannot start or join {where}: {_one_line(exc)}") from None
    finally:
        for sig, handler in handlers.items():  # ray.init makes SIGTERM a sys.exit(15); ours means 143
            if handler is not None:
                signal.signal(sig, handler)


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


def _alive(ray: Any) -> list[dict[str, Any]]:
    return [n for n in ray.nodes() if n.get("Alive")]


def _slots_per_node(ray: Any, cpus_per_task: int) -> int:
    """The most tasks one node runs at once: what a per-node limit is divided by. A task no node
    can hold is refused here: Ray would wait for such a node forever."""
    cpus = [int(n.get("Resources", {}).get("CPU", 0)) for n in _alive(ray)]
    if max(cpus, default=0) < cpus_per_task:
        raise ConfigError(
            f"--ray-cpus-per-task {cpus_per_task}: no Ray node has that many CPUs "
            f"(nodes have {', '.join(map(str, sorted(cpus))) or 'none'})"
        )
    return max(cpus) // cpus_per_task


def divide_fetch(config: ScanConfig, slots: int) -> ScanConfig:
    """Concurrency and per-host limits split among a node's task slots: a host sees --per-host per node."""
    if slots <= 1 or not (config.fetch or config.consent.check):
        return config
    return replace(config, fetch_options=config.fetch_options.divided(slots))


def _check_shared_paths(ray: Any, spec: RunSpec, tasks: Sequence[ShardTask]) -> None:
    """Every node must see OUT and the inputs: say which node cannot, before any task runs.

    Nodes are told apart by node id: two nodes on one host (or behind one NAT) share an address."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    paths = [str(spec.out), *(str(p) for p in spec.config.images), *(str(t.shard.path) for t in tasks)]
    check = ray.remote(num_cpus=0)(_missing_paths)
    refs = {
        (n["NodeID"], n.get("NodeManagerAddress", "?")): check.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(paths)
        for n in _alive(ray)
    }
    for (node_id, address), ref in refs.items():
        try:
            missing = ray.get(ref)
        except (ray.exceptions.TaskUnschedulableError, ray.exceptions.NodeDiedError):
            continue  # the node left after it was listed: it runs no task of this run
        if missing:
            raise ConfigError(
                f"Ray node {node_id[:12]} ({address}) cannot see {missing[0]}"
                + (f" (and {len(missing) - 1} more paths)" if len(missing) > 1 else "")
                + ": inputs and OUT must be on a filesystem every node mounts (NFS, Lustre, ...)"
            )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
