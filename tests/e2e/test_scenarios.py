"""Every registered fault scenario as a pytest test, in a real guest.

A scenario that passes passes; one that cannot run here (missing build product, or the
scenario's own stated reason) is SKIPPED with that reason, and in CI mode that skip fails unless
tests/skip-allowlist.txt lists it (tests/skip_allowlist.py); anything else fails with the
checks it made: a fail or an error verdict, including a firmware QEMU cannot find once started.
Result directories go to $FAULTLAB_RESULTS (default ./results)/e2e.
"""

from __future__ import annotations

import pytest

from faultlab.artifacts import missing_artifacts
from faultlab.errors import MissingArtifactError
from faultlab.platforms import get_platform
from faultlab.result import results_parent
from faultlab.scenario import format_outcome, load_scenarios, run_scenario

pytestmark = pytest.mark.e2e

SCENARIOS = load_scenarios()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name: str) -> None:
    sc = SCENARIOS[name]
    missing = missing_artifacts(get_platform(sc.platform))
    if missing:
        pytest.skip("; ".join(missing))
    try:
        outcome = run_scenario(sc, results=results_parent() / "e2e")
    except MissingArtifactError as e:  # before booting: e.g. the kernel variant it asks for
        pytest.skip(str(e))
    result = outcome.result
    report = format_outcome(outcome, result.accel if result else None)
    if outcome.verdict == "skip":
        pytest.skip(f"{outcome.reason} ({outcome.result_dir})")
    assert outcome.verdict == "pass", f"{report}\nresults: {outcome.result_dir}"
