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
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provscan.config import ScanConfig, apply_overrides
from provscan.errors import ConfigError, ShardError
from provscan.io.atomic import write_json, write_parquet
from provscan.io.shards import Columns
from provscan.licenses.spdx import UNKNOWN, LicensePolicy
from provscan.net.guard import Resolver
from provscan.net.ranged import RangeReader
from provscan.pipeline.outdir import FINAL_OUTPUTS, OutputDir
from provscan.sinks.report import write_reports_then_manifest
from provscan.sampling.outputs import WORK_DIR, estimates_doc, manifest_doc, sample_files, summary_doc
from provscan.sampling.plan import Frame, Plan, plan_row_groups, plan_rows
from provscan.sampling.read import columns_to_read, list_kinds, read_sample
from provscan.sampling.sources import OpenSource, Source, open_sources, resolve_sources
from provscan.sinks.flagged import FINDINGS_SCHEMA
from provscan.stages.fetch import FETCH_SCHEMA
from provscan.stages.license import POLICY_LIST

if TYPE_CHECKING:
    from provscan.pipeline.driver import ScanResult


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
    config = apply_overrides(config or ScanConfig(), **overrides)
    started = datetime.now(timezone.utc)
    refs = resolve_sources([sources] if isinstance(sources, (str, Path)) else list(sources))
    out = Path(config.output)
    with _output_lock(out, refs):
        drawn = _read(
            refs,
            config,
            rows=rows,
            row_groups=row_groups,
            seed=seed,
            work=out / WORK_DIR,
            allow_full_download=allow_full_download,
            resolver=resolver,
        )
        inner = _run(drawn, config, out / WORK_DIR)
        return _write_outputs(out, config, drawn, inner, started=started, allow_full_download=allow_full_download)


@dataclass(frozen=True)
class _Drawn:
    """The sample, read: its plan, its rows (sample.parquet's table), the columns read per source,
    the sources described for the manifest, and whether each row's licence needs a finding."""

    plan: Plan
    table: pa.Table
    columns: list[Columns]
    described: list[dict[str, Any]]
    per_row_licences: bool


def _read(
    refs: list[Source],
    config: ScanConfig,
    *,
    rows: int | None,
    row_groups: int | None,
    seed: int,
    work: Path,
    allow_full_download: bool,
    resolver: Resolver | None,
) -> _Drawn:
    """Open every source by its footer, draw the plan, read only the sampled rows' columns."""
    options = config.fetch_options
    reader = None
    if any(r.remote for r in refs):
        reader = RangeReader(
            allow_cidrs=options.allow_cidrs,
            allow_private=options.allow_private,
            allow_full_download=allow_full_download,
            spill_dir=work / "downloads",
            resolver=resolver,
        )
    opened: list[OpenSource] = []
    try:
        opened = open_sources(refs, reader)
        frame = Frame.of([s.row_group_rows() for s in opened])
        if frame.rows == 0:
            raise ShardError(refs[0].name, "the sources hold no rows")
        plan = plan_rows(frame, rows, seed) if rows is not None else plan_row_groups(frame, int(row_groups or 0), seed)
        kinds = list_kinds(config)
        columns = [columns_to_read(s, config, kinds) for s in opened]
        table = read_sample(opened, plan, columns, reader)
        described = [s.describe() for s in opened]
    finally:
        for s in opened:
            s.close()
        if reader is not None:
            reader.close()
        shutil.rmtree(work / "downloads", ignore_errors=True)  # whole files of --allow-full-download
    for i, entry in enumerate(described):
        entry["sampled_rows"] = int(np.count_nonzero(plan.source == i))
        entry["sampled_row_groups"] = int(len(plan.groups_of(i)))
    # Without a licence column or registry every row is "unknown": no per-row findings needed.
    per_row = columns[0].license is not None or kinds is None or "license-registry" in kinds
    return _Drawn(plan, table, columns, described, per_row)


def _run(drawn: _Drawn, config: ScanConfig, work: Path) -> ScanResult:
    """The ordinary scan over the full sample (URLs included), in the private working directory."""
    scanned = work / "sample.parquet"
    _write_table(scanned, drawn.table, drawn.table.schema)
    try:
        return _scan_sample(scanned, work / "scan", config, drawn.columns[0], per_row_licences=drawn.per_row_licences)
    finally:
        scanned.unlink(missing_ok=True)


def _write_outputs(
    out: Path, config: ScanConfig, drawn: _Drawn, inner: ScanResult, *, started: datetime, allow_full_download: bool
) -> SampleResult:
    """The inner scan's results in source terms: sample.parquet, flagged/fetch.parquet, estimates,
    summary, then the reports and the manifest (last)."""
    plan, table, described = drawn.plan, drawn.table, drawn.described
    assert inner.manifest is not None and inner.summary is not None, "the inner scan is one whole run, merged"
    published = table  # OUT's copy has no URLs under --redact-urls (a child-protection report must not list them)
    if config.redact_urls:
        url = published.schema.get_field_index(drawn.columns[0].url)
        published = published.set_column(
            url, published.schema.field(url), pa.nulls(published.num_rows, published.schema.field(url).type)
        )
    _write_table(out / "sample.parquet", published, published.schema)
    findings, licences = _map_findings(inner.output / "flagged.parquet", table, config)
    if not drawn.per_row_licences:
        licences = pa.table(
            {
                "sample_row": pa.array(np.arange(table.num_rows, dtype=np.int64)),
                "entry": pa.repeat(pa.scalar(UNKNOWN), table.num_rows),
            }
        )
    _write_table(out / "flagged.parquet", findings, FINDINGS_SCHEMA)
    fetched = None
    if config.fetch and (inner.output / "fetch.parquet").exists():
        fetched = _remap(pq.read_table(inner.output / "fetch.parquet"), table)
        _write_table(out / "fetch.parquet", fetched, FETCH_SCHEMA)
    estimates = estimates_doc(plan, findings, licences, fetched, table, described)
    write_json(out / "estimates.json", estimates)
    summary = summary_doc(plan, findings, inner.summary, described)
    write_json(out / "summary.json", summary)
    manifest = manifest_doc(out, config, inner.manifest, plan, described, estimates, started, allow_full_download)
    manifest = write_reports_then_manifest(out, manifest, summary, estimates, files=lambda: sample_files(out))
    return SampleResult(out, estimates, summary, manifest)


@contextlib.contextmanager
def _output_lock(out: Path, sources: Sequence[Source]) -> Iterator[None]:
    """OUT for one sample run, under the same rules and checks as ``scan`` (:mod:`provscan.pipeline.outdir`):
    one run at a time, only provscan's own files, no input among the files it writes or removes;
    an earlier run's outputs and temp files removed first."""
    inputs = [(s.name, Path(s.location)) for s in sources if not s.remote]
    with OutputDir(out, inputs=inputs, writes=[out / name for name in FINAL_OUTPUTS]) as outdir:
        outdir.remove_leftovers()
        yield


def _scan_sample(path: Path, work: Path, config: ScanConfig, columns: Columns, *, per_row_licences: bool) -> ScanResult:
    """The ordinary scan over sample.parquet, into a private directory; with ``per_row_licences``
    every row's licence is flagged too (``*``) so it can be estimated per row."""
    from provscan.pipeline.driver import scan

    extra = ("*",) if per_row_licences else ()
    licences = replace(config.licenses, column=columns.license, flag=(*config.licenses.flag, *extra))
    return scan(
        [path],
        config,
        output=work,
        export=False,
        url_column=columns.url,
        id_column=columns.id,
        hash_columns=dict(columns.hashes) or None,
        licenses=licences,
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
    is_licence = pc.fill_null(
        pc.and_(pc.equal(raw.column("list"), POLICY_LIST), pc.equal(raw.column("kind"), "license")), False
    )
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
    write_parquet(path, table.select(schema.names).cast(schema))
