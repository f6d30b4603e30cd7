"""The table of guest platforms faultlab can boot."""

from __future__ import annotations

from dataclasses import dataclass

from faultlab.errors import UsageError
from faultlab.needs import NO_NEEDS, Needs


@dataclass(frozen=True)
class Platform:
    name: str
    kernel_arch: str  # "x86_64" | "arm64" | "ppc64le": names the kernel/image build products
    qemu_binary: str  # file name under $CACHE/qemu/build
    elf_machine: str  # e_machine of an ELF kernel for this platform
    kernel_formats: tuple[
        str, ...
    ]  # accepted kernel_check formats: "elf", "bzimage", "arm64-image"
    kernel_needs: str  # human description used in wrong-kernel errors
    boot_timeout: float  # seconds from QEMU start to SSH ready (TCG)
    machine: str  # -machine value
    cpu: str | None  # -cpu value, None: the machine's default
    memory_mb: int
    smp: int
    firmware: str | None  # -bios file name under $CACHE/firmware, None: QEMU's default
    console: str  # guest console device name (informational, also in `append`)
    append: str  # default kernel command line
    # -device arguments placed right after -machine (the IOMMU must come first)
    early_devices: tuple[str, ...] = ()
    # -global arguments: properties of devices the machine creates itself (e.g. virt's SMMUv3)
    globals: tuple[str, ...] = ()
    extra_devices: tuple[str, ...] = ()
    net_device: str = "virtio-net-pci"
    net_bus: str | None = None  # bus= of the NIC; None: let QEMU pick
    # extra -machine options when running under KVM (e.g. split irqchip for intel-iommu)
    kvm_machine_opts: str = ""
    # KVM is only ever tried for guests matching the host architecture (x86_64 only for now)
    kvm_capable: bool = False
    # -nodefaults: drop QEMU's default devices. On q35 the default empty AHCI CD-ROM makes
    # SeaBIOS wait ~32 s (TCG) for "test unit ready" before it boots the kernel; the other
    # platforms keep their defaults (PowerNV needs its default PHB root ports and BMC).
    nodefaults: bool = False
    # What every boot of the platform needs of its kernel: the boot to SSH and the probe
    # (faultlab.needs; the scenarios add their own).
    needs: Needs = NO_NEEDS

    @property
    def devices(self) -> tuple[str, ...]:
        """Every -device argument of the platform except the NIC, in command-line order."""
        return self.early_devices + self.extra_devices


# Every platform's boot to SSH: the initramfs (gzip cpio) with busybox init running the rcS
# script, devtmpfs for /dev, dropbear (setuid/setgid need MULTIUSER; `faultlab shell` a pty),
# QEMU user networking through virtio-net-pci, and the kernel log the harness judges.
BOOT_NEEDS = Needs(
    options=(
        "BLK_DEV_INITRD",
        "RD_GZIP",
        "BINFMT_ELF",
        "BINFMT_SCRIPT",
        "DEVTMPFS",
        "PROC_FS",
        "SYSFS",
        "MULTIUSER",
        "TTY",
        "UNIX98_PTYS",
        "PRINTK",
        "NET",
        "INET",
        "PCI",
        "VIRTIO_PCI",
        "VIRTIO_NET",
    )
)

PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform(
            name="x86_64",
            kernel_arch="x86_64",
            qemu_binary="qemu-system-x86_64",
            elf_machine="EM_X86_64",
            kernel_formats=("elf", "bzimage"),
            kernel_needs="an x86_64 ELF vmlinux (PVH) or bzImage",
            boot_timeout=120.0,
            machine="q35",
            cpu="max",
            memory_mb=1024,
            smp=2,
            firmware=None,
            console="ttyS0",
            # no_timer_check: under TCG the IO-APIC timer check through interrupt remapping
            # is timing-dependent and panics "timer doesn't work through Interrupt-remapped
            # IO-APIC" on a loaded host (seen here while builds ran).
            append="console=ttyS0 intel_iommu=on,sm_on iommu.strict=1 panic=-1 no_timer_check",
            early_devices=(
                "intel-iommu,x-scalable-mode=on,x-flts=on,x-pasid-mode=on,"
                "dma-drain=on,caching-mode=off,"
                # SVA and I/O page faults (qemu-devices/patches/0006): 20-bit PASIDs,
                # page requests, SM page-walk coherency, device TLBs (ATS)
                "x-pasid-bits=20,x-prs=on,x-smpwc=on,device-iotlb=on",
            ),
            # The Intel DSA 2.0 model (qemu-devices/docs/dsa.md), an RC integrated endpoint
            # on the root bus: idxd binds it as dsa0.
            extra_devices=("faultlab-dsa,id=dsa0",),
            kvm_machine_opts="kernel-irqchip=split",
            kvm_capable=True,
            nodefaults=True,
            # console ttyS0; the probe: DMAR up (intel-iommu), idxd bound dsa0 on the dsa bus
            needs=BOOT_NEEDS
            | Needs(
                options=(
                    "SERIAL_8250",
                    "SERIAL_8250_CONSOLE",
                    "INTEL_IOMMU",
                    "INTEL_IDXD",
                    "INTEL_IDXD_BUS",
                )
            ),
        ),
        Platform(
            name="aarch64",
            kernel_arch="arm64",
            qemu_binary="qemu-system-aarch64",
            elf_machine="EM_AARCH64",
            kernel_formats=("arm64-image",),
            kernel_needs="an arm64 Image",
            boot_timeout=120.0,
            machine="virt,iommu=smmuv3,gic-version=3",
            cpu="max",
            memory_mb=1024,
            smp=2,
            firmware=None,
            console="ttyAMA0",
            append="console=ttyAMA0 panic=-1",
            # The SMMUv3 Linux offers SVA with I/O page faults on (qemu-devices/patches/0002):
            # substreams, the stall model forced for every master (PCI masters only stall
            # under force), and a 52-bit OAS to cover -cpu max's PARange (arm_smmu_sva_supported).
            globals=(
                "arm-smmuv3.ssidsize=16",
                "arm-smmuv3.stall-model=2",
                "arm-smmuv3.oas=52",
            ),
            # console ttyAMA0, virt's GICv3 and PCIe host bridge (the NIC); the probe: SMMUv3
            # probed with the SVA feature (ARM_SMMU_FEAT_SVA exists only with ARM_SMMU_V3_SVA)
            needs=BOOT_NEEDS
            | Needs(
                options=(
                    "SERIAL_AMBA_PL011",
                    "SERIAL_AMBA_PL011_CONSOLE",
                    "ARM_GIC_V3",
                    "PCI_HOST_GENERIC",
                    "ARM_SMMU_V3",
                    "ARM_SMMU_V3_SVA",
                )
            ),
        ),
        Platform(
            name="ppc64-powernv",
            kernel_arch="ppc64le",
            qemu_binary="qemu-system-ppc64",
            elf_machine="EM_PPC64",
            kernel_formats=("elf",),
            kernel_needs="a ppc64le ELF vmlinux",
            boot_timeout=240.0,
            machine="powernv9",
            cpu=None,
            memory_mb=2048,
            smp=1,
            firmware="skiboot.lid",
            console="hvc0",
            append="console=hvc0 panic=-1",
            net_bus="pcie.0",
            # console hvc0 through OPAL; the probe: booted through OPAL (skiboot)
            needs=BOOT_NEEDS | Needs(options=("PPC_POWERNV", "HVC_OPAL")),
        ),
        Platform(
            name="ppc64-pseries",
            kernel_arch="ppc64le",
            qemu_binary="qemu-system-ppc64",
            elf_machine="EM_PPC64",
            kernel_formats=("elf",),
            kernel_needs="a ppc64le ELF vmlinux",
            boot_timeout=180.0,
            machine=(
                "pseries,x-vof=on,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off,"
                # dedicated processors, as a PowerVM LPAR with dedicated cores (patches/0008-hw-*)
                "x-dedicated-procs=on"
            ),
            cpu="power9",
            memory_mb=1024,
            smp=1,
            firmware="vof.bin",
            console="hvc0",
            append="console=hvc0 panic=-1",
            # VOF hands the device tree over through prom_init; console hvc0 (hvc_vio);
            # the probe: a pSeries LPAR with RTAS
            needs=BOOT_NEEDS
            | Needs(options=("PPC_PSERIES", "PPC_OF_BOOT_TRAMPOLINE", "HVC_CONSOLE")),
        ),
    )
}


def platform_names() -> list[str]:
    return list(PLATFORMS)


def get_platform(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise UsageError(
            f"unknown platform {name!r}; valid platforms: {', '.join(PLATFORMS)}"
        ) from None
