"""Recall on real upstream-made image variants vs. false matches among distinct photos, per
perceptual hash and threshold: the evidence behind ``DEFAULT_MAX_DISTANCE`` (table in docs/lists.md).

Variants (query -> the original it should match):
  bridge-mods   ThreatExchange's 11 edits of bridge-1 (blur, contrast, saturation, sharpen, shrink, squares)
  dih plain     its 7 dihedral copies (rotations/flips), plain hashing
  ... --dih     the same with ``dihedral=True`` on the query side (any of its 8 hashes)
  imagededup    ukbench00120 hflip / resize / rotation (a small-angle turn), gray, RGBA; 09380 webp
  img2dataset   the resize-mode outputs + blurred.png + 389_535.jpg vs original.png
  jpeg qNN      re-encodes made here at quality 90/70/50/30/15 of 26 base photos
False: pairs of distinct base photos within the threshold (plain; and with --dihedral).

    python benchmarks/eval_images.py [--eval-data DIR]
"""

from __future__ import annotations

import argparse
import io
import itertools
from pathlib import Path

from PIL import Image

from provscan.images.hashing import DEFAULT_MAX_DISTANCE, hash_image

KINDS64 = ["phash", "dhash", "ahash", "whash"]
QUALITIES = (90, 70, 50, 30, 15)


def dist(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval-data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval-data")
    root = ap.parse_args().eval_data / "images"
    try:
        import pdqhash  # noqa: F401

        kinds = KINDS64 + ["pdq"]
    except ImportError:
        kinds = KINDS64
    te, dd, i2d = root / "threatexchange-pdq", root / "imagededup", root / "img2dataset"
    cache: dict[tuple, dict[str, list[str]]] = {}

    def h(path_or_bytes, dihedral: bool) -> dict[str, list[str]]:
        key = (str(path_or_bytes), dihedral) if isinstance(path_or_bytes, Path) else None
        if key in cache:
            return cache[key]
        data = path_or_bytes.read_bytes() if key else path_or_bytes
        r = hash_image(data, kinds, dihedral=dihedral)
        assert r.status == "ok", (path_or_bytes if key else "bytes", r.status)
        if key:
            cache[key] = r.hashes
        return r.hashes

    bridge = te / "reg-test-input/dih/bridge-1-original.jpg"
    motel = i2d / "blur_test_files/original.png"
    u120 = dd / "mixed_images/ukbench00120.jpg"
    groups: dict[str, list[tuple[object, Path]]] = {
        "bridge-mods": [(p, bridge) for p in sorted((te / "bridge-mods").glob("*.jpg")) if "aaa" not in p.name],
        "dih": [(p, bridge) for p in sorted((te / "reg-test-input/dih").glob("*.jpg")) if p != bridge],
        "imagededup": [(dd / f"mixed_images/ukbench00120_{v}.jpg", u120) for v in ("hflip", "resize", "rotation")]
        + [
            (dd / "ukbench00120_gray.jpg", u120),
            (dd / "alpha_channel_image.png", u120),
            (dd / "formats_images/ukbench09380.webp", dd / "base_images/ukbench09380.jpg"),
        ],
        "img2dataset": [(p, motel) for p in sorted((i2d / "blur_test_files").glob("*")) if p != motel]
        + [(i2d / "resize_test_image/389_535.jpg", motel)],
    }
    distinct = (
        sorted((dd / "base_images").glob("*.jpg"))
        + sorted((te / "reg-test-input/labelme-subset").glob("*.jpg"))
        + [p for p in sorted((i2d / "resize_test_image").glob("*.jpg")) if p.name != "389_535.jpg"]
        + [
            motel,
            bridge,
            root / "imagehash/peppers.png",
            dd / "formats_images/baboon.pgm",
            dd / "formats_images/marbles.pbm",
            dd / "formats_images/copyleft.tiff",
            dd / "formats_images/giphy.gif",
            te / "misc-images/wee.jpg",
        ]
    )
    jpeg_bases = distinct[:26]
    groups["jpeg"] = []
    for p in jpeg_bases:
        rgb = Image.open(p).convert("RGB")
        for q in QUALITIES:
            buf = io.BytesIO()
            rgb.save(buf, "JPEG", quality=q)
            groups["jpeg"].append((buf.getvalue(), p))

    def best(query, ref, kind, dihedral):
        """Closest pair: any hash of the query (8 with --dihedral) vs any list hash of the ref
        (its displayed + stored orientation, as hash_image emits them for a list)."""
        return min(dist(a, b) for a in h(query, dihedral)[kind] for b in h(ref, False)[kind])

    cols = ["bridge-mods", "dih plain", "dih --dih", "imagededup", "imagededup --dih", "img2dataset", "jpeg"]
    print(
        f"{len(distinct)} distinct photos = {len(distinct) * (len(distinct) - 1) // 2} pairs; "
        f"{sum(len(v) for v in groups.values())} variant queries\n"
    )
    print(
        "| kind | d | "
        + " | ".join(f"{c} (n={len(groups[c.split()[0]])})" for c in cols)
        + " | false pairs | false pairs --dih |"
    )
    print("|" + "---|" * (len(cols) + 4))
    for kind in kinds:
        ds = {c: [best(q, r, kind, c.endswith("--dih")) for q, r in groups[c.split()[0]]] for c in cols}
        pairs = list(itertools.combinations(distinct, 2))
        fp_plain = [best(a, b, kind, False) for a, b in pairs]
        fp_dih = [best(a, b, kind, True) for a, b in pairs]
        thresholds = (16, 24, 31, 40, 48, 56) if kind == "pdq" else (2, 4, 6, 8, 10, 12, 14, 16)
        for t in thresholds:
            mark = " **default**" if t == DEFAULT_MAX_DISTANCE[kind] else ""
            cells = [f"{sum(x <= t for x in ds[c])}/{len(ds[c])}" for c in cols]
            print(
                f"| {kind}{mark} | {t} | "
                + " | ".join(cells)
                + f" | {sum(x <= t for x in fp_plain)} | {sum(x <= t for x in fp_dih)} |"
            )
        print(f"| {kind} | min false |" + " |" * len(cols) + f" {min(fp_plain)} | {min(fp_dih)} |")


if __name__ == "__main__":
    main()
