"""``summary.json``: the counts a maintainer puts in a dataset card, merged shard by shard."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa

TOP_DOMAINS = 25


class Summary:
    """Accumulates per-shard findings into counts by list, kind, action, shard and flagged domain."""

    def __init__(self) -> None:
        self.findings_by: dict[str, Counter[str]] = {k: Counter() for k in ("list", "kind", "action")}
        self.rows_by_list: Counter[str] = Counter()
        self.rows_by_list_action: dict[str, Counter[str]] = {}  # list -> action -> rows (end-of-run table)
        self.shards: dict[str, dict[str, int]] = {}
        self.domains: Counter[str] = Counter()
        self.extra: dict[str, Counter[str]] = {}

    def add(self, entry: dict[str, Any], findings: pa.Table, hosts: dict[str, int]) -> None:
        """Merge one shard: its manifest entry, its findings and its flagged rows per canonical host."""
        self.shards[entry["path"]] = {
            k: entry[k] for k in ("rows_in", "rows_flagged", "rows_dropped", "rows_out", "invalid_urls")
        }
        self.domains.update(hosts)
        if not findings.num_rows:
            return
        data = findings.select(["row", "list", "kind", "action"]).to_pydict()
        for key in self.findings_by:
            self.findings_by[key].update(data[key])
        self.rows_by_list.update(lst for lst, _ in set(zip(data["list"], data["row"])))
        for lst, action, _ in set(zip(data["list"], data["action"], data["row"])):
            self.rows_by_list_action.setdefault(lst, Counter())[action] += 1

    def add_counts(self, section: str, counts: dict[str, int]) -> None:
        """Extra breakdowns (licences, fetch statuses) contributed by other stages."""
        self.extra.setdefault(section, Counter()).update(counts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings_by_list": dict(sorted(self.findings_by["list"].items())),
            "rows_by_list": dict(sorted(self.rows_by_list.items())),
            "rows_by_list_action": {k: dict(sorted(v.items())) for k, v in sorted(self.rows_by_list_action.items())},
            "findings_by_kind": dict(sorted(self.findings_by["kind"].items())),
            "findings_by_action": dict(sorted(self.findings_by["action"].items())),
            "shards": self.shards,
            "top_flagged_domains": [
                {"domain": d, "rows": n} for d, n in sorted(self.domains.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_DOMAINS]
            ],
            **{k: dict(sorted(v.items())) for k, v in sorted(self.extra.items())},
        }

