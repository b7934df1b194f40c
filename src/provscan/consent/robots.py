"""robots.txt (RFC 9309) parsing and matching, as an opt-out signal for AI/data-set crawlers.

Pure: text in, decisions out; fetching is the caller's (see ``consent.ConsentCache``).

Reading of RFC 9309 used here, with the lenient choices it allows (section 2.2: "crawlers SHOULD
try to parse each line ... and use the parseable rules"):

* Groups start at a ``user-agent`` line that follows a rule (or the file start); consecutive
  ``user-agent`` lines share one group; ``sitemap``/``crawl-delay``/unknown lines neither end nor
  start a group; rules before any ``user-agent`` line are ignored.
* The product token is the leading run of ``[A-Za-z0-9_-]`` of the value, matched
  case-insensitively and exactly (``Googlebot/2.1`` -> ``googlebot``). The RFC allows only letters,
  ``_`` and ``-``; digits are accepted so that real groups such as ``img2dataset`` or
  ``360Spider`` match at all (a letters-only reading would turn ``img2dataset`` into ``img``).
* All groups naming a token are merged; a token with no group uses the merged ``*`` groups; no
  group at all means everything is allowed. ``/robots.txt`` itself is always allowed.
* Longest match wins (length in octets of the normalised pattern); on a tie ``allow`` wins; an
  empty ``allow:``/``disallow:`` matches nothing. ``*`` is any run of characters, a final ``$``
  anchors the end. Patterns and paths are compared after percent-normalisation (non-ASCII encoded
  as UTF-8, ``%xx`` of unreserved characters decoded, hex upper-cased; a literal ``*``/``$`` in the
  path is encoded so only the pattern's are special). Matching is case-sensitive.
* Keys are case-insensitive; a few common misspellings are accepted (``useragent``,
  ``dissallow``, ...), as Google's parser does; a line without ``:`` is split at the first space.
  Only the first 500 KiB are parsed (the RFC's minimum).

HTTP outcome (section 2.3.1): 2xx -> parse; 4xx -> "unavailable", crawling allowed; 5xx, 429,
no response -> "unreachable": the RFC says assume complete disallow; provscan records
``robots:unreachable`` instead and lets the policy decide (an outage is not an opt-out).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

MAX_BYTES = 500 * 1024

DEFAULT_AI_AGENTS: tuple[str, ...] = (
    "img2dataset",  # the LAION downloader; its docs tell sites to opt out with this token
    "CCBot",  # Common Crawl, the URL source of LAION/COYO/DataComp
    "GPTBot",
    "OAI-SearchBot",
    "ChatGPT-User",  # OpenAI
    "Google-Extended",  # Google's opt-out token for Gemini/Vertex training (no crawler of its own)
    "Applebot-Extended",  # same idea, Apple
    "anthropic-ai",
    "ClaudeBot",
    "Claude-Web",  # Anthropic
    "Bytespider",  # ByteDance
    "PerplexityBot",
    "Meta-ExternalAgent",
    "FacebookBot",  # Meta
    "cohere-ai",
    "Diffbot",
    "Amazonbot",
    "Timpibot",
    "ImagesiftBot",
    "omgili",
    "YouBot",
)
"""Product tokens whose ``Disallow`` we read as "no AI training/data-set use" (documented, not
exhaustive: pass your own ``agents`` to override). A site that blocks ``*`` blocks all of them."""

_KEYS = {
    "user-agent": "user-agent",
    "useragent": "user-agent",
    "user agent": "user-agent",
    "allow": "allow",
    "disallow": "disallow",
    "dissallow": "disallow",
    "dissalow": "disallow",
    "disalow": "disallow",
    "diasllow": "disallow",
    "disallaw": "disallow",
    "content-usage": "content-usage",
    "content-signal": "content-signal",
}
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")

RobotsOutcome = Literal["parse", "unavailable", "unreachable"]


def robots_outcome(http_status: int | None) -> RobotsOutcome:
    """What an HTTP status for ``/robots.txt`` means (RFC 9309 2.3.1; 429 counted as unreachable,
    3xx reaching us means the fetcher gave up on redirects, which the RFC treats as unavailable)."""
    if http_status is None or http_status == 429 or http_status >= 500 or http_status < 200:
        return "unreachable"
    return "parse" if http_status < 300 else "unavailable"


def normalize_path(text: str, *, pattern: bool = False) -> str:
    """Percent-normalise a path or pattern so that equivalent spellings compare equal (RFC 9309 2.2.2)."""
    if not pattern:
        text = text.replace("*", "%2A").replace("$", "%24")
    if not text.isascii():
        text = "".join(c if c.isascii() else "".join(f"%{b:02X}" for b in c.encode()) for c in text)

    def fix(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return char if char in _UNRESERVED else "%" + m.group(1).upper()

    return _PCT.sub(fix, text)


@dataclass(frozen=True)
class PathPattern:
    """A robots-style path pattern: prefix match, ``*`` wildcard, final ``$`` anchor.

    Matched by literal pieces found left to right (``str.startswith``/``find``), which is exact for
    ``*``-only globs and, unlike a regex, cannot backtrack exponentially on a hostile file.
    """

    text: str
    pieces: tuple[str, ...] = field(init=False)
    anchored: bool = field(init=False)

    def __post_init__(self) -> None:
        body = normalize_path(self.text, pattern=True)
        anchored = body.endswith("$")
        object.__setattr__(self, "anchored", anchored)
        object.__setattr__(self, "pieces", tuple(re.sub(r"\*+", "*", body[:-1] if anchored else body).split("*")))

    @property
    def length(self) -> int:
        """Specificity: octets of the normalised pattern."""
        return len("*".join(self.pieces)) + self.anchored

    def matches(self, path: str) -> bool:
        """Whether ``path`` (already ``normalize_path``-ed) matches this pattern."""
        first, *rest = self.pieces
        if not path.startswith(first):
            return False
        if not rest:
            return not self.anchored or path == first
        pos = len(first)
        *middle, last = rest
        for piece in middle:
            pos = path.find(piece, pos)
            if pos < 0:
                return False
            pos += len(piece)
        if self.anchored:
            return path.endswith(last) and len(path) - len(last) >= pos
        return path.find(last, pos) >= 0


@dataclass
class _Group:
    agents: list[str] = field(default_factory=list)
    rules: list[tuple[bool, PathPattern]] = field(default_factory=list)  # (allow, pattern)
    # Content-Usage (AIPREF attach) and Content-Signal lines: (key, path pattern or None, value)
    prefs: list[tuple[str, PathPattern | None, str]] = field(default_factory=list)


PREF_KEYS = ("content-usage", "content-signal")
"""Group lines that carry usage preferences rather than crawl rules (see :mod:`provscan.consent.aipref`)."""


class Robots:
    """A parsed robots.txt. ``disallows(agents, path)`` is the question provscan asks."""

    def __init__(self, groups: Iterable[_Group] = ()) -> None:
        self._by_agent: dict[str, list[tuple[bool, PathPattern]]] = {}
        self._prefs: dict[str, list[tuple[str, PathPattern | None, str]]] = {}
        for group in groups:
            for agent in group.agents:
                self._by_agent.setdefault(agent, []).extend(group.rules)
                self._prefs.setdefault(agent, []).extend(group.prefs)

    @property
    def agents(self) -> list[str]:
        """Lower-case product tokens that have a group (``*`` included)."""
        return sorted(self._by_agent)

    def allowed(self, agent: str, path: str) -> bool:
        """RFC 9309 decision for one product token and one path (``/p?q``; empty means ``/``)."""
        return self._allowed(agent, normalize_path(path or "/"))

    def _allowed(self, agent: str, path: str) -> bool:
        rules = self._by_agent.get(agent.lower(), self._by_agent.get("*"))
        if not rules or path == "/robots.txt":
            return True
        best_allow = best_disallow = -1
        for allow, pattern in rules:
            if pattern.length > (best_allow if allow else best_disallow) and pattern.matches(path):
                if allow:
                    best_allow = pattern.length
                else:
                    best_disallow = pattern.length
        return best_disallow <= best_allow

    def preferences(self, key: str, agent_tokens: Sequence[str], path: str) -> list[str]:
        """Values of the ``key`` lines (``content-usage``, ``content-signal``) that apply to ``path`` for
        any of the tokens (a token without a group uses ``*``'s): per group, the line with the longest
        matching path pattern wins, a line without a pattern matches every path at length 0."""
        normalized = normalize_path(path or "/")
        out: list[str] = []
        for agent in dict.fromkeys(a.lower() for a in agent_tokens):
            lines = [(p, v) for k, p, v in self._prefs.get(agent, self._prefs.get("*", [])) if k == key]
            scored = [(-1 if p is None else p.length, v) for p, v in lines if p is None or p.matches(normalized)]
            best = max((length for length, _ in scored), default=None)
            out += [v for length, v in scored if length == best]
        return list(dict.fromkeys(out))

    def disallowed_agents(self, agent_tokens: Sequence[str], path: str) -> list[str]:
        """The tokens among ``agent_tokens`` that may not fetch ``path``."""
        normalized = normalize_path(path or "/")
        return [agent for agent in agent_tokens if not self._allowed(agent, normalized)]

    def disallows(self, agent_tokens: Sequence[str], path: str) -> bool:
        """True if *any* of the tokens is disallowed: one AI crawler blocked is an opt-out signal."""
        normalized = normalize_path(path or "/")
        return any(not self._allowed(agent, normalized) for agent in agent_tokens)


def parse_robots(text: str) -> Robots:
    """Parse robots.txt leniently: unparseable lines are skipped, never raised on."""
    groups: list[_Group] = []
    current: _Group | None = None
    in_agent_lines = False
    for raw in text[:MAX_BYTES].lstrip("\ufeff").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            key, _, value = line.partition(" ")
        kind = _KEYS.get(" ".join(key.lower().split()))
        value = value.strip()
        if kind == "user-agent":
            if current is None or not in_agent_lines:
                current = _Group()
                groups.append(current)
            in_agent_lines = True
            token = "*" if value.startswith("*") else (m.group(0).lower() if (m := _TOKEN.match(value)) else None)
            if token:
                current.agents.append(token)
        elif kind in PREF_KEYS:
            in_agent_lines = False
            if current is not None and value:
                first, *more = value.split(None, 1)
                pattern, rest = (first, "".join(more)) if first[0] in "/*" and "=" not in first else ("", value)
                current.prefs.append((kind, PathPattern(pattern) if pattern else None, rest.strip()))
        elif kind in ("allow", "disallow"):
            in_agent_lines = False
            if current is not None and value:
                current.rules.append((kind == "allow", PathPattern(value)))
    return Robots(groups)
