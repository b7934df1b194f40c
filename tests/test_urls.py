"""provscan.urls.canonical against the Safe Browsing v4 test vectors, plus properties over arbitrary text."""

from __future__ import annotations

import codecs
import csv
import hashlib
from urllib.parse import unquote_to_bytes

import pytest
from conftest import EVAL
from hypothesis import given, settings
from hypothesis import strategies as st

from provscan.urls import canonical as urls
from provscan.urls.canonical import (
    Canonical,
    canonicalize,
    entry_expression,
    expression_sha256,
    expressions,
    host_suffixes,
    normalize_host,
    parse_ipv4,
    path_prefixes,
)

VECTORS = EVAL / "safebrowsing"  # tests parametrized from it are empty (skipped) when it is absent


def _rows(name: str) -> list[dict[str, str]]:
    if not VECTORS.is_dir():
        return []
    with open(VECTORS / name, newline="", encoding="ascii") as f:
        return list(csv.DictReader(f))


def _decode(field: str) -> str:
    """README §2: escapes are raw bytes; a lone 0x80 stays a byte via surrogateescape."""
    return codecs.escape_decode(field.encode("ascii"))[0].decode("utf-8", "surrogateescape")


def _ids(rows: list[dict[str, str]]) -> list[str]:
    return [r["input"][:60] for r in rows]


CANON, EXPR, COMP = _rows("canonicalization.csv"), _rows("expressions.csv"), _rows("components.csv")


@pytest.mark.eval_data("safebrowsing")
def test_vector_counts() -> None:
    assert (len(CANON), len(EXPR), len(COMP)) == (56, 17, 40)


@pytest.mark.parametrize("row", CANON, ids=_ids(CANON))
def test_canonicalization_vector(row: dict[str, str]) -> None:
    c = canonicalize(_decode(row["input"]))
    assert (c.url if c else "") == row["canonical"]


def _labels(expression: str) -> int:
    return expression.split("/", 1)[0].count(".") + 1


@pytest.mark.parametrize("row", EXPR, ids=_ids(EXPR))
def test_expression_vector(row: dict[str, str]) -> None:
    c = canonicalize(_decode(row["input"]))
    if not row["expressions"]:
        assert c is None
        return
    expected = set(row["expressions"].split())
    got = expressions(c)
    assert len(got) == len(set(got))
    assert expected <= set(got)
    hosts = {e.split("/", 1)[0] for e in expected}
    paths = {"/" + e.split("/", 1)[1] for e in expected}
    # The only extras: more host suffixes (never a bare TLD) and the row's own bare-'?' expression.
    for extra in set(got) - expected:
        host, path = extra.split("/", 1)
        assert host in host_suffixes(c.host) and _labels(extra) >= 2 or extra == c.expression
        assert "/" + path in paths or extra == c.expression
    if "sb-v4-doc" in row["source"]:  # the doc's minimum, exactly, on the doc's own hosts
        assert {e for e in got if e.split("/", 1)[0] in hosts} == expected


def test_doc_example_skips_nothing_go_lists() -> None:
    got = set(expressions(canonicalize("http://a.b.c.d.e.f.g.h.i/")))
    assert {"c.d.e.f.g.h.i/", "b.c.d.e.f.g.h.i/", "h.i/"} <= got and "i/" not in got


@pytest.mark.parametrize("row", COMP, ids=[f"{r['table']}:{r['input'][:40]}" for r in COMP])
def test_component_vector(row: dict[str, str]) -> None:
    text, want, table = _decode(row["input"]), row["expected"], row["table"]
    if table == "TestParseIPAddress":
        assert parse_ipv4(text) == (want or None)
        return
    c = canonicalize(text)
    if not want:
        assert c is None
    elif table == "TestCanonicalHost":
        assert c.host == want
    elif table == "TestCanonicalPath":
        assert c.path == want
    elif table == "TestGenerateLookupHosts":
        got = host_suffixes(c.host)
        assert [h for h in got if h == c.host or h.count(".") < 7] == want.split()
    else:
        assert sorted(path_prefixes(c.path, c.query)) == sorted(want.split())


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("HTTP://user:pw@WWW.Example.COM:8080/a/./b/../c?x#y", "http://www.example.com/a/c?x"),
        ("http://a.com/a/b/..", "http://a.com/a/"),
        ("http://a.com/x%2F..%2Fy", "http://a.com/y"),
        ("http://a.com/p%3Fq", "http://a.com/p?q"),
        ("http://a.com?x", "http://a.com/?x"),
        ("//a.com/x", "http://a.com/x"),
        ("example.com:8080/x", "http://example.com/x"),
        ("http://👍.ws/", "http://xn--yp8h.ws/"),
        ("http://ＥＸＡＭＰＬＥ。com/", "http://example.com/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://a.com/%e4%20", "http://a.com/%E4%20"),
        ("http://a.com/ü", "http://a.com/%C3%BC"),
        ("http://localhost:80/", "http://localhost/"),
        ("3279880203/x", "http://195.127.0.11/x"),
    ],
)
def test_canonicalize_examples(url: str, want: str) -> None:
    assert canonicalize(url).url == want


@pytest.mark.parametrize(
    "url",
    [
        "mailto:a@b.com",
        "javascript:alert(1)",
        "http:/x",
        "http://a.com:8x/",
        "http://[::1/",
        "tel:123",
        "///x",
        "UNLIKELY",
        "localhost:8080",
    ],
)
def test_canonicalize_rejects(url: str) -> None:
    assert canonicalize(url) is None


def test_canonical_parts() -> None:
    c = canonicalize("https://A.b/p?")
    assert c == Canonical("https", "a.b", "/p", "") and c.expression == "a.b/p?" and c.url == "https://a.b/p?"
    assert canonicalize("http://a.b/p").query is None


def test_host_suffixes_and_paths() -> None:
    assert host_suffixes("a.b.c") == ["a.b.c", "b.c"]
    assert host_suffixes("a.b.c", min_labels=1) == ["a.b.c", "b.c", "c"]
    assert host_suffixes("localhost") == ["localhost"]
    assert host_suffixes("1.2.3.4", min_labels=1) == ["1.2.3.4"] and host_suffixes("[::1]") == ["[::1]"]
    assert path_prefixes("/", None) == ["/"]
    assert path_prefixes("/a/b", "") == ["/", "/a/", "/a/b", "/a/b?"]
    assert len(path_prefixes("/1/2/3/4/5/6.html", "q")) == 6


def test_entries_and_domains() -> None:
    assert entry_expression("example.com") == "example.com/"
    assert entry_expression("HTTPS://Example.com/Dir/") == "example.com/Dir/"
    assert entry_expression("evil.com/p?q=1#x") == "evil.com/p?q=1"
    assert entry_expression("/nohost") is None and entry_expression("") is None
    assert entry_expression("intranet/x") == "intranet/x" and entry_expression("localhost:8080") == "localhost/"
    assert entry_expression("mailto:someone@example.com") is None and canonicalize("intranet/x") is None
    assert normalize_host("Bücher.DE.") == "xn--bcher-kva.de"
    assert normalize_host("0x7f.1") == "127.0.0.1"
    for bad in ["a b.com", "a..com", ".a.com", "a.com/x", "", "user@a.com", "a.com:80", "%41.com"]:
        assert normalize_host(bad) is None, bad
    assert expression_sha256("a.b/") == hashlib.sha256(b"a.b/").hexdigest()


_URLISH = st.lists(
    st.sampled_from(
        [
            "http://",
            "HTTPS://",
            "ftp://",
            "//",
            "a",
            "B",
            ".",
            "..",
            "/",
            "%",
            "%2",
            "%25",
            "%2e",
            "%41",
            "%80",
            "?",
            "#",
            "@",
            ":",
            "80",
            "[",
            "]",
            "::1",
            " ",
            "\t",
            "ü",
            "\udc80",
            "\ud800",
            "0x7f",
            "1",
            "xn--",
            "-",
            "。",
            "\x00",
        ]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        _URLISH,
        # Raw bytes decoded as Arrow-less readers do: invalid UTF-8 becomes lone surrogates.
        st.binary(max_size=300).map(lambda b: b.decode("utf-8", "surrogateescape")),
        st.binary(min_size=3000, max_size=3500).map(lambda b: "http://a.com/" + b.decode("utf-8", "surrogateescape")),
        st.text(min_size=3000, max_size=3200).map(lambda s: "https://" + s),
    )
)
def test_canonicalize_total_and_idempotent(url: str) -> None:
    c = canonicalize(url)
    if c is None:
        return
    assert c.url.isascii() and c.host and c.path.startswith("/")
    assert canonicalize(c.url) == c
    got = expressions(c)
    assert c.expression in got and len(got) <= 6 * len(host_suffixes(c.host))
    assert entry_expression(c.url) == c.expression


def _naive_unescape(raw: bytes) -> bytes:
    while (new := unquote_to_bytes(raw)) != raw:
        raw = new
    return raw


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["%", "2", "5", "4", "1", "A", "a", "x", "f", "/"]), max_size=80).map("".join))
def test_unescape_fixpoint_of_repeated_passes(text: str) -> None:
    # The linear scan that takes over after 8 passes must reach the same fixpoint.
    assert urls._unescape_linear(text.encode()) == urls._unescape(text.encode()) == _naive_unescape(text.encode())


def test_deep_nesting_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    # 100 000 levels of %25: one full unquote pass per level would be quadratic. Counted, not timed:
    # at most 8 passes per component, then one linear scan.
    passes: list[int] = []
    linear: list[int] = []
    real_unquote, real_linear = urls.unquote_to_bytes, urls._unescape_linear
    monkeypatch.setattr(urls, "unquote_to_bytes", lambda raw: passes.append(len(raw)) or real_unquote(raw))
    monkeypatch.setattr(urls, "_unescape_linear", lambda raw: linear.append(len(raw)) or real_linear(raw))
    assert canonicalize("http://a.com/%" + "25" * 100_000 + "41").url == "http://a.com/A"
    assert len(passes) <= 8 * 3 and len(linear) <= 3
    assert linear  # the nesting is deep enough to need the linear scan
