"""Per-shard commits: a finished shard's results, on disk as one unit, in ``OUT/.provscan/shards/``.

A shard is *committed* when its ``commit.json`` exists; that file is written last (atomically), after
the cleaned shard, ``findings.parquet``, ``removals.parquet`` and the stages' declared outputs
(``fetch.parquet``...). Before the
cleaned shard is written an ``intent.json`` names it, so a run killed in between still knows that
file is its own (provscan never deletes a file it did not write). ``--resume``, workers, Ray tasks
and array-job parts all rest on this: any process can commit a shard, and the merge reads commits
in plan order, so the final outputs do not depend on who ran what, or when.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from provscan.errors import OutputError
from provscan.io.atomic import write_json, write_parquet
from provscan.io.shards import file_sha256, read_parquet
from provscan.pipeline.shard import ShardOutcome, ShardTask

STATE_DIR = ".provscan"
"""The run's working state under OUT: lock, plan, compiled lists, per-shard commits."""


def shards_dir(out: Path) -> Path:
    return out / STATE_DIR / "shards"


def shard_dir(out: Path, index: int) -> Path:
    return shards_dir(out) / f"{index:06d}"


@dataclass(frozen=True)
class Commit:
    index: int
    directory: Path
    fingerprint: str
    relative: str
    entry: dict[str, Any]
    summary: dict[str, Any]
    outputs: tuple[str, ...]  # the stages' per-shard files in this commit, by file name

    def findings(self) -> pa.Table:
        return read_parquet(self.directory / "findings.parquet")

    def output(self, file: str) -> pa.Table | None:
        """A declared per-shard output (None when this commit has none by that name)."""
        return read_parquet(self.directory / file) if file in self.outputs else None

    @property
    def removals_path(self) -> Path:
        return self.directory / "removals.parquet"


def write_intent(out: Path, task: ShardTask) -> None:
    """Record, before writing it, which cleaned shard this shard's commit will own."""
    write_json(shard_dir(out, task.index) / "intent.json", {"relative": task.shard.relative, "output": task.clean_name})


def commit(out: Path, outcome: ShardOutcome, fingerprint: str) -> Commit:
    """Write the shard's results, then ``commit.json``: from that moment the shard is done."""
    task = outcome.task
    directory = shard_dir(out, task.index)
    (directory / "commit.json").unlink(missing_ok=True)  # an older commit of this index is void from here on
    write_parquet(directory / "findings.parquet", outcome.findings)
    write_parquet(directory / "removals.parquet", pa.table({"h": outcome.removals}))
    for file, table in outcome.outputs.items():
        write_parquet(directory / file, table)
    data = {
        "fingerprint": fingerprint,
        "index": task.index,
        "relative": task.shard.relative,
        "entry": outcome.entry,
        "summary": outcome.summary,
        "outputs": sorted(outcome.outputs),
    }
    write_json(directory / "commit.json", data)
    return _from_json(directory, data)


def read_commit(out: Path, index: int) -> Commit | None:
    directory = shard_dir(out, index)
    try:
        data = json.loads((directory / "commit.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return _from_json(directory, data)


def still_valid(commit: Commit, task: ShardTask, fingerprint: str, out: Path) -> str | None:
    """Why a commit cannot be kept for ``task`` (None when it can): same run settings, same input
    bytes, and the cleaned shard on disk still the one committed."""
    if commit.fingerprint != fingerprint:
        return "lists or config changed"
    if commit.relative != task.shard.relative or commit.entry.get("path") != task.shard.given:
        return "a different shard"
    if file_sha256(task.shard.path) != commit.entry.get("sha256"):
        return "input changed"
    output = commit.entry.get("output")
    if output is not None:
        path = confined(out, output, commit.directory / "commit.json", "entry.output")
        if not path.is_file() or file_sha256(path) != commit.entry.get("output_sha256"):
            return "cleaned shard missing or changed"
    return None


def owned_outputs(out: Path) -> set[Path]:
    """Cleaned shards that commits or intents under OUT name: files an earlier run wrote."""
    owned: set[Path] = set()
    root = shards_dir(out)
    if not root.is_dir():
        return owned
    for name, key in (("intent.json", "output"), ("commit.json", "entry.output")):
        for marker in root.glob(f"*/{name}"):
            try:
                data = json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            entry = data.get("entry") if name == "commit.json" and isinstance(data, dict) else data
            output = entry.get("output") if isinstance(entry, dict) else None
            if output is not None:
                owned.add(confined(out, output, marker, key))
    return owned


def confined(out: Path, value: object, source: Path, entry: str) -> Path:
    """``OUT / value`` for a path read from one of OUT's own files (``source``, at ``entry``): only a
    relative path without ``..`` that resolves, links followed, inside OUT; else the run stops."""
    if isinstance(value, str) and value and "\x00" not in value:
        rel = PurePosixPath(value)
        if not rel.is_absolute() and ".." not in rel.parts:
            path = out / rel
            base = out.resolve()
            resolved = path.resolve()
            if resolved != base and resolved.is_relative_to(base):
                return path
    raise OutputError(
        source,
        f"{entry} {value!r} names a path outside the output directory {out}: refusing to run (nothing was changed)",
    )


def discard(out: Path, index: int) -> None:
    shutil.rmtree(shard_dir(out, index), ignore_errors=True)


def _from_json(directory: Path, data: dict[str, Any]) -> Commit:
    return Commit(
        index=int(data["index"]),
        directory=directory,
        fingerprint=data["fingerprint"],
        relative=data["relative"],
        entry=data["entry"],
        summary=data["summary"],
        # names only: a file is read when the run's plan declares it (Commit.output), never by this list alone
        outputs=tuple(f for f in data.get("outputs", ()) if isinstance(f, str)),
    )
