"""faultlab-dma, the PCI Express DMA test engine, through qtest (docs/faultlab-dma.md).

Without an IOMMU that implements the PASID interface (virt without ``iommu=``,
q35 without intel-iommu) the engine does plain PCI DMA, so these tests check
the PCI function, the registers, the data movement, the interrupts, the
guest-hostile cases and the QOM knobs; the stall paths are driven through the
SMMU by tests/qtest/test_smmu_stall.py with the same helpers
(faultlab.qtest_pci, faultlab.qtest_faultlab_dma).
"""

from __future__ import annotations

import random
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from faultlab import paths
from faultlab.qmp import QMP, QMPError
from faultlab.qtest import QTest, qtest_with_qmp
from faultlab.qtest_faultlab_dma import (
    CH_BYTES_DONE,
    CH_CMD,
    CH_DST,
    CH_FAULT_ADDR,
    CH_LEN,
    CH_PASID,
    CH_RESULT,
    CH_STALLS,
    CH_STATUS,
    CHAN_BASE,
    CHAN_STRIDE,
    CLASS_CODE,
    DEVICE_ID,
    ID_VALUE,
    MAX_LEN,
    PASID_PV,
    REG_ID,
    REG_IRQ_MASK,
    REG_IRQ_STATUS,
    REG_NCHAN,
    RESULT_EQUAL,
    VENDOR_ID,
    FaultlabDma,
    Op,
    Reason,
    State,
    Status,
    attach,
)
from faultlab.qtest_pci import (
    PCI_CAP_ID_EXP,
    PCI_CAP_ID_MSI,
    PCI_CLASS_REVISION,
    PCI_EXP_DEVCAP2,
    PCI_EXP_DEVCAP2_EE_PREFIX,
    PCI_EXP_FLAGS,
    PCI_EXP_TYPE_RC_END,
    PCI_EXT_CAP_ID_PASID,
    PCI_INTERRUPT_PIN,
    PCI_MSI_FLAGS,
    PCI_MSI_FLAGS_64BIT,
    PCI_PASID_CAP,
    PCI_PASID_CTRL,
    PCI_VENDOR_ID,
)

from . import test_smmu_stall as smmu
from .conftest import need_qemu

pytestmark = pytest.mark.qtest


@dataclass(frozen=True)
class Machine:
    binary: str
    machine: str
    args: tuple[str, ...]
    ram: int  # guest RAM base
    ram_size: int
    unbacked: int  # an address where nothing answers


MACHINES = {
    "virt": Machine(
        "qemu-system-aarch64",
        "virt",
        ("-machine", "virt", "-cpu", "max", "-m", "256"),
        0x4000_0000,
        256 << 20,
        0x4000_0000_0000,
    ),
    "q35": Machine(
        "qemu-system-x86_64",
        "q35",
        ("-machine", "q35", "-m", "256"),
        0,
        256 << 20,
        0x4000_0000_0000,
    ),
}


class Session:
    def __init__(
        self, m: Machine, qt: QTest, dma: FaultlabDma, qmp: QMP | None
    ) -> None:
        self.m = m
        self.qt = qt
        self.dma = dma
        self._qmp = qmp

    @property
    def qmp(self) -> QMP:
        assert self._qmp is not None
        return self._qmp

    def buf(self, mib: int, off: int = 0) -> int:
        """A guest-RAM address ``mib`` MiB into RAM (plus ``off``)."""
        return self.m.ram + (mib << 20) + off

    def alive(self) -> None:
        assert self.dma.read(REG_ID) == ID_VALUE


def check(
    st: Status, state: State, reason: Reason = Reason.NONE, write: bool | None = None
) -> None:
    assert (st.state, st.reason) == (state, reason), str(st)
    if write is not None:
        assert st.write == write, str(st)


@pytest.fixture(params=sorted(MACHINES))
def machine(request: pytest.FixtureRequest) -> Machine:
    m = MACHINES[str(request.param)]
    need_qemu(m.binary)
    return m


def open_session(
    m: Machine, device: str = "faultlab-dma,id=fd", qmp: bool = False
) -> Iterator[Session]:
    args = [*m.args, "-device", device]
    if qmp:
        with qtest_with_qmp(m.binary, args, "faultlab-dma-test") as (qt, client):
            yield Session(m, qt, attach(qt, m.machine), client)
    else:
        with QTest(m.binary, args) as qt:
            yield Session(m, qt, attach(qt, m.machine), None)


@pytest.fixture
def s(machine: Machine) -> Iterator[Session]:
    yield from open_session(machine)


@pytest.fixture
def sq(machine: Machine) -> Iterator[Session]:
    yield from open_session(machine, qmp=True)


SLICE = (
    64 * 4096
)  # bytes a channel moves per engine run (FAULTLAB_DMA_CHUNKS_PER_RUN pages)
SLICE_DELAY_NS = 1_000_000


@pytest.fixture
def sp(machine: Machine) -> Iterator[Session]:
    """Paced: slices wait for virtual time, which only clock_step moves under qtest."""
    yield from open_session(
        machine, f"faultlab-dma,id=fd,x-slice-delay-ns={SLICE_DELAY_NS}", qmp=True
    )


def wait_bytes(s: Session, chan: int, want: int, timeout: float = 10.0) -> int:
    """Poll BYTES_DONE until it reaches ``want`` (the bottom half runs between qtest
    commands); returns the last value read."""
    deadline = time.monotonic() + timeout
    while True:
        got = s.dma.chan_read(chan, CH_BYTES_DONE)
        if got >= want or time.monotonic() > deadline:
            return got


# -- PCI function -------------------------------------------------------------


def test_pci_identity_and_capabilities(s: Session) -> None:
    fn = s.dma.fn
    assert fn is not None
    assert fn.readl(PCI_VENDOR_ID) == DEVICE_ID << 16 | VENDOR_ID
    assert fn.readl(PCI_CLASS_REVISION) >> 16 == CLASS_CODE
    assert fn.readb(PCI_INTERRUPT_PIN) == 1
    fn.enable(memory=False, master=False)
    assert fn.bar_size(0) == 4096
    assert fn.readl(0x10) & 0x7 == 0x4, "BAR0 is not 64-bit memory"
    fn.enable()

    exp = fn.find_cap(PCI_CAP_ID_EXP)
    assert exp, "no PCIe capability"
    # On a root bus QEMU makes a PCIe endpoint an RC integrated endpoint, which
    # is what gives it eetlp_prefix_path in Linux (pci_configure_eetlp_prefix).
    assert (fn.readw(exp + PCI_EXP_FLAGS) >> 4) & 0xF == PCI_EXP_TYPE_RC_END
    assert fn.readw(exp + PCI_EXP_FLAGS) & 0xF == 2, "PCIe capability version is not 2"
    assert fn.readl(exp + PCI_EXP_DEVCAP2) & PCI_EXP_DEVCAP2_EE_PREFIX

    msi = fn.find_cap(PCI_CAP_ID_MSI)
    assert msi, "no MSI capability"
    flags = fn.readw(msi + PCI_MSI_FLAGS)
    assert flags & PCI_MSI_FLAGS_64BIT and (flags >> 1) & 7 == 0, (
        f"MSI flags {flags:#x}"
    )

    pasid = fn.find_ext_cap(PCI_EXT_CAP_ID_PASID)
    assert pasid == 0x100
    assert fn.readw(pasid + PCI_PASID_CAP) == 16 << 8  # width 16, no Exec/Priv
    assert fn.readw(pasid + PCI_PASID_CTRL) == 0
    assert fn.enable_pasid() == 16
    assert fn.readw(pasid + PCI_PASID_CTRL) == 1
    fn.writew(pasid + PCI_PASID_CTRL, 0xFFFF)  # only Enable is writable
    assert fn.readw(pasid + PCI_PASID_CTRL) == 1

    assert s.dma.read(REG_ID) == ID_VALUE
    assert s.dma.read(REG_NCHAN) == 8
    assert s.dma.read(REG_IRQ_STATUS) == 0
    assert s.dma.read(REG_IRQ_MASK) == 0


def test_properties_channels_and_pasid_bits(machine: Machine) -> None:
    for sess in open_session(machine, "faultlab-dma,channels=3,pasid-bits=20"):
        fn = sess.dma.fn
        assert fn is not None
        assert sess.dma.read(REG_NCHAN) == 3
        assert (
            fn.readw(fn.find_ext_cap(PCI_EXT_CAP_ID_PASID) + PCI_PASID_CAP) == 20 << 8
        )


@pytest.mark.parametrize(
    "device",
    [
        "faultlab-dma,channels=0",
        "faultlab-dma,channels=17",
        "faultlab-dma,pasid-bits=21",
        "faultlab-dma,pasid-bits=0",
    ],
)
def test_bad_properties_refused(machine: Machine, device: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [str(paths.qemu_binary(machine.binary)), *machine.args, "-nodefaults", "-display", "none",
             "-L", str(paths.firmware_dir()), "-accel", "qtest", "-device", device],
            check=False, capture_output=True, text=True, timeout=30, cwd=tmp,
        )  # fmt: skip
    assert out.returncode == 1
    assert "faultlab-dma: " in out.stderr and "must be 1.." in out.stderr


# -- data movement ----------------------------------------------------------------


def test_copy_compare_fill_across_pages(s: Session) -> None:
    rng = random.Random(1234)
    length = 3 * 4096 + 123
    src = s.buf(1, 0x234)  # different page offsets: every chunk split on both sides
    dst = s.buf(2, 0x777)
    data = rng.randbytes(length)
    s.qt.memwrite(src, data)
    s.qt.memwrite(dst - 16, b"\xaa" * (length + 32))

    s.dma.start(0, Op.COPY, src=src, dst=dst, length=length)
    st = s.dma.wait(0)
    check(st, State.DONE, Reason.NONE)
    assert s.dma.chan_read(0, CH_BYTES_DONE) == length
    assert s.dma.chan_read(0, CH_STALLS) == 0
    assert s.dma.chan_read(0, CH_RESULT) == 0
    assert s.qt.memread(dst, length) == data
    assert s.qt.memread(dst - 16, 16) == b"\xaa" * 16, "COPY wrote before DST"
    assert s.qt.memread(dst + length, 16) == b"\xaa" * 16, "COPY wrote past DST+LEN"
    assert s.dma.read(REG_IRQ_STATUS) == 1

    s.dma.start(3, Op.COMPARE, src=src, dst=dst, length=length)
    st = s.dma.wait(3)
    assert st.state == State.DONE, str(st)
    assert s.dma.chan_read(3, CH_RESULT) == RESULT_EQUAL
    assert s.dma.chan_read(3, CH_BYTES_DONE) == length

    diff = 5000
    s.qt.writeb(dst + diff, data[diff] ^ 0x40)
    s.dma.start(3, Op.COMPARE, src=src, dst=dst, length=length)
    st = s.dma.wait(3)
    check(st, State.MISMATCH, Reason.NONE)
    assert s.dma.chan_read(3, CH_RESULT) == diff
    assert s.dma.chan_read(3, CH_BYTES_DONE) == diff

    pattern = 0x0123_4567_89AB_CDEF
    fill_dst, fill_len = s.buf(4, 0x5), 10_000
    s.qt.memwrite(fill_dst + fill_len, b"\x55" * 8)
    s.dma.start(7, Op.FILL, dst=fill_dst, length=fill_len, pattern=pattern)
    st = s.dma.wait(7)
    assert st.state == State.DONE, str(st)
    expect = (pattern.to_bytes(8, "little") * (fill_len // 8 + 1))[:fill_len]
    assert s.qt.memread(fill_dst, fill_len) == expect
    assert s.qt.memread(fill_dst + fill_len, 8) == b"\x55" * 8
    assert s.dma.chan_read(7, CH_BYTES_DONE) == fill_len

    assert s.dma.read(REG_IRQ_STATUS) == 1 << 0 | 1 << 3 | 1 << 7
    s.dma.write(REG_IRQ_STATUS, 1 << 3)
    assert s.dma.read(REG_IRQ_STATUS) == 1 << 0 | 1 << 7

    s.dma.start(1, Op.NOP, length=0)
    st = s.dma.wait(1)
    assert st.state == State.DONE and s.dma.chan_read(1, CH_BYTES_DONE) == 0


def test_max_length_completes(s: Session) -> None:
    """Two 16 MiB commands at once, then a 16 MiB COMPARE that differs in its last byte."""
    a, b = s.buf(16), s.buf(48)
    pattern = 0xFEED_F00D_0BAD_CAFE
    s.dma.start(0, Op.FILL, dst=a, length=MAX_LEN, pattern=pattern)
    s.dma.start(1, Op.FILL, dst=b, length=MAX_LEN, pattern=pattern)
    for ch in (0, 1):
        check(s.dma.wait(ch, 60), State.DONE)
        assert s.dma.chan_read(ch, CH_BYTES_DONE) == MAX_LEN
    word = pattern.to_bytes(8, "little")
    for off in (0, 4096 - 8, 5 << 20, MAX_LEN - 8):
        assert s.qt.memread(a + off, 8) == word
        assert s.qt.memread(b + off, 8) == word
    s.qt.writeb(b + MAX_LEN - 1, 0)
    s.dma.start(2, Op.COMPARE, src=a, dst=b, length=MAX_LEN)
    check(s.dma.wait(2, 60), State.MISMATCH)
    assert s.dma.chan_read(2, CH_RESULT) == MAX_LEN - 1
    assert s.dma.chan_read(2, CH_BYTES_DONE) == MAX_LEN - 1


def test_engine_yields_between_slices(sp: Session) -> None:
    """With x-slice-delay-ns, each slice (64 pages) waits for virtual time: the
    engine never runs a long command to the end in one go."""
    s = sp
    dst = s.buf(16)
    s.dma.start(0, Op.FILL, dst=dst, length=MAX_LEN, pattern=0x66)
    assert wait_bytes(s, 0, SLICE) == SLICE
    time.sleep(0.1)
    assert s.dma.chan_read(0, CH_BYTES_DONE) == SLICE, "engine ran without virtual time"
    assert s.dma.status(0).state == State.RUNNING
    assert s.qt.readq(dst + SLICE) == 0 and s.qt.readq(dst + SLICE - 8) == 0x66
    steps = 0
    while s.dma.status(0).state == State.RUNNING:
        steps += 1
        s.qt.clock_step(SLICE_DELAY_NS)
        assert wait_bytes(s, 0, min((steps + 1) * SLICE, MAX_LEN)) == min(
            (steps + 1) * SLICE, MAX_LEN
        )
        assert steps < MAX_LEN // SLICE
    assert steps == MAX_LEN // SLICE - 1
    check(s.dma.status(0), State.DONE)
    assert s.qt.readq(dst + MAX_LEN - 8) == 0x66


def test_translates_once_per_page_through_the_pasid_iommu(tmp_path: Path) -> None:
    """On virt with our SMMUv3 (disabled: bypass) the engine finds the PASID IOMMU
    interface on its IOMMU address space and asks it once per page and side."""
    m = MACHINES["virt"]
    need_qemu(m.binary)
    args = [
        "-machine",
        "virt,iommu=smmuv3",
        "-cpu",
        "max",
        "-m",
        "256",
        "-device",
        "faultlab-dma",
    ]
    args += ["-trace", "faultlab_dma_xlate"]
    src, dst = m.ram + (1 << 20) + 0x800, m.ram + (2 << 20)
    data = random.Random(7).randbytes(8192)
    with QTest(m.binary, args, log_dir=tmp_path) as qt:
        dma = attach(qt, "virt")
        qt.memwrite(src, data)
        dma.start(0, Op.COPY, src=src, dst=dst, length=8192)
        check(dma.wait(0), State.DONE)
        assert qt.memread(dst, 8192) == data
    lines = [
        ln
        for ln in (tmp_path / "qemu.log").read_text().splitlines()
        if "faultlab_dma_xlate" in ln
    ]
    # 4 chunks (source pages split at 0x800), 3 source pages + 2 destination pages.
    iovas = [int(ln.split("iova=")[1].split()[0], 16) for ln in lines]
    assert sorted(iovas) == sorted(
        [src, src + 0x800, src + 0x1800, dst, dst + 0x1000]
    ), lines
    assert all("status=0" in ln and "pv=0" in ln for ln in lines), lines


# -- interrupts ------------------------------------------------------------------------


def test_intx_then_msi(s: Session) -> None:
    fn = s.dma.fn
    assert fn is not None
    # Masked: IRQ_STATUS records the completion, nothing is asserted.
    s.dma.start(2, Op.NOP)
    s.dma.wait(2)
    assert s.dma.read(REG_IRQ_STATUS) == 1 << 2
    assert not fn.intx_pending()
    # Unmasking a pending channel asserts INTx; W1C deasserts it.
    s.dma.write(REG_IRQ_MASK, 1 << 2)
    assert fn.intx_pending()
    s.dma.write(REG_IRQ_STATUS, 1 << 2)
    assert not fn.intx_pending()
    s.dma.start(2, Op.FILL, dst=s.buf(1), length=64, pattern=1)
    s.dma.wait(2)
    assert fn.intx_pending()
    s.dma.write(REG_IRQ_STATUS, 0xFF)
    assert s.dma.read(REG_IRQ_STATUS) == 0 and not fn.intx_pending()

    # MSI: the message goes to guest RAM here, where the test reads it back.
    msi_addr = s.buf(8)
    s.qt.writel(msi_addr, 0)
    fn.enable_msi(msi_addr, 0x4321)
    s.dma.start(2, Op.NOP)
    s.dma.wait(2)
    assert s.qt.readl(msi_addr) == 0x4321
    assert not fn.intx_pending(), "INTx asserted while MSI is enabled"
    # A masked channel sends nothing; unmasking it with its status set does.
    s.qt.writel(msi_addr, 0)
    s.dma.start(5, Op.NOP)
    s.dma.wait(5)
    assert s.dma.read(REG_IRQ_STATUS) == 1 << 2 | 1 << 5
    assert s.qt.readl(msi_addr) == 0
    s.dma.write(REG_IRQ_MASK, 1 << 2 | 1 << 5)
    assert s.qt.readl(msi_addr) == 0x4321
    # Disabling MSI with a masked-in status pending falls back to INTx.
    fn.disable_msi()
    assert fn.intx_pending()


# -- guest-hostile input ----------------------------------------------------------------


def expect_badcmd(s: Session, chan: int) -> None:
    st = s.dma.status(chan)
    check(st, State.BADCMD, Reason.NONE)
    assert s.dma.read(REG_IRQ_STATUS) >> chan & 1
    s.dma.write(REG_IRQ_STATUS, 1 << chan)


def test_bad_commands(s: Session) -> None:
    fn = s.dma.fn
    assert fn is not None
    good = {"src": s.buf(1), "dst": s.buf(2)}
    for op in (4, 0x7F, 0xFF):
        s.dma.start(0, op, length=64, **good)
        expect_badcmd(s, 0)
    for length in (0, MAX_LEN + 1, 1 << 63, (1 << 64) - 1):
        s.dma.start(0, Op.COPY, length=length, **good)
        expect_badcmd(s, 0)
    # Ranges that wrap past 2^64.
    s.dma.start(0, Op.FILL, dst=(1 << 64) - 4096, length=8192)
    expect_badcmd(s, 0)
    s.dma.start(0, Op.COPY, src=(1 << 64) - 1, dst=s.buf(2), length=2)
    expect_badcmd(s, 0)
    # PASID-tagged while the PASID capability is disabled, then too wide.
    s.dma.start(0, Op.FILL, dst=s.buf(2), length=64, pasid=1)
    expect_badcmd(s, 0)
    fn.enable_pasid()
    s.dma.start(0, Op.FILL, dst=s.buf(2), length=64, pasid=1 << 16)
    expect_badcmd(s, 0)
    # Reserved PASID register bits do not stick.
    s.dma.chan_write(0, CH_PASID, (1 << 64) - 1)
    assert s.dma.chan_read(0, CH_PASID) == PASID_PV | 0xFFFFF
    # Without a PASID IOMMU the tag is dropped and the DMA is plain.
    s.qt.writeq(s.buf(2), 0)
    s.dma.start(0, Op.FILL, dst=s.buf(2), length=8, pattern=0x77, pasid=5)
    st = s.dma.wait(0)
    assert st.state == State.DONE, str(st)
    assert s.qt.readq(s.buf(2)) == 0x77
    s.alive()


def test_registers_out_of_range_and_partial_access(s: Session) -> None:
    # Channel 8 of 8, past the last channel, unknown offsets: read 0, writes ignored.
    for off in (
        CHAN_BASE + 8 * CHAN_STRIDE,
        CHAN_BASE + 15 * CHAN_STRIDE + CH_STATUS,
        0xFF8,
        0x20,
        0x100 + 0x60,
    ):
        s.qt.writeq(s.dma.bar0 + off, 0xFFFF_FFFF_FFFF_FFFF)
        assert s.qt.readq(s.dma.bar0 + off) == 0, f"offset {off:#x}"
    s.qt.writeq(s.dma.bar0 + CHAN_BASE + 8 * CHAN_STRIDE + CH_CMD, Op.FILL)
    assert s.dma.read(REG_IRQ_STATUS) == 0
    # Read-only registers keep their value.
    s.dma.write(REG_ID, 0)
    s.dma.write(REG_NCHAN, 99)
    s.dma.chan_write(0, CH_STATUS, 0x3)
    assert s.dma.read(REG_ID) == ID_VALUE and s.dma.read(REG_NCHAN) == 8
    assert s.dma.chan_read(0, CH_STATUS) == State.IDLE
    # IRQ_MASK only has NCHAN bits.
    s.dma.write(REG_IRQ_MASK, (1 << 64) - 1)
    assert s.dma.read(REG_IRQ_MASK) == 0xFF
    s.dma.write(REG_IRQ_MASK, 0)
    # 32-bit halves.
    reg = s.dma.reg(1, CH_DST)
    s.qt.writel(reg, 0x89AB_CDEF)
    s.qt.writel(reg + 4, 0x0123_4567)
    assert s.dma.chan_read(1, CH_DST) == 0x0123_4567_89AB_CDEF
    assert s.qt.readl(reg + 4) == 0x0123_4567 and s.qt.readl(reg) == 0x89AB_CDEF
    # A 32-bit CMD write starts a command; one to its upper half does not.
    s.dma.chan_write(1, CH_LEN, 16)
    s.dma.chan_write(1, CH_DST, s.buf(3))
    s.qt.writel(s.dma.reg(1, CH_CMD) + 4, Op.FILL)
    assert s.dma.status(1).state == State.IDLE
    s.qt.writel(s.dma.reg(1, CH_CMD), Op.FILL)
    assert s.dma.wait(1).state == State.DONE
    s.alive()


def test_cmd_while_busy_is_ignored_and_abort_cancels(sp: Session) -> None:
    s = sp
    dst = s.buf(16)
    s.dma.start(0, Op.FILL, dst=dst, length=MAX_LEN, pattern=0x11)
    assert wait_bytes(s, 0, SLICE) == SLICE
    assert s.dma.status(0).state == State.RUNNING
    # Reprogramming and a new CMD while RUNNING change nothing of the command.
    s.dma.chan_write(0, CH_LEN, 8)
    s.dma.chan_write(0, CH_CMD, Op.NOP)
    s.dma.chan_write(0, CH_CMD, 0x99)
    assert s.dma.status(0).state == State.RUNNING
    assert s.dma.chan_read(0, CH_BYTES_DONE) == SLICE
    s.qmp.command("qom-set", path="fd", property="x-slice-delay-ns", value=0)
    s.qt.clock_step(SLICE_DELAY_NS)
    check(s.dma.wait(0, 60), State.DONE)
    assert s.dma.chan_read(0, CH_BYTES_DONE) == MAX_LEN
    assert s.qt.readq(dst + MAX_LEN - 8) == 0x11
    assert s.dma.chan_read(0, CH_LEN) == 8
    assert s.dma.read(REG_IRQ_STATUS) == 0b1

    s.qmp.command(
        "qom-set", path="fd", property="x-slice-delay-ns", value=SLICE_DELAY_NS
    )
    s.dma.start(1, Op.FILL, dst=dst, length=MAX_LEN, pattern=0x22)
    assert wait_bytes(s, 1, SLICE) == SLICE
    s.dma.abort(1)
    check(s.dma.status(1), State.FAULT, Reason.CANCELLED, write=True)
    assert s.dma.chan_read(1, CH_BYTES_DONE) == SLICE
    assert s.dma.chan_read(1, CH_FAULT_ADDR) == dst + SLICE
    s.qt.clock_step(10 * SLICE_DELAY_NS)
    time.sleep(0.1)
    assert s.dma.chan_read(1, CH_BYTES_DONE) == SLICE
    assert s.qt.readq(dst + SLICE - 8) == 0x22
    assert s.qt.readq(dst + SLICE) == 0x11, "cancelled FILL went on"
    # ABORT of an idle or finished channel does nothing.
    s.dma.abort(2)
    s.dma.abort(0)
    assert s.dma.status(2).state == State.IDLE
    check(s.dma.status(0), State.DONE)
    assert s.dma.read(REG_IRQ_STATUS) == 0b11


def test_dma_to_unbacked_addresses_faults(s: Session) -> None:
    ram_end = s.m.ram + s.m.ram_size
    # Destination runs off the end of RAM: the part in RAM is written.
    src = s.buf(1)
    s.qt.memwrite(src, bytes(range(256)) * 48)
    s.dma.start(0, Op.COPY, src=src, dst=ram_end - 0x1800, length=0x3000)
    st = s.dma.wait(0)
    check(st, State.FAULT, Reason.BUS, write=True)
    assert s.dma.chan_read(0, CH_BYTES_DONE) == 0x1800
    assert s.dma.chan_read(0, CH_FAULT_ADDR) == ram_end
    assert s.qt.memread(ram_end - 0x1800, 0x1800) == (bytes(range(256)) * 48)[:0x1800]
    # Source nowhere: nothing written.
    s.qt.writeq(s.buf(2), 0x5A5A)
    s.dma.start(1, Op.COPY, src=s.m.unbacked + 0x10, dst=s.buf(2), length=64)
    st = s.dma.wait(1)
    check(st, State.FAULT, Reason.BUS, write=False)
    assert s.dma.chan_read(1, CH_FAULT_ADDR) == s.m.unbacked + 0x10
    assert s.dma.chan_read(1, CH_BYTES_DONE) == 0
    assert s.qt.readq(s.buf(2)) == 0x5A5A
    # COMPARE reads the destination: a read fault.
    s.dma.start(2, Op.COMPARE, src=s.buf(1), dst=s.m.unbacked, length=64)
    st = s.dma.wait(2)
    assert (
        st.state == State.FAULT
        and not st.write
        and s.dma.chan_read(2, CH_FAULT_ADDR) == s.m.unbacked
    )
    # DMA into the device's own registers is refused, not re-entered.
    s.dma.start(
        3,
        Op.FILL,
        dst=s.dma.bar0 + CHAN_BASE + 3 * CHAN_STRIDE,
        length=0x80,
        pattern=(1 << 64) - 1,
    )
    st = s.dma.wait(3)
    check(st, State.FAULT, Reason.BUS)
    assert s.dma.chan_read(3, CH_LEN) == 0x80
    s.alive()


def test_bus_master_disabled_faults(s: Session) -> None:
    fn = s.dma.fn
    assert fn is not None
    fn.enable(memory=True, master=False)
    s.qt.writeq(s.buf(2), 0)
    s.dma.start(0, Op.FILL, dst=s.buf(2), length=8, pattern=0x99)
    st = s.dma.wait(0)
    check(st, State.FAULT, Reason.BUS)
    assert s.qt.readq(s.buf(2)) == 0
    fn.enable()
    s.dma.start(0, Op.FILL, dst=s.buf(2), length=8, pattern=0x99)
    assert s.dma.wait(0).state == State.DONE
    assert s.qt.readq(s.buf(2)) == 0x99


# -- QOM knobs and reset ---------------------------------------------------------------


def qom_get(sess: Session, prop: str) -> object:
    return sess.qmp.command("qom-get", path="fd", property=prop)


def test_qom_counters_and_fault_injection(sq: Session) -> None:
    s = sq
    assert qom_get(s, "stalls") == 0
    assert qom_get(s, "faults") == 0
    assert qom_get(s, "channels") == 8
    assert qom_get(s, "pasid-bits") == 16
    src, dst = s.buf(1, 0x800), s.buf(2)
    s.qt.memwrite(src, b"\x3c" * 3 * 4096)

    s.qmp.command("qom-set", path="fd", property="x-inject-fault-next", value=2)
    assert qom_get(s, "x-inject-fault-next") == 2
    s.dma.start(0, Op.COPY, src=src, dst=dst, length=3 * 4096)
    st = s.dma.wait(0)
    check(st, State.FAULT, Reason.INJECTED, write=False)
    assert s.dma.chan_read(0, CH_FAULT_ADDR) == src  # the first translation
    assert s.dma.chan_read(0, CH_BYTES_DONE) == 0
    assert qom_get(s, "x-inject-fault-next") == 1
    s.dma.start(0, Op.FILL, dst=dst, length=64)
    st = s.dma.wait(0)
    check(st, State.FAULT, Reason.INJECTED, write=True)
    assert s.dma.chan_read(0, CH_FAULT_ADDR) == dst
    assert qom_get(s, "x-inject-fault-next") == 0
    s.dma.start(0, Op.COPY, src=src, dst=dst, length=3 * 4096)
    assert s.dma.wait(0).state == State.DONE
    assert qom_get(s, "faults") == 2
    assert qom_get(s, "stalls") == 0

    # fail-retry acts on resumes, which need a stalling IOMMU (test_smmu_stall.py):
    # here it only has to be settable at run time.
    s.qmp.command("qom-set", path="fd", property="x-inject-fail-retry", value=3)
    assert qom_get(s, "x-inject-fail-retry") == 3
    with pytest.raises(QMPError):
        s.qmp.command("qom-set", path="fd", property="stalls", value=5)
    with pytest.raises(QMPError):
        s.qmp.command("qom-set", path="fd", property="channels", value=2)
    assert qom_get(s, "stalls") == 0 and qom_get(s, "channels") == 8


def test_system_reset_cancels_and_clears(sp: Session) -> None:
    s = sp
    fn = s.dma.fn
    assert fn is not None
    fn.enable_pasid()
    s.dma.write(REG_IRQ_MASK, 0xF)
    s.dma.chan_write(4, CH_DST, 0x1234)
    s.dma.start(0, Op.FILL, dst=s.buf(16), length=MAX_LEN, pattern=0x33)
    assert wait_bytes(s, 0, SLICE) == SLICE
    s.qmp.command("system_reset")
    # system_reset is handled by the main loop; the PCI reset turns decoding off.
    deadline = time.monotonic() + 10
    while s.dma.read(REG_ID) == ID_VALUE:
        assert time.monotonic() < deadline, "BAR0 still decodes 10 s after system_reset"
    s.dma = attach(s.qt, s.m.machine)
    assert s.dma.status(0).state == State.IDLE
    assert s.dma.chan_read(0, CH_BYTES_DONE) == 0
    assert s.dma.chan_read(4, CH_DST) == 0
    assert s.dma.read(REG_IRQ_MASK) == 0 and s.dma.read(REG_IRQ_STATUS) == 0
    fn = s.dma.fn
    assert fn is not None
    assert fn.readw(fn.find_ext_cap(PCI_EXT_CAP_ID_PASID) + PCI_PASID_CTRL) == 0
    s.qt.clock_step(10 * SLICE_DELAY_NS)
    time.sleep(0.1)
    assert s.dma.status(0).state == State.IDLE, "the engine ran on after reset"
    assert s.qt.readq(s.buf(16) + SLICE) == 0
    s.dma.start(0, Op.FILL, dst=s.buf(1), length=8, pattern=0x44)
    check(s.dma.wait(0), State.DONE)
    assert s.dma.read(REG_IRQ_STATUS) == 1
    assert s.qt.readq(s.buf(1)) == 0x44


def test_status_reads_after_channel_reuse(s: Session) -> None:
    """A new command clears the previous command's results."""
    s.dma.start(0, Op.COPY, src=s.m.unbacked, dst=s.buf(1), length=64)
    assert s.dma.wait(0).state == State.FAULT
    assert s.dma.chan_read(0, CH_FAULT_ADDR) == s.m.unbacked
    s.dma.start(0, Op.FILL, dst=s.buf(1), length=64)
    assert s.dma.wait(0).state == State.DONE
    assert s.dma.chan_read(0, CH_FAULT_ADDR) == 0
    assert s.dma.chan_read(0, CH_STATUS) == State.DONE
    assert s.dma.chan_read(0, CH_BYTES_DONE) == 64
    assert s.dma.chan_read(0, CH_DST) == s.buf(1)
    assert s.dma.chan_read(0, CH_LEN) == 64


def qmp_status(qmp: QMP, cmd: str) -> str:
    """The "status" member of a query command's answer."""
    answer = qmp.command(cmd)
    assert isinstance(answer, dict), answer
    return str(answer.get("status"))


def test_migration_keeps_registers_and_the_running_command(machine: Machine) -> None:
    """VMState: a paced command migrated in the middle resumes where it was, and no DMA
    happens while the destination is paused."""
    m = machine
    dev = f"faultlab-dma,id=fd,x-slice-delay-ns={SLICE_DELAY_NS}"
    with tempfile.TemporaryDirectory(prefix="faultlab-dma-mig-") as tmp:
        image = Path(tmp) / "state"
        src_sess = open_session(m, dev, qmp=True)
        s = next(src_sess)
        dst = s.buf(16)
        s.dma.write(REG_IRQ_MASK, 0x5)
        s.dma.chan_write(3, CH_DST, 0x1234_5678)
        s.dma.start(1, Op.NOP)
        s.dma.start(0, Op.FILL, dst=dst, length=MAX_LEN, pattern=0x77)
        assert wait_bytes(s, 0, SLICE) == SLICE
        bar0 = s.dma.bar0
        s.qmp.command("stop")
        s.qmp.command("migrate", uri=f"exec:cat > {image}")
        deadline = time.monotonic() + 30
        while (st := qmp_status(s.qmp, "query-migrate")) != "completed":
            assert st != "failed" and time.monotonic() < deadline, st
            time.sleep(0.05)
        src_sess.close()

        args = [*m.args, "-device", dev, "-incoming", f"exec:cat {image}"]
        args += ["-qmp", f"unix:{tmp}/qmp2.sock,server=on,wait=off"]
        with QTest(m.binary, args) as qt, QMP("faultlab-dma-dest") as qmp:
            qmp.connect(Path(tmp) / "qmp2.sock")
            while qmp_status(qmp, "query-status") == "inmigrate":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            dma = FaultlabDma(qt, bar0)
            check(dma.status(0), State.RUNNING)
            check(dma.status(1), State.DONE)
            assert dma.read(REG_IRQ_MASK) == 0x5 and dma.read(REG_IRQ_STATUS) == 1 << 1
            assert dma.chan_read(3, CH_DST) == 0x1234_5678
            time.sleep(0.1)
            assert dma.chan_read(0, CH_BYTES_DONE) == SLICE, (
                "DMA while the VM is paused"
            )
            qmp.command("qom-set", path="fd", property="x-slice-delay-ns", value=0)
            qmp.command("cont")
            qt.clock_step(SLICE_DELAY_NS)
            check(dma.wait(0, 60), State.DONE)
            assert dma.chan_read(0, CH_BYTES_DONE) == MAX_LEN
            assert qt.readq(dst + MAX_LEN - 8) == 0x77


# -- stalls, through our SMMUv3 (driver side from test_smmu_stall.py) ----------------


def stalled(b: smmu.Bench, chan: int) -> smmu.Event:
    assert b.dma is not None
    b.dma.wait_state(chan, State.STALLED)
    return b.smmu.one_event()


def dma_qom(b: smmu.Bench, prop: str) -> object:
    return b.qmp.command("qom-get", path="/machine/peripheral/fd", property=prop)


DMA_OPTS = ",id=fd"


def test_stall_retry_counts_stalls_and_translates_again() -> None:
    with smmu.bench(dma=True, dma_opts=DMA_OPTS, stall_model=2, ssidsize=16) as b:
        assert b.dma is not None
        src, dst = smmu.dma_setup(b)
        b.dma.start(0, Op.COPY, src=src, dst=dst, length=256, pasid=3)
        ev = stalled(b, 0)
        assert ev.addr == dst and ev.ssid == 3 and ev.ssv == 1 and ev.rnw == 0
        check(b.dma.status(0), State.STALLED, write=True)
        assert b.dma.chan_read(0, CH_STALLS) == 1
        assert b.dma.chan_read(0, CH_BYTES_DONE) == 0
        assert dma_qom(b, "stalls") == 1
        # Retry without fixing the fault: the same access stalls again.
        b.smmu.resume(b.sid, ev.stag, smmu.RESP_RETRY)
        ev2 = stalled(b, 0)
        assert ev2.addr == dst and ev2.stag != ev.stag
        assert b.dma.chan_read(0, CH_STALLS) == 2
        b.smmu.map(4, dst, smmu.DATA + smmu.PAGE)
        b.smmu.resume(b.sid, ev2.stag, smmu.RESP_RETRY)
        check(b.dma.wait(0), State.DONE)
        assert b.qt.memread(smmu.DATA + smmu.PAGE, 256) == bytes(range(256))
        assert b.dma.chan_read(0, CH_STALLS) == 2
        assert b.dma.chan_read(0, CH_BYTES_DONE) == 256
        assert b.dma.read(REG_IRQ_STATUS) == 1
        assert dma_qom(b, "stalls") == 2 and dma_qom(b, "faults") == 0
        # The next command starts its own count.
        b.dma.start(0, Op.COPY, src=src, dst=dst, length=256, pasid=3)
        check(b.dma.wait(0), State.DONE)
        assert b.dma.chan_read(0, CH_STALLS) == 0


def test_stall_abort_mid_command_keeps_the_pages_before() -> None:
    with smmu.bench(dma=True, dma_opts=DMA_OPTS, stall_model=2, ssidsize=16) as b:
        assert b.dma is not None
        src, dst = smmu.dma_setup(b)
        # Three source pages, destination pages 0 and 2 mapped, page 1 not.
        for i in range(3):
            b.smmu.map(
                4, src + i * smmu.PAGE, smmu.DATA + i * smmu.PAGE, writable=False
            )
        b.smmu.map(4, dst, smmu.DATA + 4 * smmu.PAGE)
        b.smmu.map(4, dst + 2 * smmu.PAGE, smmu.DATA + 6 * smmu.PAGE)
        data = random.Random(3).randbytes(3 * smmu.PAGE)
        b.qt.memwrite(smmu.DATA, data)
        b.qt.memwrite(smmu.DATA + 4 * smmu.PAGE, bytes(3 * smmu.PAGE))
        b.dma.start(2, Op.COPY, src=src, dst=dst, length=3 * smmu.PAGE, pasid=3)
        ev = stalled(b, 2)
        assert ev.addr == dst + smmu.PAGE
        assert b.dma.chan_read(2, CH_BYTES_DONE) == smmu.PAGE
        b.smmu.resume(b.sid, ev.stag, smmu.RESP_ABORT)
        check(b.dma.wait(2), State.FAULT, Reason.ABORTED, write=True)
        assert b.dma.chan_read(2, CH_FAULT_ADDR) == dst + smmu.PAGE
        assert b.dma.chan_read(2, CH_BYTES_DONE) == smmu.PAGE
        assert b.qt.memread(smmu.DATA + 4 * smmu.PAGE, smmu.PAGE) == data[: smmu.PAGE]
        assert b.qt.memread(smmu.DATA + 6 * smmu.PAGE, smmu.PAGE) == bytes(smmu.PAGE)
        assert b.dma.read(REG_IRQ_STATUS) == 1 << 2
        assert dma_qom(b, "faults") == 1


def test_abort_register_while_stalled_waits_for_the_smmu() -> None:
    """IHI0070 3.12.2: a stalled transaction ends only through CMD_RESUME, CMD_STALL_TERM or
    SMMUEN 1->0; the device cannot withdraw it. ABORT leaves the channel STALLED until the
    SMMU answers; the answer then ends the cancelled command (a retry is not taken up)."""
    with smmu.bench(dma=True, dma_opts=DMA_OPTS, stall_model=2, ssidsize=16) as b:
        assert b.dma is not None
        _src, dst = smmu.dma_setup(b)
        b.dma.start(1, Op.FILL, dst=dst + 8, length=64, pattern=0xAB, pasid=3)
        ev = stalled(b, 1)
        assert b.qom("stalls-pending") == 1
        b.dma.abort(1)
        b.dma.abort(1)  # a second ABORT changes nothing
        time.sleep(0.05)
        check(b.dma.status(1), State.STALLED, write=True)
        assert b.qom("stalls-pending") == 1, "ABORT withdrew the access the SMMU holds"
        assert b.dma.read(REG_IRQ_STATUS) == 0
        # Software fixes the fault and answers retry: the access ends, the command does not go on.
        b.smmu.map(4, dst, smmu.DATA + smmu.PAGE)
        b.smmu.resume(b.sid, ev.stag, smmu.RESP_RETRY)
        check(b.dma.wait(1), State.FAULT, Reason.CANCELLED, write=True)
        assert b.dma.chan_read(1, CH_FAULT_ADDR) == dst + 8
        assert b.qom("stalls-pending") == 0 and b.qom("resumes-retry") == 1
        assert b.qt.memread(smmu.DATA + smmu.PAGE, 72) == bytes(72), (
            "cancelled FILL wrote"
        )
        assert b.dma.read(REG_IRQ_STATUS) == 1 << 1
        # Answered with abort, the cancelled command ends ABORTED.
        b.dma.start(2, Op.FILL, dst=dst + 0x2000, length=8, pattern=0xAB, pasid=3)
        ev = stalled(b, 2)
        b.dma.abort(2)
        b.smmu.resume(b.sid, ev.stag, smmu.RESP_ABORT)
        check(b.dma.wait(2), State.FAULT, Reason.ABORTED, write=True)
        # Terminated (CMD_STALL_TERM), it ends TERMINATED.
        b.dma.start(3, Op.FILL, dst=dst + 0x3000, length=8, pattern=0xAB, pasid=3)
        stalled(b, 3)
        b.dma.abort(3)
        b.smmu.stall_term(b.sid)
        check(b.dma.wait(3), State.FAULT, Reason.TERMINATED, write=True)
        assert b.qom("stalls-pending") == 0
        # The channel works again.
        b.dma.start(1, Op.FILL, dst=dst + 8, length=8, pattern=0xAB, pasid=3)
        check(b.dma.wait(1), State.DONE)
        assert b.qt.readq(smmu.DATA + smmu.PAGE + 8) == 0xAB


def test_inject_fail_retry_turns_a_retry_into_an_abort() -> None:
    with smmu.bench(dma=True, dma_opts=DMA_OPTS, stall_model=2, ssidsize=16) as b:
        assert b.dma is not None
        src, dst = smmu.dma_setup(b)
        b.qmp.command(
            "qom-set",
            path="/machine/peripheral/fd",
            property="x-inject-fail-retry",
            value=1,
        )
        b.dma.start(0, Op.COPY, src=src, dst=dst, length=64, pasid=3)
        ev = stalled(b, 0)
        b.smmu.map(4, dst, smmu.DATA + smmu.PAGE)
        b.smmu.resume(b.sid, ev.stag, smmu.RESP_RETRY)
        check(b.dma.wait(0), State.FAULT, Reason.ABORTED, write=True)
        assert b.dma.chan_read(0, CH_FAULT_ADDR) == dst
        assert dma_qom(b, "x-inject-fail-retry") == 0
        assert b.qt.memread(smmu.DATA + smmu.PAGE, 64) == bytes(64)
        # Used up: the next stall's retry goes through.
        dst2 = dst + smmu.PAGE  # not mapped yet
        b.qt.memwrite(smmu.DATA + 2 * smmu.PAGE, bytes(64))
        b.dma.start(0, Op.COPY, src=src, dst=dst2, length=64, pasid=3)
        ev = stalled(b, 0)
        b.smmu.map(4, dst2, smmu.DATA + 2 * smmu.PAGE)
        b.smmu.resume(b.sid, ev.stag, smmu.RESP_RETRY)
        check(b.dma.wait(0), State.DONE)
        assert b.qt.memread(smmu.DATA + 2 * smmu.PAGE, 64) == bytes(range(64))


def test_system_reset_while_stalled_clears_the_channel() -> None:
    with smmu.bench(dma=True, dma_opts=DMA_OPTS, stall_model=2, ssidsize=16) as b:
        assert b.dma is not None
        _src, dst = smmu.dma_setup(b)
        b.dma.start(0, Op.FILL, dst=dst, length=64, pattern=1, pasid=3)
        stalled(b, 0)
        bar0 = b.dma.bar0
        b.qmp.command("system_reset")
        deadline = time.monotonic() + 10
        while b.qt.readq(bar0 + REG_ID) == ID_VALUE:
            assert time.monotonic() < deadline, "no reset 10 s after system_reset"
        assert b.qom("stalls-pending") == 0
        dma = attach(b.qt, "virt")
        assert dma.status(0).state == State.IDLE
        assert dma.chan_read(0, CH_STALLS) == 0
        assert dma.read(REG_IRQ_STATUS) == 0, "reset raised a completion"
        assert dma_qom(b, "stalls") == 1
