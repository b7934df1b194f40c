"""Issue 19: ``provscan diff OLD NEW``: runs that differ by one list entry, by a policy, by a shard."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from provscan import scan
from provscan.cli import cli
from provscan.config import LicenseConfig, ListSpec
from provscan.errors import InputError, OutputError
from provscan.pipeline.diff import diff_runs

URLS = [
    "http://bad.example/1",
    "http://ok.example/2",
    "http://worse.example/3",
    "http://ok.example/4",
    "http://worse.example/5",
]
LICENSES = [
    "https://creativecommons.org/licenses/by/4.0/",
    "https://creativecommons.org/licenses/by-nc/4.0/",
    "https://creativecommons.org/licenses/by/4.0/",
    "https://creativecommons.org/licenses/by-nc/4.0/",
    None,
]


@pytest.fixture
def shards(make_shard) -> list[Path]:
    return [
        make_shard("a.parquet", URL=URLS, LICENSE=LICENSES, n=list(range(5))),
        make_shard("b.parquet", URL=["http://worse.example/b", "http://ok.example/b"], LICENSE=[None, None], n=[5, 6]),
    ]


def run(tmp_path: Path, name: str, shards: list[Path], list_text: str, **settings) -> Path:
    lst = tmp_path / "lists" / f"{name}.txt"
    lst.parent.mkdir(parents=True, exist_ok=True)
    lst.write_text("# provscan-list: kind=domain action=drop name=blocked\n" + list_text)
    scan(shards, lists=(ListSpec(lst),), output=tmp_path / name, **settings)
    return tmp_path / name


def rows(out: Path) -> list[dict]:
    return (
        pq.read_table(out / "diff.parquet").select(["shard", "row", "before", "after", "lists", "change"]).to_pylist()
    )


def test_one_list_entry_added(tmp_path: Path, shards: list[Path]) -> None:
    old = run(tmp_path, "old", shards, "bad.example\n")
    new = run(tmp_path, "new", shards, "bad.example\nworse.example\n")
    result = CliRunner().invoke(cli, ["diff", str(old), str(new), "-o", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    a, b = (str(s) for s in shards)
    assert sorted(
        (r["shard"], r["row"], r["before"], r["after"], tuple(r["lists"]), r["change"]) for r in rows(tmp_path / "d")
    ) == [
        (a, 2, "kept", "drop", ("blocked",), "newly dropped"),
        (a, 4, "kept", "drop", ("blocked",), "newly dropped"),
        (b, 0, "kept", "drop", ("blocked",), "newly dropped"),
    ]
    assert "3 rows changed (matched by shard, row)" in result.output and "newly dropped" in result.output
    summary = json.loads((tmp_path / "d" / "diff.json").read_text())
    assert summary["changes"] == {"newly dropped": 3}
    assert summary["by_list"] == [{"list": "blocked", "kind": "domain", "change": "newly dropped", "rows": 3}]
    assert {(s["shard"], s["rows"]) for s in summary["by_shard"]} == {(a, 2), (b, 1)}
    html = (tmp_path / "d" / "diff.html").read_text()
    assert "Content-Security-Policy" in html and "newly dropped" in html and "<script" not in html
    back = diff_runs(new, old)  # the other way round: the same rows, no longer dropped; nothing written
    assert back.changes == {"no longer dropped": 3}


def test_a_policy_change(tmp_path: Path, shards: list[Path]) -> None:
    old = run(tmp_path, "old", shards, "bad.example\n", licenses=LicenseConfig(flag=("CC-BY-NC-*",)))
    new = run(tmp_path, "new", shards, "bad.example\n", licenses=LicenseConfig(drop=("CC-BY-NC-*",)))
    result = diff_runs(old, new, tmp_path / "d")
    got = sorted((r["row"], r["before"], r["after"], tuple(r["lists"]), r["change"]) for r in rows(tmp_path / "d"))
    assert got == [
        (1, "flag", "drop", ("license-policy",), "newly dropped"),
        (3, "flag", "drop", ("license-policy",), "newly dropped"),
    ]
    assert result.by_list == [{"list": "license-policy", "kind": "license", "change": "newly dropped", "rows": 2}]


def test_no_change_is_zero_rows_and_an_empty_table(tmp_path: Path, shards: list[Path]) -> None:
    old = run(tmp_path, "old", shards, "bad.example\n")
    new = run(tmp_path, "new", shards, "bad.example\n")
    assert diff_runs(old, new, tmp_path / "d").rows == 0
    table = pq.read_table(tmp_path / "d" / "diff.parquet")
    assert table.num_rows == 0 and table.column_names[:6] == ["shard", "row", "url_sha256", "before", "after", "lists"]


def test_runs_over_other_shards_are_refused_unless_asked(tmp_path: Path, shards: list[Path], make_shard) -> None:
    extra = make_shard("c.parquet", URL=["http://bad.example/c", "http://ok.example/c"], LICENSE=[None, None], n=[7, 8])
    old = run(tmp_path, "old", shards, "bad.example\n")
    new = run(tmp_path, "new", [*shards, extra], "bad.example\n")
    refused = CliRunner().invoke(cli, ["diff", str(old), str(new), "-o", str(tmp_path / "d")])
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1
    assert "0 shards only in OLD, 1 only in NEW" in refused.output and "--inputs-may-differ" in refused.output
    assert not (tmp_path / "d").exists()
    result = diff_runs(old, new, tmp_path / "d", inputs_may_differ=True)
    assert result.by == "url_sha256" and result.changes == {"newly dropped": 1}
    assert [(r["shard"], r["row"], r["after"]) for r in rows(tmp_path / "d")] == [(str(extra), 0, "drop")]


def test_diff_dir_inside_a_run_and_foreign_files_are_refused(tmp_path: Path, shards: list[Path]) -> None:
    old = run(tmp_path, "old", shards, "bad.example\n")
    new = run(tmp_path, "new", shards, "worse.example\n")
    with pytest.raises(OutputError, match="inside"):
        diff_runs(old, new, new / "diff")
    (tmp_path / "elsewhere.parquet").write_bytes((old / "flagged.parquet").read_bytes())
    (new / "flagged.parquet").unlink()
    os.symlink(tmp_path / "elsewhere.parquet", new / "flagged.parquet")
    with pytest.raises(InputError, match="outside the output directory"):
        diff_runs(old, new)
    (new / "flagged.parquet").unlink()
    (new / "flagged.parquet").write_bytes(b"not parquet at all")
    result = CliRunner().invoke(cli, ["diff", str(old), str(new), "-o", str(tmp_path / "d")])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1 and "flagged.parquet" in result.output
    (old / "manifest.json").write_text("{truncated")
    result = CliRunner().invoke(cli, ["diff", str(old), str(new), "-o", str(tmp_path / "d")])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1 and "manifest.json" in result.output
