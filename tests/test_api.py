"""The public Python API is what __all__ lists, sorted, and provscan.scan is the function."""

from __future__ import annotations

import provscan


def test_all_is_sorted_and_importable() -> None:
    assert provscan.__all__ == sorted(provscan.__all__)
    for name in provscan.__all__:
        assert hasattr(provscan, name), name


def test_scan_is_the_library_function() -> None:
    assert callable(provscan.scan)
    assert provscan.scan.__module__ == "provscan.pipeline.driver"
