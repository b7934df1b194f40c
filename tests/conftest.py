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


@pytest.fixture(autouse=True)
def _every_out_verifies(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Issue 16: ``provscan verify`` passes on every OUT the suite produces. Each in-process scan or merge
    is verified (``--attestation`` included) the moment its manifest is written, before a test can
    tamper with it on purpose; a failure fails the test that made the OUT."""
    from provscan.pipeline import merge
    from provscan.pipeline.verify import verify_output

    write, failures = merge.write_reports_then_manifest, []

    def write_then_verify(out: Path, *args: object, **kwargs: object) -> object:
        written = write(out, *args, **kwargs)  # type: ignore[arg-type]
        result = verify_output(out, attestation=(Path(out) / "provenance.intoto.json").is_file())
        failures.extend(f"{out}: {c.file} {c.check}: expected {c.expected}, got {c.actual}" for c in result.failures)
        return written

    monkeypatch.setattr(merge, "write_reports_then_manifest", write_then_verify)
    yield
    assert not failures, "an OUT written by provscan fails provscan verify:\n" + "\n".join(failures[:20])
