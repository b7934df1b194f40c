"""provscan: dataset provenance scanner for image-text training corpora."""

from provscan.errors import (
    ConfigError,
    IntegrityError,
    ListError,
    MissingDependency,
    OutputError,
    ProvscanError,
    ShardError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "IntegrityError",
    "ListError",
    "MissingDependency",
    "OutputError",
    "ProvscanError",
    "ShardError",
    "__version__",
]
