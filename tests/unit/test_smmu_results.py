"""Decoding and judging faultlab-smmu output (harness/faultlab/smmu_results.py), no VM."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from faultlab import smmu_results as sr
from faultlab.platforms import get_platform
from faultlab.scenario import StepFailed, load_scenarios, parse_json_object

PAGE = sr.PAGE


def run_obj(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "rc": 0,
        "errno": 0,
        "errno_name": "",
        "state": "DONE",
        "state_code": 3,
        "reason": "NONE",
        "reason_code": 0,
        "fault_write": 0,
        "flags": [],
        "bytes_done": 4 * PAGE,
        "fault_addr": 0,
        "stalls": 4,
        "result": 0,
        "elapsed_us": 2000,
        "wall_us": 2100,
        "len": 4 * PAGE,
    }
    base.update(kw)
    return base


def counters_obj(**delta: int) -> dict[str, Any]:
    names = ("commands", "faults", "stalls", "aborts", "timeouts", "stuck", "lost_irqs")
    names += ("iopf_reported", "resp_success", "resp_invalid", "resp_failure", "resp_other")
    names += ("unbinds", "binds", "completed", "bind_errors")
    before = {n: 10 for n in names}
    after = {n: 10 + delta.get(n, 0) for n in names}
    # the program's own delta is ignored: make it wrong on purpose
    return {"before": before, "after": after, "delta": {n: 999 for n in names}}


def untouched_output(pages: int = 4) -> dict[str, Any]:
    return {
        "case": "untouched",
        "pasid": 1,
        "run": run_obj(bytes_done=pages * PAGE, stalls=pages, len=pages * PAGE),
        "compare": {"bytes": pages * PAGE, "mismatches": 0, "first_mismatch": -1},
        "counters": counters_obj(commands=1, stalls=pages, iopf_reported=pages, resp_success=pages),
    }


def failed(exps: list[sr.Expect]) -> list[str]:
    return [e.name for e in exps if not e.ok]


def test_a_good_copy_meets_every_expectation() -> None:
    data = untouched_output()
    run = sr.Run.decode(data["run"])
    cmp = sr.Compare.decode(data["compare"])
    counters = sr.Counters.decode(data["counters"])
    exps = sr.expect_copy_done("u", run, cmp, 4 * PAGE, 4)
    exps += sr.expect_fault_accounting("u", counters, stalls=4, success=4, invalid=0)
    assert failed(exps) == []
    assert counters.delta("stalls") == 4  # from before/after, not the program's delta


def test_program_output_line_round_trips_through_the_scenario_parser() -> None:
    line = json.dumps(untouched_output(), separators=(",", ":"))
    data = parse_json_object("faultlab-smmu untouched 4", "noise\n" + line + "\n")
    assert sr.Run.decode(data["run"]).stalls == 4


@pytest.mark.parametrize(
    ("path", "value", "broken"),
    [
        (("compare", "mismatches"), 1, "u: mismatching bytes"),
        (("run", "stalls"), 5, "u: stalls (device)"),
        (("run", "state"), "FAULT", "u: final state"),
        (("run", "bytes_done"), 3 * PAGE, "u: bytes done"),
        (("run", "flags"), ["NO_IRQ"], "u: driver flags"),
        (("run", "rc"), -1, "u: ioctl result"),
    ],
)
def test_each_wrong_value_fails_its_own_expectation(
    path: tuple[str, str], value: Any, broken: str
) -> None:
    data = copy.deepcopy(untouched_output())
    data[path[0]][path[1]] = value
    exps = sr.expect_copy_done(
        "u", sr.Run.decode(data["run"]), sr.Compare.decode(data["compare"]), 4 * PAGE, 4
    )
    assert failed(exps) == [broken]


def test_a_fault_answered_twice_or_with_the_wrong_code_is_caught() -> None:
    twice = sr.Counters.decode(counters_obj(stalls=4, iopf_reported=5, resp_success=5))
    assert failed(sr.expect_fault_accounting("x", twice, stalls=4, success=4, invalid=0)) == [
        "x: faults reported to the IOMMU core",
        "x: page responses success/invalid/failure/other",
    ]
    wrong = sr.Counters.decode(counters_obj(stalls=1, iopf_reported=1, resp_failure=1))
    assert failed(sr.expect_fault_accounting("x", wrong, stalls=1, success=0, invalid=1)) == [
        "x: page responses success/invalid/failure/other"
    ]


def test_aborted_copy_needs_the_exact_fault_address() -> None:
    hole = 0xFFFF_8000_1000
    run = sr.Run.decode(
        run_obj(state="FAULT", reason="ABORTED", fault_write=1, bytes_done=0, stalls=1,
                fault_addr=hole, len=2 * PAGE)
    )  # fmt: skip
    assert failed(sr.expect_copy_aborted("unmapped", run, hole)) == []
    assert failed(sr.expect_copy_aborted("unmapped", run, hole + PAGE)) == [
        "unmapped: fault address"
    ]


def test_decode_errors_name_the_field() -> None:
    bad = run_obj()
    del bad["stalls"]
    with pytest.raises(StepFailed, match=r"run has no field 'stalls' \(expected an integer"):
        sr.Run.decode(bad)
    with pytest.raises(StepFailed, match=r"run.rc is True \(a boolean\), expected an integer"):
        sr.Run.decode(run_obj(rc=True))
    with pytest.raises(StepFailed, match=r"run.flags is 'TIMED_OUT' \(a string\), expected a list"):
        sr.Run.decode(run_obj(flags="TIMED_OUT"))
    with pytest.raises(StepFailed, match=r"run.flags\[1\] is 3 \(an integer\), expected a str"):
        sr.Run.decode(run_obj(flags=["TIMED_OUT", 3]))
    with pytest.raises(StepFailed, match=r"procs\[0\] is 'x' \(a string\), expected an object"):
        sr.decode_many({"procs": ["x"]})
    with pytest.raises(sr.DecodeError, match=r"driver counter 'nope' missing"):
        sr.Counters.decode(counters_obj()).delta("nope")
    with pytest.raises(sr.DecodeError, match=r"reported an error: open /dev/faultlab-dma"):
        sr.check_no_error({"case": "hold", "error": "open /dev/faultlab-dma: No such file"})


def test_fault_windows_counts_aligned_windows() -> None:
    assert sr.fault_windows(0x10000, 64 * PAGE, 0x10000) == 4
    assert sr.fault_windows(0x1F000, 64 * PAGE, 0x10000) == 5  # starts in a window's last page
    assert sr.fault_windows(0x10000, PAGE, 0x10000) == 1
    assert sr.fault_windows(0x10000, 64 * PAGE, PAGE) == 64  # fault-around off: one per page
    with pytest.raises(ValueError):
        sr.fault_windows(0, PAGE, 3000)


def many_output(procs: int = 3, pages: int = 8) -> dict[str, Any]:
    return {
        "procs": [
            {
                "index": i,
                "pid": 100 + i,
                "pasid": 1 + i,
                "channel": i,
                "open_error": "",
                "rc": 0,
                "errno_name": "",
                "state": "DONE",
                "reason": "NONE",
                "stalls": pages,
                "bytes_done": pages * PAGE,
                "mismatches": 0,
                "elapsed_us": 1000,
            }
            for i in range(procs)
        ],
        "total": {"stalls": procs * pages, "bytes": procs * pages * PAGE, "mismatches": 0},
        "wall_us": 5000,
        "faults_per_s": 4800,
    }


def test_many_all_good_and_each_defect() -> None:
    assert failed(sr.expect_many(many_output(), 3, 8)) == []
    shared = many_output()
    shared["procs"][1]["pasid"] = 1
    assert failed(sr.expect_many(shared, 3, 8)) == ["distinct PASIDs"]
    short = many_output()
    short["procs"][2]["bytes_done"] = 7 * PAGE
    short["procs"][2]["stalls"] = 7
    short["total"]["stalls"] = 23
    assert failed(sr.expect_many(short, 3, 8)) == [
        "processes ending DONE with every byte right",
        "stalls per process",
        "total stalls (program)",
    ]
    assert failed(sr.expect_many(many_output(procs=2), 3, 8)) == [
        "processes that reported",
        "processes ending DONE with every byte right",
        "distinct PASIDs",
        "distinct channels",
        "total stalls (program)",
    ]


def hold_output(close_us: int = 3000) -> dict[str, Any]:
    return {
        "run": run_obj(
            rc=-1, errno=5, errno_name="EIO", state="STALLED", reason="NONE",
            flags=["TIMED_OUT", "ABORTED", "STUCK"], bytes_done=0, stalls=1, len=PAGE,
        ),
        "second_submit_rc": -1,
        "second_submit_errno_name": "EIO",
        "close_us": close_us,
        "counters": counters_obj(commands=1, aborts=1, timeouts=1, unbinds=1, stuck=1),
    }  # fmt: skip


def test_hold_expectations() -> None:
    assert failed(sr.expect_hold(hold_output(), 1_000_000)) == []
    assert failed(sr.expect_hold(hold_output(close_us=2_100_000), 1_000_000)) == [
        "close() after a held stall (us)"
    ]
    # The old, unfaithful model: ABORT withdrew the access the SMMU held.
    withdrawn = hold_output()
    withdrawn["run"] = run_obj(
        rc=-1, errno=110, errno_name="ETIMEDOUT", state="FAULT", reason="CANCELLED",
        flags=["TIMED_OUT", "ABORTED"], bytes_done=0, stalls=1, len=PAGE,
    )  # fmt: skip
    withdrawn["counters"] = counters_obj(commands=1, faults=1, aborts=1, timeouts=1, unbinds=1)
    assert failed(sr.expect_hold(withdrawn, 1_000_000)) == [
        "timed-out ioctl result",
        "timed-out command flags",
        "timed-out command state",
        "driver commands/faults/aborts",
        "channels stuck after ABORT",
    ]


def storm_output(mode: str = "close", cycles: int = 4, **delta: int) -> dict[str, Any]:
    d = dict(commands=cycles, binds=cycles, unbinds=cycles, completed=1, faults=cycles - 1)
    d.update(iopf_reported=9, resp_success=8, resp_invalid=1)
    d.update(delta)
    return {
        "mode": mode,
        "opened": cycles,
        "submitted": cycles,
        "ended": cycles,
        "waited_for_fault": cycles,
        "errors": [],
        "counters": counters_obj(**d),
    }


def storm_qom(**over: int) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    smmu = {k: 0 for k in sr.SMMU_COUNTERS}
    smmu.update({"stalls-total": 9, "resumes-retry": 8, "resumes-abort": 1})
    smmu.update(over)
    after = {k: 0 for k in sr.SMMU_COUNTERS}
    return smmu, after, {"stalls": 9, "faults": 3}


def test_storm_expectations() -> None:
    assert failed(sr.expect_storm("c", storm_output(), 4, *storm_qom())) == []
    assert failed(sr.expect_storm("s", storm_output("stalled-exit"), 4, *storm_qom())) == []
    # Before the fix: stalls the device withdrew were never answered by the SMMU, and the
    # guest's late success responses for them matched nothing.
    assert failed(sr.expect_storm("c", storm_output(), 4, *storm_qom(**{"resumes-retry": 6}))) == [
        "c: SMMU stalls answered once (retry + abort + terminated)",
        "c: SMMU resumes retry/abort = driver responses success/invalid",
    ]
    lost = storm_output("stalled-close", waited_for_fault=0)
    lost["waited_for_fault"] = 3
    lost["errors"] = [{"cycle": 2, "step": "close", "errno_name": "EIO"}]
    lost["ended"] = 3
    assert failed(sr.expect_storm("s", lost, 4, *storm_qom())) == [
        "s: cycles with an error",
        "s: cycles opened/submitted/ended",
        "s: cycles ended after their fault was reported",
    ]
    smmu, after, dma = storm_qom()
    after["stalls-pending"] = 1
    assert failed(sr.expect_storm("c", storm_output(), 4, smmu, after, dma)) == [
        "c: stalls still held by the SMMU"
    ]


def test_smmu_expectations() -> None:
    before = {k: 5 for k in sr.SMMU_COUNTERS}
    after = dict(before, **{"stalls-total": 9, "resumes-retry": 9})
    after["stalls-pending"] = 0
    delta = sr.qom_delta(before, after)
    assert failed(sr.expect_smmu("s", delta, after, stalls=4, retry=4, abort=0)) == []
    held = dict(after, **{"stalls-pending": 1})
    assert failed(sr.expect_smmu("s", delta, held, stalls=4, retry=4, abort=0)) == [
        "s: SMMU stalls still held"
    ]
    assert failed(sr.expect_smmu("s", delta, held, stalls=4, retry=4, abort=0, held=1)) == []


def test_smmu_scenarios_are_registered_with_their_device() -> None:
    scenarios = load_scenarios()
    names = sorted(n for n in scenarios if n.startswith("smmu/"))
    assert names == [
        "smmu/close-storm",
        "smmu/evtq-overflow",
        "smmu/file-backed",
        "smmu/many-faults",
        "smmu/never-resumed",
        "smmu/readonly-abort",
        "smmu/stall-retry",
        "smmu/unmapped-abort",
    ]
    # The stall model comes with the platform; each scenario adds the DMA engine.
    assert "arm-smmuv3.stall-model=2" in get_platform("aarch64").globals
    for name in names:
        sc = scenarios[name]
        assert sc.platform == "aarch64"
        assert sc.qemu_args == ("-device", "faultlab-dma,id=fdma0")
        assert "/opt/faultlab/bin/faultlab-smmu" in sc.guest_files
