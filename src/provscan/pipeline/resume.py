"""Which commits a run keeps: the run's fingerprint, and the ``--resume`` / ``merge`` rule built on it.

A commit is reused only when the shard's bytes, the settings that change rows and the exact list bytes
are what they were (:func:`run_fingerprint`, :func:`provscan.pipeline.commit.still_valid`); every path a
commit names is confined to OUT before it is kept or deleted.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from provscan._version import __version__
from provscan.config import ScanConfig
from provscan.lists.compiled import CompiledLists
from provscan.pipeline.commit import confined, discard, read_commit, still_valid
from provscan.pipeline.merge import RunState
from provscan.pipeline.outdir import OutputDir
from provscan.pipeline.shard import ShardTask


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
    blob = json.dumps(
        {"version": __version__, "entry": ENTRY_FORMAT, "config": settings, "lists": lists}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def keep_or_reset(
    outdir: OutputDir, tasks: list[ShardTask], fingerprint: str, *, resume: bool
) -> tuple[set[int], dict[str, int]]:
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
            if found.entry.get("output") is not None:
                keep_files.add(confined(out, found.entry["output"], found.directory / "commit.json", "entry.output"))
        else:
            redone[str(why)] += 1
    if outdir.part is None:
        outdir.remove_leftovers(keep=keep_files)
        outdir.reset_state(keep_commits=resume)
    for task in tasks:
        if task.index not in kept:
            discard(out, task.index)
    return kept, dict(sorted(redone.items()))


def committed_outputs(out: Path, state: RunState) -> set[Path]:
    outputs = set()
    for shard in state.shards:
        found = read_commit(out, shard["index"])
        if found is not None and found.entry.get("output") is not None:
            outputs.add(confined(out, found.entry["output"], found.directory / "commit.json", "entry.output"))
    return outputs
