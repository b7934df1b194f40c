"""What every timing benchmark does before its first round: measure provscan as users install it.

``pip install .`` byte-compiles the package; an editable install (``pip install -e .``, this repo's
setup) writes ``__pycache__`` on first import, unless ``PYTHONDONTWRITEBYTECODE`` is set, as it is
on this machine. Then every provscan process and every ``--workers`` worker compiles ~80 modules from
source: 0.05 CPU-s per process (measured: a one-row scan 0.53 -> 0.48 CPU-s), a cost no installed
provscan pays and the pyarrow / DuckDB floors (compiled at install) never pay. ``precompile()`` writes
the bytecode once, as an install would; Python reads it even with the variable set.
"""

from __future__ import annotations

import compileall
import os
from pathlib import Path


def precompile() -> None:
    """Byte-compile the provscan package being measured (a no-op when its bytecode is current)."""
    import provscan

    package = Path(provscan.__file__).resolve().parent
    if not compileall.compile_dir(package, quiet=1, workers=1):
        raise SystemExit(f"cannot byte-compile {package}")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print(f"bytecode: compiled {package} once (PYTHONDONTWRITEBYTECODE is set here; an install compiles it)")
