"""`provscan show OUT` (issue 20): the findings of a run for a person, filtered, without pyarrow or DuckDB."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from provscan import scan
from provscan.cli import cli
from provscan.config import ListSpec
from provscan.sinks.findings import Filters, read_findings


@pytest.fixture
def run(tmp_path: Path, make_shard, make_list) -> Path:
    """Two shards: three bad.example rows dropped (and on the review list too), flag.example flagged: 7 findings, 4 rows."""
    a = make_shard("a.parquet", url=["http://bad.example/1", "http://ok.example/", "http://bad.example/2", None])
    b = make_shard("b.parquet", url=["http://flag.example/x", "http://ok.example/y", "http://bad.example/3"])
    drop = make_list("drop.txt", "# provscan-list: kind=domain name=bad action=drop\nbad.example\n")
    flag = make_list("flag.txt", "# provscan-list: kind=domain name=review action=flag\nflag.example\nbad.example\n")
    scan([a, b], lists=(ListSpec(drop), ListSpec(flag)), output=tmp_path / "out")
    return tmp_path / "out"


def show(out: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["show", str(out), *args])


def _table_rows(output: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")] for line in output.splitlines() if "│" in line]


def test_the_removed_rows_are_shown(run: Path) -> None:
    result = show(run, "--action", "drop")
    assert result.exit_code == 0, result.output
    rows = _table_rows(result.stdout)
    assert [(r[0].rsplit("/", 1)[-1], r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        ("a.parquet", "0", "http://bad.example/1", "bad", "bad.example", "drop"),
        ("a.parquet", "2", "http://bad.example/2", "bad", "bad.example", "drop"),
        ("b.parquet", "2", "http://bad.example/3", "bad", "bad.example", "drop"),
    ]
    assert result.stdout.strip().splitlines()[-1] == "3 of 3 findings shown (3 rows)"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["totals"]["rows_dropped"] == 3


def test_every_finding_in_file_order_and_the_limit(run: Path) -> None:
    everything = show(run)
    assert everything.exit_code == 0
    assert everything.stdout.strip().splitlines()[-1] == "7 of 7 findings shown (4 rows)"
    flagged = pq.read_table(run / "flagged.parquet")
    assert [(r[0], int(r[1])) for r in _table_rows(everything.stdout)] == list(
        zip(flagged.column("shard").to_pylist(), flagged.column("row").to_pylist())
    )
    two = show(run, "--limit", "2")
    assert len(_table_rows(two.stdout)) == 2
    assert "2 of 7 findings shown (4 rows); --limit 0 for all" in two.stdout


def test_filters_by_list_kind_and_shard_name(run: Path) -> None:
    review = read_findings(run, Filters(lists=("review",)))
    assert review.table.column("url").to_pylist() == [
        "http://bad.example/1",
        "http://bad.example/2",
        "http://flag.example/x",
        "http://bad.example/3",
    ]
    b = read_findings(run, Filters(shards=("b.parquet",), actions=("flag",)))
    assert (b.total, b.rows) == (2, 2) and set(b.table.column("action").to_pylist()) == {"flag"}
    assert read_findings(run, Filters(kinds=("domain",)), limit=1).table.num_rows == 1


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_csv_and_jsonl_carry_every_column_of_every_finding(run: Path, fmt: str) -> None:
    result = show(run, "--format", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "csv":
        records = list(csv.DictReader(io.StringIO(result.stdout)))
    else:
        records = [json.loads(line) for line in result.stdout.splitlines()]
    flagged = pq.read_table(run / "flagged.parquet")
    assert len(records) == flagged.num_rows == 7  # no default limit for a pipe
    assert list(records[0]) == flagged.column_names
    assert [r["url_sha256"] for r in records] == flagged.column("url_sha256").to_pylist()
    assert "7 of 7 findings shown" in result.stderr and "7 of 7" not in result.stdout


def test_redacted_urls_show_their_hash(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("a.parquet", url=["http://secret-host.example/p"])
    lst = make_list("d.txt", "# provscan-list: kind=domain\nsecret-host.example\n")
    scan([shard], lists=(ListSpec(lst),), output=tmp_path / "out", redact_urls=True)
    result = show(tmp_path / "out")
    assert result.exit_code == 0, result.output
    sha = pq.read_table(tmp_path / "out" / "flagged.parquet").column("url_sha256")[0].as_py()
    assert f"sha256:{sha[:16]}" in result.stdout and "secret-host.example/p" not in result.stdout


def test_a_typo_is_an_error_naming_what_exists(run: Path) -> None:
    result = show(run, "--list", "reveiw")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: --list reveiw: no finding has that list; the findings' lists are: bad, review"
    )
    unknown_shard = show(run, "--shard", "c.parquet")
    assert unknown_shard.exit_code == 1 and "a.parquet" in unknown_shard.output
    none = show(run, "--action", "allow")  # a valid action nothing had: no error
    assert none.exit_code == 0 and none.stdout.strip() == "no finding matches these filters"


def test_a_run_with_no_findings(tmp_path: Path, make_shard) -> None:
    shard = make_shard("a.parquet", url=["http://ok.example/"])
    scan([shard], output=tmp_path / "out")
    result = show(tmp_path / "out")
    assert result.exit_code == 0 and result.stdout.strip() == "no finding: no row matched any list or policy"


@pytest.mark.parametrize("damage", ["missing", "garbage", "foreign"])
def test_a_damaged_flagged_parquet_is_one_line(run: Path, damage: str) -> None:
    path = run / "flagged.parquet"
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"PAR1 not really PAR1")
    else:
        pq.write_table(pa.table({"shard": ["x"], "row": [1]}), path)
    result = show(run)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "flagged.parquet" in lines[0], result.output
