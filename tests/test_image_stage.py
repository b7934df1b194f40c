"""Image matching in a scan: hashes from shard columns, local img2dataset output and fetches."""

from __future__ import annotations

import csv
import struct
import sys
import time
import zlib
import hashlib
import json
from pathlib import Path

import imagehash
import pyarrow.parquet as pq
import pytest
from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Response

from provscan.config import ListSpec
from provscan import scan

from conftest import EVAL, eval_path

IMAGES = EVAL / "images"  # tests that read it are marked eval_data("images")


def _flip_bits(hex_hash: str, n: int) -> str:
    value = int(hex_hash, 16) ^ ((1 << n) - 1)
    return f"{value:016x}"


def _coyo_rows() -> list[dict[str, str]]:
    with open(eval_path("corpora", "coyo", "coyo_preview_rows.csv"), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_coyo_phash_column_matches_within_distance(tmp_path: Path, make_shard, make_list) -> None:
    rows = _coyo_rows()
    column = "image_phash" if rows[0].get("image_phash") else "imagehash"
    hashes = [r.get("image_phash") or r.get("imagehash") or None for r in rows]
    shard = make_shard(
        "coyo.parquet",
        id=[int(r["id"]) for r in rows],
        url=[r["url"] for r in rows],
        text=[r["text"] for r in rows],
        **{column: hashes},
    )
    target = next(h for h in hashes if h)
    lst = make_list(
        "p.txt",
        f"# provscan-list: kind=phash name=ph max_distance=4\n{_flip_bits(target, 3)}\n{_flip_bits(target, 5)}\n",
    )
    result = scan([shard], lists=(ListSpec(lst),), output=tmp_path / "out")
    flagged = pq.read_table(result.output / "flagged.parquet").to_pylist()
    assert [(f["row"], f["distance"], f["entry"]) for f in flagged] == [
        (hashes.index(target), 3, _flip_bits(target, 3))
    ]
    assert flagged[0]["image_hash"] == target and flagged[0]["detail"] == f"column:{column}"
    assert flagged[0]["id"] == rows[hashes.index(target)]["id"]
    assert result.manifest["shards"][0]["rows_dropped"] == 1


def test_datacomp_sha256_column_exact_and_bad_values(tmp_path: Path, make_shard, make_list) -> None:
    digest = hashlib.sha256(b"image bytes").hexdigest()
    shard = make_shard(
        "dc.parquet",
        uid=["a", "b", "c", "d"],
        url=["http://x.example/1"] * 4,
        sha256=[digest.upper(), "nothex", None, hashlib.sha256(b"other").hexdigest()],
    )
    lst = make_list("s.txt", f"# provscan-list: kind=image-sha256 action=flag\n{digest}\n")
    result = scan([shard], lists=(ListSpec(lst),), output=tmp_path / "out")
    flagged = pq.read_table(result.output / "flagged.parquet").to_pylist()
    assert [(f["row"], f["kind"], f["distance"], f["action"]) for f in flagged] == [(0, "image-sha256", None, "flag")]
    entry = result.manifest["shards"][0]
    assert entry["invalid_image_hashes"] == 1 and entry["rows_dropped"] == 0


def _img2dataset_folder(root: Path, files: dict[str, Path]) -> None:
    """img2dataset's `files` layout: 00000/000000001.jpg + .json sidecar with key and url."""
    folder = root / "00000"
    folder.mkdir(parents=True)
    for i, (url, src) in enumerate(files.items()):
        key = f"{i:09d}"
        (folder / f"{key}.jpg").write_bytes(src.read_bytes())
        (folder / f"{key}.json").write_text(json.dumps({"key": key, "url": url, "status": "success"}))


@pytest.mark.eval_data("images")
def test_local_images_and_dihedral(tmp_path: Path, make_shard, make_list) -> None:
    base = IMAGES / "imagededup" / "mixed_images"
    files = {
        "http://shop.example/a.jpg": base / "ukbench00120_resize.jpg",  # a resized copy of the listed photo
        "http://shop.example/b.jpg": base / "ukbench00120_hflip.jpg",  # a mirrored copy
        "http://shop.example/c.jpg": IMAGES / "imagededup" / "base_images" / "ukbench01380.jpg",  # another photo
        "http://shop.example/d.jpg": base / "ukbench09268_corrupt.jpg",
    }
    _img2dataset_folder(tmp_path / "dl", files)
    shard = make_shard("s.parquet", url=[*files, "http://shop.example/missing.jpg"])
    listed = str(imagehash.phash(Image.open(base / "ukbench00120.jpg")))
    lst = make_list("p.txt", f"# provscan-list: kind=phash name=ph\n{listed}\n")
    plain = scan([shard], lists=(ListSpec(lst),), images=(tmp_path / "dl",), output=tmp_path / "o1")
    rows = sorted(pq.read_table(plain.output / "flagged.parquet").column("row").to_pylist())
    assert rows == [0]  # the resize matches; a mirror does not without --dihedral
    dihedral = scan([shard], lists=(ListSpec(lst),), images=(tmp_path / "dl",), dihedral=True, output=tmp_path / "o2")
    found = pq.read_table(dihedral.output / "flagged.parquet").to_pylist()
    assert sorted({f["row"] for f in found}) == [0, 1]
    assert all(f["detail"].startswith("local:") for f in found)
    assert dihedral.manifest["shards"][0]["rows_image_hashed"] == 3  # the corrupt file has no hash


@pytest.mark.eval_data("images")
@pytest.mark.parametrize("processes", [False, True], ids=["in-process", "worker-processes"])
def test_fetch_statuses_and_matches(
    tmp_path: Path, make_shard, make_list, threaded_server: HTTPServer, monkeypatch: pytest.MonkeyPatch, processes: bool
) -> None:
    """The same statuses and matches whether a shard's fetches run in this process or, as large
    shards do, in worker processes (net/procfetch.py)."""
    import provscan.stages.fetch

    monkeypatch.setattr(provscan.stages.fetch, "PROCESS_MIN_ROWS", 0 if processes else 10**9)
    httpserver = threaded_server
    photo = (IMAGES / "imagededup" / "base_images" / "ukbench09060.jpg").read_bytes()
    httpserver.expect_request("/ok.jpg").respond_with_data(photo, content_type="image/jpeg")
    httpserver.expect_request("/missing.jpg").respond_with_data("no", status=404)
    httpserver.expect_request("/text").respond_with_data("hello", content_type="text/plain")
    httpserver.expect_request("/big.jpg").respond_with_data(photo * 20, content_type="image/jpeg")
    httpserver.expect_request("/slow.jpg").respond_with_handler(_slow)
    httpserver.expect_request("/bomb.png").respond_with_data(_png_bomb(), content_type="image/png")
    httpserver.expect_request("/to-private").respond_with_data(
        "", status=302, headers={"Location": "http://10.0.0.7/x.jpg"}
    )
    httpserver.expect_request("/to-blocked").respond_with_data(
        "", status=302, headers={"Location": "http://bad.example/x.jpg"}
    )
    paths = ("/ok.jpg", "/missing.jpg", "/text", "/big.jpg", "/to-private", "/to-blocked", "/slow.jpg", "/bomb.png")
    urls = [f"http://127.0.0.1:{httpserver.port}{p}" for p in paths]
    urls.insert(6, "http://bad.example/direct.jpg")  # dropped by the domain list: never fetched
    shard = make_shard("s.parquet", url=urls)
    sha = hashlib.sha256(photo).hexdigest()
    other = str(imagehash.phash(Image.open(IMAGES / "imagehash" / "peppers.png")))
    lists = (
        ListSpec(make_list("s.txt", f"# provscan-list: kind=image-sha256\n{sha}\n")),
        ListSpec(make_list("p.txt", f"# provscan-list: kind=phash\n{other}\n")),  # makes provscan decode
        ListSpec(make_list("d.txt", "# provscan-list: kind=domain name=bad\nbad.example\n")),
    )
    options = {"allow_cidrs": ("127.0.0.0/8",), "max_bytes": len(photo) * 5, "total_timeout": 1.0, "retries": 0}
    result = scan([shard], lists=lists, fetch=True, fetch_options=options, output=tmp_path / "out")
    report = {r["row"]: r for r in pq.read_table(result.output / "fetch.parquet").to_pylist()}
    assert {r: report[r]["status"] for r in report} == {
        0: "ok",
        1: "http_404",
        2: "not_image",
        3: "too_large",
        4: "refused_private",
        5: "blocked_redirect",
        7: "timeout",
        8: "too_many_pixels",
    }
    assert 6 not in report
    assert result.manifest["shards"][0]["rows_in"] == 9 == result.manifest["shards"][0]["rows_out"] + 2
    flagged = pq.read_table(result.output / "flagged.parquet").to_pylist()
    assert {(f["row"], f["kind"]) for f in flagged} == {(0, "image-sha256"), (6, "domain")}
    assert result.manifest["shards"][0]["fetch"]["ok"] == 1
    # a second run answers from the cache: nothing is downloaded again
    again = scan([shard], lists=lists, fetch=True, fetch_options=options, output=tmp_path / "out")
    cached = pq.read_table(again.output / "fetch.parquet").to_pylist()
    assert {r["row"]: r["cached"] for r in cached}[0] is True
    assert {r["row"]: r["status"] for r in cached} == {r: report[r]["status"] for r in report}


def _slow(request):
    time.sleep(3)  # longer than the 1 s total timeout
    return Response(b"late", content_type="image/jpeg")


def _png_bomb() -> bytes:
    """A ~100-byte PNG whose header declares 30000 x 30000 pixels: refused before decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.eval_data("images")
def test_hash_command_matches_plain_imagehash_columns(tmp_path: Path, make_shard) -> None:
    """`provscan hash` lists match hashes that plain imagehash computed (as COYO ships them)."""
    from click.testing import CliRunner

    from provscan.cli import cli

    base = IMAGES / "imagededup" / "base_images"
    files = sorted(base.glob("*.jpg"))
    out = tmp_path / "list.txt"
    result = CliRunner().invoke(cli, ["hash", str(base), "--kind", "phash", "-o", str(out), "--name", "mine"])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("# provscan-list: kind=phash name=mine action=drop")
    column = [str(imagehash.phash(Image.open(f))) for f in files]
    shard = make_shard("coyo.parquet", url=[f"http://x.example/{f.name}" for f in files], image_phash=column)
    scanned = scan([shard], lists=(ListSpec(out),), output=tmp_path / "o")
    flagged = pq.read_table(scanned.output / "flagged.parquet").to_pylist()
    best = {}
    for f in flagged:
        best[f["row"]] = min(best.get(f["row"], 99), f["distance"])
    assert sorted(best) == list(range(len(files)))  # every image matched its own listed hash
    assert max(best.values()) <= 2  # reduced-size decoding moves a hash by at most 2 bits


def test_unknown_fetch_option_is_a_config_error(tmp_path: Path, make_shard) -> None:
    from provscan.errors import ConfigError

    shard = make_shard("s.parquet", url=["http://a.example/"])
    with pytest.raises(ConfigError, match="concurency"):
        scan([shard], fetch=True, fetch_options={"concurency": 4}, output=tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before any output


@pytest.mark.eval_data("images")
def test_hash_command_to_stdout_has_a_loadable_header(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from provscan.cli import cli
    from provscan.lists.files import load_list

    result = CliRunner().invoke(cli, ["hash", str(IMAGES / "imagehash" / "peppers.png"), "--kind", "phash"])
    assert result.exit_code == 0, result.output
    listed = tmp_path / "l.txt"
    listed.write_text(result.output)
    loaded = load_list(listed)
    assert (loaded.kind, loaded.name, loaded.entry_count) == ("phash", "hashes", 1)


def test_pdq_list_without_extra_is_a_clear_error(tmp_path: Path, make_shard, make_list, monkeypatch) -> None:
    from provscan.errors import MissingDependency

    monkeypatch.setitem(sys.modules, "pdqhash", None)  # as if provscan[pdq] were not installed
    shard = make_shard("s.parquet", url=["http://a.example/"])
    lst = make_list("p.txt", "# provscan-list: kind=pdq\n" + "0" * 64 + "\n")
    with pytest.raises(MissingDependency, match="provscan\\[pdq\\]"):
        scan([shard], lists=(ListSpec(lst),), output=tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before any output


@pytest.mark.eval_data("images")
def test_pdq_list_matches_local_images(tmp_path: Path, make_shard, make_list) -> None:
    pytest.importorskip("pdqhash")
    from provscan.images.hashing import hash_image

    bridge = IMAGES / "threatexchange-pdq" / "bridge-mods"
    listed = hash_image((bridge / "aaa-orig.jpg").read_bytes(), ["pdq"]).hashes["pdq"][0]
    files = {
        "http://x.example/1.jpg": bridge / "shrink-a-lot.jpg",
        "http://x.example/2.jpg": IMAGES / "imagehash" / "peppers.png",
    }
    _img2dataset_folder(tmp_path / "dl", files)
    shard = make_shard("s.parquet", url=list(files))
    lst = make_list("p.txt", f"# provscan-list: kind=pdq\n{listed}\n")
    result = scan([shard], lists=(ListSpec(lst),), images=(tmp_path / "dl",), output=tmp_path / "out")
    flagged = pq.read_table(result.output / "flagged.parquet").to_pylist()
    assert [f["row"] for f in flagged] == [0] and flagged[0]["distance"] <= 31
