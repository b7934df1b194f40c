"""The merge: committed shards -> flagged.parquet, removals, fetch.parquet, summary, manifest (last).

It reads only what the commits and the run's plan (``.provscan/run.json``) hold, in plan order, so
the result is the same bytes whether the shards ran in this process, in workers, on Ray or as
array-job parts (``provscan merge OUT``). The manifest lists every file under OUT with its SHA-256
and is written last: a directory without one is visibly incomplete.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from provscan._version import __version__
from provscan.errors import IntegrityError, OutputError
from provscan.io.atomic import write_json
from provscan.io.db import Database, sql_literal
from provscan.io.shards import file_sha256
from provscan.pipeline.commit import STATE_DIR, Commit, read_commit
from provscan.pipeline.outdir import output_files
from provscan.sinks.report import write_reports
from provscan.sinks.flagged import FlaggedWriter, ParquetSink, write_removals
from provscan.sinks.summary import Summary
from provscan.stages import plan
from provscan.urls import native


@dataclass(frozen=True)
class RunState:
    """The run's plan and settings, as ``.provscan/run.json``: what a later ``merge`` needs."""

    fingerprint: str
    started: str
    config: dict[str, Any]
    lists: list[dict[str, Any]]
    shards: list[dict[str, Any]]  # {index, path, relative}: the plan, in merge order
    stages: list[str]  # the stage plan's names, in order: which per-shard outputs the merge collects

    def save(self, out: Path) -> None:
        write_json(out / STATE_DIR / "run.json", {"provscan_version": __version__, **self.__dict__})

    @classmethod
    def load(cls, out: Path) -> RunState | None:
        try:
            data = json.loads((out / STATE_DIR / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("provscan_version") != __version__:
            return None
        return cls(data["fingerprint"], data["started"], data["config"], data["lists"], data["shards"],
                   list(data.get("stages", ())))


def committed(out: Path, state: RunState) -> tuple[list[Commit], list[str]]:
    """The plan's commits made under this run's fingerprint, and the shards still missing."""
    commits, missing = [], []
    for shard in state.shards:
        found = read_commit(out, shard["index"])
        if found is None or found.fingerprint != state.fingerprint or found.relative != shard["relative"]:
            missing.append(shard["path"])
        else:
            commits.append(found)
    return commits, missing


def merge(out: Path, state: RunState, db: Database) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write the run's final outputs from its commits; returns (manifest, summary)."""
    commits, missing = committed(out, state)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise OutputError(out, f"{len(missing)} of {len(state.shards)} shards are not committed yet: {shown}")
    (out / "manifest.json").unlink(missing_ok=True)
    with FlaggedWriter(out / "flagged.parquet") as flagged:
        for c in commits:
            flagged.write(c.findings())
    for output in plan.outputs(state.stages):
        with ParquetSink(out / output.file, output.schema) as sink:
            for c in commits:
                table = c.output(output.file)
                if table is not None:
                    sink.write(table)
    for step in plan.steps(state.stages):
        step.load().after_merge(out, db)
    files = ", ".join(sql_literal(str(c.removals_path)) for c in commits)
    query = f"SELECT DISTINCT h FROM read_parquet([{files}]) ORDER BY h" if commits else "SELECT NULL::VARCHAR AS h WHERE false"
    removals = write_removals(out / "removals.sha256.txt", db.batches(query))
    summary = Summary()
    for c in commits:
        summary.add(c.entry, c.summary)
    summary_data = summary.to_dict()
    write_json(out / "summary.json", summary_data)
    entries = [c.entry for c in commits]
    manifest = {
        "provscan_version": __version__,
        "url_fast_path": native.status(),  # which canonicalizer served the simple URLs (same results either way)
        "started": state.started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": state.config,
        "lists": state.lists,
        "shards": entries,
        "totals": {**_totals(entries), "shards": len(entries), "removals": removals},
    }
    write_reports(out, manifest, summary_data)  # report.html, datacard.md: listed in the manifest below
    known = {e["output"]: e["output_sha256"] for e in entries if e.get("output")}
    manifest["files"] = {
        rel: known.get(rel) or file_sha256(path)
        for path in output_files(out) for rel in [path.relative_to(out).as_posix()]
    }
    write_json(out / "manifest.json", manifest)
    return manifest, summary_data


def _totals(entries: list[dict[str, Any]]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for entry in entries:
        for key, value in entry.items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] += value
    if totals["rows_in"] != totals["rows_out"] + totals["rows_dropped"]:
        raise IntegrityError("manifest.json: totals do not add up (rows in != rows out + rows dropped); not written")
    return dict(totals)
