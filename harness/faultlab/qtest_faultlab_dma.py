"""Drive the faultlab-dma PCI DMA test engine (qemu-devices/docs/faultlab-dma.md) from qtest.

:func:`attach` finds the device on the machine's root bus, puts BAR0 in the
PCI MMIO window, enables memory decoding and bus mastering, and returns a
:class:`FaultlabDma` whose methods program and poll channels::

    with QTest("qemu-system-aarch64", ["-machine", "virt", "-cpu", "max",
                                       "-device", "faultlab-dma"]) as qt:
        dma = attach(qt, "virt")
        dma.start(0, Op.FILL, dst=0x4100_0000, length=4096, pattern=0x1122)
        st = dma.wait(0)          # polls STATUS until the command ended
        assert st.state == State.DONE

The engine runs in a bottom half, which the main loop runs between qtest
commands, so :meth:`FaultlabDma.wait` just polls. For PASID-tagged DMA
(``pasid=``) the PASID capability must be enabled first
(``dma.fn.enable_pasid()``), as Linux's pci_enable_pasid() does; otherwise the
command ends in BADCMD.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from faultlab.qtest import QTest, QTestError
from faultlab.qtest_pci import (
    Q35_MMIO_BASE,
    VIRT_MMIO_BASE,
    PciFunction,
    find_function,
    q35_ecam,
    virt_ecam,
)

VENDOR_ID = 0x1234
DEVICE_ID = 0xFA01
CLASS_CODE = 0x0880
ID_VALUE = 0x0000_0001_464C_444D
MAX_LEN = 16 << 20

# Global registers
REG_ID = 0x000
REG_NCHAN = 0x008
REG_IRQ_STATUS = 0x010
REG_IRQ_MASK = 0x018

# Channel registers, at CHAN_BASE + n * CHAN_STRIDE
CHAN_BASE = 0x100
CHAN_STRIDE = 0x80
CH_PASID = 0x00
CH_SRC = 0x08
CH_DST = 0x10
CH_LEN = 0x18
CH_PATTERN = 0x20
CH_CMD = 0x28
CH_STATUS = 0x30
CH_BYTES_DONE = 0x38
CH_FAULT_ADDR = 0x40
CH_STALLS = 0x48
CH_RESULT = 0x50
CH_ABORT = 0x58

PASID_PV = 1 << 63
RESULT_EQUAL = (1 << 64) - 1


class Op(IntEnum):
    NOP = 0
    COPY = 1
    FILL = 2
    COMPARE = 3


class State(IntEnum):
    IDLE = 0
    RUNNING = 1
    STALLED = 2
    DONE = 3
    FAULT = 4
    MISMATCH = 5
    BADCMD = 6


class Reason(IntEnum):
    NONE = 0
    XLATE = 1  # translation fault without stall
    ABORTED = 2  # stall answered with abort
    TERMINATED = 3  # stall terminated by the IOMMU
    CANCELLED = 4  # ABORT register
    INJECTED = 5  # x-inject-fault-next
    BUS = 6  # error completion (no memory there) or Bus Master Enable clear


@dataclass(frozen=True)
class Status:
    raw: int

    @property
    def state(self) -> State:
        return State(self.raw & 0xFF)

    @property
    def reason(self) -> Reason:
        return Reason((self.raw >> 8) & 0xFF)

    @property
    def write(self) -> bool:
        return bool(self.raw >> 16 & 1)

    def __str__(self) -> str:
        return (
            f"{self.state.name}/{self.reason.name}{'/write' if self.write else ''} ({self.raw:#x})"
        )


class FaultlabDma:
    """The registers of one faultlab-dma whose BAR0 is at ``bar0``."""

    def __init__(self, qt: QTest, bar0: int, fn: PciFunction | None = None) -> None:
        self.qt = qt
        self.bar0 = bar0
        self.fn = fn

    def reg(self, chan: int, off: int) -> int:
        return self.bar0 + CHAN_BASE + chan * CHAN_STRIDE + off

    def read(self, off: int) -> int:
        return self.qt.readq(self.bar0 + off)

    def write(self, off: int, val: int) -> None:
        self.qt.writeq(self.bar0 + off, val)

    def chan_read(self, chan: int, off: int) -> int:
        return self.qt.readq(self.reg(chan, off))

    def chan_write(self, chan: int, off: int, val: int) -> None:
        self.qt.writeq(self.reg(chan, off), val)

    def status(self, chan: int) -> Status:
        return Status(self.chan_read(chan, CH_STATUS))

    def start(
        self,
        chan: int,
        op: int,
        *,
        src: int = 0,
        dst: int = 0,
        length: int = 0,
        pattern: int = 0,
        pasid: int | None = None,
    ) -> None:
        """Program a channel's registers and write CMD (``pasid``: tag with PV=1)."""
        self.chan_write(chan, CH_PASID, 0 if pasid is None else PASID_PV | pasid)
        self.chan_write(chan, CH_SRC, src)
        self.chan_write(chan, CH_DST, dst)
        self.chan_write(chan, CH_LEN, length)
        self.chan_write(chan, CH_PATTERN, pattern)
        self.chan_write(chan, CH_CMD, op)

    def abort(self, chan: int) -> None:
        self.chan_write(chan, CH_ABORT, 1)

    def wait(self, chan: int, timeout: float = 20.0) -> Status:
        """Poll STATUS until the channel is neither RUNNING nor STALLED."""
        return self.wait_for(chan, lambda s: s.state not in (State.RUNNING, State.STALLED), timeout)

    def wait_state(self, chan: int, state: State, timeout: float = 20.0) -> Status:
        return self.wait_for(chan, lambda s: s.state == state, timeout)

    def wait_for(self, chan: int, pred: Callable[[Status], bool], timeout: float = 20.0) -> Status:
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(chan)
            if pred(st):
                return st
            if time.monotonic() > deadline:
                raise QTestError(f"channel {chan} still {st} after {timeout}s")


def attach(qt: QTest, machine: str) -> FaultlabDma:
    """Find faultlab-dma on ``virt`` or ``q35``'s root bus, map BAR0, enable MEM + bus master."""
    if machine == "virt":
        cfg, base = virt_ecam(qt), VIRT_MMIO_BASE
    elif machine == "q35":
        cfg, base = q35_ecam(qt), Q35_MMIO_BASE
    else:
        raise ValueError(f"attach: unknown machine {machine!r}")
    fn = find_function(cfg, VENDOR_ID, DEVICE_ID)
    bar0 = fn.assign_bar(0, base)
    fn.enable()
    dma = FaultlabDma(qt, bar0, fn)
    if dma.read(REG_ID) != ID_VALUE:
        raise QTestError(f"faultlab-dma BAR0 at {bar0:#x} does not read its ID")
    return dma
