from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from faultlab import qemu_process
from faultlab.errors import PortInUseError
from faultlab.qemu_process import QemuProcess, check_port_available, pick_free_port

HARNESS = Path(__file__).resolve().parents[2] / "harness"


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(entry))
    return members


def wait_gone(pgid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# A "QEMU" that ignores SIGTERM and has a child in its group: only SIGKILL of the group works.
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, subprocess, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "subprocess.Popen(['sleep', '1000'])\n"
    "time.sleep(1000)\n",
]


def test_group_reaped_when_context_exits_with_exception(tmp_path: Path) -> None:
    proc = QemuProcess(["sleep", "1000"], output_path=tmp_path / "out.log")
    with pytest.raises(RuntimeError, match="boom"), proc:
        pgid = proc.pgid
        assert proc.alive()
        assert os.getpgid(proc.pid) == pgid  # its own group
        assert os.getsid(proc.pid) == pgid  # and its own session (no tty signals)
        raise RuntimeError("boom")
    assert not group_members(pgid)
    assert proc.popen is not None and proc.popen.returncode is not None
    assert proc not in qemu_process.live_processes()


def test_stubborn_group_with_child_is_killed(tmp_path: Path) -> None:
    proc = QemuProcess(STUBBORN, output_path=tmp_path / "out.log").start()
    pgid = proc.pgid
    deadline = time.monotonic() + 10
    while len(group_members(pgid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(group_members(pgid)) >= 2
    started = time.monotonic()
    proc.stop()
    assert wait_gone(pgid)
    assert time.monotonic() - started < 15


def test_stop_uses_qmp_quit_first(tmp_path: Path) -> None:
    proc = QemuProcess(["sleep", "1000"], output_path=tmp_path / "out.log").start()
    calls = []

    def quit_() -> None:
        calls.append("quit")
        # SIGUSR1, not SIGINT: a job started in the background of a non-interactive
        # shell (as CI may run us) inherits SIGINT ignored, and so does `sleep`.
        os.kill(proc.pid, signal.SIGUSR1)

    proc.stop(quit_via_qmp=quit_)
    assert calls == ["quit"]
    assert proc.returncode == -signal.SIGUSR1
    proc.stop()  # idempotent


def test_output_is_captured_and_exit_status_peeked(tmp_path: Path) -> None:
    proc = QemuProcess(
        ["sh", "-c", "echo to-out; echo to-err >&2; exit 3"], output_path=tmp_path / "o.log"
    ).start()
    assert proc.wait_exit(5)
    assert proc.returncode == 3
    assert "to-out" in proc.output_text() and "to-err" in proc.output_text()
    proc.stop()


SCRIPT = textwrap.dedent(
    """
    import signal, sys, time
    # Stand in for an interactive user: a job started in the background of a
    # non-interactive shell (as CI may run the tests) inherits SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path.insert(0, {harness!r})
    from pathlib import Path
    from faultlab.qemu_process import QemuProcess, install_signal_handlers
    install_signal_handlers()
    with QemuProcess(["sleep", "1000"], output_path=Path({out!r})) as proc:
        print(proc.pgid, flush=True)
        time.sleep(1000)
    """
)


@pytest.mark.parametrize(
    ("sig", "expected_rc"),
    [(signal.SIGTERM, 1), (signal.SIGINT, -signal.SIGINT), (signal.SIGKILL, -signal.SIGKILL)],
)
def test_no_orphan_after_signal(tmp_path: Path, sig: int, expected_rc: int) -> None:
    """Ctrl-C / SIGTERM unwind the context manager; SIGKILL is covered by --pdeathsig."""
    code = SCRIPT.format(harness=str(HARNESS), out=str(tmp_path / "out.log"))
    if sig == signal.SIGKILL and not qemu_process.shutil.which("setpriv"):
        pytest.skip("setpriv not installed")
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pgid = int(parent.stdout.readline())
        assert group_members(pgid)
        parent.send_signal(sig)
        rc = parent.wait(timeout=20)
        assert rc == expected_rc
        assert wait_gone(pgid), f"QEMU stand-in survived {signal.Signals(sig).name}"
    finally:
        parent.kill()
        parent.wait()


def test_pick_free_port_and_in_use_detection() -> None:
    port = pick_free_port()
    assert 1024 <= port <= 65535
    check_port_available(port)  # free: no exception
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"--ssh-port {busy} is already in use"):
            check_port_available(busy)
    with pytest.raises(PortInUseError, match="not a valid TCP port"):
        check_port_available(70000)
