"""The README and docs/ are a contract with users: every command in them runs, every link resolves.

The convention (docs/README.md, "Writing these pages"): a ```sh block is commands, run in order per
page by :func:`test_page_commands_run` with bash ``set -euo pipefail`` in a temporary copy of the
repository root's ``sample_data/``, ``blocklists/`` and ``provscan.toml``; every command must exit 0.
A ```python block runs the same way, with the installed Python. A block that cannot run offline is
preceded by ``<!-- docs-test: skip REASON -->``. Output,
synopses and file formats go in ```text / ```json / ```toml blocks. The README's first two blocks
are the set-up commands: the first is run without its venv and pip steps, the second is the one
.ci/run runs verbatim.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from provscan.cli import cli

from conftest import ROOT

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
SKIP = re.compile(r"<!-- docs-test: skip (.+?) -->\s*$")


def _blocks(page: Path) -> list[tuple[str, str, str | None]]:
    """(language, body, skip reason or None) for every fenced block of ``page``, in order."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        out.append((m.group(1), m.group(2), skip.group(1) if skip else None))
    return out


def _setup_commands() -> tuple[str, str]:
    sh = [body.strip() for lang, body, _ in _blocks(ROOT / "README.md") if lang == "sh"]
    return sh[0], sh[1]


def test_readme_opens_with_run_and_test_commands() -> None:
    run, test = _setup_commands()
    assert run.startswith("python3 -m venv .venv && .venv/bin/pip install -q -e . && ")
    assert "provscan scan sample_data/*.parquet" in run
    assert test.endswith("pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, test = _setup_commands()
    assert test in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_command_has_help() -> None:
    for name, command in cli.commands.items():
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert command.help, name


def test_every_command_is_documented() -> None:
    """Each click command appears as ``provscan NAME`` in some page of docs/."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.glob("*.md"))
    assert sorted(n for n in cli.commands if f"provscan {n}" not in text) == []


def test_readme_fits_two_screens_and_links_every_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 120
    for page in DOCS.glob("*.md"):
        assert f"docs/{page.name}" in readme, page.name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        assert (page.parent / target.split("#")[0]).exists(), f"{page.name}: broken link {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_commands_use_the_convention(page: Path) -> None:
    """Shell commands only in ```sh blocks (which run); a skipped block says why."""
    for lang, body, skip in _blocks(page):
        assert lang not in ("bash", "shell", "console", "shell-session", "zsh"), f"{page.name}: use ```sh\n{body}"
        assert skip is None or lang in ("sh", "python"), f"{page.name}: skip marker before a ```{lang} block"
        assert skip is None or len(skip) > 10, f"{page.name}: say why the block cannot run"


def _script(page: Path) -> tuple[str, int]:
    """The page's runnable ```sh and ```python blocks as one bash script, and how many blocks it holds."""
    blocks = [
        (body if lang == "sh" else f"python - <<'PYTHON'\n{body}PYTHON\n", skip)
        for lang, body, skip in _blocks(page)
        if lang in ("sh", "python")
    ]
    if page == ROOT / "README.md":  # the set-up commands: run the scan without venv/pip; CI runs the tests
        run, _ = _setup_commands()
        blocks = [(run.rsplit("&& ", 1)[1].replace(".venv/bin/", ""), None), *blocks[2:]]
    runnable = [body for body, skip in blocks if skip is None]
    return "set -euo pipefail\n" + "\n".join(runnable), len(runnable)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_page_commands_run(page: Path, tmp_path: Path) -> None:
    """Every ```sh and ```python block of the page, in order, in a copy of the repository root's sample set-up."""
    script, count = _script(page)
    if not count:
        pytest.skip(f"{page.name} has no commands")
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("sample_data", "blocklists"):
        shutil.copytree(ROOT / name, work / name)
    shutil.copy(ROOT / "provscan.toml", work / "provscan.toml")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PROVSCAN_CACHE_DIR": str(tmp_path / "cache"),
        "COLUMNS": "120",
    }
    done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"{page.name}: a command failed\n{script}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )


def test_module_map_names_every_module() -> None:
    """docs/architecture.md's module map names every module of the package, under its package."""
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    table = text[text.index("## Module map") :].split("\n\n## ")[0]
    mapped, package = set(), ""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) < 3 or not cells[1].startswith("`"):
            continue
        package = cells[0].strip("`").rstrip("/") or package
        prefix = "" if package == "provscan" else package + "/"
        mapped.update(prefix + name for name in re.findall(r"`([\w.]+\.py)`", cells[1]))
    root = ROOT / "src" / "provscan"
    modules = {
        p.relative_to(root).as_posix() for p in root.rglob("*.py") if p.name != "__init__.py" or p.parent == root
    }
    assert sorted(modules - mapped) == []
    assert sorted(mapped - modules) == []  # and no module that is gone


def test_readme_walkthrough_shows_real_output(tmp_path: Path) -> None:
    """In the README, a ```text block right after a ```sh block is that command's output, verbatim
    (trailing spaces aside): the walkthrough's tables are what a new user will see, not a memory of them."""
    blocks = _blocks(ROOT / "README.md")
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("sample_data", "blocklists"):
        shutil.copytree(ROOT / name, work / name)
    shutil.copy(ROOT / "provscan.toml", work / "provscan.toml")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PROVSCAN_CACHE_DIR": str(tmp_path / "cache"),
    }
    compared = 0
    for i, (lang, body, skip) in enumerate(blocks[2:], 2):  # after the two set-up commands
        if lang != "sh" or skip is not None:
            continue
        done = subprocess.run(
            ["bash", "-c", f"set -euo pipefail\nexec 2>&1\n{body}"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, (body, done.stdout, done.stderr)
        if i + 1 < len(blocks) and blocks[i + 1][0] == "text":
            shown = [line.rstrip() for line in blocks[i + 1][1].strip("\n").splitlines()]
            assert [line.rstrip() for line in done.stdout.strip("\n").splitlines()] == shown, body
            compared += 1
    assert compared >= 2  # the scan and the show
