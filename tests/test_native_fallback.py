"""Without the native URL kernel (a clone run from ``src/``, an install without a compiler) a scan
says so in one plain line, or not at all with ``-q``, and finds the same rows (issue 17)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

URLS = ["http://bad.example/a.jpg", "http://OK.example/b%7e.jpg", "http://ok.example/c.jpg", "https://x.bad.example/"]


def _scan(tmp_path: Path, out: str, *extra: str, native: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVSCAN_NATIVE": "1" if native else "0"}
    return subprocess.run(
        [sys.executable, "-m", "provscan", "scan", str(tmp_path / "shards"), "--no-config", "-b",
         f"domain:{tmp_path / 'bad.txt'}", "-o", str(tmp_path / out), *extra],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )


def test_fallback_is_one_plain_line_and_same_rows(tmp_path: Path, make_shard) -> None:
    make_shard("s.parquet", url=URLS)
    (tmp_path / "bad.txt").write_text("bad.example\n")
    quiet = _scan(tmp_path, "q", "-q", native=False)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    loud = _scan(tmp_path, "sql", native=False)
    assert loud.returncode == 0, loud.stderr
    notes = [line for line in loud.stderr.splitlines() if "kernel" in line]
    assert notes == ["provscan: note: URL fast path: sql (native kernel disabled by PROVSCAN_NATIVE=0); "
                     "results are the same, slower"], loud.stderr
    assert "Warning" not in loud.stderr and ".py:" not in loud.stderr
    native = _scan(tmp_path, "native", "-q", native=True)
    assert native.returncode == 0, native.stderr
    flagged = [pq.read_table(tmp_path / d / "flagged.parquet").select(["row", "list"]).to_pylist() for d in ("sql", "native")]
    assert flagged[0] == flagged[1] and [r["row"] for r in flagged[0]] == [0, 3]
