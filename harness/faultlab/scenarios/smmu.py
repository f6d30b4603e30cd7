"""SMMUv3 stall model scenarios: faultlab-dma DMA with SVA that stalls on unpopulated pages.

The aarch64 guest gets an SMMUv3 with substreams and the stall model forced
(IDR0.STALL_MODEL = 2, qemu-devices/patches/0002-*) and a faultlab-dma engine
(qemu-devices/docs/faultlab-dma.md). The faultlab_dma module binds each opening process with
SVA; the program faultlab-smmu runs one case per call and prints what the device, the driver
and the bytes say. Every stall must be reported to the IOMMU core once and answered once: the
scenarios compare the device's stall count, the driver's kprobe counts (faults reported,
responses by code) and the SMMU's own counters (QOM), and check the copied bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from faultlab import judge
from faultlab import smmu_results as sr
from faultlab.access import bool_field, dict_field, int_field, qom_ints
from faultlab.needs import Needs
from faultlab.scenario import ScenarioContext, StepFailed, scenario

PROGRAM = "/opt/faultlab/bin/faultlab-smmu"
MODULE = "/opt/faultlab/modules/faultlab_dma.ko"
SYSFS = "/sys/class/misc/faultlab-dma/device/faultlab"
SMMU = "/machine/smmuv3"
DMA_ID = "fdma0"
DMA = f"/machine/peripheral/{DMA_ID}"

# The aarch64 platform's SMMUv3 already has substreams, the stall model forced and a 52-bit
# OAS (platforms.py); the scenarios add the DMA engine.
QEMU_ARGS = ("-device", f"faultlab-dma,id={DMA_ID}")
GUEST_FILES = (PROGRAM, MODULE)
PROBE_LINE = "IOPF and SVA enabled, /dev/faultlab-dma"
# The page_response op of the IOMMU driver the device sits behind, which faultlab_dma probes.
RESPONSE_PROBE = "arm_smmu_page_response"


# What the kernel needs (beyond the aarch64 platform's SMMUv3 with SVA): faultlab_dma, loaded
# with insmod, enables IOPF and SVA for the engine (arm-smmu-v3 gives a PCI master substreams
# only through its PASID capability) and counts faults and responses with kprobes ("kprobes
# armed"); faultlab-smmu drops pages with madvise(MADV_DONTNEED).
NEEDS = Needs(
    options=("MODULES", "ARM_SMMU_V3_SVA", "PCI_PASID", "KPROBES", "ADVISE_SYSCALLS"),
    modules=("faultlab_dma",),
)
# smmu/file-backed: a tmpfs (shmem) file, the fault-around size from debugfs.
FILE_NEEDS = NEEDS | Needs(options=("TMPFS", "SHMEM", "DEBUG_FS"))


def smmu_scenario(name: str, summary: str, needs: Needs = NEEDS, append: str = "") -> Any:
    return scenario(
        f"smmu/{name}",
        "aarch64",
        summary,
        qemu_args=QEMU_ARGS,
        append=append,
        guest_files=GUEST_FILES,
        needs=needs,
    )


def apply(ctx: ScenarioContext, expects: Iterable[sr.Expect]) -> None:
    for e in expects:
        ctx.check(e.name, e.ok, e.observed, e.expected)


def program(ctx: ScenarioContext, args: str, timeout: float = 300.0) -> Mapping[str, Any]:
    data = ctx.json(f"{PROGRAM} {args}", timeout)
    try:
        sr.check_no_error(data)
    except sr.DecodeError as exc:
        raise StepFailed(f"`faultlab-smmu {args}`: {exc}") from None
    return data


def decoded(what: str, fn: Any, *args: Any) -> Any:
    """fn(*args), with `what` (the case) put in front of the message of a failed decode."""
    try:
        return fn(*args)
    except StepFailed as exc:
        raise StepFailed(f"{what}: {exc}") from None


class Snapshot:
    """SMMU and device QOM counters at one moment."""

    def __init__(self, ctx: ScenarioContext) -> None:
        self.smmu = qom_ints(ctx, SMMU, sr.SMMU_COUNTERS)
        self.dma = qom_ints(ctx, DMA, sr.DMA_COUNTERS)

    def since(self, earlier: Snapshot) -> tuple[dict[str, int], dict[str, int]]:
        return sr.qom_delta(earlier.smmu, self.smmu), sr.qom_delta(earlier.dma, self.dma)


def load_driver(ctx: ScenarioContext, response_probe: str) -> None:
    """Load the driver, check it probed the device with IOPF + SVA and armed its kprobes
    (on iommu_report_device_fault and on `response_probe`, the IOMMU driver's page_response)."""
    ctx.must(f"insmod {MODULE}")
    dmesg = ctx.dmesg()
    ctx.expect_in("faultlab_dma probed with IOPF and SVA", PROBE_LINE, dmesg, "dmesg")
    ctx.expect_eq(
        "kprobes armed",
        ctx.read(f"{SYSFS}/kprobes"),
        f"iommu_report_device_fault=0 {response_probe}=0",
    )


def setup(ctx: ScenarioContext) -> Snapshot:
    load_driver(ctx, RESPONSE_PROBE)
    return Snapshot(ctx)


def expect_qom(
    ctx: ScenarioContext,
    label: str,
    start: Snapshot,
    *,
    stalls: int,
    retry: int,
    abort: int,
    device_faults: int,
) -> Snapshot:
    end = Snapshot(ctx)
    smmu, dma = end.since(start)
    apply(ctx, sr.expect_smmu(label, smmu, end.smmu, stalls=stalls, retry=retry, abort=abort))
    ctx.expect_eq(f"{label}: device stalls (QOM)", dma["stalls"], stalls)
    ctx.expect_eq(f"{label}: device commands ending in FAULT (QOM)", dma["faults"], device_faults)
    return end


def copy_case(
    ctx: ScenarioContext, label: str, data: Mapping[str, Any], length: int, stalls: int
) -> sr.Run:
    run = decoded(label, sr.Run.decode, dict_field(data, "run"))
    cmp = decoded(label, sr.Compare.decode, dict_field(data, "compare"))
    counters = decoded(label, sr.Counters.decode, dict_field(data, "counters"))
    apply(ctx, sr.expect_copy_done(label, run, cmp, length, stalls))
    apply(
        ctx, sr.expect_fault_accounting(label, counters, stalls=stalls, success=stalls, invalid=0)
    )
    return run


# -- scenarios -----------------------------------------------------------------------------

STALL_PAGES = 64
DONTNEED_PAGES = 32


@smmu_scenario(
    "stall-retry",
    "DMA into untouched and MADV_DONTNEED'd memory stalls once per page, the guest "
    "faults the page in, the SMMU retries, every byte lands",
)
def stall_retry(ctx: ScenarioContext) -> None:
    start = setup(ctx)
    n = STALL_PAGES
    data = program(ctx, f"untouched {n}")
    run = copy_case(ctx, "untouched", data, n * sr.PAGE, n)
    src = decoded("untouched", sr.Compare.decode, dict_field(data, "src_compare"))
    ctx.expect_eq("untouched: source intact", src.mismatches, 0)
    ctx.measure("untouched_pages", n)
    ctx.measure("untouched_us", run.elapsed_us)
    if run.elapsed_us:
        ctx.measure("untouched_faults_per_s", round(run.stalls * 1e6 / run.elapsed_us))

    m = DONTNEED_PAGES
    data = program(ctx, f"dontneed {m}")
    subs = dict_field(data, "subcases")
    dst = dict_field(subs, "dst", "subcases")
    copy_case(ctx, "dontneed dst (copy of the source)", dst, m * sr.PAGE, m)
    srcd = dict_field(subs, "src", "subcases")
    copy_case(ctx, "dontneed src (copy of zeros)", srcd, m * sr.PAGE, m)
    zero = decoded("dontneed src", sr.Compare.decode, dict_field(srcd, "src_zero"))
    ctx.expect_eq(
        "dontneed src: source reads zeros", (zero.nbytes, zero.mismatches), (m * sr.PAGE, 0)
    )

    total = n + 2 * m
    expect_qom(ctx, "all copies", start, stalls=total, retry=total, abort=0, device_faults=0)


def abort_case(ctx: ScenarioContext, case: str, addr_key: str) -> Mapping[str, Any]:
    start = setup(ctx)
    data = program(ctx, case)
    run = decoded(case, sr.Run.decode, dict_field(data, "run"))
    counters = decoded(case, sr.Counters.decode, dict_field(data, "counters"))
    addr = int_field(data, addr_key)
    apply(ctx, sr.expect_copy_aborted(case, run, addr))
    apply(ctx, sr.expect_fault_accounting(case, counters, stalls=1, success=0, invalid=1))
    ctx.expect_eq(f"{case}: driver faults counter", counters.delta("faults"), 1)
    ctx.expect_eq(
        f"{case}: fault address seen by the IOMMU core",
        ctx.read(f"{SYSFS}/last_fault_addr"),
        hex(addr),
    )
    expect_qom(ctx, case, start, stalls=1, retry=0, abort=1, device_faults=1)
    return data


@smmu_scenario(
    "unmapped-abort",
    "DMA into a hole of the address space: the guest answers the stall with abort, the "
    "command faults at the hole and writes nothing",
)
def unmapped_abort(ctx: ScenarioContext) -> None:
    data = abort_case(ctx, "unmapped", "hole_addr")
    guard = decoded("unmapped", sr.Compare.decode, dict_field(data, "guard"))
    ctx.expect_eq(
        "unmapped: guard pages around the hole untouched",
        (guard.nbytes, guard.mismatches),
        (2 * sr.PAGE, 0),
    )
    ctx.expect_eq("unmapped: hole still unmapped", bool_field(data, "hole_still_unmapped"), True)


@smmu_scenario(
    "readonly-abort",
    "DMA write into a read-only page: the guest answers the stall with abort, the page "
    "keeps its contents",
)
def readonly_abort(ctx: ScenarioContext) -> None:
    data = abort_case(ctx, "readonly", "target_addr")
    cmp = decoded("readonly", sr.Compare.decode, dict_field(data, "compare"))
    ctx.expect_eq("readonly: page unchanged", (cmp.nbytes, cmp.mismatches), (sr.PAGE, 0))


FILE_PAGES = 64
FAULT_AROUND_BYTES = "/sys/kernel/debug/fault_around_bytes"


@smmu_scenario(
    "file-backed",
    "DMA reads a never-touched shared file mapping (tmpfs): read faults through the page "
    "cache, one per fault-around window, every byte right",
    FILE_NEEDS,
)
def file_backed(ctx: ScenarioContext) -> None:
    start = setup(ctx)
    n = FILE_PAGES
    # The expectation comes from what the harness knows, not from the program's report: the
    # length it told the program to copy, the kernel's fault-around window read here, and the
    # address the source file was mapped at. The observations it is compared with are the
    # device's stall count, the driver's and the SMMU's counters and the bytes copied.
    fab = ctx.read_int(FAULT_AROUND_BYTES)
    if fab < sr.PAGE or fab & (fab - 1):
        raise StepFailed(f"{FAULT_AROUND_BYTES} is {fab}, not a power of two >= {sr.PAGE}")
    data = program(ctx, f"file {n}")
    run = decoded("file", sr.Run.decode, dict_field(data, "run"))
    windows = sr.fault_windows(int_field(data, "src_addr"), n * sr.PAGE, fab)
    copy_case(ctx, "file", data, n * sr.PAGE, windows)
    ctx.measure("file_fault_around_bytes", fab)
    ctx.measure("file_fault_windows", windows)
    ctx.measure("file_read_faults", run.stalls)
    expect_qom(ctx, "file", start, stalls=windows, retry=windows, abort=0, device_faults=0)


MANY_PROCS = 8  # every channel of the device
MANY_PAGES = 512


def many_case(
    ctx: ScenarioContext, label: str, procs: int, pages: int, start: Snapshot
) -> Mapping[str, Any]:
    data = program(ctx, f"many {procs} {pages}", timeout=600.0)
    apply(ctx, decoded(label, sr.expect_many, data, procs, pages))
    counters = decoded(label, sr.Counters.decode, dict_field(data, "counters"))
    total = procs * pages
    apply(ctx, sr.expect_fault_accounting(label, counters, stalls=total, success=total, invalid=0))
    expect_qom(ctx, label, start, stalls=total, retry=total, abort=0, device_faults=0)
    return data


@smmu_scenario(
    "many-faults",
    f"{MANY_PROCS} processes copy {MANY_PAGES} untouched pages each at once: every fault "
    "resolved exactly once (device = guest reports = success responses = SMMU resumes)",
)
def many_faults(ctx: ScenarioContext) -> None:
    start = setup(ctx)
    data = many_case(ctx, "many", MANY_PROCS, MANY_PAGES, start)
    ctx.measure("many_processes", MANY_PROCS)
    ctx.measure("many_pages_total", MANY_PROCS * MANY_PAGES)
    ctx.measure("many_wall_us", int_field(data, "wall_us"))
    ctx.measure("many_faults_per_s", int_field(data, "faults_per_s"))


HOLD_TIMEOUT_MS = 500
# The driver waits at most 2 s for a channel to stop after ABORT and then retires it; close()
# of the file whose channel was retired has nothing left to wait for.
CLOSE_LIMIT_US = 1_000_000


@smmu_scenario(
    "never-resumed",
    "the SMMU loses the record of a stall (x-inject-drop-stall-events): the command times "
    "out, ABORT cannot end the held access (IHI0070 stall model), the driver retires the "
    "channel, close() returns, the SMMU still holds the access, the bench works on",
)
def never_resumed(ctx: ScenarioContext) -> None:
    start = setup(ctx)
    ctx.qom_set(SMMU, "x-inject-drop-stall-events", 1)
    data = program(ctx, f"-t {HOLD_TIMEOUT_MS} hold")
    apply(ctx, decoded("hold", sr.expect_hold, data, CLOSE_LIMIT_US))
    ctx.expect_eq("injection used up", ctx.qom_get(SMMU, "x-inject-drop-stall-events"), 0)
    ctx.measure("hold_ioctl_wall_us", int_field(dict_field(data, "run"), "wall_us"))
    ctx.measure("hold_close_us", int_field(data, "close_us"))
    # The access stays held (only CMD_RESUME, CMD_STALL_TERM or SMMUEN 1->0 end it, and
    # nothing reported it to Linux): one stall, none answered, one held; the device's command
    # did not end.
    end = Snapshot(ctx)
    smmu, dma = end.since(start)
    apply(ctx, sr.expect_smmu("held", smmu, end.smmu, stalls=1, retry=0, abort=0, held=1))
    ctx.expect_eq("held: device stalls (QOM)", dma["stalls"], 1)
    ctx.expect_eq("held: device commands ending in FAULT (QOM)", dma["faults"], 0)
    ctx.expect_eq("held: driver open files after close", ctx.read_int(f"{SYSFS}/open_files"), 0)
    dmesg = ctx.dmesg()
    ctx.expect_in("held: driver retired the channel", "did not stop", dmesg, "dmesg")
    hung = [ln for ln in dmesg.splitlines() if judge.classify(ln) == "hung_task"]
    ctx.expect_eq("no hung task reported", hung, [])
    # The bench works again on the other channels: the next command stalls and is resumed.
    n = 8
    data = program(ctx, f"untouched {n}")
    copy_case(ctx, "after the held stall", data, n * sr.PAGE, n)
    after = Snapshot(ctx)
    smmu, dma = after.since(end)
    apply(
        ctx,
        sr.expect_smmu(
            "after the held stall", smmu, after.smmu, stalls=n, retry=n, abort=0, held=1
        ),
    )
    ctx.expect_eq("after the held stall: device stalls (QOM)", dma["stalls"], n)


EVTQ_FULL = 2
EVTQ_PROCS = 4
EVTQ_PAGES = 64


@smmu_scenario(
    "evtq-overflow",
    f"the Event queue is found full {EVTQ_FULL} times (x-inject-evtq-full) while "
    f"{EVTQ_PROCS} processes stall: stall records are not lost (IHI0070 7.4), they wait "
    "for room, no overflow is signalled, every stall is answered once",
)
def evtq_overflow(ctx: ScenarioContext) -> None:
    start = setup(ctx)
    # Fewer injected "full" findings than processes: a record that waits is written at the
    # next write attempt that finds room (another process's stall, or the driver's CONS).
    ctx.qom_set(SMMU, "x-inject-evtq-full", EVTQ_FULL)
    data = many_case(ctx, "evtq full", EVTQ_PROCS, EVTQ_PAGES, start)
    ctx.measure("evtq_wall_us", int_field(data, "wall_us"))
    ctx.measure("evtq_faults_per_s", int_field(data, "faults_per_s"))
    ctx.expect_eq("evtq full: injection used up", ctx.qom_get(SMMU, "x-inject-evtq-full"), 0)
    end = Snapshot(ctx)
    smmu, _ = end.since(start)
    ctx.expect_eq("evtq full: records lost (overflows)", smmu["evtq-overflows"], 0)
    dmesg = ctx.dmesg()
    ctx.expect_absent("evtq full: the driver saw no overflow", "EVTQ overflow detected", dmesg)


STORM_CYCLES = 400
STORM_STALLED_CYCLES = 100
STORM_PAGES = 8
STORM_HOGS = 2


@smmu_scenario(
    "close-storm",
    f"the SVA teardown race: {STORM_CYCLES} x open / DMA into untouched memory / close, "
    f"then {STORM_STALLED_CYCLES} x close and exit while a fault is in flight, with "
    f"{STORM_HOGS} CPU hogs and init_on_free=1: every cycle ends, every stall is answered "
    "once, nothing stays held, no oops",
    append="init_on_free=1",
)
def close_storm(ctx: ScenarioContext) -> None:
    """A held stall ends only through CMD_RESUME, CMD_STALL_TERM or SMMUEN=0 (IHI0070
    stall model): the engine's ABORT cannot retire it, so release() waits for the IOPF
    path's response and flushes the IOPF queue before iommu_sva_unbind_device() (whose
    kernel-doc asks that outstanding page requests for the PASID be flushed). Freed memory
    is poisoned (init_on_free=1) so that a fault handled after the unbind oopses rather than
    reads stale data."""
    load_driver(ctx, RESPONSE_PROBE)
    ctx.expect_in(
        "init_on_free on the kernel command line",
        "init_on_free=1",
        ctx.read("/proc/cmdline"),
        "/proc/cmdline",
    )
    for mode, cycles in (
        ("close", STORM_CYCLES),
        ("stalled-close", STORM_STALLED_CYCLES),
        ("stalled-exit", STORM_STALLED_CYCLES),
    ):
        start = Snapshot(ctx)
        data = program(ctx, f"storm {mode} {cycles} {STORM_PAGES} {STORM_HOGS}", timeout=900.0)
        end = Snapshot(ctx)
        smmu, dma = end.since(start)
        apply(ctx, decoded(mode, sr.expect_storm, mode, data, cycles, smmu, end.smmu, dma))
        ctx.expect_eq(
            f"{mode}: driver open files after the storm", ctx.read_int(f"{SYSFS}/open_files"), 0
        )
        key = mode.replace("-", "_")
        ctx.measure(f"{key}_cycles", cycles)
        ctx.measure(f"{key}_wall_us", int_field(data, "wall_us"))
        ctx.measure(f"{key}_stalls", smmu["stalls-total"])
        ctx.measure(f"{key}_end_us_max", int_field(data, "end_us_max"))
