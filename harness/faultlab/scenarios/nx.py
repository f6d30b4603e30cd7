"""PowerNV VAS/NX scenarios: the kernel's own nx-gzip selftests on bare-metal POWER9.

Every POWER9 chip of our powernv9 has a `pnv-vas` device (qemu-devices/hw/faultlab/nx/
pnv-vas.c, hooked by qemu-devices/patches/0007-*): the VAS and NX xscom units with the
device-tree nodes skiboot looks for (`ibm,power9-vas-x`, `ibm,power9-nx`), the HV/user window
contexts and paste addresses at the BARs skiboot programs, the fault window and its XIVE
trigger, and the NX-GZIP engine behind the paste addresses. The unmodified skiboot.lid then
creates /vas@... and the NX FIFO nodes; the unmodified kernel (powernv vas*.c,
nx-compress-powernv) opens its fault, receive and 842 send windows and offers
/dev/crypto/nx-gzip, which the unmodified selftests use with COPY/PASTE
(qemu-devices/patches/0003-*).

The selftest steps, their parsing and the host gzip check are shared with the pseries
scenarios (faultlab.scenarios.pseries): nx-gzip-test.sh needs bash, so its steps run one by
one.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from faultlab import access
from faultlab.access import dicts, int_field, int_fields, list_field, number_field
from faultlab.needs import Needs
from faultlab.polling import poll
from faultlab.scenario import ScenarioContext, StepFailed, parse_json_object, scenario
from faultlab.scenarios.pseries import (
    GUNZ,
    GZFHT,
    PARALLEL,
    SIZES,
    WORKDIR,
    check_fault_cases,
    guest_bytes,
    selftest_runs,
)

VAS = "/machine/chip[0]/vas"
# skiboot's P9 (Nimbus) map for chip 0: HV window contexts, user window contexts, paste base.
HVWC_BASE = 0x0006019100000000
UWC_BASE = 0x0006019000000000
PASTE_BASE = 0x0008000000000000
DT_VAS = f"/proc/device-tree/vas@{HVWC_BASE:x}"
NX_GZIP_CT = 2
NX_FAULT = "/opt/faultlab/bin/faultlab-nx-fault"
# VAS and the PowerNV NX compression driver (/dev/crypto/nx-gzip, the 842-nx algorithm); the
# NX model translates addresses through radix page tables only (hw/faultlab/nx/nx-radix.c), so
# radix must be the kernel's default MMU (the harness adds no command line for it).
NEEDS = Needs(
    options=(
        "PPC_VAS",
        "CRYPTO_DEV_NX_COMPRESS",
        "CRYPTO_DEV_NX_COMPRESS_POWERNV",
        "PPC_RADIX_MMU",
        "PPC_RADIX_MMU_DEFAULT",
    )
)


def qom_int(ctx: ScenarioContext, prop: str) -> int:
    """An integer QOM property of chip 0's pnv-vas device."""
    return access.qom_int(ctx, VAS, prop)


def dt_cells(ctx: ScenarioContext, path: str, width: int = 4) -> list[int]:
    """A device-tree property as big-endian cells of `width` bytes."""
    data = guest_bytes(ctx, path)
    if len(data) % width:
        raise StepFailed(f"{path}: {len(data)} bytes, not a multiple of {width}")
    return [int.from_bytes(data[i : i + width], "big") for i in range(0, len(data), width)]


def check_platform(ctx: ScenarioContext) -> None:
    """skiboot found our xscom units and described VAS and NX; the kernel took them."""
    compat = guest_bytes(ctx, f"{DT_VAS}/compatible").decode(errors="replace").split("\0")
    ctx.expect_eq("skiboot's /vas node compatible", compat[:2], ["ibm,power9-vas", "ibm,vas"])
    ctx.expect_eq("/vas ibm,vas-id", dt_cells(ctx, f"{DT_VAS}/ibm,vas-id"), [0])
    ctx.expect_eq(
        "/vas reg: HVWC, UWC, paste BARs and the window-id bit field (start 32, 16 bits)",
        dt_cells(ctx, f"{DT_VAS}/reg", 8),
        [HVWC_BASE, 0x2000000, UWC_BASE, 0x100000000, PASTE_BASE, 0x100000000, 32, 16],
    )
    fifo = ctx.must(
        "ls -d /proc/device-tree/xscom@*/nx@2010000/ibm,gzip-normal-fifo 2>/dev/null"
    ).strip()
    ctx.check("skiboot created the NX gzip-normal FIFO node", bool(fifo), fifo, "a path")
    ctx.expect_eq("gzip FIFO pid (coprocessor type)", dt_cells(ctx, f"{fifo}/pid"), [NX_GZIP_CT])
    ctx.expect_eq("gzip FIFO rx-fifo-size", dt_cells(ctx, f"{fifo}/rx-fifo-size"), [0x8000])
    ctx.expect_eq(
        "/dev/crypto/nx-gzip is a character device",
        ctx.sh("test -c /dev/crypto/nx-gzip").exit_code,
        0,
    )
    ctx.expect_in(
        "nx-compress-powernv registered its 842 algorithm",
        "842-nx",
        ctx.read("/proc/crypto"),
        "/proc/crypto",
    )
    dmesg = ctx.dmesg()
    for bad in ("VAS[", "Unable to allocate global irq", "NX FIFO nodes are missing"):
        line = next((ln for ln in dmesg.splitlines() if bad in ln), None)
        ctx.check(
            f"no VAS/NX probe error ({bad!r}) in dmesg", line is None, line or "absent", "absent"
        )


@scenario(
    "nx/selftests",
    "ppc64-powernv",
    "skiboot and the kernel bring up VAS and NX from our xscom units; the kernel's nx-gzip "
    "selftests compress and decompress through /dev/crypto/nx-gzip windows, COPY/PASTE and "
    "the NX-GZIP engine; the host's gzip -d accepts the output",
    guest_files=(GZFHT, GUNZ),
    needs=NEEDS,
)
def nx_selftests(ctx: ScenarioContext) -> None:
    check_platform(ctx)
    ctx.must(f"rm -rf {WORKDIR} && mkdir -p {WORKDIR}")
    completed_before = qom_int(ctx, "completed")
    # The kernel's own windows: the fault window, one receive window per NX FIFO node
    # (842 and gzip, high and normal) and one 842 send window per CPU (smp=1).
    ctx.expect_eq(
        "windows open after boot (fault + 4 receive + 1 842 send)", qom_int(ctx, "open-windows"), 6
    )

    selftest_runs(ctx, "powernv")

    # vas_win_close() waits for every send credit before it clears the window: all back.
    ctx.expect_eq(
        "windows open after every selftest process exited", qom_int(ctx, "open-windows"), 6
    )
    completed = qom_int(ctx, "completed") - completed_before
    ctx.check(
        "CRBs completed by the engine (QOM)",
        completed >= 2 * (len(SIZES) + 1 + PARALLEL),
        completed,
        f">= {2 * (len(SIZES) + 1 + PARALLEL)}",
    )
    ctx.expect_eq("fault CRBs lost (fault window refused them)", qom_int(ctx, "faults-lost"), 0)
    ctx.measure("crbs_completed", completed)
    ctx.measure("crb_faults", qom_int(ctx, "faults"))
    ctx.measure("pastes_rejected", qom_int(ctx, "rejected"))


@scenario(
    "nx/translation-fault",
    "ppc64-powernv",
    "a CRB whose source or target page is not present faults: NX pastes the stamped CRB into "
    "the fault window's FIFO and triggers its XIVE interrupt, the kernel's vas_fault_thread_fn "
    "writes the CSB with cc 250 and the exact address and returns both credits; the program "
    "touches the page and the resubmitted CRB completes; a read-only CSB gets SIGSEGV",
    guest_files=(NX_FAULT,),
    needs=NEEDS,
)
def translation_fault(ctx: ScenarioContext) -> None:
    faults_before = qom_int(ctx, "faults")
    windows_before = qom_int(ctx, "open-windows")
    data = ctx.json(NX_FAULT, timeout=300)
    if "error" in data:
        raise StepFailed(f"faultlab-nx-fault: {data['error']}")
    check_fault_cases(ctx, data)
    # Closing needs the send credits the kernel returned through TX_WCRED_ADDER (A.9).
    ctx.expect_eq(
        "the program's windows closed (credits of the faulted CRBs returned)",
        qom_int(ctx, "open-windows"),
        windows_before,
    )
    ctx.expect_eq(
        "fault CRBs counted by the model (QOM)", qom_int(ctx, "faults") - faults_before, 3
    )
    ctx.expect_eq("fault CRBs lost (fault window refused them)", qom_int(ctx, "faults-lost"), 0)
    dmesg = ctx.dmesg()
    for bad in ("bad CRB?", "Fault FIFO Dump"):
        ctx.expect_absent(f"no vas-fault complaint ({bad!r}) in the kernel log", bad, dmesg)


NX_STRESS = "/opt/faultlab/bin/faultlab-nx-stress"
STRESS_DIR = "/tmp/nx-stress"
MANY_PROCS = 6
MANY_REQS = 32
MANY_WINDOWS = 1000
INJECTED = 4
# poll_window_credits()'s warning (arch/powerpc/platforms/powernv/vas-window.c)
STUCK_WARNING = "stuck. Waiting for credits returned for Window"


def stress_json(ctx: ScenarioContext, args: str, timeout: float = 600) -> dict[str, Any]:
    data = ctx.json(f"{NX_STRESS} {args}", timeout=timeout)
    if "error" in data:
        raise StepFailed(f"faultlab-nx-stress {args}: {data['error']}")
    return data


def stress_processes(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-process objects of `faultlab-nx-stress faults`."""
    return dicts(list_field(data, "processes", "faultlab-nx-stress"), "processes")


def raw_inflate(data: bytes) -> bytes | None:
    """Inflate raw DEFLATE on the host. COMPRESS_FHT output has no gzip header and, as on
    NX, its last block is not marked final (gzfht_test sets BFINAL itself): inflate what is
    there without asking for the end of the stream."""
    try:
        return zlib.decompressobj(-15).decompress(data)
    except zlib.error:
        return None


def check_credits_at_rest(ctx: ScenarioContext, what: str, windows: int) -> None:
    ctx.expect_eq(
        f"{what}: open windows back to their start", qom_int(ctx, "open-windows"), windows
    )
    ctx.expect_eq(
        f"{what}: credits out on open windows (QOM credits-out)", qom_int(ctx, "credits-out"), 0
    )


@scenario(
    "nx/many-faults",
    "ppc64-powernv",
    f"{MANY_PROCS} processes at once, each {MANY_REQS} COMPRESS_FHT requests whose source "
    "(fresh file mapping) and target (fresh anonymous memory) are not present: every fault "
    "reaches the program's CSB through the one fault FIFO, none is lost, the model's fault "
    "count equals the faults the programs saw, and every output inflates to its source",
    guest_files=(NX_STRESS,),
    needs=NEEDS,
)
def many_faults(ctx: ScenarioContext) -> None:
    ctx.must(f"rm -rf {STRESS_DIR} && mkdir -p {STRESS_DIR}")
    faults_before = qom_int(ctx, "faults")
    lost_before = qom_int(ctx, "faults-lost")
    windows_before = qom_int(ctx, "open-windows")
    data = stress_json(ctx, f"faults {STRESS_DIR} {MANY_PROCS} {MANY_REQS}", timeout=900)
    procs = stress_processes(data)
    ctx.expect_eq("processes that reported", len(procs), MANY_PROCS)
    seen = 0
    for p in procs:
        i = p.get("index", "?")
        if "error" in p:
            ctx.check(f"process {i} ran", False, p["error"], "no error")
            continue
        where = f"faultlab-nx-stress process {i}"
        ctx.expect_eq(
            f"process {i}: requests completed", int_field(p, "completed", where), MANY_REQS
        )
        ctx.expect_eq(
            f"process {i}: lost/bad (no CSB, bad cc, CRC mismatch, fault outside buffers)",
            int_fields(p, where, "lost", "bad_cc", "bad_crc", "faults_other"),
            (0, 0, 0, 0),
        )
        faults_src = int_field(p, "faults_src", where)
        ctx.expect_eq(f"process {i}: source faults (one per request)", faults_src, MANY_REQS)
        faults_tgt = int_field(p, "faults_tgt", where)
        ctx.check(
            f"process {i}: target faults (at least one per request)",
            faults_tgt >= MANY_REQS,
            faults_tgt,
            f">= {MANY_REQS}",
        )
        ctx.expect_eq(
            f"process {i}: faults on its CSB/CPB page (present)",
            int_field(p, "faults_blk", where),
            0,
        )
        seen += faults_src + faults_tgt
        src = guest_bytes(ctx, f"{STRESS_DIR}/src.{i}")
        out = guest_bytes(ctx, f"{STRESS_DIR}/out.{i}")
        ctx.expect_eq(
            f"process {i}: output length = the CSB's tpbc",
            len(out),
            int_field(p, "last_tpbc", where),
        )
        plain = raw_inflate(out)
        ctx.check(
            f"process {i}: last output inflates (host zlib, raw DEFLATE) to its source",
            plain == src,
            "equal" if plain == src else ("not DEFLATE" if plain is None else "different"),
            "equal",
        )
    model = qom_int(ctx, "faults") - faults_before
    ctx.expect_eq("faults counted by the model (QOM) = faults the programs saw", model, seen)
    ctx.expect_eq("fault CRBs lost", qom_int(ctx, "faults-lost") - lost_before, 0)
    check_credits_at_rest(ctx, "after the processes exited", windows_before)
    dmesg = ctx.dmesg()
    for bad in ("bad CRB?", "Fault FIFO Dump", "stuck"):
        ctx.check(f"no {bad!r} in the kernel log", bad not in dmesg, bad in dmesg, False)
    seconds = number_field(data, "seconds", "faultlab-nx-stress")

    # x-inject-fault-next: faults on pages that are present (after the touch) are resolved
    # the same way; the model counts them among its faults.
    injected_before = qom_int(ctx, "injected-faults")
    faults_before = qom_int(ctx, "faults")
    ctx.qom_set(VAS, "x-inject-fault-next", INJECTED)
    again_procs = stress_processes(stress_json(ctx, f"faults {STRESS_DIR} 1 2", timeout=300))
    if not again_procs:
        raise StepFailed("faultlab-nx-stress faults 1 2 reported no process")
    again = again_procs[0]
    ctx.expect_eq("injected: knob consumed", qom_int(ctx, "x-inject-fault-next"), 0)
    ctx.expect_eq(
        "injected: faults made by the knob (QOM injected-faults)",
        qom_int(ctx, "injected-faults") - injected_before,
        INJECTED,
    )
    ctx.expect_eq(
        "injected: both requests completed, nothing lost or bad",
        (
            again.get("completed"),
            again.get("lost"),
            again.get("bad_crc"),
            again.get("faults_other"),
        ),
        (2, 0, 0, 0),
    )
    again_seen = sum(again.get(k, 0) for k in ("faults_src", "faults_tgt", "faults_blk"))
    ctx.expect_eq(
        "injected: model's faults = the program's faults",
        qom_int(ctx, "faults") - faults_before,
        again_seen,
    )
    ctx.check(
        "injected: the program saw more faults than the 2 x 2 absent pages",
        again_seen >= 4 + INJECTED,
        again_seen,
        f">= {4 + INJECTED}",
    )
    ctx.measure("faults", seen)
    ctx.measure("seconds", round(seconds, 3))
    ctx.measure("faults_per_second", round(seen / seconds, 1) if seconds > 0 else None)


def stuck_close(ctx: ScenarioContext, kind: str, knob: str, log: str) -> None:
    """Run `stuck KIND` in the background with `knob` set to 1; the send credit never comes
    back, so vas_win_close() polls TX_WCRED (A.9). Wait for the kernel's "stuck" warning,
    check close() has not returned, return the credit and check it then does."""
    windows_before = qom_int(ctx, "open-windows")
    lost_before = qom_int(ctx, "faults-lost")
    ctx.qom_set(VAS, knob, 1)
    ctx.must("dmesg -c > /dev/null")
    ctx.must(f"setsid {NX_STRESS} stuck {kind} 3 > {log} 2>&1 < /dev/null &")

    def log_lines() -> list[str]:
        return ctx.sh(f"cat {log}").stdout.decode(errors="replace").splitlines()

    def first_done(lines: list[str]) -> bool:
        return bool(lines) and lines[0].endswith("}")

    def second_done(lines: list[str]) -> bool:
        return len(lines) > 1 and lines[1].endswith("}")

    lines = poll(
        log_lines, first_done, timeout=120, interval=1, what=f"stuck {kind}: its first line"
    )
    first = parse_json_object(f"{NX_STRESS} stuck {kind}", lines[0])
    if not first or "error" in first:
        raise StepFailed(f"stuck {kind}: {first or 'no output'}")
    ctx.expect_eq(f"{knob}: knob consumed", qom_int(ctx, knob), 0)
    if kind == "complete":
        ctx.expect_eq(
            "lose-credit: the CRB itself completed (CSB valid, cc 0)",
            int_fields(first, f"stuck {kind}", "csb_valid", "cc"),
            (1, 0),
        )
    else:
        ctx.expect_eq(
            "fifo-full: the fault CRB was refused (REJ_NO_CREDIT), so no CSB is ever written",
            int_field(first, "csb_valid", f"stuck {kind}"),
            0,
        )
        ctx.expect_eq(
            "fifo-full: the model counts the lost fault CRB",
            qom_int(ctx, "faults-lost") - lost_before,
            1,
        )
    ctx.expect_eq("one send credit withheld by the model", qom_int(ctx, "credits-withheld"), 1)

    # poll_window_credits() warns every 1000 polls of 10 ms: about 10 s.
    def stuck_warning() -> str:
        lines = ctx.dmesg().splitlines()
        return next((ln for ln in reversed(lines) if STUCK_WARNING in ln), "")

    warn = poll(stuck_warning, timeout=240, interval=2, what="the 'stuck' warning", fail=False)
    ctx.expect_in(
        f"{kind}: vas_win_close() waits for the credit (poll_window_credits warning)",
        "stuck. Waiting for credits returned for Window(",
        warn,
        "dmesg",
    )
    ctx.expect_in(
        f"{kind}: the warning names the program's pid",
        f"VAS: pid {int_field(first, 'pid', f'stuck {kind}')} ",
        warn,
        "dmesg",
    )
    ctx.expect_in(f"{kind}: the warning shows 1023 of 1024 credits", "creds 1023", warn, "dmesg")
    ctx.expect_eq(
        f"{kind}: close() has not returned while the credit is out",
        len(log_lines()),
        1,
    )
    ctx.qom_set(VAS, "x-return-withheld-credits", True)
    lines = poll(
        log_lines, second_done, timeout=60, interval=1, what="close() to return", fail=False
    )
    done = parse_json_object(f"{NX_STRESS} stuck {kind}", lines[1]) if second_done(lines) else {}
    ctx.check(
        f"{kind}: close() returned once the credit came back", bool(done), done, "close_seconds"
    )
    ctx.expect_eq(f"{kind}: no credit withheld any more", qom_int(ctx, "credits-withheld"), 0)
    check_credits_at_rest(ctx, f"{kind}: after the close", windows_before)
    if done:
        ctx.measure(
            f"{kind}_stuck_close_seconds", number_field(done, "close_seconds", f"stuck {kind}")
        )


@scenario(
    "nx/credits",
    "ppc64-powernv",
    f"up to {MANY_WINDOWS} user windows at once each with a faulting CRB in flight: every credit "
    "comes back and the windows close; closing a window with a CRB in flight does not hang; "
    "with x-inject-lose-credit or x-inject-fault-fifo-full the send credit never returns and "
    "vas_win_close() waits with the kernel's 'stuck' warning until the credit comes back",
    guest_files=(NX_STRESS,),
    needs=NEEDS,
)
def credits(ctx: ScenarioContext) -> None:
    windows_before = qom_int(ctx, "open-windows")
    faults_before = qom_int(ctx, "faults")
    check_credits_at_rest(ctx, "before", windows_before)
    lost_before = qom_int(ctx, "credits-lost")
    data = stress_json(ctx, f"windows {MANY_WINDOWS}", timeout=900)
    where = "faultlab-nx-stress windows"
    opened = int_field(data, "opened", where)
    ctx.expect_eq("user windows opened at once", opened, MANY_WINDOWS)
    ctx.expect_eq(
        "CRBs accepted by paste, one per window", int_field(data, "pasted", where), opened
    )
    ctx.expect_eq(
        "CSBs with the fault code (cc 250), one per window",
        int_field(data, "faulted", where),
        opened,
    )
    ctx.expect_eq("CSBs with another code", int_field(data, "other", where), 0)
    ctx.expect_eq(
        "in-flight close: the CRB was pasted", int_field(data, "inflight_pasted", where), 1
    )
    inflight_close = number_field(data, "inflight_close_seconds", where)
    ctx.expect_range("in-flight close: close() returned (s)", inflight_close, 0, 30)
    ctx.expect_eq(
        "faults counted by the model",
        qom_int(ctx, "faults") - faults_before,
        opened + 1,
    )
    check_credits_at_rest(ctx, "after all windows closed", windows_before)
    ctx.measure("windows_opened", opened)
    for key in ("open_seconds", "fault_seconds", "close_seconds"):
        ctx.measure(f"windows_{key}", number_field(data, key, where))
    ctx.measure("inflight_close_seconds", inflight_close)

    stuck_close(ctx, "complete", "x-inject-lose-credit", f"{STRESS_DIR}-lose.log")
    stuck_close(ctx, "fault", "x-inject-fault-fifo-full", f"{STRESS_DIR}-fifo.log")
    ctx.expect_eq(
        "model's credits-lost counter (one per injection)",
        qom_int(ctx, "credits-lost") - lost_before,
        2,
    )


THROUGHPUT_MB = 32


@scenario(
    "nx/throughput",
    "ppc64-powernv",
    f"NX-GZIP compression throughput in the guest ({THROUGHPUT_MB} MiB of text in 1 MiB "
    "COMPRESS_FHT requests) and host zlib level 1 on the same data; the output inflates to the "
    "input (sanity only: timings are measurements, not assertions)",
    guest_files=(NX_STRESS,),
    needs=NEEDS,
)
def throughput(ctx: ScenarioContext) -> None:
    ctx.must(f"rm -rf {STRESS_DIR} && mkdir -p {STRESS_DIR}")
    data = stress_json(ctx, f"throughput {STRESS_DIR} {THROUGHPUT_MB}", timeout=900)
    where = "faultlab-nx-stress throughput"
    ctx.expect_eq("requests that failed", int_field(data, "bad", where), 0)
    chunk = guest_bytes(ctx, f"{STRESS_DIR}/tp.in")
    out = guest_bytes(ctx, f"{STRESS_DIR}/tp.out")
    plain = raw_inflate(out)
    ctx.check(
        "last NX output inflates (host zlib) to its 1 MiB input",
        plain == chunk,
        "equal" if plain == chunk else ("not DEFLATE" if plain is None else "different"),
        "equal",
    )
    # The guest compressed the same 1 MiB chunk THROUGHPUT_MB times: so does the host.
    host_in = chunk * THROUGHPUT_MB
    t0 = time.perf_counter()
    host_out = sum(
        len(zlib.compress(host_in[i : i + len(chunk)], 1))
        for i in range(0, len(host_in), len(chunk))
    )
    host_s = time.perf_counter() - t0
    ctx.measure("guest_nx_mb_per_s", number_field(data, "mb_per_s", where))
    in_bytes = int_field(data, "bytes", where)
    ratio = round(int_field(data, "out_bytes", where) / in_bytes, 4) if in_bytes else None
    ctx.measure("guest_nx_ratio", ratio)
    ctx.measure("host_zlib1_mb_per_s", round(len(host_in) / host_s / 1e6, 3))
    ctx.measure("host_zlib1_ratio", round(host_out / len(host_in), 4))
