"""The DuckDB door: every query provscan runs goes through :class:`Database`.

Keeping DuckDB behind one class pins its moving Python API (arrow export names changed between
releases, ``fetchone`` vanished in 2.0) to one place, bounds its memory so a 30 M-row shard spills to
disk instead of growing the process, and translates its exceptions into the provscan tree with the
file that caused them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from provscan.errors import EngineError, OutputError, ShardError
from provscan.io.atomic import atomic_path
from provscan.machine import usable_cpus

DEFAULT_MEMORY_LIMIT = "1GB"
"""DuckDB's own budget; with pyarrow's export buffers the process stays well under 2 GiB."""


class Database:
    """One in-process DuckDB connection with bounded memory and a private spill directory."""

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        temp_dir: str | Path | None = None,
    ) -> None:
        self._own_tmp = None
        if temp_dir is None:
            self._own_tmp = tempfile.TemporaryDirectory(prefix="provscan-duckdb-")
            temp_dir = self._own_tmp.name
        else:
            # DuckDB creates only the last level, and only when it first spills: a missing parent
            # (e.g. OUT/.provscan/tmp/PID) would fail the run at the first shard that needs disk.
            try:
                Path(temp_dir).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(temp_dir, f"cannot create the spill directory: {exc.strerror or exc}") from exc
        self.con = duckdb.connect(config={"memory_limit": memory_limit})
        self.con.execute(f"SET temp_directory = {sql_literal(str(temp_dir))}")
        self.con.execute(f"SET threads = {int(threads or usable_cpus())}")
        # Findings must come out in a stable order run after run; DuckDB only promises that when asked.
        self.con.execute("SET preserve_insertion_order = true")
        self.con.execute("SET enable_progress_bar = false")  # provscan draws its own, or stays quiet

    def close(self) -> None:
        self.con.close()
        if self._own_tmp is not None:
            self._own_tmp.cleanup()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, sql: str, params: Sequence[Any] | None = None, *, reading: str | Path | None = None) -> None:
        """Run a statement whose result is not needed (DDL, CREATE TABLE AS ...). ``reading``: the
        input file the statement reads, named by its errors (see :func:`translate`)."""
        with translate(reading):
            self.con.execute(sql, params or []).fetchall()

    def arrow(self, sql: str, params: Sequence[Any] | None = None, *, reading: str | Path | None = None) -> pa.Table:
        """Run a query and return the whole result as an Arrow table."""
        with translate(reading):
            return self.con.sql(sql, params=params or None).to_arrow_table()

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with translate():
            return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        result = self.rows(sql, params)
        return result[0][0] if result else None

    def batches(
        self, sql: str, params: Sequence[Any] | None = None, *, batch_rows: int = 262_144
    ) -> Iterator[pa.RecordBatch]:
        """Stream a large result in bounded memory."""
        with translate():
            reader = self.con.sql(sql, params=params or None).to_arrow_reader(batch_rows)
            yield from reader

    def put(self, name: str, table: pa.Table, *, select: str = "*") -> None:
        """Materialise an Arrow table as a DuckDB temp table (replacing one of the same name);
        ``select``: the column list to materialise instead of ``*`` (casts, constants)."""
        with self._registered(table) as view:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {sql_ident(name)} AS SELECT {select} FROM {view}")

    def append(self, name: str, table: pa.Table) -> None:
        """Append an Arrow table to an existing table (which DuckDB may spill to disk)."""
        with self._registered(table) as view:
            self.con.execute(f"INSERT INTO {sql_ident(name)} SELECT * FROM {view}")

    def append_by_name(self, name: str, table: pa.Table) -> None:
        """Append an Arrow table by column name; columns it lacks are NULL."""
        with self._registered(table) as view:
            self.con.execute(f"INSERT INTO {sql_ident(name)} BY NAME SELECT * FROM {view}")

    @contextmanager
    def _registered(self, table: pa.Table) -> Iterator[str]:
        """An Arrow table visible to SQL for the duration of one statement."""
        with translate():
            self.con.register("_provscan_put", table)
            try:
                yield "_provscan_put"
            finally:
                self.con.unregister("_provscan_put")

    def drop(self, *names: str) -> None:
        for name in names:
            self.execute(f"DROP TABLE IF EXISTS {sql_ident(name)}")

    def read_parquet_table(self, path: str | Path, schema: pa.Schema) -> pa.Table:
        """A small parquet file of provscan's own (e.g. the fetch cache), or an empty table if absent."""
        if not Path(path).exists():
            return schema.empty_table()
        with translate(path):
            return self.con.sql(f"SELECT * FROM read_parquet({sql_literal(str(path))})").to_arrow_table().cast(schema)

    def write_parquet(self, query: str, path: str | Path) -> None:
        """Write a query's result as zstd parquet under a temporary name, then rename into place."""
        with atomic_path(path) as tmp:
            self.execute(f"COPY ({query}) TO {sql_literal(str(tmp))} (FORMAT parquet, COMPRESSION zstd)")

    def read_parquet_sql(self, path: str | Path) -> str:
        """The FROM clause that reads one shard with DuckDB's row numbers (0-based, file order)."""
        return f"read_parquet({sql_literal(str(path))}, file_row_number = true)"


@contextmanager
def translate(path: str | Path | None = None) -> Iterator[None]:
    """Map DuckDB exceptions to provscan ones: a file's read errors name the file (ShardError),
    the rest are EngineError. Running out of memory is never the file's fault, even mid-read."""
    try:
        yield
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        if path is not None and not isinstance(exc, duckdb.OutOfMemoryException):
            raise ShardError(path, message) from exc
        raise EngineError(f"duckdb: {message}" + (f" (reading {path})" if path is not None else "")) from exc


def sql_literal(value: str) -> str:
    """A quoted SQL string literal, for text that cannot be a parameter (inside a built query, a
    ``COPY ... TO`` path). With :func:`sql_ident`, the only way user text enters SQL."""
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """A quoted SQL identifier, e.g. a shard column name with spaces or capitals."""
    return '"' + name.replace('"', '""') + '"'
