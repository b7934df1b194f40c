"""provscan.urls.sql in real DuckDB must agree with the pure-Python reference in provscan.urls.canonical."""

from __future__ import annotations


import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import EVAL
from hypothesis import given, settings
from hypothesis import strategies as st

from provscan.stages.url import _ROW_KEYS, _SHARED_KEYS
from provscan.urls.canonical import Canonical, canonicalize, expressions, host_suffixes, path_prefixes
from provscan.urls.sql import (
    ESCAPED_URL_PATTERN,
    SIMPLE_URL_PATTERN,
    candidate_keys_cte,
    escaped_parts_select,
    fast_parts_sql,
    path_keys_sql,
    suffixes_sql,
)

SAMPLE = EVAL / "corpora/img2dataset/test_10000.parquet"


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _fast(con: duckdb.DuckDBPyConnection, urls: list[str | None]) -> list[tuple]:
    parts = fast_parts_sql("u")
    rel = con.from_arrow(pa.table({"u": pa.array(urls, pa.string()), "i": range(len(urls))}))  # noqa: F841 (read by name: FROM rel)
    sql = f"SELECT u, {parts['host']}, {parts['path']}, {parts['query']} FROM rel ORDER BY i"
    return con.sql(sql).fetchall()


def _escaped(con: duckdb.DuckDBPyConnection, urls: list[str | None]) -> dict[int, tuple]:
    """{index: (host, path, query)} for the URLs the escaped pass takes among those the fast path declines."""
    parts = fast_parts_sql("url")
    rel = con.from_arrow(pa.table({"url": pa.array(urls, pa.string()), "row": range(len(urls))}))  # noqa: F841
    declined = f"(SELECT row, url FROM rel WHERE {parts['host']} IS NULL AND url IS NOT NULL)"
    return {row: tuple(r) for row, *r in con.sql(escaped_parts_select(declined)).fetchall()}


def _check_escaped(con: duckdb.DuckDBPyConnection, urls: list[str | None]) -> int:
    """Assert every row the escaped pass takes equals canonicalize(); return how many it took."""
    taken = _escaped(con, urls)
    for row, parts in taken.items():
        c = canonicalize(urls[row])
        assert c is not None and parts == (c.host, c.path, c.query), urls[row]
    return len(taken)


def _check_fast(con: duckdb.DuckDBPyConnection, urls: list[str | None]) -> int:
    """Assert every row the fast path takes equals canonicalize(); return how many it took."""
    taken = 0
    for url, host, path, query in _fast(con, urls):
        if host is None:
            assert path is None and query is None
            continue
        taken += 1
        c = canonicalize(url)
        assert c is not None and (host, path, query) == (c.host, c.path, c.query), url
    return taken


# A URL grammar whose pieces straddle the simple class: case, ports, escapes kept or decoded,
# upper or lower hex, dot segments, userinfo, IPs, non-ASCII, whitespace, fragments. Each piece is
# usually simple (listed several times) so that about a third of the URLs take the fast path.
def _mostly(simple: list[str], tricky: list[str], weight: int = 4) -> st.SearchStrategy[str]:
    return st.sampled_from(simple * weight * max(1, len(tricky) // max(len(simple), 1)) + tricky)


_SCHEMES = _mostly(
    ["http://", "https://", "HTTP://", "hTtPs://"], ["ftp://", "//", "", "http:/", " http://", "httpſ://"]
)
_LABEL = _mostly(["a", "Ex-1", "b2", "xn--mlat-zra", "-"], ["9", "0x7f", "1", "ü", "%41", "a_b", "", "中"], 12)
_HOST = st.lists(_LABEL, min_size=1, max_size=5).map(".".join) | st.sampled_from(["1.2.3.4", "[::1]", "a.com."])
_SEG = _mostly(
    ["x", "IMG.jpg", "...", ".a", "%20", "%E4", "a:b", "@", "~!$&'()*+,;=", "[x]", "%23", "%7F"],
    [".", "..", "", "%e4", "%2F", "%2E", "%25", "%41", "%", "%zz", "%1b", "ü", " ", "\t", "%3F", "a b"],
    weight=8,
)
_PATH = st.lists(_SEG, max_size=5).map(lambda s: "/" + "/".join(s)) | st.just("")
_QUERY = st.none() | st.lists(_SEG | st.sampled_from(["=", "&", "?", "/", "//", "q=1"]), max_size=4).map("".join)
_FRAG = st.none() | st.sampled_from(["", "frag", "a b", "x?y#z", "ü"])


@st.composite
def _urls(draw: st.DrawFn) -> str:
    url = draw(_SCHEMES) + draw(_mostly([""], ["user:pw@", "@"])) + draw(_HOST)
    url += draw(_mostly(["", ":80"], [":", ":x"])) + draw(_PATH)
    query, frag = draw(_QUERY), draw(_FRAG)
    return url + ("" if query is None else "?" + query) + ("" if frag is None else "#" + frag)


@settings(max_examples=60, deadline=None)
@given(st.lists(_urls(), min_size=1, max_size=60))
def test_fast_path_equals_canonicalize(con: duckdb.DuckDBPyConnection, urls: list[str]) -> None:
    _check_fast(con, urls)


# Escape-heavy URLs: escapes of every kind, nested '%25', both hex cases, invalid UTF-8, escaped
# '/', '?', '#', '.', spaces, '//' and dot segments, around a simple host.
_ESC_PIECE = st.sampled_from(
    [
        "%2F",
        "%2f",
        "%3F",
        "%3f",
        "%23",
        "%25",
        "%2525",
        "%252F",
        "%2E",
        "%2e",
        "%20",
        "%41",
        "%7E",
        "%7F",
        "%00",
        "%09",
        "%C3%A9",
        "%E4",
        "%25E4",
        "%25C3%25A9",
        "%",
        "%4",
        "%zz",
        "/",
        "//",
        ".",
        "..",
        "?",
        "a",
        "Z",
        "+",
        "=",
        "&",
        ":",
        "@",
        "~",
        ",",
        "'",
        "-",
        "_",
    ]
)
_ESC_URL = st.builds(
    lambda scheme, host, tail, frag: scheme + host + tail + frag,
    st.sampled_from(["http://", "HTTPS://"]),
    st.sampled_from(["a.com", "A.b-c.COM", "x_y.a.com", "a.com.", "a.com:80", "1.2.3.4", "a.1"]),
    st.lists(_ESC_PIECE, max_size=12).map("".join).map(lambda t: t if t[:1] in ("", "/", "?") else "/" + t),
    st.sampled_from(["", "#", "#%2F", "#a b"]),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(_urls() | _ESC_URL, min_size=1, max_size=60))
def test_escaped_pass_equals_canonicalize(con: duckdb.DuckDBPyConnection, urls: list[str]) -> None:
    _check_escaped(con, urls)


def test_escaped_pass_takes_and_declines(con: duckdb.DuckDBPyConnection) -> None:
    taken = {
        "http://a.com/x%2Fy%2cz?q=%3a%2F#f": ("a.com", "/x/y,z", "q=:/"),
        "http://a.com/p%3Fq%23r%2520s": ("a.com", "/p", "q%23r%20s"),
        "http://a.com//a///b//?x//y": ("a.com", "/a/b/", "x//y"),
        "http://a_b.Example.com.:8/%252541": ("a_b.example.com", "/A", None),
        "http://a.com/%25%25zz/%2541%": ("a.com", "/%25%25zz/A%25", None),
        "https://a.com?%2F..%2F": ("a.com", "/", "/../"),
    }
    declined = [
        "http://a.com/%E4",
        "http://a.com/%25E4",
        "http://a.com/%C3%A9",
        "http://a.com/%2e%2e/x",
        "http://a.com/x/%2E",
        "http://a.com/%09",
        "http://a.com/%7F",
        "http://a.com/%25252541",
        "http://a.com/a b",
        "http://1.2.3.4/%41",
        "http://u@a.com/%41",
        "http://a%41.com/",
        "http://ü.com/%41",
        "httpſ://a.com/%41",
        "httpſ://a.com//x",
    ]
    urls = list(taken) + declined
    got = _escaped(con, urls)
    assert got == {i: parts for i, parts in enumerate(taken.values())}
    assert _check_escaped(con, urls) == len(taken)


def test_escaped_pattern_has_no_capture_groups() -> None:
    assert "(" not in ESCAPED_URL_PATTERN.replace("(?:", "").replace("(?s:", "")


def test_fast_path_takes_and_declines(con: duckdb.DuckDBPyConnection) -> None:
    taken = [
        "http://Example.COM/a/b.jpg?x=1&y=%20#frag",
        "HTTPS://cdn.a-b.example.com.:8080",
        "http://a.com?q",
        "http://a.com/%E4%20/..x/.y/...?",
        "http://a.com/x#frag with space ü",
    ]
    declined = [
        "http://1.2.3.4/",
        "http://a.com/%e4",
        "http://a.com/%41",
        "http://a.com/%25",
        "http://a.com//x",
        "http://a.com/./x",
        "http://a.com/x/..",
        "http://u@a.com/",
        "ftp://a.com/",
        "a.com/x",
        "UNLIKELY",
        " http://a.com/",
        "http://a.com/ x",
        "http://ü.com/",
        "http://a..com/",
        "http://a.123/",
        None,
        "httpſ://a.com/x",
        "HTTPſ://a.com/x",  # RE2's (?i) folds U+017F to 's': the scheme is spelled out
    ]
    rows = _fast(con, taken + declined)
    assert [r[1] is not None for r in rows] == [True] * len(taken) + [False] * len(declined)
    assert rows[0][1:] == ("example.com", "/a/b.jpg", "x=1&y=%20")
    assert rows[1][1:] == ("cdn.a-b.example.com", "/", None)
    assert rows[2][1:] == ("a.com", "/", "q")
    assert rows[3][1:] == ("a.com", "/%E4%20/..x/.y/...", "")
    assert _check_fast(con, taken + declined) == len(taken)


def test_simple_pattern_has_no_capture_groups() -> None:
    # Capture groups would push RE2 off its DFA; every '(' must open a non-capturing group.
    assert "(" not in SIMPLE_URL_PATTERN.replace("(?:", "").replace("(?s:", "")
    assert "(?i" not in SIMPLE_URL_PATTERN + ESCAPED_URL_PATTERN  # RE2 case folding is Unicode-wide


def _sql_lists(con: duckdb.DuckDBPyConnection, rows: list[Canonical | None]) -> list[tuple]:
    """Per row, from the SQL the URL and licence stages run (stages/url.py, stages/license.py):
    host suffixes (1, 2, 3 labels), the path keys of ``path_keys_sql`` (all keys, and the shared and
    per-row halves url.py runs separately), and the expressions ``candidate_keys_cte`` yields when
    the entry hosts are every suffix of every row's host (so no row is cut by the host filter)."""
    cols = {k: pa.array([getattr(c, k) if c else None for c in rows], pa.string()) for k in ("host", "path", "query")}
    con.register("rows_in", pa.table({"row": pa.array(range(len(rows)), pa.int64()), **cols}))
    con.execute("CREATE OR REPLACE TEMP TABLE raw AS SELECT * FROM rows_in")
    con.unregister("rows_in")
    suffixes = sorted({s for c in rows if c for s in host_suffixes(c.host)})
    con.register("entry_hosts", pa.table({"host": pa.array(suffixes, pa.string())}))
    con.execute("CREATE OR REPLACE TEMP TABLE ent AS SELECT * FROM entry_hosts")
    con.unregister("entry_hosts")

    def keys(sql: str) -> dict[int, list[str]]:
        return dict(con.sql(f"SELECT row, list(key) FROM ({sql}) GROUP BY row").fetchall())

    where = "raw WHERE host IS NOT NULL"
    all_keys, shared, own = (
        keys(path_keys_sql(where)),
        keys(path_keys_sql(where, _SHARED_KEYS)),
        keys(path_keys_sql(where, _ROW_KEYS)),
    )
    exprs = dict(
        con.sql(f"WITH {candidate_keys_cte('ent')} SELECT row, list(h || key) FROM ck GROUP BY row").fetchall()
    )
    sfx = con.sql(
        f"SELECT {suffixes_sql('host', 1)}, {suffixes_sql('host', 2)}, {suffixes_sql('host', 3)} FROM raw ORDER BY row"
    ).fetchall()
    return [(*sfx[i], all_keys.get(i), shared.get(i, []) + own.get(i, []), exprs.get(i)) for i in range(len(rows))]


def _check_lists(con: duckdb.DuckDBPyConnection, canon: list[Canonical | None]) -> None:
    for c, (s1, s2, s3, keys, split_keys, exprs) in zip(canon, _sql_lists(con, canon), strict=True):
        if c is None:
            assert (s1, s2, s3, keys, split_keys, exprs) == (None, None, None, None, [], None)
            continue
        assert [s1, s2, s3] == [host_suffixes(c.host, min_labels=m) for m in (1, 2, 3)], c
        assert set(keys) == set(split_keys) == set(path_prefixes(c.path, c.query)), c
        assert set(exprs) == set(expressions(c)), c


_CANON_URL = st.one_of(
    _urls(),
    st.builds(
        lambda labels, segs, q: f"http://{'.'.join(labels)}/{'/'.join(segs)}" + ("" if q is None else f"?{q}"),
        st.lists(st.sampled_from(["a", "b", "c", "xn--d", "1"]), min_size=1, max_size=12),
        st.lists(st.sampled_from(["x", "y.html", "", "."]), max_size=7),
        st.none() | st.sampled_from(["", "q", "a=1/2"]),
    ),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_CANON_URL, min_size=1, max_size=40))
def test_suffixes_and_expressions_equal_python(con: duckdb.DuckDBPyConnection, urls: list[str]) -> None:
    _check_lists(con, [canonicalize(u) for u in urls])


def test_lists_on_ips_long_hosts_and_nulls(con: duckdb.DuckDBPyConnection) -> None:
    hosts = ["1.2.3.4", "[::1]", "b", "a.b.c.d.e.f.g.h.i.j.k", "a.b.c.d.e.f.g.h", "1.2.3.4.5"]
    canon = [Canonical("http", h, p, q) for h in hosts for p, q in [("/", None), ("/a/b/c/d/e", "q"), ("/a/", "")]]
    _check_lists(con, [*canon, None])


@pytest.mark.parametrize("names", [("l", "c", "x"), ("x", "h", "p"), ("s", "k", "l")])
def test_column_names_do_not_clash_with_lambdas(con: duckdb.DuckDBPyConnection, names: tuple[str, str, str]) -> None:
    h, p, q = names
    sql = f"SELECT {suffixes_sql(h, 1)}, {suffixes_sql(h, 2)} FROM (SELECT 'a.b.c' {h}, '/d/e' {p}, 'f' {q})"
    assert con.sql(sql).fetchall()[0] == (["a.b.c", "b.c", "c"], ["a.b.c", "b.c"])


def test_split_keys_cover_every_key() -> None:
    # stages/url.py runs path_keys_sql twice, shared then per-row keys: together they must be all keys.
    assert sorted(_SHARED_KEYS + _ROW_KEYS) == [0, 1, 2, 3, 4, 5]


@pytest.mark.eval_data("corpora", "img2dataset", "test_10000.parquet")
def test_laion_sample_fast_path_agrees(con: duckdb.DuckDBPyConnection) -> None:
    urls = pq.read_table(SAMPLE, columns=["URL"]).column("URL").to_pylist()
    assert len(urls) == 10_000 and "UNLIKELY" in urls and max(map(len, urls)) > 3000
    taken = _check_fast(con, urls)
    assert taken / len(urls) > 0.93  # measured 94.9 %: most LAION URLs are simple
    escaped = _check_escaped(con, urls)
    assert taken + escaped > 0.99 * len(urls)  # measured 94.85 % + 4.96 %: 19 rows are left to Python
    canon = [canonicalize(u) for u in urls[:2000]]
    _check_lists(con, canon)


def test_the_native_kernel_is_built_wherever_a_compiler_is() -> None:
    """Without a compiler the SQL fast path serves (same results); with one, a missing kernel is a
    broken install that would silently cost the scan its speed (test_url_native.py would skip)."""
    import shutil

    from provscan.urls import native

    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no C compiler on this machine: the SQL fast path is used")
    assert native.AVAILABLE
