"""`provscan verify OUT [--inputs]`: a real scan verifies; any tampered or unknown file is named, exit 1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from provscan import scan
from provscan.cli import cli
from provscan.config import ListSpec
from provscan.pipeline.verify import verify_output


@pytest.fixture
def run(tmp_path: Path, make_shard, make_list) -> Path:
    """A finished scan of two tiny shards (2 of 5 rows dropped, one only flagged) into tmp/out."""
    a = make_shard(
        "a.parquet", url=["http://bad.example/1", "http://ok.example/", "http://bad.example/2", None], n=[1, 2, 3, 4]
    )
    b = make_shard("b.parquet", url=["http://flag.example/x", "http://ok.example/y"], n=[5, 6])
    drop = make_list("drop.txt", "# provscan-list: kind=domain action=drop\nbad.example\n")
    flag = make_list("flag.txt", "# provscan-list: kind=domain action=flag\nflag.example\nbad.example\n")
    scan([a, b], lists=(ListSpec(drop), ListSpec(flag)), output=tmp_path / "out")
    return tmp_path / "out"


def verify(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["verify", *map(str, args)])


def failed(result: Result, *names: str) -> None:
    """exit 1, a MISMATCH row per named file and the error line naming each of them."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "checks failed" in last
    for name in names:
        assert name in last
        assert any(line.startswith(name) and line.endswith("MISMATCH") for line in result.output.splitlines()), name


def test_a_real_scan_verifies(run: Path) -> None:
    result = verify(run, "--inputs")
    assert result.exit_code == 0, result.output
    assert "MISMATCH" not in result.output and result.output.strip().endswith("checks passed")
    checks = verify_output(run, inputs=True).checks
    hashed = {c.file for c in checks if c.check == "sha256"}
    assert hashed == {
        "clean/a.parquet",
        "clean/b.parquet",
        "flagged.parquet",
        "summary.json",
        "removals.sha256.txt",
        "report.html",
        "datacard.md",
        "croissant.json",
        "provenance.intoto.json",
    }
    assert {c.file for c in checks} >= {
        "clean/a.parquet",
        "clean/b.parquet",
        "flagged.parquet",
        "summary.json",
        "removals.sha256.txt",
        "manifest.json",
    }
    dropped = {c.check: c.actual for c in checks if c.file == "flagged.parquet"}
    # the flag-only finding on bad.example rows does not count twice; flag.example is not dropped
    assert dropped[f"dropped rows of {run.parent / 'shards' / 'a.parquet'}"] == "2"
    assert dropped[f"dropped rows of {run.parent / 'shards' / 'b.parquet'}"] == "0"


def test_a_changed_byte_in_a_clean_shard_is_named(run: Path) -> None:
    path = run / "clean" / "a.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    failed(verify(run), "clean/a.parquet")


def test_a_clean_shard_with_a_row_removed_is_named(run: Path) -> None:
    path = run / "clean" / "b.parquet"
    pq.write_table(pq.read_table(path).slice(1), path)
    result = verify(run)
    failed(result, "clean/b.parquet")
    assert any(
        "rows" in line and line.startswith("clean/b.parquet") and line.endswith("MISMATCH")
        for line in result.output.splitlines()
    )


def test_flagged_parquet_without_a_drop_is_named(run: Path) -> None:
    path = run / "flagged.parquet"
    table = pq.read_table(path)
    keep = [
        i
        for i, (action, row) in enumerate(zip(table["action"].to_pylist(), table["row"].to_pylist()))
        if not (action == "drop" and row == 2)
    ]
    pq.write_table(table.take(keep), path)
    failed(verify(run), "flagged.parquet")


def test_corrupt_flagged_parquet_is_named_not_a_traceback(run: Path) -> None:
    (run / "flagged.parquet").write_bytes(b"PAR1 not really")
    failed(verify(run), "flagged.parquet")


def test_a_hand_edited_summary_is_named(run: Path) -> None:
    path = run / "summary.json"
    summary = json.loads(path.read_text())
    summary["findings_by_action"]["drop"] -= 1
    path.write_text(json.dumps(summary))
    failed(verify(run), "summary.json")


def test_removals_with_a_line_missing_are_named(run: Path) -> None:
    path = run / "removals.sha256.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    failed(verify(run), "removals.sha256.txt")


def test_an_unknown_file_is_named_but_working_state_is_not(run: Path) -> None:
    for rel in ("cache/fetch-cache.parquet", ".provscan/lock"):
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_bytes(b"state")
    assert verify(run).exit_code == 0
    (run / "clean" / "extra.parquet").write_bytes(b"x")
    failed(verify(run), "clean/extra.parquet")


def test_a_modified_input_fails_only_with_inputs(run: Path) -> None:
    shard = run.parent / "shards" / "b.parquet"
    table = pq.read_table(shard)
    pq.write_table(table.slice(0, 1), shard)
    assert verify(run).exit_code == 0
    failed(verify(run, "--inputs"), str(shard))


def test_every_listed_file_is_rehashed_from_any_directory(run: Path, tmp_path: Path) -> None:
    """The manifest's ``files`` map (every file under OUT) and ``output`` paths relative to OUT:
    any changed byte in a listed file is named, and a listed file that is gone too."""
    manifest = json.loads((run / "manifest.json").read_text())
    assert [e["output"] for e in manifest["shards"]] == ["clean/a.parquet", "clean/b.parquet"]
    assert set(manifest["files"]) == {
        "clean/a.parquet",
        "clean/b.parquet",
        "flagged.parquet",
        "summary.json",
        "removals.sha256.txt",
        "report.html",
        "datacard.md",
        "croissant.json",
        "provenance.intoto.json",
    }
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd = os.getcwd()
    os.chdir(elsewhere)  # relative outputs resolve against OUT, not the working directory
    try:
        assert verify(run).exit_code == 0
        summary = run / "summary.json"
        summary.write_text(summary.read_text() + " ")  # same JSON, different bytes
        failed(verify(run), "summary.json")
        (run / "removals.sha256.txt").unlink()
        failed(verify(run), "summary.json", "removals.sha256.txt")
    finally:
        os.chdir(cwd)


def _rewrite(out: Path, edit) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    edit(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))


TAMPERED = {
    "files null": lambda m: m.update(files=None),
    "files deleted": lambda m: m.pop("files"),
    "a files entry null": lambda m: m["files"].update({"report.html": None}),
    "no manifest_format": lambda m: m.pop("manifest_format"),
    "manifest_format 2": lambda m: m.update(manifest_format=2),
    "rows_out a string": lambda m: m["shards"][0].update(rows_out="3"),
    "shards null": lambda m: m.update(shards=None),
    "output outside": lambda m: m["shards"][0].update(output="../a.parquet"),
    "output absolute": lambda m: m["shards"][0].update(output="/etc/hostname"),
    "files key absolute": lambda m: m["files"].update({"/etc/hostname": "0" * 64}),
    "totals.removals null": lambda m: m["totals"].update(removals=None),
}


@pytest.mark.parametrize("how", sorted(TAMPERED))
def test_a_manifest_of_the_wrong_shape_fails_before_any_check(run: Path, how: str) -> None:
    """Issue 16.9: files set to null or deleted silently turned the hash checks off ("all 38 checks
    passed" for a tampered report.html). The manifest is validated against its format first."""
    (run / "report.html").write_text("<p>tampered</p>")
    _rewrite(run, TAMPERED[how])
    result = verify(run)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"Error: {run / 'manifest.json'}: does not match manifest format 1: "
    ), lines
    assert "checks passed" not in result.output


def test_the_manifest_names_its_format(run: Path) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["manifest_format"] == 1
    assert verify_output(run).ok


def test_fewer_checks_than_the_manifest_implies_fail(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from provscan.pipeline import verify as verify_module

    monkeypatch.setattr(verify_module, "_check_removals", lambda *args: None)  # a check lost to a bug
    result = verify_output(run)
    assert not result.ok
    assert [(c.file, c.check) for c in result.failures] == [
        ("removals.sha256.txt", "entries (implied by the manifest)"),
        ("manifest.json", "checks implied by the manifest, all run"),
    ]


def test_a_listed_file_linked_out_of_out_is_not_read(run: Path, tmp_path: Path) -> None:
    """report.html replaced by a link to identical bytes elsewhere: not the release's file, a failure."""
    outside = tmp_path / "elsewhere.html"
    outside.write_bytes((run / "report.html").read_bytes())
    (run / "report.html").unlink()
    (run / "report.html").symlink_to(outside)
    result = verify_output(run)
    assert [(c.file, c.actual) for c in result.failures] == [("report.html", "outside OUT (not read)")]


def test_no_manifest_is_one_line(tmp_path: Path) -> None:
    result = verify(tmp_path)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path / 'manifest.json'}: no manifest: not the output of a finished provscan run"
    ]


@pytest.mark.parametrize("name", ["report.html", "datacard.md"])
def test_an_edited_report_is_named(run: Path, name: str) -> None:
    # The reports carry no counts verify could cross-check: the manifest's files map is what catches this.
    (run / name).write_text((run / name).read_text(encoding="utf-8") + "\n", encoding="utf-8")
    failed(verify(run), name)


def test_a_line_per_kind_of_check_and_only_failures_in_full(run: Path) -> None:
    """Issue 20: a summary line per kind (no SHA-256 printed when all is well), failures in full, --verbose for all."""
    quiet = verify(run, "--inputs")
    assert quiet.exit_code == 0, quiet.output
    lines = quiet.output.strip().splitlines()
    assert len(lines) < 25 and all(line.startswith("ok ") for line in lines[:-1])
    assert any("clean shards: sha256" in line and "2 passed" in line for line in lines)
    assert any("flagged.parquet: dropped rows per shard" in line and "2 passed" in line for line in lines)
    assert not any(len(word) == 64 for line in lines for word in line.split())  # no checksum on screen
    total = int(lines[-1].split()[1])
    assert sum(int(line.split("  ")[-1].split()[0].replace(",", "")) for line in lines[:-1]) == total
    verbose = verify(run, "--inputs", "--verbose")
    assert verbose.exit_code == 0 and len(verbose.output.splitlines()) > total  # every check in full
    path = run / "clean" / "a.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    bad = verify(run)
    failed(bad, "clean/a.parquet")
    assert any(
        line.startswith("FAILED") and "clean shards: sha256" in line and "1 failed" in line
        for line in bad.output.splitlines()
    )
    assert sum(line.endswith("MISMATCH") for line in bad.output.splitlines()) == len(verify_output(run).failures)
