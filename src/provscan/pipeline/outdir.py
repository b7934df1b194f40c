"""The output directory belongs to the run: one run at a time, only provscan's own files, inputs untouched.

Rules, each checked before anything is written:

* **One run per OUT.** An exclusive ``fcntl.flock`` on ``OUT/.provscan/lock`` for the whole run; a
  second run fails at once naming the holder's pid. Array-job parts (``--part I/N``) share the lock
  with each other (each holds its own part lock exclusively); a full run or ``merge`` excludes them.
* **Only provscan's files.** OUT must be missing, empty, or an earlier provscan output: it knows its
  own files from the earlier manifest and the per-shard commits. Anything else is refused, naming
  the first unknown files; provscan never deletes a file it did not write.
* **Inputs are sacred.** A run that would write or delete a file that is one of its inputs
  (``os.path.samefile``, not names) is refused naming both paths.

Leftovers of earlier runs (their outputs, ``.NAME.tmp-PID`` files of a killed run) are removed at
start, under the lock, so after a successful run OUT holds exactly that run.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from provscan.errors import OutputError
from provscan.io.atomic import is_temp
from provscan.io.shards import Shard
from provscan.pipeline.commit import STATE_DIR, owned_outputs

CACHE_DIR = "cache"
FINAL_OUTPUTS = ("manifest.json", "summary.json", "flagged.parquet", "removals.sha256.txt", "fetch.parquet",
                 "report.html", "datacard.md", "estimates.json", "sample.parquet")
"""Names a provscan run writes at the top of OUT (scan and sample)."""


class OutputDir:
    """OUT for the duration of one run: locked on enter, unlocked on exit."""

    def __init__(self, out: Path, *, part: int | None = None) -> None:
        self.out = out
        self.state = out / STATE_DIR
        self.part = part
        self.earlier_run = False
        self._known: set[Path] | None = None
        self._fds: list[int] = []

    def __enter__(self) -> OutputDir:
        # Whether OUT was provscan's before this run: only then do the output names count as ours.
        self.earlier_run = self.state.is_dir() or _provscan_manifest(self.out / "manifest.json") is not None
        try:
            self.state.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(self.out, f"output directory is not writable: {exc.strerror or exc}") from exc
        if self.part is None:
            self._lock(self.state / "lock", fcntl.LOCK_EX)
        else:
            self._lock(self.state / "lock", fcntl.LOCK_SH)
            self._lock(self.state / f"lock-part-{self.part}", fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in reversed(self._fds):
            os.close(fd)  # closing releases the flock
        self._fds.clear()

    @property
    def lock_fds(self) -> tuple[int, ...]:
        """The locked files this run holds: worker processes hold them too (:mod:`provscan.pipeline.lifeline`)."""
        return tuple(self._fds)

    def _lock(self, path: Path, mode: int) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                who = f" (pid {holder})" if holder else ""
                raise OutputError(self.out, f"{self.out} is in use by another provscan run{who}") from None
            raise OutputError(self.out, f"cannot lock the output directory: {exc.strerror or exc}") from exc
        if mode == fcntl.LOCK_EX:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fds.append(fd)

    def known_files(self) -> set[Path]:
        """Files under OUT an earlier provscan run wrote (besides its state and cache folders).

        Read once per lock: the ownership, input and leftover checks all ask, and OUT cannot change
        under the lock before the leftovers are removed (the last of them)."""
        if self._known is None:
            self._known = self._read_known()
        return self._known

    def _read_known(self) -> set[Path]:
        if not self.earlier_run:
            return set()  # a user's summary.json in a fresh OUT is not ours to delete
        known = {self.out / name for name in FINAL_OUTPUTS}
        data = _provscan_manifest(self.out / "manifest.json") or {}
        known.update(self.out / rel for rel in data.get("files", {}))
        if data:
            for entry in data.get("shards", []):
                if entry.get("output"):
                    known.add(self.out / entry["output"])
        known.update(owned_outputs(self.out))
        return known

    def check_ownership(self) -> None:
        """Refuse a non-empty OUT that holds files provscan did not write."""
        known = {p.resolve() for p in self.known_files()}
        unknown = [p for p in _files(self.out) if not is_temp(p.name) and p.resolve() not in known]
        if unknown:
            names = ", ".join(str(p.relative_to(self.out)) for p in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise OutputError(
                self.out,
                f"not an earlier provscan output and not empty: refusing to write into it (unknown files: {names}{more})",
            )

    def check_inputs(self, shards: Sequence[Shard], writes: Iterable[Path]) -> None:
        """Refuse before writing anything when an output (or a leftover to delete) is an input."""
        targets = [p for p in {*writes, *self.known_files()} if p.exists()]
        for shard in shards:
            for target in targets:
                if _same(shard.path, target):
                    raise OutputError(
                        target, f"is the input shard {shard.given}: refusing to overwrite or delete an input "
                                "(choose another output directory)"
                    )

    def remove_leftovers(self, *, keep: Iterable[Path] = ()) -> None:
        """Remove earlier outputs and temp files (never cache/, never files of unknown origin)."""
        keep_set = {p.resolve() for p in keep}
        for path in sorted(self.known_files()):
            if path.is_file() and path.resolve() not in keep_set:
                path.unlink()
        for path in _files(self.out, include_state=True):
            if is_temp(path.name):
                path.unlink(missing_ok=True)
        for directory in sorted((d for d in self.out.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
            rel = directory.relative_to(self.out).parts
            if rel and rel[0] not in (STATE_DIR, CACHE_DIR) and not any(directory.iterdir()):
                directory.rmdir()  # clean/ subfolders an earlier run made and no longer holds files

    def reset_state(self, *, keep_commits: bool) -> None:
        if not keep_commits:
            shutil.rmtree(self.state / "shards", ignore_errors=True)
        shutil.rmtree(self.state / "tmp", ignore_errors=True)


def _files(out: Path, *, include_state: bool = False) -> list[Path]:
    """Files under OUT, sorted; the state and cache folders only when asked (and then walked, else
    never entered: at 10,000 shards the state folder holds 40,000 commit files)."""
    found: list[Path] = []
    if not out.is_dir():
        return found
    for root, dirs, files in os.walk(out):
        if not include_state and root == str(out):
            dirs[:] = [d for d in dirs if d not in (STATE_DIR, CACHE_DIR)]
        found.extend(Path(root, name) for name in files)
    return sorted(found)


def remove_temp_files(out: Path) -> None:
    """Remove ``.NAME.tmp-PID`` files outside the state and cache folders: under the run's lock they
    are a killed worker's half-written files (a retried Ray task wrote the whole file again)."""
    for path in _files(out):
        if is_temp(path.name):
            path.unlink(missing_ok=True)


def output_files(out: Path) -> list[Path]:
    """Every file the manifest must list: all of OUT but the manifest, cache/ and .provscan/."""
    return [p for p in _files(out) if p != out / "manifest.json"]


def _provscan_manifest(path: Path) -> dict | None:
    """An earlier provscan run's manifest, or None (absent, unreadable, or not provscan's)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "provscan_version" in data else None


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""
