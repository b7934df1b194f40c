"""The cleaned export: a shard copied minus its dropped rows, row group by row group.

pyarrow rather than DuckDB ``COPY`` writes it, because the contract is *the same shard*: the same
Arrow schema with its metadata (pandas index, field metadata), the same types (DuckDB would turn
``large_string`` into ``string`` and drop metadata), the same per-column compression codec, the same
row order and row-group boundaries. Memory is one row group at a time.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from provscan.errors import OutputError, ShardError
from provscan.io.atomic import AtomicTarget
from provscan.io.views import takeable_schema

DICTIONARY_PAGE_LIMIT = 64 * 1024
"""pyarrow builds a dictionary for every column chunk and abandons it when it passes this size; at
its 1 MiB default, URL and caption columns build a full dictionary first, which doubled the export's
CPU on LAION-like shards (0.84 s -> 0.40 s per million rows) and made the file larger. Columns with
few distinct values still fit in 64 KiB and keep their dictionaries."""

_CODECS = {
    "UNCOMPRESSED": "none",
    "SNAPPY": "snappy",
    "GZIP": "gzip",
    "BROTLI": "brotli",
    "LZ4": "lz4",
    "LZ4_RAW": "lz4",
    "ZSTD": "zstd",
}


class _HashingSink(io.RawIOBase):
    """A write-only file that hashes what passes through: the manifest's output SHA-256 without
    reading the written shard back (on a machine whose page cache is small, that re-read costs as
    much as writing it)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")  # noqa: SIM115  (closed in close())
        self.digest = hashlib.sha256()
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        view = memoryview(data)
        self.digest.update(view)
        self._file.write(view)
        self._pos += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


class CleanWriter:
    """The cleaned shard being written, one input row group at a time: the input's schema, codecs
    and row-group boundaries, a temporary name until :meth:`commit`, its SHA-256 taken as written.
    Used by :func:`export_clean` and by the one-pass shard scan, which writes each row group as
    soon as its drops are known."""

    def __init__(self, parquet: pq.ParquetFile, target: Path) -> None:
        self._target = AtomicTarget(target)
        try:
            self.sink = _HashingSink(self._target.tmp)
            self.writer = pq.ParquetWriter(
                self.sink,
                parquet.schema_arrow,
                compression=_compression(parquet.metadata),
                write_statistics=True,
                dictionary_pagesize_limit=DICTIONARY_PAGE_LIMIT,
            )
        except OSError as exc:
            self._target.abort()
            raise OutputError(self._target.path, f"cannot write: {exc.strerror or exc}") from exc
        self.written = 0

    def write(self, group: pa.Table, dropped: np.ndarray) -> None:
        """Write ``group`` minus its rows at the (group-relative, sorted) positions ``dropped``."""
        if dropped.size:
            keep = np.ones(group.num_rows, dtype=bool)
            keep[dropped] = False
            bits = pa.py_buffer(np.packbits(keep, bitorder="little"))  # not pa.array: that imports numpy.ma
            group = _filter(group, pa.Array.from_buffers(pa.bool_(), group.num_rows, [None, bits]))
        if group.num_rows:
            try:
                self.writer.write_table(group, row_group_size=max(group.num_rows, 1))
            except OSError as exc:
                raise OutputError(self._target.path, f"cannot write: {exc.strerror or exc}") from exc
        self.written += group.num_rows

    def commit(self) -> tuple[int, str]:
        """Close and rename into place: (rows written, SHA-256 of the file)."""
        try:
            self.writer.close()
            self.sink.close()
        except OSError as exc:
            self._target.abort()
            raise OutputError(self._target.path, f"cannot write: {exc.strerror or exc}") from exc
        self._target.commit()
        return self.written, self.sink.digest.hexdigest()

    def abort(self) -> None:
        """Close and remove the temporary file (after an error; errors closing it are not news)."""
        try:
            self.writer.close()
            self.sink.close()
        except (OSError, pa.ArrowException):
            pass
        self._target.abort()


def export_clean(
    source: str | Path,
    target: str | Path,
    dropped: np.ndarray,
    *,
    shard_name: str,
    on_rows: Callable[[int], None] | None = None,
) -> tuple[int, str]:
    """Write ``source`` minus the rows whose 0-based numbers are in sorted ``dropped``.

    ``on_rows(n)`` is called after each row group with the number of input rows it covered (the
    progress bar advances per row group, not per shard).

    Returns (rows written, SHA-256 of the written file). The file appears under a temporary name and
    is renamed only when complete, so a crash never leaves a truncated shard that looks finished.
    """
    parquet = open_shard(source, shard_name)
    try:
        out = CleanWriter(parquet, Path(target))
        try:
            start = 0
            for index in range(parquet.metadata.num_row_groups):
                group = parquet.read_row_group(index)
                stop = start + group.num_rows
                lo, hi = np.searchsorted(dropped, [start, stop])
                out.write(group, dropped[lo:hi] - start)
                if on_rows is not None:
                    on_rows(stop - start)
                start = stop
        except OSError as exc:
            out.abort()
            raise OutputError(Path(target), f"cannot write: {exc.strerror or exc}") from exc
        except BaseException:
            out.abort()
            raise
        return out.commit()
    except pa.ArrowException as exc:
        raise ShardError(shard_name, f"cannot read while exporting: {exc}") from exc


def open_shard(source: str | Path, shard_name: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(source)
    except (OSError, pa.ArrowException) as exc:
        raise ShardError(shard_name, f"not a readable parquet file ({exc})") from exc


def _filter(group: pa.Table, keep: pa.Array) -> pa.Table:
    """``group.filter(keep)`` for every column type a parquet file can hold, types kept: views go
    through their large types and back (the export writes the input's schema unchanged)."""
    schema = group.schema
    takeable = takeable_schema(schema)
    if takeable == schema:
        return group.filter(keep)
    return group.cast(takeable).filter(keep).cast(schema)


def _compression(meta: pq.FileMetaData) -> dict[str, str] | str:
    """The codec of each column as the source wrote it (first row group); snappy for an empty file."""
    if meta.num_row_groups == 0:
        return "snappy"
    group = meta.row_group(0)
    codecs: dict[str, str] = {}
    for i in range(group.num_columns):
        column = group.column(i)
        codecs[column.path_in_schema] = _CODECS.get(column.compression, "snappy")
    return codecs


def count_rows(path: str | Path) -> int:
    """Rows in a parquet file, from its footer."""
    return pq.ParquetFile(path).metadata.num_rows
