"""C2PA Content Credentials: the one door to the ``c2pa-python`` extra (``pip install 'provscan[c2pa]'``).

Only images whose container holds a C2PA box get here (:mod:`provscan.consent.containers`). Without
the extra such an image gets ``c2pa:not-checked``: counted in ``summary.json``, never silent.

Readings (C2PA 2.x and the CAWG training-and-data-mining assertion):

* ``c2pa.training-mining`` and ``cawg.training-mining`` entries (``*.ai_training``,
  ``*.ai_generative_training``, ``*.ai_inference``, ``*.data_mining``) give
  ``c2pa:ai-training=notAllowed`` and so on; ``constrained`` counts as ``notAllowed`` (as the CAWG
  specification says: a constraint the scanner cannot check is not a permission).
* A ``c2pa.actions`` digital source type of ``trainedAlgorithmicMedia`` or
  ``compositeWithTrainedAlgorithmicMedia`` gives ``c2pa:source-type=<term>`` and ``c2pa:ai-generated``.
* A manifest that fails validation gives ``c2pa:invalid``: it may still *withhold* consent (its
  ``notAllowed`` and ``ai-generated`` signals are kept, and reported as unverified) but never
  grants it (its ``allowed`` entries are dropped). An untrusted signer is not invalid: trust lists
  are the reader's choice, validity is the file's.
* A box the library cannot read at all is ``c2pa:invalid`` with the library's message.
"""

from __future__ import annotations

import functools
import importlib.metadata
import io
import json
from dataclasses import dataclass
from typing import Any

from provscan.consent.xmp import AI_SOURCE_TYPES

NOT_CHECKED = "c2pa:not-checked"
INVALID = "c2pa:invalid"
AI_GENERATED = "c2pa:ai-generated"
MISSING_MESSAGE = "C2PA credentials not checked: install the extra with pip install 'provscan[c2pa]'"
_MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "tiff": "image/tiff"}
_USES = {
    "ai_training": "ai-training",
    "ai_generative_training": "ai-generative-training",
    "ai_inference": "ai-inference",
    "data_mining": "data-mining",
}
_TERMS = {t.lower(): t for t in AI_SOURCE_TYPES}


@dataclass(frozen=True, slots=True)
class Credentials:
    signals: tuple[str, ...] = ()
    error: str = ""


@functools.cache
def _library() -> Any:
    try:
        import c2pa
    except ImportError:
        return None
    return c2pa


def available() -> bool:
    """Whether the c2pa extra is installed."""
    return _library() is not None


def extra_version() -> str | None:
    """The installed ``c2pa-python`` version (recorded in the manifest), None without the extra."""
    if not available():
        return None
    try:
        return importlib.metadata.version("c2pa-python")
    except importlib.metadata.PackageNotFoundError:  # importable some other way (a source checkout)
        return "unknown"


def read_credentials(data: bytes, fmt: str) -> Credentials:
    """Signals of the C2PA manifest store in ``data`` (an image of container format ``fmt``)."""
    lib = _library()
    if lib is None:
        return Credentials((NOT_CHECKED,))
    try:
        reader = lib.Reader(_MIME.get(fmt, "image/jpeg"), io.BytesIO(data))
        try:
            store = json.loads(reader.json())
        finally:
            close = getattr(reader, "close", None)
            if callable(close):
                close()
    except Exception as exc:  # the library's C2paError family and anything its parser raises on hostile boxes
        return Credentials((INVALID,), f"{type(exc).__name__}: {exc}"[:300])
    return credentials_from_store(store)


def credentials_from_store(store: dict[str, Any]) -> Credentials:
    """Signals of a manifest store as the library reports it (pure: tested without the extra)."""
    manifests = store.get("manifests") if isinstance(store, dict) else None
    active = manifests.get(store.get("active_manifest")) if isinstance(manifests, dict) else None
    if not isinstance(active, dict):
        return Credentials((INVALID,), "no active manifest")
    invalid = _invalid(store)
    signals: list[str] = []
    for assertion in active.get("assertions") or []:
        if not isinstance(assertion, dict):
            continue
        label = str(assertion.get("label", "")).split(".v")[0]
        body: dict[str, Any] = _dict(assertion.get("data"))
        if label in ("c2pa.training-mining", "cawg.training-mining"):
            for key, entry in _dict(body.get("entries")).items():
                use = _USES.get(str(key).split(".", 1)[-1])
                value = entry.get("use") if isinstance(entry, dict) else None
                if use is None or value not in ("allowed", "notAllowed", "constrained"):
                    continue
                value = "notAllowed" if value == "constrained" else value
                if value == "allowed" and invalid:
                    continue  # an invalid manifest never grants
                signals.append(f"c2pa:{use}={value}")
        elif label == "c2pa.actions":
            for action in body.get("actions") or []:
                source = action.get("digitalSourceType") if isinstance(action, dict) else None
                term = str(source).rstrip("/").rsplit("/", 1)[-1] if source else ""
                if term.lower() in _TERMS:
                    signals += [f"c2pa:source-type={_TERMS[term.lower()]}", AI_GENERATED]
    if invalid:
        signals.append(INVALID)
    return Credentials(tuple(dict.fromkeys(signals)), "manifest fails validation" if invalid else "")


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _invalid(store: dict[str, Any]) -> bool:
    """Validation failed, an untrusted signer aside (``signingCredential.untrusted`` is not a failure here)."""
    results = store.get("validation_results")
    failures = results.get("activeManifest", {}).get("failure") if isinstance(results, dict) else None
    entries = failures if isinstance(failures, list) else store.get("validation_status") or []
    codes = [str(s.get("code", "")) for s in entries if isinstance(s, dict)]
    if codes:
        return any(code != "signingCredential.untrusted" for code in codes)
    state = store.get("validation_state")
    return isinstance(state, str) and state.lower() == "invalid" and not isinstance(failures, list)
