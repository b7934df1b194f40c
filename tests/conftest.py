"""Shared fixtures: tiny shards and lists built inside the tests, never fetched."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval-data"


@pytest.fixture
def make_shard(tmp_path: Path) -> Callable[..., Path]:
    """``make_shard("a.parquet", URL=[...], TEXT=[...])`` writes a parquet shard and returns its path."""

    def make(name: str, *, compression: str = "zstd", row_group_size: int | None = None, **columns: list) -> Path:
        path = tmp_path / "shards" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), path, compression=compression, row_group_size=row_group_size)
        return path

    return make


@pytest.fixture
def make_list(tmp_path: Path) -> Callable[[str, str], Path]:
    """``make_list("bad.txt", "# provscan-list: kind=domain\\nbad.example\\n")`` writes a list file."""

    def make(name: str, text: str) -> Path:
        path = tmp_path / "lists" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return make


def eval_path(*parts: str) -> Path:
    """A file of the shared third-party evaluation data (see ../shared/eval-data/README.md)."""
    path = EVAL.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"evaluation data missing: {path}")
    return path


@pytest.fixture(autouse=True, scope="session")
def _private_list_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compiled lists are cached per user (provscan.lists.store): tests use a cache of their own."""
    old = os.environ.get("PROVSCAN_CACHE_DIR")
    os.environ["PROVSCAN_CACHE_DIR"] = str(tmp_path_factory.mktemp("provscan-cache"))
    yield
    if old is None:
        os.environ.pop("PROVSCAN_CACHE_DIR", None)
    else:
        os.environ["PROVSCAN_CACHE_DIR"] = old
