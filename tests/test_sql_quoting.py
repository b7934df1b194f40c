"""Names a user gives (columns, list names, file and folder names) reach SQL only through the quoting
helpers of :mod:`provscan.io.db`: quotes, backslashes and non-ASCII text are data, never SQL.

Issue 17: ``--hash-column phash="ph'ash"`` failed with ``duckdb: Parser Error: unterminated string
literal`` because the image stage pasted the column name into a string literal.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from provscan import LicenseConfig, ListSpec, scan
from provscan.cli import cli
from provscan.io.db import Database, sql_ident, sql_literal

NAMES = ["ph'ash", 'quo"te', "back\\slash", "naïve 列 ü", "x'); DROP TABLE raw; --", "tab\there", "new\nline"]
PHASH = "8f373714acfcf4d0"


@pytest.mark.parametrize("text", NAMES + ["", "''", '""', "\\'"])
def test_helpers_round_trip_through_duckdb(text: str) -> None:
    with Database(threads=1) as db:
        assert db.scalar(f"SELECT {sql_literal(text)}") == text
        db.execute(f"CREATE TEMP TABLE t ({sql_ident(text or 'empty')} VARCHAR)")
        assert db.arrow("SELECT * FROM t").column_names == [text or "empty"]


@pytest.mark.parametrize("name", NAMES)
def test_every_column_option_takes_any_name(tmp_path: Path, name: str, make_list) -> None:
    """url, id, licence and hash columns all named ``name``-ish, a list named ``name``, a shard in a
    folder named ``name``: every match is found and every detail names the column as given."""
    folder = tmp_path / name.replace("/", "_")
    folder.mkdir()
    shard = folder / f"{name} shard.parquet"
    pq.write_table(
        pa.table(
            {
                f"{name} url": ["http://bad.example/a.jpg", "http://ok.example/b.jpg", "http://ok.example/c.jpg"],
                f"{name} id": ["id-0", "id-1", "id-2"],
                f"{name} lic": ["", "https://creativecommons.org/licenses/by-nc/4.0/", ""],
                f"{name} phash": ["", "", PHASH],
            }
        ),
        shard,
    )
    domains = make_list("d.txt", "bad.example\n")
    phashes = make_list("p.txt", PHASH + "\n")
    result = scan(
        [shard],
        lists=(ListSpec(domains, kind="domain", name=f"{name} domains"), ListSpec(phashes, kind="phash", name=name)),
        url_column=f"{name} url",
        id_column=f"{name} id",
        hash_columns={"phash": f"{name} phash"},
        licenses=LicenseConfig(drop=("CC-BY-NC-*",), column=f"{name} lic"),
        output=tmp_path / "out",
    )
    flagged = pq.read_table(result.output / "flagged.parquet").to_pylist()
    by_row = {r["row"]: r for r in flagged}
    assert sorted(by_row) == [0, 1, 2]
    assert by_row[0]["list"] == f"{name} domains" and by_row[0]["id"] == "id-0"
    assert by_row[1]["detail"] == f"column:{name} lic" and by_row[1]["entry"] == "CC-BY-NC-4.0"
    assert by_row[2]["list"] == name and by_row[2]["detail"] == f"column:{name} phash"
    assert result.manifest is not None
    assert result.manifest["totals"]["rows_dropped"] == 3
    assert pq.read_table(next((result.output / "clean").rglob("*.parquet"))).num_rows == 0


def test_cli_hash_column_with_a_quote(tmp_path: Path, make_shard, make_list) -> None:
    """The command from the issue: the column name is data, the scan finds the match."""
    shard = make_shard("s.parquet", url=["http://a.example/1", "http://a.example/2"], **{"ph'ash": ["", PHASH]})
    lst = make_list("p.txt", PHASH + "\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        [
            "scan",
            str(shard),
            "--no-config",
            "-b",
            f"phash:{lst}",
            "--hash-column",
            "phash=ph'ash",
            "-o",
            str(out),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = pq.read_table(out / "flagged.parquet").to_pylist()
    assert [(r["row"], r["detail"]) for r in rows] == [(1, "column:ph'ash")]
