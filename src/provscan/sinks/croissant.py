"""croissant.json: the cleaned export described in MLCommons Croissant 1.0, with its Responsible-AI fields.

The Hub serves a Croissant file for every parquet dataset and the NeurIPS datasets track requires one;
writing it from the run means the file's digests, row fields and cleaning statement are the scan's own,
not retyped. Built only from what the merge already holds (the manifest's shard entries with their
SHA-256, one clean shard's parquet footer for the fields, the summary), so 1,000 shards cost a
``stat`` each, not a re-hash. The ``@context`` is inline: nothing is fetched at run time or when a
validator reads it. The files are named relative to OUT, so the directory is a self-contained release.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from provscan.errors import OutputError
from provscan.io.atomic import write_text

CROISSANT = "croissant.json"
FILESET_ID = "clean-shards"
RECORDSET_ID = "rows"
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
"""The standard Croissant 1.0 ``@context`` (as mlcroissant writes it): a validator warns about any other."""


def croissant_type(dtype: pa.DataType) -> str | None:
    """A parquet column type as a Croissant data type; None for nested types, which are left out."""
    if pa.types.is_boolean(dtype):
        return "sc:Boolean"
    if pa.types.is_integer(dtype):
        return "sc:Integer"
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "sc:Float"
    if pa.types.is_timestamp(dtype):
        return "sc:DateTime"
    if pa.types.is_date(dtype):
        return "sc:Date"
    if (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
        or pa.types.is_dictionary(dtype)
    ):
        return "sc:Text"
    return None


def build_croissant(
    out: Path, manifest: dict[str, Any], summary: dict[str, Any], removals_sha256: str | None
) -> dict[str, Any] | None:
    """The Croissant document for OUT's clean shards; None when the run wrote none (``--no-export``)."""
    entries = [e for e in manifest.get("shards") or [] if e.get("output")]
    if not entries:
        return None
    config = manifest.get("config") or {}
    release = config.get("release") or {}
    files = []
    for entry in entries:
        path = out / entry["output"]
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise OutputError(path, f"cannot read the clean shard for croissant.json: {exc.strerror or exc}") from exc
        files.append(
            {
                "@type": "cr:FileObject",
                "@id": entry["output"],
                "name": entry["output"],
                "contentUrl": entry["output"],
                "contentSize": f"{size} B",
                "encodingFormat": "application/x-parquet",
                "sha256": entry["output_sha256"],
            }
        )
    try:
        schema = pq.read_schema(out / entries[0]["output"])
    except (OSError, pa.ArrowException) as exc:
        raise OutputError(out / entries[0]["output"], f"cannot read its schema for croissant.json: {exc}") from exc
    fields, skipped = [], []
    for column in schema:
        dtype = croissant_type(column.type)
        if dtype is None:
            skipped.append(f"{column.name} ({column.type})")
            continue
        fields.append(
            {
                "@type": "cr:Field",
                "@id": f"{RECORDSET_ID}/{column.name}",
                "name": column.name,
                "dataType": dtype,
                "source": {"fileSet": {"@id": FILESET_ID}, "extract": {"column": column.name}},
            }
        )
    totals = manifest.get("totals") or {}
    name = release.get("name") or f"{Path(str(config.get('output') or 'provscan-out')).name} (cleaned)"
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": name,
        "description": release.get("description")
        or f"Parquet shards cleaned by provscan: {int(totals.get('rows_out', 0)):,} rows kept "
        f"of {int(totals.get('rows_in', 0)):,}.",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "dateCreated": manifest.get("finished"),
        "datePublished": manifest.get(
            "finished"
        ),  # when this release was written; a publisher may edit it (and re-attest)
        "isLiveDataset": False,
        "rai:dataCollection": release.get("data_collection")
        or "Not stated by the publisher ([release] data_collection).",
        "rai:dataPreprocessingProtocol": cleaning_statement(manifest, summary, removals_sha256),
        "rai:dataLimitations": not_checked(manifest, summary)
        + (f" Columns not described here (nested types): {', '.join(skipped)}." if skipped else ""),
        "distribution": [
            *files,
            {
                "@type": "cr:FileSet",
                "@id": FILESET_ID,
                "name": FILESET_ID,
                "encodingFormat": "application/x-parquet",
                "includes": sorted({_glob(e["output"]) for e in entries}),
            },
        ],
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": RECORDSET_ID,
                "name": RECORDSET_ID,
                "description": "One record per row kept in the cleaned export.",
                "field": fields,
            }
        ],
    }
    for key, croissant_key in (("license", "license"), ("citation", "citeAs"), ("url", "url"), ("version", "version")):
        if release.get(key):
            doc[croissant_key] = release[key]
    return doc


def _glob(rel: str) -> str:
    """The FileSet pattern for a clean shard (mlcroissant matches with fnmatch, where ``*`` spans ``/``)."""
    return "clean/*" + Path(rel).suffix if Path(rel).suffix else "clean/*"


def cleaning_statement(manifest: dict[str, Any], summary: dict[str, Any], removals_sha256: str | None) -> str:
    """What was removed and why, in words: lists (kind, action, SHA-256), policies, rows per reason."""
    totals = manifest.get("totals") or {}
    parts = [
        f"Scanned with provscan {manifest.get('provscan_version', '?')}: {int(totals.get('rows_in', 0)):,} rows in, "
        f"{int(totals.get('rows_dropped', 0)):,} removed, {int(totals.get('rows_out', 0)):,} kept."
    ]
    by_list = summary.get("rows_by_list") or {}
    for lst in manifest.get("lists") or []:
        parts.append(
            f"List {lst.get('name')} ({lst.get('kind')}, action {lst.get('action')}, {int(lst.get('entries') or 0):,} entries, "
            f"sha256 {lst.get('sha256')}): {int(by_list.get(lst.get('name'), 0)):,} rows matched."
        )
    config = manifest.get("config") or {}
    lic = config.get("licenses") or {}
    if lic.get("drop") or lic.get("flag"):
        parts.append(
            f"Licence policy: drop {', '.join(lic.get('drop') or []) or 'nothing'}; flag {', '.join(lic.get('flag') or []) or 'nothing'}."
        )
    if (config.get("consent") or {}).get("check"):
        parts.append("Consent signals (X-Robots-Tag, TDMRep, robots.txt, AIPREF, ai.txt) were checked per row.")
    if removals_sha256:
        parts.append(
            f"removals.sha256.txt lists the SHA-256 of each removed URL's canonical expression "
            f"({int(totals.get('removals', 0)):,} entries; file sha256 {removals_sha256})."
        )
    return " ".join(parts)


def not_checked(manifest: dict[str, Any], summary: dict[str, Any]) -> str:
    """What the scan could not check: images never fetched or hashed, consent endpoints unreachable."""
    config = manifest.get("config") or {}
    totals = manifest.get("totals") or {}
    parts = []
    if not config.get("fetch"):
        parts.append("Images were not fetched: image-hash lists matched only hash columns already in the shards.")
    unchecked = int(totals.get("unchecked", 0) or 0)
    if unchecked:
        parts.append(
            f"{unchecked:,} rows' images could not be fetched or hashed (unchecked, action {config.get('unchecked', 'keep')})."
        )
    if not (config.get("consent") or {}).get("check"):
        parts.append("Consent signals (robots.txt, TDMRep, X-Robots-Tag) were not checked.")
    unreachable = {k: v for k, v in totals.items() if "unreachable" in k and v}  # consent files that could not be read
    if unreachable:
        parts.append(
            "Consent endpoints not reached: "
            + ", ".join(f"{k} ({int(v):,})" for k, v in sorted(unreachable.items()))
            + "."
        )
    invalid = int(totals.get("invalid_urls", 0) or 0) + int(totals.get("null_urls", 0) or 0)
    if invalid:
        parts.append(f"{invalid:,} rows had a missing or unparsable URL and could match no URL list.")
    return " ".join(parts) or "Every row was checked against every configured list and policy."


def write_croissant(
    out: Path, manifest: dict[str, Any], summary: dict[str, Any], removals_sha256: str | None
) -> Path | None:
    """Write OUT/croissant.json (atomically); None when there is no clean export to describe."""
    doc = build_croissant(Path(out), manifest, summary, removals_sha256)
    if doc is None:
        return None
    path = Path(out) / CROISSANT
    write_text(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return path
