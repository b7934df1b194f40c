"""img2dataset output layouts (files, webdataset tar) read back as LocalImage, built from eval photos."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from conftest import EVAL

from provscan.images.hashing import hash_image
from provscan.images.local import LocalImage, iter_local_images

IMAGES = EVAL / "images"
pytestmark = pytest.mark.eval_data("images")

PHOTOS = sorted((IMAGES / "img2dataset/resize_test_image").glob("*.jpg"))[:4]


def _sample(i: int) -> tuple[str, bytes, dict]:
    key = f"{i:09d}"
    return (
        key,
        PHOTOS[i].read_bytes(),
        {"key": key, "url": f"https://img.example/{i}.jpg", "caption": f"photo {i}", "status": "success"},
    )


def _files_layout(root: Path) -> None:
    for i in range(len(PHOTOS)):
        key, data, meta = _sample(i)
        shard = root / f"{i // 2:05d}"  # img2dataset: 00000/, 00001/ ... with N images each
        shard.mkdir(parents=True, exist_ok=True)
        (shard / f"{key}.jpg").write_bytes(data)
        (shard / f"{key}.json").write_text(json.dumps(meta))
        (shard / f"{key}.txt").write_text(meta["caption"])
    (root / "00000.parquet").write_bytes(b"PAR1")
    (root / "00000_stats.json").write_text("{}")


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _webdataset(path: Path, order=("jpg", "json", "txt"), mode="w") -> None:
    with tarfile.open(path, mode) as tar:
        for i in range(len(PHOTOS)):
            key, data, meta = _sample(i)
            parts = {"jpg": data, "json": json.dumps(meta).encode(), "txt": meta["caption"].encode()}
            for ext in order:
                _add(tar, f"{key}.{ext}", parts[ext])


def _expect(images: list[LocalImage]) -> None:
    assert [im.key for im in images] == [f"{i:09d}" for i in range(len(PHOTOS))]
    assert [im.url for im in images] == [f"https://img.example/{i}.jpg" for i in range(len(PHOTOS))]
    assert [im.data for im in images] == [p.read_bytes() for p in PHOTOS]
    assert all(hash_image(im.data, ["phash"]).status == "ok" for im in images)


def test_files_layout(tmp_path):
    _files_layout(tmp_path / "out")
    images = list(iter_local_images([tmp_path / "out"]))
    _expect(images)
    assert images[2].source == str(tmp_path / "out/00001/000000002.jpg")


def test_files_layout_without_or_with_broken_sidecar(tmp_path):
    (tmp_path / "000000007.jpg").write_bytes(PHOTOS[0].read_bytes())
    (tmp_path / "000000008.jpg").write_bytes(PHOTOS[1].read_bytes())
    (tmp_path / "000000008.json").write_text("{not json")
    images = list(iter_local_images([tmp_path]))
    assert [(im.key, im.url) for im in images] == [("000000007", None), ("000000008", None)]


@pytest.mark.parametrize("order", [("jpg", "json", "txt"), ("json", "txt", "jpg")])
def test_webdataset_tar(tmp_path, order):
    _webdataset(tmp_path / "00000.tar", order)
    images = list(iter_local_images([tmp_path / "00000.tar"]))
    _expect(images)
    assert images[1].source == f"{tmp_path / '00000.tar'}::000000001.jpg"


def test_webdataset_gz_tars_inside_a_directory(tmp_path):
    out = tmp_path / "wds"
    out.mkdir()
    _webdataset(out / "00001.tar.gz", mode="w:gz")
    (out / "00001.parquet").write_bytes(b"PAR1")
    (out / "00001_stats.json").write_text("{}")
    _expect(list(iter_local_images([out])))


def test_tar_member_over_the_limit_is_skipped_not_read(tmp_path, caplog):
    _webdataset(tmp_path / "s.tar")
    limit = min(p.stat().st_size for p in PHOTOS) + 1  # PHOTOS[k] below it, the others above
    images = list(iter_local_images([tmp_path / "s.tar"], max_member_bytes=limit))
    assert [im.data for im in images] == [p.read_bytes() for p in PHOTOS if p.stat().st_size <= limit]
    assert "over the" in caplog.text


def test_tar_is_streamed(tmp_path, monkeypatch):
    """Sequential mode only: a non-seekable stream would fail with random access."""
    _webdataset(tmp_path / "s.tar")
    modes = []
    real_open = tarfile.open

    def spy(*args, **kwargs):
        modes.append(kwargs.get("mode"))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(tarfile, "open", spy)
    gen = iter_local_images([tmp_path / "s.tar"])
    first = next(gen)
    assert first.key == "000000000" and modes == ["r|*"]
    gen.close()
