"""qtest helpers for the pseries machine: hypercalls made through the faultlab-hcall-tester
device (qemu-devices/hw/faultlab/spapr-hcall-tester.c), which calls spapr_hypercall() on the
first vCPU the way a guest's `sc 1` does, since qtest runs no vCPU."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from faultlab import paths
from faultlab.platforms import get_platform
from faultlab.qmp import QMP
from faultlab.qtest import QTest, qtest_with_qmp

HC = "/machine/peripheral/hc"  # the faultlab-hcall-tester


def machine_args(*devices: str) -> list[str]:
    """The ppc64-pseries platform's machine (dedicated processors...), 1 GiB, VOF, the hcall
    tester, and each of `devices` as a -device."""
    pseries = get_platform("ppc64-pseries")
    args = [
        "-machine",
        pseries.machine,
        "-cpu",
        pseries.cpu or "power9",
        "-m",
        "1G",
        "-bios",
        str(paths.firmware("vof.bin")),
        "-device",
        "faultlab-hcall-tester,id=hc",
    ]
    for device in devices:
        args += ["-device", device]
    return args


class Hcalls:
    """`hc(opcode, *args)` makes a hypercall; `hc.qt` and `hc.qmp` reach the machine."""

    def __init__(self, qt: QTest, qmp: QMP) -> None:
        self.qt, self.qmp = qt, qmp

    def __call__(self, opcode: int, *args: int) -> tuple[int, list[int]]:
        """(return code as a signed number, r4..r12 after the call)."""
        words = " ".join(hex(a & (2**64 - 1)) for a in (opcode, *args))
        self.qmp.command("qom-set", path=HC, property="call", value=words)
        result = self.qmp.command("qom-get", path=HC, property="result")
        assert isinstance(result, str)
        values = [int(v, 16) for v in result.split()]
        ret = values[0] - 2**64 if values[0] >= 2**63 else values[0]
        return ret, values[1:]


@contextlib.contextmanager
def pseries(*devices: str) -> Iterator[Hcalls]:
    """A qtest pseries machine with `devices`, QMP connected."""
    with qtest_with_qmp("qemu-system-ppc64", machine_args(*devices), "pseries-qtest") as (qt, qmp):
        yield Hcalls(qt, qmp)
