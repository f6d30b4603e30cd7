"""Serial console capture.

QEMU serves the console on a unix socket (`-chardev socket,...,server=on,wait=on`), so it does
not run the guest until faultlab has connected and nothing is lost. A reader thread drains the
socket continuously (a guest whose console is not drained stalls), appends every byte, raw, to
console.log (flushed as it arrives) and to an in-memory buffer that `expect()` searches.

pexpect is deliberately not the reader: its expect() reads in the caller's thread, and the
console must be drained even while nobody is expecting anything.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from faultlab.errors import HarnessError

READY_LINE = "faultlab-guest: sshd ready"


class ConsoleTimeout(Exception):
    pass


class ConsoleEOF(Exception):
    pass


class Console:
    def __init__(self, log_path: Path, echo: BinaryIO | None = None) -> None:
        self.log_path = log_path
        self.echo = echo
        self._log = log_path.open("ab")
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._chunks: list[str] = []
        self._text_cache = ""
        self._nbytes = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._eof = False
        self._pos = 0  # expect() cursor into text()

    # -- connection ------------------------------------------------------------------------
    def connect(self, path: Path, *, alive: Callable[[], bool], timeout: float = 30.0) -> None:
        """Connect to QEMU's console socket; give up if QEMU dies or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(path))
                break
            except OSError:
                sock.close()
            if not alive():
                raise ConsoleEOF("QEMU exited before its console socket was ready")
            if time.monotonic() >= deadline:
                raise HarnessError(f"QEMU console socket {path} did not appear in {timeout:.0f} s")
            time.sleep(0.05)
        self._sock = sock
        self._thread = threading.Thread(target=self._reader, name="console-reader", daemon=True)
        self._thread.start()

    def _reader(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                with self._cond:
                    tail = self._decoder.decode(b"", final=True)
                    if tail:
                        self._chunks.append(tail)
                    self._eof = True
                    self._cond.notify_all()
                return
            self._log.write(data)
            self._log.flush()
            if self.echo is not None:
                with contextlib.suppress(Exception):
                    self.echo.write(data)
                    self.echo.flush()
            with self._cond:
                self._nbytes += len(data)
                self._chunks.append(self._decoder.decode(data))
                self._cond.notify_all()

    # -- reading -----------------------------------------------------------------------------
    @property
    def eof(self) -> bool:
        return self._eof

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def text(self) -> str:
        """Everything received so far, decoded (invalid UTF-8 replaced)."""
        with self._cond:
            return self._text_locked()

    def _text_locked(self) -> str:
        if self._chunks:
            self._text_cache += "".join(self._chunks)
            self._chunks.clear()
        return self._text_cache

    def expect(
        self, patterns: str | re.Pattern[str] | Sequence[str | re.Pattern[str]], timeout: float
    ) -> tuple[int, re.Match[str]]:
        """Wait until one of `patterns` (regexes) appears after the previous match.

        Returns (index of the pattern, match). Raises ConsoleTimeout or ConsoleEOF.
        """
        if isinstance(patterns, str | re.Pattern):
            patterns = [patterns]
        compiled = [re.compile(p) if isinstance(p, str) else p for p in patterns]
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                text = self._text_locked()
                best: tuple[int, re.Match[str]] | None = None
                for index, regex in enumerate(compiled):
                    match = regex.search(text, self._pos)
                    if match and (best is None or match.start() < best[1].start()):
                        best = (index, match)
                if best is not None:
                    self._pos = best[1].end()
                    return best
                if self._eof:
                    raise ConsoleEOF("console closed before a pattern matched")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ConsoleTimeout(f"no console match within {timeout:.0f} s")
                self._cond.wait(min(remaining, 0.5))

    def wait_eof(self, timeout: float) -> bool:
        if self._thread is None:  # never connected: nothing will arrive
            return True
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._eof:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    # -- writing / teardown ------------------------------------------------------------------------
    def send(self, data: bytes | str) -> None:
        if self._sock is None:
            raise HarnessError("console is not connected")
        self._sock.sendall(data.encode() if isinstance(data, str) else data)

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        if self._thread is not None:
            self._thread.join(5.0)
        with contextlib.suppress(Exception):
            self._log.close()


def stderr_echo() -> BinaryIO:
    return sys.stderr.buffer
