"""List files: the real third-party lists, the format contract, errors with line numbers, round trips."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import EVAL, eval_path
from hypothesis import given, settings
from hypothesis import strategies as st

from provscan.errors import ConfigError, ListError, OutputError
from provscan.lists.formats import _domain_line, parse_lines
from provscan.lists.files import default_name, load_list, parse_list_arg, write_list
from provscan.urls.canonical import entry_expression, normalize_host

BL = ("blocklists",)


def data_lines(path: Path, comment: str = "#") -> list[str]:
    """Non-blank, non-comment lines, stripped: the independent count the loader must account for."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith(comment)]


def values(lst) -> list[str]:
    return lst.entries.column("value").to_pylist()


# ---------------------------------------------------------------- real lists

# Parametrized from what is on disk: without the evaluation data these are empty, so skipped.
UT1 = sorted(p.parent.name for p in EVAL.joinpath(*BL, "ut1").glob("*/domains"))
UT1_URLS = sorted(p.parent.name for p in EVAL.joinpath(*BL, "ut1").glob("*/urls"))


@pytest.mark.parametrize("category", UT1)
def test_ut1_domains_load_every_line(category):
    path = eval_path(*BL, "ut1", category, "domains")
    lst = load_list(path, kind="domain")
    expected = data_lines(path)
    assert lst.name == f"{category}-domains" and lst.action == "drop"
    # UT1 hosts are already canonical (checked independently with normalize_host), so the fast path
    # must give back exactly the lines, in file order
    assert all(normalize_host(h) == h for h in expected)
    assert values(lst) == list(dict.fromkeys(expected))
    assert dict(lst.skipped) == {}


@pytest.mark.parametrize("category", UT1_URLS)
def test_ut1_urls_load_as_expressions(category):
    path = eval_path(*BL, "ut1", category, "urls")
    lst = load_list(path, kind="url")
    lines = data_lines(path)
    assert lst.name == f"{category}-urls"
    assert sorted(values(lst)) == sorted({entry_expression(line) for line in lines})
    assert lst.entries.column("entry").to_pylist() == [lines[i] for i in _first_of_each(lines)]
    assert all(v.split("/", 1)[0] and "/" in v for v in values(lst))


def _first_of_each(lines: list[str]) -> list[int]:
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        seen.setdefault(entry_expression(line), i)
    return sorted(seen.values())


def test_ut1_adult_urls_count():
    lst = load_list(eval_path(*BL, "ut1", "adult", "urls"), kind="url")
    assert 1_000 < lst.entry_count <= 1_090  # README: 1 090 lines; fragments collapse a few


@pytest.mark.parametrize("name", ["porn-only", "gambling-only", "fakenews-only", "social-only"])
def test_stevenblack_trimmed(name):
    path = eval_path(*BL, "stevenblack-trimmed", f"{name}.domains")
    lst = load_list(path, kind="domain")
    assert lst.name == name
    assert set(values(lst)) == set(data_lines(path))
    declared = re.search(r"Number of unique domains: ([\d,]+)", path.read_text()).group(1)
    assert lst.entry_count == int(declared.replace(",", ""))


@pytest.mark.parametrize("name", ["piracy", "scam", "drugs", "crypto", "ransomware", "vaping"])
def test_blocklistproject_hosts(name):
    path = eval_path(*BL, "blocklistproject", "hosts", f"{name}.txt")
    lst = load_list(path, kind="domain")
    hosts = [line.split()[1] for line in data_lines(path) if line.startswith("0.0.0.0 ")]
    assert len(hosts) == len(data_lines(path))
    assert values(lst) == hosts
    raw = path.read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(raw, 1) if line.startswith("0.0.0.0 "))
    assert lst.entries.column("line").to_pylist()[0] == first


def test_blocklistproject_piracy_same_in_three_syntaxes():
    loaded = {
        fmt: load_list(eval_path(*BL, "blocklistproject", fmt, f), kind="domain")
        for fmt, f in [("hosts", "piracy.txt"), ("adguard", "piracy-ags.txt"), ("domains", "piracy-nl.txt")]
    }
    sets = {fmt: set(values(lst)) for fmt, lst in loaded.items()}
    assert sets["hosts"] == sets["adguard"] == sets["domains"]
    assert all(lst.entry_count == 2154 for lst in loaded.values())  # "# Entries: 2,154" in each header
    assert loaded["adguard"].entries.column("entry")[0].as_py() == "0daycn.net"  # "||" and "^" stripped


def test_adaway_skips_and_counts_localhost():
    path = eval_path(*BL, "adaway", "hosts.txt")
    lst = load_list(path, kind="domain")
    lines = data_lines(path)
    localhost = [line for line in lines if line.split()[1] == "localhost"]
    assert len(localhost) == 2  # "127.0.0.1  localhost" and "::1  localhost"
    assert lst.skipped == {"localhost": 2}
    assert lst.entry_count == len({line.split()[1] for line in lines}) - 1
    assert "localhost" not in values(lst) and "analytics.163.com" in values(lst)
    assert lst.name == "adaway-hosts"


@pytest.mark.parametrize("name", ["add.Risk", "add.2o7Net", "add.Spam", "add.Dead", "UncheckyAds"])
def test_fademind_hosts(name):
    path = eval_path(*BL, "fademind", f"{name}.hosts")
    lst = load_list(path, kind="domain")
    assert lst.entry_count == sum(1 for line in data_lines(path) if line.startswith("0.0.0.0 "))
    assert lst.name == name


def test_urlhaus_as_url_and_as_domain():
    path = eval_path(*BL, "ublock-origin-debian", "urlhaus-filter-online.txt")
    rules = data_lines(path, comment="!")
    assert len(rules) == 6254
    as_url = load_list(path, kind="url")
    assert dict(as_url.skipped) == {}
    path_rules = [r for r in rules if re.match(r"\|\|[^/^$]+/", r)]
    assert len(path_rules) == 3345  # README: about 3 348 path-level rules
    assert as_url.entry_count == len({entry_expression(r.removeprefix("||").split("^")[0]) for r in rules})
    assert "github.com/barrigudinha157/barrigudinha/raw/master/rage.dll" in values(as_url)
    assert "1.1.104.12/" in values(as_url)  # a bare IPv4 line is a host rule
    as_domain = load_list(path, kind="domain")
    assert as_domain.skipped == {"adblock-path-rule": len(path_rules)}
    assert set(values(as_domain)) == {r.removeprefix("||").removesuffix("^$all") for r in rules} - {
        r.removeprefix("||").removesuffix("^$all") for r in path_rules
    }


def test_ublock_badware_skips_by_reason():
    path = eval_path(*BL, "ublock-origin-debian", "ublock-badware.min.txt")
    rules = data_lines(path, comment="!")
    lst = load_list(path, kind="url")
    skipped = dict(lst.skipped)
    assert skipped["adblock-exception"] == sum(r.startswith("@@") for r in rules)
    # generic cosmetic rules ("##.ad") start with "#" and are comments; the rest are counted
    assert skipped["adblock-cosmetic"] == sum("##" in r.split("/")[0] and r[0] != "#" for r in rules)
    reasons = {"adblock-regex", "adblock-wildcard", "adblock-option", "adblock-unanchored", "adblock-tld"}
    assert reasons <= skipped.keys()
    assert "vlc.de/" in values(lst) and "01net.com/telecharger/" in values(lst)
    assert 3_000 < lst.entry_count < len(rules) - sum(skipped.values()) + 1


@pytest.mark.parametrize(("name", "count"), [("haystack", 1350), ("needles", 100)])
def test_threatexchange_pdq_lists(name, count):
    path = eval_path("images", "threatexchange-pdq", "reg-test-input", f"{name}.txt")
    lst = load_list(path, kind="pdq", params={"max_distance": 31})
    assert lst.kind == "pdq" and lst.params == {"max_distance": "31"}
    assert lst.entry_count == count == len(set(data_lines(path)))
    assert all(re.fullmatch("[0-9a-f]{64}", v) for v in values(lst))


def test_fast_path_agrees_with_per_line_parser():
    """The vectorized fast path is an optimization: the per-line parser is the reference."""
    text = "\n".join(
        [
            "ads.example",
            "Ads.Example",
            "0.0.0.0 x-y.example",
            "127.0.0.1\tz9.example",
            "1.2.3.4",
            "0x7f.1",
            "bücher.example",
            "a_b.example",
            "xn--bcher-kva.example",
            "trail.example.",
            "*.star.example",
            ".dot.example",
            "0.0.0.0 m1.example m2.example # two",
            "0.0.0.0 localhost",
            "localhost.localdomain",
            "a" * 63 + ".example",
            "b" * 64 + ".example",
        ]
    )
    table, skipped, errors = parse_lines("domain", pa.array(text.split("\n")))
    reference = [v for line in text.split("\n") if not isinstance(r := _domain_line(line, False), str) for _, v in r]
    assert errors == []
    assert table.column("value").to_pylist() == reference
    assert skipped == {"localhost": 2}
    assert "bücher.example" not in reference and "xn--bcher-kva.example" in reference
    adblock = ["||a.b.example^", "||Upper.Example^", "||ok.example^$all", "bare.example", "*.star.example"]
    table, skipped, errors = parse_lines("domain", pa.array(adblock))
    reference = [r[0][1] for line in adblock if not isinstance(r := _domain_line(line, True), str)]
    assert (
        table.column("value").to_pylist() == reference == ["a.b.example", "upper.example", "ok.example", "bare.example"]
    )


def test_url_fast_path_agrees_with_entry_expression():
    lines = [
        "a.example/",
        "a.example/x/../y",
        "a.example//b",
        "A.example/x",
        "a.example/%41",
        "a.example/x?y#z",
        "a.example/.hidden/",
        "a.example:80/x",
        "http://a.example/x",
        "a.example/x?",
        "a.example/a;b=c?q=/x?y",
        "1.2.3.4/x",
        "0x7f000001/x",
        "a.example/dir/sub/",
        "a.example/a b/ # comment",
        "a.example/D~i_r-(1)/f.html?A=B&c=d:e@f",
    ]
    table, skipped, errors = parse_lines("url", pa.array(lines))
    assert errors == [] and skipped == {}
    assert table.column("value").to_pylist() == [entry_expression(line.removesuffix(" # comment")) for line in lines]
    assert "a.example/a%20b/" in table.column("value").to_pylist()
    assert table.column("entry").to_pylist() == [line.removesuffix(" # comment") for line in lines]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kind", "text", "line", "fragment"),
    [
        ("url-sha256", "# c\n" + "a" * 64 + "\n" + "a" * 63 + "\n", 3, "expected 64 hex digits, got 63"),
        ("image-md5", "\n\n" + "g" * 32 + "\n", 3, "not hexadecimal"),
        ("phash", "0123456789abcdef\n0123456789abcdef0\n", 2, "expected 16 hex digits"),
        ("pdq", "hash=" + "a" * 60 + ",q=100\n", 1, "expected 64 hex digits"),
        ("domain", "ok.example\nbad host.example\n", 2, "hosts-file line"),
        ("domain", "ok.example\nexample.com/path\n", 2, "load it as url"),
        ("domain", "ok.example\n\n\nbad..example\n", 4, "not a valid host"),
        ("url", "example.com/\nmailto:someone@example.com\n", 2, "not a valid URL expression"),
        ("url", "example.com/\n0.0.0.0 ads.example\n", 2, "load it as domain"),
        ("license-registry", "expression,license\nexample.com/,MIT\nexample.org/,\n", 3, "SPDX"),
        ("license-registry", "expression,license\nexample.com/,MIT,extra\n", 2, "expected 2 CSV fields"),
        ("license-registry", "example.com/,MIT\n", 1, "CSV header"),
        ("license-registry", "expression,license\na.example/,MIT\na.example/,GPL-3.0-only\n", 3, "already has"),
        ("license-registry", 'expression,license\n"a.example/,MIT\n', 2, "bad CSV row"),
    ],
)
def test_malformed_line_raises_with_line_number(make_list, kind, text, line, fragment):
    with pytest.raises(ListError) as err:
        load_list(make_list("bad.txt", text), kind=kind)
    assert err.value.line == line
    assert fragment in err.value.reason
    assert f"bad.txt:{line}:" in str(err.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(ListError, match="cannot read"):
        load_list(tmp_path / "missing.txt", kind="domain")
    with pytest.raises(ListError, match="cannot read"):
        load_list(tmp_path, kind="domain")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"ok.example\nb\xfccher.example\n")
    with pytest.raises(ListError) as err:
        load_list(latin1, kind="domain")
    assert err.value.line == 2 and "not UTF-8" in err.value.reason and err.value.path == str(latin1)


def test_bom_crlf_and_empty_files(tmp_path):
    path = tmp_path / "win.txt"
    path.write_bytes(b"\xef\xbb\xbf# provscan-list: kind=domain name=win\r\nads.example\r\n\r\n0.0.0.0 b.example\r\n")
    lst = load_list(path)
    assert lst.name == "win" and values(lst) == ["ads.example", "b.example"]
    assert lst.entries.column("line").to_pylist() == [2, 4]
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert load_list(empty, kind="pdq").entry_count == 0
    only_header = tmp_path / "h.txt"
    only_header.write_text("# provscan-list: kind=license-registry\nexpression,license\n")
    assert load_list(only_header).entries.schema.names == ["line", "entry", "value", "license", "source", "note"]


def test_no_kind_tells_how_to_give_one(make_list):
    with pytest.raises(ListError) as err:
        load_list(make_list("x.txt", "ads.example\n"))
    assert "KIND:PATH" in str(err.value) and "kind=" in str(err.value) and "provscan-list" in str(err.value)


@pytest.mark.parametrize(
    ("text", "fragment", "line"),
    [
        ("# provscan-list: kind=nope\n", "unknown kind 'nope' (kinds: domain, url", None),
        ("# provscan-list: kind=domain action=delete\n", "unknown action", None),
        ("# provscan-list: kind=domain name\n", "expected key=value", 1),
        ("# provscan-list: kind=domain kind=url\n", "given twice", 1),
        ("# comment\n# provscan-list: kind=domain\nads.example\n", "must be the first line", 2),
        ("# provscan-list: kind=phash max_distance=65\n", "0..64", None),
        ("# provscan-list: kind=domain max_distance=3\n", "perceptual", None),
    ],
)
def test_bad_headers(make_list, text, fragment, line):
    with pytest.raises(ListError) as err:
        load_list(make_list("h.txt", text))
    assert fragment in err.value.reason and err.value.line == line


# ---------------------------------------------------------------- header, naming, arguments


def test_header_precedence(make_list):
    path = make_list(
        "mine.txt", "# provscan-list: kind=phash name=from-header action=flag max_distance=6\n0123456789ABCDEF\n"
    )
    lst = load_list(path)
    assert (lst.kind, lst.name, lst.action) == ("phash", "from-header", "flag")
    assert lst.params == {"max_distance": "6"}
    assert values(lst) == ["0123456789abcdef"] and lst.entries.column("entry")[0].as_py() == "0123456789ABCDEF"
    over = load_list(path, kind="dhash", name="cli", action="drop", params={"max_distance": 10})
    assert (over.kind, over.name, over.action) == ("dhash", "cli", "drop")
    assert over.params == {"max_distance": "10"}
    plain = load_list(make_list("plain.txt", "0123456789abcdef\n"), kind="phash")
    assert (plain.name, plain.action, dict(plain.params)) == ("plain", "drop", {})


def test_loaded_list_metadata(make_list):
    import hashlib

    path = make_list("meta.txt", "0.0.0.0 b.example a.example\nc.example\na.example\n")
    lst = load_list(path, kind="domain")
    assert lst.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert lst.entries.schema.names == ["line", "entry", "value"]
    assert lst.entries.schema.field("line").type == pa.int32()
    assert lst.entries.to_pylist() == [  # several hosts on a line keep their order; duplicates keep line 1
        {"line": 1, "entry": "b.example", "value": "b.example"},
        {"line": 1, "entry": "a.example", "value": "a.example"},
        {"line": 2, "entry": "c.example", "value": "c.example"},
    ]
    assert lst.entry_count == 3
    with pytest.raises(AttributeError):
        lst.name = "x"


def test_license_registry(make_list):
    path = make_list(
        "reg.csv",
        "# provscan-list: kind=license-registry name=stock\n"
        "note,license,expression\n"
        'hi,"Apache-2.0 OR MIT",HTTPS://Images.Example.org/cc/\n'
        ",LicenseRef-stock,cdn.example.net/\n",
    )
    lst = load_list(path)
    assert lst.name == "stock" and lst.kind == "license-registry"
    assert lst.entries.to_pylist() == [
        {
            "line": 3,
            "entry": "HTTPS://Images.Example.org/cc/",
            "value": "images.example.org/cc/",
            "license": "Apache-2.0 OR MIT",
            "source": None,
            "note": "hi",
        },
        {
            "line": 4,
            "entry": "cdn.example.net/",
            "value": "cdn.example.net/",
            "license": "LicenseRef-stock",
            "source": None,
            "note": None,
        },
    ]


def test_default_names(tmp_path):
    assert default_name(eval_path(*BL, "ut1", "adult", "urls")) == "adult-urls"
    assert default_name(tmp_path / "hosts.txt") == f"{tmp_path.name}-hosts"
    assert default_name(tmp_path / "porn-only.domains") == "porn-only"
    assert default_name(tmp_path / "my list.txt") == "my_list"


def test_parse_list_arg():
    assert parse_list_arg("domain:lists/a.txt") == ("domain", "lists/a.txt")
    assert parse_list_arg("url-sha256:x:y") == ("url-sha256", "x:y")
    assert parse_list_arg("C:/lists/a.txt") == (None, "C:/lists/a.txt")
    assert parse_list_arg("a.txt") == (None, "a.txt")
    with pytest.raises(ConfigError):
        parse_list_arg("pdq:")


def test_adblock_and_hosts_syntax_in_domain_lists(make_list):
    path = make_list(
        "mixed.txt",
        "[Adblock Plus 2.0]\n! comment\n||ads.example^$all\n||x.example/path^\n"
        "example.org##.banner\n@@||ok.example^\n/ban+er/$doc\n||ads*.example^\n"
        "||t.example^$domain=site.example\n||partial.\n.online/js/x.js\nbare.example\n"
        "||cfd/file?x=$doc\n|https://full.example/p.exe|\n",
    )
    lst = load_list(path, kind="domain")
    assert values(lst) == ["ads.example", "bare.example"]
    assert lst.skipped == {
        "adblock-path-rule": 2,
        "adblock-cosmetic": 1,
        "adblock-exception": 1,
        "adblock-regex": 1,
        "adblock-wildcard": 2,
        "adblock-option": 1,
        "adblock-unanchored": 1,
        "adblock-tld": 1,
    }
    as_url = load_list(path, kind="url")
    assert values(as_url) == ["ads.example/", "x.example/path", "bare.example/", "full.example/p.exe"]
    assert as_url.entries.column("entry").to_pylist() == [
        "ads.example",
        "x.example/path",
        "bare.example",
        "full.example/p.exe",
    ]


# ---------------------------------------------------------------- writing

HEX_KINDS = {"url-sha256": 64, "image-md5": 32, "image-sha1": 40, "phash": 16, "pdq": 64}


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(sorted(HEX_KINDS)),
    data=st.data(),
    flag=st.booleans(),
    comments=st.lists(st.text(st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20), max_size=3),
)
def test_write_then_load_round_trip_hex(kind, data, flag, comments):
    digest = st.text("0123456789abcdefABCDEF", min_size=HEX_KINDS[kind], max_size=HEX_KINDS[kind])
    vals = data.draw(st.lists(digest, max_size=30))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.txt"
        write_list(path, kind, vals, name="round", action="flag" if flag else None, comments=comments)
        lst = load_list(path)
        assert (lst.kind, lst.name, lst.action) == (kind, "round", "flag" if flag else "drop")
        assert values(lst) == list(dict.fromkeys(v.lower() for v in vals))
        assert lst.entries.column("line").to_pylist()[:1] == ([2 + len(comments)] if vals else [])
        assert [p.name for p in Path(tmp).iterdir()] == ["out.txt"]  # no temp file left behind


_label = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)


@settings(max_examples=40, deadline=None)
@given(hosts=st.lists(st.lists(_label, min_size=2, max_size=4).map(".".join), max_size=30))
def test_write_then_load_round_trip_domain(hosts):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hosts.txt"
        write_list(path, "domain", hosts, action="flag")
        lst = load_list(path)
        assert values(lst) == list(dict.fromkeys(normalize_host(h) for h in hosts))
        assert lst.action == "flag" and lst.name == f"{Path(tmp).name}-hosts"


def test_write_list_refuses_what_it_could_not_read_back(tmp_path):
    path = tmp_path / "keep.txt"
    write_list(path, "image-sha1", ["a" * 40])
    before = path.read_bytes()
    for bad in (["b" * 40, "c" * 39], ["# x"], ["a\nb"], [" " + "a" * 40], [""]):
        with pytest.raises(ListError):
            write_list(path, "image-sha1", bad)
    assert path.read_bytes() == before
    with pytest.raises(ListError) as err:
        write_list(path, "image-sha1", ["a" * 40, "zz"], comments=["one"])
    assert err.value.line == 4  # header, comment, first value, then the bad one
    with pytest.raises(ListError, match="unknown list setting 'source'"):
        write_list(path, "domain", ["a.example"], params={"source": "x"})  # a header load_list would refuse
    with pytest.raises(ConfigError):
        write_list(path, "license-registry", [])
    with pytest.raises(ConfigError):
        write_list(path, "domain", ["a.example"], comments=["provscan-list: kind=url"])
    with pytest.raises(ConfigError):
        write_list(path, "domain", ["a.example"], name="two words")
    with pytest.raises(OutputError):
        write_list(tmp_path / "no" / "dir.txt", "domain", ["a.example"])
