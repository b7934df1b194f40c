"""A scanning session: one process's DuckDB, the run's lists installed in it, and the stage list.

The driver runs one session in-process; each worker process and each Ray worker builds its own from
a :class:`RunSpec` (picklable) and the run's compiled lists on disk. :func:`build_stages` is the one
place that decides which stages a run has, and in which order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provscan.config import ScanConfig
from provscan.io.db import DEFAULT_MEMORY_LIMIT, Database
from provscan.lists.compiled import TABLES, CompiledLists, install
from provscan.pipeline.commit import STATE_DIR, commit, write_intent
from provscan.pipeline.shard import ShardOutcome, ShardTask, export_shard, match_shard
from provscan.pipeline.stage import ShardContext, Stage, check_order


@dataclass(frozen=True)
class RunSpec:
    """What any process needs to scan shards of this run and commit them."""

    out: Path
    config: ScanConfig
    fingerprint: str  # of the config and lists: a commit made under another fingerprint is stale
    threads: int | None = None  # DuckDB threads for this process (the driver divides among workers)
    memory_limit: str = DEFAULT_MEMORY_LIMIT


def build_stages(db: Database, lists: CompiledLists, config: ScanConfig, out: Path) -> list[Stage]:
    """The stages this run needs, in order: URL lists first (a row they drop is never fetched),
    licences, image hashes from columns and local files, fetches, consent, then image matching."""
    from provscan.stages.license import LicenseStage
    from provscan.stages.url import UrlStage

    stages: list[Stage] = []
    url = UrlStage(lists)
    if url.needed:
        stages.append(url)
    if any(lst.action == "allow" for lst in lists.lists):
        from provscan.stages.allow import AllowStage

        stages.append(AllowStage())  # right after the URL lists: allowed rows are still fetched and checked
    stages.append(LicenseStage(config, lists))
    from provscan.stages.image import image_kinds  # PIL/imagehash: imported only by runs that need them

    kinds = image_kinds(lists)
    if kinds or config.fetch:
        from provscan.stages.image import ImageHashesStage, ImageMatchStage

        stages.append(ImageHashesStage(db, lists, config))
        if config.fetch:
            from provscan.stages.fetch import FetchStage

            # With --workers the run is already one process per core: fetch in-process there.
            processes = 2 if config.workers == 1 and (os.cpu_count() or 1) >= 2 else 1
            stages.append(FetchStage(lists, config, kinds, cache_dir=out / "cache", processes=processes))
    if config.consent.check:
        from provscan.stages.consent import ConsentStage

        stages.append(ConsentStage(lists, config))
    if kinds or config.fetch:
        stages.append(ImageMatchStage(lists))
    check_order(stages, TABLES)
    return stages


class Session:
    def __init__(self, spec: RunSpec, lists: CompiledLists) -> None:
        self.spec = spec
        self.db = Database(threads=spec.threads, memory_limit=spec.memory_limit,
                           temp_dir=spec.out / STATE_DIR / "tmp" / str(os.getpid()))
        try:
            install(self.db, lists)
            self.stages = build_stages(self.db, lists, spec.config, spec.out)
        except BaseException:
            self.db.close()
            raise

    def match(self, task: ShardTask) -> ShardOutcome:
        ctx = ShardContext(self.db, task.shard, task.columns, self.spec.config)
        return match_shard(self.db, self.stages, task, ctx)

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
    commit(spec.out, outcome, spec.fingerprint)
    return outcome.entry


def run_task(session: Session, task: ShardTask) -> dict[str, Any]:
    """One shard start to commit, in this process: what workers and Ray tasks run."""
    return finish(session.spec, session.match(task))
