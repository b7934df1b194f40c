"""End-to-end scans through the library API: findings, cleaned export, removals, manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provscan
from provscan.config import ListSpec, ScanConfig, load_config
from provscan.errors import ListError, OutputError, ShardError
from provscan import scan

from conftest import ROOT, eval_path


def _lists(*paths: Path, kind: str | None = None) -> tuple[ListSpec, ...]:
    return tuple(ListSpec(p, kind=kind) for p in paths)


def test_sample_data_with_shipped_config(tmp_path: Path) -> None:
    config = load_config(ROOT / "provscan.toml")
    shards = sorted((ROOT / "sample_data").glob("*.parquet"))
    result = scan(shards, config, output=tmp_path / "out")
    out = result.output
    flagged = pq.read_table(out / "flagged.parquet")
    assert flagged.num_rows > 0
    assert set(flagged.column("list").to_pylist()) == {
        "example-domains",
        "example-urls",
        "example-hashed",
        "example-review",
        "example-optout",
        "license-policy",
    }
    for entry in result.manifest["shards"]:
        assert entry["rows_in"] == entry["rows_out"] + entry["rows_dropped"]
        clean = pq.read_table(result.output / entry["output"])
        assert clean.num_rows == entry["rows_out"]
        assert hashlib.sha256((result.output / entry["output"]).read_bytes()).hexdigest() == entry["output_sha256"]
        assert hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
        source = pq.read_table(entry["path"])
        assert clean.schema == source.schema
        assert clean.schema.metadata == source.schema.metadata
        mine = flagged.filter(pa.compute.equal(flagged.column("shard"), entry["path"]))
        dropped = set(mine.filter(pa.compute.equal(mine.column("action"), "drop")).column("row").to_pylist())
        assert entry["rows_dropped"] == len(dropped)
        # the clean shard is the source minus exactly the dropped rows, in order
        keep = [i for i in range(source.num_rows) if i not in dropped]
        assert clean.equals(source.take(keep))
        src_meta, out_meta = (
            pq.ParquetFile(entry["path"]).metadata,
            pq.ParquetFile(result.output / entry["output"]).metadata,
        )
        assert out_meta.row_group(0).column(1).compression == src_meta.row_group(0).column(1).compression
    # flag-only rows are reported and kept
    review = flagged.filter(pa.compute.equal(flagged.column("list"), "example-review"))
    assert review.num_rows > 0 and set(review.column("action").to_pylist()) == {"flag"}
    totals = result.manifest["totals"]
    assert totals["rows_in"] == 1200 and totals["rows_in"] == totals["rows_out"] + totals["rows_dropped"]
    assert {lst["name"] for lst in result.manifest["lists"]} >= {"example-domains", "example-hashed"}
    assert all(len(lst["sha256"]) == 64 for lst in result.manifest["lists"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["findings_by_list"]["example-domains"] > 0
    assert summary["top_matched_domains"][0]["rows"] >= 1


def test_removal_list_drops_the_same_rows_from_a_copy(tmp_path: Path) -> None:
    config = load_config(ROOT / "provscan.toml")
    shards = sorted((ROOT / "sample_data").glob("*.parquet"))
    first = scan(shards, config, output=tmp_path / "a")
    removals = first.output / "removals.sha256.txt"
    lines = [ln for ln in removals.read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines == sorted(set(lines)) and all(len(h) == 64 for h in lines)
    again = scan(shards, ScanConfig(lists=_lists(removals)), output=tmp_path / "b")
    assert [e["rows_dropped"] for e in again.manifest["shards"]] == [
        e["rows_dropped"] for e in first.manifest["shards"]
    ]
    for a, b in zip(first.manifest["shards"], again.manifest["shards"]):
        assert (first.output / a["output"]).read_bytes() == (again.output / b["output"]).read_bytes()


def test_same_scan_twice_is_byte_identical(tmp_path: Path) -> None:
    config = load_config(ROOT / "provscan.toml")
    shards = sorted((ROOT / "sample_data").glob("*.parquet"))
    a = scan(shards, config, output=tmp_path / "a").output
    b = scan(shards, config, output=tmp_path / "b").output
    for name in ("flagged.parquet", "removals.sha256.txt", *(f"clean/{s.name}" for s in shards)):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_hostile_urls_are_rows_not_crashes(tmp_path: Path, make_shard, make_list) -> None:
    urls = [
        None,
        "",
        "UNLIKELY",
        "http://",
        "a" * 3000,
        "https://bad.example/" + "x" * 3000,
        "http://bäd.example/ü",
        "http://xn--bd-via.example/",
        " http://bad.example/a b ",
        "\t",
        "http://[::1]/",
        "http://0x7f.1/",
    ]
    shard = make_shard("odd.parquet", URL=urls, TEXT=["t"] * len(urls))
    lst = make_list("d.txt", "# provscan-list: kind=domain\nbad.example\nbäd.example\n")
    result = scan([shard], lists=_lists(lst), output=tmp_path / "out")
    entry = result.manifest["shards"][0]
    assert entry["rows_in"] == len(urls)
    assert entry["null_urls"] == 3  # None, "" and a lone tab
    assert entry["invalid_urls"] >= 3  # UNLIKELY, http://, aaaa...
    flagged = pq.read_table(result.output / "flagged.parquet")
    # bad.example with a 3 kB path, the IDNA host twice (unicode and punycode) and the padded one
    assert sorted(flagged.column("row").to_pylist()) == [5, 6, 7, 8]


def test_directory_input_keeps_relative_paths(tmp_path: Path, make_shard, make_list) -> None:
    make_shard("sub/a.parquet", URL=["http://bad.example/1", "http://ok.example/2"])
    make_shard("sub/deeper/b.parquet", URL=["http://ok.example/3"])
    lst = make_list("d.txt", "bad.example\n")
    result = scan([tmp_path / "shards"], lists=_lists(lst, kind="domain"), output=tmp_path / "out")
    assert (result.output / "clean" / "sub" / "a.parquet").exists()
    assert (result.output / "clean" / "sub" / "deeper" / "b.parquet").exists()
    assert pq.read_table(result.output / "clean" / "sub" / "a.parquet").column("URL").to_pylist() == [
        "http://ok.example/2"
    ]


@pytest.mark.parametrize(
    "inputs",
    [
        ["in", "in/sub"],
        ["in/sub", "in"],
        ["in/*.parquet", "in", "in/sub/../sub/s1.parquet"],
        ["in", "in/link.parquet", "in/hard.parquet"],
    ],
)
def test_overlapping_inputs_scan_each_file_once(tmp_path: Path, monkeypatch, inputs: list[str]) -> None:
    """Issue 16 item 8: ``scan in in/sub`` counted in/sub/s1.parquet twice (rows_in 2,500 for 1,500 rows);
    inputs are deduplicated by file identity (device, inode): overlaps, ``..`` paths, links."""
    from provscan.pipeline.verify import verify_output

    monkeypatch.chdir(tmp_path)
    (tmp_path / "in" / "sub").mkdir(parents=True)
    pq.write_table(pa.table({"URL": [f"http://a{i}.example/" for i in range(500)]}), "in/s0.parquet")
    pq.write_table(pa.table({"URL": [f"http://b{i}.example/" for i in range(1000)]}), "in/sub/s1.parquet")
    if "in/link.parquet" in inputs:
        Path("in/link.parquet").symlink_to("s0.parquet")
        Path("in/hard.parquet").hardlink_to("in/sub/s1.parquet")
    result = scan(inputs, output=tmp_path / "out")
    assert result.manifest is not None
    assert result.manifest["totals"]["rows_in"] == 1500 and len(result.manifest["shards"]) == 2
    checked = verify_output(tmp_path / "out", inputs=True)
    assert not checked.failures, checked.failures


def test_real_laion_sample_keeps_pandas_metadata_and_counts(tmp_path: Path, make_list) -> None:
    shard = eval_path("corpora", "img2dataset", "test_10000.parquet")
    lst = make_list("d.txt", "# provscan-list: kind=domain\ncdn.shopify.com\n")
    result = scan([shard], lists=_lists(lst), output=tmp_path / "out")
    entry = result.manifest["shards"][0]
    assert entry["rows_in"] == 10_000
    assert entry["rows_dropped"] == 641  # cdn.shopify.com rows, per the eval-data README
    assert entry["invalid_urls"] == 1  # the column-shifted row whose URL is "UNLIKELY"
    clean = pq.read_table(result.output / entry["output"])
    assert clean.schema.metadata[b"pandas"] == pq.read_schema(shard).metadata[b"pandas"]
    assert clean.num_rows == 10_000 - 641


def test_nested_columns_survive_export(tmp_path: Path, make_list) -> None:
    shard = eval_path("corpora", "img2dataset", "test_bbox.parquet")
    lst = make_list("d.txt", "# provscan-list: kind=domain\nnothing.example\n")
    result = scan([shard], lists=_lists(lst), output=tmp_path / "out")
    assert pq.read_table(result.output / result.manifest["shards"][0]["output"]).equals(pq.read_table(shard))


def test_no_export(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("a.parquet", URL=["http://bad.example/"])
    result = scan(
        [shard], lists=_lists(make_list("d.txt", "bad.example\n"), kind="domain"), output=tmp_path / "o", export=False
    )
    assert not (result.output / "clean").exists()
    assert result.manifest["shards"][0]["rows_dropped"] == 1


@pytest.mark.parametrize(
    ("setup", "error", "needle"),
    [
        ("missing", ShardError, "no such file"),
        ("corrupt", ShardError, "corrupt.parquet"),
        ("nocolumn", ShardError, "no url column"),
        ("badlist", ListError, "d.txt:3"),
    ],
)
def test_errors_name_the_file_and_leave_no_manifest(
    tmp_path: Path, make_shard, make_list, setup, error, needle
) -> None:
    good = make_shard("good.parquet", URL=["http://a.example/"])
    shards = [good]
    text = "# provscan-list: kind=domain\nok.example\n"
    if setup == "missing":
        shards.append(tmp_path / "nope.parquet")
    elif setup == "corrupt":
        bad = tmp_path / "corrupt.parquet"
        bad.write_bytes(b"PAR1 this is not parquet")
        shards.append(bad)
    elif setup == "nocolumn":
        shards.append(make_shard("nourl.parquet", TEXT=["x"]))
    else:
        text += "not a host!\n"
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("{}")  # a stale manifest from an earlier run
    with pytest.raises(error, match=needle):
        scan(shards, lists=_lists(make_list("d.txt", text)), output=out)
    assert not (out / "manifest.json").exists() or (out / "manifest.json").read_text() == "{}"
    assert isinstance(error("x", "y"), provscan.ProvscanError)


def test_unwritable_output(tmp_path: Path, make_shard, make_list) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    shard = make_shard("a.parquet", URL=["http://a.example/"])
    with pytest.raises(OutputError, match="file"):
        scan([shard], lists=_lists(make_list("d.txt", "a.example\n"), kind="domain"), output=blocker / "out")
