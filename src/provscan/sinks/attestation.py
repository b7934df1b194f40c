"""provenance.intoto.json: an in-toto Statement v1 with an SLSA Provenance v1 predicate for the release.

The supply-chain format anyone can sign (``cosign attest-blob``, Sigstore) and check with tools they
already have: the subjects are the files a consumer downloads (clean shards, flagged.parquet,
removals.sha256.txt, croissant.json) by SHA-256; the predicate says what made them (provscan and its
version, the effective config) from what (every input shard and list, by SHA-256). Built from the
manifest's entries (their digests are already computed) plus the few merge-time files, so it costs
milliseconds at 1,000 shards. provscan does not sign: signing needs the network and an identity.

:func:`check_attestation` is ``provscan verify --attestation``: the statement read as untrusted input
(a subject named outside OUT is a failed check, never opened) against the files and the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from provscan._version import __version__
from provscan.errors import InputError
from provscan.io.atomic import write_text
from provscan.io.shards import file_sha256
from provscan.sinks.croissant import CROISSANT

ATTESTATION = "provenance.intoto.json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILDER_ID = "pkg:pypi/provscan"
MERGE_FILES = ("flagged.parquet", "removals.sha256.txt", CROISSANT)
"""Subjects besides the clean shards, when OUT has them."""


def build_statement(out: Path, manifest: dict[str, Any], digests: dict[str, str]) -> dict[str, Any]:
    """The statement; ``digests`` holds the SHA-256 of the merge-time files (name relative to OUT)."""
    subjects = [
        {"name": e["output"], "digest": {"sha256": e["output_sha256"]}}
        for e in manifest.get("shards") or []
        if e.get("output")
    ]
    subjects += [{"name": name, "digest": {"sha256": digests[name]}} for name in MERGE_FILES if name in digests]
    inputs = [
        _dependency(e.get("path", ""), e.get("sha256"), {"role": "input shard", "rows": e.get("rows_in")})
        for e in manifest.get("shards") or []
    ]
    lists = [
        _dependency(
            lst.get("path") or lst.get("name", ""),
            lst.get("sha256"),
            {
                "role": "list",
                "list": lst.get("name"),
                "kind": lst.get("kind"),
                "action": lst.get("action"),
                "entries": lst.get("entries"),
            },
        )
        for lst in manifest.get("lists") or []
    ]
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": f"{BUILDER_ID}@{manifest.get('provscan_version', __version__)}#scan",
                "externalParameters": {"config": manifest.get("config") or {}},
                "internalParameters": {"url_fast_path": manifest.get("url_fast_path")},
                "resolvedDependencies": inputs + lists,
            },
            "runDetails": {
                "builder": {
                    "id": BUILDER_ID,
                    "version": {"provscan": str(manifest.get("provscan_version", __version__))},
                },
                "metadata": {
                    k: v
                    for k, v in (
                        ("startedOn", _utc(manifest.get("started"))),
                        ("finishedOn", _utc(manifest.get("finished"))),
                    )
                    if v
                },
            },
        },
    }


def _dependency(path: str, sha256: str | None, annotations: dict[str, Any]) -> dict[str, Any]:
    dep: dict[str, Any] = {"name": str(path)}
    if Path(str(path)).is_absolute():
        dep["uri"] = Path(str(path)).as_uri()
    if sha256:
        dep["digest"] = {"sha256": sha256}
    dep["annotations"] = {k: v for k, v in annotations.items() if v is not None}
    return dep


def _utc(stamp: Any) -> str | None:
    """``2026-12-05T07:00:00+00:00`` as the ``...Z`` form SLSA's Timestamp fields use."""
    if not isinstance(stamp, str) or not stamp:
        return None
    return stamp[:-6] + "Z" if stamp.endswith("+00:00") else stamp


def write_attestation(out: Path, manifest: dict[str, Any], digests: dict[str, str]) -> Path:
    path = Path(out) / ATTESTATION
    write_text(path, json.dumps(build_statement(Path(out), manifest, digests), indent=1, ensure_ascii=False) + "\n")
    return path


def write_release(out: Path, manifest: dict[str, Any], summary: dict[str, Any]) -> dict[str, str]:
    """croissant.json then provenance.intoto.json (which names croissant.json's digest), at merge time,
    after the reports and before the manifest. Returns the SHA-256 of every file it hashed or wrote,
    by name relative to OUT, so the manifest's ``files`` map does not hash them again."""
    from provscan.sinks.croissant import write_croissant

    out = Path(out)
    digests = {name: file_sha256(out / name) for name in MERGE_FILES[:2] if (out / name).is_file()}
    if write_croissant(out, manifest, summary, digests.get("removals.sha256.txt")) is not None:
        digests[CROISSANT] = file_sha256(out / CROISSANT)
    digests[ATTESTATION] = file_sha256(write_attestation(out, manifest, digests))
    return digests


# --- provscan verify --attestation ----------------------------------------------------------------


def read_document(out: Path, name: str) -> dict[str, Any] | None:
    """OUT/NAME as untrusted JSON: None if absent; one-line InputError if it is not a JSON object or
    lies outside OUT (a symlink out of the directory is never followed)."""
    path = Path(out) / name
    if not path.exists() and not path.is_symlink():
        return None
    if not inside(out, name):
        raise InputError(path, "points outside the output directory; not read")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            path, f"not valid JSON ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from None
    if not isinstance(data, dict):
        raise InputError(path, "not a JSON object")
    return data


def inside(out: Path, rel: object) -> bool:
    """A name taken from a file under OUT: relative, no ``..``, and still inside OUT once links are resolved."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        return False
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts:
        return False
    root = Path(out).resolve()
    try:
        (root / pure).resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return True


def check_attestation(out: Path, manifest: dict[str, Any], add: Any, hashed: dict[str, str]) -> None:
    """Add one check per fact of OUT/provenance.intoto.json (``add(file, check, expected, actual)``);
    ``hashed``: SHA-256s verify already computed, by name, so no file is read twice."""
    statement = read_document(out, ATTESTATION)
    if statement is None:
        add(ATTESTATION, "present", "yes", "no")
        return
    subjects = statement.get("subject")
    predicate = statement.get("predicate")
    if (
        not isinstance(subjects, list)
        or not all(isinstance(s, dict) for s in subjects)
        or not isinstance(predicate, dict)
    ):
        raise InputError(
            Path(out) / ATTESTATION, "not an in-toto statement (subject must be a list of objects, predicate an object)"
        )
    add(ATTESTATION, "_type", STATEMENT_TYPE, statement.get("_type"))
    add(ATTESTATION, "predicateType", PREDICATE_TYPE, statement.get("predicateType"))
    named: dict[str, Any] = {}
    for s in subjects:
        name = s.get("name")
        if not inside(out, name):
            add(ATTESTATION, f"subject {str(name)[:200]!r} inside OUT", "yes", "no (not opened)")
            continue
        named[name] = (s.get("digest") or {}).get("sha256") if isinstance(s.get("digest"), dict) else None
        path = Path(out) / name
        actual = hashed.get(name) or (file_sha256(path) if path.is_file() else "missing")
        add(name, "attested sha256", named[name], actual)
    expected = [e["output"] for e in manifest.get("shards") or [] if e.get("output")]
    expected += [n for n in MERGE_FILES if n in (manifest.get("files") or {}) or (Path(out) / n).is_file()]
    for name in expected:
        add(name, "attested (a subject)", "yes", "yes" if name in named else "no")
    build = _get(predicate, "buildDefinition", dict)
    add(
        ATTESTATION,
        "externalParameters.config = manifest config",
        manifest.get("config") or {},
        _get(build, "externalParameters", dict).get("config"),
    )
    resolved = {
        (d.get("name"), _get(d, "digest", dict).get("sha256"))
        for d in _get(build, "resolvedDependencies", list)
        if isinstance(d, dict)
    }
    for e in manifest.get("shards") or []:
        add(
            str(e.get("path")),
            "input a resolved dependency",
            "yes",
            "yes" if (e.get("path"), e.get("sha256")) in resolved else "no",
        )
    for lst in manifest.get("lists") or []:
        key = (lst.get("path") or lst.get("name"), lst.get("sha256"))
        add(
            "lists",
            "list a resolved dependency",
            f"{lst.get('name')} sha256 {lst.get('sha256')}",
            f"{lst.get('name')} sha256 {lst.get('sha256')}" if key in resolved else f"{lst.get('name')}: not attested",
        )


def _get(data: Any, key: str, kind: type) -> Any:
    """``data[key]`` if it is a ``kind`` (untrusted JSON may hold anything), else an empty ``kind``."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, kind) else kind()


def check_croissant(out: Path, manifest: dict[str, Any], add: Any, hashed: dict[str, str]) -> None:
    """croissant.json's FileObjects against the files they name (only names inside OUT are opened), and
    every clean shard of the manifest among them."""
    doc = read_document(out, CROISSANT)
    clean = [e["output"] for e in manifest.get("shards") or [] if isinstance(e, dict) and e.get("output")]
    if doc is None:
        if clean:
            add(CROISSANT, "present", "yes", "no")
        return
    distribution = doc.get("distribution")
    if not isinstance(distribution, list) or not all(isinstance(d, dict) for d in distribution):
        raise InputError(Path(out) / CROISSANT, "not a Croissant document (distribution must be a list of objects)")
    for item in distribution:
        if item.get("@type") not in ("cr:FileObject", "sc:FileObject", "FileObject"):
            continue
        name = item.get("contentUrl")
        if not inside(out, name):
            add(CROISSANT, f"FileObject {str(name)[:200]!r} inside OUT", "yes", "no (not opened)")
            continue
        path = Path(out) / name
        add(
            name,
            "croissant sha256",
            item.get("sha256"),
            hashed.get(name) or (file_sha256(path) if path.is_file() else "missing"),
        )
    named = {item.get("contentUrl") for item in distribution}
    for name in clean:
        add(name, "described in croissant.json", "yes", "yes" if name in named else "no")
