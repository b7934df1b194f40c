"""Licences in a scan: column first, then the most specific registry entry, then unknown; policy findings."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from provscan.config import LicenseConfig, ListSpec
from provscan import scan

REGISTRY = """expression,license,source
photos.example/,CC-BY-4.0,site terms page
photos.example/private/,LicenseRef-all-rights-reserved,site terms page
cdn.photos.example/,LicenseRef-no-ai-training,opt-out request #12
"""

ROWS = [
    # (URL, LICENSE column, expected licence, expected source)
    (
        "http://a.example/1.jpg",
        "http://creativecommons.org/licenses/by-nc-sa/3.0/",
        "CC-BY-NC-SA-3.0",
        "column:LICENSE",
    ),
    ("http://a.example/2.jpg", "creativecommons.org/licenses/by/2.0/fr/deed.fr", "CC-BY-2.0-FR", "column:LICENSE"),
    ("http://a.example/3.jpg", "?", "unknown", "none"),
    ("http://a.example/4.jpg", None, "unknown", "none"),
    ("http://photos.example/public/4.jpg", "?", "CC-BY-4.0", "registry:lic:photos.example/"),
    (
        "http://photos.example/private/5.jpg",
        None,
        "LicenseRef-all-rights-reserved",
        "registry:lic:photos.example/private/",
    ),
    ("https://cdn.photos.example/x/6.jpg", "", "LicenseRef-no-ai-training", "registry:lic:cdn.photos.example/"),
    # the row's own column wins over the registry
    (
        "http://photos.example/private/7.jpg",
        "https://creativecommons.org/publicdomain/zero/1.0/",
        "CC0-1.0",
        "column:LICENSE",
    ),
    (
        "http://a.example/8.jpg",
        "all rights reserved, ask me",
        "LicenseRef-unrecognized:all rights reserved, ask me",
        "column:LICENSE",
    ),
    ("UNLIKELY", "?", "unknown", "none"),
]


def test_licence_resolution_policy_and_export(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("s.parquet", URL=[r[0] for r in ROWS], LICENSE=[r[1] for r in ROWS], TEXT=["t"] * len(ROWS))
    registry = make_list("lic.csv", "# provscan-list: kind=license-registry name=lic\n" + REGISTRY)
    policy = LicenseConfig(
        drop=("*-NC-*", "LicenseRef-no-ai-training", "LicenseRef-all-rights-reserved"),
        flag=("unknown", "LicenseRef-unrecognized:*"),
    )
    result = scan([shard], lists=(ListSpec(registry),), licenses=policy, output=tmp_path / "out")
    flagged = pq.read_table(result.output / "flagged.parquet").to_pylist()
    got = {(f["row"], f["entry"], f["action"], f["detail"]) for f in flagged}
    expected = set()
    for i, (_, _, lic, source) in enumerate(ROWS):
        action = (
            "drop"
            if ("-NC-" in lic or lic in ("LicenseRef-no-ai-training", "LicenseRef-all-rights-reserved"))
            else ("flag" if lic == "unknown" or lic.startswith("LicenseRef-unrecognized:") else None)
        )
        if action:
            expected.add((i, lic, action, source))
    assert got == expected
    assert {f["kind"] for f in flagged} == {"license"} and {f["list"] for f in flagged} == {"license-policy"}
    dropped = {row for row, _, action, _ in expected if action == "drop"}
    assert dropped == {0, 5, 6}
    clean = pq.read_table(result.output / "clean" / "s.parquet").column("URL").to_pylist()
    assert clean == [r[0] for i, r in enumerate(ROWS) if i not in dropped]
    summary = json.loads((result.output / "summary.json").read_text())
    assert summary["licenses_by_id"]["unknown"] == 3
    assert summary["licenses_by_id"]["CC-BY-4.0"] == 1
    assert summary["licenses_by_source"] == {"column": 4, "registry": 3, "none": 3}


def test_breakdown_without_policy_or_column(tmp_path: Path, make_shard) -> None:
    shard = make_shard("s.parquet", url=["http://a.example/", "http://b.example/"])
    result = scan([shard], output=tmp_path / "out")
    summary = json.loads((result.output / "summary.json").read_text())
    assert summary["licenses_by_id"] == {"unknown": 2}
    assert summary["licenses_by_source"] == {"none": 2}
    assert result.manifest["totals"]["rows_dropped"] == 0
