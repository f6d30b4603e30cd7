"""The IOMMUs of the bench's platforms, as configured by the harness, read through qtest.

These pin down what the later fault models build on: VT-d in scalable mode with
PASID and first-stage translation on q35, and an SMMUv3 with stage 1 on virt.
"""

from __future__ import annotations

import pytest
from faultlab.platforms import PLATFORMS
from faultlab.qtest import QTest

from .conftest import need_qemu

pytestmark = pytest.mark.qtest

VTD_BASE = 0xFED90000
VTD_VER, VTD_CAP, VTD_ECAP, VTD_GSTS = 0x00, 0x08, 0x10, 0x1C
SMMU_BASE = 0x09050000
SMMU_IDR0, SMMU_IDR1, SMMU_CR0, SMMU_CR0ACK = 0x0, 0x4, 0x20, 0x24


def bit(value: int, n: int) -> int:
    return (value >> n) & 1


def platform_iommu_args(name: str) -> list[str]:
    """The -machine and -device arguments the harness uses for a platform's IOMMU."""
    p = PLATFORMS[name]
    args = ["-machine", p.machine]
    for dev in p.devices:
        if "iommu" in dev:
            args += ["-device", dev]
    return args


def test_vtd_scalable_mode_capabilities() -> None:
    need_qemu("qemu-system-x86_64")
    with QTest("qemu-system-x86_64", platform_iommu_args("x86_64")) as qt:
        ver = qt.readl(VTD_BASE + VTD_VER)
        cap = qt.readq(VTD_BASE + VTD_CAP)
        ecap = qt.readq(VTD_BASE + VTD_ECAP)
        assert ver >> 4 >= 1, f"VER_REG {ver:#x}"
        assert bit(ecap, 43), f"ECAP.SMTS (scalable mode) clear: {ecap:#x}"
        assert bit(ecap, 40), f"ECAP.PASID clear: {ecap:#x}"
        assert bit(ecap, 47), f"ECAP.FLTS (first-stage translation) clear: {ecap:#x}"
        assert bit(ecap, 1), f"ECAP.QI (queued invalidation) clear: {ecap:#x}"
        assert bit(cap, 55) and bit(cap, 54), f"CAP.DRD/DWD (drain) clear: {cap:#x}"
        assert qt.readl(VTD_BASE + VTD_GSTS) & (1 << 31) == 0, (
            "translation enabled at reset"
        )


def test_smmuv3_stage1_and_cr0_handshake() -> None:
    need_qemu("qemu-system-aarch64")
    with QTest("qemu-system-aarch64", platform_iommu_args("aarch64")) as qt:
        idr0 = qt.readl(SMMU_BASE + SMMU_IDR0)
        idr1 = qt.readl(SMMU_BASE + SMMU_IDR1)
        assert bit(idr0, 1), f"IDR0.S1P (stage 1) clear: {idr0:#x}"
        assert idr1 & 0x3F >= 16, f"IDR1.SIDSIZE below 16: {idr1:#x}"
        assert qt.readl(SMMU_BASE + SMMU_CR0) == 0
        qt.writel(SMMU_BASE + SMMU_CR0, 0x0C)  # EVTQEN | CMDQEN
        assert qt.readl(SMMU_BASE + SMMU_CR0ACK) == 0x0C


def test_vtd_pasid_space_and_page_requests_for_sva() -> None:
    need_qemu("qemu-system-x86_64")
    with QTest("qemu-system-x86_64", platform_iommu_args("x86_64")) as qt:
        ecap = qt.readq(VTD_BASE + VTD_ECAP)
        assert (ecap >> 35) & 0x1F >= 19, f"ECAP.PSS below 20 PASID bits: {ecap:#x}"
        assert bit(ecap, 29), f"ECAP.PRS (page requests) clear: {ecap:#x}"
        assert bit(ecap, 42), f"ECAP.PDS (page-request drain) clear: {ecap:#x}"
        assert bit(ecap, 48), f"ECAP.SMPWC (SVA needs it) clear: {ecap:#x}"
        assert bit(ecap, 2), (
            f"ECAP.DT (device TLB: Linux's ats_supported) clear: {ecap:#x}"
        )
