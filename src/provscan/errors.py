"""The one exception tree of provscan.

Configuration and infrastructure problems raise; row problems (a garbage URL, a dead link, an
undecodable image) never do: they become a status on the row. Third-party exceptions are translated
into this tree where the dependency is used, so callers catch one base class::

    ProvscanError
    ├── ConfigError        bad option, config file or policy value
    ├── ListError          a list that cannot be read or has a malformed line (path, line)
    ├── ShardError         a shard that is missing, unreadable, lacks a needed column or has it
    │                      in the wrong type (path)
    ├── InputError         another input that cannot be read, e.g. a truncated ``--images`` tar (path)
    ├── OutputError        the output directory cannot be written
    ├── EngineError        DuckDB failed on a query that names no file (memory, spill space, a bug)
    ├── IntegrityError     an invariant failed (rows in != rows kept + rows dropped): a bug, never data
    ├── RunInterrupted     SIGINT/SIGTERM stopped the run; committed shards are kept for ``--resume``
    └── MissingDependency  an optional extra (e.g. ``provscan[pdq]``) is not installed
"""

from __future__ import annotations

from pathlib import Path


class ProvscanError(Exception):
    """Base of every error provscan raises on purpose.

    ``str(err)`` is a one-line message that names the file (and line) at fault, ready for the CLI.
    """


class ConfigError(ProvscanError):
    """A command-line option, config file entry or policy value is invalid."""


class _FileError(ProvscanError):
    """An error about one file, optionally one line of it; the message starts with ``path[:line]: ``."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ListError(_FileError):
    """A blocklist or registry cannot be read, or one of its lines is malformed.

    Never skipped silently: a dropped hash is a missed match.
    """


class ShardError(_FileError):
    """A shard is missing or corrupt, or lacks a column the scan needs."""


class InputError(_FileError):
    """An input that is neither a shard nor a list cannot be read: a local image folder or tar
    (``--images``). Raised, not recorded per row: a half-read tar would silently skip images."""


class OutputError(_FileError):
    """The output directory or one of its files cannot be written."""


class EngineError(ProvscanError):
    """DuckDB failed on a query that reads no named file: out of memory or spill space, or a bug
    in a query provscan built. The message is DuckDB's first line, prefixed ``duckdb:``."""


class IntegrityError(ProvscanError):
    """An invariant of the scan failed, e.g. rows in != rows kept + rows dropped for a shard."""


class MissingDependency(ProvscanError):
    """An optional extra is needed for what was asked; the message names the ``pip install``."""


class RunInterrupted(ProvscanError):
    """SIGINT or SIGTERM stopped the run; every committed shard is kept for ``--resume``."""

    def __init__(self, done: int | None, total: int | None, signum: int, *, merging: str | None = None) -> None:
        """``merging``: OUT, when ``provscan merge OUT`` was interrupted (the hint is then that command)."""
        self.done, self.total, self.exit_code = done, total, 128 + signum
        if merging is not None:
            import shlex

            super().__init__(
                f"interrupted while merging; every committed shard is kept; to finish, run: "
                f"provscan merge {shlex.quote(merging)}"
            )
            return
        progress = f"{done} of {total} shards done" if total is not None else "before any shard was scanned"
        super().__init__(f"interrupted: {progress}; run the same command with --resume to continue")
