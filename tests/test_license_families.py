"""Licence families and SPDX expressions in the policy (issue 12), over every CC licence URI.

Ground truth comes from the CC licence RDF fields in the evaluation data (``code``, ``prohibits``),
not from provscan's ids, so a wrong family rule cannot agree with itself.
"""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import EVAL

from provscan.cli import cli
from provscan.errors import ConfigError
from provscan.licenses.spdx import LicensePolicy, cc_to_spdx

CC_URIS = EVAL / "licenses" / "cc" / "cc_license_uris.csv"
needs_cc = pytest.mark.eval_data("licenses", "cc", "cc_license_uris.csv")


@cache
def cc_rows() -> list[dict[str, str]]:
    with open(CC_URIS, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def elements(row: dict[str, str]) -> set[str]:
    return set(row["code"].lower().split("-"))


@needs_cc
def test_every_nc_licence_under_nc_every_nd_under_nd_nothing_else() -> None:
    rows = cc_rows()
    assert len(rows) == 561
    nc, nd, glob = LicensePolicy(drop=["cc:nc"]), LicensePolicy(drop=["cc:nd"]), LicensePolicy(drop=["CC-BY-NC-*"])
    combined = LicensePolicy(drop=["cc:nc"], flag=["cc:nd"])
    wrong = []
    for row in rows:
        license_id = cc_to_spdx(row["uri"])
        assert license_id is not None, row["uri"]
        is_nc, is_nd = "nc" in elements(row), "nd" in elements(row)
        assert is_nc == ("CommercialUse" in row["prohibits"])  # the RDF agrees with the code
        if (nc.action_for(license_id) == "drop") != is_nc:
            wrong.append(("cc:nc", row["uri"], license_id))
        if (nd.action_for(license_id) == "drop") != is_nd:
            wrong.append(("cc:nd", row["uri"], license_id))
        # the glob, by its letters, names the attribution licences: every BY-NC licence and port
        if (glob.action_for(license_id) == "drop") != (is_nc and "by" in elements(row)):
            wrong.append(("CC-BY-NC-*", row["uri"], license_id))
        want = "drop" if is_nc else "flag" if is_nd else None
        if combined.action_for(license_id) != want:
            wrong.append(("combined", row["uri"], license_id))
    assert wrong == []
    counts = {k: sum(1 for r in rows if k in elements(r)) for k in ("nc", "nd")}
    assert counts == {"nc": 276, "nd": 183}


@needs_cc
def test_ports_without_an_spdx_id_are_in_their_family() -> None:
    port = cc_to_spdx("http://creativecommons.org/licenses/by-nd-nc/2.0/jp/")
    assert port == "LicenseRef-CC-BY-NC-ND-2.0-JP"
    assert LicensePolicy(drop=["CC-BY-NC-*"]).action_for(port) == "drop"
    assert LicensePolicy(drop=["CC-BY-NC-ND-2.0"]).action_for(port) == "drop"  # the licence it ports
    assert LicensePolicy(drop=["CC-BY-NC-ND-2.0-JP"]).action_for(port) == "drop"
    assert LicensePolicy(drop=["CC-BY-NC-ND-2.0-FR"]).action_for(port) is None
    assert LicensePolicy(drop=["CC-BY-NC-*"]).action_for("CC-BY-ND-4.0") is None


def test_unknown_selector_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown selector 'cc:xx'"):
        LicensePolicy(drop=["cc:xx"])


@pytest.mark.parametrize(
    ("expression", "action"),
    [
        ("MIT OR Apache-2.0", None),
        ("CC-BY-4.0 AND CC-BY-SA-4.0", None),
        ("CC-BY-4.0 AND CC-BY-NC-4.0", "drop"),  # AND: every operand applies
        ("MIT OR CC-BY-NC-4.0", None),  # OR: the row may be used under MIT
        ("CC-BY-NC-4.0 OR CC-BY-NC-SA-4.0", "drop"),  # every alternative is dropped
        ("CC-BY-ND-4.0 OR CC-BY-NC-4.0", "flag"),  # the most permissive alternative is flagged
        ("(MIT OR CC-BY-NC-4.0) AND CC-BY-ND-4.0", "flag"),
        ("GPL-2.0-only WITH Classpath-exception-2.0", None),
    ],
)
def test_expression_policy_is_conservative(expression: str, action: str | None) -> None:
    assert LicensePolicy(drop=["CC-BY-NC-*"], flag=["cc:nd"]).action_for(expression) == action


def test_policy_on_expressions_and_ports_through_the_cli(tmp_path: Path, make_shard, make_list) -> None:
    values = [
        "MIT OR Apache-2.0",
        "cc-by-4.0 and CC-BY-NC-4.0",
        "MIT OR CC-BY-NC-4.0",
        "http://creativecommons.org/licenses/by-nd-nc/2.0/jp/",
        "https://creativecommons.org/licenses/by-nd/4.0/",
        "MIT OR",
        "https://creativecommons.org/licenses/by/4.0/",
    ]
    shard = make_shard("l.parquet", URL=[f"http://a.example/{i}" for i in range(len(values))], LICENSE=values)
    cfg = make_list("p.toml", '[licenses]\ndrop = ["CC-BY-NC-*"]\nflag = ["cc:nd"]\n')
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["scan", str(shard), "-c", str(cfg), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    found = {f["row"]: (f["entry"], f["action"]) for f in pq.read_table(out / "flagged.parquet").to_pylist()}
    assert found == {
        1: ("CC-BY-4.0 AND CC-BY-NC-4.0", "drop"),
        3: ("LicenseRef-CC-BY-NC-ND-2.0-JP", "drop"),
        4: ("CC-BY-ND-4.0", "flag"),
    }
    summary = json.loads((out / "summary.json").read_text())
    assert summary["licenses_by_id"]["MIT OR Apache-2.0"] == 1  # parsed, not "unrecognized"
    assert summary["licenses_by_id"]["LicenseRef-unrecognized:MIT OR"] == 1  # malformed stays visible
    assert pq.read_table(out / "clean" / "l.parquet").num_rows == 5


def test_bad_selector_in_config_exits_1(tmp_path: Path, make_shard, make_list) -> None:
    shard = make_shard("l.parquet", URL=["http://a.example/"], LICENSE=["MIT"])
    cfg = make_list("p.toml", '[licenses]\ndrop = ["cc:noncommercial"]\n')
    result = CliRunner().invoke(cli, ["scan", str(shard), "-c", str(cfg), "-o", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 1 and "unknown selector 'cc:noncommercial'" in result.output
