"""What the terminal says (issue 12): the config loaded, --no-config, the lists in effect, the
plain-copy warning, the end-of-run tables, `provscan hash` naming its list, and the progress bar."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import ROOT, eval_path

from provscan import scan
from provscan.cli import cli
from provscan.config import ListSpec
from provscan.io.export import export_clean


@pytest.fixture
def in_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_auto_loaded_config_is_named_and_no_config_skips_it(in_dir: Path, make_shard, make_list) -> None:
    shard = make_shard("a.parquet", URL=["http://toml.example/", "http://cli.example/"])
    (in_dir / "toml.txt").write_text("toml.example\n")
    (in_dir / "provscan.toml").write_text('[[list]]\npath = "toml.txt"\nkind = "domain"\n')
    mine = make_list("mine.txt", "cli.example\n")
    auto = CliRunner().invoke(cli, ["scan", str(shard), "-b", f"domain:{mine}", "-o", "o1"])
    assert auto.exit_code == 0, auto.output
    assert auto.stderr.startswith("config: ./provscan.toml")
    assert "config: ./provscan.toml" in auto.stdout  # named again beside the results (issue 20)
    assert pq.read_table(in_dir / "o1" / "clean" / "a.parquet").num_rows == 0  # both lists applied
    bare = CliRunner().invoke(cli, ["scan", str(shard), "-b", f"domain:{mine}", "-o", "o2", "--no-config"])
    assert bare.exit_code == 0, bare.output
    assert "config:" not in bare.stderr
    assert pq.read_table(in_dir / "o2" / "clean" / "a.parquet").column("URL").to_pylist() == ["http://toml.example/"]
    both = CliRunner().invoke(cli, ["scan", str(shard), "--no-config", "-c", "provscan.toml"])
    assert both.exit_code == 2 and "--no-config" in both.output


def test_lists_in_effect_and_per_list_counts(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard(
        "a.parquet", URL=["http://ads.example/x", "http://ads.example/y", "http://rev.example/", "http://ok.example/"]
    )
    ads = make_list("ads.txt", "||ads.example^\n||tracker.example/path/x.js\n||pix.example^$third-party\n")
    review = make_list("review.txt", "rev.example\n")
    result = CliRunner().invoke(
        cli,
        [
            "scan",
            str(shard),
            "--no-config",
            "-o",
            str(tmp_path / "o"),
            "-b",
            f"domain:{ads}",
            "-b",
            f"domain:{review};action=flag",
        ],
    )
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert "lists in effect" in err
    ads_line = next(line for line in err.splitlines() if line.split("│")[0].strip() == "ads")
    cells = [c.strip() for c in ads_line.split("│")]
    assert cells[1:4] == ["domain", "drop", "2"] and "adblock-path-rule: 1" in cells[4]
    review_line = next(line for line in err.splitlines() if line.split("│")[0].strip() == "review")
    assert [c.strip() for c in review_line.split("│")][1:4] == ["domain", "flag", "1"]
    out = result.stdout
    assert "rows per list" in out and "total" in out
    per_list = {
        cells[0]: cells[1:] for line in out.splitlines() if len(cells := [c.strip() for c in line.split("│")]) == 5
    }
    assert per_list["ads"] == ["2", "2", "0", "0"]  # matched, dropped, flagged, allowed
    assert per_list["review"] == ["1", "0", "1", "0"]
    assert "plain copy" not in err


def test_a_scan_with_nothing_to_match_says_it_is_a_plain_copy(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("a.parquet", URL=["http://a.example/"])
    result = CliRunner().invoke(cli, ["scan", str(shard), "--no-config", "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "no list and no licence or consent policy" in result.stderr and "plain copy" in result.stderr
    assert "lists in effect" not in result.stderr
    policy = make_list("p.toml", '[licenses]\nflag = ["cc:nc"]\n')
    with_policy = CliRunner().invoke(cli, ["scan", str(shard), "-c", str(policy), "-o", str(tmp_path / "o2")])
    assert with_policy.exit_code == 0, with_policy.output
    assert "plain copy" not in with_policy.stderr
    assert "licence policy: drop -; flag cc:nc" in with_policy.stderr


def test_quiet_prints_nothing(tmp_path: Path, make_shard, in_dir: Path) -> None:
    shard = make_shard("a.parquet", URL=["http://a.example/"])
    (in_dir / "provscan.toml").write_text("")
    result = CliRunner().invoke(cli, ["scan", str(shard), "-o", "o", "-q"])
    assert result.exit_code == 0 and result.output == ""


def test_hash_names_its_list_and_says_what_it_wrote(tmp_path: Path) -> None:
    images = eval_path("images", "imagehash")
    out = tmp_path / "reported-phash.txt"
    result = CliRunner().invoke(cli, ["hash", str(images / "peppers.png"), "--kind", "phash", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines()[0] == "# provscan-list: kind=phash name=reported-phash action=drop"
    assert result.stderr.strip() == f"1 phash hashes written to {out}"


def test_export_reports_rows_per_row_group(tmp_path: Path, make_shard) -> None:
    shard = make_shard("a.parquet", row_group_size=10, URL=[f"http://a.example/{i}" for i in range(35)])
    calls: list[int] = []
    export_clean(shard, tmp_path / "c.parquet", np.array([3, 12], dtype=np.int64), shard_name="a", on_rows=calls.append)
    assert calls == [10, 10, 10, 5]


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def start(self, shards: int, rows: int) -> None:
        self.events.append(("start", shards, rows))

    def rows_done(self, n: int) -> None:
        self.events.append(("rows", n))

    def shard_done(self, findings: int) -> None:
        self.events.append(("shard", findings))

    def finish(self) -> None:
        self.events.append(("finish",))


@pytest.mark.parametrize("export", [True, False])
def test_progress_protocol_per_row_group(tmp_path: Path, make_shard, make_list, export: bool) -> None:
    a = make_shard("a.parquet", row_group_size=10, URL=[f"http://bad.example/{i}" for i in range(25)])
    b = make_shard("b.parquet", row_group_size=10, URL=[f"http://ok.example/{i}" for i in range(5)])
    rec = Recorder()
    lst = make_list("d.txt", "bad.example\n")
    scan([a, b], lists=(ListSpec(lst, kind="domain"),), output=tmp_path / "o", export=export, progress=rec)
    assert rec.events[0] == ("start", 2, 30) and rec.events[-1] == ("finish",)
    rows = [e[1] for e in rec.events if e[0] == "rows"]
    assert rows == ([10, 10, 5, 5] if export else [25, 5])
    assert [e[1] for e in rec.events if e[0] == "shard"] == [25, 0]


def _run_on_a_tty(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run provscan with stderr on a real pseudo-terminal; returns (exit code, what the terminal got)."""
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "160", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "provscan", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_only_on_a_terminal(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("a.parquet", row_group_size=100, URL=[f"http://a.example/{i}" for i in range(1000)])
    lst = make_list("d.txt", "a.example\n")
    args = ["scan", str(shard), "--no-config", "-b", f"domain:{lst}", "-o", str(tmp_path / "o")]
    code, terminal = _run_on_a_tty(args, tmp_path)
    assert code == 0, terminal
    assert "rows/s" in terminal and "1000/1000" in terminal and "1/1 shards" in terminal
    piped = subprocess.run(
        [sys.executable, "-m", "provscan", *args[:-1], str(tmp_path / "o2")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    assert "rows/s" not in piped.stderr and "lists in effect" in piped.stderr


def test_readme_config_still_loads_from_the_repo_root(in_dir: Path) -> None:
    shutil.copytree(ROOT / "sample_data", in_dir / "sample_data")
    shutil.copytree(ROOT / "blocklists", in_dir / "blocklists")
    shutil.copy(ROOT / "provscan.toml", in_dir / "provscan.toml")
    result = CliRunner().invoke(cli, ["scan", "sample_data/*.parquet"])
    assert result.exit_code == 0, result.output
    assert "config: ./provscan.toml" in result.stderr
    assert "example-domains" in result.stderr and "licence policy: drop LicenseRef-no-ai-training" in result.stderr
