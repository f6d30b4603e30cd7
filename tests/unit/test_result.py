from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from faultlab.result import (
    RunResult,
    collect_versions,
    new_result_dir,
    read_manifest,
    results_parent,
    write_result,
)


def test_results_parent_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FAULTLAB_RESULTS", raising=False)
    assert results_parent(None, cwd=tmp_path) == tmp_path / "results"
    monkeypatch.setenv("FAULTLAB_RESULTS", str(tmp_path / "env"))
    assert results_parent(None, cwd=tmp_path) == tmp_path / "env"
    assert results_parent(tmp_path / "cli", cwd=tmp_path) == tmp_path / "cli"


def test_new_result_dir_naming_and_uniqueness(tmp_path: Path) -> None:
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = new_result_dir(tmp_path / "results", "ppc64-powernv", now)
    second = new_result_dir(tmp_path / "results", "ppc64-powernv", now)
    assert first.name == "20250102T030405Z-ppc64-powernv"
    assert second.name == "20250102T030405Z-ppc64-powernv-2"
    assert first.is_dir() and second.is_dir()
    assert new_result_dir(tmp_path, "a b/c", now).name == "20250102T030405Z-a_b_c"


def test_write_result_fields(tmp_path: Path) -> None:
    result = RunResult(platform="x86_64", scenario="s", command="uname -a")
    result.set_verdict("fail", "kernel panic: x", "kernel_panic", "excerpt")
    result.accel, result.accel_fallback = "tcg", "KVM internal error"
    result.exit_code = None
    result.timings.update(qemu_start=0.2, ssh_ready=12.5, command=0.1, total=14.0)
    path = write_result(result, tmp_path)
    data = json.loads(path.read_text())
    for key in (
        "platform", "scenario", "command", "verdict", "reason", "failure", "exit_code", "accel",
        "accel_fallback", "kernel", "initrd", "qemu", "qemu_argv", "versions", "timings",
        "findings", "excerpt", "started_utc", "finished_utc", "result_dir",
    ):  # fmt: skip
        assert key in data, key
    assert data["verdict"] == "fail" and data["failure"] == "kernel_panic"
    assert data["accel"] == "tcg" and data["accel_fallback"] == "KVM internal error"
    assert data["timings"] == {"qemu_start": 0.2, "ssh_ready": 12.5, "command": 0.1, "total": 14.0}
    assert data["result_dir"] == str(tmp_path)
    assert not (tmp_path / ".result.json.tmp").exists()


def test_bad_verdict_rejected() -> None:
    with pytest.raises(ValueError):
        RunResult(platform="x").set_verdict("maybe", "?")


def test_versions_from_manifests(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAULTLAB_CACHE", str(tmp_path))
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    qemu = {"version": "9.2.0", "built_seconds": 900, "pinned": "9.2.0", "used": "9.2.1"}
    (manifests / "qemu.json").write_text(json.dumps(qemu))
    (manifests / "kernel-arm64.json").write_text('{"version": "6.12.8", "built_seconds": 1}')
    (manifests / "images-arm64.json").write_text("not json")
    versions = collect_versions("arm64", True, True, tmp_path / "Image")
    assert versions["qemu"] == qemu  # pinned vs used recorded as the manifest says
    assert versions["kernel"]["version"] == "6.12.8"
    assert "unreadable" in versions["images"]
    assert read_manifest("kernel-x86_64") == {"missing": str(manifests / "kernel-x86_64.json")}
    custom = tmp_path / "my-vmlinux"
    custom.write_bytes(b"x" * 10)
    versions = collect_versions("x86_64", False, False, custom)
    assert versions["kernel"]["custom"] == str(custom) and versions["kernel"]["size"] == 10
    assert versions["images"] == {"custom": True}
