"""Which consent signals count as an opt-out, and which mark an AI-generated image: the ``[consent]`` policy.

Every reader records what it saw; only here does a signal become a finding. ``[consent] signals``
(globs over signal names, ``fnmatch`` syntax) replaces :data:`DEFAULT_OPT_OUTS`; allowed and
unspecified values are counted in ``summary.json`` and never acted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

DEFAULT_OPT_OUTS: tuple[str, ...] = (
    "x-robots-tag:*",
    "robots:disallow",
    "tdmrep:reserved",
    "aipref:train-ai=n",
    "aipref:train-genai=n",
    "aipref:bots=n",
    "content-signal:ai-train=no",
    "ai.txt:disallow",
    "xmp:dmi-prohibited",
    "xmp:dmi-prohibited-aimltraining",
    "xmp:dmi-prohibited-genaimltraining",
    "xmp:dmi-prohibited-exceptsearchengineindexing",
    "xmp:dmi-prohibited-seeconstraint",
    "c2pa:ai-training=notAllowed",
    "c2pa:ai-generative-training=notAllowed",
    "c2pa:data-mining=notAllowed",
)
"""Signals that say "not for AI training" (see the README's consent-signals table)."""
AI_GENERATED_SIGNALS = ("xmp:ai-generated", "c2pa:ai-generated")
SITE_SOURCES = ("x-robots-tag", "tdmrep", "robots", "aipref", "content-signal", "ai.txt")
"""Read per row and origin by ``--check-consent`` (the first part of each signal's name)."""
EMBEDDED_SOURCES = ("xmp", "c2pa")
"""Read inside every fetched (``--fetch``) or local (``--images``) image."""
AI_GENERATED_ACTIONS = ("flag", "drop", "keep")


class ConsentPolicy:
    """``opt_out(signal)`` and ``ai_generated(signal)``; glob matches are cached per signal name."""

    def __init__(self, signals: Sequence[str] | None = None) -> None:
        self.globs = tuple(DEFAULT_OPT_OUTS if signals is None else signals)
        self._seen: dict[str, bool] = {}

    def opt_out(self, signal: str) -> bool:
        found = self._seen.get(signal)
        if found is None:
            found = self._seen[signal] = any(fnmatchcase(signal, glob) for glob in self.globs)
        return found

    @staticmethod
    def ai_generated(signal: str) -> bool:
        return signal in AI_GENERATED_SIGNALS


def signal_sources(site: bool, embedded: bool) -> dict[str, object]:
    """The manifest's ``consent_sources``: which signal sources the run read, and whether C2PA
    credentials could be checked (``c2pa_extra``: the ``c2pa-python`` version, or null: every C2PA box
    was then counted as ``c2pa:not-checked``)."""
    from provscan.consent.credentials import extra_version  # imports the extra only when asked

    return {
        "site": list(SITE_SOURCES) if site else [],
        "embedded": list(EMBEDDED_SOURCES) if embedded else [],
        "c2pa_extra": extra_version() if embedded else None,
    }


def describe_sources(sources: object, summary_signals: dict[str, int] | None = None) -> str:
    """One sentence for report.html and datacard.md from the manifest's ``consent_sources`` (untrusted: any shape)."""
    if not isinstance(sources, dict) or not (sources.get("site") or sources.get("embedded")):
        return ""
    parts = []
    if sources.get("site"):
        parts.append("per site and response: " + ", ".join(map(str, sources["site"])))
    if sources.get("embedded"):
        extra = sources.get("c2pa_extra")
        unchecked = int((summary_signals or {}).get("c2pa:not-checked", 0) or 0)
        c2pa = (
            f"C2PA checked with c2pa-python {extra}"
            if extra
            else f"C2PA not checked (the provscan[c2pa] extra was absent; {unchecked:,} images with Content Credentials counted as c2pa:not-checked)"
        )
        parts.append("inside each image: " + ", ".join(map(str, sources["embedded"])) + f" ({c2pa})")
    return "Consent signals read " + "; ".join(parts) + "."
