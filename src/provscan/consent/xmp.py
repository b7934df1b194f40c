"""IPTC Photo Metadata and licence properties of an XMP packet, read with a hardened XML parser.

The packet comes from an image file (:mod:`provscan.consent.containers`), so from anyone. It is
parsed by ``defusedxml`` with DTDs forbidden: no entity expansion (billion laughs), no external
entities, no network. Anything that does not parse is ``xmp:invalid``, never an exception.

Properties are matched by **namespace URI**, never by prefix: ``pl:DataMining`` with the PLUS URI
counts, a ``plus:`` prefix bound to another URI does not. Each property is read in every RDF form
XMP writers use: an attribute of ``rdf:Description``, an element with text, an element with
``rdf:resource``, and an ``rdf:Alt`` / ``rdf:Bag`` / ``rdf:Seq`` of ``rdf:li`` items (every item counts).

Signals (all lower case except IPTC terms, which keep their published spelling):

``xmp:dmi-<value>``          PLUS Data Mining (``plus:DataMining``), one per value, e.g.
                             ``xmp:dmi-prohibited-aimltraining``; ``xmp:dmi-other`` for a value
                             outside the PLUS ``DMI-`` vocabulary
``xmp:source-type=<term>``   IPTC digital source type (``Iptc4xmpExt:DigitalSourceType``)
``xmp:ai-generated``         that term is ``trainedAlgorithmicMedia`` or
                             ``compositeWithTrainedAlgorithmicMedia`` (``http`` or ``https`` vocabulary URI)
``xmp:license``              an embedded licence was found (``cc:license``, ``xmpRights:WebStatement``,
                             or a Creative Commons URL in ``xmpRights:UsageTerms``): a licence, not an opt-out
``xmp:invalid``              the packet does not parse (or was refused by a cap)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
XMP_RIGHTS = "http://ns.adobe.com/xap/1.0/rights/"
CC = "http://creativecommons.org/ns#"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"

DMI_VALUES = (
    "DMI-UNSPECIFIED",
    "DMI-ALLOWED",
    "DMI-PROHIBITED-AIMLTRAINING",
    "DMI-PROHIBITED-GENAIMLTRAINING",
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",
    "DMI-PROHIBITED",
    "DMI-PROHIBITED-SEECONSTRAINT",
)
"""The PLUS Data Mining vocabulary (``http://ns.useplus.org/ldf/vocab/DMI-...``)."""
AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")
"""IPTC digital source types that mean the image was made by a trained model."""
_SOURCE_TYPE_BASE = re.compile(r"^https?://cv\.iptc\.org/newscodes/digitalsourcetype/", re.IGNORECASE)
_KNOWN_TERMS = {
    t.lower(): t
    for t in (
        *AI_SOURCE_TYPES,
        "digitalCapture",
        "negativeFilm",
        "positiveFilm",
        "print",
        "minorHumanEdits",
        "compositeCapture",
        "algorithmicallyEnhanced",
        "dataDrivenMedia",
        "digitalArt",
        "virtualRecording",
        "compositeSynthetic",
        "algorithmicMedia",
        "screenCapture",
        "humanEdits",
        "composite",
    )
}
_CC_URL = re.compile(r"https?://(?:www\.)?creativecommons\.org/[^\s\"'<>]+", re.IGNORECASE)
_WANTED = {
    f"{{{PLUS}}}DataMining": "dmi",
    f"{{{IPTC_EXT}}}DigitalSourceType": "source",
    f"{{{CC}}}license": "cc",
    f"{{{XMP_RIGHTS}}}WebStatement": "web",
    f"{{{XMP_RIGHTS}}}UsageTerms": "terms",
}
_RESOURCE = f"{{{RDF}}}resource"
_LI = f"{{{RDF}}}li"
INVALID = "xmp:invalid"
AI_GENERATED = "xmp:ai-generated"


@dataclass(frozen=True, slots=True)
class XmpReading:
    """Signals of one packet, the embedded licence (as written, resolved later) and a parse error."""

    signals: tuple[str, ...] = ()
    license: str | None = None
    error: str = ""


def read_xmp(packet: bytes) -> XmpReading:
    """Signals and licence of an XMP packet; ``xmp:invalid`` (with the reason) when it cannot be read."""
    try:
        root = SafeET.fromstring(packet.rstrip(b"\x00 \t\r\n"), forbid_dtd=True)
    except (ParseError, defusedxml.DefusedXmlException, ValueError, UnicodeError, RecursionError) as exc:
        return XmpReading((INVALID,), error=f"{type(exc).__name__}: {exc}"[:300])
    found: dict[str, list[str]] = {}
    for element in root.iter():
        for name, value in element.attrib.items():
            if name in _WANTED:
                found.setdefault(_WANTED[name], []).append(value)
        if isinstance(element.tag, str) and element.tag in _WANTED:
            found.setdefault(_WANTED[element.tag], []).extend(_values(element))
    return _reading(found)


def _values(element: Element) -> list[str]:
    """An element property's values: its own text or ``rdf:resource``, else every ``rdf:li`` below it."""
    items = [li for li in element.iter(_LI)]
    nodes = items or [element]
    out = []
    for node in nodes:
        value = node.get(_RESOURCE) or (node.text or "").strip()
        if value:
            out.append(value)
    return out


def _reading(found: dict[str, list[str]]) -> XmpReading:
    signals: list[str] = []
    for value in found.get("dmi", []):
        code = value.strip().rstrip("/").rsplit("/", 1)[-1].upper()
        signals.append(f"xmp:{code.lower()}" if code in DMI_VALUES else "xmp:dmi-other")
    for value in found.get("source", []):
        value = value.strip()
        term = _SOURCE_TYPE_BASE.sub("", value) if _SOURCE_TYPE_BASE.match(value) else value if "/" not in value else ""
        if not term:
            continue
        term = _KNOWN_TERMS.get(term.lower(), term.lower())
        signals.append(f"xmp:source-type={term}")
        if term in AI_SOURCE_TYPES:
            signals.append(AI_GENERATED)
    license = _license(found)
    if license is not None:
        signals.append("xmp:license")
    return XmpReading(tuple(dict.fromkeys(signals)), license)


def _license(found: dict[str, list[str]]) -> str | None:
    """``cc:license`` first (it names a licence), then ``xmpRights:WebStatement`` (a URL about the rights,
    often the licence), then a Creative Commons URL written in the free-text ``UsageTerms``."""
    for key in ("cc", "web"):
        for value in found.get(key, []):
            if value.strip():
                return value.strip()[:2000]
    for value in found.get("terms", []):
        if match := _CC_URL.search(value):
            return match.group(0).rstrip(".,;)")
    return None
