"""The command line: the README's commands, exit codes and one-line errors."""

from __future__ import annotations

import hashlib
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
    result = CliRunner().invoke(
        cli,
        ["scan", str(shard), "-b", f"domain:{lst}", "-o", str(out), "--quiet", "-c", str(make_list("empty.toml", ""))],
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert pq.read_table(out / "clean" / "a.parquet").column("URL").to_pylist() == ["http://good.example/"]


def test_provscan_error_exits_1_with_one_line(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("a.parquet", URL=["http://a.example/"])
    lst = make_list("bad.txt", "# provscan-list: kind=url-sha256\nabc\n")
    result = CliRunner().invoke(
        cli, ["scan", str(shard), "-b", str(lst), "-o", str(tmp_path / "o"), "-q", "-c", str(make_list("e.toml", ""))]
    )
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


def test_redact_urls_keeps_hashes_only(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("a.parquet", URL=["http://bad.example/secret.jpg", "http://ok.example/"])
    out = tmp_path / "o"
    lst = make_list("d.txt", "bad.example\n")
    result = CliRunner().invoke(
        cli,
        [
            "scan",
            str(shard),
            "-b",
            f"domain:{lst}",
            "-o",
            str(out),
            "-q",
            "--redact-urls",
            "-c",
            str(make_list("e.toml", "")),
        ],
    )
    assert result.exit_code == 0, result.output
    flagged = pq.read_table(out / "flagged.parquet").to_pylist()
    assert [f["url"] for f in flagged] == [None]
    assert flagged[0]["url_sha256"] == hashlib.sha256(b"bad.example/secret.jpg").hexdigest()


def test_relaion_columns_and_hash_column_flag(tmp_path: Path, make_shard, make_list) -> None:
    """Re-LAION layout (url, caption, key, md5) is detected; --hash-column names another column."""
    md5 = hashlib.md5(b"img").hexdigest()
    shard = make_shard(
        "r.parquet",
        url=["http://a.example/1", "http://a.example/2"],
        caption=["x", "y"],
        key=["k1", "k2"],
        md5=[md5, None],
        other=[None, md5],
    )
    lst = make_list("m.txt", f"# provscan-list: kind=image-md5 name=md5\n{md5}\n")
    empty = str(make_list("e.toml", ""))
    out = tmp_path / "o1"
    assert (
        CliRunner().invoke(cli, ["scan", str(shard), "-b", str(lst), "-o", str(out), "-q", "-c", empty]).exit_code == 0
    )
    flagged = pq.read_table(out / "flagged.parquet").to_pylist()
    assert [(f["row"], f["id"], f["detail"]) for f in flagged] == [(0, "k1", "column:md5")]
    out2 = tmp_path / "o2"
    result = CliRunner().invoke(
        cli,
        ["scan", str(shard), "-b", str(lst), "-o", str(out2), "-q", "-c", empty, "--hash-column", "image-md5=other"],
    )
    assert result.exit_code == 0, result.output
    assert [f["row"] for f in pq.read_table(out2 / "flagged.parquet").to_pylist()] == [1]
    bad = CliRunner().invoke(cli, ["scan", str(shard), "-q", "-c", empty, "--hash-column", "md5"])
    assert bad.exit_code == 2 and "KIND=COLUMN" in bad.output  # a usage error (issue 20)
