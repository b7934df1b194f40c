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
