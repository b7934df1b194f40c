"""Fuzz the native simple-URL kernel: no crash, no memory error, equal to the reference and the SQL fast path.

Three modes (issue 22: with gcc's libasan, atheris under a preloaded ASan gets no coverage at all,
the corpus stayed at 1 entry after 174 k runs; so coverage and memory checking run apart):

``fuzz``  atheris, coverage-guided, on the normal build (no ASan). Each input becomes a batch of URLs
    (split on a control byte) passed as a sliced string array and as large_string; rows are compared
    with ``canonicalize`` on every input and with ``fast_parts_sql`` every 500 inputs. Coverage
    guidance sees the reference's branches, not the C::

        pip install atheris   # or the `fuzz` extra; dev only
        python benchmarks/fuzz_native.py fuzz CORPUS_DIR -max_total_time=300 -max_len=256 -dict=benchmarks/fuzz_native.dict

``differential``  seeded: N generated URLs (simple, escaped, non-ASCII, IP, dot segments, 1 MB) in
    every buffer layout a caller can pass (plain, sliced, large, chunked, null-scattered, misaligned
    offsets, exact-size buffers), compared with the reference; ``--sql`` adds the SQL fast path.

``asan``  builds the kernel with ``-fsanitize=address,undefined`` into a temporary copy of the
    package and runs ``differential`` on it with the ASan runtime preloaded and ``PYTHONMALLOC=malloc``
    (so every buffer is a malloc block with red zones), then compares its rows with the SQL fast path
    outside the sanitized process. tests/test_native_sanitized.py runs this with
    ``PROVSCAN_FUZZ_URLS`` URLs (CI: 20 000)::

        python benchmarks/fuzz_native.py asan --urls 20000 --seed 1

Exit status 1 and the first differing URL on a mismatch; a memory error aborts the child (non-zero).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = ["", "http://", "https://", "HTTP://a.com", "http://a.b.c/", "https://x.y:8/p/"]


# --- generated URLs and buffer layouts (differential) -------------------------------------------

_HOST_CHARS = "abcxyzABCXYZ0129-._"
_PATH_CHARS = "abcXYZ019-._~!$&'()*+,;=:@/?#%% \t\\\"<>^`{|}\x7f\x00ü€ſ"
_ESCAPES = ["%20", "%2F", "%2f", "%25", "%E4", "%e4", "%7F", "%7E", "%23", "%00", "%1F", "%G1", "%4", "%", "%41"]


def generate(n: int, seed: int) -> list[str | None]:
    """``n`` URLs around the edges of the simple class, the same for the same seed."""
    rng = random.Random(seed)
    urls: list[str | None] = []
    for i in range(n):
        if rng.random() < 0.04:
            urls.append(None if rng.random() < 0.7 else "")
            continue
        if rng.random() < 0.6:  # near the class: a simple URL with at most one odd character
            url = (
                rng.choice(["http://", "https://", "HTTP://"])
                + rng.choice(["a", "Ex-1.A", "www.b", "c.d.e"])
                + rng.choice([".com", ".example", ".com.", ".org:8080"])
                + "".join(
                    rng.choice(
                        [
                            "/",
                            "/p",
                            "/Q.jpg",
                            "/%41",
                            "/%7e",
                            "/%E4%20",
                            "/.x",
                            "/..y",
                            "?q=1",
                            "?a=%2F&b",
                            "#f",
                            "/~_-",
                        ]
                    )
                    for _ in range(rng.randint(0, 4))
                )
            )
            if rng.random() < 0.3:
                k = rng.randrange(len(url) + 1)
                url = url[:k] + rng.choice(_PATH_CHARS + "".join(_ESCAPES)) + url[k:]
            urls.append(url)
            continue
        scheme = rng.choice(
            ["http://", "https://", "HTTP://", "HtTpS://", "ftp://", "", "//", "http:/", "httpſ://", "http:"]
        )
        labels = ["".join(rng.choice(_HOST_CHARS) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 4))]
        host = ".".join(labels) + rng.choice(["", "", ".example", ".com.", ".Ü", "ＥＶＩＬ.example"])
        if rng.random() < 0.05:
            host = rng.choice(["1.2.3.4", "0x7f.1", "[::1]", "a..b", ".a.com", "a.com..", "a.1com", "a.b1"])
        port = rng.choice(["", "", "", ":80", ":", ":8a", ":99999"])
        segs = []
        for _ in range(rng.randint(0, 5)):
            seg = "".join(
                rng.choice(_ESCAPES) if rng.random() < 0.15 else rng.choice(_PATH_CHARS)
                for _ in range(rng.randint(0, 8))
            )
            segs.append(rng.choice([seg, seg, seg, ".", "..", ""]))
        url = scheme + host + port + ("/" + "/".join(segs) if segs or rng.random() < 0.5 else "")
        if rng.random() < 0.3:
            url += "?" + "".join(
                rng.choice(_ESCAPES) if rng.random() < 0.2 else rng.choice(_PATH_CHARS)
                for _ in range(rng.randint(0, 10))
            )
        if rng.random() < 0.1:
            url += "#" + "frag"
        if i % 5000 == 17:  # a 1 MB URL now and then
            url = "http://big.example/" + "a" * (1 << 20)
        urls.append(url)
    return urls


def layouts(urls: list[str | None]) -> dict[str, pa.Array | pa.ChunkedArray]:
    """The same rows in every layout a direct caller can hand the kernel."""
    plain = pa.array(urls, pa.string())
    large = pa.array(urls, pa.large_string())
    sliced = pa.array([None, "x", *urls, "y"], pa.string()).slice(2, len(urls))
    cut = len(urls) // 3
    chunked = pa.chunked_array([plain.slice(0, cut), plain.slice(cut, 0), plain.slice(cut)])
    out: dict[str, pa.Array | pa.ChunkedArray] = {"plain": plain, "large": large, "sliced": sliced, "chunked": chunked}
    for name, arr, width in (("misaligned", plain, 4), ("misaligned_large", large, 8)):
        validity, offsets, data = arr.buffers()
        moved = pa.py_buffer(b"\0" + offsets.to_pybytes()[: (len(arr) + 1) * width]).slice(1)
        out[name] = pa.Array.from_buffers(arr.type, len(arr), [validity, moved, data], null_count=arr.null_count)
    validity, offsets, data = plain.buffers()
    offs = offsets.to_pybytes()[: (len(plain) + 1) * 4]
    end = int.from_bytes(offs[-4:], "little")
    bits = validity.to_pybytes()[: (len(plain) + 7) // 8] if validity is not None else None
    out["exact"] = pa.Array.from_buffers(
        pa.string(),
        len(plain),
        [pa.py_buffer(bits) if bits else None, pa.py_buffer(offs), pa.py_buffer(data.to_pybytes()[:end])],
        null_count=plain.null_count,
    )
    return out


def differential(n: int, seed: int, *, sql: bool, expect_kernel_in: str | None, save: str | None) -> int:
    from provscan.urls import native
    from provscan.urls.canonical import canonicalize

    if native._simple is None:
        sys.exit(f"kernel not loaded: {native.status()}")
    if expect_kernel_in and not native._simple.__file__.startswith(expect_kernel_in):
        sys.exit(f"wrong kernel: {native._simple.__file__}")
    urls = generate(n, seed)
    first = None
    for name, array in layouts(urls).items():
        array.validate(full=True)
        taken, host, path, query = native.simple_parts(array)
        got = list(zip(host.to_pylist(), path.to_pylist(), query.to_pylist()))
        if first is None:
            first = got
            for url, g in zip(urls, got, strict=True):
                if g[0] is not None:
                    c = canonicalize(url)  # type: ignore[arg-type]
                    if c is None or g != (c.host, c.path, c.query):
                        print(f"MISMATCH kernel {g} != reference {c} for {url!r}")
                        return 1
        elif got != first:
            print(f"MISMATCH layout {name} differs from plain")
            return 1
        if taken != sum(g[0] is not None for g in got):
            print(f"MISMATCH taken count in layout {name}")
            return 1
        # simple_hosts: a host wherever simple_parts has one (the same), and only the reference's
        counted, hosts = native.simple_hosts(array)
        for url, h, g in zip(urls, hosts.to_pylist(), got, strict=True):
            if (g[0] is not None and h != g[0]) or (
                h is not None and ((c := canonicalize(url)) is None or c.host != h)  # type: ignore[arg-type]
            ):
                print(f"MISMATCH simple_hosts {h!r} in layout {name} for {url!r}")
                return 1
        if counted != sum(h is not None for h in hosts.to_pylist()):
            print(f"MISMATCH simple_hosts taken count in layout {name}")
            return 1
    boundary = [
        (None, bytes(8), b"", 0, 2**60, True),
        (None, bytes(8), b"", 2**63 - 1, 0, True),
        (None, (0).to_bytes(4, "little") + (5).to_bytes(4, "little"), b"abc", 0, 1, False),
    ]
    for args in boundary:
        for kernel in (native._simple.simple_parts, native._simple.simple_hosts):
            try:
                kernel(*args)
            except ValueError:
                continue
            print(f"MISMATCH {kernel.__name__} accepted {args[3:]}")
            return 1
    assert first is not None
    if save:
        import pyarrow.feather as feather

        feather.write_feather(
            pa.table(
                {
                    "url": urls,
                    "host": [g[0] for g in first],
                    "path": [g[1] for g in first],
                    "query": [g[2] for g in first],
                }
            ),
            save,
        )
    if sql and compare_sql(urls, first):
        return 1
    print(
        f"{n} URLs x {len(layouts(urls[:3]))} layouts, seed {seed}: {sum(g[0] is not None for g in first)} taken, 0 mismatches"
    )
    return 0


def compare_sql(urls: list[str | None], got: list[tuple]) -> int:
    import duckdb

    from provscan.urls.sql import fast_parts_sql

    con, parts = duckdb.connect(), fast_parts_sql("u")
    rel = con.from_arrow(pa.table({"u": pa.array(urls, pa.string()), "i": range(len(urls))}))  # noqa: F841
    want = con.sql(f"SELECT {parts['host']}, {parts['path']}, {parts['query']} FROM rel ORDER BY i").fetchall()
    for url, g, w in zip(urls, got, want, strict=True):
        if g != w:
            print(f"MISMATCH kernel {g} != sql {w} for {url!r}")
            return 1
    return 0


def asan(n: int, seed: int, source: Path) -> int:
    """Build the kernel with ASan + UBSan into a temporary package copy; run ``differential`` there."""
    runtime = subprocess.run(
        ["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="provscan-asan-") as tmp:
        pkg = Path(tmp) / "pkg"
        shutil.copytree(
            ROOT / "src" / "provscan", pkg / "provscan", ignore=shutil.ignore_patterns("*.so", "__pycache__")
        )
        so = pkg / "provscan" / "urls" / ("_simple" + sysconfig.get_config_var("EXT_SUFFIX"))
        subprocess.run(
            [
                "gcc",
                "-shared",
                "-fPIC",
                "-O1",
                "-g",
                "-fno-omit-frame-pointer",
                "-fsanitize=address,undefined",
                "-fno-sanitize-recover=all",
                f"-I{sysconfig.get_paths()['include']}",
                str(source),
                "-o",
                str(so),
            ],
            check=True,
        )
        save = str(Path(tmp) / "rows.arrow")
        env = {
            **os.environ,
            "PYTHONPATH": str(pkg),
            "LD_PRELOAD": runtime,
            "PYTHONMALLOC": "malloc",
            "PROVSCAN_NATIVE": "1",
            "ASAN_OPTIONS": "detect_leaks=0:allocator_may_return_null=1",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        }
        child = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "differential",
                "--urls",
                str(n),
                "--seed",
                str(seed),
                "--expect-kernel-in",
                str(pkg),
                "--save",
                save,
            ],
            env=env,
            cwd=tmp,
        )
        if child.returncode:
            print(f"sanitized run failed (exit {child.returncode})")
            return 1
        import pyarrow.feather as feather

        rows = feather.read_table(save)
        got = list(
            zip(rows.column("host").to_pylist(), rows.column("path").to_pylist(), rows.column("query").to_pylist())
        )
        if compare_sql(rows.column("url").to_pylist(), got):
            return 1
        print("sanitized kernel = reference = SQL fast path")
        return 0


# --- atheris (fuzz) ------------------------------------------------------------------------------


def fuzz(argv: list[str]) -> None:
    import atheris
    import duckdb

    from provscan.urls import canonical, native
    from provscan.urls.canonical import canonicalize
    from provscan.urls.sql import fast_parts_sql

    for f in vars(canonical).values():  # coverage feedback from the reference's branches (already imported)
        if getattr(f, "__module__", None) == canonical.__name__ and hasattr(f, "__code__"):
            atheris.instrument_func(f)
    con, parts = duckdb.connect(), fast_parts_sql("u")
    pending: list[tuple[str | None, tuple]] = []

    def compare_with_sql() -> None:
        urls = [u for u, _ in pending]
        rel = con.from_arrow(pa.table({"u": pa.array(urls, pa.string()), "i": range(len(urls))}))  # noqa: F841
        want = con.sql(f"SELECT {parts['host']}, {parts['path']}, {parts['query']} FROM rel ORDER BY i").fetchall()
        for (url, g), w in zip(pending, want, strict=True):
            if g != w:
                raise AssertionError(f"kernel {g} != sql {w} for {url!r}")
        pending.clear()

    def one_input(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        prefix = PREFIXES[fdp.ConsumeIntInRange(0, len(PREFIXES) - 1)]
        text = fdp.ConsumeBytes(fdp.remaining_bytes()).decode("utf-8", "replace")
        urls = [prefix + u if i % 2 == 0 else u for i, u in enumerate(text.split("\x01"))] + [None]
        got: list[tuple] = []
        for arr in (pa.array(["x"] + urls, pa.string()).slice(1), pa.array(urls, pa.large_string())):
            taken, host, path, query = native.simple_parts(arr)
            got = list(zip(host.to_pylist(), path.to_pylist(), query.to_pylist()))
            for url, g in zip(urls, got, strict=True):
                if g[0] is not None:
                    c = canonicalize(url)  # type: ignore[arg-type]
                    if c is None or g != (c.host, c.path, c.query):
                        raise AssertionError(f"kernel {g} != reference {c} for {url!r}")
            if taken != sum(g[0] is not None for g in got):
                raise AssertionError("taken count")
        pending.extend(zip(urls, got))
        if len(pending) >= 500 * 4:
            compare_with_sql()

    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "fuzz":
        fuzz([sys.argv[0], *sys.argv[2:]])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["differential", "asan"])
    parser.add_argument("--urls", type=int, default=int(os.environ.get("PROVSCAN_FUZZ_URLS", "20000")))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sql", action="store_true", help="differential: compare with the SQL fast path too")
    parser.add_argument(
        "--source", type=Path, default=ROOT / "src" / "provscan" / "urls" / "_simple.c", help="asan: the C file"
    )
    parser.add_argument("--expect-kernel-in", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "asan":
        sys.exit(asan(args.urls, args.seed, args.source))
    sys.exit(differential(args.urls, args.seed, sql=args.sql, expect_kernel_in=args.expect_kernel_in, save=args.save))


if __name__ == "__main__":
    main()
