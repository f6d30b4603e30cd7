"""Start QEMU in its own process group and make sure it is always reaped.

Layers of protection against orphan QEMUs:
  1. `QemuProcess` is a context manager: on exit, exception, KeyboardInterrupt or SIGTERM it
     asks QMP to `quit`, then SIGTERMs, then SIGKILLs the whole process group, and waits.
  2. `install_signal_handlers()` turns SIGTERM/SIGHUP into a `Terminated` exception (after
     sending SIGTERM to every live QEMU group) so the context managers unwind.
  3. An atexit hook SIGKILLs any group still registered.
  4. When started from the main thread and `setpriv` exists, QEMU runs under
     `setpriv --pdeathsig KILL`, so it dies even if faultlab itself is SIGKILLed.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType, TracebackType

from faultlab.errors import HarnessError, PortInUseError, Terminated

_LIVE: dict[int, QemuProcess] = {}
_LIVE_LOCK = threading.Lock()


def pick_free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to port 0 and ask the kernel)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_available(port: int, host: str = "127.0.0.1") -> None:
    """Raise PortInUseError if `port` cannot be bound (same SO_REUSEADDR as QEMU's slirp)."""
    if not 1 <= port <= 65535:
        raise PortInUseError(f"--ssh-port {port} is not a valid TCP port")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"--ssh-port {port} is already in use on {host}; "
                    "choose another port or omit --ssh-port"
                ) from None
            raise PortInUseError(f"--ssh-port {port} cannot be used: {exc.strerror}") from None


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class QemuProcess:
    """One QEMU (or, in tests, any) process in its own session / process group."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        output_path: Path,
        pdeathsig: bool = True,
    ) -> None:
        self.argv = list(argv)
        self.output_path = output_path
        self.pdeathsig = pdeathsig
        self.popen: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self._exit_status: int | None = None
        self._reaped = False
        self.started_at: float | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> QemuProcess:
        if self.popen is not None:
            raise RuntimeError("already started")
        cmd = list(self.argv)
        setpriv = shutil.which("setpriv")
        if self.pdeathsig and setpriv and threading.current_thread() is threading.main_thread():
            cmd = [setpriv, "--pdeathsig", "KILL", "--", *cmd]
        with self.output_path.open("wb") as out:
            try:
                self.popen = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own session => own process group, no tty signals
                    close_fds=True,
                )
            except OSError as exc:
                raise HarnessError(f"cannot start {self.argv[0]}: {exc.strerror}") from None
        self.pid = self.popen.pid
        self.started_at = time.monotonic()
        with _LIVE_LOCK:
            _LIVE[self.pid] = self
        return self

    @property
    def pgid(self) -> int:
        assert self.pid is not None
        return self.pid  # session leader

    def _peek_exit(self) -> int | None:
        """Exit status if the leader has exited, without reaping it (keeps the pgid reserved)."""
        if self._exit_status is not None:
            return self._exit_status
        assert self.popen is not None and self.pid is not None
        if self.popen.returncode is not None:
            self._exit_status = self.popen.returncode
            return self._exit_status
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            self._exit_status = self.popen.wait()
            return self._exit_status
        if info is None:
            return None
        if info.si_code == os.CLD_EXITED:
            self._exit_status = info.si_status
        else:
            self._exit_status = -info.si_status
        return self._exit_status

    def alive(self) -> bool:
        return self.popen is not None and self._peek_exit() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self._peek_exit()

    def wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def output_text(self) -> str:
        try:
            return self.output_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, quit_via_qmp: Callable[[], object] | None = None) -> int | None:
        """QMP quit -> SIGTERM -> SIGKILL the group, then reap. Safe to call twice."""
        if self.popen is None or self._reaped:
            return self.returncode
        try:
            if quit_via_qmp is not None and self.alive():
                with contextlib.suppress(Exception):
                    quit_via_qmp()
                self.wait_exit(3.0)
            if self.alive():
                _kill_group(self.pgid, signal.SIGTERM)
                self.wait_exit(5.0)
            if self.alive():
                _kill_group(self.pgid, signal.SIGKILL)
                self.wait_exit(5.0)
        finally:
            # The leader is exited but unreaped, so the pgid cannot have been reused:
            # sweep anything else left in the group, then reap.
            _kill_group(self.pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=5.0)
                self._reaped = True
            if self._reaped:
                with _LIVE_LOCK:
                    _LIVE.pop(self.pgid, None)
        return self.popen.returncode

    def __enter__(self) -> QemuProcess:
        if self.popen is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- safety nets ------------------------------------------------------------------------------
def live_processes() -> list[QemuProcess]:
    with _LIVE_LOCK:
        return list(_LIVE.values())


def _signal_all(sig: int) -> None:
    for proc in live_processes():
        _kill_group(proc.pgid, sig)


@atexit.register
def _kill_all_at_exit() -> None:
    procs = live_processes()
    for proc in procs:
        _kill_group(proc.pgid, signal.SIGKILL)
    for proc in procs:
        if proc.popen is not None:
            with contextlib.suppress(Exception):
                proc.popen.wait(timeout=2.0)


def _on_terminate(signum: int, frame: FrameType | None) -> None:
    _signal_all(signal.SIGTERM)
    raise Terminated(f"received {signal.Signals(signum).name}")


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP -> Terminated in the main thread (only replaces default handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _on_terminate)
