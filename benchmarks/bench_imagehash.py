"""Decode + hash throughput in one process: images/s per kind, with and without JPEG draft, and the
cost of --dihedral. Inputs are the eval photos (bytes preloaded, so disk is not measured), by default
the 640x480 UKBench and 1600x1004 bridge JPEGs, repeated.

    python benchmarks/bench_imagehash.py [--seconds 2] [--eval-data DIR]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from provscan.images.hashing import hash_image


def rate(datas: list[bytes], kinds: list[str], seconds: float, **kw) -> float:
    """Images per CPU-second of this process (robust to other processes sharing the cores)."""
    n, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        for data in datas:
            assert hash_image(data, kinds, **kw).status == "ok"
        n += len(datas)
    return n / (time.process_time() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--eval-data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval-data")
    a = ap.parse_args()
    img = a.eval_data / "images"
    sets = {
        "UKBench 640x480 JPEG (10)": sorted((img / "imagededup/base_images").glob("*.jpg")),
        "bridge 1600x1004 JPEG (8)": sorted((img / "threatexchange-pdq/reg-test-input/dih").glob("*.jpg")),
        "img2dataset PNG 389x535 (1)": [img / "img2dataset/blur_test_files/original.png"],
    }
    kinds = [["phash"], ["dhash"], ["ahash"], ["whash"], ["phash", "dhash", "ahash", "whash"]]
    try:
        import pdqhash  # noqa: F401

        kinds.append(["pdq"])
    except ImportError:
        pass
    print(f"load average before: {os.getloadavg()[0]:.1f} (other processes share the 2 cores)")
    print("| images | kinds | full decode img/CPU-s | draft img/CPU-s | draft + --dihedral img/CPU-s |")
    print("|---|---|---|---|---|")
    for label, paths in sets.items():
        datas = [p.read_bytes() for p in paths]
        for ks in kinds:
            full = rate(datas, ks, a.seconds, draft=False)
            fast = rate(datas, ks, a.seconds)
            dih = rate(datas, ks, a.seconds, dihedral=True)
            print(
                f"| {label} | {'+'.join(ks)} | {full:.0f} ({1e3 / full:.2f} ms) | {fast:.0f} ({1e3 / fast:.2f} ms)"
                f" | {dih:.0f} (+{1e3 / dih - 1e3 / fast:.2f} ms) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
