"""SOURCES for ``provscan sample``: local shards, ``http(s)://`` parquet URLs, ``@FILE`` lists and
``hf://datasets/...``, each opened by its footer alone and read row group by row group.

Local inputs resolve exactly as ``scan``'s (:func:`provscan.io.shards.expand_shards`: files,
directories, quoted globs). Remote files are read with range requests (:mod:`provscan.net.ranged`):
opening one costs its footer; reading the row groups of a sample costs their column chunks of the
columns asked for; :mod:`provscan.sampling.run` fetches them a window at a time (bounded memory),
every range of a window in flight together, across sources.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
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
        key = source.location if source.remote else _identity(Path(source.location))
        if key in seen:
            raise ConfigError(f"{source.name}: given twice (also as {seen[key]}); its rows would be sampled twice")
        seen[key] = source.name
    return out


def _identity(path: Path) -> str:
    """A local file by identity (device, inode): a hard link or an overlapping input is the same file."""
    try:
        st = path.stat()
    except OSError:
        return str(path.resolve())
    return f"{st.st_dev}:{st.st_ino}"


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


def open_sources(sources: Sequence[Source], reader: RangeReader | None) -> list[OpenSource]:
    """Open every source by its footer; remote footers are fetched concurrently."""
    remote = [s for s in sources if s.remote]
    if remote and reader is None:
        raise ConfigError("remote sources need a RangeReader")
    infos = iter(reader.open_all([(s.location, s.headers) for s in remote]) if remote and reader else [])
    return [OpenSource(s, reader, next(infos) if s.remote else None) for s in sources]


class OpenSource:
    """One source, opened by its footer: metadata now, column chunks of row groups on demand.

    Reading a window of row groups: :meth:`ranges` (what to fetch), :meth:`add` (the fetched
    bytes, for remote sources), :meth:`read_group` per row group, then :meth:`release`.
    """

    def __init__(self, source: Source, reader: RangeReader | None, remote: RemoteInfo | None = None) -> None:
        self.source = source
        self.remote = remote
        self._local: CountingFile | None = None
        self._sparse: SparseFile | None = None
        self._tail_start = 0
        try:
            if remote is not None and remote.spill is None:
                assert reader is not None
                self._sparse = self._sparse_file(reader, remote)
                self.file = pq.ParquetFile(self._sparse, pre_buffer=False)
            else:  # a local shard, or a whole download of a server that ignored Range (allowed)
                local = remote.spill if remote is not None and remote.spill is not None else source.location
                self._local = CountingFile(local, "r")
                self.file = pq.ParquetFile(self._local, pre_buffer=False)
            self.metadata = self.file.metadata
            self.schema: pa.Schema = self.file.schema_arrow
        except (OSError, pa.ArrowException) as exc:
            self.close()
            raise ShardError(source.name, f"not a readable parquet file ({exc})") from exc

    def _sparse_file(self, reader: RangeReader, info: RemoteInfo) -> SparseFile:
        sparse = SparseFile(info.size, lambda start, length: reader.fetch(info, [(start, length)])[0])
        self._tail_start = info.size - len(info.tail)
        sparse.add(self._tail_start, info.tail)
        if len(info.tail) < 8 or info.tail[-4:] != b"PAR1":
            raise ShardError(self.source.name, "not a parquet file (no PAR1 footer)")
        footer = struct.unpack("<I", info.tail[-8:-4])[0] + 8
        if footer > len(info.tail):  # a footer larger than the probe: fetch the rest of it once
            start = max(0, info.size - footer)
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

    @property
    def remote_info(self) -> RemoteInfo:
        """The remote file's state (for range fetches); only for sources read remotely."""
        if self.remote is None:
            raise ValueError(f"{self.source.name} is not a remote source")
        return self.remote

    @property
    def misses(self) -> int:
        """Reads that fell outside the prefetched ranges (each one an extra request): 0 when exact."""
        return self._sparse.misses if self._sparse else 0

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source.name,
            "size": self.size,
            "etag": self.remote.etag if self.remote else None,
            "last_modified": self.remote.last_modified if self.remote else None,
            "rows": self.metadata.num_rows,
            "row_groups": self.metadata.num_row_groups,
            "bytes_read": self.bytes_read,
            "requests": self.remote.requests if self.remote else None,
            "unplanned_reads": self.misses,
            "full_download": bool(self.remote and self.remote.spill),
        }

    def row_group_rows(self) -> list[int]:
        return [self.metadata.row_group(i).num_rows for i in range(self.metadata.num_row_groups)]

    def ranges(self, groups: Iterable[int], columns: Sequence[str]) -> list[tuple[int, int]]:
        """The byte ranges to fetch before reading ``groups``, less what the footer read already
        holds (a small file, or the last row group, sits inside it); none for local files."""
        if self._sparse is None:
            return []
        out = []
        for start, length in chunk_ranges(self.metadata, groups, columns):
            length = min(length, self._tail_start - start)  # the tail piece stays until the end
            if length > 0:
                out.append((start, length))
        return out

    def cost(self, group: int, columns: Sequence[str]) -> int:
        return sum(n for _, n in chunk_ranges(self.metadata, [group], columns))

    def add(self, ranges: Sequence[tuple[int, int]], data: Sequence[bytes]) -> None:
        assert self._sparse is not None
        for (start, _), piece in zip(ranges, data):
            self._sparse.add(start, piece)

    def read_group(self, group: int, columns: Sequence[str]) -> pa.Table:
        try:
            return self.file.read_row_group(group, columns=list(columns))
        except (OSError, pa.ArrowException) as exc:
            raise ShardError(self.source.name, f"cannot read row group {group}: {exc}") from exc

    def release(self) -> None:
        """Forget fetched column chunks (the footer stays): memory stays bounded by one window."""
        if self._sparse is not None:
            self._sparse.drop_all_but([self._tail_start])

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
