"""Drive the faultlab-dsa model (Intel DSA 2.0, qemu-devices/docs/dsa.md) from qtest.

:func:`attach` finds the 8086:0b25 function on q35's root bus, places BAR0 (registers,
MSI-X) and BAR2 (portals) in the PCI hole, enables memory decoding and bus mastering and
returns a :class:`Dsa`. qtest runs no CPU, so descriptors reach the portals through the
generic ``faultlab-portal-tester`` device (hw/faultlab/portal.c), which hands a 64-byte
block to ``faultlab_portal_store()`` exactly as the TCG MOVDIR64B/ENQCMD helpers do::

    with QTest("qemu-system-x86_64", ["-machine", "q35", "-m", "256",
                                      "-device", "faultlab-dsa,id=dsa0",
                                      "-device", "faultlab-portal-tester,id=pt",
                                      "-qmp", "unix:/tmp/q.sock,server=on,wait=off"]) as qt:
        dsa = attach(qt)
        dsa.setup_dedicated_wq(0)
        answer = dsa.submit(qmp, 0, desc(Opcode.MEMMOVE, Flag.CRAV | Flag.RCR, cr, src, dst, 4096))

Descriptors run in a bottom half that the main loop runs between qtest commands, so
:meth:`Dsa.wait_cr` just polls the completion record's status byte.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from faultlab.qmp import QMP
from faultlab.qtest import QTest, QTestError
from faultlab.qtest_pci import Q35_MMIO_BASE, PciFunction, find_function, q35_ecam

VENDOR_ID = 0x8086
DEVICE_ID = 0x0B25
CLASS_CODE = 0x0880
BAR0_SIZE = 0x1_0000
BAR2_SIZE = 0x2_0000
NUM_WQS = 8
NUM_GROUPS = 4
NUM_ENGINES = 4
TOTAL_WQ_SIZE = 128
MSIX_VECTORS = 1 + NUM_WQS
MSIX_TABLE = 0x2000
MSIX_PBA = 0x3000
PORTAL_STRIDE = 0x4000
LIMITED_PORTAL = 0x1000

# Capability values the model reports (docs/dsa.md)
VERSION_VALUE = 0x200
GENCAP_VALUE = 0x815F_2013
WQCAP_VALUE = 0x00CF_0000_0108_0080
GRPCAP_VALUE = 0x36004  # 4 groups, 96 read buffers, rdbuf_ctrl, rdbuf_limit
ENGCAP_VALUE = 4
OPCAP0_VALUE = 0x1_003F_03FF
TABLE0_VALUE = 0x0000_0003_0005_0004
CMDCAP_VALUE = 0x1FFE

# BAR0 registers
REG_VERSION = 0x00
REG_GENCAP = 0x10
REG_WQCAP = 0x20
REG_GRPCAP = 0x30
REG_ENGCAP = 0x38
REG_OPCAP = 0x40
REG_TABLE_OFFSET = 0x60
REG_GENCFG = 0x80
REG_GENCTRL = 0x88
REG_GENSTS = 0x90
REG_INTCAUSE = 0x98
REG_CMD = 0xA0
REG_CMDSTS = 0xA8
REG_CMDCAP = 0xB0
REG_SWERR = 0xC0
REG_EVLCFG = 0xE0
REG_EVLSTATUS = 0xF0
MSIXPERM_BASE = 0x300
GRPCFG_BASE = 0x400
WQCFG_BASE = 0x500
WQCFG_SIZE = 64

GENCFG_EVL_EN = 1 << 13
GENCTRL_SOFTERR = 1 << 0
GENCTRL_HALT = 1 << 1
GENCTRL_EVL = 1 << 2
INTC_ERR = 0x01
INTC_CMD = 0x02
INTC_EVL = 0x20
CMD_INT_REQ = 1 << 31
CMDSTS_ACTIVE = 1 << 31
SWERR_VALID = 1 << 0
SWERR_OVERFLOW = 1 << 1
EVLSTATUS_INT_PENDING = 1 << 62

WQCFG2_DEDICATED = 1 << 0
WQCFG2_BOF = 1 << 1
WQCFG2_PRS_DISABLE = 1 << 3
WQCFG2_PASID_EN = 1 << 28
WQCFG2_PRIV = 1 << 29

# Model-defined error codes for errors without a descriptor CR (docs/dsa.md)
ERR_WQ_DISABLED = 0xF0
ERR_WQ_FULL = 0xF1
ERR_WQ_MODE = 0xF2

PORTAL_NONE, PORTAL_ACCEPTED, PORTAL_RETRY = 0, 1, 2


class Cmd(IntEnum):
    ENABLE_DEVICE = 1
    DISABLE_DEVICE = 2
    DRAIN_ALL = 3
    ABORT_ALL = 4
    RESET_DEVICE = 5
    ENABLE_WQ = 6
    DISABLE_WQ = 7
    DRAIN_WQ = 8
    ABORT_WQ = 9
    RESET_WQ = 10
    DRAIN_PASID = 11
    ABORT_PASID = 12
    REQUEST_INT_HANDLE = 13
    RELEASE_INT_HANDLE = 14


class CmdStatus(IntEnum):
    SUCCESS = 0x00
    INVAL_CMD = 0x01
    INVAL_WQIDX = 0x02
    DEV_ENABLED = 0x10
    CONFIG = 0x11
    BUSMASTER_EN = 0x12
    WQ_SIZE_ERANGE = 0x14
    DEV_NOTEN = 0x20
    WQ_ENABLED = 0x21
    WQ_SIZE = 0x22
    PASID_EN = 0x26
    MAX_BATCH_SIZE = 0x27
    MAX_XFER_SIZE = 0x28
    DIS_DEV_EN = 0x31
    DEV_NOT_EN = 0x32


class Opcode(IntEnum):
    NOOP = 0x00
    BATCH = 0x01
    DRAIN = 0x02
    MEMMOVE = 0x03
    MEMFILL = 0x04
    COMPARE = 0x05
    DIF_CHECK = 0x12
    DIF_INS = 0x13
    DIF_STRP = 0x14
    DIF_UPDT = 0x15


class Flag(IntFlag):
    FENCE = 0x1
    BOF = 0x2
    CRAV = 0x4
    RCR = 0x8
    RCI = 0x10


class Status(IntEnum):
    NONE = 0x00
    SUCCESS = 0x01
    PAGE_FAULT_NOBOF = 0x03
    BATCH_FAIL = 0x05
    BATCH_PAGE_FAULT = 0x06
    DIF_ERR = 0x09
    BAD_OPCODE = 0x10
    INVALID_FLAGS = 0x11
    XFER_ERANGE = 0x13
    DESC_CNT_ERANGE = 0x14
    DESCLIST_ALIGN = 0x18
    INT_HANDLE_INVAL = 0x19
    CRA_XLAT = 0x1A
    CRA_ALIGN = 0x1B
    DRAIN_EVL = 0x26
    BATCH_EVL_ERR = 0x27


STATUS_WRITE = 0x80


def desc(
    opcode: int,
    flags: int,
    cr: int = 0,
    src: int = 0,
    dst: int = 0,
    size: int = 0,
    *,
    int_handle: int = 0,
    pasid: int = 0,
    priv: bool = False,
    op_specific: bytes = b"",
) -> bytes:
    """A 64-byte DSA descriptor (struct dsa_hw_desc, little-endian)."""
    if len(op_specific) > 24:
        raise ValueError("op_specific is at most 24 bytes")
    dw0 = (pasid & 0xFFFFF) | (1 << 31 if priv else 0)
    dw1 = (flags & 0xFFFFFF) | (opcode & 0xFF) << 24
    head = struct.pack("<IIQQQIH2x", dw0, dw1, cr, src, dst, size, int_handle)
    return head + op_specific.ljust(24, b"\0")


@dataclass(frozen=True)
class CompletionRecord:
    raw: bytes

    @property
    def status(self) -> int:
        return self.raw[0]

    @property
    def result(self) -> int:
        return self.raw[1]

    @property
    def bytes_completed(self) -> int:
        return int.from_bytes(self.raw[4:8], "little")

    @property
    def fault_addr(self) -> int:
        return int.from_bytes(self.raw[8:16], "little")

    def dif_tags(self, off: int = 16) -> tuple[int, int, int]:
        """(ref tag, app tag mask, app tag) of a DIF record at +16 (source) or +24."""
        ref, mask, app = struct.unpack_from("<IHH", self.raw, off)
        return ref, mask, app


@dataclass(frozen=True)
class EvlEntry:
    """One 64-byte DSA event log entry (struct dsa_evl_entry)."""

    raw: bytes

    @property
    def qw0(self) -> int:
        return int.from_bytes(self.raw[0:8], "little")

    @property
    def desc_valid(self) -> bool:
        return bool(self.qw0 >> 2 & 1)

    @property
    def wq_idx_valid(self) -> bool:
        return bool(self.qw0 >> 3 & 1)

    @property
    def batch(self) -> bool:
        return bool(self.qw0 >> 4 & 1)

    @property
    def fault_rw(self) -> bool:
        return bool(self.qw0 >> 5 & 1)

    @property
    def priv(self) -> bool:
        return bool(self.qw0 >> 6 & 1)

    @property
    def error(self) -> int:
        return self.qw0 >> 8 & 0xFF

    @property
    def wq_idx(self) -> int:
        return self.qw0 >> 16 & 0xFF

    @property
    def batch_id(self) -> int:
        return self.qw0 >> 24 & 0xFF

    @property
    def operation(self) -> int:
        return self.qw0 >> 32 & 0xFF

    @property
    def pasid(self) -> int:
        return self.qw0 >> 40 & 0xFFFFF

    @property
    def batch_idx(self) -> int:
        return int.from_bytes(self.raw[8:10], "little")

    @property
    def int_handle(self) -> int:
        return int.from_bytes(self.raw[12:14], "little")

    @property
    def rci(self) -> bool:
        return bool(self.raw[14] & 1)

    @property
    def rcr(self) -> bool:
        return bool(self.raw[14] & 4)

    @property
    def first_err_in_batch(self) -> bool:
        return bool(self.raw[14] & 8)

    @property
    def fault_addr(self) -> int:
        return int.from_bytes(self.raw[16:24], "little")

    @property
    def cr(self) -> CompletionRecord:
        return CompletionRecord(self.raw[32:64])


class Dsa:
    """The registers and portals of one faultlab-dsa (BAR0 at ``bar0``, BAR2 at ``bar2``)."""

    def __init__(self, qt: QTest, bar0: int, bar2: int, fn: PciFunction) -> None:
        self.qt = qt
        self.bar0 = bar0
        self.bar2 = bar2
        self.fn = fn

    def read32(self, off: int) -> int:
        return self.qt.readl(self.bar0 + off)

    def read64(self, off: int) -> int:
        return self.qt.readq(self.bar0 + off)

    def write32(self, off: int, val: int) -> None:
        self.qt.writel(self.bar0 + off, val)

    def write64(self, off: int, val: int) -> None:
        self.qt.writeq(self.bar0 + off, val)

    def portal(self, wq: int, page: int = 1) -> int:
        """Physical address of ``wq``'s portal page ``page`` (1: the limited portal)."""
        return self.bar2 + wq * PORTAL_STRIDE + page * 0x1000

    # -- commands ------------------------------------------------------------

    def command(
        self, cmd: int, operand: int = 0, int_req: bool = False, timeout: float = 10.0
    ) -> int:
        """Write CMD and poll CMDSTS until it is not active; returns CMDSTS."""
        self.write32(
            REG_CMD, (cmd & 0x1F) << 20 | (operand & 0xFFFFF) | (CMD_INT_REQ if int_req else 0)
        )
        deadline = time.monotonic() + timeout
        while True:
            sts = self.read32(REG_CMDSTS)
            if not sts & CMDSTS_ACTIVE:
                return sts
            if time.monotonic() > deadline:
                raise QTestError(f"command {cmd} still active after {timeout}s")

    @staticmethod
    def wq_operand(wq: int) -> int:
        """The WQ bitmap operand of DISABLE/DRAIN/ABORT/RESET_WQ."""
        return 1 << (wq % 16) | (wq // 16) << 16

    # -- configuration -------------------------------------------------------

    def wqcfg(self, wq: int, dw: int) -> int:
        return self.read32(WQCFG_BASE + wq * WQCFG_SIZE + 4 * dw)

    def set_wqcfg(self, wq: int, dw: int, val: int) -> None:
        self.write32(WQCFG_BASE + wq * WQCFG_SIZE + 4 * dw, val)

    def config_wq(
        self,
        wq: int,
        size: int = 16,
        *,
        dedicated: bool = True,
        bof: bool = False,
        prs_disable: bool = False,
        pasid: int | None = None,
        priv: bool = False,
        max_xfer_shift: int = 21,
        max_batch_shift: int = 5,
        group: int = 0,
    ) -> None:
        """Write ``wq``'s WQCFG as idxd does, and put it and engine ``group`` in ``group``."""
        dw2 = (
            (WQCFG2_DEDICATED if dedicated else 0)
            | (WQCFG2_BOF if bof else 0)
            | (WQCFG2_PRS_DISABLE if prs_disable else 0)
            | 1 << 4  # priority 1
            | (WQCFG2_PASID_EN | (pasid & 0xFFFFF) << 8 if pasid is not None else 0)
            | (WQCFG2_PRIV if priv else 0)
        )
        self.set_wqcfg(wq, 0, size)
        self.set_wqcfg(wq, 2, dw2)
        self.set_wqcfg(wq, 3, max_xfer_shift | max_batch_shift << 5)
        grp = GRPCFG_BASE + group * 64
        self.write64(grp, self.read64(grp) | 1 << wq)
        self.write64(grp + 32, 1 << group)

    def config_evl(self, base: int, entries: int) -> None:
        """EVLCFG = base/size, GENCTRL.evl_int_en, GENCFG.evl_en (before ENABLE_DEVICE)."""
        self.write64(REG_EVLCFG, base & ~0xFFF)
        self.write64(REG_EVLCFG + 8, entries & 0xFFFF)
        self.write32(REG_GENCTRL, self.read32(REG_GENCTRL) | GENCTRL_EVL | GENCTRL_SOFTERR)
        self.write32(REG_GENCFG, self.read32(REG_GENCFG) | GENCFG_EVL_EN)

    def evl_status(self) -> tuple[int, int, bool]:
        """(head, tail, int_pending) of EVLSTATUS."""
        v = self.read64(REG_EVLSTATUS)
        return v & 0xFFFF, v >> 32 & 0xFFFF, bool(v & EVLSTATUS_INT_PENDING)

    def set_evl_head(self, head: int) -> None:
        self.write32(REG_EVLSTATUS, head)

    def swerr(self) -> list[int]:
        return [self.read64(REG_SWERR + 8 * i) for i in range(4)]

    # -- MSI-X ---------------------------------------------------------------

    def msix_enable(self, vector: int, address: int, data: int) -> None:
        """Enable MSI-X and program ``vector`` to write ``data`` to guest RAM ``address``."""
        cap = self.fn.find_cap(0x11)
        if not cap:
            raise QTestError("no MSI-X capability")
        entry = self.bar0 + MSIX_TABLE + 16 * vector
        self.qt.writel(entry, address & 0xFFFF_FFFF)
        self.qt.writel(entry + 4, address >> 32)
        self.qt.writel(entry + 8, data)
        self.qt.writel(entry + 12, 0)  # unmasked
        self.fn.writew(cap + 2, self.fn.readw(cap + 2) | 0x8000)

    # -- submission ----------------------------------------------------------

    def submit(
        self,
        qmp: QMP,
        wq: int,
        descriptor: bytes,
        kind: str = "movdir64b",
        pasid: int | None = None,
        priv: bool = False,
        tester: str = "/machine/peripheral/pt",
    ) -> int:
        """Hand ``descriptor`` to ``wq``'s limited portal; returns the answer (PORTAL_*)."""
        words = [kind, f"{self.portal(wq):#x}", descriptor.hex()]
        if pasid is not None:
            words.append(f"{pasid:#x}")
            if priv:
                words.append("priv")
        qmp.command("qom-set", path=tester, property="store", value=" ".join(words))
        answer = qmp.command("qom-get", path=tester, property="answer")
        assert isinstance(answer, int)
        return answer

    def wait_cr(self, addr: int, timeout: float = 10.0) -> CompletionRecord:
        """Poll the 32-byte completion record at ``addr`` until its status byte is set."""
        deadline = time.monotonic() + timeout
        while True:
            raw = self.qt.memread(addr, 32)
            if raw[0]:
                return CompletionRecord(raw)
            if time.monotonic() > deadline:
                raise QTestError(f"no completion at {addr:#x} after {timeout}s")


def attach(qt: QTest, bar0: int = Q35_MMIO_BASE) -> Dsa:
    """Find faultlab-dsa on q35's root bus, map BAR0 and BAR2, enable MEM + bus master."""
    fn = find_function(q35_ecam(qt), VENDOR_ID, DEVICE_ID)
    fn.assign_bar(0, bar0)
    bar2 = fn.assign_bar(2, bar0 + BAR2_SIZE)
    fn.enable()
    dsa = Dsa(qt, bar0, bar2, fn)
    if dsa.read32(REG_VERSION) != VERSION_VALUE:
        raise QTestError(f"faultlab-dsa BAR0 at {bar0:#x} does not read VERSION 0x200")
    return dsa
