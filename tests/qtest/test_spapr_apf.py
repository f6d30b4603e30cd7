"""pseries asynchronous page faults (hw/faultlab/apf/spapr-apf.c): H_REG_SNS with hostile
arguments and the QOM host interface, no guest.

qtest runs no vCPU: the faultlab-hcall-tester makes the hcalls on the first vCPU, and no data
access can take an expropriation DSI here (the scenarios pseries/apf-* do that in a real
guest); the device's test-only `x-data-access` brings an access to the expropriation check, so
the SNS overflow path (real and `x-inject-sns-full`) is checked byte by byte. The codes are
the ones docs/spapr-apf.md lists.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from faultlab.qmp import QMPError
from faultlab.qtest_spapr import Hcalls, pseries

from .conftest import need_qemu

pytestmark = pytest.mark.qtest

H_SUCCESS, H_BUSY, H_FUNCTION, H_PARAMETER, H_P2 = 0, 1, -2, -4, -55
H_REG_SNS = 0x2F8
APF = "/machine/peripheral/apf0"
APF_IRQ = 0x1070  # SPAPR_XIRQ_BASE + 0x70
SNS = 0x200000  # guest RAM for the SNS
RAM = 1 << 30


@pytest.fixture
def hc() -> Iterator[Hcalls]:
    need_qemu("qemu-system-ppc64")
    with pseries("spapr-apf,id=apf0") as calls:
        yield calls


def get(hc: Hcalls, prop: str) -> object:
    return hc.qmp.command("qom-get", path=APF, property=prop)


def put(hc: Hcalls, prop: str, value: object) -> None:
    hc.qmp.command("qom-set", path=APF, property=prop, value=value)


def test_without_the_device_h_reg_sns_is_unknown() -> None:
    need_qemu("qemu-system-ppc64")
    with pseries() as calls:
        assert calls(H_REG_SNS, SNS, 4096)[0] == H_FUNCTION


@pytest.mark.parametrize(
    ("what", "addr", "length", "expected"),
    [
        ("address not 4K aligned", SNS + 8, 4096, H_PARAMETER),
        ("address 2K aligned", SNS + 2048, 256, H_PARAMETER),
        ("address beyond RAM", RAM, 4096, H_PARAMETER),
        ("address at the top of the address space", -4096, 4096, H_PARAMETER),
        ("length 0", SNS, 0, H_P2),
        ("length 255", SNS, 255, H_P2),
        ("length crosses the page", SNS, 4097, H_P2),
        ("length huge", SNS, -2, H_P2),
    ],
)
def test_hostile_registration(
    hc: Hcalls, what: str, addr: int, length: int, expected: int
) -> None:
    assert hc(H_REG_SNS, addr, length)[0] == expected, what
    assert get(hc, "sns-registered") is False
    assert get(hc, "hcall-errors") == 1
    # still answering, and a good registration still works
    assert hc(H_REG_SNS, SNS, 4096)[0] == H_SUCCESS


def test_register_twice_deregister_twice(hc: Hcalls) -> None:
    hc.qt.memwrite(
        SNS, b"\x01\xff\x00\x00"
    )  # control set by the guest, stale state byte
    ret, regs = hc(H_REG_SNS, SNS, 256)
    assert ret == H_SUCCESS
    assert regs[1] == APF_IRQ  # R5: the subvention interrupt source
    assert get(hc, "sns-registered") is True and get(hc, "sns-addr") == SNS
    assert (
        hc.qt.memread(SNS, 4) == b"\x01\x00\x00\x00"
    )  # state operational, queue empty
    assert hc(H_REG_SNS, SNS + 4096, 4096)[0] == H_BUSY
    assert get(hc, "sns-addr") == SNS
    assert hc(H_REG_SNS, -1, 0)[0] == H_SUCCESS
    assert get(hc, "sns-registered") is False
    assert hc(H_REG_SNS, -1, 0)[0] == H_SUCCESS
    assert hc(H_REG_SNS, SNS + 4096, 4096)[0] == H_SUCCESS
    assert get(hc, "sns-addr") == SNS + 4096
    assert get(hc, "hcall-errors") == 1


def test_expropriate_and_subvene_without_access(hc: Hcalls) -> None:
    assert hc(H_REG_SNS, SNS, 4096)[0] == H_SUCCESS
    put(hc, "expropriate", 0x1234567)
    corr = get(hc, "last-correlation")
    assert isinstance(corr, int) and 0 < corr < 1 << 16
    assert get(hc, "pending") == 1 and get(hc, "expropriations") == 1
    with pytest.raises(QMPError, match="already expropriated"):
        put(hc, "expropriate", 0x1234000)  # same 4 KiB page
    # no vCPU touched it: giving it back queues nothing
    put(hc, "subvene", corr)
    assert get(hc, "pending") == 0 and get(hc, "subventions") == 1
    assert get(hc, "notifications") == 0 and get(hc, "apf-faults-delivered") == 0
    assert hc.qt.memread(SNS + 2, 8) == bytes(8)
    with pytest.raises(QMPError, match="no expropriated page"):
        put(hc, "subvene", corr)


@pytest.mark.parametrize("corr", [0, 7, 1 << 16, (1 << 64) - 1])
def test_subvene_unknown(hc: Hcalls, corr: int) -> None:
    with pytest.raises(QMPError, match="no expropriated page"):
        put(hc, "subvene", corr)
    assert get(hc, "subventions") == 0


@pytest.mark.parametrize("gpa", [RAM, 1 << 50, (1 << 64) - 1])
def test_expropriate_outside_ram(hc: Hcalls, gpa: int) -> None:
    with pytest.raises(QMPError, match="not guest RAM"):
        put(hc, "expropriate", gpa)
    assert get(hc, "pending") == 0


def test_table_full_and_unique_numbers(hc: Hcalls) -> None:
    numbers = set()
    for i in range(64):
        put(hc, "expropriate", 0x1000000 + i * 4096)
        numbers.add(get(hc, "last-correlation"))
    assert len(numbers) == 64 and 0 not in numbers
    with pytest.raises(QMPError, match="64 pages"):
        put(hc, "expropriate", 0x2000000)
    assert get(hc, "pending") == 64


def test_deregister_while_pending_then_reset(hc: Hcalls) -> None:
    assert hc(H_REG_SNS, SNS, 4096)[0] == H_SUCCESS
    put(hc, "expropriate", 0x3000000)
    assert hc(H_REG_SNS, -1, 0)[0] == H_SUCCESS  # logged as a guest error, accepted
    assert get(hc, "pending") == 1
    put(hc, "subvene", get(hc, "last-correlation"))
    assert get(hc, "pending") == 0
    assert hc(H_REG_SNS, SNS, 4096)[0] == H_SUCCESS
    put(hc, "expropriate", 0x3000000)
    hc.qmp.command("system_reset")
    assert get(hc, "sns-registered") is False and get(hc, "pending") == 0


# The SNS overflow path. qtest runs no vCPU, so `x-data-access` stands in for the first vCPU's
# data access reaching the expropriation check (its VPA registered with H_REGISTER_VPA through
# the hcall tester and byte 0xB9 bit 0x02 set, as the apf kernel does): the page is marked as
# delivered and its subvention notifies, as in a guest. Whether the interrupt fires is shown by
# the scenario pseries/apf-overflow (the sleeping task is woken only by it).
H_REGISTER_VPA, FLAGS_REGISTER_VPA = 0xDC, 1 << 45
VPA = 0x300000
PAGES = 0x1000000  # guest pages to expropriate, 4 KiB apart


@pytest.fixture
def apf(hc: Hcalls) -> Hcalls:
    """The first vCPU has a VPA with expropriation notifications enabled."""
    vpa = bytearray(1024)
    vpa[4:6] = (1024).to_bytes(2, "big")  # size, at least 640
    hc.qt.memwrite(VPA, bytes(vpa))
    assert hc(H_REGISTER_VPA, FLAGS_REGISTER_VPA, 0, VPA)[0] == H_SUCCESS
    hc.qt.memwrite(VPA + 0xB9, b"\x02")
    return hc


def sns_register(hc: Hcalls, length: int) -> None:
    hc.qt.memwrite(SNS, bytes(length))
    hc.qt.memwrite(SNS, b"\x01")  # control: the interrupt wanted
    assert hc(H_REG_SNS, SNS, length)[0] == H_SUCCESS


def fault_and_subvene(hc: Hcalls, page: int) -> int:
    """Expropriate guest page `page`, let the vCPU touch it (DSI delivered), subvene it;
    returns its correlation number."""
    gpa = PAGES + page * 4096
    put(hc, "expropriate", gpa)
    corr = get(hc, "last-correlation")
    assert isinstance(corr, int)
    put(hc, "x-data-access", gpa + 0x123)
    # what the DSI leaves in the VPA: flags 0x01 (data restored), the number
    assert hc.qt.memread(VPA + 0x17D, 3) == b"\x01" + corr.to_bytes(2, "big")
    assert get(hc, "pending") == 1  # the page stays away until subvened
    put(hc, "subvene", corr)
    assert get(hc, "pending") == 0
    return corr


def entries(hc: Hcalls, n: int) -> list[int]:
    raw = hc.qt.memread(SNS + 2, 2 * n)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, 2 * n, 2)]


def test_inject_sns_full_knob(hc: Hcalls) -> None:
    assert get(hc, "x-inject-sns-full") == 0
    put(hc, "x-inject-sns-full", 3)
    assert get(hc, "x-inject-sns-full") == 3
    with pytest.raises(QMPError):
        put(hc, "x-inject-sns-full", 1 << 32)
    assert get(hc, "x-inject-sns-full") == 3
    # a subvention that notifies nothing (no DSI delivered) does not consume it
    assert hc(H_REG_SNS, SNS, 4096)[0] == H_SUCCESS
    put(hc, "expropriate", PAGES)
    put(hc, "subvene", get(hc, "last-correlation"))
    assert get(hc, "x-inject-sns-full") == 3 and get(hc, "sns-overflows") == 0


def test_injected_overflow_drops_the_number(apf: Hcalls) -> None:
    sns_register(apf, 4096)
    put(apf, "x-inject-sns-full", 2)
    fault_and_subvene(apf, 0)
    # the number is dropped, the overflow bit set, the queue untouched
    assert apf.qt.memread(SNS, 6) == b"\x01\x01" + bytes(4)
    assert get(apf, "sns-overflows") == 1 and get(apf, "notifications") == 0
    assert get(apf, "x-inject-sns-full") == 1
    fault_and_subvene(apf, 1)
    assert apf.qt.memread(SNS, 6) == b"\x01\x01" + bytes(4)
    assert get(apf, "sns-overflows") == 2 and get(apf, "x-inject-sns-full") == 0
    # the injection used up: the next number goes to the first entry, the guest has not
    # cleared the state byte yet so the bit stays
    corr = fault_and_subvene(apf, 2)
    assert apf.qt.memread(SNS, 6) == b"\x01\x01" + corr.to_bytes(2, "big") + bytes(2)
    assert get(apf, "notifications") == 1 and get(apf, "sns-overflows") == 2
    assert get(apf, "apf-faults-delivered") == 3 and get(apf, "subventions") == 3
    # after the guest consumed the entry and cleared the state, the next one is queued next
    apf.qt.memwrite(SNS + 1, b"\x00\x00\x00")
    corr = fault_and_subvene(apf, 3)
    assert apf.qt.memread(SNS, 6) == b"\x01\x00\x00\x00" + corr.to_bytes(2, "big")


def test_real_full_queue_behaves_as_injected(apf: Hcalls) -> None:
    sns_register(apf, 256)  # (256 - 2) / 2 = 127 entries
    queued = [fault_and_subvene(apf, i % 64) for i in range(127)]
    assert entries(apf, 127) == queued and 0 not in queued
    assert apf.qt.memread(SNS, 2) == b"\x01\x00"
    assert get(apf, "notifications") == 127 and get(apf, "sns-overflows") == 0
    # unread, the 128th finds the queue full: the same bytes an injection leaves
    fault_and_subvene(apf, 0)
    assert apf.qt.memread(SNS, 2) == b"\x01\x01"
    assert entries(apf, 127) == queued
    assert get(apf, "notifications") == 127 and get(apf, "sns-overflows") == 1
    # the guest reads the first entry: the ring goes on there
    apf.qt.memwrite(SNS + 1, b"\x00\x00\x00")
    corr = fault_and_subvene(apf, 1)
    assert entries(apf, 2) == [corr, queued[1]]
    assert apf.qt.memread(SNS + 1, 1) == b"\x00"
