"""Run outputs: the flagged-row report, the removal list and the JSON documents.

Every file is written under a temporary name in the output directory and renamed when complete, so
an interrupted run never leaves a file that looks finished; ``manifest.json`` is written last and is
the mark of a complete run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provscan.errors import OutputError
from provscan.io.atomic import AtomicTarget, atomic_path
from provscan.lists.files import list_header

FINDINGS_SCHEMA = pa.schema(
    [
        ("shard", pa.string()),  # the shard path as given
        ("row", pa.int64()),  # 0-based row number in the shard
        ("id", pa.string()),  # the row's id column, if any
        ("url", pa.string()),  # original URL (null with --redact-urls)
        ("url_sha256", pa.string()),  # SHA-256 of the row's full canonical expression
        ("list", pa.string()),
        ("kind", pa.string()),
        ("entry", pa.string()),  # the matched entry; for hashed lists the hash
        ("action", pa.string()),  # drop | flag | allow (an allowlist exempted the row from this drop)
        ("distance", pa.int16()),  # Hamming distance for perceptual kinds, else null
        ("image_hash", pa.string()),  # the row's image hash that matched
        ("detail", pa.string()),  # where a licence/consent/image signal came from
    ]
)


class ParquetSink:
    """Appends tables to one parquet file (zstd) under a temporary name; :meth:`close` renames it."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path, self.schema = path, schema
        self.rows = 0
        self._target = AtomicTarget(path)
        try:
            self._writer = pq.ParquetWriter(self._target.tmp, schema, compression="zstd")
        except OSError as exc:
            raise OutputError(path, f"cannot write: {exc.strerror or exc}") from exc

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._writer.write_table(table.select(self.schema.names).cast(self.schema))
            self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()
        self._target.commit()

    def abort(self) -> None:
        """Drop the half-written file; never raises (it runs while another error is on its way)."""
        try:
            self._writer.close()  # flushes buffered pages: fails on a full disk
        except OSError:
            pass
        self._target.abort()


class FlaggedWriter(ParquetSink):
    """``flagged.parquet``: one row per (input row, match)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, FINDINGS_SCHEMA)


def write_removals(path: Path, batches: Iterable[pa.RecordBatch]) -> int:
    """``removals.sha256.txt``: sorted unique SHA-256 of dropped rows' canonical expressions, as a
    ``url-sha256`` list. Streamed from sorted batches, so millions of removals need no list in memory."""
    head = list_header(
        path,
        "url-sha256",
        name="provscan-removals",
        action="drop",
        comments=(
            "SHA-256 of the canonical Safe Browsing expression (host + path + query) of every row provscan dropped.",
            "Apply to a derivative dataset with: provscan scan SHARDS -b url-sha256:removals.sha256.txt",
        ),
    )
    count = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(("\n".join(head) + "\n").encode("ascii"))
        for batch in batches:
            if batch.num_rows:
                out.write(_lines(batch.column(0)))
                count += batch.num_rows
    return count


def _lines(values: pa.Array) -> bytes | memoryview:
    """``value\\n`` for each value, from the Arrow buffers when every value is one 64-character
    digest (no Python string per row: 6 M removals are a tail the merge pays after the last shard)."""
    values = values.cast(pa.string())
    lengths = pc.binary_length(values)
    if values.null_count == 0 and pc.all(pc.equal(lengths, 64)).as_py():
        offsets, data = values.buffers()[1:3]
        start = np.frombuffer(offsets, np.int32, 1, values.offset * 4)[0]
        digits = np.frombuffer(data, np.uint8, len(values) * 64, start).reshape(len(values), 64)
        lines = np.empty((len(values), 65), np.uint8)
        lines[:, :64] = digits
        lines[:, 64] = 10  # "\n"
        return lines.data
    return ("\n".join(values.to_pylist()) + "\n").encode("ascii")
