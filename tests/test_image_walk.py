"""One image-folder walker for ``--images DIR`` and ``provscan hash DIR``: same files, same order."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from provscan.images.hashing import hash_files
from provscan.images.local import iter_local_images, walk_files


def test_both_commands_walk_the_same_files_in_the_same_order(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    names = ["b/2.jpg", "a/1.png", "a/1.json", "a/1.txt", "a/.hidden.jpg", ".cache/x.jpg", "c.tsv", "z/0.webp", "s.tar"]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"not really an image")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("000.jpg")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    (root / "s.tar").write_bytes(buf.getvalue())
    assert [p.relative_to(root).as_posix() for p in walk_files(root)] == ["s.tar", "a/1.png", "b/2.jpg", "z/0.webp"]
    # provscan hash leaves tars alone; --images opens them (members named shard.tar::member)
    assert [p.relative_to(root).as_posix() for p, _ in hash_files([root], "phash")] == [
        "a/1.png",
        "b/2.jpg",
        "z/0.webp",
    ]
    assert [Path(i.source).relative_to(root).as_posix() for i in iter_local_images([root])] == [
        "s.tar::000.jpg",
        "a/1.png",
        "b/2.jpg",
        "z/0.webp",
    ]
