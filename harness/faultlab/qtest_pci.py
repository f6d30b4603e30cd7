"""PCI configuration space and BAR set-up for qtest sessions (no firmware, no guest).

Under ``-accel qtest`` nothing enumerates PCI: a test finds its device, assigns
its BARs and enables decoding itself. Two ways to reach configuration space:

* :class:`Ecam` - memory-mapped (PCIe ECAM): the full 4 KiB per function,
  extended capabilities included. On ``virt`` it is at ``0x4010000000``
  (high ECAM, a 64-bit CPU such as ``-cpu max``) or ``0x3f000000``;
  :func:`virt_ecam` finds which. On ``q35`` the MCH decodes ECAM only once
  its PCIEXBAR register is enabled: :func:`q35_ecam` does that through the
  legacy ports and returns the ECAM at ``0xb0000000``.
* :class:`PortIo` - the legacy 0xcf8/0xcfc mechanism (x86), 256 bytes.

Then :class:`PciFunction` gives config reads/writes for one function,
capability lookup, BAR sizing and assignment, and ``enable()`` (memory
decoding + bus mastering). Example (aarch64 ``virt``)::

    qt = QTest("qemu-system-aarch64", ["-machine", "virt", "-cpu", "max",
                                       "-device", "faultlab-dma"]).start()
    fn = find_function(virt_ecam(qt), 0x1234, 0xFA01)
    bar0 = fn.assign_bar(0, VIRT_MMIO_BASE)
    fn.enable()
    qt.readq(bar0)   # the device's ID register

Used by the faultlab-dma qtests and the SMMU stall qtests.
"""

from __future__ import annotations

from typing import Protocol

from faultlab.qtest import QTest, QTestError

# Config space offsets and bits (PCI Local Bus / PCIe Base specification).
PCI_VENDOR_ID = 0x00
PCI_DEVICE_ID = 0x02
PCI_COMMAND = 0x04
PCI_STATUS = 0x06
PCI_CLASS_REVISION = 0x08
PCI_HEADER_TYPE = 0x0E
PCI_BAR0 = 0x10
PCI_CAPABILITY_LIST = 0x34
PCI_INTERRUPT_PIN = 0x3D
PCI_COMMAND_MEMORY = 0x2
PCI_COMMAND_MASTER = 0x4
PCI_COMMAND_INTX_DISABLE = 0x400
PCI_STATUS_INTERRUPT = 0x8
PCI_STATUS_CAP_LIST = 0x10

PCI_CAP_ID_MSI = 0x05
PCI_CAP_ID_EXP = 0x10
PCI_EXT_CAP_ID_PASID = 0x1B

# MSI capability (offsets from the capability)
PCI_MSI_FLAGS = 0x2
PCI_MSI_FLAGS_ENABLE = 0x1
PCI_MSI_FLAGS_64BIT = 0x80
PCI_MSI_ADDRESS_LO = 0x4
PCI_MSI_ADDRESS_HI = 0x8
PCI_MSI_DATA_64 = 0xC
PCI_MSI_DATA_32 = 0x8

# PCIe capability (offsets from the capability)
PCI_EXP_FLAGS = 0x2
PCI_EXP_FLAGS_TYPE_SHIFT = 4
PCI_EXP_TYPE_ENDPOINT = 0x0
PCI_EXP_TYPE_RC_END = 0x9
PCI_EXP_DEVCAP2 = 0x24
PCI_EXP_DEVCAP2_EE_PREFIX = 1 << 21

# PASID extended capability (offsets from the capability)
PCI_PASID_CAP = 0x4
PCI_PASID_CTRL = 0x6
PCI_PASID_CTRL_ENABLE = 0x1

# Where to put BARs and find ECAM on the bench's machines.
VIRT_ECAM_CANDIDATES = (0x40_1000_0000, 0x3F00_0000)
VIRT_MMIO_BASE = 0x1000_0000  # virt's 32-bit PCI MMIO window
VIRT_RAM_BASE = 0x4000_0000
Q35_ECAM_BASE = 0xB000_0000
Q35_MMIO_BASE = 0xC000_0000  # in q35's PCI hole, above the 256 MiB ECAM
Q35_MCH_PCIEXBAR = 0x60


class ConfigAccess(Protocol):
    """Configuration space of one bus: byte/word/dword access by devfn and offset."""

    limit: int

    def read(self, devfn: int, off: int, size: int) -> int: ...

    def write(self, devfn: int, off: int, size: int, val: int) -> None: ...


class Ecam:
    """PCIe ECAM at ``base`` (bus ``bus``): 4 KiB of config space per function."""

    limit = 0x1000

    def __init__(self, qt: QTest, base: int, bus: int = 0) -> None:
        self.qt = qt
        self.base = base
        self.bus = bus

    def addr(self, devfn: int, off: int) -> int:
        return self.base + (self.bus << 20) + (devfn << 12) + off

    def read(self, devfn: int, off: int, size: int) -> int:
        a = self.addr(devfn, off)
        return {1: self.qt.readb, 2: self.qt.readw, 4: self.qt.readl}[size](a)

    def write(self, devfn: int, off: int, size: int, val: int) -> None:
        a = self.addr(devfn, off)
        {1: self.qt.writeb, 2: self.qt.writew, 4: self.qt.writel}[size](a, val)


class PortIo:
    """x86 configuration mechanism #1 (0xcf8 address, 0xcfc data): 256 bytes."""

    limit = 0x100

    def __init__(self, qt: QTest, bus: int = 0) -> None:
        self.qt = qt
        self.bus = bus

    def _select(self, devfn: int, off: int) -> int:
        self.qt.command(f"outl 0xcf8 0x{0x8000_0000 | self.bus << 16 | devfn << 8 | off & 0xFC:x}")
        return 0xCFC + (off & 3)

    def read(self, devfn: int, off: int, size: int) -> int:
        port = self._select(devfn, off)
        op = {1: "inb", 2: "inw", 4: "inl"}[size]
        return int(self.qt.command(f"{op} 0x{port:x}"), 16)

    def write(self, devfn: int, off: int, size: int, val: int) -> None:
        port = self._select(devfn, off)
        op = {1: "outb", 2: "outw", 4: "outl"}[size]
        self.qt.command(f"{op} 0x{port:x} 0x{val:x}")


def virt_ecam(qt: QTest) -> Ecam:
    """The ECAM of an Arm ``virt`` machine: the one whose 00:00.0 is the GPEX host bridge."""
    for base in VIRT_ECAM_CANDIDATES:
        ecam = Ecam(qt, base)
        if ecam.read(0, PCI_VENDOR_ID, 4) == 0x0008_1B36:  # 1b36:0008 gpex-root
            return ecam
    raise QTestError("no PCIe ECAM with a GPEX host bridge found on virt")


def q35_ecam(qt: QTest, base: int = Q35_ECAM_BASE) -> Ecam:
    """Enable the q35 MCH's PCIEXBAR (256 MiB at ``base``) and return that ECAM."""
    pio = PortIo(qt)
    pio.write(0, Q35_MCH_PCIEXBAR + 4, 4, base >> 32)
    pio.write(0, Q35_MCH_PCIEXBAR, 4, (base & 0xFFFF_FFFF) | 1)  # enable, 256 MiB
    ecam = Ecam(qt, base)
    if ecam.read(0, PCI_VENDOR_ID, 2) != 0x8086:
        raise QTestError(f"q35 ECAM at {base:#x} does not answer after PCIEXBAR enable")
    return ecam


class PciFunction:
    """One function, through a :class:`ConfigAccess`."""

    def __init__(self, cfg: ConfigAccess, devfn: int) -> None:
        self.cfg = cfg
        self.devfn = devfn

    def __repr__(self) -> str:
        return f"PciFunction({self.devfn >> 3:02x}.{self.devfn & 7})"

    def readb(self, off: int) -> int:
        return self.cfg.read(self.devfn, off, 1)

    def readw(self, off: int) -> int:
        return self.cfg.read(self.devfn, off, 2)

    def readl(self, off: int) -> int:
        return self.cfg.read(self.devfn, off, 4)

    def writeb(self, off: int, val: int) -> None:
        self.cfg.write(self.devfn, off, 1, val)

    def writew(self, off: int, val: int) -> None:
        self.cfg.write(self.devfn, off, 2, val)

    def writel(self, off: int, val: int) -> None:
        self.cfg.write(self.devfn, off, 4, val)

    # -- capabilities ------------------------------------------------------

    def find_cap(self, cap_id: int) -> int:
        """Offset of the first standard capability ``cap_id``, 0 when absent."""
        if not self.readw(PCI_STATUS) & PCI_STATUS_CAP_LIST:
            return 0
        pos = self.readb(PCI_CAPABILITY_LIST) & 0xFC
        for _ in range(48):
            if not pos:
                break
            if self.readb(pos) == cap_id:
                return pos
            pos = self.readb(pos + 1) & 0xFC
        return 0

    def find_ext_cap(self, cap_id: int) -> int:
        """Offset of the extended capability ``cap_id`` (needs ECAM), 0 when absent."""
        if self.cfg.limit <= 0x100:
            raise QTestError("extended capabilities need ECAM config access")
        pos = 0x100
        for _ in range(480):
            hdr = self.readl(pos)
            if hdr in (0, 0xFFFF_FFFF):
                return 0
            if hdr & 0xFFFF == cap_id:
                return pos
            pos = (hdr >> 20) & 0xFFC
            if pos < 0x100:
                return 0
        return 0

    # -- BARs and decoding -------------------------------------------------

    def bar_size(self, bar: int) -> int:
        """Size of memory BAR ``bar`` (sized the standard way; decoding must be off)."""
        off = PCI_BAR0 + 4 * bar
        lo = self.readl(off)
        is64 = (lo & 0x6) == 0x4
        self.writel(off, 0xFFFF_FFFF)
        mask = self.readl(off) & ~0xF
        self.writel(off, lo)
        if is64:
            hi = self.readl(off + 4)
            self.writel(off + 4, 0xFFFF_FFFF)
            mask |= self.readl(off + 4) << 32
            self.writel(off + 4, hi)
            return (~mask + 1) & 0xFFFF_FFFF_FFFF_FFFF
        return (~mask + 1) & 0xFFFF_FFFF

    def assign_bar(self, bar: int, addr: int) -> int:
        """Program memory BAR ``bar`` (32- or 64-bit) to ``addr``; returns ``addr``."""
        off = PCI_BAR0 + 4 * bar
        is64 = (self.readl(off) & 0x6) == 0x4
        self.writel(off, addr & 0xFFFF_FFFF)
        if is64:
            self.writel(off + 4, addr >> 32)
        elif addr >> 32:
            raise QTestError(f"BAR{bar} is 32-bit, cannot take {addr:#x}")
        return addr

    def enable(self, memory: bool = True, master: bool = True) -> None:
        """Set (or clear) Memory Space and Bus Master Enable in COMMAND."""
        cmd = self.readw(PCI_COMMAND) & ~(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)
        cmd |= (PCI_COMMAND_MEMORY if memory else 0) | (PCI_COMMAND_MASTER if master else 0)
        self.writew(PCI_COMMAND, cmd)

    # -- interrupts ----------------------------------------------------------

    def intx_pending(self) -> bool:
        """The Interrupt Status bit of STATUS: the function asserts INTx."""
        return bool(self.readw(PCI_STATUS) & PCI_STATUS_INTERRUPT)

    def enable_msi(self, address: int, data: int) -> None:
        """Enable MSI with one vector that writes ``data`` (32 bits) to ``address``.

        On a machine without an interrupt controller behind the address, point
        it at guest RAM and read the message back from there.
        """
        cap = self.find_cap(PCI_CAP_ID_MSI)
        if not cap:
            raise QTestError(f"{self!r} has no MSI capability")
        flags = self.readw(cap + PCI_MSI_FLAGS)
        self.writel(cap + PCI_MSI_ADDRESS_LO, address & 0xFFFF_FFFF)
        if flags & PCI_MSI_FLAGS_64BIT:
            self.writel(cap + PCI_MSI_ADDRESS_HI, address >> 32)
            self.writew(cap + PCI_MSI_DATA_64, data)
        else:
            self.writew(cap + PCI_MSI_DATA_32, data)
        self.writew(cap + PCI_MSI_FLAGS, (flags & ~0x70) | PCI_MSI_FLAGS_ENABLE)

    def disable_msi(self) -> None:
        cap = self.find_cap(PCI_CAP_ID_MSI)
        if cap:
            flags = self.readw(cap + PCI_MSI_FLAGS)
            self.writew(cap + PCI_MSI_FLAGS, flags & ~PCI_MSI_FLAGS_ENABLE)

    def enable_pasid(self) -> int:
        """Set the PASID capability's Enable bit; returns its width (Max PASID Width)."""
        cap = self.find_ext_cap(PCI_EXT_CAP_ID_PASID)
        if not cap:
            raise QTestError(f"{self!r} has no PASID capability")
        self.writew(cap + PCI_PASID_CTRL, PCI_PASID_CTRL_ENABLE)
        return (self.readw(cap + PCI_PASID_CAP) >> 8) & 0x1F


def find_function(cfg: ConfigAccess, vendor: int, device: int) -> PciFunction:
    """The first function on the bus with ``vendor``:``device`` (function 0 of each slot)."""
    want = device << 16 | vendor
    for slot in range(32):
        if cfg.read(slot << 3, PCI_VENDOR_ID, 4) == want:
            return PciFunction(cfg, slot << 3)
    raise QTestError(f"no PCI function {vendor:04x}:{device:04x} on bus {getattr(cfg, 'bus', 0)}")
