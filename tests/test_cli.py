"""The command line: the README's commands, exit codes and one-line errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from provscan.cli import cli

from conftest import ROOT


def test_readme_command_from_repo_root(tmp_path: Path) -> None:
    """`provscan scan sample_data/*.parquet` from the root uses ./provscan.toml and finds rows."""
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "sample_data", work / "sample_data")
    shutil.copytree(ROOT / "blocklists", work / "blocklists")
    shutil.copy(ROOT / "provscan.toml", work / "provscan.toml")
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(work)
    try:
        result = runner.invoke(cli, ["scan", "sample_data/*.parquet"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    assert "total" in result.output and "1,200" in result.output
    assert pq.read_table(work / "provscan-out" / "flagged.parquet").num_rows > 0
    assert (work / "provscan-out" / "manifest.json").exists()


def test_list_flag_and_output(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("a.parquet", URL=["http://bad.example/x", "http://good.example/"], TEXT=["a", "b"])
    lst = make_list("d.txt", "bad.example\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["scan", str(shard), "-b", f"domain:{lst}", "-o", str(out), "--quiet", "-c", str(make_list("empty.toml", ""))])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert pq.read_table(out / "clean" / "a.parquet").column("URL").to_pylist() == ["http://good.example/"]


def test_provscan_error_exits_1_with_one_line(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("a.parquet", URL=["http://a.example/"])
    lst = make_list("bad.txt", "# provscan-list: kind=url-sha256\nabc\n")
    result = CliRunner().invoke(cli, ["scan", str(shard), "-b", str(lst), "-o", str(tmp_path / "o"), "-q", "-c", str(make_list("e.toml", ""))])
    assert result.exit_code == 1
    assert f"{lst}:2" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_usage_error_exits_2() -> None:
    result = CliRunner().invoke(cli, ["scan", "--no-such-flag", "x.parquet"])
    assert result.exit_code == 2


def test_missing_shard_names_it(tmp_path: Path, make_list) -> None:
    result = CliRunner().invoke(cli, ["scan", str(tmp_path / "gone.parquet"), "-q", "-c", str(make_list("e.toml", ""))])
    assert result.exit_code == 1
    assert "gone.parquet" in result.output


def test_bad_config_key(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("a.parquet", URL=["http://a.example/"])
    cfg = make_list("c.toml", "[scan]\noutptu = 'x'\n")
    result = CliRunner().invoke(cli, ["scan", str(shard), "-c", str(cfg)])
    assert result.exit_code == 1
    assert "outptu" in result.output and "c.toml" in result.output
