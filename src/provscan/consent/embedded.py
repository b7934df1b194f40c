"""The signals an image carries inside its own bytes: XMP rights and source type, C2PA credentials.

One call per image, on the bytes provscan already holds (a fetched body, a ``--images`` file): no
extra request. Cheap when there is nothing to read: the container walk stops at the first scan
segment (JPEG) or skips chunks by their lengths, and no XML is parsed unless a packet is there.
Never raises on image data; a problem is an ``xmp:invalid`` / ``c2pa:invalid`` signal with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from provscan.consent import credentials as c2pa
from provscan.consent.containers import find_embedded
from provscan.consent.xmp import INVALID as XMP_INVALID
from provscan.consent.xmp import read_xmp


@dataclass(frozen=True, slots=True)
class Embedded:
    """``signals`` in reading order, the embedded licence as written (or None), problems as text."""

    signals: tuple[str, ...] = ()
    license: str | None = None
    error: str = ""


NOTHING = Embedded()


def read_embedded(data: bytes) -> Embedded:
    """Every embedded signal of one image's bytes."""
    found = find_embedded(data)
    signals: list[str] = []
    errors: list[str] = []
    license = None
    if found.xmp is not None:
        reading = read_xmp(found.xmp)
        signals += reading.signals
        license = reading.license
        if reading.error:
            errors.append(f"xmp: {reading.error}")
    elif found.xmp_error:
        signals.append(XMP_INVALID)
        errors.append(f"xmp: {found.xmp_error}")
    if found.c2pa:
        credentials = c2pa.read_credentials(data, found.format)
        signals += credentials.signals
        if credentials.error:
            errors.append(f"c2pa: {credentials.error}")
    if not signals:
        return NOTHING
    return Embedded(tuple(dict.fromkeys(signals)), license, "; ".join(errors)[:500])
