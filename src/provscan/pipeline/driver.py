"""The driver: plan, check, run the shard tasks, merge; the manifest last.

``scan()`` is the library entry point; the CLI only parses options and formats its result. Every
shard is checked (readable, has the columns the lists need) and every list compiled before the
first byte of output, and OUT is locked and checked (see :mod:`provscan.pipeline.outdir`), so a bad
input fails fast instead of leaving half a run behind. Each shard's results are committed as soon
as it is done (:mod:`provscan.pipeline.commit`); ``resume=True`` keeps the commits that still match,
and the merge reads commits in plan order, whichever executor ran them.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from provscan.config import ScanConfig, apply_overrides
from provscan.errors import ConfigError, RunInterrupted
from provscan.io.db import DEFAULT_MEMORY_LIMIT, Database
from provscan.io.export import count_rows
from provscan.io.shards import detect_columns, expand_shards, read_schema
from provscan.lists.compiled import CompiledLists, compile_lists, require_url_column
from provscan.lists.store import save_lists
from provscan.machine import usable_cpus
from provscan.pipeline import signals
from provscan.pipeline.commit import STATE_DIR, read_commit
from provscan.pipeline.merge import MergeStream, RunState, merge
from provscan.pipeline.outdir import FINAL_OUTPUTS, OutputDir
from provscan.pipeline.resume import committed_outputs, keep_or_reset, run_fingerprint
from provscan.pipeline.session import RunSpec
from provscan.pipeline.shard import ShardTask
from provscan.progress import NullProgress, Progress
from provscan.stages import plan as stage_plan

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class ScanResult:
    output: Path
    manifest: dict[str, Any] | None  # None for an array-job part: the merge writes it
    summary: dict[str, Any] | None
    committed: int = 0  # shards this call committed (the others were kept from earlier, or another part's)
    kept: int = 0  # committed shards kept by --resume
    redone: dict[str, int] = field(default_factory=dict)  # why shards were not kept: reason -> shards


def scan(
    shards: Sequence[str | Path] | str | Path,
    config: ScanConfig | None = None,
    *,
    progress: Progress | None = None,
    resume: bool = False,
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    ray_cpus_per_task: int = 1,
    part: tuple[int, int] | None = None,
    **overrides: Any,
) -> ScanResult:
    """Scan shards against the configured lists and policy; write the report, export and manifest.

    ``overrides`` replace fields of ``config`` (e.g. ``output=``, ``export=False``, ``lists=``).
    ``part=(i, n)`` scans only shards ``k % n == i`` and commits them; :func:`merge_run` finishes the run.
    """
    run = prepare(
        shards, apply_overrides(config or ScanConfig(), **overrides), workers=workers, executor=executor, part=part
    )
    with run.output_dir() as outdir, _as_interrupt(run):
        run.claim(outdir, resume=resume)
        with run.merge() as merging:
            committed = run.execute(
                progress or NullProgress(), then=merging.advance, ray_address=ray_address, ray_cpus=ray_cpus_per_task
            )
            manifest, summary = merging.finish()
    return ScanResult(run.out, manifest, summary, committed=committed, kept=len(run.kept), redone=run.redone)


def prepare(
    shards: Sequence[str | Path] | str | Path,
    config: ScanConfig,
    *,
    workers: int | None = None,
    executor: str = "local",
    part: tuple[int, int] | None = None,
) -> Run:
    """Plan, compile, preflight and fingerprint a scan; nothing is written (a bad input fails here)."""
    workers = workers or config.workers
    _check_run_options(workers, executor, part)
    config = replace(config, workers=workers)  # one value from here on: the sessions read it from the spec
    tasks = plan(shards, config, Path(config.output))
    compiled = compile_lists(config.lists)
    for task in tasks:  # an image-only shard (no URL column) may meet image lists only
        require_url_column(
            compiled, task.shard.given, task.columns.url is not None, fetch=config.fetch, consent=config.consent.check
        )
    _preflight(compiled, config)
    fingerprint = run_fingerprint(config, compiled)
    state = RunState(
        fingerprint,
        _now(),
        config.to_dict(),
        compiled.manifest(),
        [{"index": t.index, "path": t.shard.given, "relative": t.shard.relative} for t in tasks],
        stage_plan.select(config, compiled),
    )
    return Run(config, tasks, compiled, fingerprint, state, executor, part)


class _Merge(Protocol):
    def advance(self) -> int: ...
    def finish(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]: ...


class _PartMerge:
    """An array-job part merges nothing: ``provscan merge OUT`` does, once every part committed."""

    def advance(self) -> int:
        return 0

    def finish(self) -> tuple[None, None]:
        return None, None


@dataclass
class Run:
    """A prepared scan: its shards, compiled lists and fingerprint, checked before OUT is touched.

    :meth:`claim` makes OUT this run's, :meth:`execute` scans and commits the shards still to do,
    :meth:`merge` streams the commits into OUT's final files."""

    config: ScanConfig  # resolved: ``workers`` is the run's one value
    tasks: list[ShardTask]  # every shard of the run, in merge order
    compiled: CompiledLists
    fingerprint: str
    state: RunState
    executor: str = "local"
    part: tuple[int, int] | None = None
    kept: set[int] = field(default_factory=set)  # shard indexes whose commits --resume kept
    redone: dict[str, int] = field(default_factory=dict)  # why shards were not kept: reason -> shards
    done: int = 0  # shards committed so far, kept ones included
    lock_fds: tuple[int, ...] = ()  # OUT's locks, held by every worker process too (pipeline/lifeline.py)

    @property
    def out(self) -> Path:
        return Path(self.config.output)

    @property
    def selected(self) -> list[ShardTask]:
        """The shards this call is responsible for: all, or an array-job part's."""
        if self.part is None:
            return self.tasks
        return [t for t in self.tasks if t.index % self.part[1] == self.part[0]]

    def output_dir(self) -> OutputDir:
        """OUT locked and checked for this run when entered: no input among the files it writes or
        removes, only provscan's files, every path read from OUT inside it."""
        out = self.out
        return OutputDir(
            out,
            part=self.part[0] if self.part else None,
            inputs=[(t.shard.given, t.shard.path) for t in self.tasks],
            writes=[out / name for name in FINAL_OUTPUTS] + [out / t.clean_name for t in self.tasks],
        )

    def committed(self) -> int:
        """Selected shards committed under this run's fingerprint, counted on disk: a worker's commit
        the driver has not heard of yet counts, as it does for ``--resume``."""
        found = (read_commit(self.out, t.index) for t in self.selected)
        return sum(1 for c in found if c is not None and c.fingerprint == self.fingerprint)

    def claim(self, outdir: OutputDir, *, resume: bool) -> None:
        """In the checked OUT (:meth:`output_dir`): commits kept or reset, run.json saved."""
        out = self.out
        self.lock_fds = outdir.lock_fds
        self.kept, self.redone = keep_or_reset(
            outdir, self.selected, self.fingerprint, resume=resume or self.part is not None
        )
        self.done = len(self.kept)
        earlier = RunState.load(out)
        if self.part is not None and earlier is not None and earlier.fingerprint == self.fingerprint:
            self.state = replace(self.state, started=earlier.started)  # parts of one run share its start time
        self.state.save(out)

    @contextmanager
    def merge(self) -> Iterator[_Merge]:
        """The merge, streamed as shards commit (the shards --resume kept first); nothing for a part."""
        if self.part is not None:
            yield _PartMerge()
            return
        with (
            Database(temp_dir=self.out / STATE_DIR / "tmp" / "merge") as db,
            MergeStream(self.out, self.state, db) as stream,
        ):
            stream.advance()
            yield stream

    def execute(
        self, progress: Progress, *, then: Callable[[], object], ray_address: str | None = None, ray_cpus: int = 1
    ) -> int:
        """Scan and commit the selected shards not kept, calling ``then`` after each commit; returns how many."""
        config, workers, out = self.config, self.config.workers, self.out
        todo = [t for t in self.selected if t.index not in self.kept]
        spec = RunSpec(out, _divide_fetch(config, workers), self.fingerprint, **_resources(workers))
        if workers > 1 or self.executor == "ray":
            save_lists(self.compiled.lists, out / STATE_DIR / "lists")
        progress.start(len(todo), sum(count_rows(t.shard.path) for t in todo))
        rows_per_group = config.export and workers == 1 and self.executor == "local"  # export reports row groups

        def on_commit(entry: dict[str, Any]) -> None:
            self.done += 1
            if not rows_per_group:
                progress.rows_done(entry["rows_in"])
            progress.shard_done(entry["findings"])
            then()

        try:
            _execute(
                spec,
                self.compiled,
                todo,
                on_commit,
                workers=workers,
                executor=self.executor,
                lock_fds=self.lock_fds,
                ray_address=ray_address,
                ray_cpus=ray_cpus,
                on_rows=progress.rows_done if rows_per_group else None,
            )
        finally:
            progress.finish()
        return len(todo)


@contextmanager
def _as_interrupt(run: Run) -> Iterator[None]:
    """SIGINT/SIGTERM end the run as RunInterrupted (how many shards committed), however it surfaced."""
    try:
        yield
    except BaseException as exc:  # a signal may surface wrapped in a DuckDB or pyarrow error
        if isinstance(exc, KeyboardInterrupt) or signals.received() is not None:
            raise RunInterrupted(run.committed(), len(run.selected), signals.received() or signal.SIGINT) from None
        raise


def merge_run(out: str | Path) -> ScanResult:
    """``provscan merge OUT``: finish a run whose shards were committed by array-job parts."""
    out = Path(out)
    if not (out / STATE_DIR / "run.json").is_file():
        raise ConfigError(f"{out}: no provscan run to merge here (no {STATE_DIR}/run.json)")
    planned = RunState.load(out)
    if planned is None:
        raise ConfigError(f"{out}: the run was started by another provscan version; run the parts again")
    inputs = [(str(s.get("path")), Path(str(s.get("path")))) for s in planned.shards if isinstance(s, dict)]
    try:
        with OutputDir(out, inputs=inputs, writes=[out / name for name in FINAL_OUTPUTS]) as outdir:
            state = RunState.load(out)
            if state is None:
                raise ConfigError(f"{out}: the run was started by another provscan version; run the parts again")
            outdir.remove_leftovers(keep=committed_outputs(out, state))
            with Database(temp_dir=out / STATE_DIR / "tmp" / "merge") as db:
                manifest, summary = merge(out, state, db)
    except BaseException as exc:  # a signal may surface wrapped in a DuckDB or pyarrow error
        if isinstance(exc, KeyboardInterrupt) or signals.received() is not None:
            raise RunInterrupted(None, None, signals.received() or signal.SIGINT, merging=str(out)) from None
        raise
    return ScanResult(out, manifest, summary)


def plan(shards: Sequence[str | Path] | str | Path, config: ScanConfig, out: Path) -> list[ShardTask]:
    """Every shard, its columns checked, in the run's merge order."""
    inputs = [shards] if isinstance(shards, (str, Path)) else list(shards)
    tasks = []
    for index, shard in enumerate(expand_shards(inputs, exclude=out)):
        columns = detect_columns(
            shard,
            read_schema(shard),
            url_column=config.url_column,
            id_column=config.id_column,
            license_column=config.licenses.column,
            hash_columns=config.hash_columns,
        )
        tasks.append(ShardTask(index, shard, columns))
    return tasks


def _execute(
    spec: RunSpec,
    compiled: CompiledLists,
    tasks: list[ShardTask],
    on_commit: Any,
    *,
    workers: int,
    executor: str,
    ray_address: str | None,
    ray_cpus: int = 1,
    on_rows: Any = None,
    lock_fds: tuple[int, ...] = (),
) -> None:
    from provscan.pipeline import executors

    if executor == "ray":
        from provscan.pipeline.ray_exec import run_ray

        run_ray(spec, tasks, on_commit, address=ray_address, cpus_per_task=ray_cpus)
    elif workers > 1:
        preload = stage_plan.modules(stage_plan.select(spec.config, compiled))
        executors.run_processes(spec, tasks, workers, on_commit, lock_fds=lock_fds, preload=preload)
    else:
        executors.run_serial(spec, compiled, tasks, on_commit, on_rows=on_rows)


def _check_run_options(workers: int, executor: str, part: tuple[int, int] | None) -> None:
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r} (executors: {', '.join(EXECUTORS)})")
    if part is not None and not (part[1] >= 1 and 0 <= part[0] < part[1]):
        raise ConfigError(f"--part {part[0]}/{part[1]}: expected I/N with 0 <= I < N")


def _resources(workers: int) -> dict[str, Any]:
    """DuckDB threads and memory divided among the workers: the run keeps the one-process bound."""
    if workers <= 1:
        return {}
    cpus = usable_cpus()
    limit_mb = int(DEFAULT_MEMORY_LIMIT.removesuffix("GB")) * 1000 // workers
    return {"threads": max(1, cpus // workers), "memory_limit": f"{max(limit_mb, 100)}MB"}


def _divide_fetch(config: ScanConfig, workers: int) -> ScanConfig:
    """Concurrency and per-host limits split among workers: a host never sees more than --per-host."""
    if workers <= 1 or not (config.fetch or config.consent.check):
        return config
    return replace(config, fetch_options=config.fetch_options.divided(workers))


def _preflight(compiled: CompiledLists, config: ScanConfig) -> None:
    """Checked before any output is touched: optional extras a list needs (pdq), the fetch policy."""
    stage_plan.preflight(config, compiled)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
