"""Fault-path rates for `faultlab bench`: the scenarios that measure how fast a fault path
runs (faults handled per second, NX throughput), each run N times, their measurements
summarised as median/min/max. The scenarios' own checks still decide whether a run counts:
a run that fails is listed under `failures` and gives no sample. Timings never decide a
test's verdict; they live here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from faultlab import paths
from faultlab.bench import summarize
from faultlab.errors import FaultlabError
from faultlab.scenario import ScenarioOutcome, load_scenarios, run_scenario

# (scenario, the measurements it reports that are rates)
RATE_SCENARIOS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("smmu/many-faults", ("many_faults_per_s",)),
    ("vtd/prq-retry", ("untouched_faults_per_s",)),
    ("dsa/evl-full", ("flood_cr_faults_per_s",)),
    ("nx/many-faults", ("faults_per_second",)),
    ("nx/throughput", ("guest_nx_mb_per_s", "host_zlib1_mb_per_s")),
)

Runner = Callable[..., ScenarioOutcome]


def bench_rates(
    platform_names: Sequence[str],
    runs: int,
    parent: Path,
    accel: str,
    runner: Runner = run_scenario,
    series: str = paths.DEFAULT_SERIES,
) -> dict[str, Any]:
    """Run the rate scenarios of the benchmarked platforms; one entry per scenario."""
    scenarios = load_scenarios()
    report: dict[str, Any] = {}
    for name, keys in RATE_SCENARIOS:
        sc = scenarios.get(name)
        if sc is None:
            report[name] = {"unavailable": "no such scenario in this checkout"}
            continue
        if sc.platform not in platform_names:
            continue
        samples: dict[str, list[float]] = {k: [] for k in keys}
        failures: list[str] = []
        accels: set[str] = set()
        entry: dict[str, Any] = {"platform": sc.platform}
        for i in range(runs):
            where = parent / "rates" / name.replace("/", "_") / f"run{i + 1}"
            try:
                outcome = runner(sc, accel=accel, result_dir=where, series=series)
            except FaultlabError as exc:
                entry["unavailable"] = str(exc)
                break
            result = outcome.result
            if result is not None and result.accel:
                accels.add(result.accel)
            if outcome.verdict not in ("pass", "known-issue"):  # a known report: rates hold
                failures.append(f"run{i + 1}: {outcome.verdict}: {outcome.reason}")
                continue
            measured = result.extra.get("measurements", {}) if result is not None else {}
            for key in keys:
                value = measured.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    samples[key].append(float(value))
                else:
                    failures.append(f"run{i + 1}: no measurement {key!r}")
        entry["measurements"] = {k: summarize(v) for k, v in samples.items()}
        entry["accel"] = sorted(accels)
        entry["failures"] = failures
        report[name] = entry
    return report


def format_rates(rates: dict[str, Any], runs: int) -> str:
    rows = [("scenario", "measurement", "median", "min", "max", "ok/runs", "note")]
    for name, data in rates.items():
        if "measurements" not in data:
            rows.append((name, "-", "-", "-", "-", "-", f"unavailable: {data['unavailable']}"))
            continue
        note = "; ".join(data["failures"][:2])
        if "unavailable" in data:
            note = f"unavailable: {data['unavailable']}"
        for key, stats in data["measurements"].items():
            cells = [
                ("-" if stats[k] is None else f"{stats[k]:g}") for k in ("median", "min", "max")
            ]
            rows.append((name, key, *cells, f"{len(stats['samples'])}/{runs}", note))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
