"""Exact Hamming-radius matching of many row hashes against a hash list, in numpy.

Why this design: a scan compares ~1e7-1e9 row hashes with a list of ~1e5 entries at distance
<= d (pHash d ~ 8-10). Brute force is 1e12+ popcounts; banded equality joins either miss pairs
(4 x 16-bit bands find a third of distance-8 pairs) or drown in candidates (9 bands). The
pigeonhole principle makes a cheap *exact* filter: split the bits into b bands with radii r_i and
sum(r_i + 1) > d; then any pair within d has some band i differing in <= r_i bits. For the LIST
side only, every band value within r_i of each entry is precomputed (64-bit, d=8: 3 bands of
21/21/22 bits, radius 2, ~250 keys per entry and band) into a CSR table indexed directly by the
band value. A row then costs b direct lookups, gathers its few candidates (~30 for 100 k random
entries) and verifies them with popcount, so nothing is missed and little is wasted. The band
layout is chosen per (list size, words, d) by a cost model; tiny lists use brute force.

Hashes are uint64 arrays: shape (n,) for 64-bit kinds, (n, 4) for 256-bit PDQ (word 0 holds the
first 16 hex digits).
"""

from __future__ import annotations

from math import comb

from typing import Any

import numpy as np

_HEX = np.full(256, -1, dtype=np.int8)
for _i, _c in enumerate("0123456789abcdef"):
    _HEX[ord(_c)] = _HEX[ord(_c.upper())] = _i


def hex_to_u64(values, bits: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Parse hex strings (a sequence, numpy or pyarrow array; None allowed) of exactly bits/4
    digits, any case. Returns (values, valid_mask); invalid entries are 0 and masked False."""
    n_hex = bits // 4
    chars, valid = _hex_chars(values, n_hex)
    nib = _HEX[chars]
    valid &= (nib >= 0).all(axis=1)
    nib = np.where(valid[:, None], nib, 0).astype(np.uint8)
    packed = np.ascontiguousarray((nib[:, 0::2] << 4) | nib[:, 1::2])  # (n, bits/8) bytes
    out = packed.view(">u8").astype(np.uint64)  # big-endian words: first hex digit is the top
    return (out[:, 0] if out.shape[1] == 1 else out), valid


def _hex_chars(values, n_hex: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, n_hex) character codes < 256 and a mask of the entries that have exactly n_hex chars."""
    if type(values).__module__.startswith("pyarrow"):
        return _arrow_chars(values, n_hex)
    arr = np.asarray(values)
    if arr.dtype == object:
        arr = np.array(["" if v is None else str(v) for v in arr], dtype=f"U{n_hex + 1}")
    if arr.dtype.kind not in "US":
        arr = arr.astype(f"U{n_hex + 1}")
    arr = arr.reshape(-1)
    valid = np.char.str_len(arr) == n_hex
    width = arr.dtype.itemsize // (4 if arr.dtype.kind == "U" else 1)
    if width < n_hex:
        return np.zeros((len(arr), n_hex), dtype=np.uint8), valid & False
    codes: np.ndarray[Any, Any] = arr.view(np.uint32 if arr.dtype.kind == "U" else np.uint8).reshape(len(arr), width)
    codes = codes[:, :n_hex]
    valid &= (codes < 256).all(axis=1)
    return np.where(codes < 256, codes, 0).astype(np.uint8), valid


def _arrow_chars(values, n_hex: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-copy view of an arrow string column's bytes (no Python objects: 10 M rows in ~1 s)."""
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    if not (
        pa.types.is_string(values.type)
        or pa.types.is_binary(values.type)
        or pa.types.is_large_string(values.type)
        or pa.types.is_large_binary(values.type)
    ):
        return _hex_chars(values.to_numpy(zero_copy_only=False), n_hex)
    values = values.cast(pa.large_binary())
    n = len(values)
    _, off_buf, data_buf = values.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64, count=n + 1, offset=values.offset * 8)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    valid = np.diff(offsets) == n_hex
    if values.null_count:
        valid &= values.is_valid().to_numpy(zero_copy_only=False)
    if valid.all() and offsets[-1] - offsets[0] == n * n_hex:  # the usual case: a plain reshape
        return data[offsets[0] : offsets[-1]].reshape(n, n_hex), valid
    data = np.concatenate([data, np.zeros(n_hex, np.uint8)])  # keeps masked-out gathers in range
    starts = np.where(valid, offsets[:-1], 0)
    return data[starts[:, None] + np.arange(n_hex)], valid


def _words(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.uint64)
    return np.ascontiguousarray(a.reshape(-1, 1) if a.ndim == 1 else a)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Hamming weight summed over the last axis (the words of one hash)."""
    c = np.bitwise_count(x)
    return c[..., 0] if c.shape[-1] == 1 else c.sum(axis=-1, dtype=np.uint16)


def brute_force(rows, lst, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference: every (row, list) pair within d, sorted by (row, list), by full comparison."""
    rows, lst = _words(rows), _words(lst)
    out_r, out_l, out_d = [], [], []
    if lst.shape[1] == 1 and len(lst) >= 4096:  # one row at a time, 1-D: fastest in numpy
        lst1 = lst[:, 0]
        for i, row in enumerate(rows[:, 0]):
            dist = np.bitwise_count(lst1 ^ row)
            l = np.flatnonzero(dist <= d)
            if len(l):
                out_r.append(np.full(len(l), i))
                out_l.append(l)
                out_d.append(dist[l])
        return _concat(out_r, out_l, out_d)
    step = max(1, (1 << 16) // max(len(lst), 1))  # keep the block in cache
    for lo in range(0, len(rows), step):
        dist = _popcount(rows[lo : lo + step, None, :] ^ lst[None, :, :])
        r, l = np.nonzero(dist <= d)
        out_r.append(r + lo)
        out_l.append(l)
        out_d.append(dist[r, l])
    return _concat(out_r, out_l, out_d)


def _concat(rs, ls, ds):
    if not rs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint16)
    return (
        np.concatenate(rs).astype(np.int64),
        np.concatenate(ls).astype(np.int64),
        np.concatenate(ds).astype(np.uint16),
    )


def _volume(bits: int, r: int) -> int:
    return sum(comb(bits, i) for i in range(r + 1))


def plan_bands(n: int, n_words: int, d: int, max_entries: int = 150_000_000, *, allow_brute: bool = True):
    """Cheapest exact band layout [(word, shift, bits, radius)], or None for brute force.
    Cost per row ~ expected candidates (uniform hashes) + lookups vs. n * words for brute force."""
    best, best_cost = None, (0.25 * n * n_words + 1) if allow_brute else float("inf")
    for per_word in range(1, 9):
        sizes = [64 // per_word + (i < 64 % per_word) for i in range(per_word)]
        if max(sizes) > 24:  # direct-address table of 2**bits offsets
            continue
        bands = [(w, sum(sizes[:i]), s) for w in range(n_words) for i, s in enumerate(sizes)]
        radii = [0] * len(bands)
        for _ in range(max(0, d - len(bands) + 1)):  # pigeonhole: sum(r_i + 1) > d
            i = min(range(len(bands)), key=lambda i: _volume(bands[i][2], radii[i] + 1) / 2.0 ** bands[i][2])
            radii[i] += 1
        vols = [_volume(b[2], r) for b, r in zip(bands, radii)]
        if n * sum(vols) > max_entries:
            continue
        cost = n * sum(v / 2.0 ** b[2] for v, b in zip(vols, bands)) + 8 * len(bands)
        if cost < best_cost:
            best, best_cost = [(*b, r) for b, r in zip(bands, radii)], cost
    return best


class HammingIndex:
    """Every pair within ``max_distance`` between row hashes and a fixed list, exactly."""

    def __init__(
        self,
        list_hashes,
        max_distance: int,
        *,
        chunk_rows: int = 1 << 16,
        max_entries: int = 150_000_000,
        method: str = "auto",
    ) -> None:
        """``method``: ``auto`` (cost model), ``index`` (bands whenever they fit) or ``brute``."""
        self.lst = _words(list_hashes)
        self.d, self.chunk_rows = int(max_distance), chunk_rows
        self.bands = (
            None
            if method == "brute"
            else plan_bands(len(self.lst), self.lst.shape[1], self.d, max_entries, allow_brute=method == "auto")
        )
        self.tables = [self._table(*band) for band in self.bands or []]
        self._order = np.argsort(self.lst[:, 0], kind="stable")
        self._sorted = self.lst[self._order, 0]

    def _table(self, word, shift, bits, radius):
        """CSR: offsets[v]..offsets[v+1] are the list entries whose band is within radius of v.
        Built by a counting sort, one vectorised pass per flip pattern: XOR with a constant is a
        bijection, so equal keys in one pass come only from equal band values, which share a
        cursor and are told apart by their rank among equals (no O(n log n) sort of n*V keys)."""
        mask = (1 << bits) - 1
        vals = ((self.lst[:, word] >> np.uint64(shift)) & np.uint64(mask)).astype(np.int64)
        order = np.argsort(vals, kind="stable")
        sv = vals[order]
        uniq, first, mult = np.unique(sv, return_index=True, return_counts=True)
        rank = np.arange(len(sv)) - np.repeat(first, mult)
        flips = [sum(1 << p for p in ps) for ps in _subsets(bits, radius)]
        dtype = np.int64 if len(sv) * len(flips) >= 2**31 else np.int32
        counts = np.zeros((1 << bits) + 1, dtype=dtype)
        for f in flips:
            counts[(uniq ^ f) + 1] += mult.astype(dtype)
        offsets = np.cumsum(counts, dtype=dtype)
        cursor, ids = offsets[:-1].copy(), np.empty(offsets[-1], dtype=np.int32)
        order32, mult_each = order.astype(np.int32), np.repeat(mult, mult).astype(dtype)
        for f in flips:
            keys = sv ^ f
            base = cursor[keys]
            ids[base + rank] = order32
            cursor[keys] = base + mult_each
        # 64-bit: store the hash values themselves, so verifying a candidate is one gather
        # (~15 % faster); the few hits are mapped back to list indices through a sorted copy
        entries = self.lst[ids, 0] if self.lst.shape[1] == 1 else ids
        return word, np.uint64(shift), np.uint64(mask), offsets, entries

    def query(self, row_hashes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row indices, list indices, distances) of every pair within d, sorted by (row, list)."""
        rows = _words(row_hashes)
        if rows.shape[1] != self.lst.shape[1]:
            raise ValueError(f"row hashes have {rows.shape[1]} words, the list {self.lst.shape[1]}")
        out_r: list[np.ndarray] = []
        out_l: list[np.ndarray] = []
        out_d: list[np.ndarray] = []
        for lo in range(0, len(rows), self.chunk_rows):
            chunk = rows[lo : lo + self.chunk_rows]
            r, l, dist = self._query_chunk(chunk) if self.bands else brute_force(chunk, self.lst, self.d)
            out_r.append(r + lo)
            out_l.append(l)
            out_d.append(dist)
        return _concat(out_r, out_l, out_d)

    def _query_chunk(self, rows):
        one = rows.shape[1] == 1
        found_r, found_c = [], []
        for word, shift, mask, offsets, entries in self.tables:
            key = ((rows[:, word] >> shift) & mask).astype(np.intp)
            start, count = offsets[key], offsets[key + 1] - offsets[key]
            ends = np.cumsum(count)
            if ends[-1] == 0:
                continue
            pos = np.arange(ends[-1]) + np.repeat(start - (ends - count), count)
            cand = entries[pos]  # hash values (64-bit) or list indices (multi-word)
            if one:
                dist = np.bitwise_count(cand ^ np.repeat(rows[:, 0], count))
            else:
                dist = _popcount(np.repeat(rows, count, axis=0) ^ self.lst[cand])
            hit = np.flatnonzero(dist <= self.d)
            found_r.append(np.searchsorted(ends, hit, side="right")), found_c.append(cand[hit])
        r = np.concatenate(found_r) if found_r else np.zeros(0, np.int64)
        c = np.concatenate(found_c).astype(np.int64) if found_r else np.zeros(0, np.int64)
        if one and len(c):  # values -> every list index holding that value
            lo = np.searchsorted(self._sorted, c.view(np.uint64), "left")
            cnt = np.searchsorted(self._sorted, c.view(np.uint64), "right") - lo
            r = np.repeat(r, cnt)
            c = self._order[np.arange(cnt.sum()) + np.repeat(lo - (np.cumsum(cnt) - cnt), cnt)]
        pairs = np.unique(r * len(self.lst) + c)
        r, l = np.divmod(pairs, len(self.lst))
        return r, l, _popcount(rows[r] ^ self.lst[l])


def _subsets(bits: int, radius: int):
    from itertools import combinations

    for k in range(radius + 1):
        yield from combinations(range(bits), k)
