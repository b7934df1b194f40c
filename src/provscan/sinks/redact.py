"""What the report may show of URLs under ``--redact-urls``: nothing.

With ``config.redact_urls`` true, report.html and datacard.md carry no URL and no host of a row's
URL. Hosts (top flagged domains) are shown as the first 16 hex digits of their SHA-256, enough for an
auditor who knows a host to find it, useless to a reader who does not; any URL-like string that
reaches the page through another field (a shard or source given as ``hf://...``, a config value) is
replaced. Every string the renderers print goes through :meth:`Redactor.text`.
"""

from __future__ import annotations

import hashlib
import re

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]*")


class Redactor:
    def __init__(self, enabled: bool) -> None:
        self.enabled = bool(enabled)

    def text(self, value: object) -> str:
        text = str(value)
        return _URL.sub("[URL redacted]", text) if self.enabled else text

    def host(self, host: str) -> str:
        if not self.enabled:
            return host
        return "host sha256:" + hashlib.sha256(host.encode("utf-8")).hexdigest()[:16]
