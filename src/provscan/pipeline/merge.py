"""The merge: committed shards -> flagged.parquet, removals, fetch.parquet, summary, manifest (last).

It reads only what the commits and the run's plan (``.provscan/run.json``) hold, in plan order, so
the result is the same bytes whether the shards ran in this process, in workers, on Ray or as
array-job parts (``provscan merge OUT``). A scan streams it (:class:`MergeStream`): each shard is
merged as soon as it and the shards before it are committed, so at 10,000 shards the tail after the
last task is milliseconds per shard, not a serial pass over all of them. The manifest lists every
file under OUT with its SHA-256 and is written last: a directory without one is visibly incomplete.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

from provscan._version import __version__
from provscan.errors import IntegrityError, OutputError, ProvscanError
from provscan.io.atomic import is_temp, write_json
from provscan.io.db import Database
from provscan.io.shards import file_sha256, read_parquet
from provscan.pipeline.manifest_format import MANIFEST_FORMAT
from provscan.pipeline.commit import STATE_DIR, Commit, read_commit
from provscan.pipeline.outdir import output_files, remove_temp_files
from provscan.sinks.attestation import write_release
from provscan.sinks.report import write_reports_then_manifest
from provscan.sinks.flagged import FINDINGS_SCHEMA, FlaggedWriter, ParquetSink, write_removals
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
        return cls(
            data["fingerprint"],
            data["started"],
            data["config"],
            data["lists"],
            data["shards"],
            list(data.get("stages", ())),
        )


def merge(out: Path, state: RunState, db: Database) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write the run's final outputs from its commits at once (``provscan merge OUT``); returns
    (manifest, summary). A scan merges as it goes instead (:class:`MergeStream`)."""
    with MergeStream(out, state, db) as stream:
        stream.advance()
        return stream.finish()


class MergeStream:
    """The merge, done as shards commit: each shard is merged once the shards before it in plan
    order are, so what is left after the last shard commits is that shard and the final files.

    Findings and fetch rows are appended to the open outputs (the same tables in the same order as
    a merge at the end: the same bytes); removals gather in DuckDB (which spills) and are sorted
    once at the end; ``summary`` adds up entry by entry. Used as a context manager: leaving it on an
    error removes the half-written outputs.
    """

    FLUSH_REMOVALS = 1_000_000  # removal hashes held in Arrow before they move into DuckDB
    FLUSH_FINDINGS = 65_536  # findings per row group of flagged.parquet (not one tiny group per shard)

    def __init__(self, out: Path, state: RunState, db: Database) -> None:
        self.out, self.state, self.db = out, state, db
        self.position = 0  # state.shards[:position] are merged
        self.commits: list[Commit] = []
        self._summary = Summary()
        self._removals: list[pa.Array] = []
        self._held = 0
        self._findings: list[pa.Table] = []
        self._findings_held = 0
        self._flagged: FlaggedWriter | None = None
        self._outputs: dict[str, ParquetSink] = {}  # the stages' declared per-shard files, by file name

    def __enter__(self) -> MergeStream:
        with _disk_full_hint(self.out):
            self.db.execute("CREATE OR REPLACE TEMP TABLE merge_removals (h VARCHAR)")
            self._flagged = FlaggedWriter(self.out / "flagged.parquet")
            for output in plan.outputs(self.state.stages):
                self._outputs[output.file] = ParquetSink(self.out / output.file, output.schema)
        return self

    def __exit__(self, *exc: object) -> None:
        for sink in (self._flagged, *self._outputs.values()):  # still open: not finished, nothing half-written stays
            if sink is not None:
                sink.abort()
        self._flagged, self._outputs = None, {}

    def advance(self) -> int:
        """Merge every newly committed shard that is next in plan order; returns how many."""
        merged = 0
        while self.position < len(self.state.shards):
            found = _valid_commit(self.out, self.state, self.state.shards[self.position])
            if found is None:
                break
            with _disk_full_hint(self.out):
                self._add(found)
            self.position += 1
            merged += 1
        return merged

    def _add(self, c: Commit) -> None:
        assert self._flagged is not None, "MergeStream used outside its with block"
        findings = c.findings()
        if findings.num_rows:
            self._findings.append(findings)
            self._findings_held += findings.num_rows
            if self._findings_held >= self.FLUSH_FINDINGS:
                self._flush_findings()
        for file, sink in self._outputs.items():
            table = c.output(file)
            if table is not None:
                sink.write(table)
        removals = read_parquet(c.removals_path).column("h")
        if len(removals):
            self._removals.extend(removals.chunks)
            self._held += len(removals)
            if self._held >= self.FLUSH_REMOVALS:
                self._flush_removals()
        self._summary.add(c.entry, c.summary)
        self.commits.append(c)

    def _flush_findings(self) -> None:
        assert self._flagged is not None, "MergeStream used outside its with block"
        if self._findings:
            self._flagged.write(
                pa.concat_tables([t.select(FINDINGS_SCHEMA.names).cast(FINDINGS_SCHEMA) for t in self._findings])
            )
        self._findings, self._findings_held = [], 0

    def _flush_removals(self) -> None:
        if self._removals:
            self.db.append("merge_removals", pa.table({"h": pa.chunked_array(self._removals, pa.string())}))
        self._removals, self._held = [], 0

    def finish(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Every shard merged: close the outputs, write removals, summary, reports, manifest (last)."""
        self.advance()
        if self.position < len(self.state.shards):
            missing = [
                s["path"] for s in self.state.shards[self.position :] if _valid_commit(self.out, self.state, s) is None
            ]
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise OutputError(
                self.out, f"{len(missing)} of {len(self.state.shards)} shards are not committed yet: {shown}"
            )
        with _disk_full_hint(self.out):
            return self._finish()

    def _finish(self) -> tuple[dict[str, Any], dict[str, Any]]:
        out, state = self.out, self.state
        (out / "manifest.json").unlink(missing_ok=True)
        assert self._flagged is not None, "MergeStream used outside its with block"
        self._flush_findings()
        self._flagged.close()
        for sink in self._outputs.values():
            sink.close()
        self._flagged, self._outputs = None, {}
        for step in plan.steps(state.stages):
            step.load().after_merge(out, self.db)
        self._flush_removals()
        removals = write_removals(
            out / "removals.sha256.txt", self.db.batches("SELECT DISTINCT h FROM merge_removals ORDER BY h")
        )
        self.db.drop("merge_removals")
        summary_data = self._summary.to_dict()
        write_json(out / "summary.json", summary_data)
        entries = [c.entry for c in self.commits]
        manifest = {
            "manifest_format": MANIFEST_FORMAT,  # the layout provscan verify validates (pipeline/manifest_format.py)
            "provscan_version": __version__,
            "url_fast_path": native.status(),  # which canonicalizer served the simple URLs (same results either way)
            "started": state.started,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": state.config,
            "lists": state.lists,
            "shards": entries,
            "totals": {**_totals(entries), "shards": len(entries), "removals": removals},
            **plan.manifest_fields(state.stages),  # e.g. which consent-signal sources ran
        }
        hashed = write_release(
            out, manifest, summary_data
        )  # croissant.json, provenance.intoto.json: before the reports, which name them
        known = {
            e["output"]: e["output_sha256"] for e in entries if e.get("output")
        } | hashed  # digests already computed

        def files() -> dict[str, str]:
            remove_temp_files(out)  # a worker killed mid-write left its .NAME.tmp-PID: never part of the release,
            # and never listed, even if a lost node's worker writes one after this line
            return {
                rel: known.get(rel) or file_sha256(path)
                for path in output_files(out)
                if not is_temp(path.name)
                for rel in [path.relative_to(out).as_posix()]
            }

        return write_reports_then_manifest(out, manifest, summary_data, files=files), summary_data


def _valid_commit(out: Path, state: RunState, shard: dict[str, Any]) -> Commit | None:
    found = read_commit(out, shard["index"])
    if found is None or found.fingerprint != state.fingerprint or found.relative != shard["relative"]:
        return None
    return found


NO_ROOM = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system or the process's file size limit (ulimit -f)",
}
"""Write errors that more room fixes: the merge can then be run again from the commits."""


@contextmanager
def _disk_full_hint(out: Path) -> Iterator[None]:
    """A full disk (or quota, or file size limit) during the merge is one line that says what to do:
    the commits are all kept. pyarrow reports these as ``OSError`` with the errno in its text."""
    try:
        yield
    except (OSError, ProvscanError) as exc:
        text = str(exc)
        code = next(
            (
                c
                for c in NO_ROOM
                if getattr(exc, "errno", None) == c or f"[errno {c}]" in text.lower() or os.strerror(c) in text
            ),
            None,
        )
        if code is not None:
            raise OutputError(
                out,
                f"{NO_ROOM[code]} while merging the committed shards (all kept); make room, "
                f"then run the scan again with --resume, or: provscan merge {shlex.quote(str(out))}",
            ) from None
        raise


def _totals(entries: list[dict[str, Any]]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for entry in entries:
        for key, value in entry.items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] += value
    if totals["rows_in"] != totals["rows_out"] + totals["rows_dropped"]:
        raise IntegrityError("manifest.json: totals do not add up (rows in != rows out + rows dropped); not written")
    return dict(totals)
