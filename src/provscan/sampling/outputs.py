"""The documents of a sample run: estimates.json, summary.json and manifest.json."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from provscan._version import __version__
from provscan.config import ScanConfig
from provscan.consent.policy import AI_GENERATED_SIGNALS
from provscan.io.shards import file_sha256
from provscan.sampling.estimate import CONFIDENCE, estimate_all
from provscan.sampling.plan import Plan

WORK_DIR = ".provscan"


def estimates_doc(
    plan: Plan,
    findings: pa.Table,
    licences: pa.Table,
    fetched: pa.Table | None,
    sample: pa.Table,
    described: list[dict[str, Any]],
) -> dict[str, Any]:
    def labels(dimension: str, table: pa.Table, column: str) -> pa.Table:
        return pa.table(
            {
                "i": table.column("sample_row").cast(pa.int64()),
                "d": pa.repeat(pa.scalar(dimension), table.num_rows),
                "v": table.column(column).cast(pa.string()),
            }
        )

    parts = [labels(d, findings, d) for d in ("list", "kind", "action")]
    parts.append(labels("consent", findings.filter(pc.equal(findings.column("kind"), "consent")), "entry"))
    parts.append(labels("license", licences, "entry"))
    if fetched is not None:
        parts.append(labels("fetch_status", fetched, "status"))
        parts.append(labels("ai_generated", _ai_generated(fetched), "signal"))
    population = plan.frame.rows
    found = estimate_all(
        pa.concat_tables(parts),
        mode=plan.mode,
        sampled_rows=plan.rows,
        population_rows=population,
        cluster=plan.cluster,
        cluster_rows=plan.cluster_rows,
        population_clusters=plan.frame.row_groups,
    )
    return {
        "mode": plan.mode,
        "seed": plan.seed,
        "confidence": CONFIDENCE,
        "population_rows": population,
        "sampled_rows": plan.rows,
        "sampled_row_groups": plan.clusters,
        "population_row_groups": plan.frame.row_groups,
        "sources": [
            {k: d[k] for k in ("source", "size", "etag", "last_modified", "rows", "row_groups", "bytes_read")}
            for d in described
        ],
        "bytes_read": sum(d["bytes_read"] for d in described),
        "estimates": found,
    }


def _ai_generated(fetched: pa.Table) -> pa.Table:
    """``(sample_row, signal)`` for each image whose metadata says a model made it, whatever ``[consent]
    ai_generated`` does with it (``keep`` leaves no finding; the share is still worth estimating)."""
    if "signals" not in fetched.column_names:
        return pa.table({"sample_row": pa.array([], pa.int64()), "signal": pa.array([], pa.string())})
    signals = fetched.column("signals").combine_chunks()
    flat = pc.list_flatten(signals)
    rows = pc.take(fetched.column("sample_row"), pc.list_parent_indices(signals))
    keep = pc.is_in(flat, pa.array(AI_GENERATED_SIGNALS, pa.string()))
    return pa.table({"sample_row": pc.filter(rows, keep), "signal": pc.filter(flat, keep)})


def summary_doc(
    plan: Plan, findings: pa.Table, inner: dict[str, Any], described: list[dict[str, Any]]
) -> dict[str, Any]:
    """Counts over the sampled rows (not estimates): scan's summary.json shape, per source."""
    data = findings.select(["shard", "sample_row", "list", "kind", "action"]).to_pydict()
    by = {k: {} for k in ("list", "kind", "action")}  # type: dict[str, dict[str, int]]
    for key in by:
        for v in data[key]:
            by[key][v] = by[key].get(v, 0) + 1
    rows_by_list: dict[str, int] = {}
    for lst, _ in set(zip(data["list"], data["sample_row"])):
        rows_by_list[lst] = rows_by_list.get(lst, 0) + 1
    flagged_rows: dict[str, set[int]] = {}
    for shard, row, action in zip(data["shard"], data["sample_row"], data["action"]):
        flagged_rows.setdefault(shard, set()).add(row)
    extra = {
        k: v
        for k, v in inner.items()
        if k
        not in (
            "findings_by_list",
            "rows_by_list",
            "findings_by_kind",
            "findings_by_action",
            "shards",
            "top_matched_domains",
        )
    }
    return {
        "mode": plan.mode,
        "seed": plan.seed,
        "population_rows": plan.frame.rows,
        "sampled_rows": plan.rows,
        "findings_by_list": dict(sorted(by["list"].items())),
        "rows_by_list": dict(sorted(rows_by_list.items())),
        "findings_by_kind": dict(sorted(by["kind"].items())),
        "findings_by_action": dict(sorted(by["action"].items())),
        "sources": {
            d["source"]: {
                "rows": d["rows"],
                "sampled_rows": d["sampled_rows"],
                "sampled_rows_matched": len(flagged_rows.get(d["source"], ())),
            }
            for d in described
        },
        **extra,
    }


def manifest_doc(
    out: Path,
    config: ScanConfig,
    inner: dict[str, Any],
    plan: Plan,
    described: list[dict[str, Any]],
    estimates: dict[str, Any],
    started: datetime,
    allow_full_download: bool,
) -> dict[str, Any]:
    """manifest.json without its file list (:func:`sample_files`, added once the reports are written)."""
    return {
        "provscan_version": __version__,
        "command": "sample",
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": plan.mode,
        "seed": plan.seed,
        "allow_full_download": allow_full_download,
        "config": {**config.to_dict(), "output": str(out)},
        "lists": inner.get("lists", []),
        "consent_sources": inner.get("consent_sources"),
        "sources": described,
        "bytes_read": estimates["bytes_read"],
        "totals": {
            "population_rows": plan.frame.rows,
            "population_row_groups": plan.frame.row_groups,
            "sampled_rows": plan.rows,
            "sampled_row_groups": estimates["sampled_row_groups"],
            "sources": len(described),
        },
    }


def sample_files(out: Path) -> dict[str, str]:
    """Every file of a sample's OUT with its SHA-256: not the manifest, the cache, the working folder or dot-files."""
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel == "manifest.json" or rel.split("/")[0] in ("cache", WORK_DIR) or path.name.startswith("."):
            continue
        files[rel] = file_sha256(path)
    return files
