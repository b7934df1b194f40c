"""provscan: dataset provenance scanner for image-text training corpora.

The library does the work; the ``provscan`` command only parses options and formats results::

    import provscan
    result = provscan.scan(["shards/"], provscan.load_config("provscan.toml"), output="out")
    result.manifest["totals"]["rows_dropped"]
    audit = provscan.sample(["hf://datasets/ORG/NAME"], rows=10_000, seed=1, output="audit")
    audit.estimates["estimates"][0]  # {"dimension", "value", "share", "share_low", "share_high", ...}
"""

from provscan._version import __version__

from provscan.config import ConsentConfig, LicenseConfig, ListSpec, ScanConfig, load_config
from provscan.pipeline.driver import ScanResult, scan
from provscan.errors import (
    ConfigError,
    IntegrityError,
    ListError,
    MissingDependency,
    OutputError,
    ProvscanError,
    ShardError,
)
from provscan.lists.files import LoadedList, load_list, write_list

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


def __getattr__(name: str):  # noqa: ANN202
    """``sample`` and ``SampleResult`` load on first use: they bring in the HTTP stack (httpx),
    which a local ``scan`` never needs."""
    if name in ("sample", "SampleResult"):
        from provscan.sampling import run

        return getattr(run, name)
    raise AttributeError(f"module 'provscan' has no attribute {name!r}")
