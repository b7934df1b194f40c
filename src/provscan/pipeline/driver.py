"""The driver: plan, check, run the shard tasks, merge; the manifest last.

``scan()`` is the library entry point; the CLI only parses options and formats its result. Every
shard is checked (readable, has the columns the lists need) and every list compiled before the
first byte of output, and OUT is locked and checked (see :mod:`provscan.pipeline.outdir`), so a bad
input fails fast instead of leaving half a run behind. Each shard's results are committed as soon
as it is done (:mod:`provscan.pipeline.commit`); ``resume=True`` keeps the commits that still match,
and the merge reads commits in plan order, whichever executor ran them.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Sequence
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from provscan._version import __version__
from provscan.config import ScanConfig, apply_overrides
from provscan.errors import ConfigError, RunInterrupted
from provscan.io.db import DEFAULT_MEMORY_LIMIT, Database
from provscan.io.export import count_rows
from provscan.io.shards import detect_columns, expand_shards, read_schema
from provscan.lists.compiled import CompiledLists, compile_lists, require_url_column
from provscan.lists.store import save_lists
from provscan.pipeline import signals
from provscan.pipeline.commit import STATE_DIR, discard, read_commit, still_valid
from provscan.pipeline.merge import MergeStream, RunState, merge
from provscan.pipeline.outdir import FINAL_OUTPUTS, OutputDir
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
    config = apply_overrides(config or ScanConfig(), **overrides)
    progress = progress or NullProgress()
    workers = workers or config.workers
    _check_run_options(workers, executor, part)
    config = replace(config, workers=workers)  # one value from here on: the sessions read it from the spec
    out = Path(config.output)
    tasks = plan(shards, config, out)
    compiled = compile_lists(config.lists)
    for task in tasks:  # an image-only shard (no URL column) may meet image lists only
        require_url_column(compiled, task.shard.given, task.columns.url is not None, fetch=config.fetch,
                           consent=config.consent.check)
    _preflight(compiled, config)
    fingerprint = run_fingerprint(config, compiled)
    state = RunState(fingerprint, _now(), config.to_dict(), compiled.manifest(),
                     [{"index": t.index, "path": t.shard.given, "relative": t.shard.relative} for t in tasks],
                     stage_plan.select(config, compiled))
    selected = tasks if part is None else [t for t in tasks if t.index % part[1] == part[0]]
    with OutputDir(out, part=part[0] if part else None) as outdir:
        outdir.check_inputs([t.shard for t in tasks],
                            [out / name for name in FINAL_OUTPUTS] + [out / t.clean_name for t in tasks])
        outdir.check_ownership()
        kept, redone = _keep_or_reset(outdir, selected, fingerprint, resume=resume or part is not None)
        earlier = RunState.load(out)
        if part is not None and earlier is not None and earlier.fingerprint == fingerprint:
            state = replace(state, started=earlier.started)  # parts of one run share its start time
        state.save(out)
        todo = [t for t in selected if t.index not in kept]
        spec = RunSpec(out, _divide_fetch(config, workers), fingerprint, **_resources(workers))
        if workers > 1 or executor == "ray":
            save_lists(compiled.lists, out / STATE_DIR / "lists")
        progress.start(len(todo), sum(count_rows(t.shard.path) for t in todo))
        done = len(kept)

        rows_per_group = config.export and workers == 1 and executor == "local"  # export reports row groups

        try:
            with ExitStack() as scope:
                # The merge runs as shards commit (not for an array-job part: `provscan merge` does it).
                stream = None
                if part is None:
                    db = scope.enter_context(Database(temp_dir=out / STATE_DIR / "tmp" / "merge"))
                    stream = scope.enter_context(MergeStream(out, state, db))
                    stream.advance()  # the shards --resume kept

                def on_commit(entry: dict[str, Any]) -> None:
                    nonlocal done
                    done += 1
                    if not rows_per_group:
                        progress.rows_done(entry["rows_in"])
                    progress.shard_done(entry["findings"])
                    if stream is not None:
                        stream.advance()

                try:
                    _execute(spec, compiled, todo, on_commit, workers=workers, executor=executor,
                             ray_address=ray_address, ray_cpus=ray_cpus_per_task, on_rows=progress.rows_done if rows_per_group else None)
                finally:
                    progress.finish()
                if stream is None:
                    return ScanResult(out, None, None, committed=len(todo), kept=len(kept), redone=redone)
                manifest, summary = stream.finish()
        except BaseException as exc:  # a signal may surface wrapped in a DuckDB or pyarrow error
            if isinstance(exc, KeyboardInterrupt) or signals.received() is not None:
                raise RunInterrupted(done, len(selected), signals.received() or signal.SIGINT) from None
            raise
    return ScanResult(out, manifest, summary, committed=len(todo), kept=len(kept), redone=redone)


def merge_run(out: str | Path) -> ScanResult:
    """``provscan merge OUT``: finish a run whose shards were committed by array-job parts."""
    out = Path(out)
    if not (out / STATE_DIR / "run.json").is_file():
        raise ConfigError(f"{out}: no provscan run to merge here (no {STATE_DIR}/run.json)")
    with OutputDir(out) as outdir:
        state = RunState.load(out)
        if state is None:
            raise ConfigError(f"{out}: the run was started by another provscan version; run the parts again")
        outdir.remove_leftovers(keep=_committed_outputs(out, state))
        with Database(temp_dir=out / STATE_DIR / "tmp" / "merge") as db:
            manifest, summary = merge(out, state, db)
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


ENTRY_FORMAT = 2
"""The shape of a shard's manifest entry; part of the fingerprint, so ``--resume`` and ``merge`` never mix
entries of two shapes under one version number. 2: ``rows_matched`` (any finding) and ``rows_flagged``
(kept with a flag finding) counted apart (issue 20); 1 counted matched rows as ``rows_flagged``."""


def run_fingerprint(config: ScanConfig, compiled: CompiledLists) -> str:
    """What makes two runs' per-shard results interchangeable: version, settings, exact list bytes."""
    settings = config.to_dict()
    for key in ("output", "workers", "source", "release"):  # [release] text changes no row
        settings.pop(key, None)
    lists = [{k: lst[k] for k in ("name", "kind", "action", "sha256", "params")} for lst in compiled.manifest()]
    blob = json.dumps({"version": __version__, "entry": ENTRY_FORMAT, "config": settings, "lists": lists},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _keep_or_reset(outdir: OutputDir, tasks: list[ShardTask], fingerprint: str, *,
                   resume: bool) -> tuple[set[int], dict[str, int]]:
    """With ``resume``, the shards whose commits still hold; otherwise start from nothing."""
    out = outdir.out
    (out / "manifest.json").unlink(missing_ok=True)  # from here on, OUT does not look complete
    kept: set[int] = set()
    keep_files: set[Path] = set()
    redone: Counter[str] = Counter()
    for task in tasks if resume else ():
        found = read_commit(out, task.index)
        why = "not committed" if found is None else still_valid(found, task, fingerprint, out)
        if found is not None and why is None:
            kept.add(task.index)
            if found.entry.get("output"):
                keep_files.add(out / found.entry["output"])
        else:
            redone[str(why)] += 1
    if outdir.part is None:
        outdir.remove_leftovers(keep=keep_files)
        outdir.reset_state(keep_commits=resume)
    for task in tasks:
        if task.index not in kept:
            discard(out, task.index)
    return kept, dict(sorted(redone.items()))


def _committed_outputs(out: Path, state: RunState) -> set[Path]:
    outputs = set()
    for shard in state.shards:
        found = read_commit(out, shard["index"])
        if found is not None and found.entry.get("output"):
            outputs.add(out / found.entry["output"])
    return outputs


def _execute(spec: RunSpec, compiled: CompiledLists, tasks: list[ShardTask], on_commit: Any, *,
             workers: int, executor: str, ray_address: str | None, ray_cpus: int = 1,
             on_rows: Any = None) -> None:
    from provscan.pipeline import executors

    if executor == "ray":
        from provscan.pipeline.ray_exec import run_ray

        run_ray(spec, tasks, on_commit, address=ray_address, cpus_per_task=ray_cpus)
    elif workers > 1:
        executors.run_processes(spec, tasks, workers, on_commit)
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
    cpus = os.cpu_count() or 2
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
