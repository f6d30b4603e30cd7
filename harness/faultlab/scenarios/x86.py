"""x86 scenarios: MOVDIRI, MOVDIR64B, ENQCMD/ENQCMDS and IA32_PASID in our QEMU's TCG
(qemu-devices/patches/0005-*), and what the unmodified idxd driver makes of them.

x86/insn-user runs faultlab-x86-insn (the CPUID bits, MOVDIR64B and MOVDIRI into memory, the
#GP and #PF cases as the signals Linux delivers, ENQCMD without a PASID and ENQCMDS at CPL 3);
x86/insn-kernel loads the faultlab_x86_insn module for what only CPL 0 can do on this kernel
(x86 SVA is off in Linux 6.12.64+, so no process gets a PASID): IA32_PASID read and write,
ENQCMD with a valid PASID and ENQCMDS to ordinary memory (status retry, nothing written), the
kernel's own movdir64b(); x86/idxd-gate checks that idxd now registers instead of refusing to
load for want of MOVDIR64B, and that the kernel keeps the ENQCMD feature idxd needs for shared
work queues.

Stores into a device portal (hw/faultlab/portal.h) wait for a device that has one (the DSA
model). A qtest cannot cover these instructions: qtest runs no CPU.
"""

from __future__ import annotations

import re
from typing import Any

from faultlab.access import int_field, int_fields
from faultlab.needs import Needs
from faultlab.scenario import ScenarioContext, StepFailed, parse_json_object, scenario

X86_INSN = "/opt/faultlab/bin/faultlab-x86-insn"
X86_INSN_MODULE = "/opt/faultlab/modules/faultlab_x86_insn.ko"
_MODULE_LINE = re.compile(r"faultlab_x86_insn: (\{.*\})")

SIGSEGV = 11
SI_KERNEL = 0x80  # si_code of a #GP turned into SIGSEGV
SEGV_MAPERR, SEGV_ACCERR = 1, 2
CPUID_7_0_ECX_MOVDIRI, CPUID_7_0_ECX_MOVDIR64B, CPUID_7_0_ECX_ENQCMD = 27, 28, 29
MSR_IA32_PASID_VALID = 1 << 31
EIO = 5


# Linux keeps X86_FEATURE_ENQCMD (the cpuinfo flag, what idxd checks for shared WQs) only with
# ARCH_HAS_CPU_PASID, which x86 selects with IOMMU_SVA: intel-iommu's SVM is what selects that.
NEEDS = Needs(options=("INTEL_IOMMU_SVM",))
# x86/insn-kernel loads faultlab_x86_insn with insmod and removes it with rmmod.
MODULE_NEEDS = NEEDS | Needs(options=("MODULES", "MODULE_UNLOAD"), modules=("faultlab_x86_insn",))


@scenario(
    "x86/insn-user",
    "x86_64",
    "CPUID advertises MOVDIRI, MOVDIR64B and ENQCMD; MOVDIR64B and MOVDIRI store into memory; a "
    "misaligned MOVDIR64B is #GP (SIGSEGV), an unmapped or read-only destination #PF; ENQCMD "
    "without a PASID and ENQCMDS at CPL 3 are #GP (SIGSEGV) and store nothing",
    guest_files=(X86_INSN,),
    needs=NEEDS,
)
def insn_user(ctx: ScenarioContext) -> None:
    data = ctx.json(X86_INSN, timeout=120)
    if "error" in data:
        raise StepFailed(f"faultlab-x86-insn: {data['error']}")
    cases = data.get("cases")
    if not isinstance(cases, list):
        raise StepFailed(f"faultlab-x86-insn printed no cases: {data!r}")
    by_name = {str(c.get("name")): c for c in cases if isinstance(c, dict)}

    def case(name: str) -> dict[str, Any]:
        if name not in by_name:
            raise StepFailed(f"faultlab-x86-insn printed no case {name!r}")
        return by_name[name]

    def ints(name: str, *keys: str) -> tuple[int, ...]:
        return int_fields(case(name), f"faultlab-x86-insn {name}", *keys)

    (ecx,) = ints("cpuid", "ecx")
    ctx.expect_eq(
        "CPUID.(7,0):ECX bits 27 MOVDIRI, 28 MOVDIR64B, 29 ENQCMD",
        [(ecx >> bit) & 1 for bit in (27, 28, 29)],
        [1, 1, 1],
    )
    cpuinfo = ctx.read("/proc/cpuinfo")
    flags = next(
        (ln.split(":", 1)[1].split() for ln in cpuinfo.splitlines() if ln.startswith("flags")), []
    )
    ctx.expect_eq(
        "/proc/cpuinfo flags movdiri, movdir64b, enqcmd",
        [f in flags for f in ("movdiri", "movdir64b", "enqcmd")],
        [True, True, True],
    )
    ctx.expect_eq(
        "MOVDIR64B to memory (unaligned source): no signal, 64 bytes stored, neighbours untouched",
        ints("movdir64b-memory", "signal", "bytes_equal", "before_untouched", "after_untouched"),
        (0, 1, 1, 1),
    )
    ctx.expect_eq(
        "MOVDIR64B to dst+8: #GP as SIGSEGV SI_KERNEL, nothing stored",
        ints("movdir64b-unaligned", "signal", "si_code", "si_addr", "untouched"),
        (SIGSEGV, SI_KERNEL, 0, 1),
    )
    signal, si_code, si_addr, expected = ints(
        "movdir64b-unmapped", "signal", "si_code", "si_addr", "expected_addr"
    )
    ctx.expect_eq(
        "MOVDIR64B to an unmapped page: #PF as SIGSEGV SEGV_MAPERR at the destination",
        (signal, si_code, hex(si_addr)),
        (SIGSEGV, SEGV_MAPERR, hex(expected)),
    )
    signal, si_code, si_addr, untouched, expected = ints(
        "movdir64b-readonly", "signal", "si_code", "si_addr", "untouched", "expected_addr"
    )
    ctx.expect_eq(
        "MOVDIR64B to a read-only page: #PF as SIGSEGV SEGV_ACCERR at the destination, unchanged",
        (signal, si_code, hex(si_addr), untouched),
        (SIGSEGV, SEGV_ACCERR, hex(expected), 1),
    )
    signal, m32, m64 = ints("movdiri", "signal", "m32", "m64")
    ctx.expect_eq(
        "MOVDIRI m32 (into 0xee..) and m64",
        (signal, hex(m32), hex(m64)),
        (0, hex(0xEEEEEEEE12345678), hex(0x0123456789ABCDEF)),
    )
    for name, what in (
        ("enqcmd-no-pasid", "ENQCMD with IA32_PASID not valid"),
        ("enqcmds-user", "ENQCMDS at CPL 3"),
    ):
        ctx.expect_eq(
            f"{what}: #GP as SIGSEGV SI_KERNEL, nothing stored",
            ints(name, "signal", "si_code", "untouched"),
            (SIGSEGV, SI_KERNEL, 1),
        )


@scenario(
    "x86/insn-kernel",
    "x86_64",
    "at CPL 0: IA32_PASID reads back what was written and rejects reserved bits; ENQCMD with a "
    "valid PASID and ENQCMDS to ordinary memory report retry (ZF=1) and store nothing; the "
    "kernel's movdir64b() stores 64 bytes",
    guest_files=(X86_INSN_MODULE,),
    needs=MODULE_NEEDS,
)
def insn_kernel(ctx: ScenarioContext) -> None:
    ctx.must(f"insmod {X86_INSN_MODULE}")
    m = _MODULE_LINE.search(ctx.dmesg())
    if not m:
        raise StepFailed("faultlab_x86_insn printed no result line")
    r = parse_json_object("faultlab_x86_insn", m.group(1))
    who = "faultlab_x86_insn"
    ctx.expect_eq(
        "IA32_PASID at boot (never written by this kernel)",
        int_field(r, "pasid_msr_before", who),
        0,
    )
    ctx.expect_eq(
        "IA32_PASID after wrmsr(0x1234 | valid)",
        hex(int_field(r, "pasid_msr_readback", who)),
        hex(0x1234 | MSR_IA32_PASID_VALID),
    )
    ctx.expect_eq(
        "wrmsr IA32_PASID with reserved bit 20: #GP (wrmsr_safe -EIO)",
        int_field(r, "pasid_msr_reserved", who),
        -EIO,
    )
    ctx.expect_eq(
        "ENQCMD (valid PASID) to memory: ZF=1 (retry), nothing stored",
        (int_field(r, "enqcmd_zf", who), int_field(r, "enqcmd_untouched", who)),
        (1, 1),
    )
    ctx.expect_eq(
        "ENQCMDS to memory: ZF=1 (retry), nothing stored",
        (int_field(r, "enqcmds_zf", who), int_field(r, "enqcmds_untouched", who)),
        (1, 1),
    )
    ctx.expect_eq(
        "kernel movdir64b() to memory: 64 bytes stored", int_field(r, "movdir64b_equal", who), 1
    )
    ctx.expect_eq("X86_FEATURE_ENQCMD kept by the kernel", int_field(r, "enqcmd_feature", who), 1)
    ctx.must("rmmod faultlab_x86_insn")


@scenario(
    "x86/idxd-gate",
    "x86_64",
    "with MOVDIR64B and ENQCMD advertised the unmodified idxd driver registers (no 'failed to "
    "load without MOVDIR64B', no 'Platform does not have ENQCMD(S) support')",
    needs=NEEDS,
)
def idxd_gate(ctx: ScenarioContext) -> None:
    dmesg = ctx.dmesg()
    for line in (
        "idxd driver failed to load without MOVDIR64B",
        "Platform does not have ENQCMD(S) support",
    ):
        ctx.expect_absent(f"dmesg has no {line!r}", line, dmesg)
    registered = ctx.sh("test -d /sys/bus/pci/drivers/idxd").exit_code == 0
    ctx.check(
        "idxd registered: /sys/bus/pci/drivers/idxd exists",
        registered,
        "present" if registered else "absent",
        "present",
    )
    bus = ctx.sh("test -d /sys/bus/dsa").exit_code == 0
    ctx.check(
        "the dsa bus (idxd_bus) is registered: /sys/bus/dsa exists",
        bus,
        "present" if bus else "absent",
        "present",
    )
