"""Every Arrow string type a shard's URL, id, licence and hash columns can hold gives the same result
(issue 22): binary is decoded as UTF-8 (an undecodable URL is an invalid row, never a different
string), views and dictionaries are exported with their types kept, and the native kernel and the
SQL fast path agree on every type."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provscan
from provscan import ListSpec, scan
from provscan.pipeline.verify import verify_output
from provscan.urls import native

DIGEST = hashlib.sha256(b"image").hexdigest()
URLS = [
    "http://bücher.example/a.jpg",
    "http://ＥＶＩＬ.example/x",
    None,
    "http://ok.example/b.jpg",
    "http://bad.example/c%7e",
    "https://ok.example/ü?q=1",
    "http://ok.example/",
]
SHA = [None, None, None, DIGEST.upper(), "nothex", None, None]
PHASH = [None, "zz", None, None, None, "0000000000000000", "FFFFFFFFFFFFFFFF"]
DROPPED = [0, 1, 3, 4, 6]  # bücher, fullwidth EVIL, the listed image digest, bad.example, a phash 1 bit away
UNDECODABLE = b"http://bad.example/\xff"  # bad.example, but not UTF-8: an invalid row, not a match

TYPES = {
    "string": pa.string(),
    "large_string": pa.large_string(),
    "string_view": pa.string_view(),
    "binary": pa.binary(),
    "large_binary": pa.large_binary(),
    "binary_view": pa.binary_view(),
    "dict_string": pa.dictionary(pa.int32(), pa.string()),
    "dict_binary": pa.dictionary(pa.int8(), pa.binary()),
}


def _column(values: list, dtype: pa.DataType) -> pa.Array:
    value_type = dtype.value_type if pa.types.is_dictionary(dtype) else dtype
    binary = value_type in (pa.binary(), pa.large_binary(), pa.binary_view())
    data = [v.encode() if binary and isinstance(v, str) else v for v in values]
    array = pa.array(data, value_type)
    return array.dictionary_encode().cast(dtype) if pa.types.is_dictionary(dtype) else array


def _shard(path: Path, dtype: pa.DataType) -> tuple[pa.Table, bool]:
    """A shard with URL, key, license and sha256 all of ``dtype``; binary ones add an undecodable URL."""
    binary = "binary" in str(dtype)
    urls = URLS + ([UNDECODABLE] if binary else [])
    n = len(urls)
    table = pa.table(
        {
            "url": _column(urls, dtype),
            "key": _column([f"k{i}" for i in range(n)], dtype),
            "license": _column(["cc-by-4.0"] * n, dtype),
            "sha256": _column(SHA + [None] * (n - len(SHA)), dtype),
            "image_phash": _column(PHASH + [None] * (n - len(PHASH)), dtype),
            "caption": pa.array([f"c{i}" for i in range(n)], pa.string_view()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return table, binary


def _plain(table: pa.Table) -> pa.Table:
    """Views as large types, which pyarrow can take from (to compare contents)."""
    large = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}
    return table.cast(pa.schema([f.with_type(large.get(f.type, f.type)) for f in table.schema]))


def _lists(tmp_path: Path) -> tuple[ListSpec, ...]:
    (tmp_path / "d.txt").write_text("# provscan-list: kind=domain\nbücher.example\nevil.example\nbad.example\n")
    (tmp_path / "s.txt").write_text(f"# provscan-list: kind=image-sha256\n{DIGEST}\n")
    (tmp_path / "p.txt").write_text("# provscan-list: kind=phash max_distance=2\nfffffffffffffffe\n")
    return ListSpec(tmp_path / "d.txt"), ListSpec(tmp_path / "s.txt"), ListSpec(tmp_path / "p.txt")


def _run(tmp_path: Path, shard: Path, name: str, monkeypatch: pytest.MonkeyPatch, use_native: bool):
    monkeypatch.setattr(native, "AVAILABLE", use_native and native._simple is not None)
    return scan([shard], lists=_lists(tmp_path), output=tmp_path / name)


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_string_type_scans_exports_and_verifies_alike(tmp_path: Path, name: str, monkeypatch) -> None:
    shard = tmp_path / "shards" / "s.parquet"
    table, binary = _shard(shard, TYPES[name])
    results = {mode: _run(tmp_path, shard, mode, monkeypatch, mode == "native") for mode in ("native", "sql")}
    flagged = {mode: pq.read_table(r.output / "flagged.parquet") for mode, r in results.items()}
    assert flagged["native"].equals(flagged["sql"])
    assert sorted({row for row in flagged["sql"].column("row").to_pylist()}) == DROPPED
    # the report stores the decoded text, never DuckDB's \xNN rendering of a BLOB
    assert flagged["sql"].column("url").to_pylist()[0] == URLS[0]
    assert set(flagged["sql"].column("id").to_pylist()) == {"k0", "k1", "k3", "k4", "k6"}
    for mode, result in results.items():
        entry = result.manifest["shards"][0]
        assert (entry["rows_in"], entry["rows_dropped"]) == (table.num_rows, len(DROPPED)), mode
        assert entry["null_urls"] == 1, mode
        assert entry["invalid_urls"] == (1 if binary else 0), mode
        clean = result.output / entry["output"]
        assert pq.read_schema(clean) == pq.read_schema(shard), mode  # types (views too) kept
        keep = pa.array([i for i in range(table.num_rows) if i not in DROPPED])
        assert _plain(pq.read_table(clean)).equals(_plain(pq.read_table(shard)).take(keep)), mode
        assert verify_output(result.output).ok, mode


@pytest.mark.parametrize("blob", [False, True])
def test_shards_written_by_duckdb(tmp_path: Path, blob: bool, monkeypatch) -> None:
    """DuckDB writes VARCHAR as a string column and BLOB as a binary one, without an Arrow schema."""
    shard = tmp_path / "shards" / "d.parquet"
    shard.parent.mkdir(parents=True)
    source = pa.table(
        {
            "url": pa.array(URLS, pa.string()),
            "sha256": pa.array(SHA, pa.string()),
            "image_phash": pa.array(PHASH, pa.string()),
        }
    )
    cast = "encode" if blob else ""
    con = duckdb.connect()
    con.register("src", source)
    con.execute(
        f"COPY (SELECT {cast}(url) AS url, {cast}(sha256) AS sha256, {cast}(image_phash) AS image_phash FROM src) "
        f"TO '{shard}' (FORMAT parquet)"
    )
    assert pa.types.is_binary(pq.read_schema(shard).field("url").type) == blob
    results = [_run(tmp_path, shard, mode, monkeypatch, mode == "native") for mode in ("native", "sql")]
    flagged = [pq.read_table(r.output / "flagged.parquet") for r in results]
    assert flagged[0].equals(flagged[1])
    assert sorted(set(flagged[0].column("row").to_pylist())) == DROPPED
    for result in results:
        assert pq.read_schema(result.output / result.manifest["shards"][0]["output"]) == pq.read_schema(shard)
        assert verify_output(result.output).ok


def test_undecodable_url_is_counted_invalid_not_matched(tmp_path: Path, monkeypatch) -> None:
    shard = tmp_path / "shards" / "u.parquet"
    shard.parent.mkdir(parents=True)
    pq.write_table(
        pa.table({"url": pa.array([UNDECODABLE, b"http://bad.example/\xc3", None, b""], pa.binary())}), shard
    )
    for mode in ("native", "sql"):
        entry = _run(tmp_path, shard, mode, monkeypatch, mode == "native").manifest["shards"][0]
        assert (entry["rows_dropped"], entry["invalid_urls"], entry["null_urls"]) == (0, 2, 2), mode


@pytest.mark.parametrize("name", ["string_view", "binary", "dict_string"])
def test_sample_reads_every_string_type(tmp_path: Path, name: str) -> None:
    """``provscan sample`` takes its rows from the same column types (string_view: array_take failed)."""
    shard = tmp_path / "shards" / "s.parquet"
    table, _ = _shard(shard, TYPES[name])
    result = provscan.sample(
        [shard],
        rows=table.num_rows,
        seed=1,
        output=tmp_path / "audit",
        config=provscan.ScanConfig(lists=_lists(tmp_path)),
    )
    sampled = pq.read_table(tmp_path / "audit" / "sample.parquet")
    assert sampled.num_rows == table.num_rows
    assert result.estimates["estimates"]
