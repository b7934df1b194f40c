"""One line, the right exit code, everywhere (issue 16 item 6): a write limit hit while merging
flagged.parquet, SIGTERM to ``provscan merge`` (its hint is a command that finishes the run), the
interrupt line's count of committed shards, a FIFO given as a shard, ``provscan hash`` on a non-image.

Real processes, real signals, a real file size limit (RLIMIT_FSIZE: the kernel answers EFBIG, as a
file system's size limit or a quota does), a real FIFO.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from test_lifecycle import corpus, lists, run, start


def _lines(text: str) -> list[str]:
    return text.strip().splitlines()


def _hinted(message: str) -> list[str]:
    """The command a one-line error tells the user to run, as argv for this interpreter."""
    assert message.count("provscan merge ") == 1, message
    args = shlex.split(message.strip().split("provscan merge ", 1)[1])  # the line ends with the command
    assert len(args) == 1, args  # OUT, quoted as a shell needs it
    return ["merge", *args]


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """An OUT whose 6 shards are committed by an array-job part and not yet merged."""
    root = tmp_path_factory.mktemp("one-line")
    data = corpus(root / "data", shards=6, rows=4000)
    args = lists(root)
    out = root / "parts"
    part = run("scan", str(data), *args, "-o", str(out), "-q", "--part", "0/1")
    assert part.returncode == 0, part.stderr
    return out, args


def test_a_write_limit_while_merging_flagged_is_one_line_whose_command_finishes(tmp_path: Path, committed) -> None:
    parts, _ = committed
    out = tmp_path / "out dir"  # a space: the hinted command must still be one valid command
    shutil.copytree(parts, out)
    reference = tmp_path / "reference"
    shutil.copytree(parts, reference)
    assert run("merge", str(reference), "-q").returncode == 0
    flagged = (reference / "flagged.parquet").stat().st_size
    # flagged.parquet is the merge's first file: a limit below its size stops the merge right there
    limit = flagged // 2
    code = (
        "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (%d, %d)); "
        "sys.argv = ['provscan', *sys.argv[1:]]; runpy.run_module('provscan', run_name='__main__')"
    ) % (limit, limit)
    limited = subprocess.run(
        [sys.executable, "-c", code, "merge", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert limited.returncode == 1, limited.stderr
    assert len(_lines(limited.stderr)) == 1 and "Traceback" not in limited.stderr, limited.stderr
    assert "file too large" in limited.stderr and "while merging" in limited.stderr
    assert not (out / "manifest.json").exists() and not (out / "flagged.parquet").exists()
    again = run(*_hinted(limited.stderr), "-q")
    assert again.returncode == 0, again.stderr
    assert (out / "flagged.parquet").read_bytes() == (reference / "flagged.parquet").read_bytes()


def _wait_until_locked_by(out: Path, proc: subprocess.Popen[str]) -> None:
    """Until ``proc`` holds OUT's lock: its signal handlers are installed by then."""
    lock = out / ".provscan" / "lock"
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if lock.read_text().strip() == str(proc.pid):
                return
        except OSError:
            pass
        time.sleep(0.005)


def test_sigterm_to_merge_names_a_command_that_finishes(tmp_path: Path, committed) -> None:
    parts, _ = committed
    out = tmp_path / "out"
    shutil.copytree(parts, out)
    proc = start("merge", str(out), "-q")
    _wait_until_locked_by(out, proc)
    proc.send_signal(signal.SIGSTOP)  # stopped mid-merge: the SIGTERM lands there, not after the manifest
    if (out / "manifest.json").exists() or proc.poll() is not None:
        proc.send_signal(signal.SIGCONT)
        proc.communicate(timeout=60)
        pytest.skip("the merge finished before the signal")
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert len(_lines(stderr)) == 1 and "interrupted" in stderr and "--resume" not in stderr, stderr
    assert not (out / "manifest.json").exists()
    again = run(*_hinted(stderr), "-q")
    assert again.returncode == 0, again.stderr
    assert (out / "manifest.json").exists()


def test_the_interrupt_line_counts_the_shards_workers_committed(tmp_path: Path) -> None:
    data = corpus(tmp_path / "data", shards=8, rows=10_000)
    out = tmp_path / "out"
    proc = start("scan", str(data), *lists(tmp_path), "-o", str(out), "-q", "--workers", "2")
    shards = out / ".provscan" / "shards"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and len(list(shards.glob("*/commit.json"))) < 3:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal")
    assert proc.returncode == 143, stderr
    found = re.search(r"interrupted: (\d+) of 8 shards done", stderr)
    assert found and len(_lines(stderr)) == 1, stderr
    assert int(found.group(1)) == len(list(shards.glob("*/commit.json"))) >= 3


@pytest.mark.parametrize("given", ["fifo.parquet", "*.parquet", "."])
def test_a_fifo_is_refused_at_once_as_a_shard(tmp_path: Path, given: str) -> None:
    data = corpus(tmp_path / "data", shards=1, rows=10)
    os.mkfifo(data / "fifo.parquet")  # nobody ever writes to it: opening it for reading blocks for good
    result = subprocess.run(
        [sys.executable, "-m", "provscan", "scan", given, "--no-config", "-o", str(tmp_path / "out"), "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=data,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result.stderr
    assert _lines(result.stderr) == ["Error: fifo.parquet: not a regular file (a FIFO): a shard is a parquet file"]
    assert not (tmp_path / "out").exists()


def test_hash_of_a_non_image_is_one_line_and_exit_1(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_text("<html>not an image</html>")
    result = run("hash", str(junk), "--kind", "phash", "-o", str(tmp_path / "l.txt"))
    assert result.returncode == 1
    assert _lines(result.stderr) == [
        f"Error: {junk}: cannot hash (not an image: an HTML page, not an image); nothing written"
    ]
    assert not (tmp_path / "l.txt").exists()


def test_hash_writes_the_images_it_could_hash_and_says_which_it_could_not(tmp_path: Path) -> None:
    Image.new("RGB", (64, 64), (200, 30, 30)).save(tmp_path / "red.png")
    (tmp_path / "empty.png").write_bytes(b"")
    result = run("hash", str(tmp_path / "red.png"), str(tmp_path / "empty.png"), "--kind", "phash")
    assert result.returncode == 1
    assert "BytesIO" not in result.stderr
    assert _lines(result.stderr) == [f"provscan: {tmp_path / 'empty.png'}: cannot hash (not an image: empty file)"]
    assert len([line for line in _lines(result.stdout) if not line.startswith("#")]) == 1
