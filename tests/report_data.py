"""A tiny real scan for the report tests, and a headless Chromium to look at the page.

The scan has every section the report draws: a domain list (drop), a URL list (flag), a perceptual
list read from a hash column (matches at distances 0, 1, 3 and 8 against max_distance 8, one row at
12 that must not match), a licence policy, an invalid and a null URL, over two shards.
"""

from __future__ import annotations

import hashlib
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
        "URL": [
            "https://badhost-zqx.example/path-kwv/1.jpg",
            "https://cdn.okhost-mfr.example/flagme-ptj/2.jpg",
            "https://img.okhost-mfr.example/cat-hvd/3.jpg",
            "https://img.okhost-mfr.example/cat-hvd/4.jpg",
            "https://img.okhost-mfr.example/cat-hvd/5.jpg",
            "https://img.okhost-mfr.example/cat-hvd/6.jpg",
        ],
        "TEXT": ["a", "b", "c", "d", "e", "f"],
        "LICENSE": [ZERO, NC, None, None, None, ZERO],
        "image_phash": [None, None, "0000000000000000", "0000000000000007", "00000000000000ff", "0000000000000fff"],
    },
    "b.parquet": {
        "URL": [
            "https://badhost-zqx.example/other-jnb/7.jpg",
            "not a url",
            None,
            "https://www.keep-wlt.example/fine-rbd/8.jpg",
            "https://www.keep-wlt.example/fine-rbd/9.jpg",
        ],
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
EXPECTED = {
    "rows-in": 11,
    "rows-matched": 7,
    "rows-dropped": 6,
    "rows-flagged": 1,
    "rows-out": 5,
    "shards": 2,
    "lists": 3,
}
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


FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def browse(page: Path, work: Path, *, fragment: str = "") -> tuple[str, list[str], list[str]]:
    """Load ``page`` from file:// in a fresh profile: (DOM after scripts ran, console lines, request URLs)."""
    binary = chromium()
    assert binary is not None
    profile, netlog = work / "profile", work / "net.json"
    shutil.rmtree(profile, ignore_errors=True)
    proc = subprocess.run(
        [
            binary,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            f"--log-net-log={netlog}",
            "--dump-dom",
            page.resolve().as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": str(work)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    requests = (
        sorted(set(re.findall(r'"url":\s*"([^"]+)"', netlog.read_text(encoding="utf-8")))) if netlog.exists() else []
    )
    return proc.stdout, console, requests


def screenshot(page: Path, png: Path, work: Path, *, height: int = 2000) -> Path:
    binary = chromium()
    assert binary is not None
    profile = work / "profile-shot"
    shutil.rmtree(profile, ignore_errors=True)
    proc = subprocess.run(
        [
            binary,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size=1280,{height}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": str(work)},
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


def synthetic(n: int) -> tuple[dict, dict]:
    """A manifest and summary of n shards, as a big scan would write them (no OUT needed)."""
    shards = [
        {
            "path": f"/data/laion/part-{i:05d}.parquet",
            "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
            "rows_in": 100_000 + i,
            "rows_matched": i,
            "rows_dropped": i // 2,
            "rows_flagged": i - i // 2,
            "rows_out": 100_000 + i - i // 2,
            "null_urls": 0,
            "invalid_urls": i % 7,
            "findings": i,
            "output": f"clean/part-{i:05d}.parquet",
            "output_sha256": hashlib.sha256(str(-i).encode()).hexdigest(),
        }
        for i in range(n)
    ]
    totals = {
        k: sum(s[k] for s in shards)
        for k in ("rows_in", "rows_matched", "rows_dropped", "rows_flagged", "rows_out", "invalid_urls")
    }
    manifest = {
        "provscan_version": "0.1.0",
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T01:02:03+00:00",
        "config": {"output": "out", "redact_urls": False},
        "shards": shards,
        "lists": [
            {
                "name": "blocked",
                "kind": "domain",
                "action": "drop",
                "path": "b.txt",
                "sha256": "a" * 64,
                "entries": 3,
                "params": {},
                "skipped": {},
            }
        ],
        "totals": {**totals, "shards": n, "removals": totals["rows_dropped"]},
    }
    summary = {
        "findings_by_list": {"blocked": totals["rows_matched"]},
        "findings_by_kind": {"domain": totals["rows_matched"]},
        "findings_by_action": {"drop": totals["rows_matched"]},
        "top_matched_domains": [{"domain": f"host{i}.example", "rows": 100 - i} for i in range(25)],
    }
    return manifest, summary


ESTIMATES = {
    "mode": "row-groups",
    "seed": 7,
    "confidence": 0.95,
    "population_rows": 2_000_000,
    "sampled_rows": 40_000,
    "sampled_row_groups": 40,
    "population_row_groups": 2000,
    "sources": [
        {
            "source": "shards/a.parquet",
            "size": 123_456_789,
            "etag": "abc",
            "last_modified": "2026-01-01",
            "rows": 1_000_000,
            "row_groups": 1000,
            "bytes_read": 2_345_678,
        }
    ],
    "bytes_read": 2_345_678,
    "estimates": [
        {
            "dimension": "list",
            "value": "blocked",
            "sampled": 400,
            "share": 0.01,
            "share_low": 0.0085,
            "share_high": 0.0117,
            "rows": 20_000,
            "rows_low": 17_000,
            "rows_high": 23_400,
            "method": "cluster-bootstrap",
        },
        {
            "dimension": "action",
            "value": "drop",
            "sampled": 500,
            "share": 0.0125,
            "share_low": 0.011,
            "share_high": 0.014,
            "rows": 25_000,
            "rows_low": 22_000,
            "rows_high": 28_000,
            "method": "wilson",
        },
        {
            "dimension": "license",
            "value": "CC-BY-NC-4.0",
            "sampled": 8000,
            "share": 0.2,
            "share_low": 0.19,
            "share_high": 0.21,
            "rows": 400_000,
            "rows_low": 380_000,
            "rows_high": 420_000,
            "method": "wilson",
        },
    ],
}


class Tab:
    """A headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
    JSON messages, NUL-separated, on file descriptors 3 and 4), so a test can type into the page as
    a person would: real key events, the page's own listeners. No websocket, no extra dependency.

    Every console message, log entry, script exception and network request is kept for the test."""

    def __init__(self, page: Path, work: Path) -> None:
        binary = chromium()
        assert binary is not None
        profile = work / "profile-cdp"
        shutil.rmtree(profile, ignore_errors=True)
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        # The protocol's fixed descriptors 3 and 4, set by the shell that execs the browser (through
        # 200/201 so neither pipe end can clobber the other); no preexec_fn in a threaded test process.
        a, b = to_browser_r, from_browser_w
        self._proc = subprocess.Popen(
            [
                "bash",
                "-c",
                f'exec 200<&{a} 201>&{b} {a}<&- {b}>&-; exec 3<&200 4>&201 200<&- 201>&-; exec "$@"',
                "chromium",
                binary,
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(a, b),
            env={**os.environ, "HOME": str(work)},
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer, self._next = b"", 0
        self.console: list[str] = []
        self.requests: list[str] = []
        target = next(t for t in self._call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self._session = self._call("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self._call(f"{domain}.enable", session=True)
        self._call("Page.navigate", session=True, url=page.resolve().as_uri())
        self.wait_for(
            "location.protocol === 'file:' && document.documentElement"
            " && document.documentElement.getAttribute('data-ready') === '1'"
        )

    def _call(self, method: str, session: bool = False, **params: object) -> dict:
        self._next += 1
        message: dict = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                assert "error" not in reply, (method, reply["error"])
                return reply.get("result", {})

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 16)
            assert chunk, "the browser closed its pipe"
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message = json.loads(raw)
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.console.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method in ("Log.entryAdded", "Runtime.exceptionThrown"):
            self.console.append(json.dumps(params))
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        return message

    def eval(self, expression: str) -> object:
        result = self._call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while not self.eval(f"!!({expression})"):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.05)

    def type(self, selector: str, text: str) -> None:
        """Focus ``selector`` and type ``text`` key by key (keydown with text, keyup), as a keyboard would."""
        self.eval(f"document.querySelector({json.dumps(selector)}).focus()")
        for ch in text:
            self._call("Input.dispatchKeyEvent", session=True, type="keyDown", text=ch, key=ch, unmodifiedText=ch)
            self._call("Input.dispatchKeyEvent", session=True, type="keyUp", key=ch)

    def press(self, key: str, code: int) -> None:
        for kind in ("rawKeyDown", "keyUp"):
            self._call("Input.dispatchKeyEvent", session=True, type=kind, key=key, windowsVirtualKeyCode=code)

    def close(self) -> None:
        try:
            self._call("Browser.close")
        except (AssertionError, OSError):
            pass
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)

    def __enter__(self) -> Tab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
