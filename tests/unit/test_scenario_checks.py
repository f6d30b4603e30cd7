"""Checks that can fail: what scenario helpers record as observed is what the guest or QEMU
said, and their expectations do not come from the observation (no VM: scripted answers)."""

from __future__ import annotations

from typing import Any

from faultlab import smmu_results as sr
from faultlab.scenarios import nx, pseries_dlpar, smmu
from scripted import as_json, scripted

PAGE = sr.PAGE
COUNTERS = (*sr.DRIVER_COUNTERS, "unbinds")


def file_output(stalls: int, src_addr: int, pages: int) -> dict[str, Any]:
    """faultlab-smmu's `file` object, with its own idea of the windows made useless."""
    length = pages * PAGE
    run = {
        "rc": 0,
        "errno_name": "",
        "state": "DONE",
        "reason": "NONE",
        "fault_write": 0,
        "flags": [],
        "bytes_done": length,
        "fault_addr": 0,
        "stalls": stalls,
        "elapsed_us": 900,
        "wall_us": 1000,
        "len": length,
    }
    delta = {"commands": 1, "completed": 1, "stalls": stalls, "iopf_reported": stalls}
    delta["resp_success"] = stalls
    return {
        "run": run,
        "compare": {"bytes": length, "mismatches": 0, "first_mismatch": -1},
        "counters": {
            "before": {k: 5 for k in COUNTERS},
            "after": {k: 5 + delta.get(k, 0) for k in COUNTERS},
        },
        "src_addr": src_addr,
        "fault_around_bytes": -1,  # the program could not read it: the harness does not care
        "fault_windows": 999,  # nor about the program's own count
    }


def run_file_backed(stalls: int, fault_around: int = 0x10000) -> list[tuple[str, bool, str, str]]:
    pages = smmu.FILE_PAGES
    state: dict[str, Any] = {}

    def qom(path: str, prop: str) -> int:
        ran = any(c.startswith(smmu.PROGRAM) for c in state["guest"].ran)
        if prop == "stalls-pending":
            return 0
        moved = {"stalls-total": stalls, "resumes-retry": stalls, "stalls": stalls}
        return 100 + (moved.get(prop, 0) if ran else 0)

    commands = {
        f"insmod {smmu.MODULE}": "",
        "dmesg": f"faultlab_dma 0000:00:02.0: {smmu.PROBE_LINE}\n",
        f"cat {smmu.SYSFS}/kprobes": f"iommu_report_device_fault=0 {smmu.RESPONSE_PROBE}=0\n",
        f"cat {smmu.FAULT_AROUND_BYTES}": f"{fault_around}\n",
        f"{smmu.PROGRAM} file {pages}": as_json(file_output(stalls, 0x1F000, pages)),
    }
    ctx, guest = scripted("smmu/file-backed", commands, qom)
    state["guest"] = guest
    smmu.file_backed(ctx)
    return [(c.name, c.ok, c.observed, c.expected) for c in ctx.checks]


def test_file_backed_expects_the_windows_the_harness_computes() -> None:
    # 64 pages from 0x1f000 with 64 KiB fault-around span 5 windows: 5 read faults
    checks = run_file_backed(stalls=5)
    assert [c for c in checks if not c[1]] == []
    assert ("file: stalls (device)", True, "5", "5") in checks
    assert not any("program vs harness" in c[0] for c in checks)


def test_file_backed_fails_when_the_device_faulted_differently() -> None:
    checks = run_file_backed(stalls=4)
    failed = {name: (observed, expected) for name, ok, observed, expected in checks if not ok}
    assert failed["file: stalls (device)"] == ("4", "5")
    assert failed["file: driver stalls counter"] == ("4", "5")
    assert failed["file: SMMU stalls"] == ("4", "5")
    # with fault-around off every page is its own window
    assert ("file: stalls (device)", False, "5", "64") in run_file_backed(5, fault_around=PAGE)


def test_core_check_records_the_state_qemu_reports() -> None:
    plugged = [{"props": {"core-id": 1}, "qom-path": "/machine/peripheral/core1"}]
    ctx, guest = scripted("pseries/dlpar-credits", {})
    guest.qmp.command_timeout = lambda command, timeout, **a: plugged  # type: ignore[method-assign]
    pseries_dlpar.expect_core(ctx, "core 1 released by the guest", 1, present=False, timeout=0)
    pseries_dlpar.expect_core(ctx, "core 1 plugged", 1, present=True, timeout=0)
    checks = [(c.name, c.ok, c.observed, c.expected) for c in ctx.checks]
    assert checks == [
        ("core 1 released by the guest", False, "plugged (/machine/peripheral/core1)", "unplugged"),
        ("core 1 plugged", True, "plugged (/machine/peripheral/core1)", "plugged"),
    ]
    plugged.clear()
    pseries_dlpar.expect_core(ctx, "core 1 plugged", 1, present=True, timeout=0)
    assert (ctx.checks[-1].ok, ctx.checks[-1].observed) == (False, "unplugged")


def test_bad_qos_totals_record_each_exit_status() -> None:
    write = f"> {pseries_dlpar.QOS}/update_total_credits"
    ctx, guest = scripted(
        "pseries/qos-credits", {f"echo 70000 {write}": (0, ""), f"echo abc {write}": (1, "")}
    )
    pseries_dlpar.expect_bad_totals_refused(ctx)
    (check,) = ctx.checks
    assert not check.ok
    assert check.observed == '{"echo 70000": "exit 0", "echo abc": "exit 1"}'
    assert len(guest.ran) == 2  # the second write is made even though the first was accepted


def test_nx_probe_errors_show_the_dmesg_line() -> None:
    dt = nx.DT_VAS
    fifo = "/proc/device-tree/xscom@603fc00000000/nx@2010000/ibm,gzip-normal-fifo"
    reg = b"".join(
        v.to_bytes(8, "big")
        for v in (nx.HVWC_BASE, 0x2000000, nx.UWC_BASE, 1 << 32, nx.PASTE_BASE, 1 << 32, 32, 16)
    )
    bad = "[    1.5] VAS[0]: Unable to map paste address\n"
    commands = {
        f"cat {dt}/compatible": b"ibm,power9-vas\0ibm,vas\0",
        f"cat {dt}/ibm,vas-id": b"\0\0\0\0",
        f"cat {dt}/reg": reg,
        "ls -d /proc/device-tree/xscom@*/nx@2010000/ibm,gzip-normal-fifo 2>/dev/null": fifo,
        f"cat {fifo}/pid": (2).to_bytes(4, "big"),
        f"cat {fifo}/rx-fifo-size": (0x8000).to_bytes(4, "big"),
        "test -c /dev/crypto/nx-gzip": "",
        "cat /proc/crypto": "name : 842\ndriver : 842-nx\n",
        "dmesg": "[    1.0] vas: ok\n" + bad,
    }
    ctx, _ = scripted("nx/selftests", commands)
    nx.check_platform(ctx)
    failed = [(c.name, c.observed) for c in ctx.checks if not c.ok]
    assert failed == [("no VAS/NX probe error ('VAS[') in dmesg", bad.strip())]
    held = [c for c in ctx.checks if "probe error" in c.name and c.ok]
    assert [c.observed for c in held] == ["absent", "absent"]
