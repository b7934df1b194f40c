"""Run in a forked worker by ``test_zygote.py``; imports nothing but the stdlib, so that what it
finds in ``sys.modules`` is what the worker was forked with."""

from __future__ import annotations

import os
import sys


def probe(names: list[str]) -> tuple[list[bool], int]:
    """Which of ``names`` the worker already has, and how many threads it runs."""
    return [name in sys.modules for name in names], len(os.listdir("/proc/self/task"))
