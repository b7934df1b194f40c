"""report.html and datacard.md: render a finished (or finishing) OUT for people.

:func:`write_reports_then_manifest` is the last step of ``scan``, ``provscan merge`` and ``sample``:
the reports, then the file list (which includes them), then manifest.json. ``provscan report OUT``
re-renders through :func:`provscan.pipeline.rerender.regenerate`
(under OUT's checks, which live a floor above). Rendering reads only the manifest (without its ``files`` section), the summary,
the estimates and a few columns of flagged.parquet, so regenerating a finished OUT reproduces the
bytes its manifest recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provscan.errors import OutputError
from provscan.io.atomic import write_json, write_text
from provscan.io.shards import read_parquet
from provscan.kinds import PERCEPTUAL_KINDS
from provscan.sinks.findings import read_findings
from provscan.sinks.manifest import ListInfo, Manifest

REPORT, DATACARD = "report.html", "datacard.md"
RELEASE_FILES = ("croissant.json", "provenance.intoto.json")  # sinks/croissant.py, sinks/attestation.py
FINDINGS_SHOWN = 1000
"""Findings listed in report.html's searchable table (``provscan show`` prints them all)."""


@dataclass(frozen=True)
class Extras:
    """What the pages need beyond manifest and summary, read from OUT."""

    distances: dict[str, dict[int, int]] = field(default_factory=dict)  # perceptual list -> distance -> matches
    max_distance: dict[str, int] = field(default_factory=dict)  # perceptual list -> its threshold
    dropped: dict[str, tuple[str, int]] = field(default_factory=dict)  # list -> (kind, rows it dropped)
    removals_sha256: str | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)  # the first FINDINGS_SHOWN of flagged.parquet
    findings_total: int = 0  # findings in flagged.parquet
    release: tuple[
        str, ...
    ] = ()  # croissant.json, provenance.intoto.json: those OUT holds (written before the reports)


def write_reports(
    out: Path,
    manifest: dict[str, Any],
    summary: dict[str, Any],
    estimates: dict[str, Any] | None = None,
    *,
    report: Path | None = None,
    datacard: bool = True,
) -> list[Path]:
    """Write report.html (``report`` or OUT/report.html) and, with ``datacard``, datacard.md beside
    it, atomically."""
    from provscan.sinks.datacard import render_datacard
    from provscan.sinks.html import render_html

    out = Path(out)
    manifest = {k: v for k, v in manifest.items() if k != "files"}
    extras = read_extras(out, manifest, summary)
    html_path = Path(report) if report is not None else out / REPORT
    card_path = html_path.with_name(DATACARD)
    write_text(html_path, render_html(manifest, summary, extras, estimates))
    if not datacard:
        return [html_path]
    write_text(card_path, render_datacard(manifest, summary, extras, estimates))
    return [html_path, card_path]


def write_reports_then_manifest(
    out: Path,
    manifest: dict[str, Any],
    summary: dict[str, Any],
    estimates: dict[str, Any] | None = None,
    *,
    files: Callable[[], dict[str, str]],
) -> dict[str, Any]:
    """A run's last step: report.html and datacard.md from the manifest, then ``files()`` (every file
    of the release with its SHA-256, the reports included), then manifest.json, last, so an OUT
    without one is visibly unfinished. Returns the manifest as written."""
    write_reports(out, manifest, summary, estimates)
    manifest = {**manifest, "files": files()}
    write_json(Path(out) / "manifest.json", manifest)
    return manifest


def read_documents(out: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """(manifest, summary, estimates) of a finished OUT; no manifest.json is an error naming it."""
    manifest = _load(out, "manifest.json", required=True)
    estimates = _load(out, "estimates.json", required=False)
    summary = _load(out, "summary.json", required=estimates is None) or {}  # a sample OUT may have none
    return manifest, summary, estimates


def differs_from_manifest(out: Path) -> list[str]:
    """The report files whose bytes no longer match the SHA-256 manifest.json lists for them (a re-render
    by another provscan version changes them, and ``provscan verify`` would then report them)."""
    files = _load(Path(out), "manifest.json", required=True).get("files") or {}
    return [
        name
        for name in (REPORT, DATACARD)
        if name in files and (not (Path(out) / name).is_file() or _sha256(Path(out) / name) != files[name])
    ]


def _load(out: Path, name: str, *, required: bool) -> Any:
    path = out / name
    if not path.is_file():
        if not required:
            return None
        if not out.is_dir():
            raise OutputError(out, "no such output directory")
        raise OutputError(
            path, "missing: not a finished provscan output (interrupted or still running); no report written"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OutputError(path, f"cannot read: {exc}") from exc


def read_extras(out: Path, manifest: dict[str, Any], summary: dict[str, Any]) -> Extras:
    """Distances and per-policy dropped rows from flagged.parquet; the removal list's SHA-256.

    A list has one action, so the rows a drop list removed are its ``rows_by_list`` in the summary;
    only policies (licences, consent), whose action depends on the row, are counted from flagged.parquet.
    """
    lists = Manifest.read(manifest).lists
    perceptual = {lst.name: lst for lst in lists if lst.kind in PERCEPTUAL_KINDS}
    max_distance = {name: _max_distance(lst) for name, lst in sorted(perceptual.items())}
    rows_by_list = summary.get("rows_by_list") or {}
    dropped = {
        lst.name: (lst.kind, int(rows_by_list[lst.name]))
        for lst in lists
        if lst.action == "drop" and rows_by_list.get(lst.name)
    }
    flagged = out / "flagged.parquet"
    distances = {}
    findings: list[dict[str, Any]] = []
    total = 0
    if flagged.is_file():
        try:
            if perceptual:
                distances = _distances(flagged)
            dropped.update(_dropped(flagged, exclude=[lst.name for lst in lists]))
        except (OSError, pa.ArrowException) as exc:
            raise OutputError(flagged, f"cannot read: {exc}") from exc
        first = read_findings(out, limit=FINDINGS_SHOWN, count_rows=False)
        findings, total = (
            first.table.select(["shard", "row", "url", "url_sha256", "list", "kind", "entry", "action"]).to_pylist(),
            first.total,
        )
    dropped = dict(sorted(dropped.items()))
    removals = out / "removals.sha256.txt"
    release = tuple(name for name in RELEASE_FILES if (out / name).is_file())
    return Extras(
        distances, max_distance, dropped, _sha256(removals) if removals.is_file() else None, findings, total, release
    )


def _max_distance(lst: ListInfo) -> int:
    value = lst.params.get("max_distance")
    if value is not None:
        return int(value)
    from provscan.images.hashing import DEFAULT_MAX_DISTANCE  # the default the image stage applied

    return DEFAULT_MAX_DISTANCE[lst.kind]


def _distances(flagged: Path) -> dict[str, dict[int, int]]:
    """Matches per (list, distance), streamed in batches: two narrow columns, bounded memory."""
    counts: Counter[tuple[str, int]] = Counter()
    for batch in pq.ParquetFile(flagged).iter_batches(columns=["list", "distance"], batch_size=1 << 17):
        table = pa.Table.from_batches([batch])
        table = table.filter(pc.is_valid(table.column("distance")))
        if table.num_rows:
            grouped = table.group_by(["list", "distance"]).aggregate([([], "count_all")]).to_pydict()
            counts.update(
                {(lst, int(d)): n for lst, d, n in zip(grouped["list"], grouped["distance"], grouped["count_all"])}
            )
    result: dict[str, dict[int, int]] = {}
    for (lst, d), n in sorted(counts.items()):
        result.setdefault(lst, {})[d] = n
    return result


def _dropped(flagged: Path, exclude: list[str]) -> dict[str, tuple[str, int]]:
    """Rows each policy dropped: distinct (shard, row) among its drop findings (lists in ``exclude`` skipped)."""
    table = read_parquet(flagged, columns=["shard", "row", "list", "kind", "action"])
    keep = pc.equal(table.column("action"), "drop")
    if exclude:
        keep = pc.and_(keep, pc.invert(pc.is_in(table.column("list"), value_set=pa.array(exclude, pa.string()))))
    table = table.filter(keep)
    if not table.num_rows:
        return {}
    distinct = table.group_by(["list", "kind", "shard", "row"]).aggregate([])
    per = distinct.group_by(["list", "kind"]).aggregate([([], "count_all")]).to_pydict()
    kinds: dict[str, list[str]] = {}
    rows: Counter[str] = Counter()
    for lst, kind, n in zip(per["list"], per["kind"], per["count_all"]):
        kinds.setdefault(lst, []).append(kind)
        rows[lst] += n  # every list (and each policy) reports under one kind, so this sums nothing twice
    return {lst: ("/".join(sorted(kinds[lst])), rows[lst]) for lst in sorted(rows)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
