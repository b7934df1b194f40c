"""Run in a forked worker by ``test_zygote.py``; imports nothing but the stdlib, so that what it
finds in ``sys.modules`` is what the worker was forked with."""

from __future__ import annotations

import sys


def probe(names: list[str]) -> list[bool]:
    """Which of ``names`` the worker already has."""
    return [name in sys.modules for name in names]
