"""The PowerNV VAS/NX front end (hw/faultlab/nx/pnv-vas.c) through xscom and MMIO, no guest.

What skiboot does to the VAS unit (write the WCM, UWCM and RMA BARs and enable them in
MISC_N_CTL) is done here through the chip's xscom MMIO window; then the HV window contexts
are read and written where the BARs put them, with the credit semantics Linux's
vas-window.c relies on (the adders, WIN_STATUS never busy), and hostile accesses (windows
beyond the model, BARs moved or disabled) must leave QEMU running. Pastes need the CPU's
paste instruction, which qtest cannot issue: the scenario nx/selftests covers them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultlab import paths
from faultlab.qmp import QMP, QMPError
from faultlab.qtest import QTest

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
WINDOWS = 1024  # the model's default "windows" property

# HVWC registers
LRX_WCRED, TX_WCRED, WINCTL, WIN_STATUS = 0x0E0, 0x0F0, 0x108, 0x110
LRX_WCRED_ADDER, TX_WCRED_ADDER, PSWID = 0x190, 0x1A0, 0x078


def xscom(pcba: int) -> int:
    return XSCOM_BASE + (pcba << 3)


def hvwc(win: int, reg: int, base: int = HVWC) -> int:
    return base + win * 512 + reg


def machine_args() -> list[str]:
    return [
        "-machine",
        "powernv9",
        "-bios",
        str(paths.firmware("skiboot.lid")),
        "-m",
        "2G",
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
    with tempfile.TemporaryDirectory(prefix="pnv-vas-") as tmp:
        sock = Path(tmp) / "qmp.sock"
        args = [*machine_args(), "-qmp", f"unix:{sock},server=on,wait=off"]
        with QTest("qemu-system-ppc64", args) as q:
            client = QMP("pnv-vas-test")
            client.connect(sock)
            try:
                yield q, client
            finally:
                client.close()


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


def test_hostile_accesses(qt: QTest) -> None:
    enable_vas(qt)
    # windows beyond the model: writes dropped, reads 0
    qt.writeq(hvwc(WINDOWS, WINCTL), ibm_bit(0))
    assert qt.readq(hvwc(WINDOWS, WINCTL)) == 0
    qt.writeq(hvwc(65535, TX_WCRED_ADDER), 0xFFFFFFFFFFFFFFFF)
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
