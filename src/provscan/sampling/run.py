"""``sample()``: estimate what a hosted dataset contains from a seeded sample of its rows.

The run: open every source by its footer; draw the plan (:mod:`provscan.sampling.plan`); read
only the sampled rows' URL/id/licence/hash columns into ``OUT/sample.parquet``; run the ordinary
scan pipeline (the public :func:`provscan.scan`) on that file in a private working directory
(``OUT/.provscan/scan``), so every stage of ``scan`` applies unchanged; map its findings back to
(source, source row); estimate every share with its interval (:mod:`provscan.sampling.estimate`).

Licence ids are estimated per row, including licences no policy flags: the inner scan gets one extra
licence pattern, ``*`` as ``flag``, so every row carries its resolved licence as a finding; those
extra findings are used for the licence estimates and removed from ``flagged.parquet``.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provscan._version import __version__
from provscan.config import ScanConfig
from provscan.errors import ConfigError, OutputError, ShardError
from provscan.io.atomic import atomic_path, write_json
from provscan.io.shards import Columns, Shard, detect_columns, file_sha256
from provscan.licenses.spdx import UNKNOWN, LicensePolicy
from provscan.net.guard import Resolver
from provscan.net.ranged import RangeReader
from provscan.sampling.estimate import CONFIDENCE, estimate_all
from provscan.sampling.plan import Frame, Plan, plan_row_groups, plan_rows
from provscan.sampling.sources import OpenSource, open_sources, resolve_sources
from provscan.sinks.flagged import FINDINGS_SCHEMA
from provscan.stages.fetch import FETCH_SCHEMA
from provscan.stages.license import POLICY_LIST

WORK_DIR = ".provscan"
WINDOW_BYTES = 64 << 20  # column-chunk bytes held in memory at once
WINDOW_GROUPS = 64  # row groups per window: bounds the requests in flight per batch
_STALE = ("manifest.json", "summary.json", "estimates.json", "fetch.parquet")


@dataclass(frozen=True)
class SampleResult:
    output: Path
    estimates: dict[str, Any]
    summary: dict[str, Any]
    manifest: dict[str, Any]


def sample(
    sources: Sequence[str | Path] | str | Path,
    config: ScanConfig | None = None,
    *,
    rows: int | None = None,
    row_groups: int | None = None,
    seed: int = 0,
    allow_full_download: bool = False,
    resolver: Resolver | None = None,
    **overrides: Any,
) -> SampleResult:
    """Sample SOURCES (``rows`` uniform rows, or ``row_groups`` whole row groups), scan the sample,
    and write sample.parquet, flagged.parquet, fetch.parquet (with fetch), summary.json,
    estimates.json and manifest.json (last) into ``output``.

    ``overrides`` replace fields of ``config`` as for :func:`provscan.scan` (``output=``, ``lists=``,
    ``fetch=``...); ``fetch_options`` ``allow_cidrs``/``allow_private`` also open private addresses
    to the range reads. ``resolver`` replaces DNS (tests).
    """
    if (rows is None) == (row_groups is None):
        raise ConfigError("give exactly one of rows (--rows N) or row_groups (--row-groups K)")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    config = (config or ScanConfig()).with_overrides(**overrides)
    started = datetime.now(timezone.utc)
    items = [sources] if isinstance(sources, (str, Path)) else list(sources)
    refs = resolve_sources(items)
    out = Path(config.output)
    with _output_lock(out):
        for stale in _STALE:
            (out / stale).unlink(missing_ok=True)
        work = out / WORK_DIR
        options = config.fetch_options
        reader = None
        if any(r.remote for r in refs):
            reader = RangeReader(
                allow_cidrs=tuple(options.get("allow_cidrs", ())), allow_private=bool(options.get("allow_private", False)),
                allow_full_download=allow_full_download, spill_dir=work / "downloads", resolver=resolver,
            )
        opened: list[OpenSource] = []
        try:
            opened = open_sources(refs, reader)
            frame = Frame.of([s.row_group_rows() for s in opened])
            if frame.rows == 0:
                raise ShardError(refs[0].name, "the sources hold no rows")
            plan = plan_rows(frame, rows, seed) if rows is not None else plan_row_groups(frame, int(row_groups or 0), seed)
            kinds = _list_kinds(config)
            columns = [_columns(s, config, kinds) for s in opened]
            table = _read_sample(opened, plan, columns, reader)
            described = [s.describe() for s in opened]
        finally:
            for s in opened:
                s.close()
            if reader is not None:
                reader.close()
        for i, entry in enumerate(described):
            entry["sampled_rows"] = int(np.count_nonzero(plan.source == i))
            entry["sampled_row_groups"] = int(len(plan.groups_of(i)))
        sample_path = out / "sample.parquet"
        with atomic_path(sample_path) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        # Without a licence column or registry every row is "unknown": no per-row findings needed.
        per_row = columns[0].license is not None or kinds is None or "license-registry" in kinds
        inner = _scan_sample(sample_path, work / "scan", config, columns[0], per_row_licences=per_row)
        findings, licences = _map_findings(inner.output / "flagged.parquet", table, config)
        if not per_row:
            licences = pa.table({"sample_row": pa.array(np.arange(table.num_rows, dtype=np.int64)),
                                 "entry": pa.repeat(pa.scalar(UNKNOWN), table.num_rows)})
        _write_table(out / "flagged.parquet", findings, FINDINGS_SCHEMA)
        fetched = None
        if config.fetch and (inner.output / "fetch.parquet").exists():
            fetched = _remap(pq.read_table(inner.output / "fetch.parquet"), table)
            _write_table(out / "fetch.parquet", fetched, FETCH_SCHEMA)
        estimates = _estimates(plan, findings, licences, fetched, table, described)
        write_json(out / "estimates.json", estimates)
        summary = _summary(plan, findings, inner.summary, described)
        write_json(out / "summary.json", summary)
        manifest = _manifest(out, config, inner.manifest, plan, described, estimates, started, allow_full_download)
        write_json(out / "manifest.json", manifest)
    return SampleResult(out, estimates, summary, manifest)


@contextlib.contextmanager
def _output_lock(out: Path) -> Iterator[None]:
    """The one place a sample run takes OUT's lock (``OUT/.provscan/lock``, ``flock``): one run per
    OUT at a time. To be pointed at the pipeline's own lock helper once it lands (issue 8)."""
    try:
        (out / WORK_DIR).mkdir(parents=True, exist_ok=True)
        handle = open(out / WORK_DIR / "lock", "a+b")
    except OSError as exc:
        raise OutputError(out, f"output directory is not writable: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise OutputError(out, "another provscan run is using this output directory") from exc
        yield
    finally:
        handle.close()  # releases the lock


def _columns(source: OpenSource, config: ScanConfig, kinds: set[str] | None) -> Columns:
    """The columns to read, detected as ``scan`` detects them; an image hash column only when a list
    of its kind is configured, ``--fetch`` runs (rows with hashes are not fetched) or it was named."""
    shard = Shard(Path(source.source.name), source.source.name, source.source.name)
    found = detect_columns(
        shard, source.schema, url_column=config.url_column, id_column=config.id_column,
        license_column=config.licenses.column, hash_columns=config.hash_columns,
    )
    if kinds is None or config.fetch:
        return found
    needed = {k: c for k, c in found.hashes.items() if k in kinds or k in config.hash_columns}
    return replace(found, hashes=needed)


_KIND = re.compile(r"^\ufeff?#\s*provscan-list:.*?\bkind=(\S+)")


def _list_kinds(config: ScanConfig) -> set[str] | None:
    """The kinds of the configured lists from their specs or first lines (the lists themselves are
    loaded by the scan); ``None`` if one cannot be told, and then every hash column is read."""
    kinds = set()
    for spec in config.lists:
        if spec.kind is None:
            try:
                with open(spec.path, encoding="utf-8", errors="replace") as handle:
                    match = _KIND.match(handle.readline())
            except OSError:
                return None  # the scan reports the unreadable list
            if match is None:
                return None
            kinds.add(match.group(1))
        else:
            kinds.add(spec.kind)
    return kinds


def _names(columns: Columns) -> list[str]:
    return [c for c in (columns.url, columns.id, columns.license, *columns.hashes.values()) if c is not None]


def _read_sample(opened: list[OpenSource], plan: Plan, columns: list[Columns], reader: RangeReader | None) -> pa.Table:
    """The sampled rows in plan order: ``source``, ``row`` and the columns read, named as in the
    first source (a later source's ``url`` is renamed to the first's ``URL``) so detection agrees.

    Row groups are read in windows of at most ``WINDOW_BYTES`` of column chunks; all ranges of a
    window, over every source in it, are fetched concurrently, and the next window is in flight
    while one is decoded (so at most two windows are held)."""
    target = _names(columns[0])
    if {"source", "row"} & set(target):
        raise ConfigError("a column named 'source' or 'row' cannot be sampled: those names are sample.parquet's own")
    for i, source in enumerate(opened):
        names = _names(columns[i])
        if len(names) != len(target) or columns[i].hashes.keys() != columns[0].hashes.keys():
            raise ShardError(source.source.name, f"has columns {names}, unlike the first source's {target}")
    keys = plan.source * (1 << 32) + plan.row_group  # sorted: the plan is in (source, row) order
    groups, starts = np.unique(keys, return_index=True)
    starts = np.append(starts, len(keys))
    tasks = list(zip((groups >> 32).tolist(), (groups & 0xFFFFFFFF).tolist()))  # (source, row group), in order
    windows = list(_windows(tasks, opened, columns))

    def fetch(window: list[tuple[int, int, int]]) -> tuple[list[tuple[int, list[tuple[int, int]]]], Future | None]:
        remote = [(i, r) for i, g, _ in window if (r := opened[i].ranges([g], _names(columns[i])))]
        if not remote or reader is None:
            return remote, None
        return remote, reader.fetch_all_async([(opened[i].remote, r) for i, r in remote])

    pieces = []
    pending = fetch(windows[0]) if windows else None
    for w, window in enumerate(windows):
        assert pending is not None
        remote, future = pending
        if future is not None:
            for (i, r), data in zip(remote, future.result()):
                opened[i].add(r, data)
        pending = fetch(windows[w + 1]) if w + 1 < len(windows) else None  # in flight while this one decodes
        for i, g, k in window:
            names = _names(columns[i])
            sel = np.arange(starts[k], starts[k + 1])
            taken = opened[i].read_group(g, names).take(pa.array(plan.row_in_group[sel]))
            pieces.append(pa.table({
                "source": pa.array([opened[i].source.name] * len(sel), pa.string()),
                "row": pa.array(plan.row[sel], pa.int64()),
                **{t: taken.column(name) for t, name in zip(target, names)},
            }))
        for i in {i for i, _, _ in window}:
            opened[i].release()
    return pa.concat_tables(pieces, promote_options="permissive").combine_chunks()


def _windows(tasks: list[tuple[int, int]], opened: list[OpenSource], columns: list[Columns]) -> Iterator[list[tuple[int, int, int]]]:
    """Consecutive (source, row group, task index) batches of at most WINDOW_BYTES / WINDOW_GROUPS."""
    window: list[tuple[int, int, int]] = []
    size = 0
    for k, (i, g) in enumerate(tasks):
        cost = opened[i].cost(g, _names(columns[i]))
        if window and (size + cost > WINDOW_BYTES or len(window) >= WINDOW_GROUPS):
            yield window
            window, size = [], 0
        window.append((i, g, k))
        size += cost
    if window:
        yield window


def _scan_sample(path: Path, work: Path, config: ScanConfig, columns: Columns, *, per_row_licences: bool) -> Any:
    """The ordinary scan over sample.parquet, into a private directory; with ``per_row_licences``
    every row's licence is flagged too (``*``) so it can be estimated per row."""
    from provscan import scan

    extra = ("*",) if per_row_licences else ()
    licences = replace(config.licenses, column=columns.license, flag=(*config.licenses.flag, *extra))
    return scan(
        [path], config, output=work, export=False, url_column=columns.url, id_column=columns.id,
        hash_columns=dict(columns.hashes) or None, licenses=licences,
    )


def _remap(table: pa.Table, sample: pa.Table) -> pa.Table:
    """Rows of sample.parquet -> (source, row in the source): ``shard`` becomes the source; the
    sample row stays in ``sample_row`` (for the estimates; not written out)."""
    idx = table.column("row")
    if "sample_row" not in table.column_names:
        table = table.append_column("sample_row", idx)
    table = table.set_column(table.schema.get_field_index("shard"), "shard", sample.column("source").take(idx))
    return table.set_column(table.schema.get_field_index("row"), "row", sample.column("row").take(idx))


def _map_findings(path: Path, sample: pa.Table, config: ScanConfig) -> tuple[pa.Table, pa.Table]:
    """(the findings the user's configuration asked for, every row's licence finding), in source
    terms; both keep ``sample_row`` (the row of sample.parquet) for the estimates."""
    raw = pq.read_table(path)
    raw = raw.append_column("sample_row", raw.column("row"))
    is_licence = pc.fill_null(pc.and_(pc.equal(raw.column("list"), POLICY_LIST), pc.equal(raw.column("kind"), "license")), False)
    licences = raw.filter(is_licence)
    policy = LicensePolicy(drop=config.licenses.drop, flag=config.licenses.flag)
    asked = [v for v in pc.unique(licences.column("entry")).to_pylist() if v is not None and policy.action_for(v)]
    kept = licences.filter(pc.is_in(licences.column("entry"), value_set=pa.array(asked, pa.string())))
    findings = pa.concat_tables([raw.filter(pc.invert(is_licence)), kept]).sort_by(
        [(k, "ascending", "at_start") for k in ("sample_row", "list", "kind", "entry", "image_hash", "detail")]
    )
    return _remap(findings, sample), _remap(licences, sample)


def _write_table(path: Path, table: pa.Table, schema: pa.Schema) -> None:
    """flagged.parquet / fetch.parquet in scan's schema (``shard`` holds the source)."""
    with atomic_path(path) as tmp:
        pq.write_table(table.select(schema.names).cast(schema), tmp, compression="zstd")


def _estimates(plan: Plan, findings: pa.Table, licences: pa.Table, fetched: pa.Table | None, sample: pa.Table,
               described: list[dict[str, Any]]) -> dict[str, Any]:
    def labels(dimension: str, table: pa.Table, column: str) -> pa.Table:
        return pa.table({"i": table.column("sample_row").cast(pa.int64()),
                         "d": pa.repeat(pa.scalar(dimension), table.num_rows),
                         "v": table.column(column).cast(pa.string())})

    parts = [labels(d, findings, d) for d in ("list", "kind", "action")]
    parts.append(labels("consent", findings.filter(pc.equal(findings.column("kind"), "consent")), "entry"))
    parts.append(labels("license", licences, "entry"))
    if fetched is not None:
        parts.append(labels("fetch_status", fetched, "status"))
    population = plan.frame.rows
    found = estimate_all(
        pa.concat_tables(parts), mode=plan.mode, sampled_rows=plan.rows, population_rows=population,
        cluster=plan.cluster, cluster_rows=plan.cluster_rows, population_clusters=plan.frame.row_groups,
    )
    return {
        "mode": plan.mode, "seed": plan.seed, "confidence": CONFIDENCE, "population_rows": population,
        "sampled_rows": plan.rows, "sampled_row_groups": plan.clusters,
        "population_row_groups": plan.frame.row_groups,
        "sources": [{k: d[k] for k in ("source", "size", "etag", "last_modified", "rows", "row_groups", "bytes_read")} for d in described],
        "bytes_read": sum(d["bytes_read"] for d in described),
        "estimates": found,
    }


def _summary(plan: Plan, findings: pa.Table, inner: dict[str, Any], described: list[dict[str, Any]]) -> dict[str, Any]:
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
    extra = {k: v for k, v in inner.items()
             if k not in ("findings_by_list", "rows_by_list", "findings_by_kind", "findings_by_action", "shards", "top_flagged_domains")}
    return {
        "mode": plan.mode, "seed": plan.seed, "population_rows": plan.frame.rows, "sampled_rows": plan.rows,
        "findings_by_list": dict(sorted(by["list"].items())), "rows_by_list": dict(sorted(rows_by_list.items())),
        "findings_by_kind": dict(sorted(by["kind"].items())), "findings_by_action": dict(sorted(by["action"].items())),
        "sources": {d["source"]: {"rows": d["rows"], "sampled_rows": d["sampled_rows"],
                                  "sampled_rows_flagged": len(flagged_rows.get(d["source"], ()))} for d in described},
        **extra,
    }


def _manifest(out: Path, config: ScanConfig, inner: dict[str, Any], plan: Plan, described: list[dict[str, Any]],
              estimates: dict[str, Any], started: datetime, allow_full_download: bool) -> dict[str, Any]:
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel == "manifest.json" or rel.split("/")[0] in ("cache", WORK_DIR) or path.name.startswith("."):
            continue
        files[rel] = file_sha256(path)
    return {
        "provscan_version": __version__,
        "command": "sample",
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": plan.mode, "seed": plan.seed, "allow_full_download": allow_full_download,
        "config": {**config.to_dict(), "output": str(out)},
        "lists": inner.get("lists", []),
        "sources": described,
        "bytes_read": estimates["bytes_read"],
        "totals": {"population_rows": plan.frame.rows, "population_row_groups": plan.frame.row_groups,
                   "sampled_rows": plan.rows, "sampled_row_groups": estimates["sampled_row_groups"],
                   "sources": len(described)},
        "files": files,
    }
