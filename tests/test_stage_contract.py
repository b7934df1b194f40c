"""The stage contract (issue 7): declared tables checked at start-up, one place builds the stage list,
matches enter hits by column name, and compiled lists round-trip through disk and the cache."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from provscan.config import ConsentConfig, ListSpec, ScanConfig
from provscan.errors import IntegrityError
from provscan.io.db import Database
from provscan.io.shards import Columns, Shard
from provscan.lists import store
from provscan.lists.compiled import TABLES, compile_lists, install
from provscan.stages.base import HITS_DDL, BaseStage, ShardContext, Stats, check_order
from provscan.stages.plan import build as build_stages


class Reads(BaseStage):
    def __init__(self, name: str, reads: tuple[str, ...], writes: tuple[str, ...] = ("hits",)) -> None:
        self.name, self.reads, self.writes = name, reads, writes  # type: ignore[misc]


def test_a_stage_reading_what_no_earlier_stage_writes_fails_at_start() -> None:
    check_order([Reads("a", ("raw",), ("img",)), Reads("b", ("img", "l_image"))], TABLES)
    with pytest.raises(IntegrityError, match="stage 'b' reads img, which no earlier stage writes"):
        check_order([Reads("b", ("img",)), Reads("a", ("raw",), ("img",))], TABLES)
    with pytest.raises(IntegrityError, match="appears twice"):
        check_order([Reads("a", ("raw",)), Reads("a", ("raw",))], TABLES)


def _lists(tmp_path: Path, *specs: tuple[str, str, str]) -> tuple[ListSpec, ...]:
    out = []
    for i, (kind, text, action) in enumerate(specs):
        path = tmp_path / f"l{i}.txt"
        path.write_text(text)
        out.append(ListSpec(path, kind=kind, action=action))
    return tuple(out)


def test_the_stage_list_follows_the_config(tmp_path: Path) -> None:
    lists = _lists(
        tmp_path,
        ("domain", "bad.example\n", "drop"),
        ("domain", "good.example\n", "allow"),
        ("phash", "0" * 16 + "\n", "drop"),
    )
    compiled = compile_lists(lists)
    config = ScanConfig(
        lists=lists, fetch=True, consent=ConsentConfig(check=True), fetch_options={"allow_cidrs": ("127.0.0.0/8",)}
    )
    with Database() as db:
        install(db, compiled)
        stages = build_stages(db, compiled, config, tmp_path)
        names = [s.name for s in stages]
        assert names == [
            "url",
            "allow",
            "license",
            "image-hashes",
            "fetch",
            "consent",
            "embedded-license",
            "image-match",
        ]
        assert "fetch_headers" in stages[names.index("consent")].reads
        plain = build_stages(db, compile_lists(()), ScanConfig(), tmp_path)
        assert [s.name for s in plain] == ["license"]  # the licence table is always counted
        for stage in stages + plain:
            stage.close(True)


def test_hits_enter_by_column_name(tmp_path: Path) -> None:
    with Database() as db:
        db.execute(HITS_DDL)
        ctx = ShardContext(db, Shard(tmp_path / "a.parquet", "a.parquet", "a.parquet"), Columns(url="URL", id=None))
        ctx.add_findings("SELECT 3 AS row, 'x' AS list, 'domain' AS kind, 'drop' AS action, 'e' AS entry")
        ctx.add_findings(pa.table({"detail": ["d"], "row": pa.array([4], pa.int64()), "list": ["y"]}))
        ctx.add_findings("SELECT 5 AS row, ? AS entry", ["e5"], list="z", kind="url", distance=2)
        ctx.add_findings(pa.table({"row": pa.array([6, 7], pa.int64())}), list="w", action="flag")
        rows = db.rows("SELECT row, list, kind, action, entry, distance, image_hash, detail FROM hits ORDER BY row")
        assert rows == [
            (3, "x", "domain", "drop", "e", None, None, None),
            (4, "y", None, None, None, None, None, "d"),
            (5, "z", "url", None, "e5", 2, None, None),
            (6, "w", None, "flag", None, None, None, None),
            (7, "w", None, "flag", None, None, None, None),
        ]
        with pytest.raises(ValueError, match="not columns of hits"):
            ctx.add_findings(pa.table({"rows": [1]}))
        with pytest.raises(ValueError, match="not columns of hits"):
            ctx.add_findings("SELECT 1 AS row", lists="x")


def test_only_declared_stats_are_counted_and_they_add_up() -> None:
    stats = Stats(["n", "by"])
    stats.add("n", 2)
    stats.add("n", 3)
    stats.add("by", {"b": 1, "a": 2})
    stats.add("by", {"a": 1})
    assert stats.as_dict() == {"n": 5, "by": {"a": 3, "b": 1}}
    with pytest.raises(IntegrityError, match="'m' is not declared"):
        stats.add("m", 1)


def test_compiled_lists_round_trip_through_disk(tmp_path: Path) -> None:
    compiled = compile_lists(_lists(tmp_path, ("url", "a.example/x/\n", "flag"), ("phash", "f" * 16 + "\n", "drop")))
    store.save_lists(compiled.lists, tmp_path / "run")
    again = store.read_lists(tmp_path / "run")
    assert [(l.name, l.kind, l.action, l.path, l.sha256, dict(l.params), dict(l.skipped)) for l in again] == [
        (l.name, l.kind, l.action, l.path, l.sha256, dict(l.params), dict(l.skipped)) for l in compiled.lists
    ]
    assert all(a.entries.equals(b.entries) for a, b in zip(again, compiled.lists))


def test_a_second_compile_reads_the_cache_not_the_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVSCAN_CACHE_DIR", str(tmp_path / "cache"))
    specs = _lists(tmp_path, ("domain", "".join(f"h{i}.example\n" for i in range(1000)), "drop"))
    first = compile_lists(specs)
    parsed: list[object] = []
    original = store._parse
    monkeypatch.setattr(store, "_parse", lambda spec: parsed.append(spec) or original(spec))
    second = compile_lists(specs)
    assert parsed == []  # served from the cache
    assert second.lists[0].entries.equals(first.lists[0].entries)
    assert second.manifest() == first.manifest()
    specs[0].path.write_text("other.example\n")  # a changed file is parsed again
    third = compile_lists(specs)
    assert len(parsed) == 1 and third.lists[0].entry_count == 1


def test_an_unwritable_cache_only_costs_the_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("PROVSCAN_CACHE_DIR", str(blocker))
    compiled = compile_lists(_lists(tmp_path, ("domain", "bad.example\n", "drop")))
    assert compiled.lists[0].entry_count == 1


def test_the_docs_example_stage_runs_as_one_more_line_in_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/examples/tld_stage.py plugged into the plan the way its docstring says: findings, a
    counter in the manifest, its scratch table gone after the shard."""
    import importlib.util
    import sys

    import pyarrow.parquet as pq

    import provscan
    from provscan.stages import plan

    source = Path(__file__).parents[1] / "docs" / "examples" / "tld_stage.py"
    spec = importlib.util.spec_from_file_location("tld_stage_example", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "tld_stage_example", module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(
        plan, "PLAN", (*plan.PLAN, plan.Step("tld", "tld_stage_example:TldStage", lambda c, lists: True))
    )
    shard = tmp_path / "in" / "a.parquet"
    shard.parent.mkdir()
    pq.write_table(pa.table({"url": ["http://a.example/x", "http://b.zip/y", "https://c.mov/", None]}), shard)
    result = provscan.scan([shard], output=tmp_path / "out")
    flagged = pq.read_table(tmp_path / "out" / "flagged.parquet").to_pylist()
    assert [(f["row"], f["list"], f["entry"], f["action"]) for f in flagged] == [
        (1, "risky-tld", "b.zip", "flag"),
        (2, "risky-tld", "c.mov", "flag"),
    ]
    assert result.manifest is not None
    assert result.manifest["shards"][0]["rows_risky_tld"] == 2
    assert result.manifest["shards"][0]["rows_dropped"] == 0


def test_the_runner_names_no_stage_and_stages_never_import_the_runner() -> None:
    """pipeline/ reaches stages only through the contract and the plan; stages never import pipeline/."""
    import ast

    root = Path(__file__).parents[1] / "src" / "provscan"
    for folder, banned in (("pipeline", "provscan.stages."), ("stages", "provscan.pipeline")):
        for path in (root / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else ([a.name for a in node.names] if isinstance(node, ast.Import) else [])
                )
                for name in names:
                    allowed = name in ("provscan.stages.base", "provscan.stages.plan") or name == "provscan.stages"
                    assert not (name.startswith(banned) and not allowed), f"{path.name} imports {name}"


def test_no_runner_module_spells_a_stage_name() -> None:
    """pipeline/ asks the plan (``plan.outputs``, ``plan.manifest_fields``...), never ``"consent" in stages``;
    ``url`` is exempt: it is also the name of raw's URL column."""
    import ast

    from provscan.stages.plan import PLAN

    names = {step.name for step in PLAN} - {"url"}
    root = Path(__file__).parents[1] / "src" / "provscan" / "pipeline"
    spelled = [
        f"{path.name}:{node.lineno} {node.value!r}"
        for path in sorted(root.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in names
    ]
    assert spelled == []
