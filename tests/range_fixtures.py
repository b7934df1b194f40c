"""A loopback file server for range-read tests: Range support on/off, redirects, flaky answers, a
fake Hugging Face Hub, and a count of every byte of body it sends (the figure the tests assert on)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
HUB_SHA = "0123456789abcdef0123456789abcdef01234567"


class FileServer(ThreadingHTTPServer):
    """Serves ``files`` ({name: bytes}) under several behaviours, chosen by the path prefix:

    ``/files/NAME`` Range-capable (206 + Content-Range); ``/norange/NAME`` ignores Range (200);
    ``/redirect/NAME`` 302 -> ``/files/NAME``; ``/flaky/NAME`` 503/429 for the first ``flaky`` requests.
    The Hub: ``/api/datasets/ORG/NAME[/revision/REV]``, ``/api/datasets/ORG/NAME/tree/REV[/PATH]`` and
    ``/datasets/ORG/NAME/resolve/REV/PATH`` (302 to ``/files/PATH``, as the Hub sends to its CDN).
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.hub_repo = "org/name"
        self.hub_files: dict[str, str] = {}  # path in the repo -> name in files
        self.bytes_sent = 0
        self.requests: list[tuple[str, str | None, str | None]] = []  # (path, Range, Authorization)
        self.flaky = 0
        self.extra_headers: dict[str, dict[str, str]] = {}  # name in files -> headers to add
        self.redirect_host = "127.0.0.1"  # where the Hub's resolve redirects to (another name: another host)
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reset(self) -> None:
        with self.lock:
            self.bytes_sent = 0
            self.requests.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FileServer

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        path = unquote(urlsplit(self.path).path)
        with srv.lock:
            srv.requests.append((path, self.headers.get("Range"), self.headers.get("Authorization")))
        kind, _, rest = path.lstrip("/").partition("/")
        if kind == "api":  # matched before unquoting: a revision may be refs%2Fconvert%2Fparquet
            return self._hub_api(urlsplit(self.path).path.lstrip("/").partition("/")[2])
        if kind == "datasets":
            repo_rev, sep, file_path = rest.partition("/resolve/")
            rev, _, file_path = file_path.partition("/")
            if repo_rev != srv.hub_repo or file_path not in srv.hub_files:
                return self._send(404, b"not found")
            return self._send(
                302,
                b"",
                {"Location": f"http://{srv.redirect_host}:{srv.server_address[1]}/files/{srv.hub_files[file_path]}"},
            )
        if kind == "redirect":
            return self._send(302, b"", {"Location": f"/files/{rest}"})
        if kind == "flaky":
            with srv.lock:
                srv.flaky -= 1
                failing = srv.flaky >= 0
            if failing:  # alternately 429 and 503
                return self._send(429 if srv.flaky % 2 else 503, b"busy", {"Retry-After": "0"})
        data = srv.files.get(rest)
        if data is None:
            return self._send(404, b"not found")
        headers = {
            "ETag": f'"{len(data):x}-{hash(data) & 0xFFFF:x}"',
            "Last-Modified": "Sun, 29 Nov 2026 10:00:00 GMT",
            **srv.extra_headers.get(rest, {}),
        }
        match = _RANGE.match(self.headers.get("Range", "")) if kind != "norange" else None
        if match is None:
            return self._send(200, data, headers, count=True)
        lo, hi = match.groups()
        if lo == "":
            start, end = max(0, len(data) - int(hi)), len(data) - 1
        else:
            start, end = int(lo), min(int(hi) if hi else len(data) - 1, len(data) - 1)
        if start >= len(data):
            return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self._send(206, data[start : end + 1], headers, count=True)

    def _hub_api(self, rest: str) -> None:
        srv = self.server
        m = re.match(r"datasets/([^/]+/[^/]+)(?:/(revision|tree)/([^/]+)(?:/(.*))?)?$", rest)
        if m is None or m.group(1) != srv.hub_repo:
            return self._send(
                404, json.dumps({"error": "Repository not found"}).encode(), {"X-Error-Code": "RepoNotFound"}
            )
        if m.group(2) == "revision" and unquote(m.group(3)) not in ("main", "refs/convert/parquet", HUB_SHA):
            return self._send(
                404, json.dumps({"error": "Revision not found"}).encode(), {"X-Error-Code": "RevisionNotFound"}
            )
        if m.group(2) in (None, "revision"):
            body = {"id": srv.hub_repo, "sha": HUB_SHA, "private": False, "siblings": []}
            return self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        prefix = unquote(m.group(4) or "")
        entries = [
            {"type": "file", "path": p, "size": len(srv.files[name]), "oid": f"{abs(hash(p)):040x}"[:40]}
            for p, name in sorted(srv.hub_files.items())
            if not prefix or p.startswith(prefix.rstrip("/") + "/") or p == prefix
        ]
        self._send(200, json.dumps(entries).encode(), {"Content-Type": "application/json"})

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None, count: bool = False) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            return
        if count:
            with self.server.lock:
                self.server.bytes_sent += len(body)


@contextmanager
def serve() -> Iterator[FileServer]:
    server = FileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
