"""CLI bad-input handling: one line, exit 3, nothing booted, no traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import synth_kernels as sk
from fakes import FakeCache
from faultlab import cli, paths


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCache]:
    fake = FakeCache(tmp_path / "cache", tmp_path / "results")
    monkeypatch.setenv("FAULTLAB_CACHE", str(fake.root))
    monkeypatch.setenv("FAULTLAB_RESULTS", str(fake.results))
    monkeypatch.delenv("FAULTLAB_TRY_KVM", raising=False)
    monkeypatch.setattr(cli, "install_signal_handlers", lambda: None)
    yield fake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("faultlab: ")
    assert "Traceback" not in err
    return lines[0]


def test_unknown_platform(cache: FakeCache, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "boot", "sparc64")
    assert code == 3
    assert one_line_error(err) == (
        "faultlab: unknown platform 'sparc64'; valid platforms: "
        "x86_64, aarch64, ppc64-powernv, ppc64-pseries"
    )
    assert run(capsys, "probe", "x86_64", "mips")[0] == 3
    assert run(capsys, "shell", "nope")[0] == 3


@pytest.mark.parametrize(
    ("populate", "platform", "what", "target"),
    [
        (
            {"kernels": False, "images": False, "qemu": False},
            "x86_64",
            "kernel",
            "make kernel-x86_64",
        ),
        ({"images": False, "qemu": False}, "aarch64", "initramfs", "make images"),
        ({"qemu": False}, "ppc64-powernv", "QEMU binary", "make qemu"),
    ],
)
def test_missing_artifacts_name_the_make_target(
    cache: FakeCache,
    capsys: pytest.CaptureFixture[str],
    populate: dict[str, bool],
    platform: str,
    what: str,
    target: str,
) -> None:
    cache.populate(**populate)
    code, _, err = run(capsys, "boot", platform)
    assert code == 3
    line = one_line_error(err)
    assert f"missing {what} " in line and f"(build it with `{target}`)" in line
    assert not cache.result_dirs()


def test_missing_firmware_and_key(cache: FakeCache, capsys: pytest.CaptureFixture[str]) -> None:
    cache.populate()
    paths.firmware("vof.bin").unlink()
    line = one_line_error(run(capsys, "boot", "ppc64-pseries")[2])
    assert f"missing firmware {paths.firmware('vof.bin')}" in line and "`make qemu`" in line
    paths.ssh_key().unlink()
    line = one_line_error(run(capsys, "boot", "x86_64")[2])
    assert f"missing SSH key {paths.ssh_key()}" in line and "`make images`" in line


def test_wrong_arch_kernel_fails_first(
    cache: FakeCache, capsys: pytest.CaptureFixture[str]
) -> None:
    # nothing else is built: the kernel check still comes first
    vmlinux = sk.write(cache.root / "x" / "vmlinux", sk.x86_64_vmlinux())
    code, _, err = run(capsys, "boot", "aarch64", "--kernel", str(vmlinux))
    assert code == 3
    assert one_line_error(err) == (
        f"faultlab: kernel {vmlinux} is an x86_64 ELF; platform aarch64 needs an arm64 Image"
    )
    assert not cache.result_dirs()


def test_given_kernel_that_does_not_exist(
    cache: FakeCache, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "boot", "x86_64", "--kernel", "/nonexistent/vmlinux")
    assert code == 3
    assert one_line_error(err) == "faultlab: kernel /nonexistent/vmlinux does not exist"


def test_ssh_port_in_use(cache: FakeCache, capsys: pytest.CaptureFixture[str]) -> None:
    cache.populate()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "boot", "x86_64", "--ssh-port", str(port))
    assert code == 3
    assert one_line_error(err) == (
        f"faultlab: --ssh-port {port} is already in use on 127.0.0.1; "
        "choose another port or omit --ssh-port"
    )
    assert not cache.result_dirs()


def test_forced_kvm_for_foreign_guest(cache: FakeCache, capsys: pytest.CaptureFixture[str]) -> None:
    cache.populate()
    code, _, err = run(capsys, "boot", "aarch64", "--accel", "kvm")
    assert code == 3
    assert "--accel kvm: KVM cannot run platform aarch64" in one_line_error(err)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["boot"],
        ["boot", "x86_64", "--accel", "hvf"],
        ["boot", "x86_64", "--timeout", "soon"],
        ["frobnicate"],
        ["bench", "--runs", "0"],
        ["shell", "x86_64", "--", "ls"],
    ],
)
def test_usage_errors_exit_3(
    cache: FakeCache, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 3, err
    assert "Traceback" not in err


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for fragment in ("exit codes:", "  2 ", "  3 ", "  4 ", "130", "143", "FAULTLAB_TRY_KVM"):
        assert fragment in out


def test_platforms_lists_missing_artifacts(
    cache: FakeCache, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "platforms")
    assert code == 0
    for name in ("x86_64", "aarch64", "ppc64-powernv", "ppc64-pseries"):
        assert name in out
    assert "`make kernels`" in out and "`make images`" in out and "`make qemu`" in out
    cache.populate()
    code, out, _ = run(capsys, "platforms")
    assert out.count("ready") == 4


def test_command_string() -> None:
    assert cli.command_string(None) is None
    assert cli.command_string(["dmesg | grep DMAR"]) == "dmesg | grep DMAR"
    assert cli.command_string(["sh", "-c", "exit 7"]) == "sh -c 'exit 7'"
