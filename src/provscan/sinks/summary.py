"""``summary.json``: the counts a maintainer puts in a dataset card, merged shard by shard."""

from __future__ import annotations

from collections import Counter
from typing import Any

TOP_DOMAINS = 25
ROW_COUNTS = ("rows_in", "rows_matched", "rows_dropped", "rows_flagged", "rows_out", "invalid_urls")
"""Per shard, in the one vocabulary of every output: rows *matched* (any finding), *dropped* (removed from
clean/), *flagged* (kept, with a flag finding, reported), and the rows written out."""


class Summary:
    """Adds up the shards' summary parts (computed per shard in SQL) into ``summary.json``."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {
            k: Counter() for k in ("findings_by_list", "rows_by_list", "findings_by_kind", "findings_by_action")
        }
        self.rows_by_list_action: dict[str, Counter[str]] = {}  # list -> action -> rows (end-of-run table)
        self.shards: dict[str, dict[str, int]] = {}
        self.domains: Counter[str] = Counter()
        self.extra: dict[str, Counter[str]] = {}

    def add(self, entry: dict[str, Any], part: dict[str, Any]) -> None:
        """Merge one shard: its manifest entry and its summary part (see ``pipeline.shard``)."""
        self.shards[entry["path"]] = {k: entry[k] for k in ROW_COUNTS}
        for key, counter in self.counts.items():
            counter.update(part.get(key, {}))
        for lst, actions in part.get("rows_by_list_action", {}).items():
            self.rows_by_list_action.setdefault(lst, Counter()).update(actions)
        self.domains.update(part.get("flagged_hosts", {}))
        for section, counts in part.get("extra", {}).items():
            self.extra.setdefault(section, Counter()).update(counts)

    def to_dict(self) -> dict[str, Any]:
        counts = {k: dict(sorted(v.items())) for k, v in self.counts.items()}
        return {
            "findings_by_list": counts["findings_by_list"],
            "rows_by_list": counts["rows_by_list"],
            "rows_by_list_action": {k: dict(sorted(v.items())) for k, v in sorted(self.rows_by_list_action.items())},
            "findings_by_kind": counts["findings_by_kind"],
            "findings_by_action": counts["findings_by_action"],
            "shards": self.shards,
            "top_matched_domains": [
                {"domain": d, "rows": n}
                for d, n in sorted(self.domains.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_DOMAINS]
            ],
            **{k: dict(sorted(v.items())) for k, v in sorted(self.extra.items())},
        }
