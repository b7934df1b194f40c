"""manifest.json read back through one typed reader (issue 17, §2): the terminal, the reports and
``provscan show`` take typed fields, and a manifest of the wrong shape is one line naming the field."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from provscan.cli import cli
from provscan.errors import IntegrityError
from provscan.sinks.manifest import Manifest
from provscan.terminal import print_end_of_run, print_lists

from report_data import build_inputs, run_scan


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("manifest-reader")
    build_inputs(root)
    return run_scan(root, root / "out").output


def test_a_real_manifest_reads_into_typed_fields(scanned: Path) -> None:
    data = json.loads((scanned / "manifest.json").read_text())
    m = Manifest.read(data)
    assert m.version == data["provscan_version"] and m.finished == data["finished"]
    assert [(l.name, l.kind, l.action, l.entries, l.sha256) for l in m.lists] == [
        (l["name"], l["kind"], l["action"], l["entries"], l["sha256"]) for l in data["lists"]
    ]
    assert m.settings.output == data["config"]["output"] and m.settings.redact_urls is False
    assert m.settings.recorded == data["config"]
    assert len(m.shards) == len(data["shards"]) and m.totals["rows_in"] == data["totals"]["rows_in"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(lists=[1]), "lists[0] is not an object"),
        (lambda d: d["lists"][0].update(entries="many"), "lists[0].entries is not a whole number"),
        (lambda d: d["lists"][0].pop("kind"), "lists[0].kind is not a string"),
        (lambda d: d.update(config="x"), "config is not an object"),
        (lambda d: d["config"].update(licenses={"drop": "CC-BY-4.0"}), "config.licenses.drop is not a list of strings"),
        (lambda d: d.update(totals=[]), "totals is not an object"),
        (lambda d: d.update(shards={"a": 1}), "lists and shards must be lists"),
    ],
)
def test_a_manifest_of_the_wrong_shape_names_the_field(scanned: Path, edit, message: str) -> None:
    data = json.loads((scanned / "manifest.json").read_text())
    edit(data)
    with pytest.raises(IntegrityError, match=re.escape(message)):
        Manifest.read(data)


def test_report_on_a_tampered_manifest_is_one_line_not_a_traceback(scanned: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(scanned, out)
    data = json.loads((out / "manifest.json").read_text())
    data["lists"][0] = "not a list entry"
    (out / "manifest.json").write_text(json.dumps(data))
    before = (out / "report.html").read_bytes()
    result = CliRunner().invoke(cli, ["report", str(out)])
    assert result.exit_code != 0
    assert "lists[0] is not an object" in result.output and "Traceback" not in result.output
    assert (out / "report.html").read_bytes() == before  # nothing re-rendered from a bad manifest


def test_the_terminal_reads_the_same_fields(scanned: Path) -> None:
    data = json.loads((scanned / "manifest.json").read_text())
    data["config"]["licenses"] = {"drop": ["CC-BY-NC-*"], "flag": []}
    data["config"]["unchecked"] = "flag"
    err, out = io.StringIO(), io.StringIO()
    print_lists(err, data)
    print_end_of_run(out, data, json.loads((scanned / "summary.json").read_text()))
    assert "licence policy: drop CC-BY-NC-*; flag -" in err.getvalue() and "unchecked images: flag" in err.getvalue()
    assert all(l["name"] in err.getvalue() for l in data["lists"])
    assert f"output: {data['config']['output']}" in out.getvalue()
