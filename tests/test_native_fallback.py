"""Without the native URL kernel (a clone run from ``src/``, an install without a compiler) a scan
says so in one plain line, or not at all with ``-q``, and finds the same rows (issue 17)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import ROOT

URLS = ["http://bad.example/a.jpg", "http://OK.example/b%7e.jpg", "http://ok.example/c.jpg", "https://x.bad.example/"]


def _scan(tmp_path: Path, out: str, *extra: str, native: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVSCAN_NATIVE": "1" if native else "0"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "provscan",
            "scan",
            str(tmp_path / "shards"),
            "--no-config",
            "-b",
            f"domain:{tmp_path / 'bad.txt'}",
            "-o",
            str(tmp_path / out),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )


def test_fallback_is_one_plain_line_and_same_rows(tmp_path: Path, make_shard) -> None:
    make_shard("s.parquet", url=URLS)
    (tmp_path / "bad.txt").write_text("bad.example\n")
    quiet = _scan(tmp_path, "q", "-q", native=False)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    loud = _scan(tmp_path, "sql", native=False)
    assert loud.returncode == 0, loud.stderr
    notes = [line for line in loud.stderr.splitlines() if "kernel" in line]
    assert notes == [
        "provscan: note: URL fast path: sql (native kernel disabled by PROVSCAN_NATIVE=0); "
        "results are the same, ~0.8 CPU-s more per million URLs"
    ], loud.stderr
    assert "Warning" not in loud.stderr and ".py:" not in loud.stderr
    native = _scan(tmp_path, "native", "-q", native=True)
    assert native.returncode == 0, native.stderr
    flagged = [
        pq.read_table(tmp_path / d / "flagged.parquet").select(["row", "list"]).to_pylist() for d in ("sql", "native")
    ]
    assert flagged[0] == flagged[1] and [r["row"] for r in flagged[0]] == [0, 3]


def _asan_runtime() -> str | None:
    if shutil.which("gcc") is None:
        return None
    out = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    return out if os.path.isabs(out) and os.path.exists(out) else None


def build_kernel(target: Path, *flags: str) -> Path:
    """The kernel compiled as ``target``/_simple*.so."""
    target.mkdir(parents=True, exist_ok=True)
    so = target / ("_simple" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O1",
            "-g",
            *flags,
            f"-I{sysconfig.get_paths()['include']}",
            str(ROOT / "src/provscan/urls/_simple.c"),
            "-o",
            str(so),
        ],
        check=True,
        capture_output=True,
    )
    return so


LOAD = """from provscan.urls import native
print(native.AVAILABLE, native._simple.__file__ if native.AVAILABLE else native.status(), native.fallback_note())"""


def _tree(tmp_path: Path) -> Path:
    """A copy of the package without its kernel, first on PYTHONPATH: its urls/ takes the test's .so."""
    shutil.copytree(
        ROOT / "src" / "provscan", tmp_path / "pkg" / "provscan", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    return tmp_path / "pkg"


def _load(pkg: Path, **env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVSCAN_NATIVE": "1", "PYTHONPATH": str(pkg), **env}
    return subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, env=env, cwd=pkg, timeout=120)


@pytest.mark.skipif(_asan_runtime() is None, reason="needs gcc with libasan")
def test_stale_sanitizer_build_is_absent_not_fatal(tmp_path: Path) -> None:
    """A kernel left in build/ by an ASan build calls exit() at import ("ASan runtime does not come
    first"), which no except clause catches; provscan must not load it (issue 22 item 10)."""
    pkg = _tree(tmp_path)
    build_kernel(pkg / "provscan" / "urls", "-fsanitize=address")
    run = _load(pkg)
    assert run.returncode == 0, run.stderr
    available, status, note = run.stdout.strip().split(" ", 2)
    assert available == "False" and "sanitizer" in run.stdout and "gcc or clang" in note, run.stdout
    assert "Warning" not in run.stderr
    # with its runtime preloaded (how the differential test runs it) the same file loads
    preload = _load(pkg, LD_PRELOAD=_asan_runtime() or "", ASAN_OPTIONS="detect_leaks=0")
    assert preload.returncode == 0 and preload.stdout.startswith(f"True {pkg}"), preload.stderr[-2000:]


def test_broken_kernel_file_is_absent(tmp_path: Path) -> None:
    pkg = _tree(tmp_path)
    (pkg / "provscan" / "urls" / ("_simple" + sysconfig.get_config_var("EXT_SUFFIX"))).write_bytes(b"not an ELF file")
    run = _load(pkg)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("False sql (native kernel cannot be loaded: ImportError)"), run.stdout


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="no setuptools in this environment")
def test_install_without_a_compiler_builds_no_kernel_and_succeeds(tmp_path: Path) -> None:
    """setup.py marks the extension optional: no compiler is a warning, not a failed install (item 8)."""
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    run = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "CC": str(tmp_path / "no-such-gcc")},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "failed" in run.stderr and not list((tmp_path / "src").rglob("*.so"))
