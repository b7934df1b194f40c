"""Ray's own output kept off the user's terminal: it goes to ``OUT/.provscan/ray.log``.

Ray speaks through two channels in the driver. Its Python loggers are routed with ``logging``. Its
C++ core worker writes every ERROR line, check failure and stack dump straight to file descriptor
2, unconditionally (ray-project/ray#18577): a lost GCS or a Ray bug put tens to hundreds of such
lines on the terminal. So for the run fd 2 *is* the log, and ``sys.stderr`` writes to a copy of the
terminal, so provscan's own lines (progress, the one error line) still reach the user.

When Ray ends the process itself (``Check failed``, the GCS gone for 60 s: it exits without
unwinding Python), nothing of provscan runs any more to say so. A tiny watcher process, started
here and outside the terminal's process group (a Ctrl-C is the driver's to handle), waits on a
pipe: closed without the driver's "done" it prints one line naming the log and its last line.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOG_NAME = "ray.log"

_WATCH = r"""
import re, sys
done = sys.stdin.read() == "done"
if not done:
    try:
        with open(sys.argv[1], "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 65536))
            lines = [l for l in f.read().decode("utf-8", "replace").splitlines() if l.strip() and not l.startswith((" ", "/", "*"))]
    except OSError:
        lines = []
    last = re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", lines[-1].strip()) if lines else "no message"
    last = last[:200].rsplit(". ", 1)[0] if len(last) > 200 else last
    sys.stderr.write(f"Error: Ray ended provscan: {last} (Ray's log: {sys.argv[1]}); "
                     "committed shards are kept: run the same command with --resume to continue\n")
"""


@contextmanager
def ray_log(out: Path, *, terminal: bool) -> Iterator[Path]:
    """Ray's log lines to ``OUT/.provscan/ray.log`` for the run; with ``terminal`` (provscan owns
    the Ray connection, so this process's fd 2 is provscan's to move) the C++ lines too."""
    from provscan.pipeline.commit import STATE_DIR

    path = out / STATE_DIR / LOG_NAME
    logger = logging.getLogger("ray")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = logger.handlers[:], logger.propagate
    logger.handlers, logger.propagate = [handler], False
    try:
        if terminal:
            with _fd2_to(path):
                yield path
        else:
            yield path
    finally:
        logger.handlers, logger.propagate = saved
        handler.close()


@contextmanager
def _fd2_to(path: Path) -> Iterator[None]:
    sys.stderr.flush()
    user = os.dup(2)
    watcher = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _WATCH, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=user,
        start_new_session=True,
    )
    log = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 2)
    os.close(log)
    saved = sys.stderr
    sys.stderr = open(
        user, "w", buffering=1, encoding=saved.encoding or "utf-8", errors="backslashreplace", closefd=False
    )
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr = saved
        os.dup2(user, 2)
        os.close(user)
        assert watcher.stdin is not None
        try:
            watcher.stdin.write(b"done")
            watcher.stdin.close()
        except OSError:
            pass
        watcher.wait()
