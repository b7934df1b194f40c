"""``provscan diff OLD_OUT NEW_OUT``: which rows a list update, a policy change or a new release moved.

What a maintainer runs before publishing a list update and an auditor runs on two releases: rows newly
dropped, no longer dropped, dropped (or flagged) for other reasons, per list, kind and shard. Both
OUTs are untrusted: only their ``manifest.json`` and ``flagged.parquet`` are read, each refused if it
resolves outside its OUT, and no path recorded inside them is followed. Rows are matched by (shard,
row) when both runs scanned the same inputs (same paths, same SHA-256); two runs over different inputs
are refused unless ``inputs_may_differ``, and then matched by ``url_sha256`` (a URL is one row, its
most severe outcome). The work is DuckDB over the two flagged files: no Python loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from provscan.errors import InputError, OutputError, ProvscanError
from provscan.io.atomic import write_json
from provscan.io.db import Database, sql_literal
from provscan.sinks.attestation import inside, read_document

DIFF_PARQUET, DIFF_JSON, DIFF_HTML = "diff.parquet", "diff.json", "diff.html"
CHANGES = (
    "newly dropped",
    "no longer dropped",
    "drop reason changed",
    "newly flagged",
    "no longer flagged",
    "flag reason changed",
    "allowlist changed",
)
SHOWN = 200  # changed rows listed in diff.html (all of them are in diff.parquet)


@dataclass
class Diff:
    old: Path
    new: Path
    by: str  # "shard, row" or "url_sha256"
    changes: dict[str, int] = field(default_factory=dict)  # change -> rows
    by_list: list[dict[str, Any]] = field(default_factory=list)  # {list, kind, change, rows}
    by_shard: list[dict[str, Any]] = field(default_factory=list)  # {shard, change, rows}
    first: list[dict[str, Any]] = field(default_factory=list)  # the first SHOWN changed rows
    inputs: dict[str, int] = field(default_factory=dict)  # shards only in old, only in new, changed, same

    @property
    def rows(self) -> int:
        return sum(self.changes.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": str(self.old),
            "new": str(self.new),
            "matched_by": self.by,
            "rows_changed": self.rows,
            "changes": self.changes,
            "inputs": self.inputs,
            "by_list": self.by_list,
            "by_shard": self.by_shard,
        }


def _manifest(out: Path) -> dict[str, Any]:
    if not Path(out).is_dir():
        raise InputError(out, "no such output directory")
    data = read_document(out, "manifest.json")
    if data is None:
        raise InputError(Path(out) / "manifest.json", "no manifest: not the output of a finished provscan run")
    shards = data.get("shards")
    if not isinstance(shards, list) or not all(isinstance(e, dict) for e in shards):
        raise InputError(Path(out) / "manifest.json", "not a provscan manifest (no shards list)")
    return data


def _flagged(out: Path) -> Path:
    path = Path(out) / "flagged.parquet"
    if not inside(out, "flagged.parquet") or not path.is_file():
        raise InputError(path, "missing, or outside the output directory: nothing to compare")
    return path


def compare_inputs(old: dict[str, Any], new: dict[str, Any]) -> dict[str, int]:
    """Shards only in OLD, only in NEW, with the same path but other bytes, and the same (path, SHA-256)."""
    a = {str(e.get("path")): e.get("sha256") for e in old["shards"]}
    b = {str(e.get("path")): e.get("sha256") for e in new["shards"]}
    both = a.keys() & b.keys()
    return {
        "only_old": len(a.keys() - b.keys()),
        "only_new": len(b.keys() - a.keys()),
        "changed": sum(a[p] != b[p] for p in both),
        "same": sum(a[p] == b[p] for p in both),
    }


def _rows_sql(path: Path, key: str) -> str:
    """One row per key: where it is, its URL hash, and the lists that dropped, flagged and allowed it."""
    return f"""SELECT {key} AS k, min(shard) AS shard, min("row") AS "row", min(url_sha256) AS url_sha256,
        list_sort(list_distinct(list("list") FILTER (WHERE action = 'drop'))) AS drops,
        list_sort(list_distinct(list("list") FILTER (WHERE action = 'flag'))) AS flags,
        list_sort(list_distinct(list("list") FILTER (WHERE action = 'allow'))) AS allows
        FROM read_parquet({sql_literal(str(path))}) GROUP BY k"""


def _outcome(drops: str, flags: str, allows: str) -> str:
    """A row's outcome in one run: dropped, else flagged, else allowed, else kept (no finding)."""
    return f"CASE WHEN len({drops}) > 0 THEN 'drop' WHEN len({flags}) > 0 THEN 'flag' WHEN len({allows}) > 0 THEN 'allow' ELSE 'kept' END"


def diff_runs(old: Path, new: Path, out: Path | None = None, *, inputs_may_differ: bool = False) -> Diff:
    """Compare two finished OUTs; write diff.parquet and diff.json under ``out`` when given."""
    old, new = Path(old), Path(new)
    m_old, m_new = _manifest(old), _manifest(new)
    inputs = compare_inputs(m_old, m_new)
    same = inputs["only_old"] == inputs["only_new"] == inputs["changed"] == 0
    if not same and not inputs_may_differ:
        raise InputError(
            new,
            f"scanned other inputs than {old} ({inputs['only_old']} shards only in OLD, {inputs['only_new']} only "
            f"in NEW, {inputs['changed']} changed); pass --inputs-may-differ to match rows by url_sha256",
        )
    if out is not None:
        for run in (old, new):
            if Path(out).resolve() == run.resolve() or run.resolve() in Path(out).resolve().parents:
                raise OutputError(out, f"is inside {run}: a diff written there would break that release's manifest")
    key = (
        "shard || '#' || CAST(\"row\" AS VARCHAR)"
        if same
        else "coalesce(url_sha256, shard || '#' || CAST(\"row\" AS VARCHAR))"
    )
    result = Diff(old, new, "shard, row" if same else "url_sha256", inputs=inputs)
    f_old, f_new = _flagged(old), _flagged(new)
    with Database(threads=2) as db:
        for name, path in (("d_old", f_old), ("d_new", f_new)):
            try:
                db.execute(f"CREATE TEMP TABLE {name} AS {_rows_sql(path, key)}", reading=path)
            except ProvscanError as exc:  # not parquet, or without the findings columns
                raise InputError(path, f"not a provscan flagged.parquet ({getattr(exc, 'reason', exc)})") from None
        empty = "CAST([] AS VARCHAR[])"
        db.execute(f"""CREATE TEMP TABLE d_rows AS
            WITH j AS (SELECT coalesce(n.shard, o.shard) AS shard, coalesce(n."row", o."row") AS "row",
                              coalesce(n.url_sha256, o.url_sha256) AS url_sha256,
                              coalesce(o.drops, {empty}) AS od, coalesce(o.flags, {empty}) AS ofl, coalesce(o.allows, {empty}) AS oa,
                              coalesce(n.drops, {empty}) AS nd, coalesce(n.flags, {empty}) AS nf, coalesce(n.allows, {empty}) AS na
                       FROM d_old o FULL OUTER JOIN d_new n ON o.k = n.k),
            c AS (SELECT *, {_outcome('od', 'ofl', 'oa')} AS before, {_outcome('nd', 'nf', 'na')} AS after FROM j
                  WHERE od IS DISTINCT FROM nd OR ofl IS DISTINCT FROM nf OR oa IS DISTINCT FROM na)
            SELECT shard, "row", url_sha256,
                   CASE WHEN before <> 'drop' AND after = 'drop' THEN 'newly dropped'
                        WHEN before = 'drop' AND after <> 'drop' THEN 'no longer dropped'
                        WHEN before = 'drop' THEN 'drop reason changed'
                        WHEN len(ofl) = 0 AND len(nf) > 0 THEN 'newly flagged'
                        WHEN len(ofl) > 0 AND len(nf) = 0 THEN 'no longer flagged'
                        WHEN ofl IS DISTINCT FROM nf THEN 'flag reason changed'
                        ELSE 'allowlist changed' END AS change,
                   before, after,
                   list_sort(list_distinct(list_concat(
                       list_filter(od, lambda x: NOT list_contains(nd, x)), list_filter(nd, lambda x: NOT list_contains(od, x)),
                       list_filter(ofl, lambda x: NOT list_contains(nf, x)), list_filter(nf, lambda x: NOT list_contains(ofl, x)),
                       list_filter(oa, lambda x: NOT list_contains(na, x)), list_filter(na, lambda x: NOT list_contains(oa, x))))) AS lists,
                   od AS drops_before, nd AS drops_after, ofl AS flags_before, nf AS flags_after
            FROM c ORDER BY shard, "row", url_sha256""")
        result.changes = {
            change: n
            for change in CHANGES
            for (n,) in [db.rows("SELECT count(*) FROM d_rows WHERE change = ?", [change])[0]]
            if n
        }
        kinds = f"""SELECT "list", min(kind) AS kind FROM (SELECT "list", kind FROM read_parquet({sql_literal(str(f_old))})
                    UNION ALL SELECT "list", kind FROM read_parquet({sql_literal(str(f_new))})) GROUP BY 1"""
        result.by_list = _dicts(
            db.arrow(f"""SELECT l."list", coalesce(k.kind, '?') AS kind, change, count(*) AS rows
            FROM (SELECT unnest(lists) AS "list", change FROM d_rows) l LEFT JOIN ({kinds}) k USING ("list")
            GROUP BY ALL ORDER BY rows DESC, l."list", change""")
        )
        result.by_shard = _dicts(
            db.arrow("SELECT shard, change, count(*) AS rows FROM d_rows GROUP BY ALL ORDER BY shard, change")
        )
        result.first = _dicts(db.arrow(f"SELECT * FROM d_rows LIMIT {SHOWN}"))
        if out is not None:
            Path(out).mkdir(parents=True, exist_ok=True)
            db.write_parquet(
                'SELECT shard, "row", url_sha256, before, after, lists, change, drops_before, drops_after, '
                'flags_before, flags_after FROM d_rows',
                Path(out) / DIFF_PARQUET,
            )
    if out is not None:
        write_json(Path(out) / DIFF_JSON, result.to_dict())
        from provscan.sinks.diffpage import write_diff_page

        write_diff_page(Path(out) / DIFF_HTML, result, m_old, m_new)
    return result


def _dicts(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()
