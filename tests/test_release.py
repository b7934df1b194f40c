"""Issue 19: croissant.json (validated and loaded by mlcroissant), provenance.intoto.json (the in-toto
schema and the framework's own validator), ``provscan verify --attestation`` on untrusted files."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from provscan import scan
from provscan.cli import cli
from provscan.config import ListSpec, load_config
from provscan.errors import ConfigError
from provscan.pipeline.verify import verify_output

SCHEMA = Path(__file__).parent / "schemas" / "in-toto" / "statement-v1.schema.json"
RELEASE = {
    "name": "tiny-clean",
    "description": "Two shards, cleaned.",
    "license": "CC-BY-4.0",
    "version": "1.0.0",
    "citation": "@misc{tiny, title={Tiny}}",
    "url": "https://example.org/tiny",
    "data_collection": "Crawled by hand.",
}


@pytest.fixture
def run(tmp_path: Path, make_shard, make_list) -> Path:
    a = make_shard(
        "a.parquet",
        url=["http://bad.example/1", "http://ok.example/", "http://bad.example/2", None],
        caption=["x", "y", None, "é"],
        n=[1, 2, 3, 4],
        score=[0.5, 1.5, 2.5, None],
        ok=[True, False, True, None],
    )
    b = make_shard(
        "b.parquet",
        url=["http://flag.example/x", "http://ok.example/y"],
        caption=["p", "q"],
        n=[5, 6],
        score=[3.0, 4.0],
        ok=[False, True],
    )
    drop = make_list("drop.txt", "# provscan-list: kind=domain action=drop\nbad.example\n")
    flag = make_list("flag.txt", "# provscan-list: kind=domain action=flag\nflag.example\n")
    scan([a, b], lists=(ListSpec(drop), ListSpec(flag)), output=tmp_path / "out", release=RELEASE)
    return tmp_path / "out"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_croissant_validates_and_its_records_are_the_clean_rows(run: Path) -> None:
    mlc = pytest.importorskip("mlcroissant")
    doc = json.loads((run / "croissant.json").read_text())
    dataset = mlc.Dataset(jsonld=str(run / "croissant.json"))  # raises on any validation error
    assert dataset.metadata.ctx.issues.errors == set() and dataset.metadata.ctx.issues.warnings == set()
    assert doc["name"] == "tiny-clean" and doc["license"] == "CC-BY-4.0" and doc["citeAs"].startswith("@misc")
    files = {d["contentUrl"]: d for d in doc["distribution"] if d["@type"] == "cr:FileObject"}
    assert {k: v["sha256"] for k, v in files.items()} == {
        k: sha(run / k) for k in ("clean/a.parquet", "clean/b.parquet")
    }
    assert files["clean/a.parquet"]["contentSize"] == f"{(run / 'clean/a.parquet').stat().st_size} B"
    fields = {f["name"]: f["dataType"] for f in doc["recordSet"][0]["field"]}
    assert fields == {
        "url": "sc:Text",
        "caption": "sc:Text",
        "n": "sc:Integer",
        "score": "sc:Float",
        "ok": "sc:Boolean",
    }
    assert "bad.example" in doc["rai:dataPreprocessingProtocol"] or "drop" in doc["rai:dataPreprocessingProtocol"]
    assert sha(run / "removals.sha256.txt") in doc["rai:dataPreprocessingProtocol"]
    assert "Images were not fetched" in doc["rai:dataLimitations"] and doc["rai:dataCollection"] == "Crawled by hand."
    loaded = [
        {k.split("/", 1)[1]: v.decode() if isinstance(v, bytes) else v for k, v in r.items()}
        for r in dataset.records("rows")
    ]
    clean = pa.concat_tables([pq.read_table(run / "clean" / n) for n in ("a.parquet", "b.parquet")]).to_pylist()
    key = lambda r: r["n"]  # noqa: E731
    assert len(loaded) == len(clean) == 4
    for got, want in zip(sorted(loaded, key=key), sorted(clean, key=key)):
        assert got["url"] == want["url"] and got["n"] == want["n"] and got["caption"] == want["caption"]
        assert (got["score"] == want["score"]) or (
            want["score"] is None and got["score"] != got["score"]
        )  # null -> NaN
    assert "http://bad.example/1" not in {r["url"] for r in loaded}


def test_attestation_is_a_valid_in_toto_statement_with_slsa_provenance(run: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    statement = json.loads((run / "provenance.intoto.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(statement)
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    names = ("clean/a.parquet", "clean/b.parquet", "flagged.parquet", "removals.sha256.txt", "croissant.json")
    assert subjects == {n: sha(run / n) for n in names}
    build = statement["predicate"]["buildDefinition"]
    manifest = json.loads((run / "manifest.json").read_text())
    assert build["externalParameters"]["config"] == manifest["config"]
    assert build["buildType"].startswith("pkg:pypi/provscan@" + manifest["provscan_version"])
    deps = {d["name"]: d["digest"]["sha256"] for d in build["resolvedDependencies"]}
    assert {e["path"]: e["sha256"] for e in manifest["shards"]}.items() <= deps.items()
    assert {lst["path"]: lst["sha256"] for lst in manifest["lists"]}.items() <= deps.items()
    assert statement["predicate"]["runDetails"]["metadata"]["finishedOn"].endswith("Z")
    assert manifest["files"]["provenance.intoto.json"] == sha(run / "provenance.intoto.json")
    # the framework's own bindings: strict protobuf JSON parsing (unknown fields fail) and Statement.validate()
    pytest.importorskip("in_toto_attestation")
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    Statement.copy_from_pb(json_format.Parse(json.dumps(statement), statement_pb2.Statement())).validate()
    json_format.ParseDict(statement["predicate"], provenance_pb2.Provenance())
    broken = {**statement, "subject": [{"name": "x"}]}
    with pytest.raises(ValueError):
        Statement.copy_from_pb(json_format.Parse(json.dumps(broken), statement_pb2.Statement())).validate()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(broken)


def verify(*args: object):
    return CliRunner().invoke(cli, ["verify", *map(str, args)])


def test_verify_attestation_passes_then_names_a_tampered_subject(run: Path) -> None:
    ok = verify(run, "--attestation")
    assert ok.exit_code == 0, ok.output
    assert "attested sha256" in ok.output and "croissant sha256" in ok.output
    statement = json.loads((run / "provenance.intoto.json").read_text())
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    statement["predicate"]["buildDefinition"]["externalParameters"]["config"]["export"] = False
    (run / "provenance.intoto.json").write_text(json.dumps(statement))
    checks = verify_output(run, attestation=True).failures
    assert {(c.file, c.check) for c in checks} >= {
        ("clean/a.parquet", "attested sha256"),
        ("provenance.intoto.json", "externalParameters.config = manifest config"),
    }
    assert verify(run).exit_code == 1  # the manifest's own hash of the statement fails too


def test_a_changed_clean_shard_fails_the_croissant_and_the_attestation(run: Path) -> None:
    path = run / "clean" / "b.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    failed = {(c.file, c.check) for c in verify_output(run, attestation=True).failures}
    assert {
        ("clean/b.parquet", "attested sha256"),
        ("clean/b.parquet", "croissant sha256"),
        ("clean/b.parquet", "sha256"),
    } <= failed


def test_a_clean_shard_missing_from_the_croissant_is_named(run: Path) -> None:
    doc = json.loads((run / "croissant.json").read_text())
    doc["distribution"] = [d for d in doc["distribution"] if d.get("contentUrl") != "clean/a.parquet"]
    (run / "croissant.json").write_text(json.dumps(doc))
    failed = {(c.file, c.check) for c in verify_output(run, attestation=True).failures}
    assert ("clean/a.parquet", "described in croissant.json") in failed and (
        "croissant.json",
        "attested sha256",
    ) in failed


def test_subjects_and_files_outside_out_are_never_opened(run: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"outside")
    os.symlink(secret, run / "link.bin")
    statement = json.loads((run / "provenance.intoto.json").read_text())
    statement["subject"] += [
        {"name": n, "digest": {"sha256": sha(secret)}} for n in ("../secret.bin", str(secret), "link.bin")
    ]
    (run / "provenance.intoto.json").write_text(json.dumps(statement))
    croissant = json.loads((run / "croissant.json").read_text())
    croissant["distribution"].append({"@type": "cr:FileObject", "contentUrl": "../secret.bin", "sha256": sha(secret)})
    (run / "croissant.json").write_text(json.dumps(croissant))
    failures = verify_output(run, attestation=True).failures
    outside = [c for c in failures if "inside OUT" in c.check]
    assert len(outside) == 4 and all(c.actual == "no (not opened)" for c in outside)
    assert not any(c.file in ("../secret.bin", str(secret), "link.bin") and "sha256" in c.check for c in failures)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"_type": "x", "subject": "all", "predicate": {}}'])
def test_a_malformed_attestation_is_refused_with_one_line(run: Path, text: str) -> None:
    (run / "provenance.intoto.json").write_text(text)
    result = verify(run, "--attestation")
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "provenance.intoto.json" in lines[0], result.output


def test_a_symlinked_attestation_pointing_outside_is_refused(run: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.json"
    outside.write_bytes((run / "provenance.intoto.json").read_bytes())
    (run / "provenance.intoto.json").unlink()
    os.symlink(outside, run / "provenance.intoto.json")
    result = verify(run, "--attestation")
    assert result.exit_code != 0 and "outside the output directory" in result.output


def test_without_export_there_is_no_croissant_but_an_attestation(tmp_path: Path, make_shard, make_list) -> None:
    a = make_shard("a.parquet", url=["http://bad.example/1", "http://ok.example/"])
    drop = make_list("drop.txt", "# provscan-list: kind=domain action=drop\nbad.example\n")
    scan([a], lists=(ListSpec(drop),), output=tmp_path / "out", export=False)
    out = tmp_path / "out"
    assert not (out / "croissant.json").exists()
    statement = json.loads((out / "provenance.intoto.json").read_text())
    assert {s["name"] for s in statement["subject"]} == {"flagged.parquet", "removals.sha256.txt"}
    assert verify_output(out, attestation=True).ok


def test_release_table_is_validated(tmp_path: Path) -> None:
    config = tmp_path / "provscan.toml"
    config.write_text('[release]\nname = "x"\nlicense = "CC0-1.0"\nurl = "https://example.org/"\n')
    assert load_config(config).release.license == "CC0-1.0"
    for body, message in (
        ('[release]\nlicence = "CC0-1.0"\n', "unknown key(s) in [release]: licence"),
        ('[release]\nurl = "ftp://x"\n', "url must start with https://"),
        ('[release]\nname = 3\n', "name must be a non-empty string"),
    ):
        config.write_text(body)
        with pytest.raises(
            ConfigError,
            match=r"provscan\.toml.*"
            + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]"),
        ):
            load_config(config)


def test_report_and_datacard_link_the_release_files_and_say_how_to_check_them(run: Path) -> None:
    html = (run / "report.html").read_text()
    assert "<code>croissant.json</code> and <code>provenance.intoto.json</code>" in html and "href=" not in html
    assert f"provscan verify {run} --attestation" in html
    card = (run / "datacard.md").read_text()
    assert (
        "`croissant.json`" in card
        and "`provenance.intoto.json`" in card
        and f"provscan verify {run} --attestation" in card
    )
    result = CliRunner().invoke(cli, ["report", str(run)])  # re-rendering reproduces the recorded bytes
    assert result.exit_code == 0, result.output
    assert verify_output(run).ok
