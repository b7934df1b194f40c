"""Image-only shards and images that could not be checked (issue 12), through the CLI.

Fetches go to a threaded loopback server only (``no_egress`` fails the test on any other address).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import EVAL

from provscan.cli import cli


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_image_only_shard_scans_against_image_lists(tmp_path: Path, make_shard, make_list) -> None:
    listed = "f0f0f0f0f0f0f0f0"
    shard = make_shard("img.parquet", key=["a", "b", "c"], image_phash=[listed, "0123456789abcdef", None])
    lst = make_list("ph.txt", f"# provscan-list: kind=phash name=reported\n{listed}\n")
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["scan", str(shard), "--no-config", "-b", str(lst), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    found = pq.read_table(out / "flagged.parquet").to_pylist()
    assert [(f["row"], f["id"], f["url"], f["url_sha256"], f["list"]) for f in found] == [
        (0, "a", None, None, "reported")
    ]
    assert pq.read_table(out / "clean" / "img.parquet").column("key").to_pylist() == ["b", "c"]
    entry = manifest(out)["shards"][0]
    assert (entry["rows_in"], entry["rows_dropped"], entry["null_urls"]) == (3, 1, 3)


def test_url_lists_against_an_image_only_shard_name_the_shard(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("img.parquet", key=["a"], image_phash=["f0f0f0f0f0f0f0f0"])
    domains = make_list("d.txt", "bad.example\n")
    out = tmp_path / "o"
    result = CliRunner().invoke(
        cli, ["scan", str(shard), "--no-config", "-b", f"domain:{domains}", "-o", str(out), "-q"]
    )
    assert result.exit_code == 1
    assert str(shard) in result.output and "no URL column" in result.output and "d" in result.output
    assert not out.exists()
    fetch = CliRunner().invoke(cli, ["scan", str(shard), "--no-config", "--fetch", "-o", str(out), "-q"])
    assert fetch.exit_code == 1 and "--fetch" in fetch.output


def test_a_shard_with_neither_url_nor_hash_column_is_still_refused(tmp_path: Path, make_shard) -> None:
    shard = make_shard("t.parquet", TEXT=["x"])
    result = CliRunner().invoke(cli, ["scan", str(shard), "--no-config", "-o", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 1 and "no url column" in result.output


PHOTO = EVAL / "images" / "imagededup" / "base_images" / "ukbench09060.jpg"


@pytest.mark.eval_data("images", "imagededup", "base_images", "ukbench09060.jpg")  # a real photo to serve
@pytest.mark.parametrize("policy", ["keep", "flag", "drop"])
def test_unchecked_images_are_counted_and_flagged_or_dropped(
    tmp_path: Path, make_shard, make_list, threaded_server, no_egress, policy: str
) -> None:
    photo = PHOTO.read_bytes()
    threaded_server.expect_request("/ok.jpg").respond_with_data(photo, content_type="image/jpeg")
    threaded_server.expect_request("/missing.jpg").respond_with_data("no", status=404)
    threaded_server.expect_request("/text").respond_with_data("hello", content_type="text/plain")
    base = f"http://127.0.0.1:{threaded_server.port}"
    shard = make_shard("s.parquet", url=[f"{base}/ok.jpg", f"{base}/missing.jpg", f"{base}/text"])
    lst = make_list(
        "s.txt", "# provscan-list: kind=image-sha256 name=known\n" + hashlib.sha256(b"other").hexdigest() + "\n"
    )
    phash = make_list("p.txt", "# provscan-list: kind=phash name=near\nf0f0f0f0f0f0f0f0\n")  # makes provscan decode
    cfg = make_list("f.toml", f'[fetch]\nunchecked = "{policy}"\nallow_cidrs = ["127.0.0.0/8"]\nretries = 0\n')
    out = tmp_path / "o"
    result = CliRunner().invoke(
        cli, ["scan", str(shard), "-c", str(cfg), "-b", str(lst), "-b", str(phash), "--fetch", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    entry = manifest(out)["shards"][0]
    assert entry["unchecked"] == 2 and manifest(out)["totals"]["unchecked"] == 2
    found = [
        (f["row"], f["kind"], f["action"], f["detail"]) for f in pq.read_table(out / "flagged.parquet").to_pylist()
    ]
    if policy == "keep":
        assert found == []
    else:
        assert found == [(1, "unchecked", policy, "http_404"), (2, "unchecked", policy, "not_image")]
    assert entry["rows_dropped"] == (2 if policy == "drop" else 0)
    assert "unchecked" in result.stdout  # the end-of-run table shows the column
    # the CLI flag overrides the config
    out2 = tmp_path / "o2"
    again = CliRunner().invoke(
        cli,
        [
            "scan",
            str(shard),
            "-c",
            str(cfg),
            "-b",
            str(lst),
            "-b",
            str(phash),
            "--fetch",
            "-o",
            str(out2),
            "--unchecked",
            "flag",
            "-q",
        ],
    )
    assert again.exit_code == 0, again.output
    assert {f["action"] for f in pq.read_table(out2 / "flagged.parquet").to_pylist()} == {"flag"}


def test_without_image_lists_a_fetch_reports_no_unchecked(
    tmp_path: Path, make_shard, make_list, threaded_server, no_egress
) -> None:
    threaded_server.expect_request("/missing.jpg").respond_with_data("no", status=404)
    shard = make_shard("s.parquet", url=[f"http://127.0.0.1:{threaded_server.port}/missing.jpg"])
    cfg = make_list("f.toml", '[fetch]\nunchecked = "drop"\nallow_cidrs = ["127.0.0.0/8"]\nretries = 0\n')
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["scan", str(shard), "-c", str(cfg), "--fetch", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    entry = manifest(out)["shards"][0]
    assert entry["fetch"] == {"http_404": 1} and "unchecked" not in entry and entry["rows_dropped"] == 0


def test_bad_unchecked_value_is_a_config_error(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("s.parquet", url=["http://a.example/"])
    cfg = make_list("f.toml", '[fetch]\nunchecked = "ignore"\n')
    result = CliRunner().invoke(cli, ["scan", str(shard), "-c", str(cfg), "-o", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 1 and "unchecked must be one of keep, flag, drop" in result.output


@pytest.mark.eval_data("images", "imagededup", "base_images", "ukbench09060.jpg")  # a real photo to serve
def test_an_allowlist_does_not_block_redirects(
    tmp_path: Path, make_shard, make_list, threaded_server, no_egress
) -> None:
    """Redirect targets are re-checked against the URL lists; an allowlist entry must not count as a block."""
    threaded_server.expect_request("/ok.jpg").respond_with_data(PHOTO.read_bytes(), content_type="image/jpeg")
    threaded_server.expect_request("/r").respond_with_data(
        "", status=302, headers={"Location": f"http://127.0.0.1:{threaded_server.port}/ok.jpg"}
    )
    shard = make_shard("s.parquet", url=[f"http://127.0.0.1:{threaded_server.port}/r"])
    allow = make_list("white.txt", "127.0.0.1\n")
    lst = make_list(
        "s.txt",
        "# provscan-list: kind=image-sha256 name=known\n" + hashlib.sha256(PHOTO.read_bytes()).hexdigest() + "\n",
    )
    cfg = make_list("f.toml", '[fetch]\nallow_cidrs = ["127.0.0.0/8"]\nretries = 0\n')
    out = tmp_path / "o"
    result = CliRunner().invoke(
        cli,
        [
            "scan",
            str(shard),
            "-c",
            str(cfg),
            "-b",
            f"domain:{allow};action=allow",
            "-b",
            str(lst),
            "--fetch",
            "-o",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert [r["status"] for r in pq.read_table(out / "fetch.parquet").to_pylist()] == ["ok"]
    found = {(f["list"], f["action"]) for f in pq.read_table(out / "flagged.parquet").to_pylist()}
    assert found == {("white", "allow"), ("known", "drop")}  # the image list is never overridden
    assert manifest(out)["totals"]["rows_dropped"] == 1
