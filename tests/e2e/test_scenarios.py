"""Every registered fault scenario as a pytest test, in a real guest.

A scenario that passes passes; one that cannot run here (missing build product, a kernel that
lacks what it needs, or the scenario's own stated reason) is SKIPPED with that reason, and in CI
mode that skip fails unless tests/skip-allowlist.txt lists it (tests/skip_allowlist.py); one
whose kernel reports are all known issues of it on this kernel (guest-kernel/known-issues.toml)
and whose checks held is an XFAIL naming each entry and its upstream status, so the summary
lists it (never a pass, never a skip); anything else fails with the checks it made: a fail or
an error verdict (a known issue that no longer reproduces among them), including a firmware
QEMU cannot find once started. Result directories go to $FAULTLAB_RESULTS (default
./results)/e2e.

Which kernel series run which scenarios: every scenario on the default series (test ids
`test_scenario[GROUP/NAME]`), plus the scenarios of EXTRA_SERIES on the other series
(`test_scenario_series[SERIES-GROUP/NAME]`). FAULTLAB_E2E_MATRIX=all (`make test-matrix`)
runs every scenario on every pinned series.
"""

from __future__ import annotations

import os

import pytest

from faultlab import paths
from faultlab.artifacts import missing_artifacts
from faultlab.errors import MissingArtifactError, NotRunError
from faultlab.guest_kernel import pinned_series
from faultlab.platforms import get_platform
from faultlab.result import RunResult, results_parent
from faultlab.scenario import format_outcome, load_scenarios, run_scenario

pytestmark = pytest.mark.e2e

SCENARIOS = load_scenarios()
# `make test`: Linux 7.3 booted through the x86_64 groups (the other arches get a compile gate).
EXTRA_SERIES = {"7.3": ("x86", "vtd", "dsa")}


def _series_cases() -> list[str]:
    others = [s for s in pinned_series() if s != paths.DEFAULT_SERIES]
    if os.environ.get("FAULTLAB_E2E_MATRIX") == "all":
        return [f"{s}-{name}" for s in others for name in sorted(SCENARIOS)]
    return [
        f"{s}-{name}"
        for s in others
        for name in sorted(SCENARIOS)
        if SCENARIOS[name].group in EXTRA_SERIES.get(s, ())
    ]


def _known_issue_reason(result: RunResult | None) -> str:
    """`known issue ID (UPSTREAM): SIGNATURE` for each entry a report matched."""
    matched = result.known_issues.get("matched", []) if result else []
    named = {
        m["issue"]: f"known issue {m['issue']} ({m['upstream']}): {m['signature']}" for m in matched
    }
    return "; ".join(named.values())


def _run(name: str, series: str) -> None:
    sc = SCENARIOS[name]
    missing = missing_artifacts(get_platform(sc.platform), series=series)
    if missing:
        pytest.skip("; ".join(missing))
    try:
        outcome = run_scenario(sc, series=series, results=results_parent() / "e2e")
    except (MissingArtifactError, NotRunError) as e:  # e.g. the kernel variant it asks for
        pytest.skip(f"NOT RUN on {series}: {e}")
    result = outcome.result
    report = format_outcome(outcome, result.accel if result else None)
    if outcome.verdict == "skip":
        pytest.skip(f"{outcome.reason} ({outcome.result_dir})")
    if outcome.verdict == "known-issue":
        reason = _known_issue_reason(result)
        assert reason, f"known-issue verdict without a matched entry\n{report}"
        pytest.xfail(f"{reason} ({outcome.result_dir})")
    assert outcome.verdict == "pass", f"{report}\nresults: {outcome.result_dir}"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name: str) -> None:
    _run(name, paths.DEFAULT_SERIES)


@pytest.mark.parametrize("case", _series_cases())
def test_scenario_series(case: str) -> None:
    series, name = case.split("-", 1)
    _run(name, series)
