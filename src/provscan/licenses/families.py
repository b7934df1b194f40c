"""Creative Commons licence families: what a policy pattern sees of a resolved licence id.

Most CC licences in scraped metadata are jurisdiction ports (``by-nc-nd/2.0/jp``) that SPDX has no
id for; provscan resolves them to ``LicenseRef-CC-BY-NC-ND-2.0-JP``. A policy written as
``drop = ["CC-BY-NC-*"]`` means "every NonCommercial CC licence", so a pattern is matched against
the id *and* its family names:

* ``LicenseRef-CC-BY-NC-ND-2.0-JP`` -> ``CC-BY-NC-ND-2.0-JP`` (the port, without ``LicenseRef-``)
  and ``CC-BY-NC-ND-2.0`` (the licence it ports);
* ``CC-BY-NC-SA-2.0-FR`` (an SPDX id) -> ``CC-BY-NC-SA-2.0``.

Selectors name the licence elements directly, whatever the spelling, version or port:
``cc:by``, ``cc:nc``, ``cc:nd``, ``cc:sa``. ``cc:nc`` also covers the 1.0 licences without
attribution (``LicenseRef-CC-NC-1.0``, ``LicenseRef-CC-NC-SAMPLING-PLUS-1.0``) that ``CC-BY-NC-*``
by its letters does not.
"""

from __future__ import annotations

import re
from functools import lru_cache

CC_ELEMENTS = ("BY", "NC", "ND", "SA")
SELECTORS = tuple(f"cc:{e.lower()}" for e in CC_ELEMENTS)
_CC_ID = re.compile(r"(?P<ref>LicenseRef-)?CC-(?P<el>[A-Z+]+(?:-[A-Z+]+)*)-(?P<ver>\d+(?:\.\d+)*)(?:-(?P<jur>[A-Z]+))?")


@lru_cache(maxsize=4096)
def family_names(license_id: str) -> tuple[str, ...]:
    """The id followed by the names a pattern may also match (empty tail for non-CC ids)."""
    m = _CC_ID.fullmatch(license_id)
    if m is None:
        return (license_id,)
    base = f"CC-{m['el']}-{m['ver']}"
    names = [license_id]
    if m["ref"] and m["jur"]:
        names.append(f"{base}-{m['jur']}")
    if m["jur"] or m["ref"]:
        names.append(base)
    return tuple(dict.fromkeys(names))


@lru_cache(maxsize=4096)
def cc_elements(license_id: str) -> frozenset[str]:
    """``{"BY", "NC", "ND"}`` for ``LicenseRef-CC-BY-NC-ND-2.0-JP``; empty for non-CC ids."""
    m = _CC_ID.fullmatch(license_id)
    if m is None:
        return frozenset()
    return frozenset(set(m["el"].split("-")) & set(CC_ELEMENTS))


def is_selector(pattern: str) -> bool:
    return pattern.lower().startswith("cc:")


def selector_matches(selector: str, license_id: str) -> bool:
    """``cc:nc`` matches every CC licence with the NonCommercial element (any version or port)."""
    return selector[3:].upper() in cc_elements(license_id)
