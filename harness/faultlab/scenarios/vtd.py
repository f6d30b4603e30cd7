"""VT-d page request scenarios: faultlab-dma SVA DMA whose faults become PCIe page requests.

The x86_64 guest gets the platform's intel-iommu with page requests (x-prs, 20-bit PASIDs,
SMPWC, device TLBs: qemu-devices/patches/0006-*) and a faultlab-dma engine with ATS and PRI
(qemu-devices/docs/faultlab-dma.md). The unmodified intel-iommu driver enables IOPF (PRI)
and SVA for the engine; the faultlab_dma module binds the opening process; the program
faultlab-smmu (shared with the smmu group: it only talks to /dev/faultlab-dma) runs a case.
Each fault on a not-present page is a page request descriptor in the page request queue,
handled by Linux's prq thread and answered with a page group response that makes the
engine retry. The x86_64 kernel has no kprobes, so the driver's kprobe counts of reported
faults and responses are not available here; the IOMMU's own QOM counters (page requests
written, responses matched, overflows) take their place.
"""

from __future__ import annotations

from typing import Any

from faultlab import smmu_results as sr
from faultlab.scenario import ScenarioContext, StepFailed, scenario
from faultlab.scenarios.smmu import DMA, DMA_ID, GUEST_FILES, PROBE_LINE, decoded, program

# The intel-iommu is the platform's first -device and has no id (platforms.py).
VTD = "/machine/peripheral-anon/device[0]"
VTD_COUNTERS = ("prq-requests", "prq-responses", "prq-overflows")
QEMU_ARGS = ("-device", f"faultlab-dma,id={DMA_ID}")
PAGES = 64
DONTNEED_PAGES = 32


def vtd_scenario(name: str, summary: str) -> Any:
    return scenario(f"vtd/{name}", "x86_64", summary, qemu_args=QEMU_ARGS, guest_files=GUEST_FILES)


def counters(ctx: ScenarioContext) -> dict[str, int]:
    out: dict[str, int] = {}
    for path, names in ((VTD, VTD_COUNTERS), (DMA, sr.DMA_COUNTERS)):
        for name in names:
            value = ctx.qom_get(path, name)
            if not isinstance(value, int):
                raise StepFailed(f"qom-get {path} {name} returned {value!r}")
            out[name] = value
    return out


def copy_case(ctx: ScenarioContext, label: str, data: Any, length: int, faults: int) -> sr.Run:
    run = decoded(label, sr.Run.decode, sr.get_obj(data, "run"))
    cmp = decoded(label, sr.Compare.decode, sr.get_obj(data, "compare"))
    drv = decoded(label, sr.Counters.decode, sr.get_obj(data, "counters"))
    for e in sr.expect_copy_done(label, run, cmp, length, faults):
        ctx.check(e.name, e.ok, e.observed, e.expected)
    ctx.expect_eq(f"{label}: driver stalls counter", drv.delta("stalls"), faults)
    ctx.expect_eq(f"{label}: completions without an interrupt", drv.delta("lost_irqs"), 0)
    return run


@vtd_scenario(
    "prq-retry",
    "SVA DMA into untouched and MADV_DONTNEED'd memory: one VT-d page request per page, "
    "the guest faults the page in and answers success, the engine retries, every byte lands",
)
def prq_retry(ctx: ScenarioContext) -> None:
    if ctx.qom_get(VTD, "type") != "intel-iommu":
        raise StepFailed(f"{VTD} is not the intel-iommu")
    ctx.must("insmod /opt/faultlab/modules/faultlab_dma.ko")
    ctx.expect_in("faultlab_dma probed with IOPF and SVA", PROBE_LINE, ctx.dmesg(), "dmesg")
    start = counters(ctx)

    n = PAGES
    data = program(ctx, f"untouched {n}")
    run = copy_case(ctx, "untouched", data, n * sr.PAGE, n)
    src = decoded("untouched", sr.Compare.decode, sr.get_obj(data, "src_compare"))
    ctx.expect_eq("untouched: source intact", src.mismatches, 0)
    ctx.measure("untouched_pages", n)
    ctx.measure("untouched_us", run.elapsed_us)
    if run.elapsed_us:
        ctx.measure("untouched_faults_per_s", round(run.stalls * 1e6 / run.elapsed_us))

    m = DONTNEED_PAGES
    data = program(ctx, f"dontneed {m}")
    subs = sr.get_obj(data, "subcases")
    copy_case(ctx, "dontneed dst", sr.get_obj(subs, "dst", "subcases"), m * sr.PAGE, m)
    copy_case(ctx, "dontneed src", sr.get_obj(subs, "src", "subcases"), m * sr.PAGE, m)

    total = n + 2 * m
    end = counters(ctx)
    delta = {k: end[k] - start[k] for k in end}
    ctx.expect_eq("page requests written by VT-d", delta["prq-requests"], total)
    ctx.expect_eq("page group responses matched by VT-d", delta["prq-responses"], total)
    ctx.expect_eq("page request queue overflows", delta["prq-overflows"], 0)
    ctx.expect_eq("device stalls (QOM)", delta["stalls"], total)
    ctx.expect_eq("device commands ending in FAULT (QOM)", delta["faults"], 0)
