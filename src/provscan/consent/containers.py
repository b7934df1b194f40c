"""Where an image file keeps its XMP packet and its C2PA manifest: JPEG, PNG, WebP and TIFF.

The bytes are the image provscan already downloaded (or read from ``--images``), and they are
attacker-controlled. So this walks the container's own structure (segment and chunk lengths), never
searches the whole file for a packet, and bounds everything it reads:

* at most :data:`MAX_SEGMENTS` segments / chunks / IFD entries are looked at;
* an XMP packet over :data:`MAX_XMP_BYTES` is refused (``too large``), before any XML parsing;
* a compressed PNG ``iTXt`` is inflated with the same cap (a zlib bomb stops at the cap);
* a declared length past the end of the data is ``truncated``.

Only the standard XMP packet is read (JPEG ``APP1`` ``http://ns.adobe.com/xap/1.0/``, PNG ``iTXt``
``XML:com.adobe.xmp``, WebP ``XMP `` chunk, TIFF tag 700). JPEG *Extended* XMP (the packet continued
over several ``APP1`` segments, used for large depth maps) is not: the rights properties live in the
standard packet. A C2PA manifest (JUMBF in JPEG ``APP11``, PNG ``caBX``, WebP ``C2PA``) is only
*detected* here; reading it is :mod:`provscan.consent.c2pa`'s job.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAX_XMP_BYTES = 2 * 1024 * 1024
"""Largest XMP packet read; real packets are a few kB (a few hundred with embedded thumbnails)."""
MAX_SEGMENTS = 4096
"""Segments, chunks or IFD entries examined per file before giving up (a hostile file can hold millions)."""

_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_PNG_XMP = b"XML:com.adobe.xmp"
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers without a length field


@dataclass(frozen=True, slots=True)
class Found:
    """What the container holds: the XMP packet (or why it could not be read), and whether a C2PA box is there."""

    xmp: bytes | None = None
    xmp_error: str = ""
    c2pa: bool = False
    format: str = ""


def find_embedded(data: bytes) -> Found:
    """The XMP packet and C2PA presence of an image's bytes; never raises on bad data."""
    try:
        if data[:3] == b"\xff\xd8\xff":
            return _jpeg(data)
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _png(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff(data)
    except (struct.error, IndexError, ValueError) as exc:  # a length field that lies: the packet is unreadable
        return Found(xmp_error=f"malformed container: {type(exc).__name__}: {exc}")
    return Found()


def _capped(packet: bytes, fmt: str, c2pa: bool = False) -> Found:
    if len(packet) > MAX_XMP_BYTES:
        return Found(xmp_error=f"XMP packet of {len(packet)} bytes > {MAX_XMP_BYTES}", c2pa=c2pa, format=fmt)
    return Found(xmp=packet, c2pa=c2pa, format=fmt)


def _jpeg(data: bytes) -> Found:
    pos, n = 2, len(data)
    packet: bytes | None = None
    error, c2pa = "", False
    for _ in range(MAX_SEGMENTS):
        while pos < n and data[pos] == 0xFF and pos + 1 < n and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > n or data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no metadata segments after
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > n:
            head = data[pos + 4 : pos + 4 + len(_JPEG_XMP)]
            if marker == 0xE1 and len(head) >= 8 and _JPEG_XMP.startswith(head):
                error = f"XMP segment truncated: declares {length} bytes, {n - pos - 2} present"
            elif marker == 0xEB and data[pos + 4 : pos + 6] == b"JP":  # a cut C2PA box: the library says c2pa:invalid
                c2pa = c2pa or b"c2pa" in data[pos + 4 : pos + 68]
            break
        body = data[pos + 4 : end]
        if marker == 0xE1 and packet is None and body.startswith(_JPEG_XMP):
            packet = body[len(_JPEG_XMP) :]
        elif marker == 0xEB and body[:2] == b"JP":  # JUMBF (ISO 19566-5), where C2PA lives
            c2pa = c2pa or b"c2pa" in body[:64]
        pos = end
    if packet is None:
        return Found(xmp_error=error, c2pa=c2pa, format="jpeg")
    return _capped(packet, "jpeg", c2pa)


def _png(data: bytes) -> Found:
    pos, n = 8, len(data)
    packet: bytes | None = None
    error, c2pa = "", False
    for _ in range(MAX_SEGMENTS):
        if pos + 8 > n:
            break
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        start, end = pos + 8, pos + 8 + length
        if kind == b"IEND":
            break
        if kind == b"iTXt" and packet is None and data[start : start + len(_PNG_XMP) + 1] == _PNG_XMP + b"\x00":
            if end > n:
                error = f"iTXt XMP chunk truncated: declares {length} bytes, {n - start} present"
                break
            if length > MAX_XMP_BYTES + 64:
                return Found(xmp_error=f"XMP chunk of {length} bytes > {MAX_XMP_BYTES}", c2pa=c2pa, format="png")
            packet, error = _itxt(data[start + len(_PNG_XMP) + 1 : end])
        elif kind == b"caBX":
            c2pa = True
        pos = end + 4  # CRC
    if packet is None:
        return Found(xmp_error=error, c2pa=c2pa, format="png")
    return _capped(packet, "png", c2pa)


def _itxt(rest: bytes) -> tuple[bytes | None, str]:
    """The text of an iTXt chunk after its keyword: flag, method, language\\0, translated keyword\\0, text."""
    if len(rest) < 2:
        return None, "iTXt chunk too short"
    compressed, method = rest[0], rest[1]
    lang_end = rest.find(b"\x00", 2)
    kw_end = rest.find(b"\x00", lang_end + 1) if lang_end >= 0 else -1
    if kw_end < 0:
        return None, "iTXt chunk without its language and keyword fields"
    text = rest[kw_end + 1 :]
    if not compressed:
        return text, ""
    if method != 0:
        return None, f"iTXt compression method {method} unknown"
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(text, MAX_XMP_BYTES + 1)
    except zlib.error as exc:
        return None, f"iTXt XMP does not inflate: {exc}"
    if len(out) > MAX_XMP_BYTES:
        return None, f"iTXt XMP inflates past {MAX_XMP_BYTES} bytes"
    return out, ""


def _webp(data: bytes) -> Found:
    pos, n = 12, len(data)
    packet: bytes | None = None
    error, c2pa = "", False
    for _ in range(MAX_SEGMENTS):
        if pos + 8 > n:
            break
        kind = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        start, end = pos + 8, pos + 8 + length
        if kind == b"XMP " and packet is None:
            if length > MAX_XMP_BYTES:
                return Found(xmp_error=f"XMP chunk of {length} bytes > {MAX_XMP_BYTES}", c2pa=c2pa, format="webp")
            if end > n:
                error = f"XMP chunk truncated: declares {length} bytes, {n - start} present"
                break
            packet = data[start:end]
        elif kind == b"C2PA":
            c2pa = True
        pos = end + (length & 1)  # chunks are padded to an even size
    if packet is None:
        return Found(xmp_error=error, c2pa=c2pa, format="webp")
    return _capped(packet, "webp", c2pa)


def _tiff(data: bytes) -> Found:
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    for i in range(min(count, MAX_SEGMENTS)):
        tag, typ, num, value = struct.unpack(order + "HHII", data[ifd + 2 + 12 * i : ifd + 14 + 12 * i])
        if tag != 700 or typ not in (1, 7):  # XMLPacket, BYTE or UNDEFINED
            continue
        if num > MAX_XMP_BYTES:
            return Found(xmp_error=f"XMP tag of {num} bytes > {MAX_XMP_BYTES}", format="tiff")
        packet = data[ifd + 10 + 12 * i : ifd + 10 + 12 * i + num] if num <= 4 else data[value : value + num]
        if len(packet) < num:
            return Found(xmp_error=f"XMP tag truncated: declares {num} bytes, {len(packet)} present", format="tiff")
        return Found(xmp=packet, format="tiff")
    return Found(format="tiff")
