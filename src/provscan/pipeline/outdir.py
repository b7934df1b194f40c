"""The output directory belongs to the run: one run at a time, only provscan's own files, inputs untouched.

Every command that writes OUT (``scan``, ``sample``, ``merge``, ``report``) enters :class:`OutputDir`,
which checks, under the lock and before anything is written or deleted:

* **One run per OUT.** An exclusive ``fcntl.flock`` on ``OUT/.provscan/lock`` for the whole run; a
  second run fails at once naming the holder's pid. Array-job parts (``--part I/N``) share the lock
  with each other (each holds its own part lock exclusively); a full run or ``merge`` excludes them.
* **Only provscan's files.** OUT must be missing, empty, or an earlier provscan output: a complete
  run's manifest, or the working state of a run that passed these checks and was interrupted
  (``.provscan/claimed``, written only once they pass; a lock file alone proves nothing). Anything
  else is refused, naming the first unknown files; provscan never deletes a file it did not write.
* **Paths read from OUT stay inside OUT.** OUT's own files are untrusted (a downloaded release):
  every path taken from the manifest, a commit or an intent must be relative, without ``..``, and
  resolve (links followed) inside OUT, else the run stops naming the file and the entry.
* **Inputs are sacred.** A run that would write or delete a file that is one of its inputs
  (``os.path.samefile``, not names) is refused naming both paths.
* **A refused run leaves nothing behind**: the lock, ``.provscan/`` and OUT itself are removed again
  when this run created them.

Leftovers of earlier runs (their outputs, ``.NAME.tmp-PID`` files of a killed run) are removed at
start, under the lock, so after a successful run OUT holds exactly that run.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from provscan.errors import OutputError
from provscan.io.atomic import is_temp, write_json
from provscan.pipeline.commit import STATE_DIR, confined, owned_outputs

CACHE_DIR = "cache"
FINAL_OUTPUTS = (
    "manifest.json",
    "summary.json",
    "flagged.parquet",
    "removals.sha256.txt",
    "fetch.parquet",
    "report.html",
    "datacard.md",
    "estimates.json",
    "sample.parquet",
    "croissant.json",
    "provenance.intoto.json",
)
"""Names a provscan run writes at the top of OUT (scan and sample)."""


CLAIM = "claimed"
"""``.provscan/claimed``: written once a run has passed the checks, so an interrupted run's outputs
stay its own; a refused run never writes it."""

Input = tuple[str, Path]
"""An input as the user named it, and its local path."""


class OutputDir:
    """OUT for the duration of one run: locked and checked on enter, unlocked on exit.

    ``inputs`` are the run's local inputs, ``writes`` the files it will write; ``transient`` (``report``)
    removes on exit the lock and state folder it had to create."""

    def __init__(
        self,
        out: Path,
        *,
        part: int | None = None,
        inputs: Iterable[Input] = (),
        writes: Iterable[Path] = (),
        transient: bool = False,
    ) -> None:
        self.out = out
        self.state = out / STATE_DIR
        self.part = part
        self.inputs = list(inputs)
        self.writes = list(writes)
        self.transient = transient
        self.earlier_run = False
        self._known: set[Path] | None = None
        self._fds: list[int] = []
        self._exclusive: list[int] = []
        self._created: list[Path] = []  # what entering made, innermost last: undone when refused

    def __enter__(self) -> OutputDir:
        # Whether OUT was provscan's before this run: only then do the output names count as ours.
        self.earlier_run = (self.state / CLAIM).is_file() or _provscan_manifest(self.out / "manifest.json") is not None
        try:
            for directory in (self.out, self.state):
                if not directory.is_dir():
                    directory.mkdir(parents=True, exist_ok=True)
                    self._created.append(directory)
            if self.part is None:
                self._lock(self.state / "lock", fcntl.LOCK_EX)
            else:
                self._lock(self.state / "lock", fcntl.LOCK_SH)
                self._lock(self.state / f"lock-part-{self.part}", fcntl.LOCK_EX)
            self.check_ownership()
            self.check_inputs()
            for fd in self._exclusive:  # the holder's pid, for the next run's "in use" line: only once checked
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            if not self.transient and not (self.state / CLAIM).is_file():
                write_json(self.state / CLAIM, {"pid": os.getpid()})
        except BaseException as exc:
            self._release()
            self._undo()
            if isinstance(exc, OSError):
                raise OutputError(self.out, f"output directory is not writable: {exc.strerror or exc}") from exc
            raise
        if not self.transient:
            self._created.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()
        self._undo()

    def _release(self) -> None:
        for fd in reversed(self._fds):
            os.close(fd)  # closing releases the flock
        self._fds.clear()
        self._exclusive.clear()

    def _undo(self) -> None:
        """Remove what entering created (lock files, then the folders if nothing else is in them)."""
        for path in reversed(self._created):
            try:
                path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
            except OSError:
                pass  # a folder another process wrote into meanwhile stays
        self._created.clear()

    @property
    def lock_fds(self) -> tuple[int, ...]:
        """The locked files this run holds: worker processes hold them too (:mod:`provscan.pipeline.lifeline`)."""
        return tuple(self._fds)

    def _lock(self, path: Path, mode: int) -> None:
        for _ in range(3):
            existed = path.exists()
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
            if _same_file(fd, path):
                break
            os.close(fd)  # a refused run removed the file between our open and flock: lock the new one
        else:
            raise OutputError(self.out, f"{self.out}: the lock file keeps changing; is another provscan run starting?")
        if not existed:
            self._created.append(path)
        if mode == fcntl.LOCK_EX:
            self._exclusive.append(fd)
        self._fds.append(fd)

    def known_files(self) -> set[Path]:
        """Files under OUT an earlier provscan run wrote (besides its state and cache folders), each
        checked to lie inside OUT (:func:`confined`).

        Read once per lock: the ownership, input and leftover checks all ask, and OUT cannot change
        under the lock before the leftovers are removed (the last of them)."""
        if self._known is None:
            self._known = self._read_known()
        return self._known

    def _read_known(self) -> set[Path]:
        if not self.earlier_run:
            return set()  # a user's summary.json in a fresh OUT is not ours to delete
        known = {self.out / name for name in FINAL_OUTPUTS}
        path = self.out / "manifest.json"
        data = _provscan_manifest(path) or {}
        files = data.get("files", {})
        shards = data.get("shards", [])
        if not isinstance(files, dict) or not isinstance(shards, list):
            raise OutputError(
                path,
                "not a valid provscan manifest (files or shards malformed): refusing to run; "
                "remove it or choose another output directory",
            )
        known.update(confined(self.out, rel, path, "files key") for rel in files)
        for i, entry in enumerate(shards):
            output = entry.get("output") if isinstance(entry, dict) else None
            if output is not None:
                known.add(confined(self.out, output, path, f"shards[{i}].output"))
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

    def check_inputs(self) -> None:
        """Refuse before writing anything when an output (or a leftover to delete) is an input."""
        targets = [p for p in {*self.writes, *self.known_files()} if p.exists()]
        for given, source in self.inputs:
            for target in targets:
                if _same(source, target):
                    raise OutputError(
                        target,
                        f"is the input shard {given}: refusing to overwrite or delete an input "
                        "(choose another output directory)",
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
        for root, dirs, _ in sorted(os.walk(self.out), key=lambda w: -len(Path(w[0]).parts)):
            directory = Path(root)
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


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (a refused run may have removed it)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False
