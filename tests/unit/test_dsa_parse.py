"""Parsing and planning of the dsa scenarios (harness/faultlab/scenarios/dsa.py), no VM."""

from __future__ import annotations

import subprocess
from pathlib import Path
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


def test_plan_follows_the_runner_and_op_cap() -> None:
    cap = dsa.parse_op_cap("00000000,0003027d")  # no 0x8, no DIF, no cache flush
    run, skipped = dsa.plan_dsa_tests(cap, 0x1)
    names = {t.name for t in run}
    assert names == {
        "nop",
        "drain",
        "memmove",
        "fill",
        "compare",
        "compare-pattern",
        "dualcast",
        "crc-gen",
        "copy-crc",
    }
    assert not any(t.batch and t.name == "drain" for t in run)
    mm = [t for t in run if t.name == "memmove" and not t.batch]
    assert sorted({t.size for t in mm}) == list(dsa.SIZES)
    assert {t.mode for t in mm} == {0, 1}
    assert all(t.flags == 1 for t in run)
    assert any("cache-flush (0x20)" in s for s in skipped)
    assert any("dif-check (0x12)" in s for s in skipped)
    batch = next(t for t in run if t.batch and t.name == "fill")
    assert batch.argv.endswith("-o 0x1 -b 0x4 -c 16 -f 0x1 -t 5000")
    assert batch.label.startswith("batch fill ")
    single = next(t for t in run if not t.batch and t.name == "crc-gen" and t.mode == 1)
    assert f"{dsa.DSA_TEST} -w 1 -l " in single.argv and "-o 0x10 " in single.argv


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


def test_dsa_test_script_runs_each_test_and_reports(tmp_path: Path) -> None:
    # A stand-in for dsa_test: fails (status 3, with output) for the fill opcode only.
    fake = tmp_path / "dsa_test"
    fake.write_text(
        '#!/bin/sh\ncase "$*" in *"-o 0x4 "*) echo line1; echo "bad fill"; exit 3;; esac\n'
    )
    fake.chmod(0o755)
    tests = [
        dsa.DsaTest("memmove", 3, False, 4096, 0, 1),
        dsa.DsaTest("fill", 4, False, 1, 1, 0),
        dsa.DsaTest("fill", 4, True, 1, 1, 0),
    ]
    script = dsa.dsa_test_script(tests).replace(dsa.DSA_TEST, str(fake))
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
    runs = dsa.parse_dsa_test_output(out.stdout)
    assert runs == {0: (0, ""), 1: (3, "line1\nbad fill"), 2: (0, "")}


def test_dsa_test_output_parsing() -> None:
    text = "noise\n@@dsa_test 0 0\n@@dsa_test 1 1\nerr a\nerr b\n@@dsa_test 2 124\n"
    assert dsa.parse_dsa_test_output(text) == {0: (0, ""), 1: (1, "err a\nerr b"), 2: (124, "")}
    with pytest.raises(dsa.ParseError):
        dsa.parse_dsa_test_output("@@dsa_test x 0\n")
