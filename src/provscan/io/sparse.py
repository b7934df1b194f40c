"""A read-only, seekable file made of the byte ranges fetched so far: what pyarrow reads remotely.

pyarrow's ``ParquetFile`` (with ``pre_buffer=False``) reads the footer, then one column chunk at a
time with ``seek`` + ``read``. Handing it a :class:`SparseFile` whose pieces are the footer and the
column chunks fetched beforehand (concurrently) makes its reads free; a read of a byte nobody
fetched goes to ``fill`` (a ranged GET), is counted in :attr:`SparseFile.misses`, and is a sign the
range computation missed something. :class:`CountingFile` is the local twin: it counts bytes read.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Callable, Iterable

import pyarrow.parquet as pq

__all__ = ["CountingFile", "SparseFile", "chunk_ranges", "merge_ranges"]


class SparseFile(io.RawIOBase):
    """Pieces ``{offset: bytes}`` of a file of ``size`` bytes; ``fill(start, length)`` fetches gaps."""

    def __init__(self, size: int, fill: Callable[[int, int], bytes]) -> None:
        super().__init__()
        self.size, self._fill = size, fill
        self._starts: list[int] = []
        self._pieces: dict[int, bytes] = {}
        self._pos = 0
        self.misses = 0

    def add(self, start: int, data: bytes) -> None:
        if not data:
            return
        if start not in self._pieces:
            bisect.insort(self._starts, start)
        if len(data) >= len(self._pieces.get(start, b"")):
            self._pieces[start] = data

    def drop_all_but(self, keep: Iterable[int]) -> None:
        keep = set(keep)
        for start in [s for s in self._starts if s not in keep]:
            del self._pieces[start]
        self._starts = [s for s in self._starts if s in keep]

    # -- io.RawIOBase --------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        out = self._range(self._pos, end)
        self._pos = end
        return out

    def _range(self, lo: int, hi: int) -> bytes:
        parts: list[bytes] = []
        pos = lo
        while pos < hi:
            i = bisect.bisect_right(self._starts, pos) - 1
            if i >= 0:
                start = self._starts[i]
                piece = self._pieces[start]
                if start + len(piece) > pos:
                    take = piece[pos - start : hi - start]
                    parts.append(take)
                    pos += len(take)
                    continue
            nxt = self._starts[i + 1] if i + 1 < len(self._starts) else hi
            gap_end = min(hi, nxt)
            self.misses += 1
            data = self._fill(pos, gap_end - pos)
            self.add(pos, data)
            parts.append(data)
            pos += len(data)
            if not data:
                break
        return b"".join(parts)


class CountingFile(io.FileIO):
    """A local file that counts the bytes read through it (the local figure for ``bytes_read``)."""

    bytes_read = 0

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        data = super().read(size)
        self.bytes_read += len(data or b"")
        return data  # type: ignore[return-value]

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        n = super().readinto(buffer) or 0
        self.bytes_read += n
        return n


def chunk_ranges(metadata: pq.FileMetaData, row_groups: Iterable[int], columns: Iterable[str]) -> list[tuple[int, int]]:
    """``(start, length)`` of the column chunks of ``columns`` (top-level names) in ``row_groups``.

    A chunk starts at its dictionary page when it has one, else at its first data page, and spans
    ``total_compressed_size`` bytes: exactly what pyarrow reads for it with ``pre_buffer=False``.
    """
    wanted = set(columns)
    out = []
    for rg in row_groups:
        group = metadata.row_group(rg)
        for j in range(group.num_columns):
            chunk = group.column(j)
            if chunk.path_in_schema.split(".")[0] not in wanted:
                continue
            start = chunk.data_page_offset
            dictionary = chunk.dictionary_page_offset
            if chunk.has_dictionary_page and dictionary is not None and 0 < dictionary < start:
                start = dictionary
            out.append((start, chunk.total_compressed_size))
    return merge_ranges(out)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ranges with touching or overlapping ones joined (never across a gap: no extra bytes)."""
    merged: list[list[int]] = []
    for start, length in sorted(ranges):
        if merged and start <= merged[-1][0] + merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], start + length - merged[-1][0])
        else:
            merged.append([start, length])
    return [(s, n) for s, n in merged]
