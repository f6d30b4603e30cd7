"""SMMUv3 substreams and stall model (qemu-devices/patches/0002-*smmuv3*), through qtest.

The tests play the driver: they build a stream table, context descriptor tables and
stage-1 page tables in guest RAM, enable the command and event queues, and issue commands
through the command queue. DMA comes from the faultlab-dma PCI engine (its BAR assigned
through ECAM by the test), whose PASID-tagged accesses go through the SMMU's faultlab PASID
IOMMU interface and can stall. Counters and injection knobs are read and written with QMP
at /machine/smmuv3.

Spec references are to Arm IHI0070 (SMMUv3): 3.12.2 stall model, 4.7 CMD_RESUME,
5.2 STE, 5.4 CD, 7.3 event records, 7.4 Event queue overflow.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from faultlab import paths
from faultlab.qmp import QMP, QMPError
from faultlab.qtest import QTest, qtest_with_qmp
from faultlab.qtest_faultlab_dma import FaultlabDma, Op, Reason, State, attach

from .conftest import need_qemu

pytestmark = pytest.mark.qtest

QOM = "/machine/smmuv3"
SMMU = 0x0905_0000
IDR0, IDR1, IDR5 = 0x0, 0x4, 0x14
CR0, CR0ACK, GERROR = 0x20, 0x24, 0x60
STRTAB_BASE, STRTAB_BASE_CFG = 0x80, 0x88
CMDQ_BASE, CMDQ_PROD, CMDQ_CONS = 0x90, 0x98, 0x9C
EVTQ_BASE, EVTQ_PROD, EVTQ_CONS = 0xA0, 0x100A8, 0x100AC
CR0_SMMUEN, CR0_EVTQEN, CR0_CMDQEN = 1 << 0, 1 << 2, 1 << 3
OVFLG = 1 << 31

# Commands (IHI0070 4)
CMD_CFGI_STE, CMD_CFGI_STE_RANGE, CMD_CFGI_CD, CMD_CFGI_CD_ALL = 0x03, 0x04, 0x05, 0x06
CMD_TLBI_NH_ASID, CMD_RESUME, CMD_STALL_TERM, CMD_SYNC = 0x11, 0x44, 0x45, 0x46
# CMD_RESUME response as Linux encodes it (CMDQ_RESUME_0_RESP: AC bit 12, AB bit 13)
RESP_TERM, RESP_RETRY, RESP_ABORT = 0, 1, 2

# Events (IHI0070 7.3)
F_STREAM_DISABLED, C_BAD_STE, C_BAD_SUBSTREAMID, C_BAD_CD = 0x06, 0x04, 0x08, 0x0A
F_TRANSLATION, F_PERMISSION = 0x10, 0x13

# Guest RAM layout (virt RAM starts at 1 GiB)
STRTAB = 0x4010_0000  # linear, 256 STEs (SID = devfn on bus 0)
CMDQ = 0x4020_0000  # 256 entries
EVTQ = 0x4021_0000
CDTAB = 0x4030_0000
CDTAB_L2 = 0x4031_0000
PT_POOL = 0x4040_0000  # page-table pages
DATA = 0x4100_0000  # data pages (PA)
IOVA = 0x10_0000_0000  # the device's virtual addresses (below 2^39)
STRTAB_LOG2 = 8
CMDQ_LOG2 = 8

CD_T0SZ = 25  # 39-bit input: 3 levels (1, 2, 3) of 4 KiB tables
PAGE = 4096


def smmu_args(**props: int) -> list[str]:
    args = ["-machine", "virt,iommu=smmuv3,gic-version=3", "-cpu", "max", "-m", "512"]
    for name, value in props.items():
        args += ["-global", f"arm-smmuv3.{name.replace('_', '-')}={value}"]
    return args


@dataclass
class Event:
    raw: bytes

    def dw(self, n: int) -> int:
        return int.from_bytes(self.raw[8 * n : 8 * n + 8], "little")

    @property
    def type(self) -> int:
        return self.dw(0) & 0xFF

    @property
    def ssv(self) -> int:
        return (self.dw(0) >> 11) & 1

    @property
    def ssid(self) -> int:
        return (self.dw(0) >> 12) & 0xFFFFF

    @property
    def sid(self) -> int:
        return self.dw(0) >> 32

    @property
    def stag(self) -> int:
        return self.dw(1) & 0xFFFF

    @property
    def stall(self) -> int:
        return (self.dw(1) >> 31) & 1

    @property
    def pnu(self) -> int:
        return (self.dw(1) >> 33) & 1

    @property
    def ind(self) -> int:
        return (self.dw(1) >> 34) & 1

    @property
    def rnw(self) -> int:
        return (self.dw(1) >> 35) & 1

    @property
    def addr(self) -> int:
        return self.dw(2)


class Smmu:
    """The driver side: tables in guest RAM, queues, commands, events."""

    def __init__(self, qt: QTest, evtq_log2: int = 4) -> None:
        self.qt = qt
        self.evtq_log2 = evtq_log2
        self.cmd_prod = 0
        self.evt_cons = 0
        self.pt_next = PT_POOL
        self.roots: dict[int, int] = {}

    def r(self, off: int) -> int:
        return self.qt.readl(SMMU + off)

    def w(self, off: int, val: int) -> None:
        self.qt.writel(SMMU + off, val)

    def wq(self, off: int, val: int) -> None:
        self.qt.writeq(SMMU + off, val)

    def q64(self, addr: int, val: int) -> None:
        self.qt.memwrite(addr, val.to_bytes(8, "little"))

    def enable(self, smmuen: bool = True) -> None:
        self.qt.memwrite(STRTAB, bytes(64 << STRTAB_LOG2))
        self.wq(STRTAB_BASE, STRTAB)
        self.w(STRTAB_BASE_CFG, STRTAB_LOG2)  # linear
        self.wq(CMDQ_BASE, CMDQ | CMDQ_LOG2)
        self.w(CMDQ_PROD, 0)
        self.w(CMDQ_CONS, 0)
        self.wq(EVTQ_BASE, EVTQ | self.evtq_log2)
        self.w(EVTQ_PROD, 0)
        self.w(EVTQ_CONS, 0)
        cr0 = CR0_EVTQEN | CR0_CMDQEN | (CR0_SMMUEN if smmuen else 0)
        self.w(CR0, cr0)
        assert self.r(CR0ACK) == cr0

    # -- commands ------------------------------------------------------------

    def cmd(self, dw0: int, dw1: int = 0) -> None:
        """Issue one command and check that the SMMU consumed it without error."""
        idx = self.cmd_prod & ((1 << CMDQ_LOG2) - 1)
        self.qt.memwrite(
            CMDQ + 16 * idx, dw0.to_bytes(8, "little") + dw1.to_bytes(8, "little")
        )
        self.cmd_prod = (self.cmd_prod + 1) & ((2 << CMDQ_LOG2) - 1)
        self.w(CMDQ_PROD, self.cmd_prod)
        cons = self.r(CMDQ_CONS)
        assert cons == self.cmd_prod, f"CMDQ_CONS {cons:#x} != PROD {self.cmd_prod:#x}"
        assert self.r(GERROR) & 1 == 0, "GERROR.CMDQ_ERR"

    def resume(self, sid: int, stag: int, resp: int) -> None:
        self.cmd(CMD_RESUME | resp << 12 | sid << 32, stag)

    def stall_term(self, sid: int) -> None:
        self.cmd(CMD_STALL_TERM | sid << 32)

    def cfgi_ste(self, sid: int) -> None:
        self.cmd(CMD_CFGI_STE | sid << 32, 0)

    def cfgi_cd(self, sid: int, ssid: int) -> None:
        self.cmd(CMD_CFGI_CD | ssid << 12 | sid << 32, 1)

    def sync(self) -> None:
        self.cmd(CMD_SYNC)

    # -- tables ----------------------------------------------------------------

    def ste_s1(
        self,
        sid: int,
        *,
        cdmax: int,
        fmt: int = 0,
        s1dss: int = 2,
        s1stalld: bool = False,
        ctx: int = CDTAB,
    ) -> None:
        """A stage-1 STE (Config 0b101) pointing at a CD table."""
        dw0 = 1 | 0b101 << 1 | fmt << 4 | ctx | cdmax << 59
        dw1 = s1dss | (1 << 27 if s1stalld else 0)
        self.q64(STRTAB + 64 * sid, dw0)
        self.q64(STRTAB + 64 * sid + 8, dw1)
        self.cfgi_ste(sid)

    def cd(self, addr: int, asid: int, *, stall: bool, record: bool = True) -> None:
        """A valid AArch64 CD: TTB0 = a fresh page-table root, TT1 disabled."""
        root = self.new_table()
        self.roots[asid] = root
        dw0 = (
            CD_T0SZ
            | 1 << 30  # EPD1
            | 1 << 31  # V
            | 5 << 32  # IPS 48 bits
            | 1 << 41  # AA64
            | (1 << 44 if stall else 0)  # S
            | (1 << 45 if record else 0)  # R
            | 1 << 46  # A
            | asid << 48
        )
        self.q64(addr, dw0)
        self.q64(addr + 8, root)
        self.qt.memwrite(addr + 16, bytes(48))

    def new_table(self) -> int:
        t = self.pt_next
        self.pt_next += PAGE
        self.qt.memwrite(t, bytes(PAGE))
        return t

    def map(self, asid: int, iova: int, pa: int, *, writable: bool = True) -> None:
        """Map one 4 KiB page (levels 1..3 for a 39-bit input)."""
        table = self.roots[asid]
        for level in (1, 2):
            shift = 12 + 9 * (3 - level)
            slot = table + 8 * ((iova >> shift) & 0x1FF)
            desc = int.from_bytes(self.qt.memread(slot, 8), "little")
            if desc & 3 != 3:
                nxt = self.new_table()
                self.q64(slot, nxt | 3)
                table = nxt
            else:
                table = desc & 0xFFFF_FFFF_F000
        ap = 0 if writable else 1 << 7  # AP[2]: read-only
        self.q64(table + 8 * ((iova >> 12) & 0x1FF), pa | 3 | 1 << 10 | ap)

    # -- events ----------------------------------------------------------------

    def evtq_prod(self) -> int:
        return self.r(EVTQ_PROD)

    def events(self) -> list[Event]:
        """Consume every record the SMMU wrote (keeping OVACKFLG as it is)."""
        out = []
        mask = (2 << self.evtq_log2) - 1
        prod = self.evtq_prod() & mask
        while self.evt_cons != prod:
            idx = self.evt_cons & ((1 << self.evtq_log2) - 1)
            out.append(Event(self.qt.memread(EVTQ + 32 * idx, 32)))
            self.evt_cons = (self.evt_cons + 1) & mask
        ack = self.r(EVTQ_CONS) & OVFLG
        self.w(EVTQ_CONS, ack | self.evt_cons)
        return out

    def one_event(self) -> Event:
        evs = self.events()
        assert len(evs) == 1, f"expected one event, got {[hex(e.type) for e in evs]}"
        return evs[0]


class Bench:
    """One QEMU with the SMMU (and optionally faultlab-dma), its QMP and the driver side."""

    def __init__(
        self, qt: QTest, qmp: QMP, dma: FaultlabDma | None, evtq_log2: int
    ) -> None:
        self.qt = qt
        self.qmp = qmp
        self.dma = dma
        self.smmu = Smmu(qt, evtq_log2)

    def qom(self, name: str) -> int:
        value = self.qmp.command("qom-get", path=QOM, property=name)
        assert isinstance(value, int), f"qom-get {name} -> {value!r}"
        return value

    def qom_set(self, name: str, value: int) -> None:
        self.qmp.command("qom-set", path=QOM, property=name, value=value)

    @property
    def sid(self) -> int:
        assert self.dma is not None and self.dma.fn is not None
        return self.dma.fn.devfn

    def alive(self) -> None:
        assert self.smmu.r(IDR0) != 0, "QEMU answers"


@contextmanager
def bench(
    *,
    dma: bool = False,
    dma_opts: str = "",
    evtq_log2: int = 4,
    extra: list[str] | None = None,
    **props: int,
) -> Iterator[Bench]:
    need_qemu("qemu-system-aarch64")
    args = smmu_args(**props)
    if dma:
        args += ["-device", "faultlab-dma" + dma_opts]
    args += extra or []
    with qtest_with_qmp("qemu-system-aarch64", args, "smmu-stall") as (qt, qmp):
        dev = None
        if dma:
            dev = attach(qt, "virt")
            assert dev.fn is not None
            dev.fn.enable_pasid()
        b = Bench(qt, qmp, dev, evtq_log2)
        yield b
        b.alive()


def bits(value: int, lo: int, width: int) -> int:
    return (value >> lo) & ((1 << width) - 1)


# ---------------------------------------------------------------------------------------------
# SMMU only


def test_id_registers_default_to_upstream() -> None:
    with bench() as b:
        idr0, idr1, idr5 = b.smmu.r(IDR0), b.smmu.r(IDR1), b.smmu.r(IDR5)
        assert bits(idr0, 24, 2) == 1, f"STALL_MODEL {idr0:#x}"
        assert bits(idr0, 19, 1) == 0, f"CD2L {idr0:#x}"
        assert bits(idr1, 6, 5) == 0, f"SSIDSIZE {idr1:#x}"
        assert bits(idr5, 0, 3) == 4, f"OAS {idr5:#x}"
        assert bits(idr5, 16, 16) == 0, f"STALL_MAX {idr5:#x}"


@pytest.mark.parametrize(
    ("model", "ssidsize", "stall_max", "oas", "oas_field"),
    [(2, 20, 128, 52, 6), (0, 16, 64, 48, 5), (1, 10, 64, 44, 4)],
)
def test_id_registers_follow_properties(
    model: int, ssidsize: int, stall_max: int, oas: int, oas_field: int
) -> None:
    with bench(stall_model=model, ssidsize=ssidsize, stall_max=stall_max, oas=oas) as b:
        idr0, idr1, idr5 = b.smmu.r(IDR0), b.smmu.r(IDR1), b.smmu.r(IDR5)
        assert bits(idr0, 24, 2) == model
        assert bits(idr0, 19, 1) == 1, "CD2L with substreams"
        assert bits(idr1, 6, 5) == ssidsize
        assert bits(idr1, 0, 6) == 16, "SIDSIZE unchanged"
        assert bits(idr5, 0, 3) == oas_field
        assert bits(idr5, 16, 16) == (0 if model == 1 else stall_max)


@pytest.mark.parametrize(
    ("prop", "value", "message"),
    [
        ("ssidsize", 21, "ssidsize must be 0..20"),
        ("stall-model", 3, "stall-model must be"),
        ("oas", 50, "oas must be one of"),
        ("stall-max", 0, "stall-max must be"),
    ],
)
def test_bad_property_values_are_refused(prop: str, value: int, message: str) -> None:
    need_qemu("qemu-system-aarch64")
    argv = [str(paths.qemu_binary("qemu-system-aarch64")), *smmu_args()]
    argv += ["-global", f"arm-smmuv3.{prop}={value}"]
    argv += ["-nodefaults", "-display", "none", "-S", "-accel", "qtest"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 1, res.stderr
    assert message in res.stderr


def test_qom_path_counters_and_knobs() -> None:
    with bench(stall_model=2, ssidsize=16) as b:
        for name in (
            "stalls-pending",
            "stalls-total",
            "stalls-refused",
            "resumes-retry",
            "resumes-abort",
            "stalls-terminated",
            "evtq-overflows",
        ):
            assert b.qom(name) == 0, name
        assert b.qom("ssidsize") == 16
        assert b.qom("stall-model") == 2
        b.qom_set("x-inject-evtq-full", 3)
        b.qom_set("x-inject-drop-stall-events", 5)
        assert b.qom("x-inject-evtq-full") == 3
        assert b.qom("x-inject-drop-stall-events") == 5
        with pytest.raises(QMPError):
            b.qom_set("stalls-total", 7)
        assert b.qom("stalls-total") == 0


def test_resume_and_stall_term_with_nothing_stalled() -> None:
    with bench(stall_model=0, ssidsize=16) as b:
        b.smmu.enable()
        b.smmu.resume(8, 0, RESP_RETRY)
        b.smmu.resume(8, 0xFFFF, RESP_ABORT)
        b.smmu.resume(0xFFFF_FFFF, 0x1234, RESP_TERM)  # unknown StreamID
        b.smmu.stall_term(8)
        b.smmu.stall_term(0xFFFF_FFFF)
        b.smmu.sync()
        assert b.smmu.events() == []
        assert b.qom("resumes-retry") == 0
        assert b.qom("resumes-abort") == 0
        assert b.qom("stalls-terminated") == 0


def test_cfgi_with_hostile_substream_ids() -> None:
    with bench(stall_model=0, ssidsize=20) as b:
        b.smmu.enable()
        for sid in (0, 8, 0xFFFF, 0xFFFF_FFFF):
            for ssid in (0, 1, 0xFFFFF):
                b.smmu.cfgi_cd(sid, ssid)
            b.smmu.cmd(CMD_CFGI_CD_ALL | sid << 32)
            b.smmu.cmd(CMD_CFGI_STE_RANGE | sid << 32, 31)  # range 31 = CFGI_ALL
        b.smmu.sync()
        assert b.smmu.events() == []


# ---------------------------------------------------------------------------------------------
# With faultlab-dma as the bus master


def dma_setup(
    b: Bench,
    *,
    ssid: int = 3,
    cdmax: int = 4,
    stall: bool = True,
    s1stalld: bool = False,
) -> tuple[int, int]:
    """STE (linear CD table) + CD for `ssid`; src page mapped with data, dst page unmapped.

    Returns (src_iova, dst_iova); the destination's PA is DATA + PAGE."""
    s = b.smmu
    s.enable()
    s.ste_s1(b.sid, cdmax=cdmax, s1stalld=s1stalld)
    s.cd(CDTAB + 64 * ssid, asid=ssid + 1, stall=stall)
    s.cfgi_cd(b.sid, ssid)
    src, dst = IOVA, IOVA + 0x20_0000
    s.map(ssid + 1, src, DATA, writable=False)
    b.qt.memwrite(DATA, bytes(range(256)))
    b.qt.memwrite(DATA + PAGE, bytes(256))
    return src, dst


def check_stall_record(
    ev: Event, sid: int, ssid: int, addr: int, *, write: bool
) -> None:
    assert ev.type == F_TRANSLATION, f"event {ev.type:#x}"
    assert ev.stall == 1
    assert ev.ssv == 1
    assert ev.ssid == ssid
    assert ev.sid == sid
    assert ev.rnw == (0 if write else 1)
    assert ev.addr == addr
    assert ev.pnu == 0 and ev.ind == 0


@pytest.mark.parametrize("model", [0, 2])
def test_stall_then_resume_retry_completes_the_dma(model: int) -> None:
    with bench(dma=True, stall_model=model, ssidsize=16) as b:
        assert b.dma is not None
        src, dst = dma_setup(b)
        b.dma.start(0, Op.COPY, src=src, dst=dst, length=256, pasid=3)
        st = b.dma.wait_state(0, State.STALLED)
        assert st.write, "the stalled access is the write"
        ev = b.smmu.one_event()
        check_stall_record(ev, b.sid, 3, dst, write=True)
        assert b.qom("stalls-pending") == 1
        assert b.qom("stalls-total") == 1
        assert b.dma.status(0).state == State.STALLED, "held until software answers"
        b.smmu.map(4, dst, DATA + PAGE)
        b.smmu.resume(b.sid, ev.stag, RESP_RETRY)
        st = b.dma.wait(0)
        assert st.state == State.DONE, str(st)
        assert b.qt.memread(DATA + PAGE, 256) == bytes(range(256))
        assert b.qom("stalls-pending") == 0
        assert b.qom("resumes-retry") == 1
        assert b.qom("resumes-abort") == 0
        assert b.smmu.events() == []


def test_stall_stags_are_unique_and_resume_abort_aborts() -> None:
    with bench(dma=True, stall_model=0, ssidsize=16) as b:
        assert b.dma is not None
        src, dst = dma_setup(b)
        b.dma.start(0, Op.COPY, src=src, dst=dst, length=64, pasid=3)
        b.dma.start(1, Op.FILL, dst=dst + 0x1000, length=64, pattern=0x55, pasid=3)
        b.dma.wait_state(0, State.STALLED)
        b.dma.wait_state(1, State.STALLED)
        evs = b.smmu.events()
        assert len(evs) == 2
        assert evs[0].stag != evs[1].stag
        assert {e.addr for e in evs} == {dst, dst + 0x1000}
        assert b.qom("stalls-pending") == 2
        for ev in evs:
            b.smmu.resume(b.sid, ev.stag, RESP_ABORT)
        for chan in (0, 1):
            st = b.dma.wait(chan)
            assert st.state == State.FAULT and st.reason == Reason.ABORTED, str(st)
        assert b.qom("resumes-abort") == 2
        assert b.qom("stalls-pending") == 0


def test_permission_fault_stalls_until_the_tlb_is_invalidated() -> None:
    with bench(dma=True, stall_model=2, ssidsize=16) as b:
        assert b.dma is not None
        src, _dst = dma_setup(b)  # src: mapped read-only (ASID 4)
        # A read caches the read-only translation in the IOTLB
        b.dma.start(0, Op.COMPARE, src=src, dst=src, length=64, pasid=3)
        assert b.dma.wait(0).state == State.DONE
        b.dma.start(0, Op.FILL, dst=src + 8, length=8, pattern=0xAB, pasid=3)
        b.dma.wait_state(0, State.STALLED)
        ev = b.smmu.one_event()
        assert ev.type == F_PERMISSION and ev.stall == 1 and ev.rnw == 0
        assert ev.addr == src + 8
        b.smmu.map(4, src, DATA, writable=True)
        # Without a TLB invalidation the retry hits the cached read-only entry
        b.smmu.resume(b.sid, ev.stag, RESP_RETRY)
        b.dma.wait_for(0, lambda st: b.qom("stalls-total") == 2)
        ev2 = b.smmu.one_event()
        assert ev2.type == F_PERMISSION and ev2.stall == 1 and ev2.stag != ev.stag
        b.smmu.cmd(CMD_TLBI_NH_ASID | 4 << 48)
        b.smmu.resume(b.sid, ev2.stag, RESP_RETRY)
        assert b.dma.wait(0).state == State.DONE
        assert b.qt.memread(DATA + 8, 8) == bytes([0xAB] + [0] * 7)
        assert b.qom("resumes-retry") == 2


def test_synchronous_path_msi_write_cannot_stall() -> None:
    """MSI writes use QEMU's synchronous IOMMU translate(), without a SubstreamID: through
    S1DSS = SSID0 they use CD 0; on a stalling CD a fault there is terminated and recorded
    with STALL = 0, and once mapped the write lands."""
    msi_iova, msi_pa = IOVA + 0x40_0000, DATA + 3 * PAGE
    with bench(dma=True, stall_model=2, ssidsize=16) as b:
        assert b.dma is not None and b.dma.fn is not None
        s = b.smmu
        src, dst = dma_setup(b)
        s.map(4, dst, DATA + PAGE)
        s.cd(CDTAB, asid=1, stall=True)
        s.cfgi_cd(b.sid, 0)
        b.qt.memwrite(msi_pa, bytes(4))
        b.dma.fn.enable_msi(msi_iova, 0x4242)
        b.dma.write(0x018, 1)  # IRQ_MASK: channel 0
        b.dma.start(0, Op.COPY, src=src, dst=dst, length=64, pasid=3)
        assert b.dma.wait(0).state == State.DONE
        ev = s.one_event()
        assert (ev.type, ev.stall, ev.ssv, ev.rnw) == (F_TRANSLATION, 0, 0, 0)
        assert ev.addr == msi_iova and ev.sid == b.sid
        assert b.qom("stalls-total") == 0
        s.map(1, msi_iova, msi_pa)
        b.dma.write(0x010, 1)  # IRQ_STATUS: clear
        b.dma.start(0, Op.COPY, src=src, dst=dst, length=64, pasid=3)
        assert b.dma.wait(0).state == State.DONE
        assert b.qt.memread(msi_pa, 4) == (0x4242).to_bytes(4, "little")
        assert s.events() == []


def test_bad_stag_and_wrong_sid_are_ignored() -> None:
    with bench(dma=True, stall_model=0, ssidsize=16) as b:
        assert b.dma is not None
        src, dst = dma_setup(b)
        b.dma.start(0, Op.COPY, src=src, dst=dst, length=64, pasid=3)
        b.dma.wait_state(0, State.STALLED)
        ev = b.smmu.one_event()
        b.smmu.resume(b.sid, ev.stag ^ 0x5A5A, RESP_RETRY)
        b.smmu.resume(b.sid + 1, ev.stag, RESP_ABORT)
        b.smmu.stall_term(b.sid + 1)
        b.smmu.sync()
        time.sleep(0.05)
        assert b.dma.status(0).state == State.STALLED
        assert b.qom("stalls-pending") == 1
        assert b.qom("resumes-retry") == 0 and b.qom("resumes-abort") == 0
        b.smmu.map(4, dst, DATA + PAGE)
        b.smmu.resume(b.sid, ev.stag, RESP_RETRY)
        assert b.dma.wait(0).state == State.DONE
        # a second answer for the same STAG matches nothing now
        b.smmu.resume(b.sid, ev.stag, RESP_ABORT)
        assert b.qom("resumes-abort") == 0


def test_stall_term_and_smmu_disable_terminate_stalls() -> None:
    with bench(dma=True, stall_model=0, ssidsize=16) as b:
        assert b.dma is not None
        src, dst = dma_setup(b)
        b.dma.start(0, Op.COPY, src=src, dst=dst, length=64, pasid=3)
        b.dma.wait_state(0, State.STALLED)
        b.smmu.stall_term(b.sid)
        st = b.dma.wait(0)
        assert st.state == State.FAULT and st.reason == Reason.TERMINATED, str(st)
        assert b.qom("stalls-terminated") == 1
        b.dma.start(1, Op.COPY, src=src, dst=dst, length=64, pasid=3)
        b.dma.wait_state(1, State.STALLED)
        assert b.qom("stalls-pending") == 1
        b.smmu.w(CR0, CR0_EVTQEN | CR0_CMDQEN)  # SMMUEN 1 -> 0
        st = b.dma.wait(1)
        assert st.state == State.FAULT and st.reason == Reason.TERMINATED, str(st)
        assert b.qom("stalls-terminated") == 2
        assert b.qom("stalls-pending") == 0


def test_system_reset_releases_stalls() -> None:
    with bench(dma=True, stall_model=2, ssidsize=16) as b:
        assert b.dma is not None
        _src, dst = dma_setup(b)
        b.dma.start(0, Op.FILL, dst=dst, length=64, pattern=1, pasid=3)
        b.dma.wait_state(0, State.STALLED)
        assert b.qom("stalls-pending") == 1
        b.qmp.command("system_reset")
        deadline = time.monotonic() + 10
        while b.qom("stalls-pending") != 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b.qom("stalls-pending") == 0
        assert b.smmu.r(CR0) == 0, "SMMU registers reset"
        assert b.qom("stalls-total") == 1


def test_no_stall_when_the_cd_does_not_stall() -> None:
    with bench(dma=True, stall_model=0, ssidsize=16) as b:
        assert b.dma is not None
        src, dst = dma_setup(b, stall=False, s1stalld=True)
        b.dma.start(0, Op.COPY, src=src, dst=dst, length=64, pasid=3)
        st = b.dma.wait(0)
        assert st.state == State.FAULT and st.reason == Reason.XLATE, str(st)
        ev = b.smmu.one_event()
        assert (
            ev.type == F_TRANSLATION and ev.stall == 0 and ev.ssid == 3 and ev.ssv == 1
        )
        assert b.qom("stalls-total") == 0


def test_stall_max_terminates_one_more_without_stall() -> None:
    with bench(dma=True, stall_model=2, ssidsize=16, stall_max=1) as b:
        assert b.dma is not None
        _src, dst = dma_setup(b)
        b.dma.start(0, Op.FILL, dst=dst, length=64, pattern=1, pasid=3)
        b.dma.wait_state(0, State.STALLED)
        b.dma.start(1, Op.FILL, dst=dst + 0x1000, length=64, pattern=1, pasid=3)
        st = b.dma.wait(1)
        assert st.state == State.FAULT and st.reason == Reason.XLATE, str(st)
        evs = b.smmu.events()
        assert [(e.stall, e.addr) for e in evs] == [(1, dst), (0, dst + 0x1000)]
        assert b.qom("stalls-refused") == 1
        assert b.qom("stalls-pending") == 1
        b.smmu.resume(b.sid, evs[0].stag, RESP_ABORT)
        assert b.dma.wait(0).reason == Reason.ABORTED


def test_injected_lost_stall_record() -> None:
    with bench(dma=True, stall_model=2, ssidsize=16) as b:
        assert b.dma is not None
        _src, dst = dma_setup(b)
        b.qom_set("x-inject-drop-stall-events", 1)
        b.dma.start(0, Op.FILL, dst=dst, length=64, pattern=1, pasid=3)
        b.dma.wait_state(0, State.STALLED)
        assert b.smmu.events() == []
        assert b.qom("x-inject-drop-stall-events") == 0
        assert b.qom("stalls-pending") == 1
        b.smmu.stall_term(b.sid)
        assert b.dma.wait(0).reason == Reason.TERMINATED


def test_evtq_overflow_flags_and_stall_records_wait_for_room() -> None:
    # A 2-entry Event queue; faults on a non-stalling CD fill it.
    with bench(dma=True, stall_model=0, ssidsize=16, evtq_log2=1) as b:
        assert b.dma is not None
        s = b.smmu
        _src, dst = dma_setup(b, ssid=3, stall=False, s1stalld=False)
        s.cd(CDTAB + 64 * 5, asid=6, stall=True)
        s.cfgi_cd(b.sid, 5)

        def fault(chan: int) -> None:
            b.dma.start(chan, Op.FILL, dst=dst, length=8, pattern=1, pasid=3)  # type: ignore[union-attr]
            assert b.dma.wait(chan).reason == Reason.XLATE  # type: ignore[union-attr]

        fault(0)
        fault(1)
        assert s.evtq_prod() == 2 and s.evtq_prod() & OVFLG == 0  # full (wrap bit set)
        fault(2)  # lost: OVFLG toggles
        prod = s.evtq_prod()
        assert prod & OVFLG, f"PROD {prod:#x}"
        fault(3)  # lost again: already in overflow, no toggle
        assert s.evtq_prod() == prod
        assert b.qom("evtq-overflows") == 2

        # A stall record finds the queue full: it waits, nothing is lost
        b.dma.start(4, Op.FILL, dst=dst, length=8, pattern=1, pasid=5)
        b.dma.wait_state(4, State.STALLED)
        assert s.evtq_prod() == prod
        assert b.qom("evtq-overflows") == 2
        evs = s.events()  # consuming makes room: the stall record is written
        assert [e.stall for e in evs] == [0, 0]
        # acknowledge the overflow
        s.w(EVTQ_CONS, (s.evtq_prod() & OVFLG) | s.evt_cons)
        ev = s.one_event()
        check_stall_record(ev, b.sid, 5, dst, write=True)
        s.resume(b.sid, ev.stag, RESP_ABORT)
        assert b.dma.wait(4).reason == Reason.ABORTED
        fault(5)  # the queue has room again: recorded, no toggle
        assert s.evtq_prod() & OVFLG == prod & OVFLG
        assert [e.type for e in s.events()] == [F_TRANSLATION]


def test_injected_evtq_full_loses_plain_records_but_not_stall_records() -> None:
    with bench(dma=True, stall_model=0, ssidsize=16) as b:
        assert b.dma is not None
        s = b.smmu
        _src, dst = dma_setup(b, ssid=3, stall=True)
        s.cd(CDTAB + 64 * 2, asid=3, stall=False)
        s.cfgi_cd(b.sid, 2)
        b.qom_set("x-inject-evtq-full", 1)
        b.dma.start(0, Op.FILL, dst=dst, length=8, pattern=1, pasid=2)
        assert b.dma.wait(0).reason == Reason.XLATE
        assert s.events() == []
        assert s.evtq_prod() & OVFLG
        assert b.qom("evtq-overflows") == 1
        b.qom_set("x-inject-evtq-full", 1)
        b.dma.start(1, Op.FILL, dst=dst, length=8, pattern=1, pasid=3)
        b.dma.wait_state(1, State.STALLED)
        assert s.events() == [], "the stall record waits"
        # the next write attempt (an EVTQ_CONS write) finds room
        s.w(EVTQ_CONS, (s.evtq_prod() & OVFLG) | s.evt_cons)
        ev = s.one_event()
        check_stall_record(ev, b.sid, 3, dst, write=True)
        assert b.qom("evtq-overflows") == 1
        s.resume(b.sid, ev.stag, RESP_ABORT)
        assert b.dma.wait(1).reason == Reason.ABORTED


def test_substream_checks_and_s1dss() -> None:
    with bench(dma=True, dma_opts=",pasid-bits=20", stall_model=0, ssidsize=16) as b:
        assert b.dma is not None
        s = b.smmu
        src, dst = dma_setup(b, ssid=3, cdmax=4)
        s.cd(CDTAB, asid=1, stall=False)  # CD 0, for transactions without a SubstreamID
        s.map(1, src, DATA, writable=False)
        s.map(1, dst, DATA + PAGE)
        s.cfgi_cd(b.sid, 0)
        # S1DSS = SSID0: no SubstreamID uses CD 0
        b.dma.start(0, Op.COPY, src=src, dst=dst, length=32)
        assert b.dma.wait(0).state == State.DONE
        assert b.qt.memread(DATA + PAGE, 32) == bytes(range(32))
        # SSID 16 >= 2^S1CDMAX: C_BAD_SUBSTREAMID
        b.dma.start(1, Op.COPY, src=src, dst=dst, length=32, pasid=16)
        assert b.dma.wait(1).reason == Reason.XLATE
        ev = s.one_event()
        assert (ev.type, ev.ssid, ev.sid) == (C_BAD_SUBSTREAMID, 16, b.sid)
        # SSID beyond SSIDSIZE (20 bits asked, 16 supported)
        b.dma.start(1, Op.COPY, src=src, dst=dst, length=32, pasid=0xFFFFF)
        assert b.dma.wait(1).reason == Reason.XLATE
        assert s.one_event().type == C_BAD_SUBSTREAMID
        # S1DSS = terminate: F_STREAM_DISABLED
        s.ste_s1(b.sid, cdmax=4, s1dss=0)
        b.dma.start(2, Op.COPY, src=src, dst=dst, length=32)
        assert b.dma.wait(2).reason == Reason.XLATE
        assert s.one_event().type == F_STREAM_DISABLED
        # S1DSS = bypass: untranslated
        s.ste_s1(b.sid, cdmax=4, s1dss=1)
        b.qt.memwrite(DATA + 2 * PAGE, bytes(32))
        b.dma.start(2, Op.COPY, src=DATA, dst=DATA + 2 * PAGE, length=32)
        assert b.dma.wait(2).state == State.DONE
        assert b.qt.memread(DATA + 2 * PAGE, 32) == bytes(range(32))
        # S1CDMAX above SSIDSIZE is ILLEGAL
        s.ste_s1(b.sid, cdmax=17)
        b.dma.start(3, Op.COPY, src=src, dst=dst, length=32, pasid=3)
        assert b.dma.wait(3).reason == Reason.XLATE
        assert s.one_event().type == C_BAD_STE


@pytest.mark.parametrize("fmt", [1, 2])
def test_two_level_cd_table(fmt: int) -> None:
    """S1Fmt 1: 4 KiB leaf tables (64 CDs); 2: 64 KiB leaves (1024 CDs, what Linux uses)."""
    split = 6 if fmt == 1 else 10
    with bench(dma=True, stall_model=0, ssidsize=16) as b:
        assert b.dma is not None
        s = b.smmu
        s.enable()
        ssid = 1 << split | 5  # L1 index 1, L2 index 5
        bad_ssid = 2 << split | 5  # L1 index 2: invalid L1CD
        s.ste_s1(b.sid, cdmax=16, fmt=fmt)
        s.qt.memwrite(CDTAB, bytes(8 * 1024))
        s.q64(CDTAB + 8 * 1, CDTAB_L2 | 1)  # L1CD: V, L2Ptr
        s.cd(CDTAB_L2 + 64 * 5, asid=9, stall=True)
        s.map(9, IOVA, DATA, writable=False)
        b.qt.memwrite(DATA, bytes(range(64)))
        s.map(9, IOVA + PAGE, DATA + PAGE)
        b.dma.start(0, Op.COPY, src=IOVA, dst=IOVA + PAGE, length=64, pasid=ssid)
        assert b.dma.wait(0).state == State.DONE
        assert b.qt.memread(DATA + PAGE, 64) == bytes(range(64))
        # an invalid L1CD: C_BAD_SUBSTREAMID
        b.dma.start(1, Op.COPY, src=IOVA, dst=IOVA + PAGE, length=64, pasid=bad_ssid)
        assert b.dma.wait(1).reason == Reason.XLATE
        ev = s.one_event()
        assert (ev.type, ev.ssid) == (C_BAD_SUBSTREAMID, bad_ssid)
        # a stall through the 2-level table
        b.dma.start(2, Op.FILL, dst=IOVA + 5 * PAGE, length=8, pattern=7, pasid=ssid)
        b.dma.wait_state(2, State.STALLED)
        check_stall_record(s.one_event(), b.sid, ssid, IOVA + 5 * PAGE, write=True)
        s.stall_term(b.sid)
        assert b.dma.wait(2).reason == Reason.TERMINATED


@pytest.mark.parametrize(
    ("model", "cd_stall", "s1stalld", "event"),
    [
        (2, False, False, C_BAD_CD),  # force: CD.S == 0 is ILLEGAL
        (2, True, True, C_BAD_STE),  # S1STALLD with STALL_MODEL != 0 is ILLEGAL
        (0, True, True, C_BAD_CD),  # CD.S with S1STALLD
        (1, True, False, C_BAD_CD),  # no stall: CD.S is ILLEGAL
    ],
)
def test_illegal_stall_configurations(
    model: int, cd_stall: bool, s1stalld: bool, event: int
) -> None:
    with bench(dma=True, stall_model=model, ssidsize=16) as b:
        assert b.dma is not None
        src, dst = dma_setup(b, stall=cd_stall, s1stalld=s1stalld)
        b.dma.start(0, Op.COPY, src=src, dst=dst, length=64, pasid=3)
        assert b.dma.wait(0).reason == Reason.XLATE
        ev = b.smmu.one_event()
        assert ev.type == event, f"{ev.type:#x}"
        assert b.qom("stalls-total") == 0


def flip_bits(rng: random.Random, data: bytes, count: int) -> bytes:
    out = bytearray(data)
    for _ in range(count):
        bit = rng.randrange(8 * len(out))
        out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.mark.parametrize("model", [0, 2])
def test_hostile_tables_and_substream_ids_do_not_crash_qemu(model: int) -> None:
    """Near-valid and random STEs, L1CDs and CDs (the SMMU is nested: stage 2 fields too),
    random SubstreamIDs, stalls left to CMD_STALL_TERM: QEMU keeps answering, every DMA
    command ends, and the run goes through successes, stalls and faults alike."""
    rng = random.Random(int(os.environ.get("FAULTLAB_FUZZ_SEED", "0x5A11"), 0) + model)
    rounds = int(os.environ.get("FAULTLAB_FUZZ_ROUNDS", "300"))
    l1tab = CDTAB + 0x8000
    outcomes: dict[State, int] = {}
    with bench(
        dma=True, dma_opts=",pasid-bits=20", stall_model=model, ssidsize=20
    ) as b:
        assert b.dma is not None
        s = b.smmu
        s.enable()
        s.cd(CDTAB, asid=1, stall=True)
        cd0 = b.qt.memread(CDTAB, 64)
        for page in range(2):
            s.map(1, IOVA + page * PAGE, DATA + page * PAGE)
        for i in range(rounds):
            fmt = rng.choice([0, 0, 1, 2])
            cdmax = rng.choice([0, 3, 10, 16, 20])
            dw0 = 1 | 0b101 << 1 | fmt << 4 | (l1tab if fmt else CDTAB) | cdmax << 59
            dw1 = rng.randrange(3) | (1 << 27 if rng.random() < 0.2 else 0)
            ste = dw0.to_bytes(8, "little") + dw1.to_bytes(8, "little") + bytes(48)
            if rng.random() < 0.2:
                ste = bytes([1]) + rng.randbytes(63)
            b.qt.memwrite(STRTAB + 64 * b.sid, flip_bits(rng, ste, rng.randrange(3)))
            for j in range(4):
                b.qt.memwrite(
                    l1tab + 8 * j,
                    flip_bits(
                        rng, (CDTAB_L2 | 1).to_bytes(8, "little"), rng.randrange(2)
                    ),
                )
            for base in (CDTAB, CDTAB_L2):
                for j in range(4):
                    cd = cd0 if rng.random() < 0.8 else rng.randbytes(64)
                    b.qt.memwrite(base + 64 * j, flip_bits(rng, cd, rng.randrange(3)))
            s.cmd(CMD_CFGI_STE_RANGE | b.sid << 32, 31)
            s.cmd(CMD_TLBI_NH_ASID | 1 << 48)
            pasid = rng.choice(
                [None, 0, 1, 2, 3, 1024, 0xFFFFF, rng.randrange(1 << 20)]
            )
            dst = IOVA + rng.randrange(3) * PAGE
            b.dma.start(0, Op.FILL, dst=dst, length=64, pattern=i, pasid=pasid)
            st = b.dma.wait_for(0, lambda st: st.state != State.RUNNING)
            outcomes[st.state] = outcomes.get(st.state, 0) + 1
            if st.state == State.STALLED:
                s.stall_term(b.sid)
                st = b.dma.wait(0)
            assert st.state in (State.DONE, State.FAULT), str(st)
            s.events()
            if s.r(GERROR) != s.r(0x64):
                s.w(0x64, s.r(GERROR))  # acknowledge global errors
        assert b.qom("stalls-pending") == 0
    assert {State.DONE, State.FAULT, State.STALLED} <= outcomes.keys(), outcomes
