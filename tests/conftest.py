"""Shared fixtures and the evaluation-data helper; every test runs under the no-egress guard.

Fixtures reach the tests through this file and ``pytest_plugins`` (never ``from conftest import
fixture``: an imported fixture shadowed by a parameter of the same name is a redefinition, and ruff
flags it). Plain helpers (``ROOT``, ``EVAL``, ``eval_path``) may be imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest_plugins = ["fetch_fixtures"]  # no_egress, net, loopback servers, TLS certificate

ROOT = Path(__file__).resolve().parents[1]

EVAL_ENV = "PROVSCAN_EVAL_DATA"
"""Where the third-party evaluation data lives when it is not ``../shared/eval-data`` beside the repo.

Set, it is also a promise: a file missing under it fails the test instead of skipping it, so CI
(which has the data) cannot go green by skipping."""

EVAL = Path(os.environ[EVAL_ENV]) if os.environ.get(EVAL_ENV) else ROOT.parent / "shared" / "eval-data"


def eval_path(*parts: str) -> Path:
    """A file of the evaluation data (see eval-data/README.md); skips the test when it is absent.

    Safe at module level too (then the whole module is skipped), but prefer building paths from
    ``EVAL`` there and marking the tests with ``@pytest.mark.eval_data(...)``.
    """
    path = EVAL.joinpath(*parts)
    if not path.exists():
        if os.environ.get(EVAL_ENV):
            pytest.fail(f"evaluation data missing: {path} ({EVAL_ENV} is set)")
        pytest.skip(f"evaluation data not present: {path} (set {EVAL_ENV})", allow_module_level=True)
    return path


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(EVAL_ENV) and not EVAL.is_dir():
        raise pytest.UsageError(f"{EVAL_ENV}={EVAL}: not a directory")
    config.addinivalue_line(
        "markers", "eval_data(*parts): needs this path of the third-party evaluation data; skipped when it is absent"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("eval_data"):
        eval_path(*mark.args)


@pytest.fixture
def eval_data() -> Callable[..., Path]:
    """``eval_data("images", "imagehash", "peppers.png")``: :func:`eval_path` as a fixture."""
    return eval_path


@pytest.fixture(autouse=True)
def _no_egress_everywhere(no_egress: list[str]) -> Iterator[None]:
    """Every test runs under the socket guard: a connection or lookup that is not loopback fails it."""
    yield


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
