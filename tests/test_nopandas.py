"""provscan's own processes never import pandas (io/nopandas.py): pyarrow would, to ask whether the
Python lists provscan hands it are DataFrames, at 0.16 CPU-s a process. A library caller's process
keeps pandas importable."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("pandas", reason="pandas is not installed: nothing to keep out")


def test_scan_and_its_workers_import_no_pandas(tmp_path: Path, make_shard: Callable[..., Path]) -> None:
    shards = [make_shard(f"s{i}.parquet", url=[f"http://bad.example/{i}", "http://ok.example/"]) for i in range(2)]
    (tmp_path / "bad.txt").write_text("bad.example\n")
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}  # inherited by the workers' server
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "provscan", "scan", *map(str, shards), "-o", str(out), "--no-config", "-q"]
    done = subprocess.run(
        [*cmd, "-b", f"domain:{tmp_path / 'bad.txt'}", "--workers", "2"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    # the command and the server its workers are forked from (they import nothing more: test_zygote.py)
    assert imported.count("provscan.io.nopandas") >= 2
    assert "pyarrow.parquet" in imported and not any(name.startswith("pandas.") for name in imported)
    assert (out / "manifest.json").is_file()


def test_a_library_caller_keeps_pandas() -> None:
    code = "import provscan, provscan.cli, pandas; print(pandas.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "pandas", done.stderr[-2000:]


def test_the_refusal_is_what_pyarrow_reads_as_absent() -> None:
    code = (
        "from provscan.io.nopandas import keep_pandas_out; keep_pandas_out()\n"
        "import sys, pyarrow as pa\n"
        "t = pa.table({'a': [1, 2]})\n"  # a Python list: pyarrow asks about pandas here
        "try:\n    import pandas\nexcept ModuleNotFoundError:\n    print('refused', 'pandas' in sys.modules, t.num_rows)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "refused False 2", done.stderr[-2000:]
