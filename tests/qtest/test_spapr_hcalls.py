"""pseries VAS/NX hypercalls (hw/faultlab/nx/spapr-vas.c) with hostile arguments, no guest.

qtest runs no vCPU, so the faultlab-hcall-tester device (hw/faultlab/spapr-hcall-tester.c)
makes each call on the first vCPU the way a guest's `sc 1` reaches spapr_hypercall(). The
error codes are the ones docs/spapr-vas.md lists (Linux only tells success, busy and
H_FUNCTION apart, so the specific codes are the bench's choice); every call must leave QEMU
answering. The same cases from a real guest kernel: scenario pseries/hcall-hostile.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from faultlab.qmp import QMPError
from faultlab.qtest_spapr import HC, Hcalls, pseries

from .conftest import need_qemu

pytestmark = pytest.mark.qtest

H_SUCCESS, H_FUNCTION, H_PARAMETER, H_NOT_FOUND, H_RESOURCE, H_P2 = (
    0,
    -2,
    -4,
    -7,
    -16,
    -55,
)
H_ALLOCATE_VAS_WINDOW, H_MODIFY_VAS_WINDOW, H_DEALLOCATE_VAS_WINDOW = (
    0x388,
    0x38C,
    0x390,
)
H_QUERY_VAS_CAPABILITIES, H_QUERY_NX_CAPABILITIES, H_GET_NX_FAULT = 0x398, 0x39C, 0x3A0
QUERY_ALL, QUERY_GZIP_QOS, QUERY_GZIP_DEFAULT = 0, 1, 2
WIN_QOS, WIN_DEFAULT = 0, 1
CREDITS_PER_CORE = 8
BUF = 0x100000  # guest RAM the answers go to
NOT_RAM = 0x7F00000000  # beyond the machine's 1 GiB


VAS = f"spapr-vas,id=vas0,credits-per-core={CREDITS_PER_CORE}"


@pytest.fixture
def hc() -> Iterator[Hcalls]:
    need_qemu("qemu-system-ppc64")
    with pseries(VAS) as calls:
        yield calls


def test_tester_refuses_malformed_calls(hc: Hcalls) -> None:
    for value in ("", "0x388 " + " ".join(["1"] * 10), "notanumber", "0x388 x"):
        with pytest.raises(QMPError):
            hc.qmp.command("qom-set", path=HC, property="call", value=value)


def test_without_the_device_the_hcalls_are_unknown() -> None:
    need_qemu("qemu-system-ppc64")
    with pseries() as calls:
        assert calls(H_QUERY_VAS_CAPABILITIES, QUERY_ALL, BUF)[0] == H_FUNCTION
        assert calls(H_ALLOCATE_VAS_WINDOW, WIN_DEFAULT, 1)[0] == H_FUNCTION


def test_query_capabilities(hc: Hcalls) -> None:
    assert hc(H_QUERY_VAS_CAPABILITIES, QUERY_ALL, BUF)[0] == H_SUCCESS
    assert hc.qt.memread(BUF, 8) == b"VasCaps\0"
    assert hc(H_QUERY_VAS_CAPABILITIES, QUERY_GZIP_DEFAULT, BUF)[0] == H_SUCCESS
    caps = hc.qt.memread(BUF, 18)
    assert caps[:8] == b"VDefGzip"
    assert caps[8] == WIN_DEFAULT and caps[9] == 1  # win_type, user_mode
    assert int.from_bytes(caps[12:14], "big") == 1  # max_win_creds
    assert int.from_bytes(caps[16:18], "big") == CREDITS_PER_CORE  # target: one core
    assert hc(H_QUERY_NX_CAPABILITIES, 0, BUF)[0] == H_SUCCESS
    assert hc.qt.memread(BUF, 6) == b"NXCaps"


@pytest.mark.parametrize(
    ("what", "call", "expected"),
    [
        ("unknown VAS query type", (H_QUERY_VAS_CAPABILITIES, 3, BUF), H_PARAMETER),
        (
            "VAS query type with high bits",
            (H_QUERY_VAS_CAPABILITIES, 1 << 40, BUF),
            H_PARAMETER,
        ),
        ("VAS answer buffer outside RAM", (H_QUERY_VAS_CAPABILITIES, 0, NOT_RAM), H_P2),
        (
            "VAS answer buffer at the top of the address space",
            (H_QUERY_VAS_CAPABILITIES, 0, -8),
            H_P2,
        ),
        ("unknown NX query type", (H_QUERY_NX_CAPABILITIES, 9, BUF), H_PARAMETER),
        ("NX answer buffer outside RAM", (H_QUERY_NX_CAPABILITIES, 1, NOT_RAM), H_P2),
        ("unknown window type", (H_ALLOCATE_VAS_WINDOW, 7, 1), H_PARAMETER),
        ("two credits for one window", (H_ALLOCATE_VAS_WINDOW, WIN_DEFAULT, 2), H_P2),
        ("no credits", (H_ALLOCATE_VAS_WINDOW, WIN_DEFAULT, 0), H_P2),
        (
            "modify a window never allocated",
            (H_MODIFY_VAS_WINDOW, 5, 1, 0, 0),
            H_PARAMETER,
        ),
        (
            "modify a window id out of range",
            (H_MODIFY_VAS_WINDOW, 1 << 32, 1),
            H_PARAMETER,
        ),
        (
            "deallocate a window never allocated",
            (H_DEALLOCATE_VAS_WINDOW, 0),
            H_PARAMETER,
        ),
        ("deallocate window -1", (H_DEALLOCATE_VAS_WINDOW, -1), H_PARAMETER),
        ("fault of a window never allocated", (H_GET_NX_FAULT, 3, BUF), H_PARAMETER),
    ],
)
def test_hostile_arguments(
    hc: Hcalls, what: str, call: tuple[int, ...], expected: int
) -> None:
    assert hc(*call)[0] == expected, what
    # QEMU still answers, and a proper call still works
    assert hc(H_QUERY_VAS_CAPABILITIES, QUERY_ALL, BUF)[0] == H_SUCCESS


def test_window_life_cycle_and_credit_limit(hc: Hcalls) -> None:
    winids = []
    for _ in range(CREDITS_PER_CORE):
        rc, out = hc(H_ALLOCATE_VAS_WINDOW, WIN_DEFAULT, 1)
        assert rc == H_SUCCESS
        winids.append(out[0])
        assert out[1] != 0  # paste address
    assert len(set(winids)) == CREDITS_PER_CORE
    # beyond the partition's default credits: refused
    assert hc(H_ALLOCATE_VAS_WINDOW, WIN_DEFAULT, 1)[0] == H_RESOURCE
    win = winids[0]
    assert hc(H_MODIFY_VAS_WINDOW, win, 1 << 33, 0, 0)[0] == H_P2  # PID beyond 32 bits
    assert hc(H_MODIFY_VAS_WINDOW, win, 1234, 0, 0)[0] == H_SUCCESS
    # nothing faulted yet
    assert hc(H_GET_NX_FAULT, win, BUF)[0] == H_NOT_FOUND
    # double deallocate
    assert hc(H_DEALLOCATE_VAS_WINDOW, win)[0] == H_SUCCESS
    assert hc(H_DEALLOCATE_VAS_WINDOW, win)[0] == H_PARAMETER
    assert hc(H_MODIFY_VAS_WINDOW, win, 1234, 0, 0)[0] == H_PARAMETER
    # the credit came back: one more window fits, then the limit again
    assert hc(H_ALLOCATE_VAS_WINDOW, WIN_DEFAULT, 1)[0] == H_SUCCESS
    assert hc(H_ALLOCATE_VAS_WINDOW, WIN_DEFAULT, 1)[0] == H_RESOURCE
    for w in winids[1:]:
        assert hc(H_DEALLOCATE_VAS_WINDOW, w)[0] == H_SUCCESS
