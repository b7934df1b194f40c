"""Keep pandas out of provscan's own processes: pyarrow imports it just to ask a question.

The first time pyarrow converts anything that is not already Arrow (``pa.array(list)``,
``pa.table(dict)``, a numpy array), it imports pandas, when installed, to ask whether the object is
a Series or a DataFrame. provscan never hands it one, and the import costs 0.16 CPU-s per process
(pinned, this machine): a sixth of copying a million real LAION rows, paid again by every
``--workers`` process. pyarrow treats a pandas it cannot import as absent, so the processes provscan
starts itself (the ``provscan`` command and its worker processes; never a library caller's process,
nor a Ray worker it does not own) refuse the import.
"""

from __future__ import annotations

import importlib.abc
import sys


class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"{name} is not imported by provscan processes", name=name)
        return None


def keep_pandas_out() -> None:
    """Refuse ``import pandas`` from now on in this process, unless it is already imported."""
    if "pandas" in sys.modules or any(isinstance(f, _Refuse) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Refuse())
