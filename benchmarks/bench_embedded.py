"""The cost of reading embedded signals (XMP, C2PA detection) on the fetch + pHash path: on vs off.

Target (issue 18): fetch + pHash with embedded-signal reading under 10 % slower than without. Two
figures, because the machine is shared and noisy:

* ``read_embedded`` alone, microseconds of CPU per image (one core);
* CPU-seconds per 1,000 images, pinned to one core: decode + pHash alone, and with
  ``read_embedded`` on the same bytes (the steadier figure), for the real JPEGs of
  ``../shared/eval-data/images`` as they are and with a typical 3 kB XMP packet (PLUS DataMining,
  digital source type, a CC licence) written into each;
* fetch + pHash from a loopback server (bench_fetch_hash.py's), rounds alternating off / on, min
  and median images/s with the load average.

    python benchmarks/bench_embedded.py [images] [rounds]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench_fetch_hash as bfh
from bench_fetch import IMAGES

import provscan.stages.fetch as fetch_stage
from provscan.consent.embedded import NOTHING, read_embedded
from provscan.images.hashing import hash_image

XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
    'xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/" '
    'xmlns:cc="http://creativecommons.org/ns#" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/">'
    '<plus:DataMining rdf:resource="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING"/>'
    '<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture</Iptc4xmpExt:DigitalSourceType>'
    '<cc:license rdf:resource="https://creativecommons.org/licenses/by/4.0/"/>'
    '<xmpRights:UsageTerms><rdf:Alt><rdf:li xml:lang="x-default">Licensed under CC BY 4.0</rdf:li></rdf:Alt></xmpRights:UsageTerms>'
    '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
    + "A photograph. "
    * 150
    + "</rdf:li></rdf:Alt></dc:description>"
    '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
).encode()


def with_xmp(jpeg: bytes) -> bytes:
    body = b"http://ns.adobe.com/xap/1.0/\x00" + XMP
    return jpeg[:2] + b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body + jpeg[2:]


def cpu_per_1000(images: list[bytes], embedded: bool, n: int) -> float:
    start = time.process_time()
    for i in range(n):
        data = images[i % len(images)]
        hash_image(data, ("phash",))
        if embedded:
            read_embedded(data)
    return (time.process_time() - start) * 1000 / n


def embedded_alone_us(images: list[bytes], n: int) -> float:
    start = time.process_time()
    for i in range(n):
        read_embedded(images[i % len(images)])
    return (time.process_time() - start) * 1e6 / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    paths = sorted(str(p) for p in IMAGES.rglob("*.jpg") if "corrupt" not in p.name)
    plain = [Path(p).read_bytes() for p in paths]
    tagged = [with_xmp(b) for b in plain]
    assert read_embedded(tagged[0]).signals[0] == "xmp:dmi-prohibited-aimltraining"
    found = sum(1 for b in plain if read_embedded(b).signals)
    print(
        f"{len(paths)} JPEGs ({found} carry signals of their own), {n} images per figure, {rounds} rounds; XMP packet {len(XMP)} bytes"
    )
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cpu_per_1000(plain, True, 60)  # warm-up: imports, caches
    for name, images in (("as they are", plain), ("with XMP", tagged)):
        alone = min(embedded_alone_us(images, n * 10) for _ in range(rounds))
        print(
            f"read_embedded alone, one core, {name:12s}: {alone:.1f} us per image (min of {rounds} rounds of {n * 10})"
        )
    for name, images in (("as they are", plain), ("with XMP", tagged)):
        off, on = [], []
        for _ in range(rounds):
            off.append(cpu_per_1000(images, False, n))
            on.append(cpu_per_1000(images, True, n))
        print(
            f"CPU-s per 1,000 images, one core, {name:12s}: decode+pHash {min(off):.3f} (median {statistics.median(off):.3f}), "
            f"+ embedded {min(on):.3f} (median {statistics.median(on):.3f}): {min(on) / min(off) - 1:+.1%} (load {os.getloadavg()[0]:.2f})"
        )
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    with tempfile.TemporaryDirectory() as tmp:
        tagged_paths = []
        for i, data in enumerate(tagged):
            (Path(tmp) / f"{i}.jpg").write_bytes(data)
            tagged_paths.append(str(Path(tmp) / f"{i}.jpg"))
        server = bfh.nginx_server if bfh.shutil.which("nginx") else bfh.python_server
        for name, served in (("as they are", paths), ("with XMP", tagged_paths)):
            rates: dict[str, list[float]] = {"off": [], "on": []}
            loads = []
            for _ in range(rounds):
                for mode in ("off", "on"):
                    fetch_stage.read_embedded = (lambda data: NOTHING) if mode == "off" else read_embedded  # type: ignore[assignment]
                    loads.append(os.getloadavg()[0])
                    rate, statuses = bfh.fetched(served, n, ("phash",), server)
                    assert statuses == {"ok": n}, statuses
                    rates[mode].append(rate)
            fetch_stage.read_embedded = read_embedded
            off, on = rates["off"], rates["on"]
            print(
                f"fetch+pHash images/s, {name:12s}: off max {max(off):.0f} median {statistics.median(off):.0f}; "
                f"on max {max(on):.0f} median {statistics.median(on):.0f}; median change {statistics.median(on) / statistics.median(off) - 1:+.1%} "
                f"(rounds off {', '.join(f'{r:.0f}' for r in off)}; on {', '.join(f'{r:.0f}' for r in on)}; load {min(loads):.2f}-{max(loads):.2f})"
            )


if __name__ == "__main__":
    main()
