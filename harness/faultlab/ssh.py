"""SSH to the guest through QEMU's user-mode port forward (paramiko)."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import paramiko

from faultlab.errors import MissingArtifactError

# paramiko's transport thread logs every failed attempt (with a traceback) at ERROR level;
# while waiting for a booting guest those are expected, so keep them off the terminal.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

DEFAULT_USER = "root"
DEFAULT_HOST = "127.0.0.1"


class SshLost(Exception):
    """The SSH connection (or the guest behind it) went away during a command."""


class SshUnavailable(Exception):
    """SSH never came up."""


class CommandTimeout(Exception):
    pass


class Abort(Exception):
    """Raised by a poll callback to stop waiting (e.g. the console shows a panic)."""


@dataclass
class CommandResult:
    command: str
    exit_code: int | None  # None: terminated by a signal / no status
    stdout: bytes
    stderr: bytes
    seconds: float


class _AcceptHostKey(paramiko.MissingHostKeyPolicy):
    """Accept any host key: guests are ephemeral (fresh dropbear keys on every boot) and only
    reachable through a 127.0.0.1 forward of a VM we just started, so there is nothing to pin."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        return None


def load_key(path: Path) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(str(path))
    except FileNotFoundError:
        raise MissingArtifactError(
            f"missing SSH key {path} (build it with `make images`)"
        ) from None
    except (paramiko.SSHException, OSError, ValueError) as exc:
        raise MissingArtifactError(f"cannot load SSH key {path}: {exc}") from None


Poll = Callable[[], None]  # raises Abort (or anything) to stop waiting


class GuestSSH:
    def __init__(
        self, port: int, key: paramiko.PKey, host: str = DEFAULT_HOST, user: str = DEFAULT_USER
    ) -> None:
        self.port = port
        self.key = key
        self.host = host
        self.user = user
        self.client: paramiko.SSHClient | None = None
        self.last_error: str | None = None

    # -- connecting ----------------------------------------------------------------------------
    def try_connect(self, banner_timeout: float = 10.0) -> bool:
        """One attempt. True on success; False (with last_error set) if the guest isn't ready."""
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_AcceptHostKey())
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.user,
                pkey=self.key,
                timeout=5.0,
                banner_timeout=banner_timeout,
                auth_timeout=30.0,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.AuthenticationException as exc:
            client.close()
            self.last_error = f"authentication failed: {exc}"
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            client.close()
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(10)
        self.client = client
        return True

    def wait(
        self,
        deadline: float,
        *,
        poll: Poll,
        ready: Callable[[], bool] = lambda: True,
        interval: float = 3.0,
        auth_retries: int = 3,
    ) -> None:
        """Retry until connected or `deadline` (monotonic). `poll` runs between attempts and
        aborts the wait by raising. An attempt is made at once whenever `ready()` turns true,
        otherwise every `interval` seconds."""
        next_try = time.monotonic() + interval
        auth_failures = 0
        attempted_ready = False
        while True:
            poll()
            now = time.monotonic()
            if now >= deadline:
                raise SshUnavailable(self.last_error or "no answer")
            is_ready = ready()
            if now >= next_try or (is_ready and not attempted_ready):
                attempted_ready = attempted_ready or is_ready
                try:
                    if self.try_connect(banner_timeout=max(1.0, min(10.0, deadline - now))):
                        return
                except paramiko.AuthenticationException:
                    auth_failures += 1
                    if auth_failures >= auth_retries:
                        raise SshUnavailable(f"guest rejects the key ({self.last_error})") from None
                next_try = time.monotonic() + (1.0 if is_ready else interval)
            time.sleep(0.2)

    # -- commands ------------------------------------------------------------------------------
    def _transport(self) -> paramiko.Transport:
        transport = self.client.get_transport() if self.client else None
        if transport is None or not transport.is_active():
            raise SshLost("SSH connection is closed")
        return transport

    def run(
        self,
        command: str,
        timeout: float,
        *,
        on_stdout: Callable[[bytes], None] | None = None,
        on_stderr: Callable[[bytes], None] | None = None,
        poll: Poll | None = None,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run `command` (fed `stdin`, then end-of-file, when given); raise SshLost if the
        connection dies, CommandTimeout on timeout."""
        started = time.monotonic()
        out, err = bytearray(), bytearray()

        def drain(channel: paramiko.Channel) -> None:
            while channel.recv_ready():
                data = channel.recv(65536)
                out.extend(data)
                if on_stdout and data:
                    on_stdout(data)
            while channel.recv_stderr_ready():
                data = channel.recv_stderr(65536)
                err.extend(data)
                if on_stderr and data:
                    on_stderr(data)

        try:
            channel = self._transport().open_session(timeout=15.0)
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin)
                channel.shutdown_write()
            while True:
                if poll is not None:
                    poll()
                select.select([channel], [], [], 0.2)
                drain(channel)
                # True once exit-status arrived, or the channel closed (status then -1).
                if channel.exit_status_ready():
                    drain(channel)
                    break
                if time.monotonic() - started > timeout:
                    channel.close()
                    raise CommandTimeout(f"command did not finish within {timeout:.0f} s")
            status = channel.recv_exit_status()
            if status == -1 and not self._transport_alive():
                raise SshLost("SSH connection dropped during the command")
            channel.close()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise SshLost(f"{type(exc).__name__}: {exc}") from None
        return CommandResult(
            command,
            None if status == -1 else status,
            bytes(out),
            bytes(err),
            time.monotonic() - started,
        )

    def _transport_alive(self) -> bool:
        transport = self.client.get_transport() if self.client else None
        return transport is not None and transport.is_active()

    # -- interactive ---------------------------------------------------------------------------
    def interactive_shell(self) -> int:
        """Shell with a pty; the host terminal is in raw mode until the shell exits."""
        import termios
        import tty

        channel = self._transport().open_session(timeout=15.0)
        stdin_fd = sys.stdin.fileno()
        is_tty = os.isatty(stdin_fd)
        size = os.get_terminal_size(stdin_fd) if is_tty else os.terminal_size((80, 24))
        channel.get_pty(term=os.environ.get("TERM", "vt100"), width=size.columns, height=size.lines)
        channel.invoke_shell()

        def resize(signum: int, frame: FrameType | None) -> None:
            with contextlib.suppress(Exception):
                new = os.get_terminal_size(stdin_fd)
                channel.resize_pty(width=new.columns, height=new.lines)

        old_attrs = termios.tcgetattr(stdin_fd) if is_tty else None
        old_winch = signal.signal(signal.SIGWINCH, resize) if is_tty else None
        try:
            if is_tty:
                tty.setraw(stdin_fd)
            stdin_open = True
            while True:
                fds: list[Any] = [channel]
                if stdin_open:
                    fds.append(stdin_fd)
                try:
                    readable, _, _ = select.select(fds, [], [], 0.5)
                except InterruptedError:
                    continue
                if channel in readable:
                    data = channel.recv(65536)
                    if not data:
                        break
                    os.write(sys.stdout.fileno(), data)
                if stdin_fd in readable:
                    data = os.read(stdin_fd, 4096)
                    if data:
                        channel.sendall(data)
                    else:
                        stdin_open = False
                        channel.shutdown_write()
                if channel.exit_status_ready() and not channel.recv_ready():
                    break
                if not self._transport_alive():
                    raise SshLost("SSH connection dropped")
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise SshLost(f"{type(exc).__name__}: {exc}") from None
        finally:
            if old_attrs is not None:
                termios.tcsetattr(stdin_fd, termios.TCSADRAIN, old_attrs)
            if old_winch is not None:
                signal.signal(signal.SIGWINCH, old_winch)
        status = channel.recv_exit_status() if channel.exit_status_ready() else -1
        channel.close()
        return status

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
            self.client = None


def port_open(port: int, host: str = DEFAULT_HOST) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
