"""BootSession and the CLI against a fake QEMU (console + QMP + SSH), no VM needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes import FakeCache
from faultlab import accel
from faultlab.boot import BootOptions, BootSession
from faultlab.errors import GuestFailure
from faultlab.platforms import get_platform
from faultlab.probes import PROBES, Probe, ProbeOutcome, probe_platform


def load_result(directory: Path) -> dict[str, object]:
    return json.loads((directory / "result.json").read_text())


def x86(**kw: object) -> BootOptions:
    kw.setdefault("notify", lambda message: None)
    return BootOptions(get_platform("x86_64"), boot_timeout=30, **kw)  # type: ignore[arg-type]


def test_boot_run_and_result(cache: FakeCache) -> None:
    session = BootSession(x86())
    with session as guest:
        res = guest.run("echo hello; echo oops-not-kernel >&2")
        assert guest.qmp.command("query-status") == {"status": "running", "running": True}
        assert "faultlab-guest: sshd ready" in guest.console.text()
        proc = session.proc
    assert res.exit_code == 0 and res.stdout == b"hello\n" and res.stderr == b"oops-not-kernel\n"
    assert proc is not None and not proc.alive()
    rd = session.result_dir
    assert rd is not None and rd.parent == cache.results
    data = load_result(rd)
    assert data["verdict"] == "pass" and data["exit_code"] == 0
    assert data["accel"] == "tcg" and data["accel_fallback"] is None
    assert data["kernel"]["arch"] == "x86_64"  # type: ignore[index]
    timings = data["timings"]
    assert all(timings[k] is not None for k in ("qemu_start", "ssh_ready", "command", "total"))  # type: ignore[index]
    assert "missing" in data["versions"]["qemu"]  # type: ignore[index]
    assert (rd / "console.log").read_bytes().count(b"sshd ready") == 1
    assert b"Linux version" in (rd / "dmesg.txt").read_bytes()
    assert (rd / "cmd-1.stdout").read_bytes() == b"hello\n"
    assert (rd / "qemu-cmdline.txt").read_text().startswith(str(cache.root))
    assert not (rd / "console.sock").exists() and not (rd / "qmp.sock").exists()


def test_command_stdin_reaches_the_guest(cache: FakeCache, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    target = tmp_path / "put.bin"
    with BootSession(x86()) as guest:
        res = guest.run(f"cat > {target}", stdin=data)
        assert res.exit_code == 0
        assert guest.run(f"wc -c < {target}").stdout.strip() == str(len(data)).encode()
    assert target.read_bytes() == data


def test_warning_during_command_fails_even_with_exit_0(cache: FakeCache) -> None:
    session = BootSession(x86())
    with session as guest:
        assert guest.run("trigger-warn").exit_code == 0
    assert session.result is not None
    assert session.result.verdict == "fail"
    assert session.result.failure == "kernel_warning"
    assert "WARNING: CPU: 1 PID: 187" in (session.result.excerpt or "")


def test_panic_during_command(cache: FakeCache) -> None:
    session = BootSession(x86())
    with pytest.raises(GuestFailure), session as guest:
        guest.run("trigger-panic")
    assert session.result is not None
    assert session.result.failure == "kernel_panic"
    assert "Kernel panic - not syncing" in (session.result.excerpt or "")


def test_vm_stopping_during_command_is_detected(cache: FakeCache) -> None:
    session = BootSession(x86())
    with pytest.raises(GuestFailure), session as guest:
        guest.run("trigger-stop", timeout=60)
    result = session.result
    assert result is not None and result.failure == "vm_stopped"
    assert "internal-error" in result.reason
    assert result.timings["total"] is not None and result.timings["total"] < 30


def test_interrupt_reaps_qemu_and_records_it(cache: FakeCache) -> None:
    session = BootSession(x86())
    with pytest.raises(KeyboardInterrupt), session:
        raise KeyboardInterrupt
    assert session.proc is not None and not session.proc.alive()
    data = load_result(session.result_dir)  # type: ignore[arg-type]
    assert data["verdict"] == "error" and data["failure"] == "interrupted"


def test_kvm_failure_falls_back_to_tcg(cache: FakeCache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTLAB_TRY_KVM", "1")
    monkeypatch.setenv("FAKE_QEMU_SCENARIO", "kvm-fail")
    monkeypatch.setattr(accel, "kvm_usable", lambda path="/dev/kvm": (True, "test"))
    monkeypatch.setattr(accel.host_platform, "machine", lambda: "x86_64")
    notes: list[str] = []
    session = BootSession(x86(notify=notes.append))
    with session as guest:
        guest.run("true")
    result = session.result
    assert result is not None and result.verdict == "pass"
    assert result.accel == "tcg"
    assert result.accel_fallback and "KVM internal error" in result.accel_fallback
    assert notes and "restarting with TCG" in notes[0]
    rd = session.result_dir
    assert rd is not None and (rd / "console-kvm.log").exists() and (rd / "console.log").exists()


def test_probe_plumbing(cache: FakeCache, monkeypatch: pytest.MonkeyPatch) -> None:
    def check(code: int | None, out: str) -> ProbeOutcome:
        return ProbeOutcome("PROBE-OK" in out, out.strip())

    monkeypatch.setitem(PROBES, "x86_64", Probe("x86_64", "test", "echo PROBE-OK", check))
    row = probe_platform(x86(result_dir=cache.results / "p"))
    assert row["verdict"] == "pass" and row["detail"] == "PROBE-OK" and row["accel"] == "tcg"
    bad = Probe("x86_64", "test", "echo nope", check)
    monkeypatch.setitem(PROBES, "x86_64", bad)
    row = probe_platform(x86(result_dir=cache.results / "q"))
    assert row["verdict"] == "fail" and "probe failed: nope" in row["detail"]
    assert load_result(cache.results / "q")["failure"] == "probe"


# -- the CLI, as a subprocess ----------------------------------------------------------------
def test_cli_boot_default_command_and_result_path(cache: FakeCache) -> None:
    proc = cache.cli("boot", "x86_64")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()  # uname -a output (run by the fake on the host)
    (rd,) = cache.result_dirs()
    assert f"faultlab: results in {rd}" in proc.stderr
    assert rd.name.endswith("-x86_64")


def test_cli_exit_code_passthrough(cache: FakeCache) -> None:
    proc = cache.cli("boot", "x86_64", "--", "sh", "-c", "echo out; exit 7")
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == "out\n"
    data = load_result(cache.result_dirs()[0])
    assert (data["verdict"], data["failure"], data["exit_code"]) == ("fail", "command", 7)


def test_cli_panic_at_boot(cache: FakeCache) -> None:
    proc = cache.cli("boot", "x86_64", "--append", "rdinit=/nonexistent")
    assert proc.returncode == 2, proc.stderr
    assert (
        "FAIL: kernel panic: Kernel panic - not syncing: VFS: Unable to mount root" in proc.stderr
    )
    assert "---[ end Kernel panic" in proc.stderr
    data = load_result(cache.result_dirs()[0])
    assert data["failure"] == "kernel_panic"
    assert "rdinit=/nonexistent" in " ".join(data["qemu_argv"])  # type: ignore[arg-type]
    assert "VFS: Unable to mount root fs" in str(data["excerpt"])


def test_cli_shell_without_tty(cache: FakeCache) -> None:
    proc = cache.cli("shell", "x86_64", stdin="echo hi-from-shell\nexit 5\n")
    assert proc.returncode == 5, proc.stderr
    assert "hi-from-shell" in proc.stdout
    data = load_result(cache.result_dirs()[0])
    assert data["verdict"] == "pass" and data["command"] == "(interactive shell)"


def test_cli_vm_stopped_during_boot_fails_fast(cache: FakeCache) -> None:
    proc = cache.cli("boot", "x86_64", scenario="vm-exit")
    assert proc.returncode == 2
    assert "VM stopped (QMP status paused)" in proc.stderr
    assert "Stopped as the VM requested" in proc.stderr
    data = load_result(cache.result_dirs()[0])
    assert data["failure"] == "vm_stopped"
    assert data["timings"]["total"] < 30  # type: ignore[index]


def test_cli_boot_timeout(cache: FakeCache) -> None:
    proc = cache.cli("boot", "x86_64", "--timeout", "3", scenario="silent")
    assert proc.returncode == 2
    assert "did not offer SSH within 3 s" in proc.stderr
    assert "Run /init as init process" in proc.stderr  # console tail
    assert load_result(cache.result_dirs()[0])["failure"] == "boot_timeout"


def test_cli_qemu_bad_argument_is_harness_error(cache: FakeCache) -> None:
    proc = cache.cli("boot", "x86_64", scenario="badarg")
    assert proc.returncode == 4
    assert "QEMU exited at start with status 1" in proc.stderr
    assert "'foo' is not a valid device model name" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_firmware_qemu_cannot_find_is_a_harness_error(cache: FakeCache) -> None:
    # Every artifact exists, yet QEMU finds no BIOS: a broken build, an error (exit 4), not
    # the "not built" exit 3 a CI would take for a skip.
    proc = cache.cli("boot", "x86_64", scenario="nobios")
    assert proc.returncode == 4
    assert "QEMU cannot find firmware 'bios-256k.bin'" in proc.stderr
    assert "`make qemu`" in proc.stderr and "Traceback" not in proc.stderr
    result = load_result(cache.result_dirs()[0])
    assert (result["verdict"], result["failure"]) == ("error", "harness")


def test_cli_forwarding_port_clash(cache: FakeCache) -> None:
    proc = cache.cli("boot", "x86_64", "--ssh-port", "2", scenario="hostfwd")
    assert proc.returncode == 3
    assert "--ssh-port 2" in proc.stderr and "Traceback" not in proc.stderr
    proc = cache.cli("boot", "x86_64", scenario="hostfwd")
    assert proc.returncode == 4
    assert "could not bind a forwarding port 3 times" in proc.stderr
