"""The DuckDB engine must find exactly what the pure-Python reference finds, row by row.

The engine takes shortcuts for speed (SQL fast-path canonicalization, joins over distinct hosts,
expansion only of candidate rows); the reference (``provscan.urls.canonical``) is the definition. Hypothesis
generates URLs and lists from a small vocabulary so that matches are frequent.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provscan.config import ListSpec
from provscan import scan
from provscan.urls.canonical import canonicalize, entry_expression, expressions, host_suffixes, normalize_host

from conftest import eval_path

HOSTS = [
    "a.example",
    "b.a.example",
    "c.b.a.example",
    "A.Example",
    "xn--bcher-kva.example",
    "bücher.example",
    "10.0.0.1",
    "0x0a.0.0.1",
    "other.test",
    "a.example.",
]
SEGMENTS = ["x", "y", "img", "a b", "%41", "%e4", "..", ".", "", "Z%2F"]
SCHEMES = ["http://", "https://", "HTTP://", "", "ftp://"]

segment_lists = st.lists(st.sampled_from(SEGMENTS), max_size=4)


@st.composite
def urls(draw) -> str | None:
    if draw(st.integers(0, 20)) == 0:
        return draw(st.sampled_from([None, "", "UNLIKELY", "http://", " "]))
    path = "/".join(draw(segment_lists))
    query = draw(st.sampled_from(["", "?", "?q=1", "?q=1&r=%20"]))
    frag = draw(st.sampled_from(["", "#f"]))
    port = draw(st.sampled_from(["", ":80", ":8080"]))
    return f"{draw(st.sampled_from(SCHEMES))}{draw(st.sampled_from(HOSTS))}{port}/{path}{query}{frag}"


@st.composite
def url_entries(draw) -> str:
    host = draw(st.sampled_from(HOSTS))
    path = "/".join(draw(segment_lists))
    tail = draw(st.sampled_from(["/", "", "?q=1"]))
    return f"{host}/{path}{tail}" if path else f"{host}/"


def reference(
    rows: list[str | None], domains: list[str], url_list: list[str], hashed: list[str]
) -> set[tuple[int, str, str]]:
    dom: dict[str, str] = {}
    for d in domains:  # a list keeps the first line of a repeated value
        if (h := normalize_host(d)) is not None:
            dom.setdefault(h, d)
    exprs: dict[str, str] = {}
    for u in url_list:
        if (e := entry_expression(u)) is not None:
            exprs.setdefault(e, u)
    hashes = set(hashed)
    found = set()
    for i, url in enumerate(rows):
        canon = canonicalize(url) if url is not None else None
        if canon is None:
            continue
        for suffix in host_suffixes(canon.host, min_labels=1):
            if suffix in dom:
                found.add((i, "dom", dom[suffix]))
        for e in expressions(canon):
            if e in exprs:
                found.add((i, "url", exprs[e]))
            h = hashlib.sha256(e.encode()).hexdigest()
            if h in hashes:
                found.add((i, "hashed", h))
    return found


def _engine(
    tmp: Path, shard: Path, domains: list[str], url_list: list[str], hashed: list[str]
) -> set[tuple[int, str, str]]:
    """What a scan with these three lists (named dom, url, hashed) flags, as (row, list, entry)."""
    specs = []
    for name, kind, entries in (("dom", "domain", domains), ("url", "url", url_list), ("hashed", "url-sha256", hashed)):
        p = tmp / f"{name}.txt"
        p.write_text("\n".join(entries) + "\n", encoding="utf-8")
        specs.append(ListSpec(p, kind=kind, name=name))
    result = scan([shard], lists=tuple(specs), output=tmp / "out", export=False)
    flagged = pq.read_table(result.output / "flagged.parquet").to_pydict()
    return set(zip(flagged["row"], flagged["list"], flagged["entry"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(urls(), min_size=1, max_size=40),
    domains=st.lists(st.sampled_from(HOSTS), min_size=1, max_size=3, unique=True),
    url_list=st.lists(url_entries(), min_size=1, max_size=6, unique=True),
    hashed_from=st.lists(url_entries(), min_size=1, max_size=4),
)
def test_engine_equals_reference(tmp_path_factory, rows, domains, url_list, hashed_from) -> None:
    tmp = tmp_path_factory.mktemp("ref")
    shard = tmp / "s.parquet"
    pq.write_table(pa.table({"url": pa.array(rows, pa.string())}), shard)
    hashed = sorted({hashlib.sha256(e.encode()).hexdigest() for u in hashed_from if (e := entry_expression(u))})
    assert _engine(tmp, shard, domains, url_list, hashed) == reference(rows, domains, url_list, hashed)


def test_engine_equals_reference_on_real_laion_sample(tmp_path: Path) -> None:
    """Every row of the 10 k LAION sample against lists drawn from its own hosts and paths."""
    shard = eval_path("corpora", "img2dataset", "test_10000.parquet")
    rows = pq.read_table(shard, columns=["URL"]).column("URL").to_pylist()
    canon = [canonicalize(u) for u in rows if u]
    canon = [c for c in canon if c]
    domains = sorted({c.host.split(".", 1)[-1] for c in canon[::37]})
    url_list = sorted(
        {c.host + c.path for c in canon[::53]}
        | {c.host + "/" + c.path.split("/")[1] + "/" for c in canon[::71] if c.path.count("/") > 1}
    )
    hashed = sorted({hashlib.sha256(c.expression.encode()).hexdigest() for c in canon[::97]})
    expected = reference(rows, domains, url_list, hashed)
    assert len(expected) > 1000
    assert _engine(tmp_path, shard, domains, url_list, hashed) == expected
