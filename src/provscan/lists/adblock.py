"""Adblock network rules reduced to what a host or Safe Browsing expression can say.

Adblock lists (URLhaus, uBlock, AdGuard) mix host rules (``||host^``), path rules (``||host/path^``) and
things no host or URL expression can express: cosmetic filters, exceptions, regexes, wildcards and
context-restricted options. Those are not errors (the list is valid), they are counted by reason so the
manifest shows what a list lost; a rule is never widened (``||ads.`` does not become ``ads``).
"""

from __future__ import annotations

import re

HOST, PATH = "host", "path"

_COSMETIC = re.compile(r"#@?[?$%]?#|\$@?\$")  # ## #@# #?# #$# #%# #@?# (AdGuard $$ html filters)
_HEADER = re.compile(r"^\[(?:adblock|ublock|adguard)", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)

SAFE_OPTIONS = frozenset(
    {
        "all",
        "doc",
        "document",
        "1p",
        "first-party",
        "3p",
        "third-party",
        "strict1p",
        "strict3p",
        "important",
        "popup",
        "script",
        "image",
        "media",
        "object",
        "subdocument",
        "frame",
        "xhr",
        "xmlhttprequest",
        "font",
        "stylesheet",
        "css",
        "other",
        "ping",
        "websocket",
        "match-case",
        "reason",
    }
)
"""Options that restrict a rule only by request type or party: the host/URL itself is still listed.
Any other option (``domain=``, ``to=``, ``from=``, ``redirect``, ``badfilter``, ``ipaddress=``...) ties
the rule to a context a dataset row does not have, so such rules are skipped as ``adblock-option``."""


def parse_adblock(line: str) -> tuple[str, str] | str | None:
    """Classify one stripped, non-comment line.

    Returns None when the line is not Adblock syntax (a plain host, hosts line or URL expression), a skip
    reason (str; "" for a header, i.e. a comment), or (HOST, host) / (PATH, "host/path?query") with
    anchors, ``^`` and options removed.
    """
    if _HEADER.match(line):
        return ""  # "[Adblock Plus 2.0]": a header, i.e. a comment
    if line.startswith("@@"):
        return "adblock-exception"
    marker = _COSMETIC.search(line)
    if marker and "/" not in line[: marker.start()]:  # "example.com,~x.org##.ad", not a URL fragment
        return "adblock-cosmetic"
    if line.startswith("||"):
        return _anchored(line[2:])
    if line.startswith("|"):
        body = _options(line[1:])
        if body is None or isinstance(body, tuple):
            return "adblock-option" if body is None else "adblock-wildcard"
        body = body.rstrip("|^")
        if not _SCHEME.match(body):
            return "adblock-unanchored"
        return _anchored(_SCHEME.sub("", body))
    if line.startswith("/"):
        return "adblock-regex" if line.split("$", 1)[0].endswith("/") and len(line) > 1 else "adblock-unanchored"
    return None


def _options(rule: str) -> str | tuple[()] | None:
    """Pattern of ``pattern$options``; None if an option restricts context, () if the pattern has ``*``."""
    pattern, _, options = rule.rpartition("$") if "$" in rule else (rule, "", "")
    if options:
        for opt in options.split(","):
            name = opt.strip().lstrip("~").split("=", 1)[0].lower()
            if name not in SAFE_OPTIONS:
                return None
    if "*" in pattern:
        return ()
    return pattern


def _anchored(rule: str) -> tuple[str, str] | str:
    """``host[:port][/path][^|]`` after ``||``: a host rule or a host+path rule."""
    pattern = _options(rule)
    if pattern is None:
        return "adblock-option"
    if isinstance(pattern, tuple):
        return "adblock-wildcard"
    if pattern.endswith(("^", "|")):
        pattern = pattern[:-1]
    if "^" in pattern or "|" in pattern:
        return "adblock-wildcard"  # a separator inside the pattern matches several URLs
    host = re.split(r"[/?:]", pattern, maxsplit=1)[0]
    if not host or host.endswith((".", "-")):
        return "adblock-wildcard"  # a partial host (``||ads.``) would match any suffix
    if "." not in host and not host.startswith("["):
        return "adblock-tld"  # "||cfd/x": every host of a top-level domain; no expression says that
    if host == pattern:
        return HOST, host
    return PATH, pattern
