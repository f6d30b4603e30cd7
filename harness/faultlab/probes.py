"""Per-platform probes: a guest command plus a check that the platform is what it claims."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faultlab.boot import BootOptions, BootSession
from faultlab.errors import FaultlabError, GuestFailure

SMTS_BIT = 43  # VT-d ECAP_REG: Scalable Mode Translation Support


@dataclass(frozen=True)
class ProbeOutcome:
    passed: bool
    evidence: str  # one line


@dataclass(frozen=True)
class Probe:
    platform: str
    description: str
    command: str
    check: Callable[[int | None, str], ProbeOutcome]  # (exit code, stdout) -> outcome


def _section(output: str, name: str) -> str:
    """Text between '=== name' and the next '=== ' marker."""
    match = re.search(rf"^=== {re.escape(name)}\n(.*?)(?=^=== |\Z)", output, re.M | re.S)
    return match.group(1) if match else ""


def check_x86_64(exit_code: int | None, output: str) -> ProbeOutcome:
    dmar = _section(output, "dmar")
    ecap_text = _section(output, "ecap").strip()
    if "Intel(R) Virtualization Technology for Directed I/O" not in dmar:
        return ProbeOutcome(
            False,
            "dmesg has no 'Intel(R) Virtualization Technology for "
            "Directed I/O' line (intel-iommu not enabled)",
        )
    try:
        ecap = int(ecap_text.split()[0], 16)
    except (ValueError, IndexError):
        return ProbeOutcome(False, f"cannot read dmar0 ecap: {ecap_text[:80]!r}")
    if not ecap >> SMTS_BIT & 1:
        return ProbeOutcome(False, f"DMAR up but ecap {ecap:#x} lacks SMTS (bit {SMTS_BIT})")
    # The faultlab-dsa model (qemu-devices/docs/dsa.md): idxd bound it as dsa0, DSA 2.0.
    dsa = _section(output, "dsa").split()
    if dsa[:2] != ["dsa0", "0x200"]:
        return ProbeOutcome(
            False,
            f"DMAR up (ecap {ecap:#x}) but idxd did not bind the DSA model as dsa0 "
            f"(dsa0 version: {' '.join(dsa) or 'none'})",
        )
    return ProbeOutcome(
        True, f"DMAR up, dmar0 ecap {ecap:#x} has SMTS (scalable mode); idxd bound dsa0 (v2.0)"
    )


# arm-smmu-v3's feature bits (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h) that I/O page
# faults through the stall model need; the driver prints them at probe time.
SMMU_FEATURES_FOR_IOPF = {"STALLS": 1 << 11, "STALL_FORCE": 1 << 13, "SVA": 1 << 17}


def check_aarch64(exit_code: int | None, output: str) -> ProbeOutcome:
    dmesg = _section(output, "smmu")
    entries = _section(output, "iommu").split()
    smmu = [e for e in entries if e.startswith("smmu3")]
    if not smmu:
        return ProbeOutcome(False, f"no SMMUv3 (iommu entries: {' '.join(entries) or 'none'})")
    # 6.12 prints "ias 52-bit, oas 52-bit (features 0x...)", 7.x only "oas 52-bit (features ...)".
    match = re.search(
        r"(?P<sizes>(?:ias \d+-bit, )?oas \d+-bit) \(features (?P<features>0x[0-9a-f]+)\)", dmesg
    )
    if not match:
        return ProbeOutcome(False, f"/sys/class/iommu/{smmu[0]} but no arm-smmu-v3 features line")
    features = int(match["features"], 16)
    missing = [name for name, bit in SMMU_FEATURES_FOR_IOPF.items() if not features & bit]
    if missing:
        return ProbeOutcome(
            False, f"SMMUv3 features {match['features']} lack {', '.join(missing)} (no SVA/IOPF)"
        )
    return ProbeOutcome(
        True,
        f"/sys/class/iommu/{smmu[0]}; features {match['features']}: stall forced, SVA; "
        f"{match['sizes']}",
    )


def check_powernv(exit_code: int | None, output: str) -> ProbeOutcome:
    checks = {
        "/proc/device-tree/ibm,opal": "dt-opal yes" in output,
        "/sys/firmware/opal": "sys-opal yes" in output,
        "cpuinfo PowerNV": bool(re.search(r"^platform\s*:\s*PowerNV", output, re.M)),
    }
    missing = [name for name, ok in checks.items() if not ok]
    if missing:
        return ProbeOutcome(False, f"not booted through OPAL: missing {', '.join(missing)}")
    return ProbeOutcome(True, "OPAL: ibm,opal node, /sys/firmware/opal, platform PowerNV")


def check_pseries(exit_code: int | None, output: str) -> ProbeOutcome:
    platform_ok = bool(re.search(r"^platform\s*:\s*pSeries", output, re.M))
    dt = [name for name in ("ibm,partition-name", "rtas") if f"dt-{name} yes" in output]
    if platform_ok and dt:
        return ProbeOutcome(True, f"platform pSeries; device tree has {', '.join(dt)}")
    return ProbeOutcome(
        False,
        f"platform pSeries: {'yes' if platform_ok else 'no'}; "
        f"device tree: {', '.join(dt) or 'no ibm,partition-name/rtas'}",
    )


PROBES: dict[str, Probe] = {
    p.platform: p
    for p in (
        Probe(
            "x86_64",
            "intel-iommu (DMAR) in scalable mode, idxd bound to the DSA model",
            "echo '=== dmar'; dmesg | grep -i -e DMAR -e 'Directed I/O'; "
            "echo '=== ecap'; cat /sys/class/iommu/dmar0/intel-iommu/ecap; "
            "echo '=== dsa'; test -e /sys/bus/dsa/devices/dsa0 && echo dsa0 && "
            "cat /sys/bus/dsa/devices/dsa0/version",
            check_x86_64,
        ),
        Probe(
            "aarch64",
            "SMMUv3 with the stall model and SVA",
            "echo '=== smmu'; dmesg | grep -i arm-smmu-v3; echo '=== iommu'; ls /sys/class/iommu/",
            check_aarch64,
        ),
        Probe(
            "ppc64-powernv",
            "booted through OPAL (skiboot)",
            "test -e /proc/device-tree/ibm,opal && echo 'dt-opal yes'; "
            "test -d /sys/firmware/opal && echo 'sys-opal yes'; grep -i '^platform' /proc/cpuinfo",
            check_powernv,
        ),
        Probe(
            "ppc64-pseries",
            "pSeries guest (VOF)",
            "grep -i '^platform' /proc/cpuinfo; "
            "test -e /proc/device-tree/ibm,partition-name && echo 'dt-ibm,partition-name yes'; "
            "test -e /proc/device-tree/rtas && echo 'dt-rtas yes'",
            check_pseries,
        ),
    )
}


def probe_command(probe: Probe) -> str:
    """The probe's command; its exit status is forced to 0 (the check decides, not grep)."""
    return f"{{ {probe.command}; }} 2>&1; exit 0"


def run_check(probe: Probe, exit_code: int | None, stdout: bytes) -> ProbeOutcome:
    try:
        return probe.check(exit_code, stdout.decode(errors="replace"))
    except Exception as exc:  # a check must never crash the run
        return ProbeOutcome(False, f"probe check crashed: {type(exc).__name__}: {exc}")


def probe_platform(options: BootOptions, command_timeout: float = 120.0) -> dict[str, Any]:
    """Boot `options.platform`, run its probe, return a summary row.

    Bad input (missing artifacts...) gives verdict "skip" with the message; a guest failure
    gives the session's verdict. The row's "detail" is the probe evidence or the reason.
    """
    name = options.platform.name
    probe = PROBES[name]
    session = BootSession(options)
    outcome: ProbeOutcome | None = None
    try:
        with session as guest:
            res = guest.run(probe_command(probe), command_timeout)
            outcome = run_check(probe, res.exit_code, res.stdout)
            guest.result.extra["probe"] = {
                "description": probe.description,
                "passed": outcome.passed,
                "evidence": outcome.evidence,
            }
            if not outcome.passed:
                guest.mark_failed("probe", f"probe failed: {outcome.evidence}")
    except GuestFailure:
        pass
    except FaultlabError as exc:
        if session.result is None:  # rejected before booting: bad input
            return {
                "platform": name,
                "verdict": "skip",
                "accel": None,
                "boot_s": None,
                "detail": str(exc),
                "result_dir": None,
                "exit_code": exc.exit_code,
            }
    result = session.result
    assert result is not None
    detail = result.reason
    if outcome is not None and result.verdict == "pass":
        detail = outcome.evidence
    return {
        "platform": name,
        "verdict": result.verdict,
        "accel": result.accel + (" (fallback)" if result.accel_fallback else "")
        if result.accel
        else None,
        "boot_s": result.timings.get("ssh_ready"),
        "detail": detail,
        "result_dir": result.result_dir,
    }
