"""A scanning session: one process's DuckDB, the run's lists installed in it, and the stage list.

The driver runs one session in-process; each worker process and each Ray worker builds its own from
a :class:`RunSpec` (picklable) and the run's compiled lists on disk. Which stages a run has, and in
which order, is :mod:`provscan.stages.plan`'s to say.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provscan.config import ScanConfig
from provscan.io.db import DEFAULT_MEMORY_LIMIT, Database
from provscan.lists.compiled import CompiledLists, install
from provscan.pipeline.commit import STATE_DIR, commit, write_intent
from provscan.pipeline.shard import ShardOutcome, ShardTask, export_shard, match_shard, new_context
from provscan.pipeline import lifeline, onepass
from provscan.stages import plan


@dataclass(frozen=True)
class RunSpec:
    """What any process needs to scan shards of this run and commit them."""

    out: Path
    config: ScanConfig
    fingerprint: str  # of the config and lists: a commit made under another fingerprint is stale
    threads: int | None = None  # DuckDB threads for this process (the driver divides among workers)
    memory_limit: str = DEFAULT_MEMORY_LIMIT


class Session:
    def __init__(self, spec: RunSpec, lists: CompiledLists) -> None:
        self.spec = spec
        # PROVSCAN_ONE_PASS=0 forces the general path: for comparisons (tests, benchmarks), same outputs
        self.one_pass = os.environ.get("PROVSCAN_ONE_PASS", "1") != "0"
        self.db = Database(
            threads=spec.threads,
            memory_limit=spec.memory_limit,
            temp_dir=spec.out / STATE_DIR / "tmp" / str(os.getpid()),
        )
        try:
            install(self.db, lists)
            self.stages = plan.build(self.db, lists, spec.config, spec.out)
        except BaseException:
            self.db.close()
            raise

    def match(self, task: ShardTask, on_rows: Callable[[int], None] | None = None) -> ShardOutcome:
        """Match the shard; in one pass, matched and exported, when the plan and its columns allow."""
        redact = self.spec.config.redact_urls
        ctx = new_context(self.db, self.stages, task)
        keys = onepass.keys_for(self.stages, task) if self.one_pass else None
        if keys is not None:
            if self.spec.config.export:
                write_intent(self.spec.out, task)
            outcome = onepass.scan_shard(
                self.db,
                self.stages,
                task,
                ctx,
                keys,
                out=self.spec.out,
                export=self.spec.config.export,
                redact=redact,
                on_rows=on_rows,
            )
            if outcome is not None:
                return outcome
            ctx = new_context(self.db, self.stages, task)
        return match_shard(self.db, self.stages, task, ctx, redact=redact)

    def close(self, ok: bool) -> None:
        try:
            for stage in self.stages:
                stage.close(ok)
        finally:
            self.db.close()


def finish(spec: RunSpec, outcome: ShardOutcome, on_rows: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Export and commit a matched shard (pyarrow and files only: safe beside the next match)."""
    if spec.config.export:
        write_intent(spec.out, outcome.task)
    export_shard(outcome, spec.out, export=spec.config.export, on_rows=on_rows)
    lifeline.exit_if_orphaned()  # a worker whose run was killed commits nothing more
    commit(spec.out, outcome, spec.fingerprint)
    return outcome.entry


def run_task(session: Session, task: ShardTask) -> dict[str, Any]:
    """One shard start to commit, in this process: what workers and Ray tasks run."""
    return finish(session.spec, session.match(task))
