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

import hashlib

from faultlab.scenario import ScenarioContext, StepFailed, scenario
from faultlab.scenarios.pseries import (
    GUNZ,
    GZFHT,
    PARALLEL,
    PARALLEL_SIZE,
    SIZES,
    WORKDIR,
    check_fault_cases,
    guest_bytes,
    host_gunzip,
    round_trip,
)

VAS = "/machine/chip[0]/vas"
# skiboot's P9 (Nimbus) map for chip 0: HV window contexts, user window contexts, paste base.
HVWC_BASE = 0x0006019100000000
UWC_BASE = 0x0006019000000000
PASTE_BASE = 0x0008000000000000
DT_VAS = f"/proc/device-tree/vas@{HVWC_BASE:x}"
NX_GZIP_CT = 2
NX_FAULT = "/opt/faultlab/bin/faultlab-nx-fault"


def qom_int(ctx: ScenarioContext, prop: str) -> int:
    value = ctx.qom_get(VAS, prop)
    if not isinstance(value, int):
        raise StepFailed(f"qom-get {VAS} {prop} returned {value!r}")
    return value


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
        ctx.check(f"no VAS/NX probe error ({bad!r}) in dmesg", bad not in dmesg, "absent", "absent")


@scenario(
    "nx/selftests",
    "ppc64-powernv",
    "skiboot and the kernel bring up VAS and NX from our xscom units; the kernel's nx-gzip "
    "selftests compress and decompress through /dev/crypto/nx-gzip windows, COPY/PASTE and "
    "the NX-GZIP engine; the host's gzip -d accepts the output",
    guest_files=(GZFHT, GUNZ),
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

    for bs, size in SIZES:
        path = f"{WORKDIR}/nx-tempfile.0.{bs}"
        ctx.must(f"dd if=/dev/urandom of={path} bs={bs} count=1 2>/dev/null")
        round_trip(ctx, f"random {bs}", path, size)

    text = f"{WORKDIR}/text"
    ctx.must(f"yes 'faultlab powernv nx-gzip line' | head -c 1000000 > {text}")
    size = int(ctx.must(f"wc -c < {text}").strip())
    comp = round_trip(ctx, "text", text, size)
    ctx.check(
        "text: NX output at most a tenth of the input",
        comp.gzip_bytes * 10 <= size,
        comp.gzip_bytes,
        f"<= {size // 10}",
    )
    original = guest_bytes(ctx, text)
    status, plain, err = host_gunzip(guest_bytes(ctx, f"{text}.nx.gz"))
    ctx.expect_eq("host gzip -d accepts the guest's NX output", (status, err), (0, ""))
    ctx.expect_eq(
        "host gzip -d output = the guest's original (sha256)",
        hashlib.sha256(plain).hexdigest(),
        hashlib.sha256(original).hexdigest(),
    )

    bs, size = PARALLEL_SIZE
    jobs = []
    for i in range(1, PARALLEL + 1):
        p = f"{WORKDIR}/nx-tempfile.{i}.{bs}"
        jobs.append(
            f"(cd {WORKDIR} && dd if=/dev/urandom of={p} bs={bs} count=1 2>/dev/null && "
            f"{GZFHT} {p} && "
            f"{GUNZ} {p}.nx.gz && cmp {p} {p}.nx.gz.nx.gunzip && echo ok-{i}) "
            f"> {p}.log 2>&1 &"
        )
    ctx.must(" ".join(jobs) + " wait", timeout=900)
    for i in range(1, PARALLEL + 1):
        log = ctx.read(f"{WORKDIR}/nx-tempfile.{i}.{bs}.log")
        ctx.expect_in(
            f"parallel {i}: gzfht_test, gunz_test and cmp all succeeded", f"ok-{i}", log, "its log"
        )

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
        ctx.check(
            f"no vas-fault complaint ({bad!r}) in the kernel log",
            bad not in dmesg,
            "absent" if bad not in dmesg else "present",
            "absent",
        )
