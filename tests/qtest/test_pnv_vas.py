"""The PowerNV VAS/NX front end (hw/faultlab/nx/pnv-vas.c) through xscom and MMIO, no guest.

What skiboot does to the VAS unit (write the WCM, UWCM and RMA BARs and enable them in
MISC_N_CTL) is done here through the chip's xscom MMIO window; then the HV window contexts
are read and written where the BARs put them, with the credit semantics Linux's
vas-window.c relies on (the adders, WIN_STATUS never busy), and hostile accesses (windows
beyond the model, BARs moved or disabled) must leave QEMU running. Pastes need the CPU's
paste instruction, which qtest cannot issue: the faultlab-portal-tester device hands CRBs to the
portal path instead (a kernel-style window with real addressing), for the engine and hostile CRBs.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

import pytest
from faultlab import paths
from faultlab.qmp import QMP, QMPError
from faultlab.qtest import QTest, qtest_with_qmp

from .conftest import need_qemu

pytestmark = pytest.mark.qtest

XSCOM_BASE = 0x000603FC00000000  # PNV9_XSCOM_BASE(chip 0)
VAS_PCBA = 0x3011800
NX_PCBA = 0x2010000
VAS_WCM_BAR, VAS_UWCM_BAR, VAS_MISC_N_CTL, VAS_RMA_BAR = 0xA, 0xB, 0xD, 0xE


def ibm_bit(n: int) -> int:
    return 1 << (63 - n)


N_CTL_ENABLE = ibm_bit(0) | ibm_bit(1) | ibm_bit(6) | ibm_bit(7) | ibm_bit(8)
# skiboot's P9 (Nimbus) map for chip 0
HVWC = 0x0006019100000000
UWC = 0x0006019000000000
PASTE = 0x0008000000000000
WINDOWS = (
    65536  # the model's default "windows" property: the kernel's VAS_WINDOWS_PER_CHIP
)

# HVWC registers
LRX_WCRED, TX_WCRED, WINCTL, WIN_STATUS = 0x0E0, 0x0F0, 0x108, 0x110
LRX_WCRED_ADDER, TX_WCRED_ADDER, PSWID = 0x190, 0x1A0, 0x078


def xscom(pcba: int) -> int:
    return XSCOM_BASE + (pcba << 3)


def hvwc(win: int, reg: int, base: int = HVWC) -> int:
    return base + win * 512 + reg


def machine_args(*extra: str) -> list[str]:
    return [
        "-machine",
        "powernv9",
        "-bios",
        str(paths.firmware("skiboot.lid")),
        "-m",
        "2G",
        *extra,
    ]


@pytest.fixture
def qt() -> Iterator[QTest]:
    need_qemu("qemu-system-ppc64")
    with QTest("qemu-system-ppc64", machine_args()) as q:
        yield q


@pytest.fixture
def qtq() -> Iterator[tuple[QTest, QMP]]:
    """qtest plus a QMP connection for the QOM properties."""
    need_qemu("qemu-system-ppc64")
    with qtest_with_qmp("qemu-system-ppc64", machine_args(), "pnv-vas-test") as (
        qt,
        qmp,
    ):
        yield qt, qmp


def enable_vas(qt: QTest) -> None:
    """What skiboot's init_vas_inst writes."""
    qt.writeq(xscom(VAS_PCBA + VAS_WCM_BAR), HVWC)
    qt.writeq(xscom(VAS_PCBA + VAS_UWCM_BAR), UWC)
    qt.writeq(xscom(VAS_PCBA + VAS_MISC_N_CTL), N_CTL_ENABLE)
    qt.writeq(xscom(VAS_PCBA + VAS_RMA_BAR), PASTE)


def test_xscom_units_read_back(qt: QTest) -> None:
    enable_vas(qt)
    assert qt.readq(xscom(VAS_PCBA + VAS_WCM_BAR)) == HVWC
    assert qt.readq(xscom(VAS_PCBA + VAS_MISC_N_CTL)) == N_CTL_ENABLE
    # NX: skiboot reads its FIFO notify-match and engine-enable registers back to modify them
    for off, val in ((0x0C06, 0xFFF0000000000000 | 0x3), (0x1FFF, 0x0123456789ABCDEF)):
        qt.writeq(xscom(NX_PCBA + off), val)
        assert qt.readq(xscom(NX_PCBA + off)) == val


def test_window_context_mapped_only_where_enabled(qt: QTest) -> None:
    qt.writeq(xscom(VAS_PCBA + VAS_WCM_BAR), HVWC)
    qt.writeq(hvwc(5, PSWID), 0x0500000000000000)  # BAR not enabled: nothing there
    qt.writeq(xscom(VAS_PCBA + VAS_MISC_N_CTL), N_CTL_ENABLE)
    assert qt.readq(hvwc(5, PSWID)) == 0
    qt.writeq(hvwc(5, PSWID), 0x0500000000000000)
    assert qt.readq(hvwc(5, PSWID)) == 0x0500000000000000
    # moving the BAR moves the window contexts, their contents intact
    moved = HVWC + 0x04000000
    qt.writeq(xscom(VAS_PCBA + VAS_WCM_BAR), moved)
    assert qt.readq(hvwc(5, PSWID, moved)) == 0x0500000000000000
    assert qt.readq(hvwc(5, PSWID)) == 0
    # disabling WC_MMIO unmaps them
    qt.writeq(xscom(VAS_PCBA + VAS_MISC_N_CTL), N_CTL_ENABLE & ~ibm_bit(6))
    assert qt.readq(hvwc(5, PSWID, moved)) == 0


def test_credit_adders_and_status(qt: QTest) -> None:
    enable_vas(qt)
    win = 7
    qt.writeq(hvwc(win, TX_WCRED), 1024 << 48)
    qt.writeq(hvwc(win, LRX_WCRED), 32768 << 48)
    qt.writeq(hvwc(win, TX_WCRED_ADDER), 1 << 48)
    qt.writeq(hvwc(win, LRX_WCRED_ADDER), 3 << 48)
    assert qt.readq(hvwc(win, TX_WCRED)) == 1025 << 48
    assert qt.readq(hvwc(win, LRX_WCRED)) == 32771 << 48
    # the adders read as 0; WIN_STATUS is never busy and cannot be written
    assert qt.readq(hvwc(win, TX_WCRED_ADDER)) == 0
    qt.writeq(hvwc(win, WIN_STATUS), ibm_bit(1))
    assert qt.readq(hvwc(win, WIN_STATUS)) == 0
    # TX_WCRED is 12 bits (IBM 4:15): bits outside the field are dropped by the adder
    qt.writeq(hvwc(win, TX_WCRED), 4095 << 48)
    qt.writeq(hvwc(win, TX_WCRED_ADDER), 1 << 48)
    assert qt.readq(hvwc(win, TX_WCRED)) == 0
    # opening and closing a window (WINCTL OPEN last, read-modify-write at close)
    qt.writeq(hvwc(win, WINCTL), 0x9E10000000000000)
    assert qt.readq(hvwc(win, WINCTL)) == 0x9E10000000000000
    qt.writeq(hvwc(win, WINCTL), 0x1E10000000000000)
    assert qt.readq(hvwc(win, WINCTL)) == 0x1E10000000000000


def test_fewer_windows_drop_accesses_beyond() -> None:
    """With `windows` lowered, the contexts beyond it are not there: writes are dropped
    and reads give 0 (logged as guest errors), the windows below still work."""
    need_qemu("qemu-system-ppc64")
    with QTest(
        "qemu-system-ppc64", machine_args("-global", "pnv-vas.windows=16")
    ) as qt:
        enable_vas(qt)
        qt.writeq(hvwc(16, WINCTL), ibm_bit(0))
        assert qt.readq(hvwc(16, WINCTL)) == 0
        qt.writeq(hvwc(WINDOWS - 1, PSWID), 0x1234)
        assert qt.readq(hvwc(WINDOWS - 1, PSWID)) == 0
        qt.writeq(hvwc(15, PSWID), 0x1234)
        assert qt.readq(hvwc(15, PSWID)) == 0x1234


def test_hostile_accesses(qt: QTest) -> None:
    enable_vas(qt)
    # every architected window exists: the last one keeps what is written
    qt.writeq(hvwc(WINDOWS - 1, PSWID), 0x1234)
    assert qt.readq(hvwc(WINDOWS - 1, PSWID)) == 0x1234
    qt.writeq(hvwc(WINDOWS - 1, TX_WCRED_ADDER), 0xFFFFFFFFFFFFFFFF)
    # narrow accesses to the window contexts are refused by the region
    qt.writel(hvwc(1, WINCTL), 0xFFFFFFFF)
    assert qt.readq(hvwc(1, WINCTL)) == 0
    # ordinary loads and stores on paste addresses are ignored
    qt.writeq(PASTE + (3 << 16) + 0x400, 0xDEAD)
    assert qt.readq(PASTE + (3 << 16) + 0x400) == 0
    # user window contexts are mapped but hold nothing
    qt.writeq(UWC + (3 << 16), 0xFF)
    assert qt.readq(UWC + (3 << 16)) == 0
    # QEMU is still answering
    assert qt.readq(xscom(VAS_PCBA + VAS_RMA_BAR)) == PASTE


VAS_QOM = "/machine/chip[0]/vas"
WINCTL_OPEN_TX_MODE = ibm_bit(0) | ibm_bit(3)  # OPEN, TX_WCRED_MODE
WINCTL_OPEN_RX_MODE = ibm_bit(0) | ibm_bit(4)  # OPEN, RX_WCRED_MODE


def test_injection_knobs_and_credit_counters(qtq: tuple[QTest, QMP]) -> None:
    qt, qmp = qtq

    def get(prop: str) -> object:
        return qmp.command("qom-get", path=VAS_QOM, property=prop)

    def put(prop: str, value: object) -> None:
        qmp.command("qom-set", path=VAS_QOM, property=prop, value=value)

    # the knobs start at 0 and are writable at run time
    for knob in (
        "x-inject-fault-next",
        "x-inject-fault-fifo-full",
        "x-inject-lose-credit",
    ):
        assert get(knob) == 0
        put(knob, 3)
        assert get(knob) == 3
        put(knob, 0)
    for counter in (
        "credits-lost",
        "injected-faults",
        "credits-out",
        "credits-withheld",
    ):
        assert get(counter) == 0
    with pytest.raises(QMPError):
        put("credits-out", 5)  # read-only
    with pytest.raises(QMPError):
        put("x-inject-lose-credit", -1)

    enable_vas(qt)
    # a send window opened with 1024 credits, and a fault window with 32768
    qt.writeq(hvwc(9, TX_WCRED), 1024 << 48)
    qt.writeq(hvwc(9, WINCTL), WINCTL_OPEN_TX_MODE)
    qt.writeq(hvwc(10, LRX_WCRED), 32768 << 48)
    qt.writeq(hvwc(10, WINCTL), WINCTL_OPEN_RX_MODE)
    assert get("open-windows") == 2
    assert get("credits-out") == 0
    # credits taken (as NX would) show as out until the adders return them
    qt.writeq(hvwc(9, TX_WCRED), 1000 << 48)
    qt.writeq(hvwc(10, LRX_WCRED), 32760 << 48)
    assert get("credits-out") == 24 + 8
    qt.writeq(hvwc(9, TX_WCRED_ADDER), 24 << 48)
    qt.writeq(hvwc(10, LRX_WCRED_ADDER), 8 << 48)
    assert get("credits-out") == 0
    # a closed window no longer counts
    qt.writeq(hvwc(9, TX_WCRED), 1 << 48)
    qt.writeq(hvwc(9, WINCTL), 0)
    assert get("credits-out") == 0
    assert get("open-windows") == 1
    # returning withheld credits when none are withheld changes nothing
    put("x-return-withheld-credits", True)
    assert qt.readq(hvwc(9, TX_WCRED)) == 1 << 48
    assert get("credits-withheld") == 0


# --- CRBs pasted through the portal path, without a CPU ---------------------------------
# The faultlab-portal-tester device (hw/faultlab/portal.c) hands a 128-byte block to
# faultlab_portal_store() exactly as the paste instruction's TCG helper does. The send
# window is a kernel-style window (XLATE_MSR with HV and SF, DR clear, as Linux's
# init_xlate_regs() writes for kernel windows): NX then uses real addresses, which qtest
# can lay out without page tables.
HV_XLATE_MSR, HV_FAULT_TX_WIN, HV_LFIFO_BAR, HV_LFIFO_SIZE = 0x020, 0x050, 0x0A0, 0x100
HV_LRFIFO_WIN_PTR, HV_LNOTIFY_PID = 0x128, 0x140
WINCTL_NX_WIN, WINCTL_FAULT_WIN = ibm_bit(11), ibm_bit(10)
XLATE_MSR_KERNEL = ibm_bit(4) | ibm_bit(5)  # HV, SF; DR and PR clear
TX, RX, FAULT_WIN = 3, 2, 1
TX_CREDITS = 16
MEM = 0x10000000  # real memory the CRBs point at (the machine has 2 GiB)
CSB, SRC, TGT, DDL, FIFO = (
    MEM,
    MEM + 0x10000,
    MEM + 0x20000,
    MEM + 0x40000,
    MEM + 0x50000,
)
PT = "/machine/peripheral/pt"  # the faultlab-portal-tester
ZEROS = MEM + 0x60000  # never written
OUT_OF_RAM = 0x7F00000000  # no memory there: an access faults
CC_OK, CC_DATA_LENGTH, CC_SUBFUNCTION, CC_INVALID_DDE, CC_DDE_OVERFLOW = (
    0,
    3,
    17,
    30,
    33,
)
CE_TERMINATION = 0x40


def vas_machine() -> contextlib.AbstractContextManager[tuple[QTest, QMP]]:
    need_qemu("qemu-system-ppc64")
    args = machine_args("-device", "faultlab-portal-tester,id=pt")
    return qtest_with_qmp("qemu-system-ppc64", args, "pnv-vas-paste")


@pytest.fixture
def nx() -> Iterator[tuple[QTest, QMP]]:
    """VAS enabled, an NX gzip receive window, a fault window and a kernel send window."""
    with vas_machine() as (qt, qmp):
        enable_vas(qt)
        qt.writeq(hvwc(RX, LRX_WCRED), 64 << 48)
        qt.writeq(hvwc(RX, HV_LNOTIFY_PID), 2 << 44)  # coprocessor type: gzip
        qt.writeq(hvwc(RX, WINCTL), WINCTL_OPEN_RX_MODE | WINCTL_NX_WIN)
        qt.writeq(hvwc(FAULT_WIN, LRX_WCRED), 64 << 48)
        qt.writeq(hvwc(FAULT_WIN, HV_LFIFO_BAR), FIFO)
        qt.writeq(hvwc(FAULT_WIN, HV_LFIFO_SIZE), 3 << 60)  # 8 KiB: 64 entries
        qt.writeq(hvwc(FAULT_WIN, WINCTL), WINCTL_OPEN_RX_MODE | WINCTL_FAULT_WIN)
        qt.writeq(hvwc(TX, HV_XLATE_MSR), XLATE_MSR_KERNEL)
        qt.writeq(hvwc(TX, HV_LRFIFO_WIN_PTR), RX << 48)
        qt.writeq(hvwc(TX, HV_FAULT_TX_WIN), FAULT_WIN)
        qt.writeq(hvwc(TX, PSWID), 0x00030000 << 32)
        qt.writeq(hvwc(TX, TX_WCRED), TX_CREDITS << 48)
        qt.writeq(hvwc(TX, WINCTL), WINCTL_OPEN_TX_MODE | WINCTL_NX_WIN)
        yield qt, qmp


def crb(fc: int, src: tuple[int, int, int], tgt: tuple[int, int, int]) -> bytes:
    """A CRB: CCW function code, CSB address, source and target DDEs as (count, bytes, ea)."""
    out = bytearray(128)
    out[0:4] = fc.to_bytes(4, "big")
    out[8:16] = CSB.to_bytes(8, "big")
    for off, (count, nbytes, ea) in ((0x10, src), (0x20, tgt)):
        out[off + 2] = count
        out[off + 4 : off + 8] = nbytes.to_bytes(4, "big")
        out[off + 8 : off + 16] = ea.to_bytes(8, "big")
    return bytes(out)


def dde(nbytes: int, ea: int, count: int = 0) -> bytes:
    return (
        bytes(2) + bytes([count, 0]) + nbytes.to_bytes(4, "big") + ea.to_bytes(8, "big")
    )


def paste(qmp: QMP, window: int, block: bytes) -> int:
    """Paste `block` to `window`'s paste address; the answer (1 accepted, 2 refused)."""
    addr = PASTE + (window << 16) + 0x400
    qmp.command(
        "qom-set",
        path=PT,
        property="store",
        value=f"paste {addr:#x} {block.hex()}",
    )
    answer = qmp.command("qom-get", path=PT, property="answer")
    assert isinstance(answer, int)
    return answer


def csb(qt: QTest) -> tuple[int, int, int, int]:
    """(valid flag, cc, ce, count) of the CSB."""
    raw = qt.memread(CSB, 8)
    return raw[0] & 0x80, raw[2], raw[3], int.from_bytes(raw[4:8], "big")


def run_crb(qt: QTest, qmp: QMP, block: bytes) -> tuple[int, int, int, int]:
    qt.memwrite(CSB, bytes(0x800))  # CSB and CPB cleared
    assert paste(qmp, TX, block) == 1
    return csb(qt)


def vas_qom(qmp: QMP, prop: str) -> int:
    value = qmp.command("qom-get", path=VAS_QOM, property=prop)
    assert isinstance(value, int)
    return value


def test_portal_tester_rejects_malformed_requests(nx: tuple[QTest, QMP]) -> None:
    qt, qmp = nx
    for value in (
        "",
        "paste 0x0",
        "store 0x0 00",
        f"paste 0x0 {'00' * 64}",
        "paste x 00",
    ):
        with pytest.raises(QMPError):
            qmp.command("qom-set", path=PT, property="store", value=value)
    # a block to an address no portal owns: nothing happens, answer 0 (no device)
    qmp.command(
        "qom-set",
        path=PT,
        property="store",
        value=f"paste {MEM:#x} {'ab' * 128}",
    )
    assert qmp.command("qom-get", path=PT, property="answer") == 0
    assert qt.readb(MEM) == 0


def test_compress_through_paste(nx: tuple[QTest, QMP]) -> None:
    qt, qmp = nx
    text = b"faultlab qtest paste path, kernel window, real addresses. " * 70
    qt.memwrite(SRC, text)
    valid, cc, _, count = run_crb(
        qt, qmp, crb(0x00, (0, len(text), SRC), (0, 0x10000, TGT))
    )
    assert (valid, cc) == (0x80, CC_OK)
    out = qt.memread(TGT, count)
    assert zlib.decompressobj(-15).decompress(out) == text
    assert vas_qom(qmp, "completed") == 1
    # both credits came back
    assert qt.readq(hvwc(TX, TX_WCRED)) >> 48 == TX_CREDITS
    assert qt.readq(hvwc(RX, LRX_WCRED)) >> 48 == 64


@pytest.mark.parametrize(
    ("name", "fc", "src", "tgt", "ddl", "expect"),
    [
        # undefined function code and WRAP: not run, the CSB says why
        (
            "bad function code",
            0x1C,
            (0, 64, SRC),
            (0, 4096, TGT),
            b"",
            (CC_SUBFUNCTION, CE_TERMINATION),
        ),
        (
            "WRAP function code",
            0x1E,
            (0, 64, SRC),
            (0, 4096, TGT),
            b"",
            (CC_SUBFUNCTION, CE_TERMINATION),
        ),
        # a direct DDE whose range wraps past 2^64
        (
            "source wraps the address space",
            0x00,
            (0, 4096, 2**64 - 16),
            (0, 4096, TGT),
            b"",
            (CC_INVALID_DDE, CE_TERMINATION),
        ),
        # an indirect list entry that is itself indirect (a list pointing at a list)
        (
            "nested indirect DDE",
            0x00,
            (2, 128, DDL),
            (0, 4096, TGT),
            dde(64, SRC) + dde(64, DDL, count=2),
            (CC_INVALID_DDE, CE_TERMINATION),
        ),
        # the byte count promises more than the list holds
        (
            "byte count beyond the list",
            0x00,
            (2, 8192, DDL),
            (0, 4096, TGT),
            dde(64, SRC) + dde(64, SRC + 64),
            (CC_DDE_OVERFLOW, CE_TERMINATION),
        ),
        # the longest list (255 entries), all but the last empty: fine, 64 zero bytes compress
        (
            "255 empty list entries",
            0x00,
            (255, 64, DDL),
            (0, 4096, TGT),
            dde(0, SRC) * 254 + dde(64, ZEROS),
            (CC_OK, None),
        ),
    ],
)
def test_hostile_crbs(
    nx: tuple[QTest, QMP],
    name: str,
    fc: int,
    src: tuple[int, int, int],
    tgt: tuple[int, int, int],
    ddl: bytes,
    expect: tuple[int, int | None],
) -> None:
    qt, qmp = nx
    qt.memwrite(SRC, bytes(range(256)) * 32)
    if ddl:
        qt.memwrite(DDL, ddl)
    valid, cc, ce, _ = run_crb(qt, qmp, crb(fc, src, tgt))
    assert valid == 0x80, name
    assert cc == expect[0], name
    if expect[1] is not None:
        assert ce & CE_TERMINATION, name
    # the send credit came back and QEMU still answers
    assert qt.readq(hvwc(TX, TX_WCRED)) >> 48 == TX_CREDITS
    assert vas_qom(qmp, "faults") == 0


def test_fault_crb_for_memory_nx_cannot_reach(nx: tuple[QTest, QMP]) -> None:
    """A source beyond RAM is a fault NX cannot resolve: the stamped CRB goes to the fault
    window's FIFO with the address, the send credit stays out until the OS returns it."""
    qt, qmp = nx
    qt.memwrite(FIFO, bytes(128))
    block = crb(0x00, (0, 4096, OUT_OF_RAM), (0, 4096, TGT))
    assert run_crb(qt, qmp, block)[0] == 0  # no CSB: the OS writes it
    entry = qt.memread(FIFO, 128)
    assert (
        int.from_bytes(entry[0x40:0x48], "big") == OUT_OF_RAM
    )  # fault address stamped
    assert (
        int.from_bytes(entry[0x4C:0x50], "big") == 0x00030000
    )  # the send window's PSWID
    assert entry[0x10:0x30] == block[0x10:0x30]  # the DDEs as pasted
    assert vas_qom(qmp, "faults") == 1
    assert qt.readq(hvwc(TX, TX_WCRED)) >> 48 == TX_CREDITS - 1
    assert qt.readq(hvwc(FAULT_WIN, LRX_WCRED)) >> 48 == 63


def test_pastes_refused(nx: tuple[QTest, QMP]) -> None:
    qt, qmp = nx
    block = crb(0x00, (0, 64, SRC), (0, 4096, TGT))
    # a window that is not open, and one beyond the architected 65536 (no portal there)
    assert paste(qmp, 40, block) == 2
    qmp.command(
        "qom-set",
        path=PT,
        property="store",
        value=f"paste {PASTE + (WINDOWS << 16):#x} {block.hex()}",
    )
    assert qmp.command("qom-get", path=PT, property="answer") == 0
    # a send window out of credits refuses the paste (WINCTL REJ_NO_CREDIT semantics)
    qt.writeq(hvwc(TX, TX_WCRED), 0)
    assert paste(qmp, TX, block) == 2
    assert vas_qom(qmp, "rejected") == 2
    # wrong size for a paste (a 64-byte x86 store to a paste address): refused
    qmp.command(
        "qom-set",
        path=PT,
        property="store",
        value=f"movdir64b {PASTE + (TX << 16):#x} {'00' * 64}",
    )
    assert qmp.command("qom-get", path=PT, property="answer") == 2
