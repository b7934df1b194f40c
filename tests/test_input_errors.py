"""Inputs of the wrong shape end in one line naming the file, exit 1, never a traceback or a silent miss.

Issue 8 reproduction 5 (a non-text URL column) and issue 7 (third-party errors translated where
they enter: a truncated ``--images`` tar, DuckDB errors that name no file).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from provscan.cli import cli
from provscan.errors import EngineError
from provscan.io.db import Database, translate


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["scan", *map(str, args), "-q"])


def one_line_error(result: Result) -> str:
    """exit 1 through click (a traceback would leave another exception), one line of output."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def write(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


# ---------------------------------------------------------------- URL and hash column types


def test_int64_url_column_is_refused_not_read_as_ipv4(tmp_path: Path, make_list) -> None:
    # 16843009 == 1.1.1.1 as an IPv4 number: read as text it matched the list and the row was dropped.
    shard = write(tmp_path / "s.parquet", pa.table({"url": pa.array([16843009, 7], pa.int64())}))
    lst = make_list("ip.txt", "# provscan-list: kind=domain\n1.1.1.1\n")
    line = one_line_error(run(shard, "-b", lst, "-o", tmp_path / "out"))
    assert str(shard) in line and "'url'" in line and "int64" in line
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize(
    "column",
    [
        pa.array([["http://bad.example/"], []], pa.list_(pa.string())),
        pa.array([{"u": "http://bad.example/"}, {"u": None}], pa.struct([("u", pa.string())])),
    ],
)
def test_nested_url_column_is_refused_not_all_invalid(tmp_path: Path, make_list, column: pa.Array) -> None:
    shard = write(tmp_path / "s.parquet", pa.table({"URL": column}))
    lst = make_list("d.txt", "# provscan-list: kind=domain\nbad.example\n")
    line = one_line_error(run(shard, "-b", lst, "-o", tmp_path / "out"))
    assert str(shard) in line and "'URL'" in line and str(pq.read_schema(shard).field("URL").type) in line


def test_explicit_url_column_of_wrong_type_names_it(tmp_path: Path, make_list) -> None:
    shard = write(tmp_path / "s.parquet", pa.table({"url": ["http://a.example/"], "link": [1.5]}))
    lst = make_list("d.txt", "# provscan-list: kind=domain\nbad.example\n")
    line = one_line_error(run(shard, "-b", lst, "-o", tmp_path / "out", "--url-column", "link"))
    assert "'link'" in line and "double" in line


@pytest.mark.parametrize(
    "url_type",
    [
        pa.string(),
        pa.large_string(),
        pa.binary(),
        pa.large_binary(),
        pa.dictionary(pa.int32(), pa.string()),
    ],
)
def test_text_url_columns_are_read_and_matched(tmp_path: Path, make_list, url_type: pa.DataType) -> None:
    urls = pa.array(["http://bad.example/x", "http://good.example/"], pa.string())
    column = urls.dictionary_encode().cast(url_type) if pa.types.is_dictionary(url_type) else urls.cast(url_type)
    shard = write(tmp_path / "s.parquet", pa.table({"url": column}))
    lst = make_list("d.txt", "# provscan-list: kind=domain\nbad.example\n")
    result = run(shard, "-b", lst, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert (manifest["shards"][0]["rows_dropped"], manifest["shards"][0]["invalid_urls"]) == (1, 0)


def test_int_hash_column_is_refused(tmp_path: Path, make_list) -> None:
    shard = write(tmp_path / "s.parquet", pa.table({"url": ["http://a.example/"], "ph": pa.array([12345], pa.int64())}))
    lst = make_list("p.txt", "# provscan-list: kind=phash\n" + "0" * 11 + "3039\n")
    line = one_line_error(run(shard, "-b", lst, "-o", tmp_path / "out", "--hash-column", "phash=ph"))
    assert str(shard) in line and "phash hash column 'ph'" in line and "int64" in line


def test_raw_digest_bytes_are_refused_not_missed(tmp_path: Path, make_list) -> None:
    # A fixed_size_binary(32) of raw SHA-256 bytes: its text form is not hex, so every row would miss.
    digest = hashlib.sha256(b"image").digest()
    shard = write(
        tmp_path / "s.parquet", pa.table({"url": ["http://a.example/"], "sha256": pa.array([digest], pa.binary(32))})
    )
    lst = make_list("h.txt", f"# provscan-list: kind=image-sha256\n{digest.hex()}\n")
    line = one_line_error(run(shard, "-b", lst, "-o", tmp_path / "out"))
    assert "'sha256'" in line and "fixed_size_binary[32]" in line


# ---------------------------------------------------------------- third-party errors where they enter


def test_truncated_images_tar_is_one_line(tmp_path: Path, make_shard, make_list) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(3):
            for ext, data in (("jpg", bytes(range(256)) * 40), ("json", json.dumps({"key": str(i)}).encode())):
                info = tarfile.TarInfo(f"00000000{i}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    bad = tmp_path / "bad.tar"
    bad.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    shard = make_shard("s.parquet", url=["http://a.example/1"])
    lst = make_list("p.txt", "# provscan-list: kind=phash\n" + "f" * 16 + "\n")
    line = one_line_error(run(shard, "-b", lst, "--images", bad, "-o", tmp_path / "out"))
    assert f"{bad}: not a readable tar" in line


def test_duckdb_error_without_a_file_is_an_engine_error(tmp_path: Path, make_shard, make_list, monkeypatch) -> None:
    # Out of memory while installing a list: no file to blame, so EngineError, not the bare base class.
    real_init = Database.__init__

    def tiny(self: Database, **kw: object) -> None:
        real_init(self, **{**kw, "memory_limit": "1MB"})

    monkeypatch.setattr(Database, "__init__", tiny)
    shard = make_shard("s.parquet", url=[f"http://a.example/{i}" for i in range(1000)])
    lst = make_list("d.txt", "# provscan-list: kind=domain\n" + "".join(f"d{i}.example\n" for i in range(50_000)))
    line = one_line_error(run(shard, "-b", lst, "-o", tmp_path / "out"))
    assert line.startswith("Error: duckdb: ") and "Out of Memory" in line
    with Database() as db, pytest.raises(EngineError, match="^duckdb: .*no_such_table"):
        db.execute("SELECT * FROM no_such_table")


def test_out_of_memory_while_reading_a_shard_is_not_blamed_on_the_shard(tmp_path: Path) -> None:
    path = write(tmp_path / "s.parquet", pa.table({"v": [str(i) * 20 for i in range(200_000)]}))
    with (
        Database(memory_limit="1MB") as db,
        pytest.raises(EngineError, match=f"^duckdb: Out of Memory.*reading {path}"),
    ):
        with translate(path):  # as pipeline/rows.py reads a shard
            db.con.execute(f"SELECT count(DISTINCT v) FROM {db.read_parquet_sql(path)}").fetchall()


def test_a_query_that_spills_works_with_a_nested_spill_directory(tmp_path: Path) -> None:
    # The run's spill directory is OUT/.provscan/tmp/PID; DuckDB makes only the last level, so a
    # missing parent failed the first query that needed disk ("IO Error: Failed to create directory").
    spill = tmp_path / "out" / ".provscan" / "tmp" / "123"
    with Database(memory_limit="30MB", threads=1, temp_dir=spill) as db:
        sql = "SELECT count(*) FROM (SELECT DISTINCT i::VARCHAR || repeat('x', 40) FROM range(1500000) t(i))"
        assert db.scalar(sql) == 1_500_000
    assert spill.is_dir()
