"""SOURCES for ``provscan sample``: local shards, ``http(s)://`` parquet URLs, ``@FILE`` lists and
``hf://datasets/...``, each opened by its footer alone and read row group by row group.

Local inputs resolve exactly as ``scan``'s (:func:`provscan.io.shards.expand_shards`: files,
directories, quoted globs). Remote files are read with range requests (:mod:`provscan.net.ranged`):
opening one costs its footer; reading the row groups of a sample costs their column chunks of the
columns asked for, fetched a window at a time (bounded memory), concurrently within a window.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from provscan.errors import ConfigError, ShardError
from provscan.io.shards import expand_shards
from provscan.io.sparse import CountingFile, SparseFile, chunk_ranges
from provscan.net.ranged import RangeReader, RemoteInfo
from provscan.sampling.hub import PREFIX as HUB_PREFIX, resolve_hub

_WINDOW_BYTES = 64 << 20  # column-chunk bytes held in memory at once per source
_WINDOW_GROUPS = 32


@dataclass(frozen=True)
class Source:
    name: str  # as reports name it: the path as given, the URL, or hf://datasets/ORG/NAME@COMMIT/PATH
    location: str  # a local path or a URL
    remote: bool
    headers: dict[str, str] = field(default_factory=dict)


def resolve_sources(items: Sequence[str | Path]) -> list[Source]:
    """Expand SOURCES in order; ``@FILE`` lines are sources too (blank lines and ``#`` comments skipped)."""
    out: list[Source] = []
    for item in items:
        text = str(item)
        if text.startswith("@"):
            out += resolve_sources(_list_file(Path(text[1:])))
        elif text.startswith(("http://", "https://")):
            out.append(Source(text, text, True))
        elif text.startswith(HUB_PREFIX):
            out += [Source(f.source, f.url, True, f.headers) for f in resolve_hub(text)]
        elif "://" in text:
            raise ConfigError(f"{text}: unsupported source scheme (use a path, https://, @FILE or hf://datasets/)")
        else:
            out += [Source(s.given, str(s.path), False) for s in expand_shards([text])]
    if not out:
        raise ConfigError("no sources given")
    seen: dict[str, str] = {}
    for source in out:
        key = source.location if source.remote else str(Path(source.location).resolve())
        if key in seen:
            raise ConfigError(f"{source.name}: given twice (also as {seen[key]}); its rows would be sampled twice")
        seen[key] = source.name
    return out


def _list_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read source list: {exc.strerror or exc}") from exc
    entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if any(e.startswith("@") for e in entries):
        raise ConfigError(f"{path}: a source list cannot name another source list")
    base = path.parent
    return [e if "://" in e or Path(e).is_absolute() else str(base / e) for e in entries]


class OpenSource:
    """One source, opened by its footer: metadata now, row groups on demand."""

    def __init__(self, source: Source, reader: RangeReader | None) -> None:
        self.source = source
        self.remote: RemoteInfo | None = None
        self._local: CountingFile | None = None
        self._sparse: SparseFile | None = None
        self._tail_start = 0
        try:
            if source.remote:
                if reader is None:
                    raise ConfigError("remote sources need a RangeReader")
                self.remote = reader.open(source.location, source.headers)
                if self.remote.spill is not None:  # the server ignored Range and a full download was allowed
                    self._local = CountingFile(self.remote.spill, "r")
                    self.file = pq.ParquetFile(self._local, pre_buffer=False)
                else:
                    self._reader = reader
                    self._sparse = self._sparse_file(reader, self.remote)
                    self.file = pq.ParquetFile(self._sparse, pre_buffer=False)
            else:
                self._local = CountingFile(source.location, "r")
                self.file = pq.ParquetFile(self._local, pre_buffer=False)
        except (OSError, pa.ArrowException) as exc:
            raise ShardError(source.name, f"not a readable parquet file ({exc})") from exc
        self.metadata = self.file.metadata
        self.schema: pa.Schema = self.file.schema_arrow

    def _sparse_file(self, reader: RangeReader, info: RemoteInfo) -> SparseFile:
        sparse = SparseFile(info.size, lambda start, length: reader.fetch(info, [(start, length)])[0])
        self._tail_start = info.size - len(info.tail)
        sparse.add(self._tail_start, info.tail)
        if len(info.tail) < 8 or info.tail[-4:] != b"PAR1":
            raise ShardError(self.source.name, "not a parquet file (no PAR1 footer)")
        footer = struct.unpack("<I", info.tail[-8:-4])[0] + 8
        if footer > len(info.tail):  # a footer larger than the probe: fetch the rest of it once
            start = info.size - footer
            sparse.add(start, reader.fetch(info, [(start, self._tail_start - start)])[0] + info.tail)
            self._tail_start = start
        return sparse

    @property
    def size(self) -> int:
        return self.remote.size if self.remote else Path(self.source.location).stat().st_size

    @property
    def bytes_read(self) -> int:
        if self.remote is not None:
            return self.remote.bytes_read
        return self._local.bytes_read if self._local else 0

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source.name, "size": self.size,
            "etag": self.remote.etag if self.remote else None,
            "last_modified": self.remote.last_modified if self.remote else None,
            "rows": self.metadata.num_rows, "row_groups": self.metadata.num_row_groups,
            "bytes_read": self.bytes_read,
        }

    def row_group_rows(self) -> list[int]:
        return [self.metadata.row_group(i).num_rows for i in range(self.metadata.num_row_groups)]

    def read(self, row_groups: Iterable[int], columns: Sequence[str]) -> Iterator[tuple[int, pa.Table]]:
        """``(row group, table of columns)`` for each row group, prefetching a window at a time."""
        groups = [int(g) for g in row_groups]
        for window in self._windows(groups, columns):
            if self._sparse is not None and self.remote is not None:
                ranges = chunk_ranges(self.metadata, window, columns)
                for (start, _), data in zip(ranges, self._reader.fetch(self.remote, ranges)):
                    self._sparse.add(start, data)
            try:
                for g in window:
                    yield g, self.file.read_row_group(g, columns=list(columns))
            except (OSError, pa.ArrowException) as exc:
                raise ShardError(self.source.name, f"cannot read row group: {exc}") from exc
            if self._sparse is not None:
                self._sparse.drop_all_but([self._tail_start])

    def _windows(self, groups: list[int], columns: Sequence[str]) -> Iterator[list[int]]:
        window: list[int] = []
        size = 0
        for g in groups:
            cost = sum(n for _, n in chunk_ranges(self.metadata, [g], columns))
            if window and (size + cost > _WINDOW_BYTES or len(window) >= _WINDOW_GROUPS):
                yield window
                window, size = [], 0
            window.append(g)
            size += cost
        if window:
            yield window

    @property
    def misses(self) -> int:
        """Reads that fell outside the prefetched ranges (each one an extra request): 0 when exact."""
        return self._sparse.misses if self._sparse else 0

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
