"""Compressed list files, read as they are shipped: ``.gz``, ``.bz2``, ``.xz`` and ``.zst``.

Lists are distributed compressed (dolma's taggers read ``.gz`` lists, blocklist mirrors publish ``.xz``
and ``.zst``), and making users decompress by hand loses the link between the file they downloaded
and the SHA-256 in the manifest. The manifest keeps the hash of the bytes *as stored*; only the
parser sees the decompressed text. The codec is chosen by the file name's suffix, never sniffed: a
``.txt`` that happens to start with gzip magic bytes is a list of odd lines, not an archive.

gzip, bz2 and xz come from the standard library; zstd from pyarrow's codec (already a dependency),
so no new package is needed.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from pathlib import Path

import pyarrow as pa

COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


def compression_of(path: str | Path) -> str | None:
    """The compression suffix of a list file name (``".gz"``...), or None for plain text."""
    suffix = Path(path).suffix.lower()
    return suffix if suffix in COMPRESSED_SUFFIXES else None


def strip_compression(path: str | Path) -> Path:
    """``ut1/adult/domains.gz`` -> ``ut1/adult/domains``: the name the list is known by."""
    p = Path(path)
    return p.with_suffix("") if compression_of(p) else p


def decompress(path: str | Path, data: bytes) -> bytes:
    """The text bytes of a list file; raises ValueError with a short reason for a damaged file."""
    codec = compression_of(path)
    if codec is None:
        return data
    try:
        if codec == ".gz":
            return gzip.decompress(data)
        if codec == ".bz2":
            return bz2.decompress(data)
        if codec == ".xz":
            return lzma.decompress(data)
        with pa.input_stream(pa.py_buffer(data), compression="zstd") as stream:
            return stream.read()
    except (OSError, EOFError, zlib.error, lzma.LZMAError, pa.ArrowException) as exc:
        raise ValueError(f"not a valid {codec[1:]} file ({exc})") from exc
