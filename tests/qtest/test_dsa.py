"""faultlab-dsa, the Intel DSA 2.0 model, through qtest (qemu-devices/docs/dsa.md).

q35 without intel-iommu: the device does plain bus-master DMA (no PASID IOMMU), so these
tests cover the PCI function, the registers and commands, descriptor processing through
the portals (handed over by the generic faultlab-portal-tester device, as the TCG
MOVDIR64B/ENQCMD helpers do), completion records, interrupts, the event log (a completion
record address where nothing answers is the fault), batches, SWERR, the QOM knobs and
guest-hostile values. Page requests need VT-d and a guest: the x86_64 guest runs them.
"""

from __future__ import annotations

import functools
import random
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from faultlab import paths
from faultlab.qmp import QMP
from faultlab.qtest import QTest, qtest_with_qmp
from faultlab.qtest_dsa import (
    BAR0_SIZE,
    BAR2_SIZE,
    CLASS_CODE,
    CMDCAP_VALUE,
    DEVICE_ID,
    ENGCAP_VALUE,
    ERR_WQ_DISABLED,
    ERR_WQ_MODE,
    GENCAP_VALUE,
    GENCFG_EVL_EN,
    GRPCAP_VALUE,
    INTC_CMD,
    INTC_ERR,
    INTC_EVL,
    MSIX_VECTORS,
    OPCAP0_VALUE,
    PORTAL_ACCEPTED,
    PORTAL_RETRY,
    REG_CMDCAP,
    REG_CMDSTS,
    REG_ENGCAP,
    REG_EVLCFG,
    REG_GENCAP,
    REG_GENCFG,
    REG_GENSTS,
    REG_GRPCAP,
    REG_INTCAUSE,
    REG_OPCAP,
    REG_SWERR,
    REG_TABLE_OFFSET,
    REG_VERSION,
    REG_WQCAP,
    STATUS_WRITE,
    SWERR_OVERFLOW,
    SWERR_VALID,
    TABLE0_VALUE,
    VENDOR_ID,
    VERSION_VALUE,
    WQCAP_VALUE,
    WQCFG2_DEDICATED,
    WQCFG2_PASID_EN,
    Cmd,
    CmdStatus,
    Dsa,
    EvlEntry,
    Flag,
    Opcode,
    Status,
    attach,
    desc,
)
from faultlab.qtest_pci import (
    PCI_CAP_ID_EXP,
    PCI_CLASS_REVISION,
    PCI_EXP_DEVCAP2,
    PCI_EXP_DEVCAP2_EE_PREFIX,
    PCI_EXP_FLAGS,
    PCI_EXP_TYPE_RC_END,
    PCI_EXT_CAP_ID_PASID,
    PCI_PASID_CAP,
    PCI_VENDOR_ID,
)

from .conftest import need_qemu

pytestmark = pytest.mark.qtest

BINARY = "qemu-system-x86_64"
UNBACKED = 0x4000_0000_0000  # nothing answers there: a DMA fault without an IOMMU
RAM_END = 256 << 20  # q35 -m 256: RAM below, nothing above until the PCI hole
PCI_EXT_CAP_ID_ATS = 0x0F
PCI_EXT_CAP_ID_PRI = 0x13
PCI_CAP_ID_MSIX = 0x11


def mib(n: int, off: int = 0) -> int:
    return (n << 20) + off


@dataclass
class Session:
    qt: QTest
    qmp: QMP
    dsa: Dsa

    def qom(self, prop: str) -> object:
        return self.qmp.command(
            "qom-get", path="/machine/peripheral/dsa0", property=prop
        )

    def qom_set(self, prop: str, value: object) -> None:
        self.qmp.command(
            "qom-set", path="/machine/peripheral/dsa0", property=prop, value=value
        )

    def submit(
        self, wq: int, d: bytes, kind: str = "movdir64b", pasid: int | None = None
    ) -> int:
        return self.dsa.submit(self.qmp, wq, d, kind, pasid)

    def enable(
        self, *wqs: int, evl: tuple[int, int] | None = None, **cfg: object
    ) -> None:
        """Configure ``wqs`` (dedicated unless told), the event log, enable device and WQs."""
        for wq in wqs:
            self.dsa.config_wq(wq, **cfg)  # type: ignore[arg-type]
        if evl is not None:
            self.dsa.config_evl(*evl)
        assert self.dsa.command(Cmd.ENABLE_DEVICE) == CmdStatus.SUCCESS
        for wq in wqs:
            assert self.dsa.command(Cmd.ENABLE_WQ, wq) == CmdStatus.SUCCESS


@functools.cache
def portal_tester_error() -> str:
    """Why QEMU cannot create the faultlab-portal-tester object ("" when it can)."""
    argv = [str(paths.qemu_binary(BINARY)), "-machine", "none", "-display", "none"]
    argv += ["-nodefaults", "-S", "-device", "faultlab-portal-tester,id=pt"]
    try:
        done = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=5
        )
    except subprocess.TimeoutExpired:
        return ""  # it started and waits, stopped (-S): the object exists
    return done.stderr.strip() or f"exit status {done.returncode}"


def open_session(
    device: str = "faultlab-dsa,id=dsa0", portal: bool = True
) -> Iterator[Session]:
    need_qemu(BINARY)
    if portal and portal_tester_error():
        # `make qemu` always builds the tester: its absence is a regression, never a skip.
        pytest.fail(
            "QEMU cannot create faultlab-portal-tester, which every QEMU build has: "
            f"{portal_tester_error()}"
        )
    args = ["-machine", "q35", "-m", "256", "-device", device]
    if portal:
        args += ["-device", "faultlab-portal-tester,id=pt"]
    with qtest_with_qmp(BINARY, args, "faultlab-dsa-test") as (qt, client):
        yield Session(qt, client, attach(qt))


@pytest.fixture
def s() -> Iterator[Session]:
    """With the portal tester: descriptors can be submitted."""
    yield from open_session()


@pytest.fixture
def r() -> Iterator[Session]:
    """Registers and commands only (no portal tester)."""
    yield from open_session(portal=False)


def fill(qt: QTest, addr: int, length: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(length)
    qt.memwrite(addr, data)
    return data


# -- PCI function and registers ------------------------------------------------


def test_pci_identity_and_capabilities(r: Session) -> None:
    fn = r.dsa.fn
    assert fn.readl(PCI_VENDOR_ID) == DEVICE_ID << 16 | VENDOR_ID
    assert fn.readl(PCI_CLASS_REVISION) >> 16 == CLASS_CODE
    exp = fn.find_cap(PCI_CAP_ID_EXP)
    assert exp and (fn.readw(exp + PCI_EXP_FLAGS) >> 4) & 0xF == PCI_EXP_TYPE_RC_END
    assert fn.readl(exp + PCI_EXP_DEVCAP2) & PCI_EXP_DEVCAP2_EE_PREFIX
    pasid = fn.find_ext_cap(PCI_EXT_CAP_ID_PASID)
    # Max PASID Width 20, Privileged Mode Supported (bit 2)
    assert pasid and fn.readw(pasid + PCI_PASID_CAP) == 20 << 8 | 0x4
    ats = fn.find_ext_cap(PCI_EXT_CAP_ID_ATS)
    assert ats and fn.readw(ats + 4) & 0x20  # Page Aligned Request
    pri = fn.find_ext_cap(PCI_EXT_CAP_ID_PRI)
    # STATUS: Stopped (bit 8) and PRG Response PASID Required (bit 15); capacity 512
    assert pri and fn.readw(pri + 6) == 0x8100 and fn.readl(pri + 8) == 512
    msix = fn.find_cap(PCI_CAP_ID_MSIX)
    assert msix
    assert (fn.readw(msix + 2) & 0x7FF) + 1 == MSIX_VECTORS
    assert fn.readl(msix + 4) == 0x2000  # table: BAR0 + 0x2000
    assert fn.readl(msix + 8) == 0x3000  # PBA: BAR0 + 0x3000


def test_bar_sizes() -> None:
    need_qemu(BINARY)
    with QTest(
        BINARY, ["-machine", "q35", "-m", "256", "-device", "faultlab-dsa"]
    ) as qt:
        from faultlab.qtest_pci import find_function, q35_ecam

        fn = find_function(q35_ecam(qt), VENDOR_ID, DEVICE_ID)
        assert fn.bar_size(0) == BAR0_SIZE
        assert fn.bar_size(2) == BAR2_SIZE


def test_register_reset_values(r: Session) -> None:
    d = r.dsa
    assert d.read32(REG_VERSION) == VERSION_VALUE
    assert d.read64(REG_GENCAP) == GENCAP_VALUE
    assert d.read64(REG_WQCAP) == WQCAP_VALUE
    assert d.read64(REG_GRPCAP) == GRPCAP_VALUE
    assert d.read64(REG_ENGCAP) == ENGCAP_VALUE
    assert [d.read64(REG_OPCAP + 8 * i) for i in range(4)] == [OPCAP0_VALUE, 0, 0, 0]
    assert d.read64(REG_TABLE_OFFSET) == TABLE0_VALUE
    assert d.read64(REG_TABLE_OFFSET + 8) == 0
    assert d.read32(REG_CMDCAP) == CMDCAP_VALUE
    for reg in (REG_GENCFG, REG_GENSTS, REG_INTCAUSE, REG_CMDSTS):
        assert d.read32(reg) == 0, hex(reg)
    assert d.swerr() == [0, 0, 0, 0]
    assert d.evl_status() == (0, 0, False)
    assert all(d.wqcfg(wq, dw) == 0 for wq in range(8) for dw in range(16))
    # 32-bit halves of a 64-bit register
    assert d.read32(REG_WQCAP) == WQCAP_VALUE & 0xFFFF_FFFF
    assert d.read32(REG_WQCAP + 4) == WQCAP_VALUE >> 32
    # read-only registers keep their value
    d.write64(REG_GENCAP, 0)
    d.write32(REG_VERSION, 0x100)
    assert (
        d.read64(REG_GENCAP) == GENCAP_VALUE and d.read32(REG_VERSION) == VERSION_VALUE
    )


# -- commands ------------------------------------------------------------------


def test_enable_device_needs_bus_master(r: Session) -> None:
    d = r.dsa
    d.fn.enable(master=False)
    assert d.command(Cmd.ENABLE_DEVICE) == CmdStatus.BUSMASTER_EN
    assert d.read32(REG_GENSTS) == 0
    d.fn.enable(master=True)
    assert d.command(Cmd.ENABLE_DEVICE) == CmdStatus.SUCCESS
    assert d.read32(REG_GENSTS) == 1
    assert d.command(Cmd.ENABLE_DEVICE) == CmdStatus.DEV_ENABLED
    assert d.command(Cmd.DISABLE_DEVICE) == CmdStatus.SUCCESS
    assert d.read32(REG_GENSTS) == 0
    assert d.command(Cmd.DISABLE_DEVICE) == CmdStatus.DIS_DEV_EN


def test_wq_commands_and_statuses(r: Session) -> None:
    d = r.dsa
    assert d.command(Cmd.ENABLE_WQ, 0) == CmdStatus.DEV_NOTEN
    assert d.command(Cmd.DISABLE_WQ, d.wq_operand(0)) == CmdStatus.DEV_NOT_EN
    assert d.command(Cmd.ENABLE_DEVICE) == CmdStatus.SUCCESS
    assert d.command(Cmd.ENABLE_WQ, 8) == CmdStatus.INVAL_WQIDX
    assert d.command(Cmd.ENABLE_WQ, 0) == CmdStatus.WQ_SIZE  # size 0
    d.set_wqcfg(0, 0, 16)
    assert d.command(Cmd.ENABLE_WQ, 0) == CmdStatus.PASID_EN  # shared without PASID
    d.set_wqcfg(0, 2, WQCFG2_DEDICATED | WQCFG2_PASID_EN | 5 << 8)
    assert d.command(Cmd.ENABLE_WQ, 0) == CmdStatus.PASID_EN  # PASID cap not enabled
    d.set_wqcfg(0, 2, WQCFG2_DEDICATED)
    d.set_wqcfg(0, 3, 21 | 11 << 5)  # max_batch_shift 11 > 10
    assert d.command(Cmd.ENABLE_WQ, 0) == CmdStatus.MAX_BATCH_SIZE
    d.set_wqcfg(0, 3, 21 | 5 << 5)
    d.set_wqcfg(1, 0, 120)  # 16 + 120 > 128
    assert d.command(Cmd.ENABLE_WQ, 0) == CmdStatus.WQ_SIZE
    d.set_wqcfg(1, 0, 0)
    assert d.command(Cmd.ENABLE_WQ, 0) == CmdStatus.SUCCESS
    assert d.wqcfg(0, 6) == 1 << 30  # wq_state enabled (read-only)
    assert d.command(Cmd.ENABLE_WQ, 0) == CmdStatus.WQ_ENABLED
    d.set_wqcfg(0, 0, 32)  # ignored while enabled
    assert d.wqcfg(0, 0) == 16
    assert d.command(Cmd.DRAIN_WQ, d.wq_operand(0)) == CmdStatus.SUCCESS
    assert d.command(Cmd.DRAIN_ALL) == CmdStatus.SUCCESS
    assert d.command(Cmd.DRAIN_PASID, 7) == CmdStatus.SUCCESS
    assert d.command(Cmd.ABORT_PASID, 7) == CmdStatus.SUCCESS
    assert d.command(Cmd.DISABLE_WQ, 1 << 9) == CmdStatus.INVAL_WQIDX
    assert d.command(Cmd.DISABLE_WQ, d.wq_operand(0)) == CmdStatus.SUCCESS
    assert d.wqcfg(0, 6) == 0
    assert d.command(Cmd.RESET_WQ, d.wq_operand(0)) == CmdStatus.SUCCESS
    assert [d.wqcfg(0, dw) for dw in range(4)] == [0, 0, 0, 0]
    assert d.command(Cmd.REQUEST_INT_HANDLE, 1) == CmdStatus.INVAL_CMD
    assert d.command(31) == CmdStatus.INVAL_CMD


def test_reset_device_restores_reset_values(r: Session) -> None:
    d = r.dsa
    r.enable(0, 1, evl=(mib(8), 64))
    d.write32(REG_GENCFG, d.read32(REG_GENCFG) | 0x1000 | 0x12)
    assert d.command(Cmd.RESET_DEVICE) == 0
    assert d.read32(REG_GENSTS) == 0 and d.read32(REG_GENCFG) == 0
    assert d.read64(REG_EVLCFG) == 0 and d.read64(REG_EVLCFG + 8) == 0
    assert all(d.wqcfg(wq, dw) == 0 for wq in range(2) for dw in range(16))
    assert d.read64(0x400) == 0 and d.read64(0x420) == 0  # GRPCFG


def test_command_interrupt_and_intcause_rw1c(r: Session) -> None:
    d = r.dsa
    msg = mib(4)
    r.qt.memwrite(msg, bytes(4))
    d.msix_enable(0, msg, 0xABCD_0000)
    assert d.command(Cmd.ENABLE_DEVICE, int_req=True) == 0
    assert d.read32(REG_INTCAUSE) == INTC_CMD
    assert r.qt.memread(msg, 4) == struct.pack("<I", 0xABCD_0000)
    d.write32(REG_INTCAUSE, INTC_CMD)
    assert d.read32(REG_INTCAUSE) == 0
    # the polled form (RESET_DEVICE in probe): no interrupt
    r.qt.memwrite(msg, bytes(4))
    assert d.command(Cmd.RESET_DEVICE) == 0
    assert d.read32(REG_INTCAUSE) == 0 and r.qt.memread(msg, 4) == bytes(4)


# -- descriptors -----------------------------------------------------------------


def test_memmove_dedicated_wq_and_completion_record(s: Session) -> None:
    s.enable(0)
    src, dst, cr = mib(1), mib(2, 0x123), mib(3, 0x40)
    data = fill(s.qt, src, 3 * 4096 + 77, 1)
    s.qt.memwrite(cr, b"\xee" * 32)
    d = desc(Opcode.MEMMOVE, Flag.CRAV | Flag.RCR, cr, src, dst, len(data))
    assert s.submit(0, d) == PORTAL_ACCEPTED
    rec = s.dsa.wait_cr(cr)
    assert rec.raw == bytes([Status.SUCCESS]) + bytes(31)
    assert s.qt.memread(dst, len(data)) == data
    assert s.qom("descriptors") == 1
    assert s.dsa.read32(REG_INTCAUSE) == 0


def test_success_without_rcr_writes_no_record(s: Session) -> None:
    s.enable(0)
    src, dst, cr = mib(1), mib(2), mib(3)
    data = fill(s.qt, src, 64, 2)
    s.qt.memwrite(cr, b"\xee" * 32)
    assert (
        s.submit(0, desc(Opcode.MEMMOVE, Flag.CRAV, cr, src, dst, 64))
        == PORTAL_ACCEPTED
    )
    # a NOOP with a record behind it on the same WQ: in order
    assert (
        s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, cr + 32)) == PORTAL_ACCEPTED
    )
    assert s.dsa.wait_cr(cr + 32).status == Status.SUCCESS
    assert s.qt.memread(cr, 32) == b"\xee" * 32
    assert s.qt.memread(dst, 64) == data


def test_completion_interrupt_rci(s: Session) -> None:
    s.enable(0)
    msg = mib(4)
    s.qt.memwrite(msg, bytes(4))
    s.dsa.msix_enable(1, msg, 0x41)
    cr = mib(3)
    d = desc(Opcode.NOOP, Flag.CRAV | Flag.RCR | Flag.RCI, cr, int_handle=1)
    assert s.submit(0, d) == PORTAL_ACCEPTED
    assert s.dsa.wait_cr(cr).status == Status.SUCCESS
    assert s.qt.memread(msg, 4) == struct.pack("<I", 0x41)


def test_partial_completion_on_source_and_destination_faults(s: Session) -> None:
    s.enable(0)
    src, dst, cr = mib(1), mib(2), mib(3)
    fill(s.qt, src, 8192, 3)
    # the destination runs off the end of RAM after 4096 - 0x100 bytes
    dst_end = RAM_END - 4096 + 0x100
    d = desc(Opcode.MEMMOVE, Flag.CRAV | Flag.RCR, cr, src, dst_end, 8192)
    assert s.submit(0, d) == PORTAL_ACCEPTED
    rec = s.dsa.wait_cr(cr)
    assert rec.status == Status.PAGE_FAULT_NOBOF | STATUS_WRITE
    assert rec.fault_addr == RAM_END
    assert rec.bytes_completed == 4096 - 0x100
    assert s.qt.memread(dst_end, 4096 - 0x100) == s.qt.memread(src, 4096 - 0x100)
    # source fault: nothing can be read there
    d = desc(Opcode.MEMMOVE, Flag.CRAV | Flag.RCR, cr + 32, UNBACKED, dst, 4096)
    assert s.submit(0, d) == PORTAL_ACCEPTED
    rec = s.dsa.wait_cr(cr + 32)
    assert (rec.status, rec.bytes_completed, rec.fault_addr) == (
        Status.PAGE_FAULT_NOBOF,
        0,
        UNBACKED,
    )
    assert s.qom("partial-completions") == 2


def test_shared_wq_enqcmd_accepts_then_retries_when_full(s: Session) -> None:
    d = s.dsa
    d.fn.enable_pasid()
    d.config_wq(2, size=2, dedicated=False, pasid=0)
    d.config_evl(mib(8), 64)
    assert d.command(Cmd.ENABLE_DEVICE) == 0
    # a disabled shared WQ refuses ENQCMD
    assert s.submit(2, desc(Opcode.NOOP, 0), "enqcmd", pasid=5) == PORTAL_RETRY
    assert d.command(Cmd.ENABLE_WQ, 2) == 0
    # the WQ's first descriptor waits for an event log slot: the queue fills up
    s.qom_set("x-inject-evl-full", True)
    blocker = desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, UNBACKED)
    assert s.submit(2, blocker, "enqcmd", pasid=5) == PORTAL_ACCEPTED
    for _ in range(20):
        d.read32(REG_VERSION)
    cr = mib(3)
    s.qt.memwrite(cr, bytes(128))
    answers = [
        s.submit(
            2, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, cr + 32 * i), "enqcmds", pasid=5
        )
        for i in range(3)
    ]
    assert answers == [PORTAL_ACCEPTED, PORTAL_ACCEPTED, PORTAL_RETRY]
    assert s.qom("portal-retries") == 2
    s.qom_set("x-inject-evl-full", False)
    for i in range(2):
        assert d.wait_cr(cr + 32 * i).status == Status.SUCCESS
    assert s.qt.memread(cr + 64, 32) == bytes(32)
    e = EvlEntry(s.qt.memread(mib(8), 64))
    assert (e.error, e.wq_idx, e.pasid, e.fault_addr) == (
        Status.CRA_XLAT,
        2,
        5,
        UNBACKED,
    )
    # MOVDIR64B to a shared WQ: dropped, no record, an event log entry (model error 0xf2)
    before = s.qom("portal-drops")
    assert (
        s.submit(2, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, cr + 96)) == PORTAL_ACCEPTED
    )
    assert s.qom("portal-drops") == int(before) + 1  # type: ignore[call-overload]
    assert EvlEntry(s.qt.memread(mib(8) + 64, 64)).error == ERR_WQ_MODE
    # ENQCMD to a dedicated WQ: retry
    d.config_wq(3)
    assert d.command(Cmd.ENABLE_WQ, 3) == 0
    assert s.submit(3, desc(Opcode.NOOP, 0), "enqcmd", pasid=5) == PORTAL_RETRY


def test_movdir64b_to_a_disabled_wq_is_dropped_to_swerr(s: Session) -> None:
    d = s.dsa
    s.enable(0, size=2)
    # the event log is off: the error goes to SWERR
    assert d.command(Cmd.DISABLE_WQ, d.wq_operand(0)) == 0
    assert s.submit(0, desc(Opcode.NOOP, 0)) == PORTAL_ACCEPTED
    sw = d.swerr()
    assert sw[0] & SWERR_VALID and (sw[0] >> 8) & 0xFF == ERR_WQ_DISABLED
    assert (sw[0] >> 16) & 0xFF == 0 and sw[0] & (1 << 3)  # wq_idx_valid, wq 0
    assert d.read32(REG_INTCAUSE) == INTC_ERR  # the cause is set; no interrupt enabled
    d.write64(REG_SWERR, SWERR_VALID | SWERR_OVERFLOW)
    assert d.swerr() == [0, 0, 0, 0]


# -- hostile descriptors and values ------------------------------------------------


def test_descriptor_errors(s: Session) -> None:
    s.enable(0, max_xfer_shift=12)
    cr = mib(3)
    cases = [
        (desc(0x7F, Flag.CRAV | Flag.RCR, cr), Status.BAD_OPCODE),
        (
            desc(Opcode.MEMMOVE, Flag.CRAV, cr + 32, mib(1), mib(2), 4097),
            Status.XFER_ERANGE,
        ),
        (
            desc(Opcode.BATCH, Flag.CRAV, cr + 64, mib(1) + 8, 0, 2),
            Status.DESCLIST_ALIGN,
        ),
        (desc(Opcode.BATCH, Flag.CRAV, cr + 96, mib(1), 0, 1), Status.DESC_CNT_ERANGE),
        (
            desc(Opcode.NOOP, Flag.CRAV | Flag.RCI, cr + 128, int_handle=200),
            Status.INT_HANDLE_INVAL,
        ),
    ]
    for i, (d, _) in enumerate(cases):
        assert s.submit(0, d) == PORTAL_ACCEPTED, i
    for i, (_, want) in enumerate(cases):
        got = s.dsa.wait_cr(cr + 32 * i).status
        assert got == want, f"case {i}: {got:#x} != {want:#x}"


def test_misaligned_completion_address_goes_to_swerr(s: Session) -> None:
    s.enable(0)
    s.dsa.write32(0x88, 1)  # GENCTRL.softerr_int_en
    cr = mib(3, 0x10)
    s.qt.memwrite(cr - 0x10, bytes(64))
    assert s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, cr)) == PORTAL_ACCEPTED
    assert (
        s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, mib(3, 0x40)))
        == PORTAL_ACCEPTED
    )
    s.dsa.wait_cr(mib(3, 0x40))
    sw = s.dsa.swerr()
    assert sw[0] & 0xFFFF == SWERR_VALID | 1 << 2 | 1 << 3 | Status.CRA_ALIGN << 8
    assert (sw[0] >> 32) & 0xFF == Opcode.NOOP
    assert sw[2] == cr
    assert s.qt.memread(cr - 0x10, 64)[:0x40] == bytes(64)  # nothing written there
    # a second error while SWERR is valid: overflow
    assert s.submit(0, desc(Opcode.NOOP, Flag.CRAV, cr)) == PORTAL_ACCEPTED
    assert (
        s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, mib(3, 0x80)))
        == PORTAL_ACCEPTED
    )
    s.dsa.wait_cr(mib(3, 0x80))
    assert s.dsa.swerr()[0] & SWERR_OVERFLOW
    assert s.qom("swerr-overflows") == 1


def test_inject_swerr_overflow(s: Session) -> None:
    s.enable(0)
    s.qom_set("x-inject-swerr-overflow", 1)
    assert s.submit(0, desc(Opcode.NOOP, Flag.CRAV, mib(3, 8))) == PORTAL_ACCEPTED
    assert (
        s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, mib(3, 0x40)))
        == PORTAL_ACCEPTED
    )
    s.dsa.wait_cr(mib(3, 0x40))
    assert (
        s.dsa.swerr()[0] & (SWERR_VALID | SWERR_OVERFLOW)
        == SWERR_VALID | SWERR_OVERFLOW
    )
    assert s.qom("x-inject-swerr-overflow") == 0


def test_register_fuzz_survives(s: Session) -> None:
    """Random values everywhere in BAR0 and random portal blocks: the device keeps answering."""
    rng = random.Random(4)
    d = s.dsa
    for _ in range(600):
        off = rng.randrange(0, 0x2000, 4)
        if rng.random() < 0.5:
            d.write32(off, rng.getrandbits(32))
        else:
            d.write64(off & ~7, rng.getrandbits(64))
    d.fn.enable()
    for wq in range(8):
        blk = rng.randbytes(64)
        for kind in ("movdir64b", "enqcmd", "enqcmds"):
            assert s.submit(wq, blk, kind, pasid=rng.getrandbits(20)) in (1, 2)
    assert d.read32(REG_VERSION) == VERSION_VALUE
    assert d.command(Cmd.RESET_DEVICE) == 0
    assert d.read32(REG_GENSTS) == 0


# -- event log ---------------------------------------------------------------------


def evl_entry(s: Session, base: int, idx: int) -> EvlEntry:
    return EvlEntry(s.qt.memread(base + 64 * idx, 64))


def test_cr_fault_goes_to_the_event_log(s: Session) -> None:
    evl = mib(8)
    s.qt.memwrite(evl, bytes(64 * 64))
    s.enable(0, evl=(evl, 64))
    msg = mib(4)
    s.qt.memwrite(msg, bytes(4))
    s.dsa.msix_enable(0, msg, 0xE0)
    src, dst = mib(1), mib(2)
    data = fill(s.qt, src, 512, 5)
    cr = UNBACKED + 0x40
    d = desc(
        Opcode.MEMMOVE, Flag.CRAV | Flag.RCR | Flag.RCI, cr, src, dst, 512, int_handle=1
    )
    assert s.submit(0, d) == PORTAL_ACCEPTED
    # a record behind it shows the first one is done
    assert (
        s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, mib(3))) == PORTAL_ACCEPTED
    )
    s.dsa.wait_cr(mib(3))
    assert s.qt.memread(dst, 512) == data
    e = evl_entry(s, evl, 0)
    assert (e.error, e.wq_idx, e.operation, e.fault_addr) == (Status.CRA_XLAT, 0, 3, cr)
    assert e.desc_valid and e.wq_idx_valid and e.fault_rw and not e.batch
    assert e.rci and e.rcr and e.int_handle == 1
    assert e.cr.raw == bytes([Status.SUCCESS]) + bytes(31)
    assert s.dsa.evl_status() == (0, 1, True)
    assert s.dsa.read32(REG_INTCAUSE) == INTC_EVL
    assert s.qt.memread(msg, 4) == struct.pack("<I", 0xE0)
    assert s.qom("cr-faults") == 1 and s.qom("evl-entries") == 1
    # the driver's sequence: clear int_pending (RW1C), then move head
    s.dsa.write32(0xF4, 1 << 30)
    s.dsa.set_evl_head(1)
    assert s.dsa.evl_status() == (1, 1, False)


def test_drain_cr_fault_goes_to_the_event_log_as_drain_evl(s: Session) -> None:
    evl = mib(8)
    s.qt.memwrite(evl, bytes(64 * 64))
    s.enable(0, evl=(evl, 64))
    cr = UNBACKED + 0x80
    d = desc(Opcode.DRAIN, Flag.CRAV | Flag.RCR, cr, int_handle=3)
    assert s.submit(0, d) == PORTAL_ACCEPTED
    # a failed DRAIN (bad interrupt handle) reports its record as any descriptor
    bad = desc(Opcode.DRAIN, Flag.CRAV | Flag.RCI, cr + 32, int_handle=MSIX_VECTORS)
    assert s.submit(0, bad) == PORTAL_ACCEPTED
    assert (
        s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, mib(3))) == PORTAL_ACCEPTED
    )
    s.dsa.wait_cr(mib(3))
    raw = s.qt.memread(evl, 64)
    e = EvlEntry(raw)
    assert (e.error, e.wq_idx, e.operation, e.fault_addr) == (
        Status.DRAIN_EVL,
        0,
        2,
        cr,
    )
    assert e.desc_valid and e.wq_idx_valid and e.fault_rw and not e.batch
    assert e.rcr and not e.rci and not e.first_err_in_batch
    assert (e.int_handle, e.batch_id, e.batch_idx, e.pasid) == (3, 0, 0, 0)
    # qw0: desc_valid, wq_idx_valid, fault_rw, error 0x26, operation DRAIN
    assert raw[:16] == struct.pack("<QHHHH", 0x2_0000_262C, 0, 0, 3, 0x4)
    assert raw[24:32] == bytes(8)
    assert e.cr.raw == bytes([Status.SUCCESS]) + bytes(31)
    e2 = evl_entry(s, evl, 1)
    assert (e2.error, e2.operation, e2.fault_addr) == (Status.CRA_XLAT, 2, cr + 32)
    assert not e2.rcr and e2.rci
    assert e2.cr.raw == bytes([Status.INT_HANDLE_INVAL]) + bytes(31)
    assert s.dsa.evl_status() == (0, 2, True)
    assert s.qom("cr-faults") == 2 and s.qom("evl-entries") == 2


def test_drain_cr_fault_without_event_log_is_cra_xlat_in_swerr(s: Session) -> None:
    s.enable(0)
    cr = UNBACKED + 0xA0
    assert s.submit(0, desc(Opcode.DRAIN, Flag.CRAV | Flag.RCR, cr)) == PORTAL_ACCEPTED
    assert (
        s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, mib(3))) == PORTAL_ACCEPTED
    )
    s.dsa.wait_cr(mib(3))
    sw = s.dsa.swerr()
    # valid, desc_valid, wq_idx_valid, fault_rw, error 0x1a
    assert (
        sw[0] & 0xFFFF == SWERR_VALID | 1 << 2 | 1 << 3 | 1 << 5 | Status.CRA_XLAT << 8
    )
    assert (sw[0] >> 32) & 0xFF == Opcode.DRAIN
    assert sw[2] == cr
    assert s.qom("cr-faults") == 1 and s.qom("evl-entries") == 0


def test_inject_cr_fail_next_on_a_present_page(s: Session) -> None:
    evl = mib(8)
    s.enable(0, evl=(evl, 64))
    s.qom_set("x-inject-cr-fail-next", 1)
    cr = mib(3)
    s.qt.memwrite(cr, bytes(32))
    assert s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, cr)) == PORTAL_ACCEPTED
    assert (
        s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, cr + 32)) == PORTAL_ACCEPTED
    )
    s.dsa.wait_cr(cr + 32)
    assert s.qt.memread(cr, 32) == bytes(32)
    e = evl_entry(s, evl, 0)
    assert (e.error, e.fault_addr, e.cr.status) == (Status.CRA_XLAT, cr, Status.SUCCESS)
    assert s.qom("x-inject-cr-fail-next") == 0


def test_full_event_log_blocks_until_head_moves(s: Session) -> None:
    evl = mib(8)
    size = 4  # full at 3 entries: (tail + 1) % size == head
    s.enable(0, evl=(evl, size))
    for i in range(4):
        d = desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, UNBACKED + 32 * i)
        assert s.submit(0, d) == PORTAL_ACCEPTED
    cr = mib(3)
    s.qt.memwrite(cr, bytes(32))
    assert s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, cr)) == PORTAL_ACCEPTED
    for _ in range(50):
        s.dsa.read32(REG_VERSION)  # let the bottom half run
    assert s.dsa.evl_status()[:2] == (0, 3)
    assert s.qom("evl-full-waits") == 1
    assert s.qt.memread(cr, 32) == bytes(32)  # the WQ waits: nothing after it ran
    s.dsa.set_evl_head(2)
    assert s.dsa.wait_cr(cr).status == Status.SUCCESS
    assert s.dsa.evl_status()[:2] == (2, 0)
    assert [evl_entry(s, evl, i).fault_addr for i in range(4)] == [
        UNBACKED,
        UNBACKED + 32,
        UNBACKED + 64,
        UNBACKED + 96,  # written into slot 3 once head moved; the tail wrapped to 0
    ]
    assert s.qom("evl-entries") == 4


def test_inject_evl_full_holds_then_releases(s: Session) -> None:
    evl = mib(8)
    s.enable(0, evl=(evl, 64))
    s.qom_set("x-inject-evl-full", True)
    assert (
        s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, UNBACKED))
        == PORTAL_ACCEPTED
    )
    cr = mib(3)
    s.qt.memwrite(cr, bytes(32))
    assert s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, cr)) == PORTAL_ACCEPTED
    for _ in range(50):
        s.dsa.read32(REG_VERSION)
    assert s.dsa.evl_status()[1] == 0 and s.qt.memread(cr, 32) == bytes(32)
    assert s.qom("evl-full-waits") == 1
    s.qom_set("x-inject-evl-full", False)
    assert s.dsa.wait_cr(cr).status == Status.SUCCESS
    assert s.dsa.evl_status()[1] == 1
    assert evl_entry(s, evl, 0).fault_addr == UNBACKED


def test_batch_member_cr_fault_then_batch_record_through_the_log(s: Session) -> None:
    evl = mib(8)
    s.enable(0, evl=(evl, 64))
    src, dst, crs, lst = mib(1), mib(2), mib(3), mib(5)
    data = fill(s.qt, src, 3 * 256, 6)
    members = [
        desc(
            Opcode.MEMMOVE,
            Flag.CRAV | Flag.RCR,
            UNBACKED + 0x20 if i == 1 else crs + 32 * i,
            src + 256 * i,
            dst + 256 * i,
            256,
        )
        for i in range(3)
    ]
    s.qt.memwrite(lst, b"".join(members))
    s.qt.memwrite(crs, bytes(4 * 32))
    bcr = crs + 0x60
    batch = desc(Opcode.BATCH, Flag.CRAV | Flag.RCR, bcr, lst, 0, 3)
    assert s.submit(0, batch) == PORTAL_ACCEPTED
    assert (
        s.submit(0, desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, mib(3, 0x100)))
        == PORTAL_ACCEPTED
    )
    s.dsa.wait_cr(mib(3, 0x100))
    assert s.qt.memread(dst, 3 * 256) == data
    assert s.qt.memread(crs, 1) == bytes([Status.SUCCESS])
    assert s.qt.memread(crs + 64, 1) == bytes([Status.SUCCESS])
    assert s.qt.memread(bcr, 32) == bytes(32)  # delivered through the log instead
    m = evl_entry(s, evl, 0)
    assert (m.error, m.batch, m.batch_idx, m.first_err_in_batch) == (
        Status.CRA_XLAT,
        True,
        1,
        True,
    )
    assert m.fault_addr == UNBACKED + 0x20 and m.cr.status == Status.SUCCESS
    b = evl_entry(s, evl, 1)
    assert (b.error, b.batch_id, b.fault_addr, b.rcr) == (
        Status.BATCH_EVL_ERR,
        m.batch_id,
        bcr,
        True,
    )
    assert b.operation == Opcode.BATCH
    assert (b.cr.status, b.cr.bytes_completed) == (Status.SUCCESS, 3)
    assert s.dsa.evl_status()[1] == 2
    assert s.qom("batches") == 1


def test_batch_with_a_failing_member_and_unreadable_list(s: Session) -> None:
    s.enable(0)
    crs, lst = mib(3), mib(5)
    members = [
        desc(Opcode.NOOP, Flag.CRAV | Flag.RCR, crs),
        desc(0x7F, Flag.CRAV | Flag.RCR, crs + 32),
    ]
    s.qt.memwrite(lst, b"".join(members))
    bcr = crs + 0x80
    assert s.submit(0, desc(Opcode.BATCH, Flag.CRAV, bcr, lst, 0, 2)) == PORTAL_ACCEPTED
    rec = s.dsa.wait_cr(bcr)
    assert (rec.status, rec.result, rec.bytes_completed) == (Status.BATCH_FAIL, 1, 2)
    assert s.qt.memread(crs + 32, 1) == bytes([Status.BAD_OPCODE])
    bad = desc(Opcode.BATCH, Flag.CRAV, bcr + 32, UNBACKED, 0, 4)
    assert s.submit(0, bad) == PORTAL_ACCEPTED
    rec = s.dsa.wait_cr(bcr + 32)
    assert (rec.status, rec.bytes_completed, rec.fault_addr) == (
        Status.BATCH_PAGE_FAULT,
        0,
        UNBACKED,
    )


# -- DIF (T10 protection information) -------------------------------------------


def crc16_t10(data: bytes) -> int:
    """CRC-16 T10-DIF (polynomial 0x8BB7, MSB first, init 0): the DIF guard."""
    reg = 0
    for b in data:
        reg ^= b << 8
        for _ in range(8):
            reg = ((reg << 1) ^ 0x8BB7 if reg & 0x8000 else reg << 1) & 0xFFFF
    return reg


def dif_tuple(block: bytes, app: int, ref: int) -> bytes:
    """The 8 bytes after a block: guard, application tag, reference tag, big-endian."""
    return struct.pack(">HHI", crc16_t10(block), app, ref)


Tags = tuple[int, int, int]  # reference tag, application tag mask, application tag


def dif_fields(
    sflags: int = 0,
    oflags: int = 0,
    dflags: int = 0,
    src: Tags = (0, 0, 0),
    dst: Tags = (0, 0, 0),
) -> bytes:
    """Descriptor bytes 40..63: DIF flag bytes, source tags at +48, destination tags at +56."""
    head = bytes([sflags, oflags, dflags]) + bytes(5)
    return head + struct.pack("<IHH", *src) + struct.pack("<IHH", *dst)


def test_dif_insert_check_strip_update(s: Session) -> None:
    """accel-config's dsa_test values: 512-byte blocks, ref tag 0xABBA incrementing, app tag
    0xFACE fixed; Update with both reference tags fixed (source and destination flags 0x80)."""
    s.enable(0)
    src, ins, strp, upd, cr = mib(1), mib(2), mib(2, 0x2000), mib(2, 0x4000), mib(3)
    data = fill(s.qt, src, 1024, 21)
    s.qt.memwrite(cr, bytes(4 * 32))
    tags = (0xABBA, 0, 0xFACE)
    flags = Flag.CRAV | Flag.RCR
    prot = b"".join(data[i : i + 512] + dif_tuple(data[i : i + 512], 0xFACE, 0xABBA + i // 512)
                    for i in (0, 512))  # fmt: skip
    fixed = b"".join(data[i : i + 512] + dif_tuple(data[i : i + 512], 0x1234, 0x77)
                     for i in (0, 512))  # fmt: skip
    d = desc(
        Opcode.DIF_INS, flags, cr, src, ins, 1024, op_specific=dif_fields(dst=tags)
    )
    assert s.submit(0, d) == PORTAL_ACCEPTED
    rec = s.dsa.wait_cr(cr)
    assert (rec.status, rec.result, rec.bytes_completed) == (Status.SUCCESS, 0, 0)
    assert rec.dif_tags(24) == (0xABBA + 2, 0, 0xFACE)  # where a next block would start
    assert s.qt.memread(ins, 1040) == prot
    d = desc(
        Opcode.DIF_CHECK, flags, cr + 32, ins, 0, 1040, op_specific=dif_fields(src=tags)
    )
    assert s.submit(0, d) == PORTAL_ACCEPTED
    rec = s.dsa.wait_cr(cr + 32)
    assert (rec.status, rec.result) == (Status.SUCCESS, 0)
    assert rec.dif_tags() == (0xABBA + 2, 0, 0xFACE)
    d = desc(
        Opcode.DIF_STRP,
        flags,
        cr + 64,
        ins,
        strp,
        1040,
        op_specific=dif_fields(src=tags),
    )
    assert s.submit(0, d) == PORTAL_ACCEPTED
    assert s.dsa.wait_cr(cr + 64).status == Status.SUCCESS
    assert s.qt.memread(strp, 1024) == data
    s.qt.memwrite(src + 0x1000, fixed)
    update = dif_fields(0x80, 0x80, src=(0x77, 0, 0x1234), dst=(0xABBA, 0, 0xFACE))
    d = desc(
        Opcode.DIF_UPDT, flags, cr + 96, src + 0x1000, upd, 1040, op_specific=update
    )
    assert s.submit(0, d) == PORTAL_ACCEPTED
    rec = s.dsa.wait_cr(cr + 96)
    assert rec.status == Status.SUCCESS
    assert (rec.dif_tags(16), rec.dif_tags(24)) == (
        (0x77, 0, 0x1234),
        (0xABBA, 0, 0xFACE),
    )
    want = b"".join(data[i : i + 512] + dif_tuple(data[i : i + 512], 0xFACE, 0xABBA)
                    for i in (0, 512))  # fmt: skip
    assert s.qt.memread(upd, 1040) == want
    assert s.dsa.read64(REG_OPCAP) >> 0x12 & 0xF == 0xF


def test_dif_error_completion_record(s: Session) -> None:
    """A reference tag that does not match in block 1: DIF error 0x09, dif_status bit 2,
    bytes_completed = the block's source offset, the tags it was checked against; Strip
    wrote block 0 only."""
    s.enable(0)
    src, dst, cr = mib(1), mib(2), mib(3)
    s.qt.memwrite(dst, bytes(2048))
    s.qt.memwrite(cr, bytes(64))
    blocks = [random.Random(i).randbytes(512) for i in range(3)]
    refs = [0x10, 0x99, 0x12]  # block 1 should carry 0x11
    prot = b"".join(
        b + dif_tuple(b, 0x5555, r) for b, r in zip(blocks, refs, strict=True)
    )
    s.qt.memwrite(src, prot)
    fields = dif_fields(src=(0x10, 0, 0x5555))
    flags = Flag.CRAV  # an error writes the record without RCR
    for i, op in enumerate((Opcode.DIF_CHECK, Opcode.DIF_STRP)):
        d = desc(op, flags, cr + 32 * i, src, dst, len(prot), op_specific=fields)
        assert s.submit(0, d) == PORTAL_ACCEPTED
        rec = s.dsa.wait_cr(cr + 32 * i)
        assert (rec.status, rec.result, rec.bytes_completed) == (
            Status.DIF_ERR,
            0x04,
            520,
        )
        assert rec.dif_tags() == (0x11, 0, 0x5555)
    assert s.qt.memread(dst, 1024) == blocks[0] + bytes(512)
    # a transfer size that is not whole blocks is refused before anything runs
    d = desc(Opcode.DIF_CHECK, flags, cr + 64, src, 0, 1000, op_specific=fields)
    assert s.submit(0, d) == PORTAL_ACCEPTED
    assert s.dsa.wait_cr(cr + 64).status == Status.XFER_ERANGE


def test_batch_fence_after_a_failed_member_abandons_the_rest(s: Session) -> None:
    """A fenced member waits for the members before it; when one of them did not succeed it is
    abandoned with every member after it: no records, descs_completed counts those that ran."""
    s.enable(0)
    src, dst, crs, lst = mib(1), mib(2), mib(3), mib(5)
    fill(s.qt, src, 256, 30)
    s.qt.memwrite(crs, bytes(8 * 32))
    flags = Flag.CRAV | Flag.RCR
    members = [
        desc(Opcode.MEMMOVE, flags, crs, src, dst, 256),
        desc(Opcode.MEMMOVE, flags, crs + 32, UNBACKED, dst, 256),  # 0x03, PRS off
        desc(Opcode.NOOP, flags | Flag.FENCE, crs + 64),
        desc(Opcode.NOOP, flags, crs + 96),
    ]
    s.qt.memwrite(lst, b"".join(members))
    bcr = crs + 0x100
    for i, count in enumerate((3, 4)):
        s.qt.memwrite(crs, bytes(4 * 32))
        d = desc(Opcode.BATCH, flags, bcr + 32 * i, lst, 0, count)
        assert s.submit(0, d) == PORTAL_ACCEPTED
        rec = s.dsa.wait_cr(bcr + 32 * i)
        assert (rec.status, rec.result, rec.bytes_completed) == (
            Status.BATCH_FAIL,
            1,
            2,
        )
        got = [s.qt.memread(crs + 32 * k, 1)[0] for k in range(4)]
        assert got == [Status.SUCCESS, Status.PAGE_FAULT_NOBOF, 0, 0]


def test_batch_fence_after_success_runs_and_false_predicate_stops_it(
    s: Session,
) -> None:
    s.enable(0)
    a, b, crs, lst = mib(1), mib(1, 0x1000), mib(3), mib(5)
    fill(s.qt, a, 64, 31)
    s.qt.memwrite(b, bytes(64))
    s.qt.memwrite(crs, bytes(8 * 32))
    flags = Flag.CRAV | Flag.RCR
    check_result = 0x80  # Check Result: expected_res (byte 40) 0, the buffers differ
    s.qt.memwrite(lst, b"".join([
        desc(Opcode.NOOP, flags, crs),
        desc(Opcode.NOOP, flags | Flag.FENCE, crs + 32),
        desc(Opcode.COMPARE, flags | check_result, crs + 64, a, b, 64),
        desc(Opcode.NOOP, flags | Flag.FENCE, crs + 96),
    ]))  # fmt: skip
    bcr = crs + 0x100
    assert s.submit(0, desc(Opcode.BATCH, flags, bcr, lst, 0, 4)) == PORTAL_ACCEPTED
    rec = s.dsa.wait_cr(bcr)
    # the first fence finds two successes and runs; the second finds Success with false
    # predicate (0x02) and is abandoned
    assert (rec.status, rec.bytes_completed) == (Status.BATCH_FAIL, 3)
    got = [s.qt.memread(crs + 32 * k, 1)[0] for k in range(4)]
    assert got == [Status.SUCCESS, Status.SUCCESS, 0x02, 0]


def test_batch_fence_after_a_record_that_went_to_the_event_log_runs(s: Session) -> None:
    """A member whose record could not be written (0x1a to the event log) succeeded: the
    device cannot know whether software will deliver the record, and idxd fixes the batch
    status from the log (irq.c idxd_evl_fault_work), so a later fence is not stopped."""
    evl = mib(8)
    s.enable(0, evl=(evl, 64))
    crs, lst = mib(3), mib(5)
    s.qt.memwrite(crs, bytes(4 * 32))
    flags = Flag.CRAV | Flag.RCR
    s.qt.memwrite(lst, b"".join([
        desc(Opcode.NOOP, flags, UNBACKED + 0x40),
        desc(Opcode.NOOP, flags | Flag.FENCE, crs + 32),
    ]))  # fmt: skip
    bcr = crs + 0x60
    assert s.submit(0, desc(Opcode.BATCH, flags, bcr, lst, 0, 2)) == PORTAL_ACCEPTED
    assert s.dsa.wait_cr(crs + 32).status == Status.SUCCESS
    # the batch record follows the member's through the log (0x27), with Success and 2 done
    for _ in range(50):
        if s.dsa.evl_status()[1] == 2:
            break
        s.dsa.read32(REG_VERSION)
    m, b = evl_entry(s, evl, 0), evl_entry(s, evl, 1)
    assert (m.error, m.batch_idx, m.cr.status) == (Status.CRA_XLAT, 0, Status.SUCCESS)
    assert (b.error, b.cr.status, b.cr.bytes_completed) == (Status.BATCH_EVL_ERR, 1, 2)


def test_batch_list_is_read_as_it_goes(s: Session) -> None:
    """The members before an unreadable one run; the batch completes 0x06 with
    descs_completed = its index and the address that faulted, so a client resumes from
    list + 64 x descs_completed."""
    s.enable(0)
    src, dst, crs = mib(1), mib(2), mib(3)
    data = fill(s.qt, src, 512, 40)
    s.qt.memwrite(crs, bytes(4 * 32))
    flags = Flag.CRAV | Flag.RCR
    lst = RAM_END - 128  # members 0 and 1 in RAM, 2 and 3 beyond its end
    s.qt.memwrite(lst, desc(Opcode.MEMMOVE, flags, crs, src, dst, 512))
    s.qt.memwrite(lst + 64, desc(Opcode.NOOP, flags, crs + 32))
    bcr = crs + 0x80
    assert s.submit(0, desc(Opcode.BATCH, flags, bcr, lst, 0, 4)) == PORTAL_ACCEPTED
    rec = s.dsa.wait_cr(bcr)
    assert (rec.status, rec.bytes_completed, rec.fault_addr) == (
        Status.BATCH_PAGE_FAULT,
        2,
        RAM_END,
    )
    assert [s.qt.memread(crs + 32 * k, 1)[0] for k in range(3)] == [1, 1, 0]
    assert s.qt.memread(dst, 512) == data
    assert s.qom("partial-completions") == 1


def test_batch_list_fault_after_member_records_went_to_the_log(s: Session) -> None:
    """Linux relies on the order (irq.c idxd_evl_fault_work): a member's record goes to the
    event log, then the list read fails; the batch's 0x06 record follows through the log as
    0x27 and idxd sets its result to 1."""
    evl = mib(8)
    s.enable(0, evl=(evl, 64))
    flags = Flag.CRAV | Flag.RCR
    lst = RAM_END - 64
    s.qt.memwrite(lst, desc(Opcode.NOOP, flags, UNBACKED + 0x20))
    bcr = mib(3)
    s.qt.memwrite(bcr, bytes(32))
    assert s.submit(0, desc(Opcode.BATCH, flags, bcr, lst, 0, 3)) == PORTAL_ACCEPTED
    for _ in range(50):
        if s.dsa.evl_status()[1] == 2:
            break
        s.dsa.read32(REG_VERSION)
    m, b = evl_entry(s, evl, 0), evl_entry(s, evl, 1)
    assert (m.error, m.batch, m.batch_idx, m.cr.status) == (Status.CRA_XLAT, True, 0, 1)
    assert (b.error, b.fault_addr) == (Status.BATCH_EVL_ERR, bcr)
    assert (b.cr.status, b.cr.bytes_completed, b.cr.fault_addr) == (
        Status.BATCH_PAGE_FAULT,
        1,
        RAM_END,
    )
    assert s.qt.memread(bcr, 32) == bytes(32)


def test_evlcfg_locked_while_enabled(r: Session) -> None:
    r.enable(0, evl=(mib(8), 64))
    r.dsa.write64(REG_EVLCFG, mib(9))
    assert r.dsa.read64(REG_EVLCFG) == mib(8)
    assert r.dsa.read32(REG_GENCFG) & GENCFG_EVL_EN
    # head beyond the log size is ignored
    r.dsa.set_evl_head(100)
    assert r.dsa.evl_status()[0] == 0
