"""List kinds and actions: the vocabulary shared by list files, config, matchers and reports."""

from __future__ import annotations

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
