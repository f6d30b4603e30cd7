"""Choose the QEMU accelerator.

Policy (conservative on purpose): TCG unless KVM is explicitly wanted.

The build machines expose a paravirtualised /dev/kvm that opens fine but cannot run stock
kernels: the guest dies early with "KVM internal error ... emulation failure" or
"kvm run failed". So `--accel auto` only tries KVM when FAULTLAB_TRY_KVM=1 is set, the guest
architecture matches the host (x86_64 only) and /dev/kvm opens; even then the boot watches for
those failures and restarts under TCG, recording `accel_fallback` in the result.
`--accel kvm` insists on KVM (error if unusable, no fallback); `--accel tcg` never tries it.
"""

from __future__ import annotations

import os
import platform as host_platform
from collections.abc import Mapping
from dataclasses import dataclass

from faultlab.errors import AccelError, UsageError
from faultlab.platforms import Platform

ACCEL_CHOICES = ("auto", "tcg", "kvm")
TRY_KVM_ENV = "FAULTLAB_TRY_KVM"

# Text in QEMU's stderr or log that means KVM cannot run this guest.
KVM_FAILURE_PATTERNS = ("KVM internal error", "emulation failure", "kvm run failed")

_HOST_TO_KERNEL_ARCH = {"x86_64": "x86_64", "amd64": "x86_64"}


@dataclass(frozen=True)
class AccelChoice:
    accel: str  # "tcg" | "kvm"
    reason: str
    fallback_to_tcg: bool  # restart under TCG if KVM fails during boot


def kvm_usable(path: str = "/dev/kvm") -> tuple[bool, str]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return False, f"{path} cannot be opened ({exc.strerror})"
    os.close(fd)
    return True, f"{path} opens"


def choose_accel(
    requested: str,
    platform: Platform,
    *,
    env: Mapping[str, str] | None = None,
    host_arch: str | None = None,
    kvm_path: str = "/dev/kvm",
) -> AccelChoice:
    if requested not in ACCEL_CHOICES:
        raise UsageError(f"--accel must be one of {', '.join(ACCEL_CHOICES)}, not {requested!r}")
    if requested == "tcg":
        return AccelChoice("tcg", "--accel tcg", False)
    env = os.environ if env is None else env
    host = _HOST_TO_KERNEL_ARCH.get(host_arch or host_platform.machine())
    arch_ok = platform.kvm_capable and host == platform.kernel_arch
    if requested == "kvm":
        if not arch_ok:
            raise AccelError(
                f"--accel kvm: KVM cannot run platform {platform.name} on this "
                f"{host_arch or host_platform.machine()} host"
            )
        ok, why = kvm_usable(kvm_path)
        if not ok:
            raise AccelError(f"--accel kvm: {why}")
        return AccelChoice("kvm", "--accel kvm", False)
    # auto
    if env.get(TRY_KVM_ENV) != "1":
        return AccelChoice("tcg", f"auto: KVM not tried ({TRY_KVM_ENV}=1 not set)", False)
    if not arch_ok:
        return AccelChoice("tcg", f"auto: KVM cannot run {platform.name} on this host", False)
    ok, why = kvm_usable(kvm_path)
    if not ok:
        return AccelChoice("tcg", f"auto: {why}", False)
    return AccelChoice("kvm", f"auto: {TRY_KVM_ENV}=1 and {why}", True)


def kvm_failure_in(text: str) -> str | None:
    """The first KVM failure line in QEMU's output, if any."""
    for line in text.splitlines():
        if any(p.lower() in line.lower() for p in KVM_FAILURE_PATTERNS):
            return line.strip()
    return None
