"""provscan: dataset provenance scanner for image-text training corpora.

The library does the work; the ``provscan`` command only parses options and formats results::

    import provscan
    result = provscan.scan(["shards/"], provscan.load_config("provscan.toml"), output="out")
    result.manifest["totals"]["rows_dropped"]
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
    "ScanConfig",
    "ScanResult",
    "ShardError",
    "__version__",
    "load_config",
    "load_list",
    "scan",
    "write_list",
]
