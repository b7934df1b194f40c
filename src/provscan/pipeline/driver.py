"""The driver: check everything up front, run shards one by one, merge, write the manifest last.

``scan()`` is the library entry point; the CLI only parses options and formats its result. Every
shard is checked (readable, has a URL column) and every list compiled before the first byte of
output, so a bad input fails fast instead of leaving half a run behind.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

from provscan._version import __version__
from provscan.lists.compiled import CompiledLists, compile_lists, install, require_url_column
from provscan.config import ScanConfig
from provscan.io.db import Database
from provscan.pipeline.shard import Matcher, ShardContext, ShardOutcome, export_shard, match_shard, url_matchers
from provscan.errors import OutputError
from provscan.io.export import count_rows
from provscan.stages.license import LicenseStage
from provscan.progress import NullProgress, Progress
from provscan.io.atomic import write_json
from provscan.sinks.flagged import FlaggedWriter, write_removals
from provscan.io.shards import detect_columns, expand_shards, read_schema
from provscan.sinks.summary import Summary


@dataclass(frozen=True)
class ScanResult:
    output: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]


def scan(
    shards: Sequence[str | Path] | str | Path,
    config: ScanConfig | None = None,
    *,
    progress: Progress | None = None,
    **overrides: Any,
) -> ScanResult:
    """Scan shards against the configured lists and policy; write the report, export and manifest.

    ``overrides`` replace fields of ``config`` (e.g. ``output=``, ``export=False``, ``lists=``).
    """
    config = (config or ScanConfig()).with_overrides(**overrides)
    progress = progress or NullProgress()
    started = datetime.now(timezone.utc)
    inputs = [shards] if isinstance(shards, (str, Path)) else list(shards)
    plan = []
    for shard in expand_shards(inputs):
        columns = detect_columns(
            shard,
            read_schema(shard),
            url_column=config.url_column,
            id_column=config.id_column,
            license_column=config.licenses.column,
            hash_columns=config.hash_columns,
        )
        plan.append((shard, columns))
    compiled = compile_lists(config.lists)
    for shard, columns in plan:  # friction (issue 12): image-only shards need no URL column unless URL lists
        require_url_column(compiled, shard.given, columns.url is not None, fetch=config.fetch,
                           consent=config.consent.check)
    _preflight(compiled, config)
    out = _prepare_output(Path(config.output))
    summary = Summary()
    entries: list[dict[str, Any]] = []
    flagged = FlaggedWriter(out / "flagged.parquet")
    progress.start(len(plan), sum(count_rows(s.path) for s, _ in plan))
    closers: list = []
    ok = False

    def merge(outcome: ShardOutcome) -> None:
        flagged.write(outcome.findings)
        db.append("removals", pa.table({"h": outcome.removals}))
        summary.add(outcome.entry, outcome.findings, outcome.hosts)
        for section, counts in outcome.counts.items():
            summary.add_counts(section, counts)
        entries.append(outcome.entry)
        if not config.export:  # friction (issue 12): with export, rows advance per row group in export_clean
            progress.rows_done(outcome.entry["rows_in"])
        progress.shard_done(outcome.findings.num_rows)

    try:
        with Database(temp_dir=out / ".provscan-tmp") as db:
            install(db, compiled)
            db.execute("CREATE OR REPLACE TEMP TABLE removals (h VARCHAR)")  # may grow past memory: DuckDB spills
            matchers = _stages(db, compiled, config, out, closers)
            # The export of shard i (pyarrow, releases the GIL) overlaps the matching of shard i+1
            # (DuckDB); results are merged strictly in shard order.
            with ThreadPoolExecutor(1, thread_name_prefix="provscan-export") as exporter:
                pending = None
                for shard, columns in plan:
                    ctx = ShardContext(db, shard, columns, compiled, config, out)
                    outcome = match_shard(ctx, matchers)
                    if pending is not None:
                        merge(pending.result())
                    clean = out / "clean" / shard.relative if config.export else None
                    pending = exporter.submit(export_shard, outcome, shard, clean, progress.rows_done)
                if pending is not None:
                    merge(pending.result())
            ok = True
            for close in closers:
                close(True)
            removal_count = write_removals(
                out / "removals.sha256.txt", db.batches("SELECT DISTINCT h FROM removals ORDER BY h")
            )
        flagged.close()
    except BaseException:
        flagged.abort()
        if not ok:
            for close in closers:
                close(False)
        raise
    finally:
        progress.finish()
        shutil.rmtree(out / ".provscan-tmp", ignore_errors=True)
    summary_data = summary.to_dict()
    write_json(out / "summary.json", summary_data)
    manifest = _manifest(config, compiled, entries, started, removal_count)
    write_json(out / "manifest.json", manifest)
    return ScanResult(out, manifest, summary_data)


def _stages(db: Database, compiled: CompiledLists, config: ScanConfig, out: Path, closers: list) -> list[Matcher]:
    """The stages this run needs, in order: URL lists first (a row they drop is never fetched),
    licences, image hashes from columns and local files, fetches, consent, then image matching."""
    from provscan.stages.image import ImageStage, image_kinds  # PIL/imagehash: only for runs that need them

    stages: list[Matcher] = [*url_matchers(compiled), LicenseStage(config, bool(compiled.of_kind("license-registry")))]
    kinds = image_kinds(compiled)
    if kinds or config.fetch:
        images = ImageStage(db, compiled, config)
        stages.append(images.collect)
        if config.fetch:
            from provscan.stages.fetch import FetchStage

            fetch = FetchStage(db, compiled, config, out, kinds)
            closers.append(fetch.close)
            stages.append(fetch)
    if config.consent.check:
        from provscan.stages.consent import ConsentStage

        consent = ConsentStage(compiled, config)
        closers.append(consent.close)
        stages.append(consent)
    if kinds or config.fetch:
        stages.append(images.match)
    return stages


def _preflight(compiled: CompiledLists, config: ScanConfig) -> None:
    """Checked before any output is touched: optional extras a list needs (pdq), the fetch policy."""
    if "pdq" in compiled.kinds:
        from provscan.images.hashing import check_kinds

        check_kinds(["pdq"])
    if config.fetch or config.consent.check:
        from provscan.stages.fetch import fetch_policy

        fetch_policy(config)


def _manifest(
    config: ScanConfig, compiled: CompiledLists, entries: list[dict[str, Any]], started: datetime, removals: int
) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    for entry in entries:
        for key, value in entry.items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] += value
    if totals["rows_in"] != totals["rows_out"] + totals["rows_dropped"]:
        raise OutputError("manifest.json", "totals do not add up; refusing to write the manifest")
    return {
        "provscan_version": __version__,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "lists": compiled.manifest(),
        "shards": entries,
        "totals": {**dict(totals), "shards": len(entries), "removals": removals},
    }


def _prepare_output(out: Path) -> Path:
    """Create OUT and prove it is writable; remove an old manifest so a failed run cannot look complete."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".provscan-write-test"
        probe.write_bytes(b"")
        probe.unlink()
        for stale in ("manifest.json", "summary.json"):
            (out / stale).unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(out, f"output directory is not writable: {exc.strerror or exc}") from exc
    return out
