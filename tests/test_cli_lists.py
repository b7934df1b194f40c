"""Lists from the command line (issue 12): KIND:PATH;key=value syntax, kind errors, compressed
files, and the allow action, all through the CLI."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import EVAL

from provscan.cli import cli
from provscan.config import ListSpec
from provscan.lists.args import parse_list_option


def run(*args: str):
    return CliRunner().invoke(cli, ["scan", *args, "--no-config"])


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def flagged(out: Path) -> list[dict]:
    return pq.read_table(out / "flagged.parquet").to_pylist()


def test_list_options_parse_from_the_right() -> None:
    assert parse_list_option("domain:a/piracy.txt;name=p2;action=flag") == ListSpec(
        Path("a/piracy.txt"), "domain", "p2", "flag", {}
    )
    assert parse_list_option("phash:x;y.txt;max_distance=8") == ListSpec(
        Path("x;y.txt"), "phash", params={"max_distance": "8"}
    )
    assert parse_list_option("./odd:name.txt;kind=url") == ListSpec(Path("odd:name.txt"), "url")
    assert parse_list_option("domain:odd:name.txt") == ListSpec(Path("odd:name.txt"), "domain")
    assert parse_list_option("C:/lists/a.txt") == ListSpec(Path("C:/lists/a.txt"))


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("domian:x.txt", "unknown kind 'domian' (kinds: domain, url, url-sha256"),
        ("x.txt;kind=urls", "unknown kind 'urls' (kinds: domain, url"),
        (
            "domain:x.txt;nmae=y",
            "unknown list setting 'nmae' (did you mean 'name'?); settings: kind, name, action, max_distance",
        ),
        ("domain:x.txt;acton=flag", "unknown list setting 'acton' (did you mean 'action'?)"),
        ("domain:x.txt;action=delete", "unknown action 'delete'"),
        ("domain:x.txt;name=", "name= needs a value"),
        ("domain:x.txt;kind=url", "kind given twice"),
    ],
)
def test_bad_list_arguments_name_the_problem(tmp_path: Path, make_shard, arg: str, message: str) -> None:
    shard = make_shard("a.parquet", URL=["http://a.example/"])
    result = run(str(shard), "-b", arg, "-o", str(tmp_path / "o"), "-q")
    assert result.exit_code == 1
    assert message in result.output and "No such file" not in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("where", "typo", "meant"),
    [
        ("config", "acton", "action"),
        ("config", "max_distanse", "max_distance"),
        ("header", "acton", "action"),
        ("header", "max_distanse", "max_distance"),
    ],
)
def test_a_misspelt_list_setting_is_an_error_naming_the_nearest(
    tmp_path: Path, make_shard, where: str, typo: str, meant: str
) -> None:
    """Issue 16 item 7: ``acton = "flag"`` dropped the rows it should have flagged, ``max_distanse = 2``
    left the default radius; in a ``[[list]]`` table or a list's header both were accepted."""
    shard = make_shard("a.parquet", URL=["http://bad.example/"], image_phash=["0123456789abcdef"])
    value = "flag" if typo == "acton" else "2"
    lst = tmp_path / "l.txt"
    header = f" {typo}={value}" if where == "header" else ""
    lst.write_text(f"# provscan-list: kind=phash{header}\n0123456789abcdef\n")
    args = ["scan", str(shard), "-o", str(tmp_path / "o"), "-q"]
    if where == "config":
        config = tmp_path / "provscan.toml"
        config.write_text(f'[[list]]\npath = "l.txt"\n{typo} = "{value}"\n')
        args += ["-c", str(config)]
    else:
        args += ["--no-config", "-b", str(lst)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    line = result.output.strip()
    assert f"unknown list setting {typo!r} (did you mean {meant!r}?)" in line and "\n" not in line
    assert line.startswith(f"Error: {config}: [[list]] #1:" if where == "config" else f"Error: {lst}:1: header:")
    assert not (tmp_path / "o").exists()


def test_a_misspelt_list_parameter_through_the_api_is_an_error(tmp_path: Path, make_shard) -> None:
    from provscan import scan
    from provscan.errors import ListError

    shard = make_shard("a.parquet", URL=["http://a.example/"], image_phash=["0123456789abcdef"])
    lst = tmp_path / "l.txt"
    lst.write_text("0123456789abcdef\n")
    with pytest.raises(ListError, match="unknown list setting 'max_distanse' \\(did you mean 'max_distance'\\?\\)"):
        scan([shard], lists=(ListSpec(lst, kind="phash", params={"max_distanse": 2}),), output=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_same_file_name_twice_is_told_apart_with_name(tmp_path: Path, make_shard) -> None:
    shard = make_shard("a.parquet", URL=["http://one.example/", "http://two.example/", "http://ok.example/"])
    for folder, host in (("m1", "one.example"), ("m2", "two.example")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "piracy.txt").write_text(host + "\n")
    a, b = tmp_path / "m1" / "piracy.txt", tmp_path / "m2" / "piracy.txt"
    clash = run(str(shard), "-b", f"domain:{a}", "-b", f"domain:{b}", "-o", str(tmp_path / "o1"), "-q")
    assert clash.exit_code == 1 and ";name=" in clash.output
    out = tmp_path / "o2"
    ok = run(str(shard), "-b", f"domain:{a}", "-b", f"domain:{b};name=piracy2;action=flag", "-o", str(out), "-q")
    assert ok.exit_code == 0, ok.output
    lists = {lst["name"]: lst["action"] for lst in manifest(out)["lists"]}
    assert lists == {"piracy": "drop", "piracy2": "flag"}
    assert {(f["row"], f["list"], f["action"]) for f in flagged(out)} == {(0, "piracy", "drop"), (1, "piracy2", "flag")}
    assert manifest(out)["totals"]["rows_dropped"] == 1


def test_max_distance_from_the_command_line(tmp_path: Path, make_shard, make_list) -> None:
    listed = "f0f0f0f0f0f0f0f0"
    near = f"{int(listed, 16) ^ 0b111:016x}"  # 3 bits away
    shard = make_shard("c.parquet", url=["http://a.example/1"], image_phash=[near])
    lst = make_list("ph.txt", f"# provscan-list: kind=phash max_distance=8\n{listed}\n")
    loose, strict = tmp_path / "o1", tmp_path / "o2"
    assert run(str(shard), "-b", str(lst), "-o", str(loose), "-q").exit_code == 0
    assert run(str(shard), "-b", f"{lst};max_distance=2", "-o", str(strict), "-q").exit_code == 0
    assert [f["distance"] for f in flagged(loose)] == [3]
    assert flagged(strict) == []
    assert manifest(strict)["lists"][0]["params"] == {"max_distance": "2"}


def _zst(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [
        (".gz", gzip.compress),
        (".bz2", bz2.compress),
        (".xz", lzma.compress),
        (".zst", _zst),
    ],
)
def test_compressed_lists_load_as_they_are(tmp_path: Path, make_shard, suffix: str, compress) -> None:
    shard = make_shard("a.parquet", URL=["http://bad.example/x", "http://ok.example/"])
    path = tmp_path / f"piracy.txt{suffix}"
    stored = compress(b"# a compressed list\nbad.example\n")
    path.write_bytes(stored)
    out = tmp_path / "o"
    result = run(str(shard), "-b", f"domain:{path}", "-o", str(out), "-q")
    assert result.exit_code == 0, result.output
    (lst,) = manifest(out)["lists"]
    assert (lst["name"], lst["entries"]) == ("piracy", 1)  # the suffix is not part of the name
    assert lst["sha256"] == hashlib.sha256(stored).hexdigest()  # the bytes as stored
    assert manifest(out)["totals"]["rows_dropped"] == 1


def test_a_damaged_compressed_list_is_an_error_naming_it(tmp_path: Path, make_shard) -> None:
    shard = make_shard("a.parquet", URL=["http://a.example/"])
    path = tmp_path / "domains.gz"
    path.write_bytes(gzip.compress(b"bad.example\n")[:-6])
    result = run(str(shard), "-b", f"domain:{path}", "-o", str(tmp_path / "o"), "-q")
    assert result.exit_code == 1
    assert str(path) in result.output and "not a valid gz file" in result.output


def test_allow_overrides_domain_url_optout_but_never_hashes_or_images(tmp_path: Path, make_shard, make_list) -> None:
    """One scan, every kind of list against one allowlist, both sides of the rule."""
    image = hashlib.sha256(b"abuse image").hexdigest()
    urls = [
        "http://good.example/a",  # 0 allowed + domain drop  -> kept
        "http://good.example/b",  # 1 allowed + url drop     -> kept
        "http://good.example/c",  # 2 allowed + url-sha256   -> dropped (never overridden)
        "http://good.example/d",  # 3 allowed + image-sha256 -> dropped (never overridden)
        "http://other.example/e",  # 4 not allowed + domain   -> dropped
        "http://good.example/f",  # 5 allowed + optout       -> kept
        "http://good.example/g",  # 6 allowed only           -> kept, one allow finding
        "http://good.example/h",  # 7 allowed + flag list    -> flag stays flag
    ]
    sha = [None, None, None, image, None, None, None, None]
    shard = make_shard("s.parquet", url=urls, sha256=sha)
    allow = make_list("white.txt", "good.example\n")
    domains = make_list("block.txt", "good.example\nother.example\n")  # also blocks every allowed row
    url_list = make_list("u.txt", "good.example/b\n")
    hashed = make_list("h.txt", hashlib.sha256(b"good.example/c").hexdigest() + "\n")
    images = make_list("img.txt", image + "\n")
    optout = make_list("o.txt", "good.example/f\n")
    review = make_list("r.txt", "good.example/h\n")
    out = tmp_path / "o"
    result = run(
        str(shard),
        "-o",
        str(out),
        "-q",
        "-b",
        f"domain:{allow};action=allow",
        "-b",
        f"domain:{domains};name=blocked",
        "-b",
        f"url:{url_list}",
        "-b",
        f"url-sha256:{hashed}",
        "-b",
        f"image-sha256:{images}",
        "-b",
        f"optout:{optout}",
        "-b",
        f"url:{review};name=review;action=flag",
    )
    assert result.exit_code == 0, result.output
    m = manifest(out)
    assert pq.read_table(out / "clean" / "s.parquet").column("url").to_pylist() == [urls[i] for i in (0, 1, 5, 6, 7)]
    assert m["totals"]["rows_dropped"] == 3 and m["shards"][0]["rows_allowed"] == 5
    assert m["totals"]["removals"] == 3
    found = {(f["row"], f["list"]): (f["action"], f["detail"]) for f in flagged(out)}
    assert found[(0, "blocked")] == ("allow", "allowed by white")
    assert found[(1, "u")] == ("allow", "allowed by white")
    assert found[(5, "o")] == ("allow", "allowed by white")
    assert found[(2, "h")][0] == "drop" and found[(3, "img")][0] == "drop"
    assert found[(4, "blocked")][0] == "drop"
    assert found[(7, "review")] == ("flag", None)
    assert all(found[(r, "white")] == ("allow", None) for r in (0, 1, 2, 3, 5, 6, 7))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_by_list_action"]["white"] == {"allow": 7}
    # the domain finding is overridden on rows 2 and 3 too; their hash and image findings still drop them
    assert summary["rows_by_list_action"]["blocked"] == {"allow": 7, "drop": 1}
    assert found[(2, "blocked")][0] == found[(3, "blocked")][0] == "allow"
    removals = (out / "removals.sha256.txt").read_text().split()
    assert hashlib.sha256(b"good.example/a").hexdigest() not in removals


def test_allow_is_refused_for_image_lists(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("s.parquet", url=["http://a.example/"])
    lst = make_list("img.txt", "# provscan-list: kind=image-md5 action=allow\n" + "0" * 32 + "\n")
    result = run(str(shard), "-b", str(lst), "-o", str(tmp_path / "o"), "-q")
    assert result.exit_code == 1 and "action=allow applies to domain, url, url-sha256" in result.output


UT1 = EVAL / "blocklists" / "ut1"
LAION = EVAL / "corpora" / "img2dataset" / "test_10000.parquet"


@pytest.mark.eval_data("blocklists", "ut1")
@pytest.mark.eval_data("corpora", "img2dataset", "test_10000.parquet")
def test_ut1_liste_blanche_as_allow_drops_nothing_and_warns_as_drop(tmp_path: Path) -> None:
    white = UT1 / "liste_blanche" / "domains"
    as_drop = run(str(LAION), "-b", f"domain:{white}", "-o", str(tmp_path / "o1"))
    assert as_drop.exit_code == 0, as_drop.output
    assert manifest(tmp_path / "o1")["totals"]["rows_dropped"] == 54
    assert "UT1 marks this category 'white'" in as_drop.stderr and ";action=allow" in as_drop.stderr
    out = tmp_path / "o2"
    as_allow = run(
        str(LAION), "-b", f"domain:{white};action=allow", "-b", f"domain:{UT1 / 'press' / 'domains'}", "-o", str(out)
    )
    assert as_allow.exit_code == 0, as_allow.output
    assert "UT1 marks" not in as_allow.stderr
    m = manifest(out)
    found = flagged(out)
    allowed_rows = {f["row"] for f in found if f["list"] == "liste_blanche-domains"}
    assert len(allowed_rows) == 54
    dropped = {f["row"] for f in found if f["action"] == "drop"}
    assert m["totals"]["rows_dropped"] == len(dropped) and not dropped & allowed_rows


def test_allow_from_a_config_and_a_header(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("s.parquet", URL=["http://good.example/", "http://bad.example/"])
    make_list("white.txt", "# provscan-list: kind=domain action=allow\ngood.example\n")
    make_list("block.txt", "good.example\nbad.example\n")
    cfg = make_list("c.toml", '[[list]]\npath = "white.txt"\n\n[[list]]\npath = "block.txt"\nkind = "domain"\n')
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["scan", str(shard), "-c", str(cfg), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert pq.read_table(out / "clean" / "s.parquet").column("URL").to_pylist() == ["http://good.example/"]
    bad = make_list("bad.toml", '[[list]]\npath = "white.txt"\nkind = "optout"\n')
    refused = CliRunner().invoke(cli, ["scan", str(shard), "-c", str(bad), "-o", str(tmp_path / "o2"), "-q"])
    assert refused.exit_code == 1 and "action=allow applies to" in refused.output
