"""The plan: which stages a run has, in which order, and how each is built. The one place that names them.

Order: URL lists first (a row they drop is never fetched), allowlists right after (allowed rows are
still fetched and checked), licences, image hashes from columns and local files, fetches, consent,
then the licences embedded in images (rows their column did not decide), then image matching.
Adding a matcher is one file under ``stages/`` and one :class:`Step` here.

Stage classes are imported only when a run needs them (PIL, httpx and the fetch machinery cost a
worker ~0.1 s of imports a URL-only run does not need). The runner (``pipeline/``) reaches stages
only through this module and :mod:`provscan.stages.base`, never by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provscan.config import ScanConfig
from provscan.errors import IntegrityError
from provscan.io.db import Database
from provscan.kinds import EXACT_IMAGE_KINDS, PERCEPTUAL_KINDS
from provscan.stages.base import BuildEnv, Output, Stage, check_order


def _image_kinds(lists: Any) -> set[str]:
    return set(lists.kinds) & (set(EXACT_IMAGE_KINDS) | set(PERCEPTUAL_KINDS))


def _images(config: ScanConfig, lists: Any) -> bool:
    return bool(_image_kinds(lists)) or config.fetch or bool(config.images)


def _reads_images(config: ScanConfig, lists: Any) -> bool:
    return bool(config.fetch or config.images)


@dataclass(frozen=True)
class Step:
    """One stage of the plan: its name, where its class lives, and when a run has it."""

    name: str
    target: str  # "module:Class"; the class has ``build(env) -> Stage``
    wanted: Callable[[ScanConfig, Any], bool]

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    def load(self) -> Any:
        return getattr(importlib.import_module(self.module), self.target.partition(":")[2])


PLAN: tuple[Step, ...] = (
    Step(
        "url",
        "provscan.stages.url:UrlStage",
        lambda c, lists: bool(lists.of_kind("domain", "url", "optout", "url-sha256")),
    ),
    Step(
        "allow", "provscan.stages.allow:AllowStage", lambda c, lists: any(lst.action == "allow" for lst in lists.lists)
    ),
    Step(
        "license", "provscan.stages.license:LicenseStage", lambda c, lists: True
    ),  # the licence table is always counted
    Step("image-hashes", "provscan.stages.image:ImageHashesStage", _images),
    Step("fetch", "provscan.stages.fetch:FetchStage", lambda c, lists: c.fetch),
    Step("consent", "provscan.stages.consent:ConsentStage", lambda c, lists: c.consent.check),
    Step("embedded-license", "provscan.stages.license:EmbeddedLicenseStage", _reads_images),
    Step("image-match", "provscan.stages.image:ImageMatchStage", _images),
)


def select(config: ScanConfig, lists: Any) -> list[str]:
    """The names of the stages this run has, in order (recorded in the run's state for the merge)."""
    return [step.name for step in PLAN if step.wanted(config, lists)]


def modules(names: Sequence[str]) -> list[str]:
    """The modules of the named stages: what a ``--workers`` server imports once for its workers."""
    where = {step.name: step.module for step in PLAN}
    return list(dict.fromkeys(where[name] for name in names if name in where))


def build(db: Database, lists: Any, config: ScanConfig, out: Path) -> list[Stage]:
    """The run's stages, built once per session, their declared tables checked in order."""
    from provscan.lists.compiled import TABLES

    env = BuildEnv(db, lists, config, out)
    names = set(select(config, lists))
    stages: list[Stage] = []
    try:
        for step in PLAN:
            if step.name in names:
                stages.append(step.load().build(env))
        check_order(stages, TABLES)
    except BaseException:
        for stage in stages:
            stage.close(False)
        raise
    return stages


def preflight(config: ScanConfig, lists: Any) -> None:
    """Each selected stage's checks that need no output (an optional extra, the fetch policy): run
    before OUT is touched, so a bad setting fails the run before it starts."""
    for step in steps(select(config, lists)):
        step.load().preflight(config, lists)


def manifest_fields(names: Sequence[str]) -> dict[str, Any]:
    """What the manifest records about the plan beyond the stages' counters, so the runner adds it
    without naming a stage: which consent-signal sources the run read (``consent_sources``)."""
    from provscan.consent.policy import signal_sources

    return {"consent_sources": signal_sources("consent" in names, "embedded-license" in names)}


def steps(names: Sequence[str]) -> list[Step]:
    """The steps named in a run's state (untrusted: an unknown name is refused, not imported)."""
    known = {step.name: step for step in PLAN}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise IntegrityError(f"unknown stages in the run's state: {', '.join(map(str, unknown))}")
    return [known[n] for n in names]


def outputs(names: Sequence[str]) -> list[Output]:
    """The per-shard files the named stages write, in plan order."""
    return [output for step in steps(names) for output in step.load().outputs]
