"""provscan: dataset provenance scanner for image-text training corpora.

The library does the work; the ``provscan`` command only parses options and formats results::

    import provscan
    result = provscan.scan(["shards/"], provscan.load_config("provscan.toml"), output="out")
    result.manifest["totals"]["rows_dropped"]
    audit = provscan.sample(["hf://datasets/ORG/NAME"], rows=10_000, seed=1, output="audit")
    audit.estimates["estimates"][0]  # {"dimension", "value", "share", "share_low", "share_high", ...}
"""

from typing import TYPE_CHECKING

from provscan._version import __version__

from provscan.config import ConsentConfig, LicenseConfig, ListSpec, ScanConfig, load_config
from provscan.errors import (
    ConfigError,
    IntegrityError,
    ListError,
    MissingDependency,
    OutputError,
    ProvscanError,
    ShardError,
)

if TYPE_CHECKING:
    from provscan.lists.files import LoadedList, load_list, write_list
    from provscan.pipeline.driver import ScanResult, scan
    from provscan.sampling.run import SampleResult, sample

__all__ = [
    "ConfigError",
    "ConsentConfig",
    "IntegrityError",
    "LicenseConfig",
    "ListError",
    "ListSpec",
    "LoadedList",
    "MissingDependency",
    "OutputError",
    "ProvscanError",
    "SampleResult",
    "ScanConfig",
    "ScanResult",
    "ShardError",
    "__version__",
    "load_config",
    "load_list",
    "sample",
    "scan",
    "write_list",
]


_LAZY = {
    "scan": "provscan.pipeline.driver",
    "ScanResult": "provscan.pipeline.driver",
    "LoadedList": "provscan.lists.files",
    "load_list": "provscan.lists.files",
    "write_list": "provscan.lists.files",
    "sample": "provscan.sampling.run",
    "SampleResult": "provscan.sampling.run",
}


def __getattr__(name: str):  # noqa: ANN202
    """The API's heavy half loads on first use. ``import provscan.x`` runs this package first: the
    ``--workers`` forkserver (:mod:`provscan.pipeline.zygote`) must switch pyarrow's and numpy's
    threads off before they load, and ``sample`` brings in the HTTP stack, which a local scan never
    needs."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'provscan' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
