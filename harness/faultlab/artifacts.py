"""Resolve and validate the files a boot needs.

Every missing default build product is reported with the make target that builds it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from faultlab import paths
from faultlab.errors import MissingArtifactError
from faultlab.guest_kernel import GuestKernel, compose_initrd
from faultlab.kernel_check import KernelInfo, check_kernel
from faultlab.platforms import Platform

MAKE_TARGETS = {
    "qemu": "make qemu",
    "firmware": "make qemu",
    "kernel": "make kernels",
    "initramfs": "make images",
    "ssh_key": "make images",
}

_LABELS = {
    "qemu": "QEMU binary",
    "firmware": "firmware",
    "kernel": "kernel",
    "initramfs": "initramfs",
    "ssh_key": "SSH key",
}


@dataclass(frozen=True)
class Artifact:
    kind: str  # key of MAKE_TARGETS
    path: Path
    user_given: bool = False

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def missing_message(self, platform: Platform) -> str:
        label = _LABELS[self.kind]
        if self.user_given:
            return f"{label} {self.path} does not exist"
        return (
            f"missing {label} {self.path} for {platform.name} "
            f"(build it with `{MAKE_TARGETS[self.kind]}`)"
        )


@dataclass(frozen=True)
class BootArtifacts:
    qemu: Path
    kernel: Path
    initrd: Path
    firmware: Path | None
    ssh_key: Path
    kernel_info: KernelInfo
    kernel_is_default: bool = True
    initrd_is_default: bool = True
    data_dirs: tuple[Path, ...] = ()
    guest_kernel: GuestKernel | None = None
    base_initrd: Path | None = None  # the initramfs before the kernel's overlay was appended


def qemu_data_dirs(qemu: Path) -> tuple[Path, ...]:
    """Directories for QEMU's -L (BIOS, option ROMs), in priority order, those that exist:
    faultlab's firmware directory, then the build tree's pc-bios/optionrom and pc-bios."""
    build = qemu.parent
    candidates = (
        paths.firmware("bios-256k.bin").parent,
        build / "pc-bios" / "optionrom",
        build / "pc-bios",
    )
    return tuple(d for d in candidates if d.is_dir())


def platform_artifacts(
    platform: Platform,
    kernel: Path | None = None,
    initrd: Path | None = None,
    series: str = paths.DEFAULT_SERIES,
) -> list[Artifact]:
    """The files `platform` needs, in the order they are validated (kernel first)."""
    items = [
        Artifact(
            "kernel",
            kernel or paths.kernel(platform.kernel_arch, series=series),
            kernel is not None,
        ),
        Artifact("initramfs", initrd or paths.initramfs(platform.kernel_arch), initrd is not None),
        Artifact("qemu", paths.qemu_binary(platform.qemu_binary)),
    ]
    if platform.firmware:
        items.append(Artifact("firmware", paths.firmware(platform.firmware)))
    items.append(Artifact("ssh_key", paths.ssh_key()))
    return items


def missing_artifacts(
    platform: Platform,
    kernel: Path | None = None,
    initrd: Path | None = None,
    series: str = paths.DEFAULT_SERIES,
) -> list[str]:
    """One message per missing file (used by `faultlab platforms` and e2e skips)."""
    missing = [
        a.missing_message(platform)
        for a in platform_artifacts(platform, kernel, initrd, series)
        if not a.exists
    ]
    overlay = paths.kernel_dir(platform.kernel_arch, series=series) / "modules.cpio.gz"
    if kernel is None and not overlay.is_file():
        target = "make kernel-" + platform.kernel_arch
        target += f" SERIES={series}" if series != paths.DEFAULT_SERIES else ""
        missing.append(
            f"missing kernel modules overlay {overlay} for {platform.name} "
            f"(build it with `{target}`)"
        )
    return missing


def resolve_artifacts(
    platform: Platform,
    kernel: Path | None = None,
    initrd: Path | None = None,
    guest_kernel: GuestKernel | None = None,
) -> BootArtifacts:
    """Check every file exists and the kernel suits the platform; raise on the first problem.

    The kernel is checked first so that a wrong-architecture kernel given with --kernel is
    reported at once, whatever else is missing. With `guest_kernel` (the kernel resolved by
    faultlab.guest_kernel), its image is booted and its modules overlay is appended to the
    initramfs (unless the user gave their own --initrd).
    """
    if guest_kernel is not None:
        kernel = guest_kernel.image
    found: dict[str, Path] = {}
    kernel_info: KernelInfo | None = None
    for item in platform_artifacts(platform, kernel, initrd):
        if not item.exists:
            raise MissingArtifactError(item.missing_message(platform))
        if item.kind == "kernel":
            kernel_info = check_kernel(item.path, platform)
        if item.kind == "qemu" and not os.access(item.path, os.X_OK):
            raise MissingArtifactError(
                f"QEMU binary {item.path} is not executable "
                f"(rebuild it with `{MAKE_TARGETS['qemu']}`)"
            )
        found[item.kind] = item.path
    assert kernel_info is not None
    base = found["initramfs"]
    composed = base
    if guest_kernel is not None and initrd is None:
        composed = compose_initrd(base, guest_kernel.overlay)
    return BootArtifacts(
        qemu=found["qemu"],
        kernel=found["kernel"],
        initrd=composed,
        firmware=found.get("firmware"),
        ssh_key=found["ssh_key"],
        kernel_info=kernel_info,
        kernel_is_default=guest_kernel.is_default if guest_kernel else kernel is None,
        initrd_is_default=initrd is None,
        data_dirs=qemu_data_dirs(found["qemu"]),
        guest_kernel=guest_kernel,
        base_initrd=base,
    )
