"""Registration and pure helpers of the pseries DLPAR/QoS credit scenarios (no VM)."""

from __future__ import annotations

from pathlib import Path

from faultlab.scenario import load_scenarios
from faultlab.scenarios import pseries_dlpar

PROGRAM_SOURCE = (
    Path(__file__).resolve().parents[2] / "guest-kernel/programs/faultlab-vas-credits.c"
)


def test_dlpar_scenario_runs_dedicated_with_hotpluggable_cores() -> None:
    sc = load_scenarios()["pseries/dlpar-credits"]
    assert sc.platform == "ppc64-pseries"
    args = list(sc.qemu_args)
    assert args[args.index("-machine") + 1] == "x-dedicated-procs=on"
    assert args[args.index("-smp") + 1] == "2,maxcpus=4"
    assert args[args.index("-device") + 1] == "spapr-vas,id=vas0,credits-per-core=4"
    assert sc.guest_files == (pseries_dlpar.PROGRAM,)


def test_qos_scenario_sets_the_hypervisor_grant() -> None:
    sc = load_scenarios()["pseries/qos-credits"]
    assert sc.platform == "ppc64-pseries"
    assert sc.qemu_args == ("-device", "spapr-vas,id=vas0,qos-credits=4")


def test_paths_reads_each_windows_path() -> None:
    windows = [{"window": 0, "path": "nx"}, {"window": 1, "path": "sw"}]
    assert pseries_dlpar.paths(windows) == ["nx", "sw"]


def test_program_builds_for_ppc64le_only() -> None:
    assert "/* faultlab-arches: ppc64le */" in PROGRAM_SOURCE.read_text().splitlines()[1]
