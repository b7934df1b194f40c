"""The house rules that a test can check: the no-egress guard is on for every test, evaluation
data is reached only through conftest's helper, and each third-party dependency is imported behind
its one door."""

from __future__ import annotations

import ast
import re
import socket
from pathlib import Path

import pytest


def test_every_test_runs_under_the_no_egress_guard(request: pytest.FixtureRequest) -> None:
    # This test does not ask for the guard; conftest.py makes it autouse.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: never routed
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 443)
    violations = request.getfixturevalue("no_egress")
    assert violations == ["socket.create_connection(('192.0.2.1', 80))", "getaddrinfo('example.com')"]
    violations.clear()  # recorded as it should be; clear so the guard's own teardown check passes


def test_evaluation_data_only_through_the_conftest_helper() -> None:
    # A path built by hand to ../shared (or a skipif on its existence) ignores PROVSCAN_EVAL_DATA and
    # skips on CI instead of failing; use eval_path / @pytest.mark.eval_data / EVAL from conftest.
    by_hand = re.compile(r'"shared"|shared/eval-data|"eval-data"|EVAL\b[^\n]*\.(exists|is_dir|is_file)\(\)')
    here = Path(__file__).resolve()
    offenders = [
        p.name
        for p in sorted(here.parent.glob("*.py"))
        if p.name not in ("conftest.py", here.name) and by_hand.search(p.read_text("utf-8"))
    ]
    assert offenders == []


# ---------------------------------------------------------------- each dependency behind one door

SRC = Path(__file__).resolve().parents[1] / "src" / "provscan"

DOORS = {
    "duckdb": "io",
    "httpx": "net",
    "httpcore": "net",
    "PIL": "images",
    "imagehash": "images",
    "pdqhash": "images",
}
"""Third-party package -> the only provscan subpackage that may import it (BRIEF: house rules)."""

ALLOWED_ELSEWHERE: set[tuple[str, str]] = set()
"""(module path relative to src/provscan, package) pairs that break a door today and are tolerated
until fixed. Empty: keep it so. The lead's pipeline/ and stages/ rewrite must not add to it; an
entry here needs a comment saying why and the issue that removes it."""


def _imports(path: Path) -> set[str]:
    """Top-level package names imported anywhere in a module (module level, functions, TYPE_CHECKING)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_each_dependency_behind_one_door() -> None:
    modules = sorted(SRC.rglob("*.py"))
    assert len(modules) > 40
    broken = set()
    for path in modules:
        rel = path.relative_to(SRC).as_posix()
        for package in _imports(path) & DOORS.keys():
            if not rel.startswith(DOORS[package] + "/"):
                broken.add((rel, package))
    assert broken <= ALLOWED_ELSEWHERE, f"imported outside its door: {sorted(broken - ALLOWED_ELSEWHERE)}"
    assert not ALLOWED_ELSEWHERE - broken, f"fixed, remove from ALLOWED_ELSEWHERE: {sorted(ALLOWED_ELSEWHERE - broken)}"


def test_the_door_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from PIL import Image\n    import duckdb.typing\n", encoding="utf-8")
    assert _imports(module) == {"PIL", "duckdb"}
