"""What one scenario of a `faultlab run` came to, for the run's reports (ktap.py, kcidb.py).

`faultlab run` ends each scenario in one of three ways: an outcome (its verdict: pass, fail,
error, skip or known-issue, with the checks and the result directory), NOT RUN before anything
booted (a FaultlabError: the kernel lacks a need, or bad input such as a missing build
product), or a harness bug (any other exception). A `ScenarioRecord` holds what the reports
need of each, the same way whichever it was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from faultlab.checks import Check
from faultlab.errors import FaultlabError, NotRunError, crash_site

if TYPE_CHECKING:
    from faultlab.scenario import Scenario, ScenarioOutcome

# Why a scenario did not run, when it did not.
NOT_RUN_NEEDS = "needs"  # the kernel lacks an option, patch or module it needs
NOT_RUN_INPUT = "input"  # bad input: a missing build product, a wrong kernel...


@dataclass(frozen=True)
class ScenarioRecord:
    scenario: str  # group/name
    platform: str
    verdict: str  # pass | fail | error | skip | known-issue (NOT RUN is a skip)
    reason: str
    started_utc: str
    seconds: float
    not_run: str | None = None  # NOT_RUN_NEEDS, NOT_RUN_INPUT or None
    failure: str | None = None  # result.json's machine-readable failure
    checks: tuple[Check, ...] = ()
    excerpt: str | None = None  # console excerpt
    accel: str | None = None
    result_dir: str | None = None
    # result.json's versions.guest_kernel and versions.kernel (the kernel's build manifest);
    # empty when nothing booted
    guest_kernel: dict[str, Any] = field(default_factory=dict)
    kernel_manifest: dict[str, Any] = field(default_factory=dict)
    qemu_manifest: dict[str, Any] = field(default_factory=dict)
    # result.json's known_issues: applied (entries), matched, absent, not_reproduced
    known_issues: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> str:
        return self.scenario.split("/", 1)[0]

    @property
    def name(self) -> str:
        """The scenario's name within its group."""
        return self.scenario.split("/", 1)[-1]

    @property
    def known_issue_ids(self) -> list[str]:
        """The known issues whose reports this run printed, each once, in order."""
        ids = [m["issue"] for m in self.known_issues.get("matched", [])]
        return list(dict.fromkeys(ids))


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_outcome(sc: Scenario, outcome: ScenarioOutcome, started: float) -> ScenarioRecord:
    """A scenario that ran (booted, or tried to): its verdict, checks and result."""
    result = outcome.result
    if result is None:  # run_scenario always returns one; be safe
        return internal_error(sc, RuntimeError("the scenario left no result"), started)
    versions = result.versions
    return ScenarioRecord(
        scenario=sc.name,
        platform=sc.platform,
        verdict=outcome.verdict,
        reason=outcome.reason,
        started_utc=result.started_utc or _utc(started),
        seconds=outcome.seconds,
        not_run=NOT_RUN_NEEDS if result.failure == "not_run" else None,
        failure=result.failure,
        checks=tuple(outcome.checks),
        excerpt=result.excerpt,
        accel=result.accel,
        result_dir=result.result_dir,
        guest_kernel=dict(versions.get("guest_kernel") or {}),
        kernel_manifest=dict(versions.get("kernel") or {}),
        qemu_manifest=dict(versions.get("qemu") or {}),
        known_issues=dict(result.known_issues),
    )


def _unbooted(
    sc: Scenario, verdict: str, reason: str, started: float, failure: str, not_run: str | None
) -> ScenarioRecord:
    """A scenario that ended without a run result (nothing booted, or the harness broke)."""
    return ScenarioRecord(
        scenario=sc.name,
        platform=sc.platform,
        verdict=verdict,
        reason=reason,
        started_utc=_utc(started),
        seconds=round(time.time() - started, 3),
        not_run=not_run,
        failure=failure,
    )


def not_run(sc: Scenario, exc: FaultlabError, started: float) -> ScenarioRecord:
    """A scenario rejected before anything booted (`faultlab run` prints NOT RUN)."""
    kind = NOT_RUN_NEEDS if isinstance(exc, NotRunError) else NOT_RUN_INPUT
    return _unbooted(sc, "skip", f"NOT RUN: {exc}", started, "not_run", kind)


def internal_error(sc: Scenario, exc: BaseException, started: float) -> ScenarioRecord:
    """A harness bug while running the scenario (`faultlab run` prints ERROR and goes on)."""
    reason = f"internal error: {type(exc).__name__}: {exc} (at {crash_site(exc)})"
    return _unbooted(sc, "error", reason, started, "internal", None)
