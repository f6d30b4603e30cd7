from __future__ import annotations

import os
from pathlib import Path

import pytest

from faultlab.accel import choose_accel, kvm_failure_in
from faultlab.errors import AccelError, UsageError
from faultlab.platforms import get_platform

X86 = get_platform("x86_64")
ARM = get_platform("aarch64")


@pytest.fixture
def fake_kvm(tmp_path: Path) -> str:
    path = tmp_path / "kvm"
    path.write_bytes(b"")
    return str(path)


def test_tcg_forced() -> None:
    choice = choose_accel("tcg", X86, env={"FAULTLAB_TRY_KVM": "1"}, host_arch="x86_64")
    assert (choice.accel, choice.fallback_to_tcg) == ("tcg", False)


def test_auto_is_tcg_without_opt_in(fake_kvm: str) -> None:
    choice = choose_accel("auto", X86, env={}, host_arch="x86_64", kvm_path=fake_kvm)
    assert choice.accel == "tcg"
    assert "FAULTLAB_TRY_KVM" in choice.reason


def test_auto_tries_kvm_with_opt_in_and_falls_back(fake_kvm: str) -> None:
    env = {"FAULTLAB_TRY_KVM": "1"}
    choice = choose_accel("auto", X86, env=env, host_arch="x86_64", kvm_path=fake_kvm)
    assert (choice.accel, choice.fallback_to_tcg) == ("kvm", True)


def test_auto_never_kvm_for_foreign_guest(fake_kvm: str) -> None:
    env = {"FAULTLAB_TRY_KVM": "1"}
    assert choose_accel("auto", ARM, env=env, host_arch="x86_64", kvm_path=fake_kvm).accel == "tcg"
    assert choose_accel("auto", X86, env=env, host_arch="aarch64", kvm_path=fake_kvm).accel == (
        "tcg"
    )


def test_auto_without_dev_kvm(tmp_path: Path) -> None:
    env = {"FAULTLAB_TRY_KVM": "1"}
    missing = str(tmp_path / "nokvm")
    choice = choose_accel("auto", X86, env=env, host_arch="x86_64", kvm_path=missing)
    assert choice.accel == "tcg" and "cannot be opened" in choice.reason


def test_kvm_forced(fake_kvm: str, tmp_path: Path) -> None:
    choice = choose_accel("kvm", X86, env={}, host_arch="x86_64", kvm_path=fake_kvm)
    assert (choice.accel, choice.fallback_to_tcg) == ("kvm", False)
    with pytest.raises(AccelError, match="cannot run platform aarch64"):
        choose_accel("kvm", ARM, env={}, host_arch="x86_64", kvm_path=fake_kvm)
    with pytest.raises(AccelError, match="cannot be opened"):
        choose_accel("kvm", X86, env={}, host_arch="x86_64", kvm_path=str(tmp_path / "x"))


def test_bad_choice() -> None:
    with pytest.raises(UsageError):
        choose_accel("hax", X86)


def test_kvm_failure_patterns() -> None:
    assert kvm_failure_in("qemu: info\nKVM internal error. Suberror: 1\nemulation failure\n") == (
        "KVM internal error. Suberror: 1"
    )
    assert kvm_failure_in("error: kvm run failed Bad address\n") == (
        "error: kvm run failed Bad address"
    )
    assert kvm_failure_in("QEMU waiting for connection on: disconnected:unix:/x\n") is None


@pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="no /dev/kvm here")
def test_default_env_auto_is_tcg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAULTLAB_TRY_KVM", raising=False)
    assert choose_accel("auto", X86).accel == "tcg"
