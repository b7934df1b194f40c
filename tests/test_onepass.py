"""The one-pass shard scan (pipeline/onepass.py) writes the bytes the general path writes.

Same shards, lists and settings, scanned with PROVSCAN_ONE_PASS=0 (the general path) and with the
default (one pass): flagged.parquet, removals, the cleaned shards, summary.json and the manifest's
shard entries must be equal, over several row groups, URLs the kernel declines (escapes, IDN, a
blank, a NULL, garbage), domain, url and allow lists, and an integer id column.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import provscan
from provscan.errors import ShardError
from provscan.pipeline import onepass, rows

URLS = [
    "http://bad.example/a",
    "https://www.bad.example/b?x=1",
    "http://ok.example/",
    "http://good.bad.example/",
    "http://evil.example/path/x.jpg",
    "http://evil.example/other",
    "http://EVIL.example/path/x.jpg",
    "http://bad.example/%41%20b",
    "http://b\u00fccher.example/",
    "   ",
    None,
    "not a url",
    "http://[::1]:80/",
    "http://1.2.3.4/p",
    "http://x.example:8080/%7euser",
    "http://a.b.c.d.e.f.g.h.bad.example/",
    "",
    # candidates whose path the kernel's simple class declines: the later passes cut them
    "http://evil.example/path/%2E%2E/path/x.jpg",
    "http://bad.example/a b/../c?q=%zz",
    "http://evil.example//path/x.jpg#frag",
    "http://BAD.example:81/\u00e9t\u00e9?x=%2541",
]


def _shard(path: Path, rows: int) -> None:
    urls = [URLS[i % len(URLS)] if URLS[i % len(URLS)] is None else f"{URLS[i % len(URLS)]}" for i in range(rows)]
    table = pa.table(
        {
            "url": pa.array(urls, pa.large_string()),
            "key": pa.array(range(rows), pa.int64()),
            "caption": [f"c{i}" for i in range(rows)],
        }
    )
    pq.write_table(table, path, row_group_size=40, compression="zstd")


def _scan(
    tmp_path: Path, name: str, shards: list[Path], lists: tuple, monkeypatch: pytest.MonkeyPatch, one_pass: bool
) -> tuple[dict[str, str], dict, list]:
    monkeypatch.setenv("PROVSCAN_ONE_PASS", "1" if one_pass else "0")
    out = tmp_path / name
    result = provscan.scan(shards, output=out, lists=lists, id_column="key")
    files = [out / "flagged.parquet", out / "removals.sha256.txt", *sorted((out / "clean").rglob("*.parquet"))]
    digests = {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    summary = json.loads((out / "summary.json").read_text())
    assert result.manifest is not None
    return digests, summary, result.manifest["shards"]


@pytest.mark.parametrize("reference_at_most", [rows.REFERENCE_AT_MOST, 0], ids=["reference", "sql-passes"])
def test_one_pass_writes_what_the_general_path_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference_at_most: int
) -> None:
    """Both ways of finishing the URLs the kernel declines: the reference alone (a few per row
    group, the usual case) and the SQL escaped pass then the reference (more than a few)."""
    from provscan.config import ListSpec

    monkeypatch.setattr(rows, "REFERENCE_AT_MOST", reference_at_most)
    sql_calls: list[str] = []
    original_declined = rows.canonicalize_declined
    monkeypatch.setattr(rows, "canonicalize_declined", lambda db: sql_calls.append("x") or original_declined(db))
    (tmp_path / "in").mkdir()
    shards = [tmp_path / "in" / f"s{i}.parquet" for i in range(2)]
    for i, path in enumerate(shards):
        _shard(path, 150 + 37 * i)
    texts = {
        "d.txt": ("domain", "bad.example\n1.2.3.4\n", "drop"),
        "u.txt": ("url", "evil.example/path/x.jpg\n", "flag"),
        "a.txt": ("domain", "good.bad.example\n", "allow"),
    }
    lists = []
    for name, (kind, text, action) in texts.items():
        (tmp_path / name).write_text(text)
        lists.append(ListSpec(tmp_path / name, kind=kind, action=action))
    general = _scan(tmp_path, "general", shards, tuple(lists), monkeypatch, one_pass=False)
    calls: list[str] = []
    original = onepass.scan_shard
    monkeypatch.setattr(onepass, "scan_shard", lambda *a, **k: calls.append("x") or original(*a, **k))
    one = _scan(tmp_path, "one", shards, tuple(lists), monkeypatch, one_pass=True)
    assert calls == ["x", "x"]  # both shards took the one-pass path
    assert (len(sql_calls) > 0) == (reference_at_most == 0)  # the way under test was the way taken
    assert one[0] == general[0]
    assert one[1] == general[1]
    assert one[2] == general[2]
    entry = one[2][0]
    assert entry["rows_dropped"] > 0 and entry["rows_flagged"] > 0 and entry["rows_allowed"] > 0
    assert entry["null_urls"] > 0 and entry["invalid_urls"] > 0


def test_a_hashed_list_or_licence_column_takes_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from provscan.config import ListSpec

    shard = tmp_path / "s.parquet"
    _shard(shard, 30)
    (tmp_path / "h.txt").write_text(hashlib.sha256(b"bad.example/").hexdigest() + "\n")
    calls: list[str] = []
    monkeypatch.setattr(onepass, "scan_shard", lambda *a, **k: calls.append("x"))
    provscan.scan(
        [shard], output=tmp_path / "out", lists=(ListSpec(tmp_path / "h.txt", kind="url-sha256", action="drop"),)
    )
    assert calls == []


@pytest.mark.parametrize("one_pass", [True, False], ids=["one-pass", "general"])
@pytest.mark.parametrize("bad", [b"http://ok.example/\xfe", b"http://\xff.example/"], ids=["path", "host"])
def test_a_string_url_column_that_is_not_utf8_refuses_the_shard_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_pass: bool, bad: bytes
) -> None:
    """A file that breaks its own schema is refused, naming it, whichever path scans it: before,
    the one pass exported a row the kernel never declined unread, or failed with an engine error."""
    from provscan.config import ListSpec

    raw = pa.array([b"http://ok.example/", bad], pa.binary())
    shard = tmp_path / "s.parquet"
    pq.write_table(pa.table({"url": pa.Array.from_buffers(pa.string(), 2, raw.buffers())}), shard)
    (tmp_path / "d.txt").write_text("bad.example\n")
    monkeypatch.setenv("PROVSCAN_ONE_PASS", "1" if one_pass else "0")
    with pytest.raises(ShardError, match="s.parquet") as caught:
        provscan.scan([shard], output=tmp_path / "out", lists=(ListSpec(tmp_path / "d.txt", kind="domain"),))
    assert "UTF" in str(caught.value) or "utf" in str(caught.value)


_PIECES = [
    "http://",
    "HTTPS://",
    "a.example",
    "B.bad.example",
    "x_y.example",
    "1.2.3.4",
    "[::1]",
    ":80",
    "/",
    "//",
    "/p",
    "%41",
    "%2E",
    "%2525",
    "%zz",
    "?",
    "q=1",
    "#f",
    " ",
    "\t",
    "..",
    "\u00fc",
    "@",
    "\\",
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=8).map("".join), min_size=1, max_size=40))
@example(
    ["", " ", "\t", " \t\n\v\f\r", "\u00a0", "\u2003 ", "not a url", "http://a.example/%41", "http://\u00fc.example/"]
)
def test_the_reference_alone_equals_the_sql_passes(texts: list[str]) -> None:
    """What lets a few declined URLs skip DuckDB: the parts and the blank / invalid counts agree."""
    from provscan.io.db import Database

    row = pa.array(range(len(texts)), pa.int64())
    url = pa.array(texts, pa.large_string())
    with Database(threads=1) as db:
        by_sql, blank_sql, invalid_sql = onepass._sql_passes(db, row, url)
    alone, blank, invalid = rows.reference_parts(row, url)
    assert (blank, invalid) == (blank_sql, invalid_sql)
    assert alone.to_pylist() == by_sql.sort_by("row").cast(alone.schema).to_pylist()
