"""Parsing and planning of the dsa scenarios (harness/faultlab/scenarios/dsa.py), no VM."""

from __future__ import annotations

from typing import Any

import pytest

from faultlab.scenario import StepFailed, load_scenarios
from faultlab.scenarios import dsa

# What drivers/dma/idxd/debugfs.c prints for two entries (the format strings of
# debugfs_evl_show and dump_event_entry, with %#x of 0 printing "0").
EVL_TEXT = """Event Log head 2 tail 3 interrupt pending 1

Event Log entry 0 (real index 1) processed: 1
desc valid 1 wq idx valid 1
batch 0 fault rw 1 priv 0 error 0x1a
wq idx 0 op 0x3 pasid 2 batch idx 0
fault addr 0x7f12a4e01040
status 0x1 result 0 fault_info 0 bytes_completed 0
fault addr 0 inv flags 0

entry[0] = 0x2000003001aac
entry[1] = 0
entry[2] = 0x7f12a4e01040
entry[3] = 0
entry[4] = 0x1
entry[5] = 0
entry[6] = 0
entry[7] = 0

Event Log entry 1 (real index 2) processed: 0
desc valid 1 wq idx valid 1
batch 1 fault rw 0 priv 0 error 0x27
wq idx 1 op 0x1 pasid 3 batch idx 2
fault addr 0x7f12a4e03020
status 0x5 result 0x1 fault_info 0 bytes_completed 4
fault addr 0x1000 inv flags 0

entry[0] = 0x3000001012700
"""


def test_evl_dump_parses_head_tail_and_entries() -> None:
    dump = dsa.parse_evl_dump(EVL_TEXT)
    assert (dump.head, dump.tail, dump.int_pending) == (2, 3, 1)
    assert len(dump.entries) == 2
    a, b = dump.entries
    assert (a.index, a.processed, a.batch, a.fault_rw, a.error) == (1, True, 0, 1, dsa.CRA_XLAT)
    assert (a.wq_idx, a.op, a.pasid, a.batch_idx) == (0, dsa.OP_MEMMOVE, 2, 0)
    assert (a.fault_addr, a.cr_status, a.cr_result, a.cr_bytes_completed, a.cr_fault_addr) == (
        0x7F12A4E01040,
        1,
        0,
        0,
        0,
    )
    assert (b.index, b.processed, b.batch, b.error, b.op) == (2, False, 1, dsa.BATCH_EVL_ERR, 1)
    assert (b.cr_status, b.cr_result, b.cr_bytes_completed, b.cr_fault_addr) == (5, 1, 4, 0x1000)


def test_evl_dump_empty_log_and_garbage() -> None:
    dump = dsa.parse_evl_dump("Event Log head 0 tail 0 interrupt pending 0\n\n")
    assert (dump.head, dump.tail, dump.entries) == (0, 0, ())
    with pytest.raises(dsa.ParseError):
        dsa.parse_evl_dump("")
    assert issubclass(dsa.ParseError, StepFailed)  # a parse error fails the steps


def test_op_cap_highest_word_first() -> None:
    # "%*pb" of each 64-bit word: two 8-digit chunks; words highest first (op_cap_show_common).
    text = "00000000,00000000,00000000,00000000,00000000,00000000,00000001,000303ff\n"
    cap = dsa.parse_op_cap(text)
    assert cap == 0x1000303FF
    assert [op for op in range(0x40) if cap >> op & 1] == [*range(10), 0x10, 0x11, 0x20]
    assert dsa.parse_op_cap("00000001," + "00000000," * 7 + "00000000") == 1 << 256
    for bad in ("", "xyz", "0000,00000000,0"):
        with pytest.raises(dsa.ParseError):
            dsa.parse_op_cap(bad)


def cr_obj(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "status": 1,
        "result": 0,
        "fault_info": 0,
        "bytes_completed": 4096,
        "fault_addr": 0,
        "timed_out": 0,
        "wait_us": 12,
    }
    base.update(kw)
    return base


def test_cr_decode_and_fields() -> None:
    cr = dsa.Cr.decode(cr_obj(status=0x83, bytes_completed=8192, fault_addr=0x1000, timed_out=1))
    assert cr.fields == (0x83, 0, 0, 8192, 0x1000)
    assert cr.timed_out is True
    with pytest.raises(StepFailed, match=r"cr.status is '1' \(a string\), expected an integer"):
        dsa.Cr.decode(cr_obj(status="1"))
    with pytest.raises(StepFailed, match="cr has no field 'wait_us'"):
        dsa.Cr.decode({k: v for k, v in cr_obj().items() if k != "wait_us"})
    with pytest.raises(StepFailed, match=r"cr\.result is True"):
        dsa.Cr.decode(cr_obj(result=True))  # a JSON boolean is not a CR byte


def test_file_counters_delta_and_unreadable() -> None:
    data = {
        "counters": {
            "before": {"cr_faults": 3, "cr_fault_failures": 1},
            "after": {"cr_faults": 5, "cr_fault_failures": 1},
        }
    }
    c = dsa.FileCounters.decode(data)
    assert (c.faults, c.failures, c.readable) == (2, 0, True)
    data["counters"]["before"]["cr_faults"] = -1
    assert dsa.FileCounters.decode(data).readable is False
    with pytest.raises(StepFailed, match="counters has no field 'after'"):
        dsa.FileCounters.decode({"counters": {"before": {}}})


def test_dsa_scenarios_registered_on_x86_with_the_device() -> None:
    scenarios = load_scenarios()
    names = {
        "dsa/accel-config-test",
        "dsa/cr-fault",
        "dsa/cr-unwritable",
        "dsa/batch-cr-fault",
        "dsa/partial-fault",
        "dsa/prs-fault",
        "dsa/evl-full",
        "dsa/sysfs",
        "dsa/enqcmd-switch",
    }
    assert names <= set(scenarios)
    for name in names:
        sc = scenarios[name]
        assert sc.platform == "x86_64"
        assert sc.qemu_args == dsa.QEMU_ARGS
        assert dsa.PROGRAM in sc.guest_files


def test_pattern_matches_the_guest_program() -> None:
    # faultlab-dsa.c: pattern(i) = (uint8_t)(i * 7 + (i >> 12) + 0x11)
    assert [dsa.pattern(i) for i in (0, 1, 4095, 4096, 8192)] == [
        0x11,
        0x18,
        (4095 * 7 + 0x11) & 0xFF,
        (4096 * 7 + 1 + 0x11) & 0xFF,
        (8192 * 7 + 2 + 0x11) & 0xFF,
    ]
    # 7 is odd: i * 7 runs through every byte value once per 256 bytes, so one byte in 256 of
    # a page is zero.
    assert dsa.pattern_nonzero(2 * 4096, 4096) == 4096 - 16


def test_runner_trace_counts_dsa_test_runs_and_opcodes() -> None:
    trace = (
        "+ echo 'Testing 1 bytes'\n"
        "+ /usr/libexec/accel-config/test/dsa_test -w 0 -l 1 -o 0x3 -f 0x1 t200 -v\n"
        "++ /usr/libexec/accel-config/test/dsa_test -w 1 -l 4096 -o 0x1 -b 0x12 -c 16"
        " -f 0x0 t2000 -v\n"
        "[info] not a run: dsa_test -o 0x4\n"
    )
    assert dsa.runner_opcodes(trace) == (2, {0x03, 0x12})
    assert dsa.RUNNER_RUNS == 476  # 200 single + 180 batched + 96 DIF runs
