"""VT-d page request scenarios: faultlab-dma SVA DMA whose faults become PCIe page requests.

The x86_64 guest gets the platform's intel-iommu with page requests (x-prs, 20-bit PASIDs,
SMPWC, device TLBs: qemu-devices/patches/0006-*) and a faultlab-dma engine with ATS and PRI
(qemu-devices/docs/faultlab-dma.md). The unmodified intel-iommu driver enables IOPF (PRI)
and SVA for the engine; the faultlab_dma module binds the opening process; the program
faultlab-smmu (shared with the smmu group: it only talks to /dev/faultlab-dma) runs a case.
Each fault on a not-present page is a page request descriptor in the page request queue,
handled by Linux's prq thread and answered with a page group response that makes the
engine retry. As in the smmu group, every fault must be reported once and answered once: the
scenario compares the device's stall count, the driver's kprobe counts (faults given to
iommu_report_device_fault, responses passed to intel_iommu_page_response, by code) and the
VT-d model's own QOM counters (page requests written, page group responses matched, queue
overflows), and checks the copied bytes.
"""

from __future__ import annotations

from typing import Any

from faultlab import smmu_results as sr
from faultlab.access import dict_field, qom_ints
from faultlab.needs import Needs, PatchNeed
from faultlab.scenario import ScenarioContext, StepFailed, scenario
from faultlab.scenarios.smmu import (
    DMA,
    DMA_ID,
    GUEST_FILES,
    SYSFS,
    copy_case,
    decoded,
    load_driver,
    program,
)

# The intel-iommu is the platform's first -device and has no id (platforms.py).
VTD = "/machine/peripheral-anon/device[0]"
VTD_COUNTERS = ("prq-requests", "prq-responses", "prq-overflows")
# The page_response op of intel-iommu, which faultlab_dma probes on x86.
RESPONSE_PROBE = "intel_iommu_page_response"
# The driver's sysfs counters the totals compare (stalls: the device's STALLS registers).
DRIVER_TOTALS = ("stalls", "iopf_reported", "resp_success", "resp_invalid", "resp_failure")
QEMU_ARGS = ("-device", f"faultlab-dma,id={DMA_ID}")
PAGES = 64
DONTNEED_PAGES = 32


# SVA bind is refused on x86 by 6.12.64+ stable kernels (not by mainline): the test-only patch
# guest-kernel/patches/x86_64/0001-* lifts it; faultlab_dma binds every opening process.
SVA_BIND = PatchNeed("FAULTLAB_SVA_BIND_X86", since="6.12.64", until="6.13")
# faultlab_dma (insmod) enables IOPF and SVA: intel-iommu needs the engine's ATS, PRI and PASID
# capabilities, which Linux sees only through extended config space (MMCONFIG), and SVM; it
# counts faults and responses with kprobes; faultlab-smmu drops pages with MADV_DONTNEED.
NEEDS = Needs(
    options=(
        "MODULES",
        "INTEL_IOMMU_SVM",
        "PCI_MMCONFIG",
        "PCI_ATS",
        "PCI_PRI",
        "PCI_PASID",
        "KPROBES",
        "ADVISE_SYSCALLS",
    ),
    modules=("faultlab_dma",),
    patches=(SVA_BIND,),
)


def vtd_scenario(name: str, summary: str) -> Any:
    return scenario(
        f"vtd/{name}",
        "x86_64",
        summary,
        qemu_args=QEMU_ARGS,
        guest_files=GUEST_FILES,
        needs=NEEDS,
    )


def counters(ctx: ScenarioContext) -> dict[str, int]:
    """The VT-d model's and the device's QOM counters and the driver's sysfs counters."""
    out = qom_ints(ctx, VTD, VTD_COUNTERS)
    out.update(qom_ints(ctx, DMA, sr.DMA_COUNTERS))
    out.update({f"driver {k}": ctx.read_int(f"{SYSFS}/{k}") for k in DRIVER_TOTALS})
    return out


@vtd_scenario(
    "prq-retry",
    "SVA DMA into untouched and MADV_DONTNEED'd memory: one VT-d page request per page, "
    "the guest faults the page in and answers success, the engine retries, every byte lands",
)
def prq_retry(ctx: ScenarioContext) -> None:
    if ctx.qom_get(VTD, "type") != "intel-iommu":
        raise StepFailed(f"{VTD} is not the intel-iommu")
    load_driver(ctx, RESPONSE_PROBE)
    start = counters(ctx)

    n = PAGES
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
    copy_case(ctx, "dontneed dst", dict_field(subs, "dst", "subcases"), m * sr.PAGE, m)
    copy_case(ctx, "dontneed src", dict_field(subs, "src", "subcases"), m * sr.PAGE, m)

    total = n + 2 * m
    end = counters(ctx)
    delta = {k: end[k] - start[k] for k in end}
    ctx.expect_eq("page requests written by VT-d", delta["prq-requests"], total)
    ctx.expect_eq("page group responses matched by VT-d", delta["prq-responses"], total)
    ctx.expect_eq("page request queue overflows", delta["prq-overflows"], 0)
    ctx.expect_eq("device stalls (QOM)", delta["stalls"], total)
    ctx.expect_eq("device commands ending in FAULT (QOM)", delta["faults"], 0)
    # The guest's and the model's accounts of the same faults, side by side.
    ctx.expect_eq(
        "faults reported to the IOMMU core (kprobe) = page requests (VT-d) = stalls (device)",
        (delta["driver iopf_reported"], delta["prq-requests"], delta["driver stalls"]),
        (delta["stalls"],) * 3,
    )
    ctx.expect_eq(
        "success responses sent (kprobe) = page group responses matched (VT-d)",
        delta["driver resp_success"],
        delta["prq-responses"],
    )
    ctx.expect_eq(
        "invalid/failure responses sent (kprobe)",
        (delta["driver resp_invalid"], delta["driver resp_failure"]),
        (0, 0),
    )
