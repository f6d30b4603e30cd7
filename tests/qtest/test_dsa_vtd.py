"""faultlab-dsa behind the x86_64 platform's intel-iommu (scalable mode, first stage, x-prs):
page requests for a dedicated WQ with a PASID, through qtest.

The VT-d side is test_vtd_prq.py's (the driver's tables, invalidation queue, page request
queue); the device side is qtest_dsa's (registers, portal tester). Every address a
descriptor holds is an I/O virtual address of the WQ's PASID; a page the first-stage tables
do not map becomes a page request, answered with a page group response. These tests cover
what needs page requests: the batch list read with page requests allowed (the list waits
for the page, whatever WQCFG.bof says) and a DIF operation that blocks on fault and resumes
at the block that faulted.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from faultlab.platforms import PLATFORMS
from faultlab.qmp import QMP
from faultlab.qtest import QTest, QTestError, qtest_with_qmp
from faultlab.qtest_dsa import (
    PORTAL_ACCEPTED,
    CompletionRecord,
    Dsa,
    Flag,
    Opcode,
    Status,
    attach,
    desc,
)
from faultlab.qtest_pci import PciFunction

from .conftest import need_qemu
from .test_dsa import crc16_t10, dif_fields, dif_tuple, portal_tester_error
from .test_vtd_prq import (
    ATS_CTRL,
    ATS_ENABLE,
    DATA,
    FSTS,
    FSTS_IQE,
    IOVA,
    PAGE,
    PASID,
    PCI_EXT_CAP_ID_ATS,
    PCI_EXT_CAP_ID_PRI,
    PQH,
    PQT,
    PRI_ALLOC_REQ,
    PRI_CTRL,
    PRI_ENABLE,
    PRI_RESET,
    PRI_STATUS,
    PRI_STOPPED,
    PT_POOL,
    RESP_INVALID,
    RESP_SUCCESS,
    PageRequest,
    Vtd,
)

pytestmark = pytest.mark.qtest

BINARY = "qemu-system-x86_64"
FLAGS = Flag.CRAV | Flag.RCR


class DsaVtd(Vtd):
    """test_vtd_prq's driver side for the DSA function instead of faultlab-dma."""

    def __init__(self, qt: QTest, fn: PciFunction) -> None:
        self.qt = qt
        self.fn = fn
        self.sid = fn.devfn  # bus 0
        self.iq_tail = 0
        self.pt_next = PT_POOL
        self.pml4 = self.alloc()
        self.status_seq = 0

    def enable_device(self, pri: bool = True) -> None:
        """PASID (20 bits on the DSA), ATS, PRI: what idxd probe + iommu enable_iopf do."""
        assert self.fn.enable_pasid() == 20
        ats = self.fn.find_ext_cap(PCI_EXT_CAP_ID_ATS)
        pri_cap = self.fn.find_ext_cap(PCI_EXT_CAP_ID_PRI)
        assert ats and pri_cap
        self.fn.writew(ats + ATS_CTRL, ATS_ENABLE)
        self.fn.writew(pri_cap + PRI_CTRL, PRI_RESET)
        assert self.fn.readw(pri_cap + PRI_STATUS) & PRI_STOPPED
        self.fn.writel(pri_cap + PRI_ALLOC_REQ, 256)
        self.fn.writew(pri_cap + PRI_CTRL, PRI_ENABLE)

    def wait_request(self, timeout: float = 10.0) -> PageRequest:
        """The one page request the device issued (polls PQT)."""
        deadline = time.monotonic() + timeout
        while self.r64(PQT) == self.r64(PQH):
            if time.monotonic() > deadline:
                raise QTestError("no page request")
        (pr,) = self.requests()
        return pr

    def iova(self, off: int) -> int:
        """IOVA + off, mapped (writable) to DATA + off."""
        va = IOVA + off
        self.map(va & ~(PAGE - 1), (DATA + off) & ~(PAGE - 1))
        return va

    def write(self, va: int, data: bytes) -> None:
        self.qt.memwrite(DATA + (va - IOVA), data)

    def read(self, va: int, n: int) -> bytes:
        return self.qt.memread(DATA + (va - IOVA), n)

    def cr(self, va: int, timeout: float = 10.0) -> CompletionRecord:
        deadline = time.monotonic() + timeout
        while not (raw := self.read(va, 32))[0]:
            if time.monotonic() > deadline:
                raise QTestError(f"no completion record at {va:#x}")
        return CompletionRecord(raw)


@contextmanager
def session(bof: bool) -> Iterator[tuple[DsaVtd, Dsa, QMP]]:
    """q35 + the platform's intel-iommu + faultlab-dsa; dedicated WQ 0 with PASID, PRS on."""
    need_qemu(BINARY)
    if portal_tester_error():
        pytest.fail(
            f"QEMU cannot create faultlab-portal-tester: {portal_tester_error()}"
        )
    p = PLATFORMS["x86_64"]
    (iommu,) = [d for d in p.devices if d.startswith("intel-iommu")]
    args = ["-machine", p.machine, "-m", "512", "-device", iommu]
    args += [
        "-device",
        "faultlab-dsa,id=dsa0",
        "-device",
        "faultlab-portal-tester,id=pt",
    ]
    with qtest_with_qmp(BINARY, args, "faultlab-dsa-vtd-test") as (qt, qmp):
        dsa = attach(qt)
        vtd = DsaVtd(qt, dsa.fn)
        vtd.setup_tables()
        vtd.enable()
        vtd.enable_device()
        dsa.config_wq(0, pasid=PASID, bof=bof)
        assert dsa.command(0x1) == 0  # ENABLE_DEVICE
        assert dsa.command(0x6, 0) == 0  # ENABLE_WQ 0
        yield vtd, dsa, qmp
        assert vtd.r32(FSTS) & FSTS_IQE == 0


@pytest.mark.parametrize("response", [RESP_SUCCESS, RESP_INVALID])
def test_batch_list_page_request_waits_whatever_bof_says(response: int) -> None:
    """WQCFG.bof 0, page requests allowed: the list page that is not present is requested;
    the members before it have run; a success response lets the batch go on from that
    member, an invalid response completes it 0x06 with descs_completed = the member's index."""
    with session(bof=False) as (vtd, dsa, qmp):
        crs = vtd.iova(0)
        lst = IOVA + 2 * PAGE - 128  # members 0, 1 mapped; 2, 3 on the next page
        vtd.map(lst & ~(PAGE - 1), DATA + PAGE)
        members = [desc(Opcode.NOOP, FLAGS, crs + 32 * i) for i in range(4)]
        vtd.write(lst, b"".join(members[:2]))
        vtd.qt.memwrite(DATA + 2 * PAGE, b"".join(members[2:]))  # not mapped yet
        bcr = crs + 0x100
        assert (
            dsa.submit(qmp, 0, desc(Opcode.BATCH, FLAGS, bcr, lst, 0, 4))
            == PORTAL_ACCEPTED
        )
        pr = vtd.wait_request()
        assert (pr.pasid, pr.rd, pr.wr, pr.addr) == (PASID, 1, 0, IOVA + 2 * PAGE)
        assert [vtd.read(crs + 32 * i, 1)[0] for i in range(3)] == [1, 1, 0]
        if response == RESP_SUCCESS:
            vtd.map(IOVA + 2 * PAGE, DATA + 2 * PAGE)
        vtd.respond(pr, response)
        rec = vtd.cr(bcr)
        if response == RESP_SUCCESS:
            assert (rec.status, rec.bytes_completed) == (Status.SUCCESS, 4)
            assert [vtd.read(crs + 32 * i, 1)[0] for i in range(4)] == [1, 1, 1, 1]
        else:
            assert (rec.status, rec.bytes_completed, rec.fault_addr) == (
                Status.BATCH_PAGE_FAULT,
                2,
                IOVA + 2 * PAGE,
            )
            assert vtd.read(crs + 64, 1) == b"\0"


def test_dif_insert_blocks_on_fault_and_resumes_at_the_block() -> None:
    """DIF Insert with BOF on a WQ with block on fault: the destination's second page is not
    present; the page request is answered; the descriptor resumes at the block that faulted
    and completes with every tuple right."""
    with session(bof=True) as (vtd, dsa, qmp):
        src, dst, cr = vtd.iova(0x3000), IOVA + 0x8000, vtd.iova(0x6000)
        data = bytes((i * 13 + 7) & 0xFF for i in range(8 * 512))
        vtd.write(src, data)
        vtd.map(dst, DATA + 0x8000)  # the first destination page only
        fields = dif_fields(dst=(0x100, 0, 0xBEEF))
        d = desc(
            Opcode.DIF_INS,
            FLAGS | Flag.BOF,
            cr,
            src,
            dst,
            len(data),
            op_specific=fields,
        )
        assert dsa.submit(qmp, 0, d) == PORTAL_ACCEPTED
        pr = vtd.wait_request()
        assert (pr.wr, pr.addr) == (1, dst + PAGE)
        vtd.map(dst + PAGE, DATA + 0x9000)
        vtd.respond(pr, RESP_SUCCESS)
        rec = vtd.cr(cr)
        assert (rec.status, rec.bytes_completed) == (Status.SUCCESS, 0)
        assert rec.dif_tags(24) == (0x108, 0, 0xBEEF)
        out = vtd.read(dst, 8 * 520)
        for i in range(8):
            block = data[512 * i : 512 * (i + 1)]
            assert out[520 * i : 520 * (i + 1)] == block + dif_tuple(
                block, 0xBEEF, 0x100 + i
            )
        assert struct.unpack(">H", out[512:514])[0] == crc16_t10(data[:512])
