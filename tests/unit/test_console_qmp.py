from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from fake_qemu import QMPServer
from faultlab.console import Console, ConsoleEOF, ConsoleTimeout
from faultlab.errors import HarnessError
from faultlab.qmp import QMP, QMPError


def serve_once(path: Path, chunks: list[bytes], delay: float = 0.05, close: bool = True) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        for chunk in chunks:
            time.sleep(delay)
            conn.sendall(chunk)
        if close:
            conn.close()
        else:
            time.sleep(5)
        server.close()

    threading.Thread(target=run, daemon=True).start()


def test_console_tees_raw_bytes_and_expects(tmp_path: Path) -> None:
    sock = tmp_path / "c.sock"
    serve_once(sock, [b"[ 0.1] boot\r\n", b"faultlab-guest: ss", b"hd ready\r\n\xff\xfe tail\r\n"])
    console = Console(tmp_path / "console.log")
    console.connect(sock, alive=lambda: True, timeout=5)
    index, match = console.expect([r"never", r"sshd (\w+)"], timeout=5)
    assert index == 1 and match.group(1) == "ready"
    with pytest.raises(ConsoleEOF):
        console.expect("never", timeout=5)
    console.close()
    raw = (tmp_path / "console.log").read_bytes()
    assert raw == b"[ 0.1] boot\r\nfaultlab-guest: sshd ready\r\n\xff\xfe tail\r\n"
    assert "\ufffd" in console.text()  # invalid UTF-8 replaced in text, kept raw in the log
    assert console.eof and console.nbytes == len(raw)


def test_console_expect_timeout_and_order(tmp_path: Path) -> None:
    sock = tmp_path / "c.sock"
    serve_once(sock, [b"one two three\n"], close=False)
    console = Console(tmp_path / "console.log")
    console.connect(sock, alive=lambda: True, timeout=5)
    assert console.expect(["three", "one"], timeout=5)[0] == 1  # earliest match wins
    assert console.expect(["three", "two"], timeout=5)[0] == 1
    with pytest.raises(ConsoleTimeout):
        console.expect("one", timeout=0.3)  # already consumed
    console.close()


def test_console_connect_gives_up(tmp_path: Path) -> None:
    console = Console(tmp_path / "console.log")
    with pytest.raises(ConsoleEOF):
        console.connect(tmp_path / "none.sock", alive=lambda: False, timeout=5)
    with pytest.raises(HarnessError, match="did not appear"):
        console.connect(tmp_path / "none.sock", alive=lambda: True, timeout=0.2)
    console.close()


def test_qmp_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "qmp.sock"
    state = {"status": "running"}
    QMPServer(str(path), state).start()
    qmp = QMP("test")
    qmp.connect(path, timeout=5)
    assert qmp.command("query-status") == {"status": "running", "running": True}
    state["status"] = "internal-error"
    assert qmp.command_timeout("query-status", 2.0) == {
        "status": "internal-error",
        "running": False,
    }
    qmp.close()
    qmp.close()  # idempotent
    with pytest.raises(QMPError):
        qmp.command("query-status")


def test_qmp_never_hangs(tmp_path: Path) -> None:
    path = tmp_path / "mute.sock"
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(path))
    mute.listen(4)  # accepts connections, never greets
    qmp = QMP("mute")
    started = time.monotonic()
    with pytest.raises(QMPError, match="cannot connect"):
        qmp.connect(path, timeout=1.0)
    assert time.monotonic() - started < 5
    with pytest.raises(QMPError, match="not connected"):
        qmp.command("quit")
    qmp.close()
    mute.close()


def test_loop_drops_only_the_qemu_gone_errors() -> None:
    """A QMP reader that ends with EOFError when QEMU dies must not print a traceback;
    other loop errors still reach asyncio's default handler."""
    import asyncio

    from faultlab import qmp as qmp_mod

    loop = asyncio.new_event_loop()
    seen: list[dict[str, object]] = []
    loop.default_exception_handler = seen.append  # type: ignore[method-assign]
    try:
        qmp_mod._quiet_when_qemu_gone(loop, {"message": "x", "exception": EOFError()})
        qmp_mod._quiet_when_qemu_gone(loop, {"message": "y", "exception": ConnectionResetError()})
        assert seen == []
        qmp_mod._quiet_when_qemu_gone(loop, {"message": "z", "exception": ValueError("bug")})
        assert [c["message"] for c in seen] == ["z"]
    finally:
        loop.close()
