"""The import layers of ``src/provscan`` (issue 17): every import, lazy ones inside functions and
``TYPE_CHECKING`` blocks included, goes from a higher layer to a strictly lower one, and no chain of
modules imports itself. A newcomer reads the package bottom-up; a change that points a lower floor
at a higher one (a stage importing the runner, a parser importing a list) fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "provscan"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "kinds", "_version", "machine"),  # vocabulary and the CPUs we may use: no provscan imports
    ("config",),  # the frozen run settings
    ("io",),  # the DuckDB door, shard files, atomic writes
    ("urls",),  # canonical URLs (the oracle, SQL, native kernel)
    ("lists",),  # list files, compiled list tables
    ("images", "licenses", "net", "progress"),  # leaf machinery, each behind its door
    ("consent",),  # signal parsers (read headers through net/)
    ("stages", "sinks"),  # the stage contract and plan; the writers of OUT's files
    ("pipeline",),  # the runner: driver, sessions, shards, commits, merge
    ("sampling", "terminal"),  # provscan sample (reuses the runner); rich tables
    ("cli", "__init__"),  # the commands; the public API
    ("__main__",),
)
"""Bottom to top. A package may import only packages of lower layers (and its own modules)."""


def _package(module: str) -> str:
    """``provscan.stages.fetch`` -> ``stages``; ``provscan`` -> ``__init__``; ``provscan.config`` -> ``config``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Every ``provscan`` module named by an import anywhere in ``path`` (resolved, relative included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found += [(base, node.lineno)] + [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return [(name, line) for name, line in found if name == "provscan" or name.startswith("provscan.")]


def _graph() -> dict[str, set[str]]:
    """Module -> the provscan modules it imports (``from x import name`` counts x, and x.name when a module)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for name, _ in _imports(module, path):
            if name in modules and name != module:
                graph[module].add(name)
    return graph


def _layer_violations(graph: dict[str, set[str]]) -> list[str]:
    rank = {package: i for i, layer in enumerate(LAYERS) for package in layer}
    bad = []
    for module, targets in graph.items():
        for target in targets:
            a, b = _package(module), _package(target)
            if a != b and rank[a] <= rank[b]:
                bad.append(f"{module} -> {target}")
    return sorted(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_package_has_a_layer() -> None:
    packages = {_package(m) for m in _modules()}
    named = [p for layer in LAYERS for p in layer]
    assert len(named) == len(set(named))
    assert sorted(packages - set(named)) == [], "a new package needs a place in LAYERS"
    assert sorted(set(named) - packages) == []


def test_imports_go_down_the_layers_only() -> None:
    assert _layer_violations(_graph()) == []


def test_no_import_cycle() -> None:
    assert _cycles(_graph()) == []


def test_the_checks_see_lazy_relative_and_upward_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks fail on what they exist to catch: an upward import inside a function, written
    relative, and a two-module cycle."""
    root = tmp_path / "provscan"
    for folder in ("stages", "pipeline"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "pipeline" / "run.py").write_text("from provscan.stages import work\n")
    (root / "stages" / "work.py").write_text("def f():\n    from ..pipeline import run\n")
    monkeypatch.setitem(globals(), "SRC", root)
    graph = _graph()
    assert graph["provscan.stages.work"] == {"provscan.pipeline.run", "provscan.pipeline"}
    assert _layer_violations(graph) == [
        "provscan.stages.work -> provscan.pipeline",
        "provscan.stages.work -> provscan.pipeline.run",
    ]
    assert _cycles(graph) == [["provscan.pipeline.run", "provscan.stages.work"]]


def test_modules_stay_under_400_lines() -> None:
    """Issue 17 (d): a module past 400 lines owns more than one thing; split it by what it owns."""
    long = {
        str(path.relative_to(SRC)): n
        for path in sorted(SRC.rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) >= 400
    }
    assert long == {}
