"""Which rows to read: a seeded sample over every row of every source, from footer row counts only.

The population is the row groups of all sources in the order given (row groups in file order), so
one seed picks the same rows again for the same files. ``--rows N`` draws N distinct rows uniformly
(``numpy.random.default_rng(seed).choice`` without replacement); ``--row-groups K`` draws K distinct
row groups with equal probability and reads them whole. A :class:`Plan` is flat numpy arrays, one
entry per sampled row, so mapping rows to sources, row groups and clusters is vectorised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from provscan.errors import ConfigError


@dataclass(frozen=True)
class Frame:
    """The sampling frame: rows per row group, per source (from the footers)."""

    rg_rows: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, rg_rows: Sequence[Sequence[int]]) -> Frame:
        return cls(tuple(np.asarray(r, dtype=np.int64) for r in rg_rows))

    @property
    def rows(self) -> int:
        return int(sum(int(r.sum()) for r in self.rg_rows))

    @property
    def row_groups(self) -> int:
        return sum(len(r) for r in self.rg_rows)

    def flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per global row group: its source, its index in the source, its rows, its first global row."""
        source = np.concatenate(
            [np.full(len(r), i, np.int64) for i, r in enumerate(self.rg_rows)] or [np.zeros(0, np.int64)]
        )
        local = np.concatenate([np.arange(len(r), dtype=np.int64) for r in self.rg_rows] or [np.zeros(0, np.int64)])
        rows = np.concatenate(list(self.rg_rows) or [np.zeros(0, np.int64)])
        first = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(np.int64) if len(rows) else rows
        return source, local, rows, first


@dataclass(frozen=True)
class Plan:
    """The sampled rows, sorted by (source, row). ``cluster`` numbers the sampled row groups 0..K-1
    (in ``--rows`` mode every touched row group is a cluster, but the design ignores it)."""

    mode: str  # "rows" | "row-groups"
    seed: int
    frame: Frame
    source: np.ndarray  # source index per sampled row
    row_group: np.ndarray  # row group index in its source
    row: np.ndarray  # 0-based row in its source
    row_in_group: np.ndarray
    cluster: np.ndarray
    cluster_rows: np.ndarray  # rows per cluster (the m_i of the cluster estimator)

    @property
    def rows(self) -> int:
        return len(self.row)

    @property
    def clusters(self) -> int:
        return len(self.cluster_rows)

    def groups_of(self, source: int) -> np.ndarray:
        """The sorted row groups of ``source`` holding sampled rows."""
        return np.unique(self.row_group[self.source == source])


def plan_rows(frame: Frame, n: int, seed: int) -> Plan:
    """A uniform sample of ``min(n, rows)`` distinct rows over the whole frame."""
    if n < 1:
        raise ConfigError("--rows must be at least 1")
    total = frame.rows
    picks = np.sort(np.random.default_rng(seed).choice(total, size=min(n, total), replace=False)).astype(np.int64)
    src, local, rows, first = frame.flat()
    group = np.searchsorted(first + rows, picks, side="right")  # the global row group holding each pick
    source_first = np.concatenate([[0], np.cumsum([int(r.sum()) for r in frame.rg_rows])[:-1]]).astype(np.int64)
    touched, cluster = np.unique(group, return_inverse=True)
    return Plan(
        "rows",
        seed,
        frame,
        src[group],
        local[group],
        picks - source_first[src[group]],
        picks - first[group],
        cluster.astype(np.int64),
        np.bincount(cluster, minlength=len(touched)).astype(np.int64),
    )


def plan_row_groups(frame: Frame, k: int, seed: int) -> Plan:
    """``min(k, row groups)`` distinct row groups, each equally likely, read whole."""
    if k < 1:
        raise ConfigError("--row-groups must be at least 1")
    src, local, rows, first = frame.flat()
    chosen = np.sort(np.random.default_rng(seed).choice(len(rows), size=min(k, len(rows)), replace=False)).astype(
        np.int64
    )
    sizes = rows[chosen]
    cluster = np.repeat(np.arange(len(chosen), dtype=np.int64), sizes)
    group = chosen[cluster]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    in_group = np.arange(int(sizes.sum()), dtype=np.int64) - starts[cluster]
    source_first = np.concatenate([[0], np.cumsum([int(r.sum()) for r in frame.rg_rows])[:-1]]).astype(np.int64)
    row = first[group] + in_group - source_first[src[group]]
    return Plan("row-groups", seed, frame, src[group], local[group], row, in_group, cluster, sizes.astype(np.int64))
