"""Reading a sample: which columns, then the sampled rows of every source, window by window.

Only the columns the run needs are read: URL, id, licence, and an image hash column only when a
list of its kind, ``--fetch`` or ``--hash-column`` needs it (a 32-hex md5 column can be a fifth of a
LAION file). Row groups are read in windows of at most ``WINDOW_BYTES`` of column chunks; every
range of a window, over all its sources, is in flight at once, and the next window is fetched while
one is decoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from provscan.config import ScanConfig
from provscan.errors import ConfigError, ShardError
from provscan.io.shards import Columns, Shard, detect_columns
from provscan.io.views import takeable
from provscan.net.ranged import RangeReader
from provscan.sampling.plan import Plan
from provscan.sampling.sources import OpenSource

WINDOW_BYTES = 64 << 20  # column-chunk bytes held in memory at once (two windows at most)
WINDOW_GROUPS = 64  # row groups per window: bounds the requests in flight per batch


def columns_to_read(source: OpenSource, config: ScanConfig, kinds: set[str] | None) -> Columns:
    """The columns to read, detected as ``scan`` detects them; an image hash column only when a list
    of its kind is configured, ``--fetch`` runs (rows with hashes are not fetched) or it was named."""
    shard = Shard(Path(source.source.name), source.source.name, source.source.name)
    found = detect_columns(
        shard,
        source.schema,
        url_column=config.url_column,
        id_column=config.id_column,
        license_column=config.licenses.column,
        hash_columns=config.hash_columns,
    )
    if kinds is None or config.fetch:
        return found
    needed = {k: c for k, c in found.hashes.items() if k in kinds or k in config.hash_columns}
    return replace(found, hashes=needed)


_KIND = re.compile(r"^\ufeff?#\s*provscan-list:.*?\bkind=(\S+)")


def list_kinds(config: ScanConfig) -> set[str] | None:
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


def column_names(columns: Columns) -> list[str]:
    return [c for c in (columns.url, columns.id, columns.license, *columns.hashes.values()) if c is not None]


def read_sample(opened: list[OpenSource], plan: Plan, columns: list[Columns], reader: RangeReader | None) -> pa.Table:
    """The sampled rows in plan order: ``source``, ``row`` and the columns read, named as in the
    first source (a later source's ``url`` is renamed to the first's ``URL``) so detection agrees.

    Row groups are read in windows of at most ``WINDOW_BYTES`` of column chunks; all ranges of a
    window, over every source in it, are fetched concurrently, and the next window is in flight
    while one is decoded (so at most two windows are held)."""
    target = column_names(columns[0])
    if {"source", "row"} & set(target):
        raise ConfigError("a column named 'source' or 'row' cannot be sampled: those names are sample.parquet's own")
    for i, source in enumerate(opened):
        names = column_names(columns[i])
        if len(names) != len(target) or columns[i].hashes.keys() != columns[0].hashes.keys():
            raise ShardError(source.source.name, f"has columns {names}, unlike the first source's {target}")
    keys = plan.source * (1 << 32) + plan.row_group  # sorted: the plan is in (source, row) order
    groups, starts = np.unique(keys, return_index=True)
    starts = np.append(starts, len(keys))
    tasks = list(zip((groups >> 32).tolist(), (groups & 0xFFFFFFFF).tolist()))  # (source, row group), in order
    windows = list(_windows(tasks, opened, columns))

    def fetch(window: list[tuple[int, int, int]]) -> tuple[list[tuple[int, list[tuple[int, int]]]], Future | None]:
        remote = [(i, r) for i, g, _ in window if (r := opened[i].ranges([g], column_names(columns[i])))]
        if not remote or reader is None:
            return remote, None
        return remote, reader.fetch_all_async([(opened[i].remote_info, r) for i, r in remote])

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
            names = column_names(columns[i])
            sel = np.arange(starts[k], starts[k + 1])
            taken = takeable(opened[i].read_group(g, names)).take(pa.array(plan.row_in_group[sel]))
            pieces.append(
                pa.table(
                    {
                        "source": pa.array([opened[i].source.name] * len(sel), pa.string()),
                        "row": pa.array(plan.row[sel], pa.int64()),
                        **{t: taken.column(name) for t, name in zip(target, names)},
                    }
                )
            )
        for i in {i for i, _, _ in window}:
            opened[i].release()
    return pa.concat_tables(pieces, promote_options="permissive").combine_chunks()


def _windows(
    tasks: list[tuple[int, int]], opened: list[OpenSource], columns: list[Columns]
) -> Iterator[list[tuple[int, int, int]]]:
    """Consecutive (source, row group, task index) batches of at most WINDOW_BYTES / WINDOW_GROUPS."""
    window: list[tuple[int, int, int]] = []
    size = 0
    for k, (i, g) in enumerate(tasks):
        cost = opened[i].cost(g, column_names(columns[i]))
        if window and (size + cost > WINDOW_BYTES or len(window) >= WINDOW_GROUPS):
            yield window
            window, size = [], 0
        window.append((i, g, k))
        size += cost
    if window:
        yield window
