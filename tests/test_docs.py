"""The README's two commands are the contract with a new user; keep them true."""

from __future__ import annotations

import re

from click.testing import CliRunner

from provscan.cli import cli

from conftest import ROOT


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", readme)[:2]


def test_readme_opens_with_run_and_test_commands() -> None:
    run, test = _commands()
    assert "provscan scan sample_data/*.parquet" in run
    assert test.endswith("pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, test = _commands()
    assert test in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_command_has_help() -> None:
    for name, command in cli.commands.items():
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert command.help, name


def test_module_map_names_every_module() -> None:
    """The README's module map (Architecture) names every module of the package, under its package."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### Module map"):].split("\n\n## ")[0]
    mapped, package = set(), ""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) < 3 or not cells[1].startswith("`"):
            continue
        package = cells[0].strip("`").rstrip("/") or package
        prefix = "" if package == "provscan" else package + "/"
        mapped.update(prefix + name for name in re.findall(r"`([\w.]+\.py)`", cells[1]))
    root = ROOT / "src" / "provscan"
    modules = {p.relative_to(root).as_posix() for p in root.rglob("*.py")
               if p.name != "__init__.py" or p.parent == root}
    assert sorted(modules - mapped) == []
    assert sorted(mapped - modules) == []  # and no module that is gone
