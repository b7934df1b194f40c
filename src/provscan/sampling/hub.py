"""``hf://datasets/ORG/NAME[@REVISION][/PATH-OR-GLOB]`` -> the dataset's parquet files as URLs.

The only importer of ``huggingface_hub`` (an optional extra: ``pip install 'provscan[hf]'``). It
lists the repository through the Hub API, which honours ``HF_ENDPOINT`` (read at call time, so a
test or a mirror can point it anywhere) and a token from ``HF_TOKEN`` for gated datasets. The
revision is pinned to the commit the Hub reports, so every file of one run comes from one commit
and the manifest can name it. The files themselves are read with range requests by
:mod:`provscan.net.ranged`, not downloaded by ``huggingface_hub``.
"""

from __future__ import annotations

import fnmatch
import glob as globlib
import os
from dataclasses import dataclass
from urllib.parse import quote, unquote

from provscan.errors import ConfigError, MissingDependency, ShardError

PREFIX = "hf://datasets/"
DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class HubFile:
    source: str  # hf://datasets/ORG/NAME@COMMIT/PATH, the name reports use
    url: str  # the resolve URL, read with range requests
    size: int | None
    headers: dict[str, str]  # Authorization for the endpoint host only
    commit: str | None


@dataclass(frozen=True)
class HubPath:
    repo: str
    revision: str | None
    path: str  # path or glob inside the repository, "" for all of it


def parse_hub_path(text: str) -> HubPath:
    """Split ``hf://datasets/ORG/NAME[@REV][/PATH]``; ``REV`` may be ``refs/convert/parquet``."""
    if not text.startswith(PREFIX):
        raise ConfigError(f"{text}: not an hf://datasets/ORG/NAME path")
    rest = text[len(PREFIX) :]
    parts = rest.split("/")
    if len(parts) < 2 or not parts[0] or not parts[1].split("@")[0]:
        raise ConfigError(f"{text}: expected hf://datasets/ORG/NAME[@REVISION][/PATH-OR-GLOB]")
    org, name_rev, tail = parts[0], parts[1], parts[2:]
    name, _, rev = name_rev.partition("@")
    revision = unquote(rev) if rev else None
    if revision == "refs" and len(tail) >= 2 and tail[0] in ("convert", "pr"):
        revision, tail = f"refs/{tail[0]}/{tail[1]}", tail[2:]  # refs/convert/parquet, refs/pr/N
    return HubPath(f"{org}/{name}", revision, "/".join(tail).strip("/"))


def resolve_hub(text: str) -> list[HubFile]:
    """The parquet files an ``hf://datasets/...`` source names, sorted by path."""
    try:
        from huggingface_hub import HfApi, get_token
    except ImportError as exc:
        raise MissingDependency(
            f"{text}: reading hf:// datasets needs huggingface_hub: pip install 'provscan[hf]'"
        ) from exc
    where = parse_hub_path(text)
    endpoint = (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    token = os.environ.get("HF_TOKEN") or get_token() or None
    api = HfApi(endpoint=endpoint, token=token or False)
    try:
        info = api.dataset_info(where.repo, revision=where.revision)
        commit = info.sha or where.revision or "main"
        if globlib.has_magic(where.path):
            prefix = _static_prefix(where.path)
        else:  # a file is listed through its folder (the tree endpoint lists folders)
            prefix = (
                where.path.rsplit("/", 1)[0]
                if where.path.endswith(".parquet") and "/" in where.path
                else ("" if where.path.endswith(".parquet") else where.path)
            )
        entries = [
            e
            for e in api.list_repo_tree(
                where.repo, path_in_repo=prefix or None, recursive=True, revision=commit, repo_type="dataset"
            )
            if hasattr(e, "size")  # files, not folders
        ]
    except Exception as exc:  # the dependency's errors (HTTP, connection, parsing) enter here
        if type(exc).__module__.startswith("provscan"):
            raise
        raise ShardError(
            text, f"cannot list the dataset on {endpoint}: {type(exc).__name__}: {exc}".splitlines()[0][:400]
        ) from exc
    files = sorted((e for e in entries if _selected(e.path, where.path)), key=lambda e: e.path)
    if not files:
        raise ShardError(
            text,
            f"no parquet file in the dataset at revision {commit}"
            + (f" matching {where.path!r}" if where.path else ""),
        )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = []
    for e in files:
        # The Hub's resolve URL (what hf_hub_url builds, but from the endpoint of this call, not the
        # one huggingface_hub read at import time); the token goes to this host only.
        url = f"{endpoint}/datasets/{where.repo}/resolve/{quote(commit, safe='')}/{quote(e.path)}"
        out.append(HubFile(f"{PREFIX}{where.repo}@{commit}/{e.path}", url, e.size, headers, commit))
    return out


def _static_prefix(pattern: str) -> str:
    """The directories of a glob before its first wildcard: what the tree listing can start at."""
    fixed = []
    for part in pattern.split("/"):
        if globlib.has_magic(part):
            break
        fixed.append(part)
    return "/".join(fixed)


def _selected(path: str, pattern: str) -> bool:
    if not path.endswith(".parquet"):
        return False
    if not pattern:
        return True
    if globlib.has_magic(pattern):
        return fnmatch.fnmatchcase(path, pattern)
    return path == pattern or path.startswith(pattern.rstrip("/") + "/")
