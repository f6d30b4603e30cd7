from __future__ import annotations

from faultlab.platforms import PLATFORMS
from faultlab.probes import (
    PROBES,
    check_aarch64,
    check_powernv,
    check_pseries,
    check_x86_64,
    probe_command,
    run_check,
)

DMAR = (
    "=== dmar\n"
    "[    0.300000] DMAR: IOMMU enabled\n"
    "[    0.400000] DMAR: Intel(R) Virtualization Technology for Directed I/O\n"
)


def test_every_platform_has_a_probe() -> None:
    assert set(PROBES) == set(PLATFORMS)
    for probe in PROBES.values():
        assert probe_command(probe).endswith("exit 0")


def test_x86_64_scalable_mode_bit() -> None:
    dsa = "=== dsa\ndsa0\n0x200\n"
    ok = check_x86_64(0, DMAR + "=== ecap\n2afcf1e1e8f5e\n" + dsa)  # bit 43 set (scalable mode)
    assert ok.passed and "SMTS" in ok.evidence and "dsa0" in ok.evidence
    no_dsa = check_x86_64(0, DMAR + "=== ecap\n2afcf1e1e8f5e\n=== dsa\n")
    assert not no_dsa.passed and "did not bind" in no_dsa.evidence
    legacy = check_x86_64(0, DMAR + "=== ecap\nf0205e\n")
    assert not legacy.passed and "lacks SMTS" in legacy.evidence
    assert not check_x86_64(0, "=== dmar\n=== ecap\n2afcf1e1e8f5e\n").passed
    assert not check_x86_64(0, DMAR + "=== ecap\ncat: can't open\n").passed


SMMU_DMESG = (
    "=== smmu\n[    0.3] arm-smmu-v3 9050000.smmuv3: probing hardware configuration...\n"
    "[    0.3] arm-smmu-v3 9050000.smmuv3: ias 52-bit, oas 52-bit (features {features})\n"
    "=== iommu\nsmmu3.0x0000000009050000\n"
)


def test_aarch64() -> None:
    good = check_aarch64(0, SMMU_DMESG.format(features="0x000aaf07"))
    assert good.passed and "0x000aaf07" in good.evidence and "oas 52-bit" in good.evidence
    # QEMU's upstream SMMUv3 (no stall model, no substreams): probed, but no SVA/IOPF.
    upstream = check_aarch64(0, SMMU_DMESG.format(features="0x00088705"))
    assert not upstream.passed
    assert "STALLS, STALL_FORCE, SVA" in upstream.evidence
    no_sva = check_aarch64(0, SMMU_DMESG.format(features="0x0008af07"))
    assert not no_sva.passed and no_sva.evidence.endswith("lack SVA (no SVA/IOPF)")
    # 7.x drops the "ias N-bit, " part of the line (arm_smmu_device_hw_probe()).
    linux7 = check_aarch64(0, SMMU_DMESG.replace("ias 52-bit, ", "").format(features="0x000aaf07"))
    assert linux7.passed and linux7.evidence.endswith("SVA; oas 52-bit")
    assert good.evidence.endswith("SVA; ias 52-bit, oas 52-bit")
    linux7_no_sva = check_aarch64(
        0, SMMU_DMESG.replace("ias 52-bit, ", "").format(features="0x0008af07")
    )
    assert not linux7_no_sva.passed and linux7_no_sva.evidence.endswith("lack SVA (no SVA/IOPF)")
    no_line = check_aarch64(0, "=== smmu\n=== iommu\nsmmu3.0x0000000009050000\n")
    assert not no_line.passed and "no arm-smmu-v3 features line" in no_line.evidence
    assert not check_aarch64(0, "=== smmu\n=== iommu\n").passed


def test_powernv() -> None:
    good = "dt-opal yes\nsys-opal yes\nplatform\t: PowerNV\n"
    assert check_powernv(0, good).passed
    bad = check_powernv(0, "dt-opal yes\nplatform\t: pSeries\n")
    assert not bad.passed and "/sys/firmware/opal" in bad.evidence


def test_pseries() -> None:
    assert check_pseries(0, "platform\t: pSeries\ndt-rtas yes\n").passed
    assert not check_pseries(0, "platform\t: PowerNV\ndt-rtas yes\n").passed
    assert not check_pseries(0, "platform\t: pSeries\n").passed


def test_run_check_never_raises() -> None:
    probe = PROBES["x86_64"]
    outcome = run_check(probe, 0, b"\xff\xfe garbage")
    assert not outcome.passed
