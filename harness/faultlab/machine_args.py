"""Build the QEMU command line for a platform. Pure: no I/O, no environment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from faultlab.platforms import Platform

CONSOLE_CHARDEV_ID = "con0"
NETDEV_ID = "n0"


@dataclass(frozen=True)
class RunPaths:
    """Per-run files QEMU writes or listens on."""

    console_sock: Path
    qmp_sock: Path
    qemu_log: Path


def kernel_append(platform: Platform, extra_append: str = "") -> str:
    """The platform's default command line followed by the user's additions."""
    return " ".join(part for part in (platform.append, extra_append.strip()) if part)


def build_argv(
    platform: Platform,
    *,
    qemu: Path,
    kernel: Path,
    initrd: Path,
    firmware: Path | None,
    ssh_port: int,
    accel: str,
    run_paths: RunPaths,
    extra_append: str = "",
    extra_args: Sequence[str] = (),
    data_dirs: Sequence[Path] = (),
) -> list[str]:
    if accel not in ("tcg", "kvm"):
        raise ValueError(f"accel must be 'tcg' or 'kvm', not {accel!r}")
    machine = platform.machine
    if accel == "kvm" and platform.kvm_machine_opts:
        machine = f"{machine},{platform.kvm_machine_opts}"

    argv: list[str] = [str(qemu), "-name", f"faultlab-{platform.name}"]
    if platform.nodefaults:
        argv.append("-nodefaults")
    # Firmware/option-ROM search path (the build tree installs no blobs); first wins.
    for directory in data_dirs:
        argv += ["-L", str(directory)]
    argv += ["-machine", machine]
    # The IOMMU must be the first -device after -machine.
    for dev in platform.early_devices:
        argv += ["-device", dev]
    for prop in platform.globals:
        argv += ["-global", prop]
    argv += ["-accel", accel]
    if platform.cpu:
        argv += ["-cpu", platform.cpu]
    argv += ["-m", str(platform.memory_mb), "-smp", str(platform.smp)]
    if platform.firmware:
        if firmware is None:
            raise ValueError(f"platform {platform.name} needs firmware {platform.firmware}")
        argv += ["-bios", str(firmware)]
    argv += [
        "-kernel", str(kernel),
        "-initrd", str(initrd),
        "-append", kernel_append(platform, extra_append),
        "-display", "none",
        "-no-reboot",
        "-parallel", "none",
        # wait=on: QEMU blocks until faultlab connects, so not a byte of console is lost.
        "-chardev",
        f"socket,id={CONSOLE_CHARDEV_ID},path={run_paths.console_sock},server=on,wait=on",
        # -serial feeds the first UART of x86/arm/PowerNV and the spapr-vty (hvc0) of pseries.
        "-serial", f"chardev:{CONSOLE_CHARDEV_ID}",
    ]  # fmt: skip
    for dev in platform.extra_devices:
        argv += ["-device", dev]
    nic = f"{platform.net_device},netdev={NETDEV_ID}"
    if platform.net_bus:
        nic += f",bus={platform.net_bus}"
    nic += ",romfile="  # no PXE option ROM: we boot with -kernel and need none
    argv += [
        "-netdev", f"user,id={NETDEV_ID},hostfwd=tcp:127.0.0.1:{ssh_port}-:22",
        "-device", nic,
        "-qmp", f"unix:{run_paths.qmp_sock},server=on,wait=off",
        "-D", str(run_paths.qemu_log),
        "-d", "guest_errors,unimp",
    ]  # fmt: skip
    argv += list(extra_args)
    return argv
