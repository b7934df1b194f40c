"""Rows whose image could not be checked against the image lists: counted, and flagged or dropped on request.

With image lists in effect, a row whose image could not be fetched or hashed (``timeout``,
``http_404``, ``not_image``, ``too_large``...) was matched against nothing. Keeping it silently would
let a report read "no known abuse image" where the truth is "not looked at", so every shard counts
them (``unchecked`` in its manifest entry), and ``[fetch] unchecked`` decides what happens to them:

* ``keep`` (default): counted only; link rot is common and dropping it would shrink datasets a lot;
* ``flag``: a finding of kind ``unchecked`` (detail: the fetch status) in ``flagged.parquet``;
* ``drop``: the same finding with action ``drop``: the row leaves the cleaned export.

An ``unchecked`` finding is not a list match, so no allowlist overrides it.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from provscan.stages.base import ShardContext

UNCHECKED_LIST = "unchecked-images"
"""The ``list`` name of ``unchecked`` findings in ``flagged.parquet``."""


def record_unchecked(ctx: ShardContext, kinds: tuple[str, ...], statuses: Mapping[int, str], action: str) -> int:
    """Count (and per ``action``, the run's ``unchecked`` setting, insert findings for) rows whose status is not ``ok``.

    ``statuses``: row -> fetch/hash status of the rows this stage tried. Nothing happens when no
    image list is in effect (``kinds`` empty): then a fetch only measures link rot.
    """
    if not kinds:
        return 0
    bad = sorted((row, status) for row, status in statuses.items() if status != "ok")
    ctx.stats.add("unchecked", len(bad))
    if action == "keep" or not bad:
        return len(bad)
    ctx.add_findings(
        pa.table(
            {
                "row": pa.array([r for r, _ in bad], pa.int64()),
                "entry": pa.array([s for _, s in bad], pa.string()),
                "detail": pa.array([s for _, s in bad], pa.string()),
            }
        ),
        list=UNCHECKED_LIST,
        kind="unchecked",
        action=action,
    )
    return len(bad)
