"""ai.txt (Spawning): a robots.txt-like file at ``/ai.txt`` that says which files may be used for AI.

Spawning's generator writes ``User-Agent: *`` groups of ``Allow:`` / ``Disallow:`` lines over paths
and file patterns (``Disallow: *.jpg``, ``Disallow: /``), and Spawning's tools honour them. Read here
with the robots.txt parser (:mod:`provscan.consent.robots`: longest match, ``allow`` wins a tie) and
two readings of our own, stated in the README:

* a file pattern ``*.ext`` matches the *end* of the path (``*.jpg$``), so ``/a.jpg.html`` is not a
  JPEG; paths are matched without their query;
* matching is case-insensitive (``*.jpg`` covers ``/IMG_1.JPG``): the file is about file types,
  which the web spells in either case.

The groups read are ``*`` and the configured AI agents. HTTP outcome as robots.txt: 4xx means no
file, 5xx / 429 / no answer is ``ai.txt:unreachable`` (counted; an outage is not an opt-out).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from provscan.consent.robots import Robots, parse_robots

DISALLOW = "ai.txt:disallow"
UNREACHABLE = "ai.txt:unreachable"
_RULE = re.compile(r"^(\s*(?:allow|disallow)\s*:\s*)(\S*)(.*)$", re.IGNORECASE)
_EXT = re.compile(r"^\*\.[^/*$]+$")


def parse_aitxt(text: str) -> Robots:
    """Parse ai.txt: robots.txt syntax, file patterns anchored at the end, everything lower-cased."""
    lines = []
    for line in text.splitlines():
        match = _RULE.match(line)
        if match:
            pattern = match.group(2).lower()
            line = match.group(1) + (pattern + "$" if _EXT.match(pattern) else pattern) + match.group(3)
        lines.append(line)
    return parse_robots("\n".join(lines))


def aitxt_disallows(aitxt: Robots, agents: Sequence[str], path: str) -> bool:
    """Whether ``*`` or one of ``agents`` may not use the file at ``path`` (``/p?q``; the query is dropped)."""
    return aitxt.disallows(["*", *agents], path.split("?", 1)[0].lower() or "/")
