"""Image digests and perceptual hashes, the one module that imports PIL and imagehash.

Why it is built this way:

* **Compatibility.** A perceptual hash is only useful if it equals the one on the list. The list
  makers (COYO's ``image_phash`` column, most hash lists) ran ``str(imagehash.phash(Image.open(f)))``,
  so the identity hash here *is* imagehash's function applied to the same grey pixels. With
  ``draft=False`` (the default) it is bit-identical; with ``draft=True`` (``--fast-decode``) JPEGs are
  decoded at reduced size (DCT scaling, 4-5x faster), which moves a hash by at most a bit or two
  (see ``DRAFT_PX``): partner lists are computed with full decodes, and at a tight threshold two
  bits are a miss, so the fast decode is never the default (issue 23).
* **Row problems never raise.** Corrupt, truncated, lying-extension, SVG, bomb: a status on the
  result. Exact digests are taken from the raw bytes before any decode, so even an undecodable
  file still matches an MD5/SHA list (child-protection lists hash the file, not the picture).
* **EXIF orientation.** A phone photo stored sideways with Orientation=6 is *shown* upright, and a
  re-encoded copy of it (screenshots, img2dataset, any pipeline that bakes the rotation) is stored
  upright; hashing the displayed picture makes those copies match. But plain imagehash users hashed
  the stored pixels, so when Orientation != 1 the stored-orientation hash is emitted too: lists
  computed either way match.
* **Dihedral.** A pHash does not survive a mirror or a 90-degree turn. ``dihedral=True`` adds the
  hashes of the 8 rotations/flips (PDQ-style). Each is taken from the small resized image, not
  the full one, so it costs little more than one hash.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, UnidentifiedImageError

from provscan.errors import ConfigError
from provscan.images.local import is_tar, walk_files
from provscan.kinds import EXACT_IMAGE_KINDS, PERCEPTUAL_KINDS

STATUSES = ("ok", "not_image", "corrupt", "truncated", "too_large", "unreadable")
"""``ok``: every asked hash computed. ``not_image``: no decoder recognises the bytes (SVG, HTML,
empty). ``corrupt``: recognised but undecodable. ``truncated``: the data ends early.
``too_large``: the header declares more than ``max_pixels`` (decompression bomb), refused before
decoding. ``unreadable``: the file could not be read (``hash_files`` only). Exact digests are
present whatever the status (except ``unreadable``)."""

DEFAULT_MAX_PIXELS = 89_478_485
"""PIL's own bomb threshold (~0.25 GiB of RGB); PIL refuses anything over twice that at open."""

DEFAULT_MAX_DISTANCE = {"phash": 10, "dhash": 10, "ahash": 6, "whash": 6, "pdq": 31}
"""Hamming radius per perceptual kind, from benchmarks/eval_images.py (table in docs/lists.md): where recall
on the upstream edits/re-encodes levels off, >= 6 bits below the closest pair of distinct photos
for phash (16) and dhash (17; 14 with dihedral), none of those pairs for ahash/whash (whose
closest distinct pairs are 12 and 8, and 4 with dihedral); pdq: ThreatExchange's 31."""

DRAFT_PX = {"phash": 256, "dhash": 256, "ahash": 64, "whash": 128, "pdq": 256}
"""Smallest JPEG draft (px per side) per kind that moves its hash by <= 2 bits on every eval JPEG.
Smaller drafts are faster but move phash up to 8 bits (64 px) on textured 256 px photos. pdq:
mean 1.2, max 10 of 256 bits (the spread ThreatExchange accepts between its own ports), 3x
faster than 512 px (max 6). Several kinds in one call share the largest draft."""

# PIL warns between MAX_IMAGE_PIXELS and twice that; we enforce max_pixels ourselves. A process-wide
# filter for this one category, because catch_warnings() is not thread-safe (fetch threads hash).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_HASH_FUNCS = {"phash": imagehash.phash, "dhash": imagehash.dhash, "ahash": imagehash.average_hash}
_SMALL = {"phash": (32, 32), "dhash": (9, 8), "ahash": (8, 8)}  # what imagehash resizes to
_T = Image.Transpose
_SWAPS_AXES = {_T.ROTATE_90, _T.ROTATE_270, _T.TRANSPOSE, _T.TRANSVERSE}
_DIHEDRAL = (
    None,
    _T.FLIP_LEFT_RIGHT,
    _T.FLIP_TOP_BOTTOM,
    _T.ROTATE_90,
    _T.ROTATE_180,
    _T.ROTATE_270,
    _T.TRANSPOSE,
    _T.TRANSVERSE,
)
_EXIF_OPS = {
    2: _T.FLIP_LEFT_RIGHT,
    3: _T.ROTATE_180,
    4: _T.FLIP_TOP_BOTTOM,
    5: _T.TRANSPOSE,
    6: _T.ROTATE_270,
    7: _T.TRANSVERSE,
    8: _T.ROTATE_90,
}  # as ImageOps.exif_transpose
_NP_OPS: dict[Any, Callable[[Any], Any]] = {
    None: lambda a: a,
    _T.FLIP_LEFT_RIGHT: np.fliplr,
    _T.FLIP_TOP_BOTTOM: np.flipud,
    _T.ROTATE_90: np.rot90,
    _T.ROTATE_180: lambda a: np.rot90(a, 2),
    _T.ROTATE_270: lambda a: np.rot90(a, 3),
    _T.TRANSPOSE: np.transpose,
    _T.TRANSVERSE: lambda a: np.rot90(a, 2).T,
}  # the PIL transposes on [row, col] arrays
_DIGESTS = {"image-md5": hashlib.md5, "image-sha1": hashlib.sha1, "image-sha256": hashlib.sha256}


@dataclass(slots=True)
class ImageResult:
    """Outcome for one image: ``hashes`` maps kind -> hex strings, the displayed-orientation hash
    first, then the stored-orientation one (EXIF), then the other dihedral variants."""

    status: str
    hashes: dict[str, list[str]] = field(default_factory=dict)
    size: tuple[int, int] | None = None  # stored width, height from the header
    pdq_quality: int | None = None  # PDQ's 0-100 quality; upstream distrusts < 50
    error: str = ""


def check_kinds(kinds: Collection[str]) -> None:
    """Raise ConfigError for an unknown kind, MissingDependency if pdq is asked without pdqhash."""
    for kind in kinds:
        if kind not in EXACT_IMAGE_KINDS and kind not in PERCEPTUAL_KINDS:
            raise ConfigError(f"unknown image hash kind {kind!r}")
    if "pdq" in kinds:
        from . import pdq

        pdq.require()


def hash_image(
    data: bytes,
    kinds: Collection[str],
    *,
    dihedral: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft: bool = False,
) -> ImageResult:
    """Hash one image's bytes with every kind asked; never raises for bad image data (only
    ConfigError / MissingDependency for the kinds). ``draft=False`` decodes JPEGs at full size:
    bit-identical to plain imagehash, up to ~3x slower on large photos."""
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    check_kinds(kinds)
    hashes = {k: [_DIGESTS[k](data).hexdigest()] for k in kinds if k in _DIGESTS}
    perceptual = [k for k in kinds if k in PERCEPTUAL_KINDS]
    if not perceptual:
        return ImageResult("ok", hashes)
    im, size, status, error = _decode(data, perceptual, max_pixels, draft)
    result = ImageResult(status, hashes, size, error=error)
    if im is None:
        return result
    orient_op = _EXIF_OPS.get(_orientation(im))
    ops = list(dict.fromkeys([orient_op, None] + (list(_DIHEDRAL) if dihedral else [])))
    try:
        if "pdq" in perceptual:
            from . import pdq

            rgb = im if im.mode == "RGB" else _to_gray(im).convert("RGB")  # PDQ uses luma only
            shown = rgb if orient_op is None else rgb.transpose(orient_op)
            stored = None if orient_op is None else np.asarray(rgb)
            hashes["pdq"], result.pdq_quality = pdq.hashes(np.asarray(shown), stored, dihedral)
        gray = _to_gray(im)
        for kind in perceptual:
            if kind != "pdq":
                hashes[kind] = _perceptual(gray, kind, ops)
    except Exception as exc:  # decoded but unusable (odd mode, degenerate size): a row problem
        for kind in perceptual:
            hashes.pop(kind, None)
        result.status, result.error = "corrupt", f"{type(exc).__name__}: {exc}"
    return result


def _decode(data: bytes, kinds: list[str], max_pixels: int, draft: bool):
    """(image, header size, status, reason); image is None unless status is ok."""
    size = None
    try:
        im = Image.open(io.BytesIO(data))
        size = im.size
        if size[0] * size[1] > max_pixels:
            return None, size, "too_large", f"{size[0]}x{size[1]} pixels > {max_pixels}"
        if draft and im.format == "JPEG":
            px = max(DRAFT_PX[k] for k in kinds)
            im.draft("RGB" if "pdq" in kinds else "L", (px, px))
        im.load()
        return im, size, "ok", ""
    except Image.DecompressionBombError as exc:
        return None, size, "too_large", str(exc)
    except UnidentifiedImageError:  # its message names PIL's BytesIO wrapper, not the data
        return None, size, "not_image", _not_image_reason(data)
    except EOFError as exc:
        return None, size, "truncated", str(exc) or "unexpected end of data"
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, struct.error... on bad data
        status = "truncated" if "truncated" in str(exc) else "corrupt"
        return None, size, status, f"{type(exc).__name__}: {exc}"


def _not_image_reason(data: bytes) -> str:
    if not data:
        return "empty file"
    head = data[:64].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")):
        return "SVG/XML, not a raster image"
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page, not an image"
    return "no image decoder recognises the data"


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # malformed EXIF is common; it must not lose the image
        return 1
    return value if value in _EXIF_OPS else 1


def _to_gray(im: Image.Image) -> Image.Image:
    """Stored pixels as 8-bit grey. 16-bit and float modes are scaled (PIL's convert clips them
    to white, which makes imagehash's value meaningless), everything else is PIL's own L."""
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        return Image.fromarray(np.clip(a * (255.0 / top), 0, 255).astype(np.uint8), "L")
    try:
        return im.convert("L")
    except ValueError:  # LAB, HSV and other modes without a direct path
        return im.convert("RGB").convert("L")


def _perceptual(gray: Image.Image, kind: str, ops: list) -> list[str]:
    """imagehash's ``kind`` of ``gray`` seen through each transpose in ``ops``: resize first, then
    transpose the tiny image (at most 2 resizes; identical to imagehash when the op is None)."""
    if kind == "whash":  # imagehash picks the largest power of two <= the short side
        side = max(2 ** int(np.log2(max(min(gray.size), 1))), 8)
        small = gray.resize((side, side), Image.Resampling.LANCZOS)
        # Haar LL coefficients are block means over a power-of-two grid, so a flip or turn of
        # the image is the same flip or turn of the 8x8 bits (and the median is unchanged):
        # one wavelet transform serves all 8 variants
        bits = imagehash.whash(small, image_scale=side).hash
        return list(dict.fromkeys(str(imagehash.ImageHash(_NP_OPS[op](bits))) for op in ops))
    w, h = _SMALL[kind]
    smalls: dict[tuple[int, int], Image.Image] = {}
    out = []
    for op in ops:
        size = (h, w) if op in _SWAPS_AXES else (w, h)
        if size not in smalls:
            smalls[size] = gray.resize(size, Image.Resampling.LANCZOS)
        small = smalls[size] if op is None else smalls[size].transpose(op)
        out.append(str(_HASH_FUNCS[kind](small)))
    return list(dict.fromkeys(out))


def hash_files(paths: Iterable[Path | str], kind: str, *, dihedral: bool = False) -> Iterator[tuple[Path, ImageResult]]:
    """Hash files and directory trees (walked in sorted order). Named files are always hashed;
    in directories, hidden files and img2dataset sidecars (.json/.txt/.parquet...) are skipped."""
    check_kinds([kind])
    for path in map(Path, paths):
        for file in (f for f in walk_files(path) if not _archive(f.name)) if path.is_dir() else [path]:
            try:
                data = file.read_bytes()
            except OSError as exc:
                yield file, ImageResult("unreadable", error=str(exc))
                continue
            yield file, hash_image(data, [kind], dihedral=dihedral)


def _archive(name: str) -> bool:
    """Tars and other compressed files in a folder are not images to hash (``--images`` opens tars)."""
    return is_tar(name) or name.lower().endswith(".gz")
