"""A seeded differential fuzz of the native kernel under AddressSanitizer and UBSan (issue 22 item 9).

benchmarks/fuzz_native.py's ``asan`` mode builds the kernel with ``-fsanitize=address,undefined`` into
a temporary copy of the package and runs ``PROVSCAN_FUZZ_URLS`` generated URLs (2 000 here by default,
20 000 in CI: ``.ci/run``) in every buffer layout through it, against the Python reference and the
SQL fast path. Two deliberately broken kernels show the harness can fail: one cut differently, one
reading offsets through a misaligned pointer (only UBSan sees that one)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

FUZZ = ROOT / "benchmarks" / "fuzz_native.py"
KERNEL = ROOT / "src" / "provscan" / "urls" / "_simple.c"
URLS = os.environ.get("PROVSCAN_FUZZ_URLS", "2000")


def _have_sanitizers() -> bool:
    if shutil.which("gcc") is None:
        return False
    found = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    return os.path.isabs(found)


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _have_sanitizers(), reason="needs gcc with libasan and libubsan"),
]


def _asan(source: Path, urls: str = URLS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(FUZZ), "asan", "--urls", urls, "--seed", "22", "--source", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )


def test_sanitized_kernel_equals_reference_and_sql() -> None:
    run = _asan(KERNEL)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert f"{URLS} URLs x 7 layouts" in run.stdout and "0 mismatches" in run.stdout
    assert "sanitized kernel = reference = SQL fast path" in run.stdout


@pytest.mark.parametrize(
    ("before", "after", "needle"),
    [
        ("c + 32 : c", "c : c", "MISMATCH"),  # hosts no longer lower-cased
        ("memcpy(&v, offsets + k * 8, 8);", "v = *(const int64_t *)(offsets + k * 8);", "misaligned"),
    ],
)
def test_harness_catches_a_broken_kernel(tmp_path: Path, before: str, after: str, needle: str) -> None:
    text = KERNEL.read_text()
    assert before in text
    broken = tmp_path / "_simple.c"
    broken.write_text(text.replace(before, after))
    run = _asan(broken, "2000")
    assert run.returncode != 0 and needle in run.stdout + run.stderr, (run.stdout + run.stderr)[-3000:]
