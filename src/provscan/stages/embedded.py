"""Findings from the signals inside fetched images (read by the fetch stage, no extra request).

An opt-out signal (``xmp:dmi-prohibited-*``, ``c2pa:ai-training=notAllowed``, ... as the
``[consent] signals`` policy says) becomes a finding of kind ``consent`` with the ``[consent]
action``, exactly like a site's ``tdmrep:reserved``; an AI-generated image a finding of kind
``ai-generated`` with ``[consent] ai_generated`` (``keep``: counted only). Every signal is counted in
``summary.json``'s ``consent_signals``. An embedded licence is a licence, not an opt-out: it goes to
the licence resolution (source ``embedded``). A C2PA signal from a manifest that failed validation is
marked ``unverified`` in the finding's detail: it may withhold consent, never grant it.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from provscan.config import ConsentConfig
from provscan.consent.credentials import INVALID as C2PA_INVALID
from provscan.consent.policy import ConsentPolicy
from provscan.stages.base import ShardContext

CONSENT_LIST = "consent"
AI_GENERATED_LIST = "ai-generated"


def record_embedded(
    ctx: ShardContext, signals: dict[int, list[str]], licenses: dict[int, str], consent: ConsentConfig
) -> None:
    """Count each row's embedded signals, add the findings the run's ``[consent]`` policy asks for, and
    hand the embedded licences to the licence resolution (``emb_lic``, read by the embedded-license stage)."""
    if licenses:
        ctx.db.append(
            "emb_lic",
            pa.table(
                {"row": pa.array(list(licenses), pa.int64()), "value": pa.array(list(licenses.values()), pa.string())}
            ),
        )
    policy = ConsentPolicy(consent.signals)
    counts: Counter[str] = Counter()
    cols: dict[str, list] = {"row": [], "list": [], "kind": [], "action": [], "entry": [], "detail": []}
    for row, found in signals.items():
        if not found:
            continue
        counts.update(found)
        unverified = C2PA_INVALID in found
        for signal in found:
            if policy.opt_out(signal):
                kind, name, action = "consent", CONSENT_LIST, consent.action
            elif policy.ai_generated(signal) and consent.ai_generated != "keep":
                kind, name, action = "ai-generated", AI_GENERATED_LIST, consent.ai_generated
            else:
                continue
            source = signal.split(":", 1)[0]
            cols["row"].append(row)
            cols["list"].append(name)
            cols["kind"].append(kind)
            cols["action"].append(action)
            cols["entry"].append(signal)
            cols["detail"].append(f"embedded:{source}" + (" unverified" if unverified and source == "c2pa" else ""))
    if counts:
        ctx.count("consent_signals", counts)
    if cols["row"]:
        ctx.add_findings(pa.table({k: pa.array(v, pa.int64() if k == "row" else pa.string()) for k, v in cols.items()}))
