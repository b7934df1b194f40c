"""``match_hashed``'s count of SHA-256 computed (the benchmark's hashing floor) against a Python count.

The count is taken from per-host tables rather than a second pass over every row's keys, so it is
checked here against an independent tally of what the hashing joins compute: each host suffix
(2+ labels) times each distinct shared key ('/', directory prefixes) of the host, plus each suffix
times each row's own keys (the path, and path?query when there is a query).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from provscan.io.db import Database
from provscan.lists.compiled import CompiledLists, install
from provscan.io.shards import Columns, Shard
from provscan.stages.base import HITS_DDL, ShardContext
from provscan.stages.url import match_hashed
from provscan.urls.canonical import canonicalize, host_suffixes

from test_engine_reference import urls


def _directory_keys(path: str) -> set[str]:
    """'/' and the prefixes through the 2nd, 3rd and 4th '/', as ``path_keys_sql`` cuts them."""
    slashes = [i for i, ch in enumerate(path) if ch == "/"]
    return {"/"} | {path[: slashes[k] + 1] for k in (1, 2, 3) if len(slashes) > k}


def _expected(rows: list[str | None]) -> int:
    canon = [c for u in rows if (c := canonicalize(u)) is not None]
    shared: dict[str, set[str]] = {}
    total = 0
    for c in canon:
        shared.setdefault(c.host, set()).update(_directory_keys(c.path))
        total += len(host_suffixes(c.host, min_labels=2)) * (1 + (c.query is not None))
    return total + sum(len(host_suffixes(h, min_labels=2)) * len(keys) for h, keys in shared.items())


def _count(rows: list[str | None]) -> int:
    canon = [canonicalize(u) for u in rows]
    raw = pa.table(
        {
            "row": pa.array(range(len(rows)), pa.int64()),
            "host": pa.array([c.host if c else None for c in canon], pa.string()),
            "path": pa.array([c.path if c else None for c in canon], pa.string()),
            "query": pa.array([c.query if c else None for c in canon], pa.string()),
        }
    )
    with Database(threads=1) as db:
        install(db, CompiledLists(()))
        db.put("raw", raw)
        db.execute(HITS_DDL)
        shard = Shard(Path("a.parquet"), "a.parquet", "a.parquet")
        return match_hashed(ShardContext(db, shard, Columns(url="url", id=None)))


@settings(max_examples=30, deadline=None)
@given(st.lists(urls(), min_size=1, max_size=40))
def test_hashed_count_equals_python_tally(rows: list[str | None]) -> None:
    assert _count(rows) == _expected(rows)


def test_hashed_count_by_hand() -> None:
    rows = ["http://a.b.example/x/y?q", "http://a.b.example/x/z", "http://10.0.0.1/", None, "UNLIKELY"]
    # a.b.example has suffixes a.b.example, b.example (2 labels min) -> 2; 10.0.0.1 -> 1.
    # shared keys of a.b.example: '/', '/x/' -> 2 x 2 = 4; of 10.0.0.1: '/' -> 1.
    # row keys: (path + path?q) x 2 = 4, path x 2 = 2, path x 1 = 1.
    assert _count(rows) == _expected(rows) == 4 + 1 + 4 + 2 + 1
