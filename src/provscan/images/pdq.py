"""PDQ (Meta's 256-bit perceptual hash), the optional ``provscan[pdq]`` extra.

Why optional: ``pdqhash`` has no wheel and builds from C++ source (~16-30 s, needs a compiler),
which most users of the URL scanner never need. Why support it at all: PDQ is the hash that
child-protection and trust-and-safety bodies exchange (ThreatExchange), is more robust than
pHash, and is dihedral-aware. Default match distance 31 of 256 bits, as upstream recommends.
"""

from __future__ import annotations

import numpy as np

from provscan.errors import MissingDependency

PIP_HINT = "pip install 'provscan[pdq]'  (or: pip install pdqhash)"

DEFAULT_MAX_DISTANCE = 31
"""Upstream's recommended match radius (of 256 bits)."""


def require():
    """Return the ``pdqhash`` module, or raise MissingDependency with the pip hint."""
    try:
        import pdqhash
    except ImportError as exc:
        raise MissingDependency(f"the pdq hash kind needs the pdqhash package: {PIP_HINT}") from exc
    return pdqhash


def to_hex(bits: np.ndarray) -> str:
    """256 0/1 values, most significant first, as upstream's 64-hex-digit form."""
    packed = np.packbits(np.asarray(bits, dtype=np.uint8))
    return packed.tobytes().hex()


def hashes(shown: np.ndarray, stored: np.ndarray | None, dihedral: bool) -> tuple[list[str], int]:
    """PDQ hex of the displayed image (RGB uint8 array), then of the stored orientation if it
    differs (EXIF), then of the other dihedral variants; with the quality of the displayed one."""
    pdqhash = require()
    shown = np.ascontiguousarray(shown)
    if dihedral:
        vectors, quality = pdqhash.compute_dihedral(shown)  # first is the identity
        out = [to_hex(v) for v in vectors]
    else:
        vector, quality = pdqhash.compute(shown)
        out = [to_hex(vector)]
        if stored is not None:
            out.append(to_hex(pdqhash.compute(np.ascontiguousarray(stored))[0]))
    return list(dict.fromkeys(out)), int(quality)
