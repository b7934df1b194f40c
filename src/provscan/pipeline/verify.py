"""``provscan verify OUT``: recompute what a finished run's manifest records, as an auditor would.

A published release is only as good as the proof that its files are the ones the scan wrote. This
re-hashes every file the manifest names (each clean shard, and every entry of its ``files`` map),
re-counts rows from the clean shards' footers and from flagged.parquet, checks rows in = rows out +
rows dropped per shard and in the totals, cross-checks summary.json and removals.sha256.txt against
them, and refuses files under OUT that the manifest does not account for. ``inputs=True`` also
re-hashes and re-counts the input shards. Every check is a row of the result; nothing raises for a
mismatch.

The manifest decides what is checked, so it is validated first against its versioned format
(:mod:`provscan.pipeline.manifest_format`): a ``files`` map set to null or removed, a count that is a
string, a path outside OUT, or no ``manifest_format`` is an error, never fewer checks. Then every
check the manifest implies must have run (a check lost to a bug fails the verification), and a path
that resolves outside OUT (a link) is a failed check, never read.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from provscan.errors import InputError, ProvscanError
from provscan.io.db import Database, sql_literal
from provscan.io.export import count_rows
from provscan.io.shards import file_sha256
from provscan.pipeline.manifest_format import MANIFEST_FORMAT, problems
from provscan.pipeline.outdir import output_files

MANIFEST = "manifest.json"
ROW_KEYS = ("rows_in", "rows_matched", "rows_dropped", "rows_flagged", "rows_out")


@dataclass(frozen=True)
class Check:
    file: str  # relative to OUT for outputs; the path as recorded for inputs
    check: str  # sha256, rows, rows in = out + dropped, listed, ...
    expected: str
    actual: str

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass
class Verification:
    out: Path
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, file: str, check: str, expected: object, actual: object) -> None:
        self.checks.append(Check(file, check, _text(expected), _text(actual)))

    def by_kind(self) -> list[tuple[str, int, int]]:
        """(kind of check, passed, failed) in first-seen order: what a person reads before the details."""
        counts: dict[str, list[int]] = {}
        for c in self.checks:
            counts.setdefault(check_kind(c), [0, 0])[0 if c.ok else 1] += 1
        return [(kind, ok, bad) for kind, (ok, bad) in counts.items()]


def check_kind(check: Check) -> str:
    """What a check is, without the shard or key it is about: ``dropped rows of a.parquet`` and
    ``dropped rows of b.parquet`` are one kind, ``flagged.parquet: dropped rows per shard``."""
    name = check.check
    if check.file == MANIFEST and name.startswith("totals.") and name.endswith(" = sum of shards"):
        return "manifest.json: totals = sum of shards"
    if check.file == "summary.json" and " of " in name:
        return "summary.json: shard counts = manifest"
    if " of " in name:
        name = name.split(" of ", 1)[0] + " per shard"
    if check.file == "clean" or check.file.startswith("clean/"):
        return f"clean shards: {name}"
    if name.startswith("input ") or name == "rows in = out + dropped":
        return f"shards: {name}"
    return f"output files: {name}" if name in ("sha256", "listed in manifest") else f"{check.file}: {name}"


def verify_output(out: str | Path, *, inputs: bool = False, attestation: bool = False) -> Verification:
    """Every check of OUT against its manifest (see the module docstring); ``attestation=True`` also
    checks provenance.intoto.json and croissant.json against the files and the manifest."""
    out = Path(out)
    manifest = _load_manifest(out)
    result = Verification(out)
    shards: list[dict[str, Any]] = manifest["shards"]
    listed: dict[str, str | None] = dict(manifest["files"])
    for entry in shards:
        _check_shard(result, entry, listed, inputs)
    _check_totals(result, manifest, shards)
    flagged = _flagged_counts(result, out / "flagged.parquet")
    if flagged is not None:
        _check_flagged(result, flagged, shards)
    _check_summary(result, out, shards, flagged)
    _check_removals(result, out, manifest)
    hashed = {c.file: c.expected for c in result.checks if c.check == "sha256"}  # clean shards, re-hashed above
    for rel, sha in sorted(listed.items()):
        if sha is not None and hashed.get(rel) != sha:
            result.add(rel, "sha256", sha, _sha_or_missing(_inside(out, rel)))
    for rel in sorted(_listing(out) - listed.keys()):
        result.add(rel, "listed in manifest", "yes", "no")
    if attestation:
        from provscan.sinks.attestation import check_attestation, check_croissant

        hashed = {c.file: c.actual for c in result.checks if c.check == "sha256" and c.ok}
        check_attestation(out, manifest, result.add, hashed)
        check_croissant(out, manifest, result.add, hashed)
    _check_all_ran(result, manifest, inputs)
    return result


def implied_checks(manifest: dict[str, Any], *, inputs: bool = False) -> set[tuple[str, str]]:
    """(file, check) pairs a valid manifest implies: each must be among the checks run."""
    implied = {(rel, "sha256") for rel in manifest["files"]}
    implied |= {(MANIFEST, f"totals.{key} = sum of shards") for key in ROW_KEYS}
    implied |= {(MANIFEST, "totals.shards"), ("removals.sha256.txt", "entries")}
    for entry in manifest["shards"]:
        implied.add((entry["path"], "rows in = out + dropped"))
        if "output" in entry:
            implied |= {(entry["output"], "sha256"), (entry["output"], "rows")}
        if inputs:
            implied |= {(entry["path"], "input sha256"), (entry["path"], "input rows")}
    return implied


def _check_all_ran(result: Verification, manifest: dict[str, Any], inputs: bool) -> None:
    """Fewer checks than the manifest implies is a failure, named per missing check."""
    implied = implied_checks(manifest, inputs=inputs)
    missing = implied - {(c.file, c.check) for c in result.checks}
    for file, check in sorted(missing):
        result.add(file, f"{check} (implied by the manifest)", "checked", "not checked")
    result.add(MANIFEST, "checks implied by the manifest, all run", len(implied), len(implied) - len(missing))


def _load_manifest(out: Path) -> dict[str, Any]:
    path = out / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(path, "no manifest: not the output of a finished provscan run") from exc
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a readable manifest ({exc})") from exc
    if isinstance(data, dict) and data.get("command") == "sample":
        raise InputError(path, "the manifest of a provscan sample: verify checks the outputs of provscan scan")
    found = problems(data)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InputError(path, f"does not match manifest format {MANIFEST_FORMAT}: {found[0]}{more}")
    return data


def _check_shard(result: Verification, entry: dict, listed: dict, inputs: bool) -> None:
    name = entry["path"]
    result.add(name, "rows in = out + dropped", entry.get("rows_in"), _sum(entry, "rows_out", "rows_dropped"))
    if "output" in entry:
        rel = entry["output"]
        listed.setdefault(rel, None)
        result.add(rel, "sha256", entry.get("output_sha256"), _sha_or_missing(_inside(result.out, rel)))
        result.add(rel, "rows", entry.get("rows_out"), _rows_or_missing(_inside(result.out, rel)))
    if inputs:
        source = Path(name)
        result.add(name, "input sha256", entry.get("sha256"), _sha_or_missing(source))
        result.add(name, "input rows", entry.get("rows_in"), _rows_or_missing(source))


def _check_totals(result: Verification, manifest: dict, shards: list[dict]) -> None:
    totals = manifest.get("totals", {})
    for key in ROW_KEYS:
        result.add(
            MANIFEST, f"totals.{key} = sum of shards", totals.get(key, 0), sum(int(s.get(key, 0)) for s in shards)
        )
    result.add(
        MANIFEST, "totals: rows in = out + dropped", totals.get("rows_in"), _sum(totals, "rows_out", "rows_dropped")
    )
    result.add(MANIFEST, "totals.shards", totals.get("shards"), len(shards))


def _flagged_counts(result: Verification, path: Path) -> dict[str, dict] | None:
    """From flagged.parquet: distinct dropped rows per shard (a row may have several findings, and
    other actions never remove a row), and findings by list, kind and action. None if unreadable."""
    if not path.is_file():
        result.add("flagged.parquet", "present", "yes", "no")
        return None
    table = sql_literal(str(path))
    try:
        with Database(threads=1) as db:
            counts = {
                "dropped": dict(
                    db.rows(
                        f"SELECT shard, count(DISTINCT row) FROM read_parquet({table}) WHERE action = 'drop' GROUP BY shard"
                    )
                )
            }
            counts["matched"] = dict(
                db.rows(f"SELECT shard, count(DISTINCT row) FROM read_parquet({table}) GROUP BY shard")
            )
            counts["flagged"] = dict(
                db.rows(
                    f"""SELECT shard, count(DISTINCT row) FROM read_parquet({table}) f WHERE action = 'flag' AND NOT EXISTS
                    (SELECT 1 FROM read_parquet({table}) d WHERE d.action = 'drop' AND d.shard = f.shard AND d.row = f.row)
                    GROUP BY shard"""
                )
            )
            for key in ("list", "kind", "action"):
                counts[key] = dict(db.rows(f"SELECT {key}, count(*) FROM read_parquet({table}) GROUP BY 1 ORDER BY 1"))
    except ProvscanError as exc:
        result.add("flagged.parquet", "readable", "yes", f"no ({exc})")
        return None
    return counts


def _check_flagged(result: Verification, counts: dict[str, dict], shards: list[dict]) -> None:
    """Rows dropped, matched (any finding) and flagged (kept with a flag finding) per shard; the last
    two only where the manifest records them (manifests before issue 20 called matched rows flagged)."""
    for what in ("dropped", "matched", "flagged"):
        counted = dict(counts[what])
        for entry in shards:
            if what == "dropped" or f"rows_{what}" in entry and "rows_matched" in entry:
                result.add(
                    "flagged.parquet",
                    f"{what} rows of {entry.get('path')}",
                    entry.get(f"rows_{what}"),
                    counted.get(str(entry.get("path")), 0),
                )
            counted.pop(str(entry.get("path")), None)
        if what == "dropped":
            for shard, rows in sorted(counted.items()):
                result.add("flagged.parquet", f"dropped rows of {shard}", "no such shard in manifest", rows)


def _check_summary(result: Verification, out: Path, shards: list[dict], flagged: dict[str, dict] | None) -> None:
    """summary.json against the manifest (its per-shard counts) and flagged.parquet (findings by
    list, kind and action): a hand-edited count shows even without a recorded checksum."""
    path = out / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        result.add("summary.json", "readable", "yes", f"no ({exc})")
        return
    by_shard = summary.get("shards", {})
    for entry in shards:
        counts = by_shard.get(entry.get("path"), {})
        for key in (*ROW_KEYS, "invalid_urls"):
            if key not in entry and key not in counts:
                continue  # a count this manifest's provscan did not record
            result.add("summary.json", f"{key} of {entry.get('path')}", entry.get(key), counts.get(key, "missing"))
    for key in ("list", "kind", "action"):
        if flagged is not None:
            result.add(
                "summary.json",
                f"findings_by_{key} = flagged.parquet",
                flagged[key],
                summary.get(f"findings_by_{key}", {}),
            )


def _check_removals(result: Verification, out: Path, manifest: dict) -> None:
    path = out / "removals.sha256.txt"
    expected = manifest.get("totals", {}).get("removals")
    if not path.is_file():
        result.add("removals.sha256.txt", "entries", expected, "missing")
        return
    with open(path, encoding="ascii", errors="replace") as handle:
        entries = Counter(line.strip() for line in handle if line.strip() and not line.startswith("#"))
    result.add("removals.sha256.txt", "entries", expected, len(entries))
    result.add("removals.sha256.txt", "no duplicate entries", 0, sum(n - 1 for n in entries.values()))


def _listing(out: Path) -> set[str]:
    """What the manifest must account for: every file under OUT but the manifest itself, cache/
    and .provscan/ (the run's lock and working state), as the merge lists them."""
    return {p.relative_to(out).as_posix() for p in output_files(out)}


def _inside(base: Path, rel: str) -> Path | None:
    """``base / rel`` when it resolves (links followed) inside ``base``; None when it escapes."""
    path = base / rel
    return path if base.resolve() in path.resolve().parents else None


def _sha_or_missing(path: Path | None) -> str:
    if path is None:
        return "outside OUT (not read)"
    return file_sha256(path) if path.is_file() else "missing"


def _rows_or_missing(path: Path | None) -> int | str:
    if path is None:
        return "outside OUT (not read)"
    if not path.is_file():
        return "missing"
    try:
        return count_rows(path)
    except (OSError, pa.ArrowException) as exc:
        return f"unreadable ({exc})"


def _text(value: object) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)


def _sum(data: dict, *keys: str) -> int | str:
    try:
        return sum(int(data[k]) for k in keys)
    except (KeyError, TypeError, ValueError):
        return "missing"
