"""pseries asynchronous page faults (hw/faultlab/apf/spapr-apf.c): H_REG_SNS with hostile
arguments and the QOM host interface, no guest.

qtest runs no vCPU: the faultlab-hcall-tester makes the hcalls on the first vCPU, and no data
access can take an expropriation DSI here (the scenarios pseries/apf-* do that in a real
guest). The codes are the ones docs/spapr-apf.md lists.
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
