"""The native kernel at its own boundary: a direct caller's buffers, not only what the pipeline passes
(issue 22, items 4-7). Sizes near 2**63 are refused, not wrapped; misaligned and sliced buffers,
null bitmaps and empty arrays give the reference's answer; the GIL is released around the byte loop."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pytest

from provscan.urls import native
from provscan.urls.canonical import canonicalize

pytestmark = pytest.mark.skipif(native._simple is None, reason="native kernel not built (pip install -e .)")

URLS = [
    "http://A.example/x?q",
    None,
    "https://b.example/%7e",
    "http://c.example",
    "ftp://d.example/",
    "http://e.example/y#f",
    None,
    "http://F.example:8/a/b/?",
    "not a url",
    "",
]


def _parts(array: pa.Array) -> list[tuple]:
    taken, host, path, query = native.simple_parts(array)
    rows = list(zip(host.to_pylist(), path.to_pylist(), query.to_pylist()))
    assert taken == sum(r[0] is not None for r in rows)
    return rows


def _expected(urls: list[str | None]) -> list[tuple]:
    """The reference's parts where the kernel takes a URL; the kernel declines the rest (NULL)."""
    got = _parts(pa.array(urls, pa.string()))
    for url, g in zip(urls, got, strict=True):
        if g[0] is not None:
            c = canonicalize(url)  # type: ignore[arg-type]
            assert c is not None and g == (c.host, c.path, c.query)
    return got


@pytest.mark.parametrize(
    "args",
    [
        (None, bytes(8), b"", 0, 2**60, True),  # (offset + length + 1) * 8 wrapped to a small number: segfault
        (None, bytes(8), b"", 2**63 - 1, 0, True),  # exact 8-byte offsets buffer: heap read out of bounds
        (None, bytes(8), b"", 2**62, 2**62 - 1, True),
        (None, bytes(8), b"", 0, 2**62, False),
        (bytes(1), bytes(4 * 10), b"", 0, 9, False),  # validity bitmap too short for 9 rows
        (None, bytes(4 * 3), b"", 0, 3, False),  # 3 rows need 4 offsets
        (None, (0).to_bytes(4, "little") + (5).to_bytes(4, "little"), b"abc", 0, 1, False),  # past the data
        (None, (3).to_bytes(4, "little") + (1).to_bytes(4, "little"), b"abc", 0, 1, False),  # decreasing
        (None, b"".join(i.to_bytes(4, "little") for i in (0, 3, 1, 3)), b"abc", 0, 3, False),  # not monotonic
        (None, (-1).to_bytes(8, "little", signed=True) + (0).to_bytes(8, "little"), b"abc", 0, 1, True),
        (None, bytes(8), b"", -1, 1, True),
    ],
)
def test_out_of_range_sizes_and_offsets_are_refused(args: tuple) -> None:
    with pytest.raises(ValueError):
        native._simple.simple_parts(*args)


def test_empty_arrays() -> None:
    """A valid empty array may have a 0-byte offsets buffer (issue 22 item 6: it was refused)."""
    assert native._simple.simple_parts(None, b"", b"", 0, 0, False)[0] == 0
    assert native._simple.simple_parts(None, None, None, 0, 0, True)[0] == 0
    empty = pa.Array.from_buffers(pa.string(), 0, [None, pa.py_buffer(b""), pa.py_buffer(b"")])
    empty.validate(full=True)
    assert _parts(empty) == []
    assert _parts(pa.array(URLS, pa.string()).slice(4, 0)) == []


@pytest.mark.parametrize("dtype", [pa.string(), pa.large_string()])
@pytest.mark.parametrize("shift", [1, 3, 5])
def test_misaligned_offsets_buffer(dtype: pa.DataType, shift: int) -> None:
    """pyarrow accepts an offsets buffer at any address; the kernel reads it with memcpy (UBSan)."""
    plain = pa.array(URLS, dtype)
    validity, offsets, data = plain.buffers()
    raw = bytes(shift) + offsets.to_pybytes()
    moved = pa.py_buffer(raw).slice(shift)
    assert moved.address % 4 != 0 or moved.address % 8 != 0
    array = pa.Array.from_buffers(dtype, len(URLS), [validity, moved, data], null_count=plain.null_count)
    array.validate(full=True)
    assert _parts(array) == _expected(URLS)


@pytest.mark.parametrize("dtype", [pa.string(), pa.large_string()])
def test_slices_null_bitmaps_and_exact_buffers(dtype: pa.DataType) -> None:
    base = pa.array(URLS * 3, dtype)
    whole = _expected(URLS * 3)
    for start in range(0, 12):
        for length in (0, 1, 7, 9, 30 - start - 1):
            assert _parts(base.slice(start, length)) == whole[start : start + length], (start, length)
    # exact-size buffers: copied so nothing follows the last byte the array covers
    validity, offsets, data = base.buffers()
    width = 8 if pa.types.is_large_string(dtype) else 4
    offs = offsets.to_pybytes()[: (len(base) + 1) * width]
    end = int.from_bytes(offs[-width:], "little")
    exact = [
        pa.py_buffer(validity.to_pybytes()[: (len(base) + 7) // 8]),
        pa.py_buffer(offs),
        pa.py_buffer(data.to_pybytes()[:end]),
    ]
    assert _parts(pa.Array.from_buffers(dtype, len(base), exact, null_count=base.null_count)) == whole
    # a chunked column with a null-only chunk and an empty one
    chunked = pa.chunked_array([base.slice(0, 4), pa.array([None, None], dtype), base.slice(4, 0), base.slice(4)])
    assert _parts(chunked) == whole[:4] + [(None, None, None)] * 2 + whole[4:]


@pytest.mark.parametrize(
    "dtype",
    [pa.string_view(), pa.binary(), pa.large_binary(), pa.binary_view(), pa.dictionary(pa.int16(), pa.string())],
)
def test_other_string_types(dtype: pa.DataType) -> None:
    values = [u.encode() if u is not None and "binary" in str(dtype) else u for u in URLS]
    array = pa.array(values, dtype.value_type if pa.types.is_dictionary(dtype) else dtype)
    if pa.types.is_dictionary(dtype):
        array = array.dictionary_encode().cast(dtype)
    assert _parts(array) == _expected(URLS)


def test_undecodable_binary_is_an_error_for_a_direct_caller() -> None:
    with pytest.raises(pa.ArrowInvalid):
        native.simple_parts(pa.array([b"http://a.example/\xff"], pa.binary()))


def test_gil_is_released_around_the_byte_loop() -> None:
    """Another Python thread runs while the kernel works (issue 22 item 7: 0.54 s per 1 M rows held it).

    The main thread stamps the clock in a loop while a worker runs the kernel; with the GIL held, the
    longest gap between stamps is the whole call. Released, it is a few switch intervals."""
    urls = pa.array([f"http://host{i % 1000}.example/p/{i}?q={i}" for i in range(1_000_000)], pa.string())
    gaps, alone = [], []
    for _ in range(3):  # a held GIL gives gap ~ alone every time; a load spike on the machine only once
        start = time.perf_counter()
        native._simple.simple_parts(*_args(urls))
        alone.append(time.perf_counter() - start)
        gaps.append(_longest_gap_while(lambda: native._simple.simple_parts(*_args(urls))))
        if min(gaps) < min(alone) / 2:
            break
    assert min(gaps) < min(alone) / 2, (gaps, alone)


def _longest_gap_while(work) -> float:
    """The longest pause of this thread's clock stamping while ``work`` runs in another thread."""
    done = threading.Event()
    worker = threading.Thread(target=lambda: (work(), done.set()))
    stamps = [time.perf_counter()]
    worker.start()
    while not done.is_set():
        stamps.append(time.perf_counter())
    worker.join()
    return max(b - a for a, b in zip(stamps, stamps[1:]))


def _args(array: pa.Array) -> tuple:
    validity, offsets, data = array.buffers()
    return validity, offsets, data, array.offset, len(array), False
