"""HammingIndex must return exactly the brute-force pairs: a missed pair is a missed match."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provscan.images.hamming import HammingIndex, brute_force, hex_to_u64, plan_bands


def _flip(rng, values: np.ndarray, k: int) -> np.ndarray:
    """Copy of values (n, words) with exactly k distinct random bits flipped in each."""
    out = values.copy()
    total = 64 * values.shape[1]
    for i in range(len(out)):
        for b in rng.choice(total, k, replace=False):
            out[i, b // 64] ^= np.uint64(1) << np.uint64(b % 64)
    return out


def _dataset(seed: int, n_list: int, n_rows: int, d: int, words: int):
    rng = np.random.default_rng(seed)
    lst = rng.integers(0, 2**64, (n_list, words), dtype=np.uint64)
    if n_list > 3:
        lst[1] = lst[0]  # duplicate list entries must both be reported
        lst[2] = _flip(rng, lst[:1], min(d, 2))[0]  # a cluster of close entries
    rows = [rng.integers(0, 2**64, (n_rows, words), dtype=np.uint64)]
    for k in range(d + 2):  # planted near-duplicates at every distance 0..d+1
        rows.append(_flip(rng, lst[rng.integers(0, n_list, 3)], k))
    rows = np.concatenate(rows)
    return lst, rows[rng.permutation(len(rows))]


def _same(a, b) -> None:
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    d=st.integers(0, 12),
    n_list=st.integers(1, 400),
    n_rows=st.integers(0, 300),
    chunk=st.sampled_from([7, 64, 1 << 16]),
)
def test_index_equals_brute_force_64(seed, d, n_list, n_rows, chunk):
    lst, rows = _dataset(seed, n_list, n_rows, d, 1)
    index = HammingIndex(lst[:, 0], d, method="index", chunk_rows=chunk)
    assert index.bands is not None  # the banded path, not a silent brute-force fallback
    got = index.query(rows[:, 0])
    _same(got, brute_force(rows[:, 0], lst[:, 0], d))
    planted_exact = (rows[:, None, 0] == lst[None, :, 0]).sum()
    assert (got[2] == 0).sum() == planted_exact


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), d=st.sampled_from([0, 5, 17, 31]), n_list=st.integers(1, 60))
def test_index_equals_brute_force_256(seed, d, n_list):
    lst, rows = _dataset(seed, n_list, 40, d, 4)
    index = HammingIndex(lst, d, method="index")
    assert index.bands is not None and len(index.bands) >= 4
    _same(index.query(rows), brute_force(rows, lst, d))


def test_auto_matches_and_orders_by_row_then_list():
    lst, rows = _dataset(7, 3000, 5000, 8, 1)
    r, l, dist = HammingIndex(lst[:, 0], 8).query(rows[:, 0])
    assert len(r) >= 3 * 9  # the planted pairs at distance 0..8
    assert np.all(np.diff(r * len(lst) + l) > 0)  # strictly sorted by (row, list), no duplicates
    assert dist.max() <= 8
    _same((r, l, dist), brute_force(rows[:, 0], lst[:, 0], 8))


def test_plan_for_distance_8_is_three_bands_radius_two():
    plan = plan_bands(100_000, 1, 8)
    assert [b[2] for b in plan] == [22, 21, 21] and [b[3] for b in plan] == [2, 2, 2]
    assert sum(b[2] for b in plan) == 64
    assert plan_bands(10, 1, 8) is None  # a tiny list is cheaper by brute force
    pdq = plan_bands(100_000, 4, 31)
    assert sum(b[2] for b in pdq) == 256 and sum(b[3] + 1 for b in pdq) > 31


def test_empty_inputs():
    empty = np.zeros(0, np.uint64)
    for method in ("auto", "index", "brute"):
        r, l, dist = HammingIndex(np.array([1, 2], np.uint64), 3, method=method).query(empty)
        assert len(r) == len(l) == len(dist) == 0
    r, _, _ = HammingIndex(empty, 3).query(np.array([5], np.uint64))
    assert len(r) == 0


def test_word_count_mismatch_raises():
    with pytest.raises(ValueError):
        HammingIndex(np.zeros((3, 4), np.uint64), 31).query(np.zeros(3, np.uint64))


def test_hex_to_u64_sequences_numpy_and_arrow():
    src = [
        "00000000000000ff",
        "FFFFFFFFFFFFFFFF",
        "bac58374982e0fc7",
        "xyz",
        None,
        "0123456789abcdeg",
        "0123456789abcdef0",
        "",
    ]
    want = np.array([255, 2**64 - 1, 0xBAC58374982E0FC7, 0, 0, 0, 0, 0], dtype=np.uint64)
    valid = [True, True, True, False, False, False, False, False]
    for values in (src, np.array(src, dtype=object), pa.array(src), pa.chunked_array([src[:3], src[3:]])):
        got, ok = hex_to_u64(values)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(ok, valid)


def test_hex_to_u64_256_bit_word_order():
    pdq = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"
    got, ok = hex_to_u64([pdq, pdq[:-1]], bits=256)
    assert got.shape == (2, 4) and ok.tolist() == [True, False]
    assert [f"{w:016x}" for w in got[0]] == [pdq[i : i + 16] for i in range(0, 64, 16)]
