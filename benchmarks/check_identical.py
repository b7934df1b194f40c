"""Byte-identity check of scan outputs on the real LAION sample with the UT1 lists.

Performance work must not change a single output byte. ``--save FILE`` records the SHA-256 of
flagged.parquet, every clean/ shard and removals.sha256.txt from the code on PYTHONPATH; without
``--save`` the same run is compared against FILE and any difference exits 1.

    python benchmarks/check_identical.py --save benchmarks/identical-baseline.json   # on main
    python benchmarks/check_identical.py benchmarks/identical-baseline.json          # after a change
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_real_corpus import SAMPLE, ut1_lists  # noqa: E402


def digests(sample: Path) -> dict[str, str]:
    tmp = Path(tempfile.mkdtemp(prefix="provscan-identical-"))
    try:
        (tmp / "empty.toml").write_text("")
        args = [
            sys.executable,
            "-m",
            "provscan",
            "scan",
            str(sample),
            "-o",
            str(tmp / "out"),
            "-q",
            "-c",
            str(tmp / "empty.toml"),
        ]
        for lst in ut1_lists():
            args += ["-b", lst]
        subprocess.run(args, check=True)
        out = tmp / "out"
        files = [out / "flagged.parquet", out / "removals.sha256.txt", *sorted((out / "clean").rglob("*.parquet"))]
        return {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    finally:
        shutil.rmtree(tmp)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("baseline", nargs="?", default=str(Path(__file__).with_name("identical-baseline.json")))
    ap.add_argument("--save", action="store_true", help="record the baseline instead of comparing")
    ap.add_argument("--sample", default=str(SAMPLE))
    args = ap.parse_args()
    got = digests(Path(args.sample))
    if args.save:
        Path(args.baseline).write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        print(f"saved {len(got)} digests to {args.baseline}")
        return
    want = json.loads(Path(args.baseline).read_text())
    bad = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    for k in bad:
        print(f"DIFFERENT: {k}: {want.get(k)} -> {got.get(k)}")
    print("identical" if not bad else f"{len(bad)} of {len(want)} files differ")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
