"""OUT tried as a hostile or careless user would (issue 16 items 1-4): nothing lost, nothing touched
outside OUT. Every run is `python -m provscan` in a real process on real files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provscan.pipeline.verify import verify_output


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provscan", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def tree(root: Path) -> dict[str, str]:
    """Every file under root (links not followed) with its SHA-256; directories as 'dir'."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[rel] = f"link -> {os.readlink(path)}"
        elif path.is_dir():
            found[rel] = "dir"
        else:
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Two shards, every third row on a listed domain; the list and an empty config beside them."""
    root = tmp_path / "data"
    root.mkdir()
    for s in range(2):
        urls = [f"http://{'bad' if i % 3 == 0 else 'ok'}.example/{s}/{i}" for i in range(30)]
        pq.write_table(pa.table({"url": urls, "caption": [f"c{i}" for i in range(30)]}), root / f"s{s}.parquet")
    (tmp_path / "l.txt").write_text("# provscan-list: kind=domain name=l\nbad.example\n")
    return root


def scan(data: Path, out: Path | str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run("scan", data, "--no-config", "-b", f"domain:{data.parent / 'l.txt'}", "-o", out, "-q", cwd=cwd)


# ---------------------------------------------------------------- 1. every command that writes OUT checks its inputs


def test_sample_of_an_earlier_scans_clean_shards_keeps_the_scan(data: Path, tmp_path: Path) -> None:
    """Issue 16.1: `provscan sample provscan-out/clean/` (default OUT) emptied provscan-out/."""
    assert scan(data, "provscan-out", cwd=tmp_path).returncode == 0
    out = tmp_path / "provscan-out"
    before = tree(out)
    result = run("sample", "provscan-out/clean/", "--rows", "10", "--no-config", "-b", "domain:l.txt", cwd=tmp_path)
    line = one_line_error(result)
    assert "is the input" in line and "s0.parquet" in line
    assert tree(out) == before
    assert verify_output(out).ok


def test_sample_of_its_own_out_is_refused(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    args = ("--rows", "10", "--no-config", "-b", f"domain:{tmp_path / 'l.txt'}", "-o", out, "-q")
    assert run("sample", data, *args).returncode == 0
    before = tree(out)
    line = one_line_error(run("sample", out / "sample.parquet", *args))
    assert "sample.parquet" in line and "is the input" in line
    assert tree(out) == before


def test_merge_refuses_an_out_with_a_file_it_did_not_write(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    for part in ("0/2", "1/2"):
        assert (
            run(
                "scan", data, "--no-config", "-b", f"domain:{tmp_path / 'l.txt'}", "-o", out, "--part", part, "-q"
            ).returncode
            == 0
        )
    (out / "notes.txt").write_text("mine")
    line = one_line_error(run("merge", out, "-q"))
    assert "notes.txt" in line
    assert not (out / "manifest.json").exists() and (out / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------- 2. a refused run leaves nothing behind


def test_a_refused_run_leaves_nothing_so_the_next_is_refused_too(data: Path, tmp_path: Path) -> None:
    """Issue 16.2: the first run refused but left OUT/.provscan/; the second then replaced the user's files."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "datacard.md").write_text("# our hand-written card\n")
    (out / "summary.json").write_text('{"mine": true}')
    before = tree(out)
    for _ in range(2):
        line = one_line_error(scan(data, out))
        assert "not an earlier provscan output" in line
        assert tree(out) == before  # no .provscan/, no lock


def test_a_lock_file_makes_no_directory_provscans(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".provscan").mkdir(parents=True)
    (out / ".provscan" / "lock").write_text("123\n")
    (out / "summary.json").write_text('{"mine": true}')
    before = tree(out)
    assert "summary.json" in one_line_error(scan(data, out))
    assert tree(out) == before


def test_out_a_link_to_the_input_directory_leaves_no_lock_in_it(data: Path, tmp_path: Path) -> None:
    before = tree(data)
    (tmp_path / "out").symlink_to(data)
    one_line_error(scan(data, tmp_path / "out"))
    assert tree(data) == before  # no .provscan/lock among the user's shards


# ---------------------------------------------------------------- 3. report writes only what it is asked to


def test_report_to_a_file_never_touches_the_datacard_beside_it(data: Path, tmp_path: Path) -> None:
    """Issue 16.3: `provscan report OUT -o dir/x.html` replaced dir/datacard.md, the maintainers' own card."""
    out = tmp_path / "out"
    assert scan(data, out).returncode == 0
    review = tmp_path / "review"
    review.mkdir()
    (review / "datacard.md").write_text("# our hand-written card\n")
    result = run("report", out, "-o", review / "x.html")
    assert result.returncode == 0, result.stderr
    assert (review / "datacard.md").read_text() == "# our hand-written card\n"
    assert sorted(p.name for p in review.iterdir()) == ["datacard.md", "x.html"]
    assert (review / "x.html").read_bytes() == (out / "report.html").read_bytes()
    assert verify_output(out).ok


@pytest.mark.parametrize("name", ["summary.json", "clean/s0.parquet", "notes.html"])
def test_report_into_out_writes_only_its_own_report(data: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    assert scan(data, out).returncode == 0
    before = tree(out)
    line = one_line_error(run("report", out, "-o", out / name))
    assert "inside the output directory" in line
    assert tree(out) == before
    assert run("report", out).returncode == 0
    after = tree(out)
    assert after.pop(".provscan/lock") and before.pop(".provscan/lock")  # holds the last holder's pid
    assert after == before  # the same bytes again, nothing else left behind


# ---------------------------------------------------------------- 4. paths read from OUT's own files stay inside OUT


def _tamper_manifest(out: Path, how: str, victim: Path) -> str:
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    if how == "output-dotdot":
        manifest["shards"][0]["output"] = "../victim.txt"
        entry = "shards[0].output"
    elif how == "output-absolute":
        manifest["shards"][1]["output"] = str(victim)
        entry = "shards[1].output"
    elif how == "files-dotdot":
        manifest["files"]["../victim.txt"] = "0" * 64
        entry = "files"
    else:
        manifest["files"][str(victim)] = "0" * 64
        entry = "files"
    path.write_text(json.dumps(manifest))
    return entry


@pytest.mark.parametrize("how", ["output-dotdot", "output-absolute", "files-dotdot", "files-absolute"])
def test_a_manifest_naming_a_file_outside_out_stops_the_run(data: Path, tmp_path: Path, how: str) -> None:
    """Issue 16.4: the next scan into a tampered OUT deleted the victim, exit 0."""
    out = tmp_path / "out"
    assert scan(data, out).returncode == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("not provscan's")
    entry = _tamper_manifest(out, how, victim)
    before = tree(out)
    line = one_line_error(scan(data, out))
    assert str(out / "manifest.json") in line and entry in line and "outside" in line
    assert victim.read_text() == "not provscan's"
    assert tree(out) == before  # stopped before anything was deleted


@pytest.mark.parametrize("value", ["../victim.txt", "ABSOLUTE", "clean/../../victim.txt"])
def test_an_intent_naming_a_file_outside_out_stops_the_run(data: Path, tmp_path: Path, value: str) -> None:
    out = tmp_path / "out"
    assert scan(data, out).returncode == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("not provscan's")
    intent = out / ".provscan" / "shards" / "000000" / "intent.json"
    intent.parent.mkdir(parents=True, exist_ok=True)
    intent.write_text(json.dumps({"relative": "s0.parquet", "output": str(victim) if value == "ABSOLUTE" else value}))
    before = tree(out)
    line = one_line_error(scan(data, out))
    assert str(intent) in line and "output" in line and "outside" in line
    assert victim.read_text() == "not provscan's"
    assert tree(out) == before


def test_a_cleaned_shard_linked_out_of_out_stops_the_run(data: Path, tmp_path: Path) -> None:
    """clean/ replaced by a link to another directory: the manifest's paths now resolve outside OUT."""
    out = tmp_path / "out"
    assert scan(data, out).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    (out / "clean").rename(elsewhere)
    (out / "clean").symlink_to(elsewhere)
    before = tree(elsewhere)
    line = one_line_error(scan(data, out))
    assert "manifest.json" in line and "clean/s0.parquet" in line and "outside" in line
    assert tree(elsewhere) == before
