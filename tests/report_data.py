"""A tiny real scan for the report tests, and a headless Chromium to look at the page.

The scan has every section the report draws: a domain list (drop), a URL list (flag), a perceptual
list read from a hash column (matches at distances 0, 1, 3 and 8 against max_distance 8, one row at
12 that must not match), a licence policy, an invalid and a null URL, over two shards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provscan import scan
from provscan.config import LicenseConfig, ListSpec

NC = "https://creativecommons.org/licenses/by-nc/4.0/"
ND = "https://creativecommons.org/licenses/by-nd/4.0/"
ZERO = "https://creativecommons.org/publicdomain/zero/1.0/"
SHARDS = {
    "a.parquet": {
        "URL": ["https://badhost-zqx.example/path-kwv/1.jpg", "https://cdn.okhost-mfr.example/flagme-ptj/2.jpg",
                "https://img.okhost-mfr.example/cat-hvd/3.jpg", "https://img.okhost-mfr.example/cat-hvd/4.jpg",
                "https://img.okhost-mfr.example/cat-hvd/5.jpg", "https://img.okhost-mfr.example/cat-hvd/6.jpg"],
        "TEXT": ["a", "b", "c", "d", "e", "f"],
        "LICENSE": [ZERO, NC, None, None, None, ZERO],
        "image_phash": [None, None, "0000000000000000", "0000000000000007", "00000000000000ff", "0000000000000fff"],
    },
    "b.parquet": {
        "URL": ["https://badhost-zqx.example/other-jnb/7.jpg", "not a url", None,
                "https://www.keep-wlt.example/fine-rbd/8.jpg", "https://www.keep-wlt.example/fine-rbd/9.jpg"],
        "TEXT": ["g", "h", "i", "j", "k"],
        "LICENSE": [ND, None, None, ZERO, None],
        "image_phash": [None, None, None, "ffffffff00000001", None],
    },
}
LISTS = {
    "blocked.txt": "# provscan-list: kind=domain name=blocked-hosts action=drop\nbadhost-zqx.example\n",
    "review.txt": "# provscan-list: kind=url name=review-urls action=flag\ncdn.okhost-mfr.example/flagme-ptj/2.jpg\n",
    "near.txt": "# provscan-list: kind=phash name=near-dupes action=drop max_distance=8\n0000000000000000\nffffffff00000000\n",
}
POLICY = LicenseConfig(drop=("CC-BY-ND-*",), flag=("CC-BY-NC-*",))
# What the data above must give (the tests read these numbers back from the page).
EXPECTED = {"rows-in": 11, "rows-flagged": 7, "rows-dropped": 6, "rows-out": 5, "shards": 2, "lists": 3}
DISTANCES = {0: 1, 1: 1, 3: 1, 8: 1}


def input_strings() -> list[str]:
    """Every URL, host and path segment of the inputs: none may appear in a redacted report."""
    found = set()
    for shard in SHARDS.values():
        for url in shard["URL"]:
            if url and "://" in url:
                host, _, path = url.split("://", 1)[1].partition("/")
                found |= {url, url.split("://", 1)[1], host, *(p for p in path.split("/") if len(p) > 5)}
                found |= {label for label in host.split(".") if "-" in label}
    return sorted(found)


def build_inputs(root: Path) -> None:
    """Shards under root/shards, lists under root/lists (relative paths work from root)."""
    for name, columns in SHARDS.items():
        path = root / "shards" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns, schema=pa.schema([(k, pa.string()) for k in columns])), path)
    for name, text in LISTS.items():
        (root / "lists").mkdir(parents=True, exist_ok=True)
        (root / "lists" / name).write_text(text, encoding="utf-8")


def run_scan(root: Path, output: Path | str, **overrides):
    """Scan root's inputs; relative ``output`` and paths when the caller has chdir'ed to root."""
    base = Path(".") if not Path(output).is_absolute() else root
    shards = [base / "shards" / name for name in SHARDS]
    lists = tuple(ListSpec(base / "lists" / name) for name in LISTS)
    return scan(shards, lists=lists, licenses=POLICY, output=Path(output), **overrides)


def chromium() -> str | None:
    for name in ("chromium-headless-shell", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def browse(page: Path, work: Path, *, fragment: str = "") -> tuple[str, list[str], list[str]]:
    """Load ``page`` from file:// in a fresh profile: (DOM after scripts ran, console lines, request URLs)."""
    binary = chromium()
    assert binary is not None
    profile, netlog = work / "profile", work / "net.json"
    shutil.rmtree(profile, ignore_errors=True)
    proc = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         f"--log-net-log={netlog}", "--dump-dom", page.resolve().as_uri() + fragment],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(work)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    requests = sorted(set(re.findall(r'"url":\s*"([^"]+)"', netlog.read_text(encoding="utf-8")))) if netlog.exists() else []
    return proc.stdout, console, requests


def screenshot(page: Path, png: Path, work: Path, *, height: int = 2000) -> Path:
    binary = chromium()
    assert binary is not None
    profile = work / "profile-shot"
    shutil.rmtree(profile, ignore_errors=True)
    proc = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size=1280,{height}",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(work)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return png


class Elements(HTMLParser):
    """Every element's attributes, and the text directly inside elements with an id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.all: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {}
        self._open: list[str | None] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.all.append((tag, a))
        if tag not in {"meta", "br", "img", "input", "link", "hr", "wbr"}:
            self._open.append(a.get("id"))
            if a.get("id"):
                self.text[a["id"]] = ""

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.all.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for key in self._open:
            if key:
                self.text[key] += data

    def by_id(self, key: str) -> dict[str, str]:
        return next(a for _, a in self.all if a.get("id") == key)

    def having(self, attr: str) -> list[dict[str, str]]:
        return [a for _, a in self.all if attr in a]


def load(out: Path) -> tuple[dict, dict]:
    return json.loads((out / "manifest.json").read_text()), json.loads((out / "summary.json").read_text())
