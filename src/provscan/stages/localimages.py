"""Images already on disk (``--images DIR|TAR``): hashed and read once per run, joined to each shard.

Each image is decoded for the hashes the lists need (none: not decoded) and its bytes are read for
embedded signals and licence (:mod:`provscan.consent.embedded`), exactly like a fetched image: an
opt-out in a local file is the same ``consent`` finding, an embedded licence the same ``embedded``
licence source. Two run tables, matched to rows by URL, else by img2dataset key:
``local_img(key, url, kind, hash, source)`` and ``local_emb(key, url, signals, license, source)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from provscan.config import ConsentConfig
from provscan.consent.embedded import read_embedded
from provscan.images.hashing import hash_image
from provscan.images.local import iter_local_images
from provscan.io.db import Database
from provscan.stages.base import ShardContext
from provscan.stages.embedded import record_embedded

_MATCH = "l.url = raw.url OR (l.url IS NULL AND l.key = raw.id)"


def read_local_images(db: Database, paths: Iterable[Path | str], kinds: set[str], dihedral: bool, fast: bool) -> None:
    """Hash (for ``kinds``) and read every local image once per run into ``local_img`` and ``local_emb``."""
    cols: dict[str, list] = {"key": [], "url": [], "kind": [], "hash": [], "source": []}
    emb: dict[str, list] = {"key": [], "url": [], "signals": [], "license": [], "source": []}
    for image in iter_local_images(paths):
        if kinds:
            for kind, values in hash_image(image.data, sorted(kinds), dihedral=dihedral, draft=fast).hashes.items():
                for value in values:
                    for name, item in zip(cols, (image.key, image.url, kind, value, image.source)):
                        cols[name].append(item)
        found = read_embedded(image.data)
        if found.signals or found.license is not None:
            row: tuple[object, ...] = (image.key, image.url, list(found.signals), found.license, image.source)
            for name, cell in zip(emb, row):
                emb[name].append(cell)
    db.put("local_img", pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()}))
    db.put(
        "local_emb",
        pa.table({k: pa.array(v, pa.list_(pa.string()) if k == "signals" else pa.string()) for k, v in emb.items()}),
    )


def record_local_embedded(ctx: ShardContext, consent: ConsentConfig) -> None:
    """The shard's rows' local-image signals and licences: findings, counts and ``emb_lic`` (as a fetch would)."""
    found = ctx.db.arrow(
        f"""SELECT raw.row, flatten(list(l.signals ORDER BY l.source)) AS signals, min(l.license) AS license
        FROM raw JOIN local_emb l ON {_MATCH} GROUP BY raw.row ORDER BY raw.row"""
    ).to_pydict()
    if not found["row"]:
        return
    signals = {row: list(dict.fromkeys(s)) for row, s in zip(found["row"], found["signals"])}
    licenses = {row: lic for row, lic in zip(found["row"], found["license"]) if lic is not None}
    record_embedded(ctx, signals, licenses, consent)
    ctx.db.append(
        "emb_rows", pa.table({"row": pa.array(found["row"], pa.int64())})
    )  # the fetch does not count them again
