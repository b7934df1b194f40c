"""List kinds and actions: the vocabulary shared by list files, config, matchers and reports."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

URL_KINDS = ("domain", "url", "url-sha256", "optout")
"""Kinds matched against a row's canonical URL (Safe Browsing v4 expressions)."""

EXACT_IMAGE_KINDS = {"image-md5": 32, "image-sha1": 40, "image-sha256": 64}
"""Exact image digests: kind -> number of hex digits."""

PERCEPTUAL_KINDS = {"phash": 16, "dhash": 16, "ahash": 16, "whash": 16, "pdq": 64}
"""Perceptual hashes: kind -> number of hex digits (64-bit imagehash, 256-bit PDQ)."""

REGISTRY_KINDS = ("license-registry",)
"""CSV registries that annotate rows rather than flag them directly."""

ALL_KINDS = (*URL_KINDS, *EXACT_IMAGE_KINDS, *PERCEPTUAL_KINDS, *REGISTRY_KINDS)

ACTIONS = ("drop", "flag", "allow")
"""``drop`` removes the row from the cleaned export; ``flag`` only reports it; ``allow`` exempts the
rows an allowlist matches from ``drop`` by the kinds in :data:`ALLOW_OVERRIDES`."""

ALLOW_KINDS = ("domain", "url", "url-sha256")
"""Kinds a list with ``action=allow`` may have: an allowlist names sites or pages, never images."""

ALLOW_OVERRIDES = ("domain", "url", "optout")
"""Kinds whose ``drop`` an allowlist overrides. Never ``url-sha256`` nor image hashes: hashed and image
lists come from child-protection and abuse programmes, and no allowlist may override them."""


def unknown_kind(kind: str) -> str:
    """The one message for a misspelt kind, wherever it was written (CLI, config, list header)."""
    return f"unknown kind {kind!r} (kinds: {', '.join(ALL_KINDS)})"


LIST_SETTINGS = ("kind", "name", "action", "max_distance")
"""What a list header, a ``[[list]]`` table (besides ``path``) and a ``-b`` option may set; any other key
is an error: a misspelt ``acton=flag`` silently dropped rows it should have flagged."""


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """``" (did you mean 'action'?)"`` when ``key`` is close to one of ``known`` (difflib), else ``""``."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_setting(key: str, known: Iterable[str] = LIST_SETTINGS) -> str:
    """The one message for a misspelt list setting, wherever it was written (CLI, config, list header)."""
    known = tuple(known)
    return f"unknown list setting {key!r}{did_you_mean(key, known)}; settings: {', '.join(known)}"
