"""Licence resolution against the real SPDX and Creative Commons tables (eval-data section 4).

Expected ids are computed here from the SPDX json's ``url`` fields and ids, independently of the
shipped ``provscan/data/cc_spdx.csv``, so a wrong generated table cannot agree with itself.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from functools import cache
from importlib.resources import files
from pathlib import Path

import pytest
from conftest import ROOT, eval_path
from hypothesis import given
from hypothesis import strategies as st

from provscan.errors import ConfigError
from provscan.licenses.spdx import UNRECOGNIZED_PREFIX, LicensePolicy, cc_to_spdx, resolve_license

HOWS = {"cc-url", "spdx", "spdx-deprecated", "licenseref", "spdx-expression", "missing", "unrecognized"}


@cache
def spdx_list() -> dict[str, dict]:
    return json.loads(eval_path("licenses", "spdx", "spdx-license-list.spdx.json").read_text(encoding="utf-8"))


@cache
def spdx_current() -> set[str]:
    return set(json.loads(eval_path("licenses", "spdx", "spdx-license-ids.index.json").read_text(encoding="utf-8")))


@cache
def spdx_all() -> set[str]:
    deprecated = json.loads(
        eval_path("licenses", "spdx", "spdx-license-ids.deprecated.json").read_text(encoding="utf-8")
    )
    return spdx_current() | set(deprecated) | set(spdx_list())


@cache
def cc_rows() -> list[dict[str, str]]:
    with open(eval_path("licenses", "cc", "cc_license_uris.csv"), encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def plain_key(url: str) -> str:
    """Deliberately simpler than provscan's cc_key: only the two spellings the sources use."""
    key = re.sub(r"^https?://creativecommons\.org/", "", url.lower())
    return re.sub(r"(/legalcode)?/?$", "", key)


@cache
def spdx_cc_by_key() -> dict[str, str]:
    """CC path -> SPDX id, from the SPDX list urls, plus ids that only the id index has (by name)."""
    out = {plain_key(v["url"]): k for k, v in spdx_list().items() if "creativecommons.org" in v.get("url", "")}
    for license_id in spdx_all() - set(spdx_list()):
        if m := re.fullmatch(r"CC-([A-Z-]+?)-(\d\.\d)(?:-([A-Z]+))?", license_id):
            out.setdefault("/".join(p for p in ("licenses", m[1].lower(), m[2], (m[3] or "").lower()) if p), license_id)
    return out


def variants(uri: str) -> list[str]:
    """Spellings of one licence URI found in scraped metadata."""
    bare = re.sub(r"/legalcode$", "", re.sub(r"^https?://", "", uri).rstrip("/"))
    return [
        uri,
        f"https://{bare}/",
        f"http://{bare}",
        bare,
        f"{bare}/",
        f"www.{bare}/",
        f"https://www.{bare}/",
        f"//{bare}/",
        f"https://{bare}/deed.fr",
        f"{bare}/deed.zh_TW",
        f"http://{bare}/legalcode",
        f"https://{bare}/legalcode.de",
        f"https://{bare}/deed",
        f"  https://{bare.upper()}/  ",
        f"https://{bare}/?ref=chooser-v1",
        f"https://{bare}/#section",
    ]


def test_every_cc_uri_maps_to_the_spdx_id_its_url_implies() -> None:
    rows = cc_rows()
    assert len(rows) == 561
    expected = spdx_cc_by_key()
    to_spdx, to_ref, wrong = 0, 0, []
    for row in rows:
        got = cc_to_spdx(row["uri"])
        key = plain_key(row["uri"])
        if key in expected:
            to_spdx += 1
            if got != expected[key]:
                wrong.append((row["uri"], got, expected[key]))
            continue
        to_ref += 1
        # No SPDX id: the documented LicenseRef-CC-<ELEMENTS>-<version>[-<JUR>] form.
        tail = "".join(f"-{p}" for p in (row["version"], row["jurisdiction"].upper()) if p)
        elements = {"BY", "NC", "ND", "SA"} & set(row["code"].upper().split("-"))
        if not (got and got.startswith("LicenseRef-CC-") and got.endswith(tail)):
            wrong.append((row["uri"], got, "LicenseRef-CC-...-" + tail))
        elif got.removeprefix("LicenseRef-") in spdx_all() or not elements <= set(got.split("-")):
            wrong.append((row["uri"], got, f"elements {elements}, not an SPDX id"))
    assert wrong == []
    # The CSV lists by-sa/3.0 twice (561 rows, 560 URIs): 46 rows / 45 URIs have an SPDX id.
    assert len({r["uri"] for r in rows}) == 560
    assert (to_spdx, to_ref) == (46, 515)


def test_licenseref_ids_are_stable_and_only_merge_identical_terms() -> None:
    by_id: dict[str, set[str]] = {}
    for row in cc_rows():
        by_id.setdefault(cc_to_spdx(row["uri"]) or "", set()).add(row["uri"])
    merged = {k: v for k, v in by_id.items() if len(v) > 1}
    # Japan 2.0 was published under both element orders; same terms, version and port -> one id.
    assert merged == {
        "LicenseRef-CC-BY-NC-ND-2.0-JP": {
            "http://creativecommons.org/licenses/by-nc-nd/2.0/jp/",
            "http://creativecommons.org/licenses/by-nd-nc/2.0/jp/",
        }
    }
    assert cc_to_spdx("http://creativecommons.org/licenses/sampling+/1.0/br/") == "LicenseRef-CC-SAMPLING-PLUS-1.0-BR"
    assert cc_to_spdx("http://creativecommons.org/licenses/GPL/2.0/") == "LicenseRef-CC-GPL-2.0"


def test_every_spdx_cc_id_round_trips_from_its_url() -> None:
    cc_ids = {k: v["url"] for k, v in spdx_list().items() if "creativecommons.org" in v.get("url", "")}
    assert len(cc_ids) == 55
    assert {k: cc_to_spdx(url) for k, url in cc_ids.items() if cc_to_spdx(url) != k} == {}
    # An id newer than the list json, placed by SPDX's naming convention only:
    assert "CC-BY-NC-3.0-IGO" in spdx_current() and "CC-BY-NC-3.0-IGO" not in spdx_list()
    assert cc_to_spdx("https://creativecommons.org/licenses/by-nc/3.0/igo/") == "CC-BY-NC-3.0-IGO"
    assert cc_to_spdx("https://creativecommons.org/licenses/by-nc-sa/2.0/fr/deed.fr") == "CC-BY-NC-SA-2.0-FR"
    assert cc_to_spdx("http://creativecommons.org/licenses/by-nd-nc/1.0/") == "CC-BY-NC-ND-1.0"


def test_variant_spellings_map_identically() -> None:
    uris = [r["uri"] for r in cc_rows()] + [
        v["url"] for v in spdx_list().values() if "creativecommons" in v.get("url", "")
    ]
    mismatches = []
    for uri in uris:
        want = cc_to_spdx(uri)
        assert want is not None, uri
        mismatches += [(form, cc_to_spdx(form), want) for form in variants(uri) if cc_to_spdx(form) != want]
    assert mismatches == []
    assert cc_to_spdx("creativecommons.org/licenses/sampling%2B/1.0/") == "LicenseRef-CC-SAMPLING-PLUS-1.0"


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "   ",
        "?",
        "CC BY 4.0",
        "CC-BY-4.0",
        "creativecommons.org",
        "https://creativecommons.org/",
        "https://creativecommons.org/licenses/",
        "https://creativecommons.org/licenses/by/",
        "https://creativecommons.org/licenses/by/5.0/",
        "https://creativecommons.org/licenses/by-nc-nd/1.0/",  # CC 1.0 was only ever "by-nd-nc"
        "https://creativecommons.org/licenses/by/3.0/ge/",  # a later port the 2012 table lacks: not guessed
        "https://creativecommons.org/licenses/by/4.0/extra",
        "https://creativecommons.org/licenses/by//4.0/",
        "https://creativecommons.org/licenses/by/4.0/deed.en/x",
        "https://example.org/licenses/by/4.0/",
        "https://creativecommons.org.evil.example/licenses/by/4.0/",
        "ftp://creativecommons.org/licenses/by/4.0/",
        "https://creativecommons.org/licenses/by/4.0/ and more",
        "https://creativecommons.org/publicdomain/zero/2.0/",
    ],
)
def test_junk_is_never_guessed(junk: str) -> None:
    assert cc_to_spdx(junk) is None


@given(st.text(max_size=80))
def test_cc_to_spdx_is_total_and_only_returns_table_values(text: str) -> None:
    got = cc_to_spdx(text)
    assert got is None or got in shipped_ids()


@cache
def shipped_ids() -> set[str]:
    return {cc_to_spdx(r["uri"]) for r in cc_rows()} | set(spdx_cc_by_key().values())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("unknown", "missing")),
        ("", ("unknown", "missing")),
        ("  ?  ", ("unknown", "missing")),
        ("Unknown", ("unknown", "missing")),
        ("NOASSERTION", ("unknown", "missing")),
        (" mit ", ("MIT", "spdx")),
        ("apache-2.0", ("Apache-2.0", "spdx")),
        ("CC-BY-NC-SA-2.0-fr", ("CC-BY-NC-SA-2.0-FR", "spdx")),
        ("gpl-2.0", ("GPL-2.0", "spdx-deprecated")),
        ("GPL-2.0+", ("GPL-2.0+", "spdx-deprecated")),
        ("http://creativecommons.org/licenses/by-nc-sa/3.0/", ("CC-BY-NC-SA-3.0", "cc-url")),
        ("creativecommons.org/licenses/by/2.5/scotland", ("LicenseRef-CC-BY-2.5-SCOTLAND", "cc-url")),
        ("licenseref-cc-by-1.0-fi", ("LicenseRef-CC-BY-1.0-FI", "licenseref")),
        ("LicenseRef-Acme-Photo-EULA", ("LicenseRef-Acme-Photo-EULA", "licenseref")),
        ("MIT OR Apache-2.0", ("MIT OR Apache-2.0", "spdx-expression")),
        ("mit or (apache-2.0 and gpl-2.0)", ("MIT OR (Apache-2.0 AND GPL-2.0)", "spdx-expression")),
        ("MIT OR Not-A-Licence", (UNRECOGNIZED_PREFIX + "MIT OR Not-A-Licence", "unrecognized")),
        ("MIT OR", (UNRECOGNIZED_PREFIX + "MIT OR", "unrecognized")),
        ("CC BY-NC 4.0 ", (UNRECOGNIZED_PREFIX + "CC BY-NC 4.0", "unrecognized")),
        (
            "https://creativecommons.org/licenses/by/3.0/ge/",
            (UNRECOGNIZED_PREFIX + "https://creativecommons.org/licenses/by/3.0/ge/", "unrecognized"),
        ),
    ],
)
def test_resolve_license(value: str | None, expected: tuple[str, str]) -> None:
    assert resolve_license(value) == expected


def test_every_spdx_id_resolves_case_insensitively_to_its_canonical_case() -> None:
    ids = spdx_all()
    assert len(ids) == 740
    wrong = []
    for license_id in ids:
        how = "spdx" if license_id in spdx_current() else "spdx-deprecated"
        for form in (license_id, license_id.lower(), license_id.upper(), f" {license_id}\t"):
            if resolve_license(form) != (license_id, how):
                wrong.append((form, resolve_license(form)))
    assert wrong == []


@given(st.one_of(st.none(), st.text(max_size=60), st.sampled_from(sorted(spdx_all()))))
def test_resolve_license_is_total_visible_and_idempotent(value: str | None) -> None:
    license_id, how = resolve_license(value)
    assert how in HOWS
    if how == "unrecognized":
        assert license_id == UNRECOGNIZED_PREFIX + (value or "").strip()
    assert resolve_license(license_id)[0] == license_id


def test_shipped_table_is_what_the_generator_builds_and_carries_its_sources() -> None:
    spec = importlib.util.spec_from_file_location("gen_cc_table", ROOT / "scripts" / "gen_cc_table.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    cc_rows_built, id_rows_built = gen.build(eval_path())
    data = files("provscan.licenses").joinpath("data")
    for name, built in (("cc_spdx.csv", cc_rows_built), ("spdx_ids.csv", id_rows_built)):
        text = data.joinpath(name).read_text(encoding="utf-8")
        assert "GENERATED by scripts/gen_cc_table.py" in text and "CC0-1.0" in text
        rows = list(csv.reader(line for line in text.splitlines() if not line.startswith("#")))[1:]
        assert [tuple(r) for r in rows] == built, name
    assert len(cc_rows_built) == 571  # 560 distinct CC URIs + 11 SPDX-only (six 4.0, five 3.0 IGO)
    # Only derived tables are shipped, never the evaluation data itself.
    assert sorted(p.name for p in Path(str(data)).iterdir() if not p.name.startswith("__")) == [
        "cc_spdx.csv",
        "spdx_ids.csv",
    ]


def test_policy_drop_wins_and_globs_cover_spdx_and_licenseref_forms() -> None:
    policy = LicensePolicy(drop=["*-NC-*", "LicenseRef-unrecognized:*"], flag=["CC-BY-NC-SA-*", "*-ND-*", "unknown"])
    assert policy.action_for("CC-BY-NC-SA-4.0") == "drop"  # matches both lists: drop wins
    assert policy.action_for(resolve_license("creativecommons.org/licenses/by-nc/2.5/scotland/")[0]) == "drop"
    assert policy.action_for("CC-BY-ND-4.0") == "flag"
    assert policy.action_for("unknown") == "flag"
    assert policy.action_for(resolve_license("all rights reserved")[0]) == "drop"
    assert policy.action_for("CC-BY-4.0") is None
    assert policy.action_for("CC-BY-4.0") is None  # memoised answer is the same answer


def test_policy_globs_are_case_sensitive() -> None:
    policy = LicensePolicy(drop=["cc-by-nc-*"])
    assert policy.action_for("CC-BY-NC-4.0") is None
    assert LicensePolicy(drop=["CC-BY-NC-*"]).action_for("CC-BY-NC-4.0") == "drop"


@pytest.mark.parametrize("bad", [{"drop": [""]}, {"flag": ["  "]}, {"drop": "CC-BY-NC-*"}, {"flag": [None]}])
def test_policy_rejects_bad_patterns(bad: dict) -> None:
    with pytest.raises(ConfigError):
        LicensePolicy(**bad)
