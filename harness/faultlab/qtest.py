"""Drive a QEMU device model through QEMU's qtest protocol, with no guest kernel.

The test listens on a Unix socket, QEMU (started with ``-qtest unix:PATH
-accel qtest``) connects to it, and the test reads and writes guest-physical
memory and MMIO with the text protocol of ``system/qtest.c``: ``readl ADDR`` ->
``OK 0x...``, ``writel ADDR VAL`` -> ``OK``, ``read ADDR LEN`` -> ``OK 0x<hex>``,
``clock_step [NS]``. Asynchronous ``IRQ raise|lower N`` lines (after
``irq_intercept_in``) are collected in :attr:`QTest.irqs`.

QEMU is started and reaped by :class:`faultlab.qemu_process.QemuProcess`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from faultlab import paths
from faultlab.qemu_process import QemuProcess
from faultlab.qmp import QMP


class QTestError(Exception):
    """QEMU refused a qtest command or went away."""


class QTest:
    def __init__(
        self,
        binary: str,
        args: Sequence[str],
        timeout: float = 30.0,
        log_dir: Path | None = None,
    ) -> None:
        self.binary = paths.qemu_binary(binary)
        self.args = list(args)
        self.timeout = timeout
        self.log_dir = log_dir
        self.irqs: list[tuple[str, int]] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="faultlab-qtest-")
        self._sock: socket.socket | None = None
        self._proc: QemuProcess | None = None
        self._buf = b""

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> QTest:
        if not self.binary.exists():
            raise QTestError(f"{self.binary} not found: run `make qemu`")
        path = os.path.join(self._tmp.name, "qtest.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(self.timeout)
        log = Path(self._tmp.name) / "qemu.log"
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = self.log_dir / "qemu.log"
        argv = [
            str(self.binary),
            "-qtest", f"unix:{path}",
            "-accel", "qtest",
            "-display", "none",
            "-nodefaults",
            "-L", str(paths.firmware_dir()),
            "-D", str(log),
            "-d", "guest_errors,unimp",
            *self.args,
        ]  # fmt: skip
        self._proc = QemuProcess(argv, output_path=Path(self._tmp.name) / "stderr").start()
        try:
            self._sock, _ = listener.accept()
        except TimeoutError as exc:
            err = self.stderr()
            self.close()
            raise QTestError(f"QEMU did not connect to qtest: {err}") from exc
        finally:
            listener.close()
        self._sock.settimeout(self.timeout)
        return self

    def stderr(self) -> str:
        f = Path(self._tmp.name) / "stderr"
        return f.read_text(errors="replace").strip() if f.exists() else ""

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            self._proc.stop()
            self._proc = None
        self._tmp.cleanup()

    def __enter__(self) -> QTest:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- protocol ----------------------------------------------------------

    def _line(self) -> str:
        assert self._sock is not None
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buf:
            if time.monotonic() > deadline:
                raise QTestError("timed out waiting for QEMU's qtest answer")
            chunk = self._sock.recv(65536)
            if not chunk:
                raise QTestError(f"QEMU closed the qtest connection: {self.stderr()}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode()

    def command(self, cmd: str) -> str:
        if self._sock is None:
            raise QTestError("qtest session is not started")
        self._sock.sendall(cmd.encode() + b"\n")
        while True:
            line = self._line()
            if line.startswith("IRQ "):
                _, what, num = line.split()
                self.irqs.append((what, int(num)))
                continue
            if not line.startswith("OK"):
                raise QTestError(f"qtest {cmd!r} -> {line!r}")
            return line[2:].strip()

    def _read(self, op: str, addr: int) -> int:
        return int(self.command(f"{op} 0x{addr:x}"), 16)

    def readb(self, addr: int) -> int:
        return self._read("readb", addr)

    def readw(self, addr: int) -> int:
        return self._read("readw", addr)

    def readl(self, addr: int) -> int:
        return self._read("readl", addr)

    def readq(self, addr: int) -> int:
        return self._read("readq", addr)

    def writeb(self, addr: int, val: int) -> None:
        self.command(f"writeb 0x{addr:x} 0x{val:x}")

    def writew(self, addr: int, val: int) -> None:
        self.command(f"writew 0x{addr:x} 0x{val:x}")

    def writel(self, addr: int, val: int) -> None:
        self.command(f"writel 0x{addr:x} 0x{val:x}")

    def writeq(self, addr: int, val: int) -> None:
        self.command(f"writeq 0x{addr:x} 0x{val:x}")

    def memread(self, addr: int, size: int) -> bytes:
        out = self.command(f"read 0x{addr:x} 0x{size:x}")
        return bytes.fromhex(out[2:] if out.startswith("0x") else out)

    def memwrite(self, addr: int, data: bytes) -> None:
        self.command(f"write 0x{addr:x} 0x{len(data):x} 0x{data.hex()}")

    def clock_step(self, ns: int | None = None) -> int:
        out = self.command("clock_step" if ns is None else f"clock_step {ns}")
        return int(out)

    def irq_intercept_in(self, qom_path: str) -> None:
        self.command(f"irq_intercept_in {qom_path}")


@contextlib.contextmanager
def qtest_with_qmp(
    binary: str, args: Sequence[str], name: str = "qtest"
) -> Iterator[tuple[QTest, QMP]]:
    """QEMU under qtest with a QMP socket too (for QOM counters, knobs and the tester
    devices): the QTest and a connected QMP client, both closed on exit."""
    with tempfile.TemporaryDirectory(prefix="faultlab-qtest-qmp-") as tmp:
        sock = Path(tmp) / "qmp.sock"
        with QTest(binary, [*args, "-qmp", f"unix:{sock},server=on,wait=off"]) as qt:
            qmp = QMP(name)
            try:
                qmp.connect(sock)
                yield qt, qmp
            finally:
                qmp.close()
