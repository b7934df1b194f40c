"""IETF AI Preferences (AIPREF) and Cloudflare's Content-Signal: usage preferences as signals. Pure.

Readings of draft-ietf-aipref-vocab-05 and draft-ietf-aipref-attach-04 used here:

* A preference is an RFC 9651 structured-field *dictionary* whose keys are vocabulary categories
  and whose values are the tokens ``y`` (allowed) or ``n`` (not allowed). Unknown keys, values other
  than ``y``/``n``, and parameters are ignored; a duplicate key keeps its last value. A field that
  does not parse at all is ``aipref:invalid`` (a signal of its own, never a crash).
* Categories nest: ``train-genai`` within ``train-ai`` within ``bots`` (automated processing), and
  ``search`` within ``bots``. A category without a stated value takes its parent's: the more
  specific statement wins.
* Sources: the ``Content-Usage`` response header (every field line, combined as RFC 9651 says) and
  ``Content-Usage:`` rules in robots.txt (an optional path pattern, then the dictionary; the rule
  with the longest matching path applies, one without a path applies to every path). Where several
  preferences apply at once, ``n`` beats ``y``. The header describes the resource itself, so for
  each category a header value beats robots.txt's.

Signals: ``aipref:<category>=y|n`` for each category with an effective value, ``aipref:invalid``.

Content-Signal (``Content-Signal: search=yes, ai-train=no, ai-input=no``, a robots.txt line that a
large CDN writes into managed robots.txt files; draft-romm-aipref-contentsignals): comma-separated
``key=yes|no``, read from the same robots.txt groups; ``no`` beats ``yes``. Signals
``content-signal:<key>=yes|no`` and ``content-signal:invalid``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

PARENTS: dict[str, str | None] = {"bots": None, "train-ai": "bots", "train-genai": "train-ai", "search": "bots"}
"""The vocabulary's categories and the category each one refines."""
INVALID = "aipref:invalid"
SIGNAL_INVALID = "content-signal:invalid"

_OWS = r"[ \t]*"
_KEY = r"[a-z*][a-z0-9_\-.*]*"
_BARE = (
    r'(?:-?\d{1,15}(?:\.\d{1,3})?|"(?:[^"\\\x00-\x1f\x7f]|\\["\\])*"|[A-Za-z*][!#$%&\'*+\-.^_`|~0-9A-Za-z:/]*'
    r'|:[A-Za-z0-9+/=]*:|\?[01]|@-?\d{1,15}|%"(?:[^"\\%\x00-\x1f\x7f]|%[0-9a-f]{2}|\\["\\])*")'
)
_PARAMS = rf"(?:;[ ]*{_KEY}(?:={_BARE})?)*"
_INNER = rf"\([ ]*(?:{_BARE}{_PARAMS}(?:[ ]+{_BARE}{_PARAMS})*[ ]*)?\)"
_MEMBER = re.compile(rf"({_KEY})(?:=({_INNER}|{_BARE}))?({_PARAMS})")
_SEP = re.compile(rf"{_OWS},{_OWS}")
_SIGNAL = re.compile(r"^\s*([a-z][a-z0-9_-]*)\s*=\s*([a-z]+)\s*$")


def parse_usage(text: str) -> dict[str, str] | None:
    """An RFC 9651 dictionary as ``{key: token}`` (non-token values as ``""``); None if it does not parse."""
    text = text.strip(" ")
    out: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        member = _MEMBER.match(text, pos)
        if member is None:
            return None
        key, value = member.group(1), member.group(2)
        out.pop(key, None)  # a duplicate key keeps its last value, in its last position
        out[key] = "y" if value is None else value if value in ("y", "n") else ""  # bare key = ?1: not y/n
        pos = member.end()
        if pos == len(text):
            break
        sep = _SEP.match(text, pos)
        if sep is None or sep.end() == len(text):  # junk after a member, or a trailing comma
            return None
        pos = sep.end()
    return out


def effective(stated: dict[str, str], category: str) -> str | None:
    """``y``/``n`` for ``category``, taking the nearest enclosing category's value when it has none."""
    current: str | None = category
    while current is not None:
        value = stated.get(current)
        if value in ("y", "n"):
            return value
        current = PARENTS.get(current)
    return None


def _combine(values: Iterable[str | None]) -> str | None:
    """Several applicable preferences: ``n`` beats ``y`` beats unstated."""
    seen = set(values)
    return "n" if "n" in seen else "y" if "y" in seen else None


def aipref_signals(header_lines: Sequence[str], robots_rules: Sequence[str]) -> list[str]:
    """AIPREF signals of one resource: its ``Content-Usage`` header lines, and the robots.txt
    ``Content-Usage`` rule values that apply to its path (already chosen by longest match)."""
    out: list[str] = []
    header: dict[str, str] = {}
    if header_lines:
        parsed = parse_usage(", ".join(header_lines))  # RFC 9651: field lines are combined, then parsed
        if parsed is None:
            out.append(INVALID)
        else:
            header = parsed
    rules: list[dict[str, str]] = []
    for rule in robots_rules:
        parsed = parse_usage(rule)
        if parsed is None:
            out.append(INVALID)
        else:
            rules.append(parsed)
    for category in PARENTS:
        value = effective(header, category) or _combine(effective(r, category) for r in rules)
        if value is not None:
            out.append(f"aipref:{category}={value}")
    return list(dict.fromkeys(out))


def content_signal_signals(lines: Sequence[str]) -> list[str]:
    """``content-signal:<key>=yes|no`` from the Content-Signal lines that apply; ``no`` beats ``yes``."""
    values: dict[str, set[str]] = {}
    out: list[str] = []
    for line in lines:
        for item in line.split(","):
            if not item.strip():
                continue
            match = _SIGNAL.match(item.lower())
            if match is None or match.group(2) not in ("yes", "no"):
                out.append(SIGNAL_INVALID)
                continue
            values.setdefault(match.group(1), set()).add(match.group(2))
    out += [f"content-signal:{key}={'no' if 'no' in seen else 'yes'}" for key, seen in values.items()]
    return list(dict.fromkeys(out))
