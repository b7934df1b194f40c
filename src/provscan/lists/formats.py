"""Entry syntaxes of list files: one parser per kind, vectorized where the lines are boring.

Real lists have millions of lines (UT1 adult: 4.5 M hosts), so every line is first classified with Arrow
regexes: lines that are already a plain lowercase ASCII host (bare, ``0.0.0.0 host`` or ``||host^``) or a
plain hex digest are accepted without touching Python. Only the odd lines (IDNA, uppercase, several hosts
per line, Adblock rules with options, comments after data, malformed lines) go through the per-line path,
which is the reference behaviour the fast path must agree with (``tests/test_lists.py`` checks that).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import Counter
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provscan.lists.adblock import HOST, PATH, parse_adblock
from provscan.kinds import EXACT_IMAGE_KINDS, PERCEPTUAL_KINDS
from provscan.urls.canonical import entry_expression, normalize_host

HEX_DIGITS = {"url-sha256": 64, **EXACT_IMAGE_KINDS, **PERCEPTUAL_KINDS}
"""Kinds whose entries are hex digests -> number of hex digits."""

LOCALHOST_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "0.0.0.0",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
    }
)
"""Names hosts files map to themselves; they are not blocklist entries (skipped as ``localhost``)."""

# A label that needs no normalization: lowercase LDH without leading/trailing hyphen (anything odder,
# e.g. "_" or uppercase, takes the slow path); the last label starts with a letter so IPv4 literals
# (which normalize_host rewrites) never take the fast path.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = rf"(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?"
_FAST_HOST = rf"^{_HOST}$"
# A URL expression canonicalization leaves alone: fast host, no scheme/port/userinfo, path segments that
# neither start with "." nor are empty (no "//", "/./", "/../"), no "%", "#", whitespace or non-ASCII.
_SEG = r"[A-Za-z0-9_~!$&'()*+,;=-][A-Za-z0-9_.~!$&'()*+,;=-]*"
_FAST_URL = rf"^{_HOST}/(?:{_SEG}(?:/{_SEG})*/?)?(?:\?[A-Za-z0-9_.~!$&'()*+,;=:@/?-]*)?$"
_FAST_HOSTS_LINE = r"^(?:0\.0\.0\.0|127\.0\.0\.1)[ \t]+[^ \t#]+$"
_INLINE_COMMENT = re.compile(r"\s#.*$")
_PDQ = re.compile(r"^(?:hash=)?([^,]*)(?:,.*)?$")


class BadLine(Exception):
    """A malformed line; the loader turns it into ``ListError(path, reason, line)``."""


Row = tuple[str, str]  # (entry as written, normalized value)


def parse_lines(kind: str, lines: pa.Array) -> tuple[pa.Table, Counter, list[tuple[int, str]]]:
    """Parse the text lines of a line-based list.

    Returns (rows with columns line/entry/value in file order, skipped reason -> count, errors as
    (line, reason) in file order: the caller raises on the first one).
    """
    text = pc.utf8_trim_whitespace(lines)
    ignorable = pc.or_(pc.equal(text, ""), pc.starts_with(text, "#"))
    if kind in ("domain", "url", "optout"):
        ignorable = pc.or_(ignorable, pc.starts_with(text, "!"))  # Adblock comments
    adblock = (
        kind in ("domain", "url", "optout")
        and pc.any(
            pc.or_(pc.starts_with(text, "||"), pc.or_(pc.starts_with(text, "!"), pc.starts_with(text, "@@")))
        ).as_py()
    )
    if kind == "domain":
        fast_entry, fast = _fast_domain(text, adblock)
        fast_value = fast_entry
        one: Callable[[str], list[Row] | str] = functools.partial(_domain_line, adblock=adblock)
    elif kind in HEX_DIGITS:
        n = HEX_DIGITS[kind]
        fast_entry, fast = text, pc.match_substring_regex(text, f"^[0-9a-fA-F]{{{n}}}$")
        fast_value = pc.ascii_lower(text)
        one = _hex_line(kind, n)
    elif kind in ("url", "optout"):
        fast_entry = fast_value = text
        # in an Adblock file a bare "host/path" is an unanchored pattern, so only plain files go fast
        fast = pa.array(np.zeros(len(text), dtype=bool)) if adblock else pc.match_substring_regex(text, _FAST_URL)
        one = functools.partial(_url_line, adblock=adblock)
    else:
        raise ValueError(f"not a line-based kind: {kind}")
    fast = pc.and_not(pc.fill_null(fast, False), ignorable)
    slow = pc.invert(pc.or_(fast, ignorable))
    lineno = np.arange(1, len(text) + 1, dtype=np.int32)
    fast_np = fast.to_numpy(zero_copy_only=False)
    parts = [
        pa.table(
            {
                "line": pa.array(lineno[fast_np]),
                "entry": fast_entry.filter(fast).cast(pa.string()),
                "value": fast_value.filter(fast).cast(pa.string()),
            }
        )
    ]
    skipped: Counter = Counter()
    errors: list[tuple[int, str]] = []
    slow_lines, slow_entries, slow_values = [], [], []
    slow_np = slow.to_numpy(zero_copy_only=False)
    for ln, line in zip(lineno[slow_np].tolist(), text.filter(slow).to_pylist()):
        try:
            result = one(line)
        except BadLine as exc:
            errors.append((ln, str(exc)))
            continue
        if isinstance(result, str):
            skipped[result] += 1
            continue
        for entry, value in result:
            slow_lines.append(ln)
            slow_entries.append(entry)
            slow_values.append(value)
    if slow_lines:
        parts.append(
            pa.table(
                {
                    "line": pa.array(slow_lines, pa.int32()),
                    "entry": pa.array(slow_entries, pa.string()),
                    "value": pa.array(slow_values, pa.string()),
                }
            )
        )
        table = pa.concat_tables(parts)
        table = table.take(pc.sort_indices(table.column("line")))  # stable: keeps hosts-line order
    else:
        table = parts[0]
    return table, skipped, errors


def dedupe(table: pa.Table) -> pa.Table:
    """Keep the first row of every value (a list may repeat an entry; the earliest line explains it)."""
    values = table.column("value").combine_chunks()  # one dictionary for the whole column
    if len(pc.unique(values)) == table.num_rows:
        return table
    idx = pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False)
    # dictionary codes are assigned in order of first appearance, so a row is a first occurrence
    # exactly when its code exceeds every earlier code
    seen = np.maximum.accumulate(np.concatenate([[-1], idx[:-1]]))
    return table.filter(pa.array(idx > seen))


def _fast_domain(text: pa.Array, adblock: bool) -> tuple[pa.Array, pa.Array]:
    """Candidate host per line (bare, ``0.0.0.0 host``, ``||host^``) and where it needs no normalizing."""
    cand = text
    hosts_line = pc.match_substring_regex(text, _FAST_HOSTS_LINE)
    if not adblock and pc.any(hosts_line).as_py():  # in an Adblock file it is an unanchored pattern
        cand = pc.if_else(hosts_line, pc.replace_substring_regex(text, r"^\S+\s+", ""), cand)
    adblock = pc.and_(pc.starts_with(text, "||"), pc.ends_with(text, "^"))
    if pc.any(adblock).as_py():
        cand = pc.if_else(adblock, pc.utf8_slice_codeunits(text, 2, -1), cand)
    ok = pc.match_substring_regex(cand, _FAST_HOST)
    ok = pc.and_(ok, pc.less_equal(pc.utf8_length(cand), 253))
    ok = pc.and_not(ok, pc.is_in(cand, pa.array(sorted(LOCALHOST_NAMES))))
    return cand, ok


def _strip_comment(line: str) -> str:
    return _INLINE_COMMENT.sub("", line).strip() if "#" in line else line


def _host(text: str) -> Row:
    """One host entry; a leading ``*.`` or ``.`` means the same domain (subdomains always match)."""
    host = text[2:] if text.startswith("*.") else text[1:] if text.startswith(".") else text
    value = normalize_host(host) if host else None
    if value is None:
        hint = " (a URL: load it as url:PATH)" if "/" in host else ""
        raise BadLine(f"not a valid host name: {text!r}{hint}")
    return text, value


def _is_ip(token: str) -> bool:
    try:
        ipaddress.ip_address(token.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _rule(line: str, adblock: bool) -> tuple[str, str] | str | None:
    """The Adblock reading of a line, None if it has none.

    In an Adblock file (one with ``||``, ``!`` or ``@@`` lines) a bare line is a host rule if it is a
    host, as uBlock reads it, and otherwise an unanchored substring pattern (``.online/js/x.js``).
    """
    rule = parse_adblock(line)
    if rule is None and adblock:
        return (HOST, line) if normalize_host(line) is not None else "adblock-unanchored"
    return rule


def _domain_line(line: str, adblock: bool) -> list[Row] | str:
    """A plain host, a hosts-file line (``IP host [host...] [# comment]``) or an Adblock rule."""
    line = _strip_comment(line)
    rule = _rule(line, adblock)
    if rule is not None:
        if isinstance(rule, str):
            return rule or []
        what, text = rule
        if what == PATH:
            return "adblock-path-rule"  # host+path: a domain list cannot express it (load as url:)
        return "localhost" if text.lower() in LOCALHOST_NAMES else [_host(text)]
    tokens = line.split()
    if not tokens:
        return []
    if len(tokens) > 1:
        if not _is_ip(tokens[0]):
            raise BadLine(f"expected one host, or a hosts-file line 'IP host...': {line!r}")
        tokens = tokens[1:]
    rows = [_host(t) for t in tokens if t.lower() not in LOCALHOST_NAMES]
    return rows if rows else "localhost"


def _url_line(line: str, adblock: bool) -> list[Row] | str:
    """A Safe Browsing expression (``host/path``, scheme ignored) or an Adblock host/path rule."""
    line = _strip_comment(line)
    rule = _rule(line, adblock)
    if rule is not None:
        if isinstance(rule, str):
            return rule or []
        what, text = rule
        target = text if what == PATH else text + "/"
    else:
        text = target = line
        if not text:
            return []
        tokens = text.split()
        if len(tokens) > 1 and _is_ip(tokens[0]):  # otherwise a raw space is part of the URL (%20)
            raise BadLine(f"a hosts-file line in a url list (load it as domain:PATH): {line!r}")
    value = entry_expression(target)
    if value is None:
        raise BadLine(f"not a valid URL expression: {text!r}")
    return [(text, value)]


def _hex_line(kind: str, n: int) -> Callable[[str], list[Row]]:
    def one(line: str) -> list[Row]:
        text = _strip_comment(line)
        if not text:
            return []
        if kind == "pdq":  # ThreatExchange hash files: [hash=]HEX[,metadata...]
            text = _PDQ.match(text).group(1).strip()  # type: ignore[union-attr]
        if len(text) != n:
            raise BadLine(f"{kind}: expected {n} hex digits, got {len(text)}: {text[:80]!r}")
        if not all(c in "0123456789abcdefABCDEF" for c in text):
            raise BadLine(f"{kind}: not hexadecimal: {text!r}")
        return [(text, text.lower())]

    return one
