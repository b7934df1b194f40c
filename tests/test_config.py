"""Configuration is resolved once, in provscan.config (issue 17): ``[fetch]`` is a typed, validated
FetchPolicy, and settings given on top of a config follow one rule whether they come from the CLI
or from ``provscan.scan(config, **overrides)``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from provscan import ListSpec, ScanConfig, load_config, scan
from provscan.cli import cli
from provscan.config import FetchPolicy, apply_overrides
from provscan.errors import ConfigError


def _config(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_text("a.example\n")
    path = tmp_path / "provscan.toml"
    path.write_text(
        '[scan]\nhash_columns = { phash = "image_phash" }\n'
        '[[list]]\npath = "a.txt"\nkind = "domain"\n'
        '[fetch]\nconcurrency = 3\nallow_cidrs = ["127.0.0.0/8"]\nunchecked = "flag"\n',
        encoding="utf-8",
    )
    return path


def test_fetch_section_is_a_typed_frozen_policy(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    assert config.fetch_options == FetchPolicy(concurrency=3, allow_cidrs=("127.0.0.0/8",))
    assert config.unchecked == "flag"
    with pytest.raises(AttributeError):
        config.fetch_options.concurrency = 9  # type: ignore[misc]
    assert ScanConfig(fetch_options={"per_host": 2}).fetch_options.per_host == 2  # the API's mapping form


@pytest.mark.parametrize(
    "line, message",
    [
        ("concurency = 4", "unknown key(s) in [fetch]: concurency"),
        ("concurrency = 0", "concurrency must be a number >= 1"),
        ('allow_cidrs = "127.0.0.0/8"', "allow_cidrs must be a list"),
        ('allow_cidrs = ["300.0.0.0/8"]', "allow_cidrs"),
        ('allow_private = "yes"', "allow_private must be true or false"),
    ],
)
def test_bad_fetch_settings_name_the_file(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "provscan.toml"
    path.write_text(f"[fetch]\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_overrides_append_lists_and_merge_mappings(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    extra = ListSpec(tmp_path / "b.txt", kind="domain")
    merged = apply_overrides(
        config,
        lists=(extra,),
        hash_columns={"md5": "md5"},
        fetch_options={"per_host": 2},
        output=str(tmp_path / "o"),
        export=None,
    )
    assert [s.path.name for s in merged.lists] == ["a.txt", "b.txt"]
    assert merged.hash_columns == {"phash": "image_phash", "md5": "md5"}
    assert merged.fetch_options == FetchPolicy(concurrency=3, per_host=2, allow_cidrs=("127.0.0.0/8",))
    assert merged.output == tmp_path / "o" and merged.export is True  # None: not given
    with pytest.raises(ConfigError, match="unknown setting.*lsts"):
        apply_overrides(config, lsts=(extra,))
    with pytest.raises(ConfigError, match="concurency"):
        apply_overrides(config, fetch_options={"concurency": 1})


def test_fetch_limits_divide_among_processes() -> None:
    policy = FetchPolicy(concurrency=64, per_host=3)
    assert policy.divided(4) == FetchPolicy(concurrency=16, per_host=1)
    assert policy.divided(1) is policy


def test_cli_and_api_give_the_same_run(tmp_path: Path, make_shard) -> None:
    """``-c cfg -b extra --per-host 2 --workers 2`` and ``scan(shards, cfg, lists=(extra,), fetch_options=..., workers=2)``
    record the same effective configuration: one rule for both."""
    shard = make_shard(
        "s.parquet", url=["http://a.example/1", "http://b.example/2", "http://c.example/3"], image_phash=["", "", ""]
    )
    cfg = _config(tmp_path)
    (tmp_path / "b.txt").write_text("b.example\n")
    res = CliRunner().invoke(
        cli,
        [
            "scan",
            str(shard),
            "-c",
            str(cfg),
            "-b",
            f"domain:{tmp_path / 'b.txt'}",
            "--per-host",
            "2",
            "--workers",
            "2",
            "-o",
            str(tmp_path / "cli"),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    api = scan(
        [shard],
        load_config(cfg),
        lists=(ListSpec(tmp_path / "b.txt", kind="domain"),),
        fetch_options={"per_host": 2},
        workers=2,
        output=tmp_path / "api",
    )
    cli_manifest = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    assert api.manifest is not None
    for manifest in (cli_manifest, api.manifest):
        assert [lst["name"] for lst in manifest["lists"]] == ["a", "b"]
        assert manifest["config"]["fetch_options"]["per_host"] == 2
        assert manifest["config"]["fetch_options"]["concurrency"] == 3
        assert manifest["config"]["workers"] == 2
        assert manifest["totals"]["rows_dropped"] == 2
    settings = [
        {k: v for k, v in m["config"].items() if k != "output"}
        for m in (cli_manifest, json.loads((tmp_path / "api" / "manifest.json").read_text()))
    ]
    assert settings[0] == settings[1]


def test_list_cache_never_renames_a_list(tmp_path: Path) -> None:
    """Two list files with the same lines are two lists: the compiled-list cache (keyed by content)
    once answered ``a.txt`` with the list compiled from ``d.txt``, and the manifest named the wrong list."""
    from provscan.lists.store import load_cached

    for stem in ("d", "a"):
        (tmp_path / f"{stem}.txt").write_text("same.example\n")
    assert load_cached(ListSpec(tmp_path / "d.txt", kind="domain")).name == "d"
    assert load_cached(ListSpec(tmp_path / "a.txt", kind="domain")).name == "a"
    assert load_cached(ListSpec(tmp_path / "a.txt", kind="domain", name="x")).name == "x"
