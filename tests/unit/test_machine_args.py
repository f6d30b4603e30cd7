from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from faultlab.machine_args import RunPaths, build_argv, kernel_append
from faultlab.platforms import PLATFORMS, get_platform

RUN = RunPaths(Path("/r/console.sock"), Path("/r/qmp.sock"), Path("/r/qemu.log"))


def argv_for(name: str, accel: str = "tcg", **kw: object) -> list[str]:
    platform = kw.pop("platform", None) or get_platform(name)
    return build_argv(
        platform,  # type: ignore[arg-type]
        qemu=Path(f"/c/qemu/build/{get_platform(name).qemu_binary}"),
        kernel=Path("/c/kernels/k"),
        initrd=Path("/c/images/initramfs.cpio.gz"),
        firmware=Path("/c/firmware/fw") if get_platform(name).firmware else None,
        ssh_port=2222,
        accel=accel,
        run_paths=RUN,
        **kw,  # type: ignore[arg-type]
    )


def values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def one(argv: list[str], flag: str) -> str:
    (value,) = values(argv, flag)
    return value


@pytest.mark.parametrize("name", list(PLATFORMS))
def test_common_arguments(name: str) -> None:
    argv = argv_for(name)
    platform = get_platform(name)
    assert argv[0] == f"/c/qemu/build/{platform.qemu_binary}"
    assert one(argv, "-machine") == platform.machine
    assert one(argv, "-accel") == "tcg"
    assert one(argv, "-m") == str(platform.memory_mb)
    assert one(argv, "-smp") == str(platform.smp)
    assert one(argv, "-kernel") == "/c/kernels/k"
    assert one(argv, "-initrd") == "/c/images/initramfs.cpio.gz"
    assert one(argv, "-append") == platform.append
    assert one(argv, "-display") == "none"
    assert "-no-reboot" in argv
    assert "-nographic" not in argv
    assert ("-nodefaults" in argv) == (name == "x86_64")  # q35: no default CD-ROM for SeaBIOS
    assert one(argv, "-chardev") == "socket,id=con0,path=/r/console.sock,server=on,wait=on"
    assert one(argv, "-serial") == "chardev:con0"
    assert one(argv, "-netdev") == "user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22"
    nic = values(argv, "-device")[-1]
    assert nic.startswith("virtio-net-pci,netdev=n0") and nic.endswith(",romfile=")
    assert one(argv, "-qmp") == "unix:/r/qmp.sock,server=on,wait=off"
    assert one(argv, "-D") == "/r/qemu.log"
    assert one(argv, "-d") == "guest_errors,unimp"


def test_x86_64() -> None:
    argv = argv_for("x86_64")
    m = argv.index("-machine")
    assert argv[m + 1] == "q35"
    # the IOMMU is the first -device, right after -machine
    assert argv[m + 2] == "-device"
    assert argv[m + 3] == (
        "intel-iommu,x-scalable-mode=on,x-flts=on,x-pasid-mode=on,dma-drain=on,caching-mode=off,"
        "x-pasid-bits=20,x-prs=on,x-smpwc=on,device-iotlb=on"
    )
    assert values(argv, "-device")[0].startswith("intel-iommu,")
    assert one(argv, "-cpu") == "max"
    assert one(argv, "-m") == "1024" and one(argv, "-smp") == "2"
    assert "-bios" not in argv
    assert one(argv, "-append") == (
        "console=ttyS0 intel_iommu=on,sm_on iommu.strict=1 panic=-1 no_timer_check"
    )
    assert values(argv, "-device")[-1] == "virtio-net-pci,netdev=n0,romfile="


def test_x86_64_kvm_uses_split_irqchip() -> None:
    argv = argv_for("x86_64", accel="kvm")
    assert one(argv, "-accel") == "kvm"
    assert one(argv, "-machine") == "q35,kernel-irqchip=split"


def test_aarch64() -> None:
    argv = argv_for("aarch64")
    assert one(argv, "-machine") == "virt,iommu=smmuv3,gic-version=3"
    assert one(argv, "-cpu") == "max"
    assert one(argv, "-append") == "console=ttyAMA0 panic=-1"
    assert values(argv, "-device") == ["virtio-net-pci,netdev=n0,romfile="]
    assert values(argv, "-global") == [
        "arm-smmuv3.ssidsize=16",
        "arm-smmuv3.stall-model=2",
        "arm-smmuv3.oas=52",
    ]
    assert "-bios" not in argv


def test_powernv() -> None:
    argv = argv_for("ppc64-powernv")
    assert one(argv, "-machine") == "powernv9"
    assert "-cpu" not in argv
    assert one(argv, "-m") == "2048" and one(argv, "-smp") == "1"
    assert one(argv, "-bios") == "/c/firmware/fw"
    assert one(argv, "-append") == "console=hvc0 panic=-1"
    assert values(argv, "-device") == ["virtio-net-pci,netdev=n0,bus=pcie.0,romfile="]


def test_powernv_nic_bus_is_overridable() -> None:
    platform = dataclasses.replace(get_platform("ppc64-powernv"), net_bus="pcie.1")
    argv = argv_for("ppc64-powernv", platform=platform)
    assert values(argv, "-device") == ["virtio-net-pci,netdev=n0,bus=pcie.1,romfile="]
    no_bus = dataclasses.replace(platform, net_bus=None)
    assert values(argv_for("ppc64-powernv", platform=no_bus), "-device") == [
        "virtio-net-pci,netdev=n0,romfile="
    ]


def test_pseries() -> None:
    argv = argv_for("ppc64-pseries")
    assert one(argv, "-machine") == (
        "pseries,x-vof=on,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off,"
        "x-dedicated-procs=on"
    )
    assert one(argv, "-cpu") == "power9"
    assert one(argv, "-m") == "1024" and one(argv, "-smp") == "1"
    assert one(argv, "-bios") == "/c/firmware/fw"
    assert one(argv, "-append") == "console=hvc0 panic=-1"


def test_extra_append_and_args() -> None:
    argv = argv_for("aarch64", extra_append="  rdinit=/nonexistent ", extra_args=["-s", "-S"])
    assert one(argv, "-append") == "console=ttyAMA0 panic=-1 rdinit=/nonexistent"
    assert argv[-2:] == ["-s", "-S"]
    assert kernel_append(get_platform("aarch64"), "") == "console=ttyAMA0 panic=-1"


def test_data_dirs_come_first_in_order() -> None:
    argv = argv_for("x86_64", data_dirs=[Path("/c/firmware"), Path("/c/qemu/build/pc-bios")])
    assert argv[1:8] == [
        "-name", "faultlab-x86_64", "-nodefaults",
        "-L", "/c/firmware", "-L", "/c/qemu/build/pc-bios",
    ]  # fmt: skip
    assert "-L" not in argv_for("x86_64")


def test_bad_accel_and_missing_firmware() -> None:
    with pytest.raises(ValueError, match="accel"):
        argv_for("x86_64", accel="hvf")
    with pytest.raises(ValueError, match="firmware"):
        build_argv(
            get_platform("ppc64-pseries"),
            qemu=Path("q"),
            kernel=Path("k"),
            initrd=Path("i"),
            firmware=None,
            ssh_port=1,
            accel="tcg",
            run_paths=RUN,
        )


def test_platform_table() -> None:
    assert list(PLATFORMS) == ["x86_64", "aarch64", "ppc64-powernv", "ppc64-pseries"]
    timeouts = {n: p.boot_timeout for n, p in PLATFORMS.items()}
    assert timeouts == {
        "x86_64": 120,
        "aarch64": 120,
        "ppc64-powernv": 240,
        "ppc64-pseries": 180,
    }
    arches = {n: (p.kernel_arch, p.qemu_binary) for n, p in PLATFORMS.items()}
    assert arches["aarch64"] == ("arm64", "qemu-system-aarch64")
    assert arches["ppc64-powernv"] == ("ppc64le", "qemu-system-ppc64")
    assert get_platform("x86_64").devices[0].startswith("intel-iommu")
