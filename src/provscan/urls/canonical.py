"""Safe Browsing v4 URL canonicalization and lookup expressions: the pure-Python reference.

A row matches a ``url`` list entry iff the entry is in ``expressions(canonicalize(url))``;
``provscan.urls.sql`` reproduces this in DuckDB for simple URLs and leaves the rest to this module.
The rules are the v4 "URLs and Hashing" doc; where it is silent, Google's Go client decides. Hex
escapes are UPPERCASE (the doc), not the Go client's lowercase, because ``url-sha256`` lists hash the
expression text and only interoperate if everyone uses one case.

Row problems never raise: anything that is not a URL with a usable host canonicalizes to ``None``.
Work is done on bytes, because unescaping can produce bytes that are not UTF-8 (``%80``).
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

import idna

__all__ = [
    "Canonical", "canonicalize", "entry_expression", "expression_sha256", "expressions", "host_suffixes",
    "normalize_host", "parse_ipv4", "path_prefixes",
]  # fmt: skip

_TRIM = bytes(range(0x21))  # C0 controls and space, as the WHATWG URL parser trims
_NEEDS_ESCAPE = re.compile(rb"[\x00-\x20\x7f-\xff#%]")
_ESCAPES = {b: f"%{b:02X}" for b in range(256) if b <= 0x20 or b >= 0x7F or b in b"#%"}
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_SCHEME = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*):")  # Go's getScheme
_PORT_THEN_PATH = re.compile(rb"[0-9]*(?:[/?]|\Z)")  # "host:8080/x" has no scheme
_PORT = re.compile(rb":[0-9]*")
_IPV6 = re.compile(rb"\[[0-9a-f.]*:[0-9a-f:.]*\]")
_DOTS = re.compile(rb"\.\.+")
_IPV4_SHAPE = re.compile(r"(?:0[xX][0-9a-fA-F]+|[0-9.])+")  # Go's possibleIPRegexp
_WINDOWS_IP = re.compile(r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}[ \t\n\f\r]")
_IP_LITERAL = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_NOT_HOST_ASCII = re.compile(r"[^a-z0-9._\-\x80-\U0010ffff]")
_VALID_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\]")


class Canonical(NamedTuple):
    """A canonical URL split in parts; ``query`` is None without '?', '' for a bare '?'."""

    scheme: str
    host: str
    path: str
    query: str | None

    @property
    def expression(self) -> str:
        """The full canonical expression (no scheme): its SHA-256 identifies the row."""
        return self.host + self.path if self.query is None else f"{self.host}{self.path}?{self.query}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.expression}"


def _to_bytes(text: str) -> bytes:
    try:  # surrogateescape gives back the raw bytes a str was decoded from
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # other lone surrogates: any deterministic bytes will do
        return text.encode("utf-8", "surrogatepass")


def _escape(raw: bytes) -> str:
    """Percent-escape bytes <= 0x20, >= 0x7f, '#' and '%' with uppercase hex; the result is ASCII."""
    if _NEEDS_ESCAPE.search(raw) is None:
        return raw.decode("ascii")
    return raw.decode("latin-1").translate(_ESCAPES)


def _unescape(raw: bytes) -> bytes:
    """Percent-unescape until nothing changes (each changing pass shortens the input).

    A few passes cover real URLs; deeper nesting (``%252525...``) switches to a linear scan with
    the same fixpoint, so a hostile row cannot cost quadratic time.
    """
    for _ in range(8):
        if b"%" not in raw:
            return raw
        new = unquote_to_bytes(raw)
        if new == raw:
            return raw
        raw = new
    return _unescape_linear(raw)


def _unescape_linear(raw: bytes) -> bytes:
    """Decode an escape as soon as its last digit is read, then re-check what precedes it."""
    out = bytearray()
    for byte in raw:
        out.append(byte)
        while len(out) >= 3 and out[-3] == 0x25 and out[-2] in _HEX_DIGITS and out[-1] in _HEX_DIGITS:
            value = int(out[-2:], 16)
            del out[-3:]
            out.append(value)
    return bytes(out)


def _ip_number(part: str) -> int | None:
    """Go's ``strconv.ParseUint(part, 0, 32)`` on what the IPv4 shape regex lets through."""
    base = 16 if part[:2] in ("0x", "0X") else 8 if len(part) > 1 and part[0] == "0" else 10
    try:
        value = int(part[2:] if base == 16 else part, base)
    except ValueError:
        return None
    return value if value < 1 << 32 else None


def parse_ipv4(text: str) -> str | None:
    """Dotted decimal for an IPv4 address in any legal notation (octal, hex, 1-4 parts), else None.

    Follows the Go client, quirks included: a non-final part keeps only its low byte, and a
    dotted quad followed by whitespace is read as that quad when the text is <= 15 characters.
    """
    if len(text) <= 15 and (m := _WINDOWS_IP.match(text)):
        text = m.group()[:-1]
    if not _IPV4_SHAPE.fullmatch(text):
        return None
    parts = text.split(".")
    if len(parts) > 4:
        return None
    out: list[str] = []
    for i, part in enumerate(parts):
        value = _ip_number(part)
        if value is None:
            return None
        width = 5 - len(parts) if i == len(parts) - 1 else 1
        out.extend(str((value >> (8 * k)) & 0xFF) for k in range(width - 1, -1, -1))
    return ".".join(out)


def _idna(host: bytes) -> bytes:
    """UTS-46 map and punycode a non-ASCII host, label by label, never failing.

    Labels strict IDNA 2008 refuses (emoji, symbols) are punycoded after UTS-46 mapping, as
    browsers do. A host that is not UTF-8, has disallowed code points, or maps to ASCII other
    than letters, digits, '-', '_' and '.' (fullwidth '％' or '／' would change how the canonical
    URL re-parses) is only lowercased, and later percent-escaped.
    """
    try:
        mapped = idna.uts46_remap(host.decode("utf-8"), std3_rules=False, transitional=False)
    except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
        return host.lower()
    if _NOT_HOST_ASCII.search(mapped):
        return host.lower()
    labels = []
    for label in mapped.split("."):
        if not label.isascii():
            try:
                label = idna.alabel(label).decode("ascii")
            except (UnicodeError, ValueError):
                label = "xn--" + label.encode("punycode").decode("ascii")
        labels.append(label)
    return ".".join(labels).encode("ascii")


def _host(raw: bytes) -> str | None:
    """Canonical host from an unescaped host without userinfo or port; None if nothing is left."""
    if raw[:1] == b"[":  # IPv6 literal: lowercased, kept as written
        raw = raw.lower()
        return raw.decode("ascii") if _IPV6.fullmatch(raw) else None
    if b"[" in raw or b"]" in raw:  # brackets only delimit an IPv6 literal
        return None
    raw = raw.lower() if raw.isascii() else _idna(raw)
    if b".." in raw:
        raw = _DOTS.sub(b".", raw)
    raw = raw.strip(b".")
    if not raw:
        return None
    ip = parse_ipv4(raw.decode("latin-1"))
    return ip if ip is not None else _escape(raw)


def _authority_host(authority: bytes) -> str | None:
    """Drop userinfo and port (a port must be digits), then canonicalize the host."""
    authority = authority.rpartition(b"@")[2]
    if authority[:1] == b"[":
        end = authority.find(b"]") + 1
        if end == 0:
            return None
        host, port = authority[:end], authority[end:]
    else:
        host, colon, port = authority.partition(b":")
        port = colon + port
    if port and not _PORT.fullmatch(port):
        return None
    return _host(host)


def _path(raw: bytes) -> bytes:
    """Collapse '//' and resolve '.' and '..' segments; a path ending in one of those is a directory."""
    if b"//" not in raw and b"/." not in raw:
        return raw
    segments = raw.split(b"/")[1:]
    out: list[bytes] = []
    for segment in segments:
        if segment == b"..":
            if out:
                out.pop()
        elif segment and segment != b".":
            out.append(segment)
    directory = out and segments[-1] in (b"", b".", b"..")
    return b"/" + b"/".join(out) + (b"/" if directory else b"")


def canonicalize(url: str) -> Canonical | None:
    """Safe Browsing v4 canonical form of ``url``, or None if it has no usable host. Never raises.

    No scheme (or ``//host``) means http, but then the host must be dotted or an IP: a bare word
    like ``UNLIKELY`` is not a URL. In ``example.com:8080/x`` the dotted name is a host, not a scheme.
    """
    return _canonicalize(url, bare_word=False) if isinstance(url, str) else None


def _canonicalize(url: str, *, bare_word: bool) -> Canonical | None:
    raw = _to_bytes(url).translate(None, b"\t\r\n")
    raw = raw.partition(b"#")[0].strip(_TRIM)
    raw = _unescape(raw)
    scheme, rest, bare = b"http", raw, True
    if m := _SCHEME.match(raw):
        after = raw[m.end() :]
        if after[:2] == b"//":
            scheme, rest, bare = m.group(1).lower(), after[2:], False
        elif not (bare_word or b"." in m.group(1)) or not _PORT_THEN_PATH.match(after):
            return None  # mailto:, javascript:, http:/x ...
    elif raw[:2] == b"//":
        rest = raw[2:]
    rest, question, query = rest.partition(b"?")
    authority, _, path = rest.partition(b"/")
    host = _authority_host(authority)
    if host is None or (bare and not bare_word and "." not in host and host[:1] != "["):
        return None
    return Canonical(scheme.decode("ascii"), host, _escape(_path(b"/" + path)), _escape(query) if question else None)


def host_suffixes(host: str, *, min_labels: int = 2) -> list[str]:
    """``host`` and each label-aligned suffix of at least ``min_labels`` labels; IPs only themselves.

    All suffixes, not only Safe Browsing's last five labels: a superset can only find more of the
    entries a list means, and ``min_labels=2`` still never yields a bare TLD.
    """
    if host[:1] == "[" or _IP_LITERAL.fullmatch(host):
        return [host]
    labels = host.split(".")
    return [host] + [".".join(labels[i:]) for i in range(1, len(labels) - max(min_labels, 1) + 1)]


def path_prefixes(path: str, query: str | None) -> list[str]:
    """Safe Browsing's path set: '/', up to 3 directory prefixes, the path, and path?query.

    The path with its query is included even for a bare '?' (Go leaves it out) so that a row's own
    full expression is always among its expressions.
    """
    parts = [p for p in path.split("/") if p]
    out = ["/"]
    out.extend("/" + "/".join(parts[:i]) + "/" for i in range(1, min(len(parts), 4)))
    out.append(path)
    if query is not None:
        out.append(f"{path}?{query}")
    return list(dict.fromkeys(out))


def expressions(c: Canonical) -> list[str]:
    """Every host suffix × path prefix of ``c``: the set a ``url`` list entry must hit to match."""
    paths = path_prefixes(c.path, c.query)
    return list(dict.fromkeys(h + p for h in host_suffixes(c.host) for p in paths))


def entry_expression(text: str) -> str | None:
    """A ``url`` list entry (``host/``, ``host/dir/``, ``host/p?q``; scheme ignored) as an expression.

    Unlike a row's URL, an entry names a host even when it is one word (``intranet/``).
    """
    c = _canonicalize(text, bare_word=True) if isinstance(text, str) else None
    return None if c is None else c.expression


def normalize_host(text: str) -> str | None:
    """A ``domain`` list entry as a canonical host, or None if it is not a plain host name or IP.

    Uses the same host rules as ``canonicalize`` so entries compare equal to row hosts.
    """
    raw = _to_bytes(text).strip(_TRIM) if isinstance(text, str) else b""
    raw = raw[:-1] if raw.endswith(b".") else raw
    if not raw or b".." in raw or raw[:1] == b"." or re.search(rb"[\x00-\x20%/?#@\\]", raw):
        return None
    host = _host(raw)
    return host if host is not None and _VALID_HOST.fullmatch(host) else None


def expression_sha256(expression: str) -> str:
    """Lowercase hex SHA-256 of the expression's UTF-8 bytes, as ``url-sha256`` lists store it."""
    return hashlib.sha256(expression.encode("utf-8", "surrogatepass")).hexdigest()
