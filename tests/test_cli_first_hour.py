"""The first hour of a new user (issue 20): what the terminal says about the config a run picked up,
`-q` meaning quiet, usage errors exiting 2, and `sample --no-config`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from provscan.cli import cli


@pytest.fixture
def in_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A working directory with a provscan.toml that adds one drop list (as the repository root does)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "toml.txt").write_text("toml.example\n")
    (work / "provscan.toml").write_text(
        '[[list]]\npath = "toml.txt"\nkind = "domain"\n\n[licenses]\nflag = ["CC-BY-NC-*"]\n'
    )
    return work


def test_an_auto_loaded_config_is_named_in_the_end_of_run_table(in_dir: Path, make_shard) -> None:
    shard = make_shard("a.parquet", URL=["http://toml.example/", "http://ok.example/"])
    auto = CliRunner().invoke(cli, ["scan", str(shard), "-o", "o1"])
    assert auto.exit_code == 0, auto.output
    note = "config: ./provscan.toml (1 list, 1 policy; found in the current directory, --no-config skips it)"
    tail = auto.stdout.strip().splitlines()
    assert tail[-4] == note and tail[-3].startswith("output: o1")
    assert tail[-2] == "release: croissant.json, provenance.intoto.json   (check: provscan verify o1 --attestation)"
    assert tail[-1] == "which rows, and why: provscan show o1   (--action drop: the removed rows)"
    explicit = CliRunner().invoke(cli, ["scan", str(shard), "-o", "o2", "-c", "provscan.toml"])
    assert explicit.exit_code == 0, explicit.output
    assert "config: ./provscan.toml (1 list, 1 policy)\n" in explicit.stdout
    bare = CliRunner().invoke(cli, ["scan", str(shard), "-o", "o3", "--no-config"])
    assert bare.exit_code == 0, bare.output
    assert "config:" not in bare.output
    assert "provscan show" not in bare.output  # nothing matched: nothing to show


def test_quiet_resume_prints_nothing(in_dir: Path, make_shard) -> None:
    shard = make_shard("a.parquet", URL=["http://a.example/"])
    assert CliRunner().invoke(cli, ["scan", str(shard), "-o", "o", "-q"]).exit_code == 0
    again = CliRunner().invoke(cli, ["scan", str(shard), "-o", "o", "-q", "--resume"])
    assert again.exit_code == 0 and again.output == ""
    loud = CliRunner().invoke(cli, ["scan", str(shard), "-o", "o", "--resume"])
    assert loud.exit_code == 0 and "resume: kept 1 of 1 shards" in loud.stderr


@pytest.mark.parametrize("value", ["3/3", "2/2", "1/0", "1", "a/b", "-1/2"])
def test_a_malformed_part_is_a_usage_error(in_dir: Path, make_shard, value: str) -> None:
    shard = make_shard("a.parquet", URL=["http://a.example/"])
    result = CliRunner().invoke(cli, ["scan", str(shard), "-o", "o", "--part", value])
    assert result.exit_code == 2, result.output
    assert "--part" in result.output and "I/N" in result.output
    assert not (in_dir / "o").exists()


def test_a_malformed_hash_column_is_a_usage_error(in_dir: Path, make_shard) -> None:
    shard = make_shard("a.parquet", URL=["http://a.example/"])
    result = CliRunner().invoke(cli, ["scan", str(shard), "-o", "o", "--hash-column", "nokind=col"])
    assert result.exit_code == 2 and "--hash-column" in result.output and not (in_dir / "o").exists()


def test_sample_no_config_leaves_the_directory_config_out(in_dir: Path, make_shard) -> None:
    shard = make_shard("a.parquet", URL=["http://toml.example/"] * 4)
    auto = CliRunner().invoke(cli, ["sample", str(shard), "--rows", "4", "-o", "s1"])
    assert auto.exit_code == 0, auto.output
    assert auto.stderr.startswith("config: ./provscan.toml")
    assert json.loads((in_dir / "s1" / "manifest.json").read_text())["config"]["source"] == "provscan.toml"
    bare = CliRunner().invoke(cli, ["sample", str(shard), "--rows", "4", "-o", "s2", "--no-config"])
    assert bare.exit_code == 0, bare.output
    assert "config:" not in bare.stderr
    manifest = json.loads((in_dir / "s2" / "manifest.json").read_text())
    assert manifest["config"]["source"] is None and manifest["lists"] == []
    both = CliRunner().invoke(cli, ["sample", str(shard), "--rows", "4", "--no-config", "-c", "provscan.toml"])
    assert both.exit_code == 2


def test_one_vocabulary_matched_dropped_flagged_allowed(tmp_path: Path, make_shard, make_list) -> None:
    """Every output counts rows the same way: matched (any finding) = dropped + kept rows with a
    finding; flagged = kept with a flag finding; allowed = kept by an allowlist."""
    shard = make_shard(
        "a.parquet",
        url=[
            "http://bad.example/1",
            "http://rev.example/",
            "http://both.example/",
            "http://good.bad.example/",
            "http://ok.example/",
        ],
    )
    drop = make_list("drop.txt", "# provscan-list: kind=domain name=blocked action=drop\nbad.example\nboth.example\n")
    flag = make_list("flag.txt", "# provscan-list: kind=domain name=review action=flag\nrev.example\nboth.example\n")
    allow = make_list("allow.txt", "# provscan-list: kind=domain name=vouched action=allow\ngood.bad.example\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["scan", str(shard), "--no-config", "-o", str(out), "-b", str(drop), "-b", str(flag), "-b", str(allow)]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    expected = {"rows_in": 5, "rows_matched": 4, "rows_dropped": 2, "rows_flagged": 1, "rows_allowed": 1, "rows_out": 3}
    assert {k: manifest["totals"][k] for k in expected} == expected
    summary = json.loads((out / "summary.json").read_text())
    assert {k: v for k, v in summary["shards"][str(shard)].items() if k in expected} == {
        k: v for k, v in expected.items() if k != "rows_allowed"
    }
    header = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("shard"))
    assert [c.strip() for c in header.split("┃")] == [
        "shard",
        "rows in",
        "matched",
        "dropped",
        "flagged",
        "allowed",
        "rows out",
        "invalid urls",
    ]
    total = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("total"))
    assert [c.strip() for c in total.split("│")][1:7] == ["5", "4", "2", "1", "1", "3"]
    html = (out / "report.html").read_text()
    for key, label in (
        ("rows-matched", "rows matched"),
        ("rows-dropped", "rows dropped"),
        ("rows-flagged", "rows flagged (kept)"),
    ):
        assert f'id="{key}" data-value="{expected[key.replace("-", "_")]}"' in html and label in html
    card = (out / "datacard.md").read_text()
    assert (
        "4 rows matched a list or policy; of the kept rows, 1 were flagged (reported, not removed) and 1 were "
        "allowed (kept by an allowlist)."
    ) in card
    verified = CliRunner().invoke(cli, ["verify", str(out)])
    assert verified.exit_code == 0 and "flagged.parquet: flagged rows per shard" in verified.output
    manifest["shards"][0]["rows_flagged"] = 2  # a hand edit of the new count is caught
    manifest["totals"]["rows_flagged"] = 2
    (out / "manifest.json").write_text(json.dumps(manifest))
    edited = CliRunner().invoke(cli, ["verify", str(out)])
    assert edited.exit_code == 1 and "FAILED  flagged.parquet: flagged rows per shard" in edited.output
