"""Synchronous wrapper over qemu.qmp's asyncio QMPClient.

The asyncio loop runs in a private daemon thread; every call has a timeout, so a hung or dead
QEMU can never block the harness.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from qemu.qmp import QMPClient

from faultlab.errors import HarnessError

T = TypeVar("T")

# qemu.qmp logs failed connection attempts at ERROR level; our retries expect them.
logging.getLogger("qemu.qmp").addHandler(logging.NullHandler())


class QMPError(HarnessError):
    pass


def _quiet_when_qemu_gone(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """qemu.qmp's reader task ends with EOFError (or a reset) when QEMU dies or is killed;
    its future may then be collected unread and asyncio would print a traceback. QEMU's end
    is reported by the harness itself (verdict, console log), so those are dropped here;
    anything else goes to asyncio's default handler."""
    if isinstance(context.get("exception"), EOFError | ConnectionError):
        return
    loop.default_exception_handler(context)


class QMP:
    def __init__(self, name: str = "faultlab", default_timeout: float = 10.0) -> None:
        self.default_timeout = default_timeout
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet_when_qemu_gone)
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"qmp-{name}", daemon=True
        )
        self._thread.start()
        self._client: QMPClient = self._call(self._make_client(name), 5.0)
        self.connected = False

    @staticmethod
    async def _make_client(name: str) -> QMPClient:
        return QMPClient(name)

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if self._loop.is_closed():
            coro.close()
            raise QMPError("QMP wrapper is closed")
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self._loop)
        try:
            return future.result(timeout + 2.0)
        except (TimeoutError, concurrent.futures.TimeoutError):
            future.cancel()
            raise QMPError(f"QMP did not answer within {timeout:.0f} s") from None

    def connect(
        self,
        path: Path | str,
        timeout: float = 10.0,
        alive: Callable[[], bool] | None = None,
    ) -> None:
        """Connect to QEMU's QMP unix socket, retrying until it appears or `timeout` passes
        (or, if given, `alive()` says QEMU is gone)."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QMPError(f"cannot connect to QMP at {path}: {last}")
            if alive is not None and not alive():
                raise QMPError(f"QEMU exited before QMP at {path} answered")
            try:
                self._call(self._client.connect(str(path)), min(remaining, 5.0))
                self.connected = True
                return
            except Exception as exc:  # ConnectError, OSError, QMPError...
                last = exc
                with contextlib.suppress(Exception):
                    self._call(self._client.disconnect(), 2.0)
                time.sleep(0.1)

    def command(self, name: str, /, **args: object) -> object:
        return self.command_timeout(name, self.default_timeout, **args)

    def command_timeout(self, name: str, timeout: float, /, **args: object) -> object:
        if not self.connected:
            raise QMPError(f"QMP not connected (command {name})")
        try:
            return self._call(self._client.execute(name, args or None), timeout)
        except QMPError:
            raise
        except Exception as exc:
            raise QMPError(f"QMP {name} failed: {exc}") from exc

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self.connected:
            with contextlib.suppress(Exception):
                self._call(self._client.disconnect(), 3.0)
            self.connected = False
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> QMP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
