"""TDM Reservation Protocol (W3C TDMRep Community Group final report, 2024), pure parsing.

A site reserves text-and-data-mining rights (the EU DSM Directive art. 4 opt-out) with the
``tdm-reservation: 1`` response header, or site-wide with ``/.well-known/tdmrep.json``.

Reading of the report used here:

* ``tdm-reservation`` is the integer 0 or 1; any other value is a protocol error and the agent
  "MUST consider that tdm-reservation is unset". We follow that, and also surface the error
  (``tdmrep:protocol-error``, ``TdmRep.errors``) so a sloppy opt-out (``"1"`` as a string,
  ``true``) is visible to the policy instead of silently vanishing. JSON ``true``/``1.0`` are
  errors, not 1: the report says integer.
* ``tdm-policy`` is a URL, only meaningful when reserved ("SHOULD NOT process" it when 0).
* tdmrep.json is an array of rules ``{"location", "tdm-reservation", "tdm-policy"?}``. ``location``
  is a robots.txt-style path pattern (prefix match, ``*``, final ``$``, percent-normalised,
  case-sensitive; same matcher as ``provscan.consent.robots``). "The most specific match is the first in
  sequence": the **first** rule whose location matches decides, even if that rule is erroneous
  (then the result is unset). No match -> unset.
* A rule that cannot be matched at all (not an object, ``location`` missing, not text, empty or
  not starting with ``/`` or ``*``) is skipped and reported in ``errors``. A body that is JSON but
  not an array of such objects is ``tdmrep:invalid``. A body that is not JSON at all (the HTML
  "soft 404" many sites return for any path) is ``tdmrep:not-json``: the report says failure to
  provide the file "implies that the origin server does not implement this protocol".
* Priority: header values "supersede any value inferred from a TDM file" (``resolve_tdm``). The
  HTML ``<meta name="tdm-reservation">`` technique is not read (provscan fetches images).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from provscan.consent.robots import PathPattern, normalize_path
from provscan.net.headers import header_pairs

RESERVED = "tdmrep:reserved"
PROTOCOL_ERROR = "tdmrep:protocol-error"
INVALID = "tdmrep:invalid"
NOT_JSON = "tdmrep:not-json"
POLICY_PREFIX = "tdmrep:policy="


class TdmDecl(NamedTuple):
    """A resolved declaration: reserved or not, and the policy URL (only kept when reserved)."""

    reserved: bool
    policy: str | None


@dataclass(frozen=True)
class TdmRule:
    """One tdmrep.json rule; ``reservation`` None means a protocol error (treated as unset)."""

    index: int
    location: str
    reservation: int | None
    policy: str | None
    pattern: PathPattern


@dataclass(frozen=True)
class TdmRep:
    """A parsed tdmrep.json: rules in file order, plus the problems found while reading it."""

    rules: tuple[TdmRule, ...]
    errors: tuple[str, ...] = ()

    def match(self, path: str) -> TdmRule | None:
        """The first rule whose location matches ``path`` (``/p?q``), or None."""
        normalized = normalize_path(path or "/")
        return next((rule for rule in self.rules if rule.pattern.matches(normalized)), None)

    def lookup(self, path: str) -> TdmDecl | None:
        """``(reserved, policy)`` for ``path``, or None when unset (no rule, or an erroneous one)."""
        rule = self.match(path)
        if rule is None or rule.reservation is None:
            return None
        return TdmDecl(True, rule.policy) if rule.reservation == 1 else TdmDecl(False, None)


@dataclass(frozen=True)
class TdmRepInvalid:
    """tdmrep.json could not be used: ``status`` is ``tdmrep:invalid`` or ``tdmrep:not-json``."""

    status: str
    reason: str


def _reservation(value: object) -> int | None:
    return value if type(value) is int and value in (0, 1) else None


def parse_tdmrep_json(data: bytes) -> TdmRep | TdmRepInvalid:
    """Parse the body of ``/.well-known/tdmrep.json``; never raises on bad input."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return TdmRepInvalid(NOT_JSON, "body is not UTF-8")
    if text.lstrip()[:1] not in ("[", "{"):
        return TdmRepInvalid(NOT_JSON, "body is not JSON")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return TdmRepInvalid(INVALID, f"malformed JSON: {exc}")
    if not isinstance(doc, list):
        return TdmRepInvalid(INVALID, f"top level must be an array of rules, not {type(doc).__name__}")
    rules: list[TdmRule] = []
    errors: list[str] = []
    for i, item in enumerate(doc):
        if not isinstance(item, dict):
            errors.append(f"rule {i}: not an object, skipped")
            continue
        location = item.get("location")
        if not isinstance(location, str) or not location.startswith(("/", "*")):
            errors.append(f"rule {i}: location must be a path pattern starting with / or *, got {location!r}; skipped")
            continue
        reservation = _reservation(item.get("tdm-reservation"))
        if reservation is None:
            errors.append(f"rule {i}: tdm-reservation must be 0 or 1, got {item.get('tdm-reservation')!r}; unset")
        policy = item.get("tdm-policy")
        if policy is not None and not isinstance(policy, str):
            errors.append(f"rule {i}: tdm-policy must be a URL string, got {policy!r}; ignored")
            policy = None
        kept_policy = (policy.strip() or None) if (policy and reservation == 1) else None
        rules.append(TdmRule(i, location, reservation, kept_policy, PathPattern(location)))
    return TdmRep(tuple(rules), tuple(errors))


def read_tdm_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[TdmDecl | None, bool]:
    """``(declaration or None if unset, protocol_error)`` from response headers.

    Every instance of ``tdm-reservation`` is read (and comma-joined ones split); they must all be
    ``0`` or ``1`` and agree, otherwise it is a protocol error and the value is unset.
    """
    values: list[str] = []
    policy: str | None = None
    for name, value in header_pairs(headers, ("tdm-reservation", "tdm-policy")):
        if name == "tdm-reservation":
            values.extend(part.strip() for part in value.split(","))
        elif policy is None and value.strip():
            policy = value.strip()
    if not values:
        return None, False
    if any(v not in ("0", "1") for v in values) or len(set(values)) > 1:
        return None, True
    return (TdmDecl(True, policy) if values[0] == "1" else TdmDecl(False, None)), False


def resolve_tdm(file_decl: TdmDecl | None, header_decl: TdmDecl | None) -> TdmDecl | None:
    """Header values supersede the site file's (report, "Processing priority")."""
    return header_decl if header_decl is not None else file_decl


def tdm_signals(decl: TdmDecl | None) -> list[str]:
    """``["tdmrep:reserved", "tdmrep:policy=<url>"]`` for a reserved declaration, else ``[]``."""
    if decl is None or not decl.reserved:
        return []
    return [RESERVED] + ([POLICY_PREFIX + decl.policy] if decl.policy else [])


def tdm_header_signals(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[str]:
    """Signals from one response's headers alone (``tdmrep:protocol-error`` when unreadable)."""
    decl, error = read_tdm_headers(headers)
    return [PROTOCOL_ERROR] if error else tdm_signals(decl)
