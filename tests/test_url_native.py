"""The native simple-URL kernel must equal the SQL fast path row for row, and so the reference.

The kernel re-implements ``SIMPLE_URL_PATTERN`` and ``fast_parts_sql`` in C over Arrow buffers;
any row where it takes a URL the SQL declines (or the reverse), or cuts it differently, fails here.
benchmarks/fuzz_native.py runs the same comparison under atheris.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provscan.urls import native
from provscan.urls.canonical import canonicalize
from provscan.urls.sql import fast_parts_sql

from test_url_sql import _ESC_URL, SAMPLE, _urls

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason="native kernel not built (pip install -e .)")


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _sql(con: duckdb.DuckDBPyConnection, urls: pa.Array) -> list[tuple]:
    parts = fast_parts_sql("u")
    rel = con.from_arrow(pa.table({"u": urls, "i": range(len(urls))}))  # noqa: F841
    return con.sql(f"SELECT {parts['host']}, {parts['path']}, {parts['query']} FROM rel ORDER BY i").fetchall()


def _check(con: duckdb.DuckDBPyConnection, urls: pa.Array) -> int:
    taken, host, path, query = native.simple_parts(urls)
    got = list(zip(host.to_pylist(), path.to_pylist(), query.to_pylist()))
    want = _sql(con, urls)
    for url, g, w in zip(urls.to_pylist(), got, want, strict=True):
        assert g == w, url
        if g[0] is not None:
            c = canonicalize(url)
            assert c is not None and g == (c.host, c.path, c.query), url
    assert taken == sum(g[0] is not None for g in got)
    return taken


_NOISE = st.text(st.sampled_from("hHtTpPsS:/.?#%aZ0-_9A2F7e~ \x00\xff\u017f"), max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_urls(), _ESC_URL, _NOISE, st.none()), min_size=1, max_size=60))
def test_kernel_equals_sql_fast_path(con: duckdb.DuckDBPyConnection, urls: list[str | None]) -> None:
    _check(con, pa.array(urls, pa.string()))


def test_large_string_slices_and_chunks(con: duckdb.DuckDBPyConnection) -> None:
    urls = ["http://A.com./x?q#f", None, "http://a.com//x", "HTTPS://b.c:8/%41", "https://x.y/%20?%2F", "http://a.b/.."]
    arr = pa.array(urls * 3, pa.large_string())
    assert _check(con, arr.slice(2, 9)) == _check(con, pa.array((urls * 3)[2:11], pa.string()))
    taken, host, _, _ = native.simple_parts(pa.chunked_array([arr.slice(0, 4), arr.slice(4)]))
    assert taken == 3 and host.to_pylist()[:2] == ["a.com", None]
    assert native.simple_parts(pa.array([], pa.string()))[0] == 0


def test_cuts_by_hand() -> None:
    _, host, path, query = native.simple_parts(
        pa.array(["HTTP://Ex-1.A.com.:80?#x", "http://a.com/%E4%20/..x/.y/...?", "http://a.com/./x", "httpſ://a.com/"])
    )
    assert list(zip(host.to_pylist(), path.to_pylist(), query.to_pylist())) == [
        ("ex-1.a.com", "/", ""),
        ("a.com", "/%E4%20/..x/.y/...", ""),
        (None, None, None),
        (None, None, None),
    ]


@pytest.mark.eval_data("corpora", "img2dataset", "test_10000.parquet")
def test_real_laion_sample(con: duckdb.DuckDBPyConnection) -> None:
    urls = pq.read_table(SAMPLE, columns=["URL"]).column("URL").combine_chunks()
    assert _check(con, urls) == 9485  # the SQL fast path's 94.85 %


def _check_hosts(urls: pa.Array) -> int:
    """simple_hosts: every host it gives is the reference's canonical host of a valid URL, and it
    gives one wherever simple_parts does (the same one)."""
    taken, hosts = native.simple_hosts(urls)
    _, full, _, _ = native.simple_parts(urls)
    for url, host, simple in zip(urls.to_pylist(), hosts.to_pylist(), full.to_pylist(), strict=True):
        if simple is not None:
            assert host == simple, url
        if host is not None:
            c = canonicalize(url)
            assert c is not None and c.host == host, url
    assert taken == sum(h is not None for h in hosts.to_pylist())
    return taken


# Paths and queries the fast class declines: escapes that decode to delimiters, '@', '//' and dot
# segments, raw spaces and non-ASCII, tabs: none may move the host.
_TAIL = st.text(st.sampled_from("/?#%@:.2F3f4023aZ \t\u00e9\\"), max_size=24)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(_urls(), _ESC_URL, _NOISE, st.builds(lambda u, t: u + t, _urls(), _TAIL), st.none()), max_size=60
    )
)
def test_hosts_are_the_references(urls: list[str | None]) -> None:
    _check_hosts(pa.array(urls, pa.string()))


def test_hosts_by_hand() -> None:
    urls = [
        "http://A.com/x%2F%2E%2E/%40evil.com",  # path declined, host kept
        "http://a.com%2Fb.com/",  # an escape in the authority: declined
        "http://a.com:80%2F/",  # a port that does not end at a delimiter
        "http://a.com?x=%23#y",
        "http://a.com\\@b.com/",
        "http://a.com/ \u00e9 ",
        "http://a.c\tom/",
        "http://product_images.s3.amazonaws.com/x.jpg",  # '_' is left to the SQL pass
        None,
    ]
    _, hosts = native.simple_hosts(pa.array(urls, pa.large_string()).slice(0))
    assert hosts.to_pylist() == ["a.com", None, None, "a.com", None, "a.com", None, None, None]
    assert _check_hosts(pa.array(urls)) == 3


@pytest.mark.eval_data("corpora", "img2dataset", "test_10000.parquet")
def test_hosts_of_the_real_laion_sample() -> None:
    urls = pq.read_table(SAMPLE, columns=["URL"]).column("URL").combine_chunks()
    assert _check_hosts(urls) == 9996  # 511 of the 515 URLs simple_parts declines keep their host
