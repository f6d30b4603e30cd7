"""VT-d page requests for PASID-tagged DMA (qemu-devices/patches/0006-*intel-iommu*), via qtest.

The tests play the intel-iommu driver of Linux 6.12 on q35 with the x86_64 platform's
intel-iommu (scalable mode, first-stage tables, 20-bit PASIDs, x-prs): they build the
scalable-mode root, context and PASID tables and 4-level first-stage page tables in guest
RAM, enable the invalidation queue (256-bit descriptors), the page request queue and
translation, and enable PASID, ATS and PRI on the faultlab-dma engine. The engine's
PASID-tagged DMA goes through the VT-d PASID IOMMU interface; a fault on a not-present
first-stage page becomes a page request descriptor, answered with a page group response
descriptor (type 0x9) in the invalidation queue.

Field layouts are those Linux reads and writes (drivers/iommu/intel/prq.c, iommu.h,
pasid.h) and the VT-d specification's (chapter 7 page requests, 9 table formats,
11 registers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from faultlab.platforms import PLATFORMS
from faultlab.qtest import QTest
from faultlab.qtest_faultlab_dma import FaultlabDma, Op, Reason, State, attach

from .conftest import need_qemu

pytestmark = pytest.mark.qtest

VTD = 0xFED9_0000
CAP, ECAP, GCMD, GSTS, RTADDR = 0x08, 0x10, 0x18, 0x1C, 0x20
FSTS = 0x34
IQH, IQT, IQA = 0x80, 0x88, 0x90
PQH, PQT, PQA, PRS, PECTL, PEDATA, PEADDR = 0xC0, 0xC8, 0xD0, 0xDC, 0xE0, 0xE4, 0xE8
GCMD_TE, GCMD_SRTP, GCMD_QIE = 1 << 31, 1 << 30, 1 << 26
GSTS_TES, GSTS_RTPS, GSTS_QIES = 1 << 31, 1 << 30, 1 << 26
RTADDR_SMT = 1 << 10
IQA_DW = 1 << 11
FSTS_PPF, FSTS_IQE = 1 << 1, 1 << 4
PRS_PPR, PRS_PRO = 1 << 0, 1 << 1
PECTL_IM, PECTL_IP = 1 << 31, 1 << 30

# Invalidation descriptors (256-bit)
QI_WAIT, QI_PGRP_RESP = 0x5, 0x9
QI_IWD_STATUS_WRITE, QI_IWD_FENCE, QI_IWD_PRQ_DRAIN = 1 << 5, 1 << 6, 1 << 7
QI_EIOTLB, QI_GRAN_NONG_PASID = 0x6, 2
RESP_SUCCESS, RESP_INVALID, RESP_FAILURE = 0x0, 0x1, 0xF

# PCIe extended capabilities of the engine
PCI_EXT_CAP_ID_ATS, PCI_EXT_CAP_ID_PRI = 0x0F, 0x13
ATS_CAP, ATS_CTRL, ATS_ENABLE, ATS_PAGE_ALIGNED = 0x4, 0x6, 1 << 15, 1 << 5
PRI_CTRL, PRI_STATUS, PRI_MAX_REQ, PRI_ALLOC_REQ = 0x4, 0x6, 0x8, 0xC
PRI_ENABLE, PRI_RESET = 1 << 0, 1 << 1
PRI_STOPPED, PRI_PASID_REQUIRED = 1 << 8, 1 << 15

# Guest RAM layout (q35, 512 MiB)
ROOT = 0x0100_0000
CTX = 0x0100_1000
PASID_DIR = 0x0100_2000
PASID_TBL = 0x0100_3000  # PASIDs 0..63
PASID_TBL2 = 0x0100_4000  # PASIDs 64..127
IQ = 0x0101_0000
PRQ = 0x0102_0000  # 4 KiB: 128 descriptors
STATUS = 0x0103_0000  # inv-wait status writes
PT_POOL = 0x0110_0000
DATA = 0x0200_0000
IOVA = 0x7F00_1234_5000  # a user address (canonical, 4-level)
PAGE = 4096
PASID = 0x45  # in the second PASID table page
DID = 3


def q64(v: int) -> bytes:
    return v.to_bytes(8, "little")


@dataclass(frozen=True)
class PageRequest:
    """A page request descriptor (struct page_req_dsc in Linux's prq.c)."""

    qw0: int
    qw1: int

    @property
    def type(self) -> int:
        return self.qw0 & 0xFF

    @property
    def pasid_present(self) -> int:
        return (self.qw0 >> 8) & 1

    @property
    def rid(self) -> int:
        return (self.qw0 >> 16) & 0xFFFF

    @property
    def pasid(self) -> int:
        return (self.qw0 >> 32) & 0xFFFFF

    @property
    def exe(self) -> int:
        return (self.qw0 >> 52) & 1

    @property
    def pm(self) -> int:
        return (self.qw0 >> 53) & 1

    @property
    def rd(self) -> int:
        return self.qw1 & 1

    @property
    def wr(self) -> int:
        return (self.qw1 >> 1) & 1

    @property
    def lpig(self) -> int:
        return (self.qw1 >> 2) & 1

    @property
    def prgi(self) -> int:
        return (self.qw1 >> 3) & 0x1FF

    @property
    def addr(self) -> int:
        return self.qw1 & ~0xFFF & (1 << 64) - 1


def vtd_args(**props: str) -> list[str]:
    """q35 with the x86_64 platform's intel-iommu (plus ``props``) and a faultlab-dma."""
    p = PLATFORMS["x86_64"]
    (iommu,) = [d for d in p.devices if d.startswith("intel-iommu")]
    for k, v in props.items():
        iommu += f",{k.replace('_', '-')}={v}"
    return [
        "-machine",
        p.machine,
        "-m",
        "512",
        "-device",
        iommu,
        "-device",
        "faultlab-dma",
    ]


class Vtd:
    """The driver side: tables, invalidation queue, page request queue."""

    def __init__(self, qt: QTest, dma: FaultlabDma) -> None:
        self.qt = qt
        self.dma = dma
        assert dma.fn is not None
        self.fn = dma.fn
        self.sid = dma.fn.devfn  # bus 0
        self.iq_tail = 0
        self.pt_next = PT_POOL
        self.pml4 = self.alloc()
        self.status_seq = 0

    def r32(self, off: int) -> int:
        return self.qt.readl(VTD + off)

    def r64(self, off: int) -> int:
        return self.qt.readq(VTD + off)

    def w32(self, off: int, val: int) -> None:
        self.qt.writel(VTD + off, val)

    def w64(self, off: int, val: int) -> None:
        self.qt.writeq(VTD + off, val)

    def gcmd(self, bit: int, status: int) -> None:
        # GCMD takes the persistent enables every time (as Linux writes iommu->gcmd)
        persistent = self.r32(GSTS) & (GSTS_TES | GSTS_QIES)
        self.w32(GCMD, persistent | bit)
        assert self.r32(GSTS) & status, f"GSTS {self.r32(GSTS):#x} lacks {status:#x}"

    def alloc(self) -> int:
        page = self.pt_next
        self.pt_next += PAGE
        self.qt.memwrite(page, bytes(PAGE))
        return page

    # -- tables ------------------------------------------------------------

    def setup_tables(self, pasid: int = PASID) -> None:
        for base in (ROOT, CTX, PASID_DIR, PASID_TBL, PASID_TBL2):
            self.qt.memwrite(base, bytes(PAGE))
        # Scalable-mode root entry: lower context table (devfn 0..127), present
        self.qt.memwrite(ROOT, q64(CTX | 1) + q64(0))
        # Scalable-mode context entry (256-bit): PASID directory, PDTS 0 (128 dir
        # entries), PRE (bit 4), DTE (bit 2), present; RID2PASID = 0
        assert self.sid < 128
        self.set_context(pre=True)
        # PASID directory entries for PASIDs 0..63 and 64..127
        self.qt.memwrite(PASID_DIR, q64(PASID_TBL | 1) + q64(PASID_TBL2 | 1))
        # PASID 0 (RID2PASID): pass-through, as an identity default domain
        self.set_pasid_entry(0, q64(1 | 4 << 6 | 2 << 2) + q64(DID) + bytes(48))
        # The SVA PASID: first-stage, 4-level (FLPM 0), FSPTPTR = PML4, page snoop
        self.set_pasid_entry(
            pasid,
            q64(1 | 1 << 6 | 2 << 2) + q64(DID | 1 << 23) + q64(self.pml4) + bytes(40),
        )

    def set_context(self, pre: bool) -> None:
        lo = PASID_DIR | (1 << 4 if pre else 0) | 1 << 2 | 1
        self.qt.memwrite(CTX + 32 * self.sid, q64(lo) + q64(0) + bytes(16))

    def set_pasid_entry(self, pasid: int, entry: bytes) -> None:
        table = PASID_TBL if pasid < 64 else PASID_TBL2
        assert pasid < 128
        self.qt.memwrite(table + 64 * (pasid & 63), entry)

    def map(self, va: int, pa: int, writable: bool = True) -> None:
        """A 4 KiB user page in the first-stage tables (P, R/W, U/S)."""
        table = self.pml4
        for shift in (39, 30, 21):
            slot = table + 8 * ((va >> shift) & 0x1FF)
            entry = int.from_bytes(self.qt.memread(slot, 8), "little")
            if not entry & 1:
                entry = self.alloc() | 0x7
                self.qt.memwrite(slot, q64(entry))
            table = entry & 0x000F_FFFF_FFFF_F000
        leaf = pa | 0x5 | (0x2 if writable else 0)
        self.qt.memwrite(table + 8 * ((va >> 12) & 0x1FF), q64(leaf))

    def leaf(self, va: int) -> int:
        """The first-stage leaf entry of ``va`` (0 when a level is missing)."""
        table = self.pml4
        for shift in (39, 30, 21):
            entry = int.from_bytes(
                self.qt.memread(table + 8 * ((va >> shift) & 0x1FF), 8), "little"
            )
            if not entry & 1:
                return 0
            table = entry & 0x000F_FFFF_FFFF_F000
        return int.from_bytes(
            self.qt.memread(table + 8 * ((va >> 12) & 0x1FF), 8), "little"
        )

    # -- enable ----------------------------------------------------------------

    def enable(self, prq_qs: int = 0) -> None:
        self.w64(RTADDR, ROOT | RTADDR_SMT)
        self.gcmd(GCMD_SRTP, GSTS_RTPS)
        self.qt.memwrite(IQ, bytes(PAGE))
        self.w64(IQT, 0)
        self.w64(IQA, IQ | IQA_DW)  # QS 0: 4 KiB, 128 256-bit descriptors
        self.gcmd(GCMD_QIE, GSTS_QIES)
        self.qt.memwrite(PRQ, bytes(PAGE << prq_qs))
        self.w64(PQH, 0)
        self.w64(PQT, 0)
        self.w64(PQA, PRQ | prq_qs)
        self.w32(PEDATA, 0x40)
        self.w32(PEADDR, 0xFEE0_0000)
        self.w32(PECTL, 0)
        self.gcmd(GCMD_TE, GSTS_TES)

    def enable_device(self, pri: bool = True) -> None:
        """What intel_iommu_enable_iopf + pci_enable_pri + pci_enable_pasid do."""
        assert self.fn.enable_pasid() == 16
        ats = self.fn.find_ext_cap(PCI_EXT_CAP_ID_ATS)
        pri_cap = self.fn.find_ext_cap(PCI_EXT_CAP_ID_PRI)
        assert ats and pri_cap
        self.fn.writew(ats + ATS_CTRL, ATS_ENABLE)  # STU 0
        self.fn.writew(pri_cap + PRI_CTRL, PRI_RESET)
        if pri:
            assert self.fn.readw(pri_cap + PRI_STATUS) & PRI_STOPPED
            self.fn.writel(pri_cap + PRI_ALLOC_REQ, 256)
            self.fn.writew(pri_cap + PRI_CTRL, PRI_ENABLE)

    # -- queues ----------------------------------------------------------------

    def submit(self, *descs: tuple[int, int]) -> None:
        """Queue 256-bit descriptors plus a status-writing wait; check they all ran."""
        self.status_seq += 1
        wait = QI_WAIT | QI_IWD_STATUS_WRITE | QI_IWD_PRQ_DRAIN | self.status_seq << 32
        for qw0, qw1 in (*descs, (wait, STATUS)):
            self.qt.memwrite(IQ + self.iq_tail, q64(qw0) + q64(qw1) + bytes(16))
            self.iq_tail = (self.iq_tail + 32) % PAGE
        self.w64(IQT, self.iq_tail)
        assert self.r32(FSTS) & FSTS_IQE == 0, f"IQE: FSTS {self.r32(FSTS):#x}"
        assert self.r64(IQH) == self.iq_tail
        assert int.from_bytes(self.qt.memread(STATUS, 4), "little") == self.status_seq

    def respond(self, pr: PageRequest, code: int, prgi: int | None = None) -> None:
        qw0 = QI_PGRP_RESP | 1 << 4 | code << 12 | pr.rid << 16 | pr.pasid << 32
        qw1 = 1 << 2 | (pr.prgi if prgi is None else prgi) << 3
        self.submit((qw0, qw1))

    def requests(self) -> list[PageRequest]:
        """The descriptors between PQH and PQT; consumes them (PQH = PQT) as Linux does."""
        self.w32(PRS, PRS_PPR)
        head, tail = self.r64(PQH), self.r64(PQT)
        out = []
        while head != tail:
            raw = self.qt.memread(PRQ + head, 32)
            out.append(
                PageRequest(
                    int.from_bytes(raw[:8], "little"),
                    int.from_bytes(raw[8:16], "little"),
                )
            )
            head = (head + 32) % PAGE
        self.w64(PQH, tail)
        return out


@contextmanager
def session(**props: str) -> Iterator[Vtd]:
    need_qemu("qemu-system-x86_64")
    with QTest("qemu-system-x86_64", vtd_args(**props)) as qt:
        dma = attach(qt, "q35")
        vtd = Vtd(qt, dma)
        vtd.setup_tables()
        vtd.enable()
        yield vtd


def fill_src(vtd: Vtd, va: int, pa: int) -> bytes:
    data = bytes((i * 7 + 3) & 0xFF for i in range(PAGE))
    vtd.qt.memwrite(pa, data)
    vtd.map(va, pa, writable=False)
    return data


def test_capabilities_and_prq_registers() -> None:
    with session() as vtd:
        ecap = vtd.r64(ECAP)
        assert (ecap >> 35) & 0x1F == 19 and ecap >> 29 & 1 and ecap >> 42 & 1
        assert ecap >> 48 & 1 and ecap >> 2 & 1 and ecap >> 40 & 1
        assert vtd.r64(PQA) == PRQ
        vtd.w64(PQH, 0xFFFF_FFFF_FFFF_FFFF)
        assert vtd.r64(PQH) == 0x7FFE0  # bits 18:5
        vtd.w64(PQH, 0)
        vtd.w32(PRS, 0xFFFF_FFFF)
        assert vtd.r32(PRS) == 0
        fn = vtd.fn
        ats = fn.find_ext_cap(PCI_EXT_CAP_ID_ATS)
        pri = fn.find_ext_cap(PCI_EXT_CAP_ID_PRI)
        assert (ats, pri) == (0x108, 0x110)
        assert fn.readw(ats + ATS_CAP) & ATS_PAGE_ALIGNED
        assert fn.readw(pri + PRI_STATUS) == PRI_STOPPED | PRI_PASID_REQUIRED
        assert fn.readl(pri + PRI_MAX_REQ) == 256
        fn.writew(pri + PRI_CTRL, PRI_ENABLE)
        assert fn.readw(pri + PRI_STATUS) == PRI_PASID_REQUIRED  # running: not stopped
        fn.writew(pri + PRI_CTRL, 0)
        assert fn.readw(pri + PRI_STATUS) & PRI_STOPPED


def test_plain_iommu_properties_keep_upstream_capabilities() -> None:
    need_qemu("qemu-system-x86_64")
    args = [
        "-machine",
        "q35",
        "-device",
        "intel-iommu,x-scalable-mode=on,x-pasid-mode=on",
    ]
    with QTest("qemu-system-x86_64", args) as qt:
        ecap = qt.readq(VTD + ECAP)
        assert (ecap >> 35) & 0x1F == 0 and not ecap >> 29 & 1 and not ecap >> 42 & 1
        assert not ecap >> 48 & 1
        qt.writeq(VTD + PQA, PRQ)
        assert qt.readq(VTD + PQA) == 0, "PQA writable without x-prs"


def test_page_request_then_success_response_completes_the_copy() -> None:
    with session() as vtd:
        vtd.enable_device()
        src = fill_src(vtd, IOVA, DATA)
        dst_va, dst_pa = IOVA + 0x10_0000, DATA + 0x10_0000
        vtd.qt.memwrite(dst_pa, bytes(PAGE))
        vtd.dma.start(0, Op.COPY, src=IOVA, dst=dst_va, length=PAGE, pasid=PASID)
        st = vtd.dma.wait_state(0, State.STALLED)
        assert st.write
        assert vtd.r32(PRS) & PRS_PPR
        assert vtd.r64(PQT) == 32
        (pr,) = vtd.requests()
        assert (pr.type, pr.pasid_present, pr.rid, pr.pasid) == (1, 1, vtd.sid, PASID)
        assert (pr.rd, pr.wr, pr.lpig, pr.exe, pr.pm) == (0, 1, 1, 0, 0)
        assert pr.addr == dst_va
        assert vtd.r32(PRS) == 0
        vtd.map(dst_va, dst_pa)
        vtd.respond(pr, RESP_SUCCESS)
        st = vtd.dma.wait(0)
        assert st.state == State.DONE, st
        assert vtd.dma.chan_read(0, 0x48) == 1  # STALLS
        assert vtd.qt.memread(dst_pa, PAGE) == src
        # The first-stage walk of the retried write set Accessed and Dirty in the leaf
        assert vtd.leaf(dst_va) & 0x60 == 0x60, f"leaf {vtd.leaf(dst_va):#x}"
        assert vtd.r32(FSTS) & FSTS_PPF == 0, "a recoverable fault was recorded"


def test_read_fault_requests_read_and_invalid_response_aborts() -> None:
    with session() as vtd:
        vtd.enable_device()
        dst_pa = DATA + 0x20_0000
        vtd.map(IOVA + PAGE, dst_pa)
        vtd.qt.memwrite(dst_pa, b"\xaa" * PAGE)
        vtd.dma.start(0, Op.COPY, src=IOVA, dst=IOVA + PAGE, length=PAGE, pasid=PASID)
        vtd.dma.wait_state(0, State.STALLED)
        (pr,) = vtd.requests()
        assert (pr.rd, pr.wr, pr.addr) == (1, 0, IOVA)
        vtd.respond(pr, RESP_INVALID)
        st = vtd.dma.wait(0)
        assert (st.state, st.reason) == (State.FAULT, Reason.ABORTED), st
        assert vtd.dma.chan_read(0, 0x40) == IOVA  # FAULT_ADDR
        assert vtd.qt.memread(dst_pa, PAGE) == b"\xaa" * PAGE


def test_group_indexes_are_distinct_and_a_wrong_response_is_dropped() -> None:
    with session() as vtd:
        vtd.enable_device()
        for ch in range(3):
            vtd.dma.start(
                ch, Op.FILL, dst=IOVA + ch * PAGE, length=8, pattern=ch, pasid=PASID
            )
        for ch in range(3):
            vtd.dma.wait_state(ch, State.STALLED)
        prs = vtd.requests()
        assert len(prs) == 3
        assert len({p.prgi for p in prs}) == 3
        assert sorted(p.addr for p in prs) == [IOVA, IOVA + PAGE, IOVA + 2 * PAGE]
        used = {p.prgi for p in prs}
        stray = next(i for i in range(512) if i not in used)
        # Hostile answers: an index nobody waits for, another RID, another PASID
        vtd.respond(prs[0], RESP_SUCCESS, prgi=stray)
        vtd.respond(PageRequest(prs[0].qw0 ^ (1 << 16), prs[0].qw1), RESP_SUCCESS)
        vtd.respond(PageRequest(prs[0].qw0 ^ (1 << 32), prs[0].qw1), RESP_SUCCESS)
        for ch in range(3):
            assert vtd.dma.status(ch).state == State.STALLED
        for ch in range(3):
            vtd.map(IOVA + ch * PAGE, DATA + ch * PAGE)
        for p in prs:
            vtd.respond(p, RESP_SUCCESS)
        for ch in range(3):
            assert vtd.dma.wait(ch).state == State.DONE
            assert vtd.qt.memread(DATA + ch * PAGE, 8) == bytes([ch]) + bytes(7)
        assert vtd.requests() == []


def test_retry_that_faults_again_requests_again() -> None:
    with session() as vtd:
        vtd.enable_device()
        vtd.dma.start(0, Op.FILL, dst=IOVA, length=16, pattern=0x55, pasid=PASID)
        vtd.dma.wait_state(0, State.STALLED)
        (first,) = vtd.requests()
        vtd.respond(first, RESP_SUCCESS)  # page still not mapped
        vtd.dma.wait_for(0, lambda s: vtd.r64(PQT) != vtd.r64(PQH))
        (second,) = vtd.requests()
        assert second.addr == IOVA
        assert second.prgi == (first.prgi + 1) % 512  # the next free index
        vtd.map(IOVA, DATA)
        vtd.respond(second, RESP_SUCCESS)
        assert vtd.dma.wait(0).state == State.DONE
        assert vtd.dma.chan_read(0, 0x48) == 2


def test_without_pri_or_pre_the_access_faults_and_is_recorded() -> None:
    with session() as vtd:
        vtd.enable_device(pri=False)
        vtd.dma.start(0, Op.FILL, dst=IOVA, length=8, pasid=PASID)
        st = vtd.dma.wait(0)
        assert (st.state, st.reason) == (State.FAULT, Reason.XLATE), st
        assert vtd.r64(PQT) == 0
        assert vtd.r32(FSTS) & FSTS_PPF
    with session() as vtd:
        vtd.enable_device()
        vtd.set_context(pre=False)
        vtd.dma.start(0, Op.FILL, dst=IOVA, length=8, pasid=PASID)
        st = vtd.dma.wait(0)
        assert (st.state, st.reason) == (State.FAULT, Reason.XLATE), st
        assert vtd.r64(PQT) == 0


def test_pasid_beyond_the_iommu_pasid_size_is_rejected() -> None:
    with session(x_pasid_bits="6") as vtd:
        assert (vtd.r64(ECAP) >> 35) & 0x1F == 5
        vtd.enable_device()
        vtd.dma.start(0, Op.FILL, dst=IOVA, length=8, pasid=PASID)  # 0x45 >= 64
        st = vtd.dma.wait(0)
        assert (st.state, st.reason) == (State.FAULT, Reason.XLATE), st
        assert vtd.r64(PQT) == 0
        vtd.dma.start(0, Op.FILL, dst=IOVA, length=8, pasid=0xFFFF)
        assert vtd.dma.wait(0).state == State.FAULT


def test_masked_event_is_pending_until_unmasked() -> None:
    with session() as vtd:
        vtd.enable_device()
        vtd.w32(PECTL, PECTL_IM)
        vtd.dma.start(0, Op.FILL, dst=IOVA, length=8, pasid=PASID)
        vtd.dma.wait_state(0, State.STALLED)
        assert vtd.r32(PECTL) == PECTL_IM | PECTL_IP
        vtd.w32(PECTL, 0)  # unmask: the interrupt is sent, IP clears
        assert vtd.r32(PECTL) == 0
        (pr,) = vtd.requests()
        vtd.map(IOVA, DATA)
        vtd.respond(pr, RESP_FAILURE)
        assert vtd.dma.wait(0).reason == Reason.ABORTED


def test_queue_full_sets_pro_and_the_auto_response_retries() -> None:
    with session() as vtd:
        vtd.enable_device()
        vtd.w64(PQH, 32)  # tail 0 + 32 == head: the queue is full
        vtd.dma.start(0, Op.FILL, dst=IOVA, length=8, pattern=0x77, pasid=PASID)
        vtd.dma.wait_state(0, State.STALLED)
        assert vtd.r32(PRS) & PRS_PRO
        assert vtd.r64(PQT) == 0, "a request was written to a full queue"
        # While PRO is set, retries keep overflowing
        vtd.qt.clock_step(1_000_000)
        assert vtd.r64(PQT) == 0
        # Software drains the queue and clears PRO, as prq_event_thread does
        vtd.w64(PQH, 0)
        vtd.w32(PRS, PRS_PRO)
        assert vtd.r32(PRS) == 0
        vtd.qt.clock_step(1_000_000)  # the auto-response's retry
        vtd.dma.wait_for(0, lambda s: vtd.r64(PQT) == 32)
        (pr,) = vtd.requests()
        assert pr.addr == IOVA
        vtd.map(IOVA, DATA)
        vtd.respond(pr, RESP_SUCCESS)
        assert vtd.dma.wait(0).state == State.DONE
        assert vtd.qt.memread(DATA, 8) == b"\x77" + bytes(7)


def test_outstanding_limit_and_cancel_release_the_requests() -> None:
    with session(x_prq_max_held="2") as vtd:
        vtd.enable_device()
        for ch in range(3):
            vtd.dma.start(ch, Op.FILL, dst=IOVA + ch * PAGE, length=8, pasid=PASID)
        vtd.dma.wait_state(0, State.STALLED)
        vtd.dma.wait_state(1, State.STALLED)
        st = vtd.dma.wait(2)
        assert (st.state, st.reason) == (State.FAULT, Reason.XLATE), st
        prs = vtd.requests()
        assert len(prs) == 2
        vtd.dma.abort(0)  # the engine forgets its held access
        assert vtd.dma.wait(0).reason == Reason.CANCELLED
        vtd.respond(prs[0], RESP_SUCCESS)  # answer for a forgotten request: dropped
        vtd.dma.start(2, Op.FILL, dst=IOVA + 2 * PAGE, length=8, pasid=PASID)
        vtd.dma.wait_state(2, State.STALLED)  # room again
        assert len(vtd.requests()) == 1


def test_wait_descriptor_with_only_the_fence_bit_orders_and_is_accepted() -> None:
    """intel_iommu_drain_pasid_prq (Linux 6.12 prq.c) queues a wait descriptor with neither
    Status Write nor Interrupt Flag, only Fence (qw0 0x200000045: status data QI_DONE,
    ignored), then a PASID-based IOTLB invalidation, then qi_submit_sync's own wait with
    Status Write and page-request drain. The VT-d specification's invalidation wait
    descriptor makes IF and SW optional: such a wait only orders; it is no queue error."""
    with session() as vtd:
        vtd.enable_device()
        fence_only = QI_WAIT | QI_IWD_FENCE | 2 << 32
        assert fence_only == 0x2_0000_0045
        piotlb = QI_EIOTLB | QI_GRAN_NONG_PASID << 4 | DID << 16 | PASID << 32
        vtd.submit((fence_only, 0), (piotlb, 0))  # asserts no IQE, IQH at the tail
        assert vtd.r32(FSTS) == 0
        # the queue goes on: a copy through a page request and its response completes
        src = fill_src(vtd, IOVA, DATA)
        dst_va, dst_pa = IOVA + 0x10_0000, DATA + 0x10_0000
        vtd.dma.start(0, Op.COPY, src=IOVA, dst=dst_va, length=PAGE, pasid=PASID)
        vtd.dma.wait_state(0, State.STALLED)
        (pr,) = vtd.requests()
        vtd.map(dst_va, dst_pa)
        vtd.respond(pr, RESP_SUCCESS)
        assert vtd.dma.wait(0).state == State.DONE
        assert vtd.qt.memread(dst_pa, PAGE) == src


def test_hostile_queue_values_do_not_crash() -> None:
    with session() as vtd:
        vtd.enable_device()
        # A page request queue outside RAM, a huge size, a head beyond the size
        vtd.w64(PQA, 0xFFFF_FFFF_F000 | 7)
        vtd.w64(PQH, 0x7FFE0)
        vtd.dma.start(0, Op.FILL, dst=IOVA, length=8, pasid=PASID)
        vtd.dma.wait_state(0, State.STALLED)
        vtd.w64(PQA, PRQ)
        # A page group response with reserved bits set is an invalidation queue error
        vtd.qt.memwrite(
            IQ + vtd.iq_tail, q64(QI_PGRP_RESP | 1 << 8) + q64(1 << 63) + bytes(16)
        )
        vtd.w64(IQT, (vtd.iq_tail + 32) % PAGE)
        assert vtd.r32(FSTS) & FSTS_IQE
        vtd.dma.abort(0)
        assert vtd.dma.wait(0).reason == Reason.CANCELLED
        assert vtd.r64(ECAP) >> 29 & 1  # still alive
