"""Which consent signals count as an opt-out, and which mark an AI-generated image: the ``[consent]`` policy.

Every reader records what it saw; only here does a signal become a finding. ``[consent] signals``
(globs over signal names, ``fnmatch`` syntax) replaces :data:`DEFAULT_OPT_OUTS`; allowed and
unspecified values are counted in ``summary.json`` and never acted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

DEFAULT_OPT_OUTS: tuple[str, ...] = (
    "x-robots-tag:*", "robots:disallow", "tdmrep:reserved",
    "aipref:train-ai=n", "aipref:train-genai=n", "aipref:bots=n",
    "content-signal:ai-train=no",
    "ai.txt:disallow",
    "xmp:dmi-prohibited", "xmp:dmi-prohibited-aimltraining", "xmp:dmi-prohibited-genaimltraining",
    "xmp:dmi-prohibited-exceptsearchengineindexing", "xmp:dmi-prohibited-seeconstraint",
    "c2pa:ai-training=notAllowed", "c2pa:ai-generative-training=notAllowed", "c2pa:data-mining=notAllowed",
)
"""Signals that say "not for AI training" (see the README's consent-signals table)."""
AI_GENERATED_SIGNALS = ("xmp:ai-generated", "c2pa:ai-generated")
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
