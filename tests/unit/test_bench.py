from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fakes import FakeCache
from faultlab import bench, bench_rates, paths
from faultlab.errors import MissingArtifactError
from faultlab.result import RunResult
from faultlab.scenario import Scenario, ScenarioOutcome


def write_fake_vng(path: Path, help_text: str, status: int = 0) -> str:
    path.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --help ]; then echo "{help_text}"; exit 0; fi\n'
        'echo "$@" > "$(dirname "$0")/vng-args"\n'
        f"echo 'virtme-run: some failure' >&2; exit {status}\n"
    )
    path.chmod(0o755)
    return str(path)


def test_vng_command_follows_help() -> None:
    full = "usage: vng [--qemu QEMU] [--disable-kvm] [--exec EXEC]"
    cmd = bench.vng_command(full, Path("/k/vmlinux"), Path("/q/qemu-system-x86_64"))
    assert cmd == [
        "vng", "--run", "/k/vmlinux", "--disable-kvm", "--qemu", "/q/qemu-system-x86_64",
        "--exec", "true",
    ]  # fmt: skip
    with_dirs = bench.vng_command(
        full + " [--verbose] [--qemu-opts QEMU_OPTS]",
        Path("/k"),
        Path("/q"),
        [Path("/fw dir"), Path("/b")],
    )
    assert with_dirs[-4:] == [
        "--verbose",
        "--qemu-opts=-L '/fw dir' -L /b -nodefaults",
        "--exec",
        "true",
    ]
    assert bench.vng_command("usage: vng", Path("/k"), Path("/q")) == [
        "vng", "--run", "/k", "--", "true",
    ]  # fmt: skip


def test_vng_success_is_its_status_or_its_init_report() -> None:
    assert bench.vng_script_succeeded(0, "")
    assert bench.vng_script_succeeded(255, "[ 4.4] virtme-ng-init: script exited with code 0\n")
    assert not bench.vng_script_succeeded(255, "virtme-ng-init: script exited with code 1\n")
    assert not bench.vng_script_succeeded(1, "kernel panic")


def test_summarize() -> None:
    assert bench.summarize([3.0, 1.0, 2.0]) == {
        "median": 2.0,
        "min": 1.0,
        "max": 3.0,
        "samples": [3.0, 1.0, 2.0],
    }
    assert bench.summarize([])["median"] is None


def test_bench_with_fake_qemu_and_vng(
    cache: FakeCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vng = write_fake_vng(tmp_path / "vng", "--qemu QEMU --disable-kvm --exec EXEC", status=1)
    monkeypatch.setattr(bench, "find_vng", lambda: vng)
    out = tmp_path / "out" / "bench.json"
    report, parent = bench.run_bench(["x86_64"], 2, json_path=out)
    x86 = report["platforms"]["x86_64"]
    assert len(x86["boot_to_ssh"]["samples"]) == 2 and not x86["failures"]
    assert x86["accel"] == ["tcg"]
    # the fake vng fails: reported as unavailable with its reason, never a made-up number
    assert report["virtme_ng"]["unavailable"].startswith("vng exited with status")
    assert report["ratio_faultlab_over_vng"].startswith("unavailable:")
    assert json.loads(out.read_text()) == report
    assert (parent / "bench.json").exists() and (
        parent / "x86_64" / "run1" / "result.json"
    ).exists()
    args = (tmp_path / "vng-args").read_text()
    assert "--disable-kvm" in args and "--exec true" in args and "--qemu" in args
    table = bench.format_table(report)
    assert "x86_64 vng" in table and "unavailable: vng exited" in table


def test_bench_ratio_when_vng_works(
    cache: FakeCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vng = write_fake_vng(tmp_path / "vng", "--qemu QEMU --disable-kvm --exec EXEC", status=0)
    monkeypatch.setattr(bench, "find_vng", lambda: vng)
    report, _ = bench.run_bench(["x86_64"], 1)
    assert isinstance(report["ratio_faultlab_over_vng"], float)
    assert report["virtme_ng"]["wall"]["median"] > 0


def test_bench_without_vng_or_artifacts(cache: FakeCache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "find_vng", lambda: None)
    assert bench.bench_vng(1) == {"unavailable": "vng (virtme-ng) is not installed"}
    paths.kernel("arm64").unlink()
    report, _ = bench.run_bench(["aarch64"], 1)
    assert "make kernel-arm64" in report["platforms"]["aarch64"]["unavailable"]
    assert "unavailable" in bench.format_table(report)


def fake_runner(values: list[float | None], verdicts: list[str]) -> Any:
    """A run_scenario stand-in: run i passes or not, and measures values[i]."""
    calls: list[Path] = []

    def run(sc: Scenario, *, accel: str, result_dir: Path, series: str) -> ScenarioOutcome:
        assert series == paths.DEFAULT_SERIES
        i = len(calls)
        calls.append(result_dir)
        result = RunResult(platform=sc.platform, scenario=sc.name, accel="tcg")
        if values[i] is not None:
            result.extra["measurements"] = {"many_faults_per_s": values[i]}
        return ScenarioOutcome(sc.name, verdicts[i], "because", [], result, 1.0)

    run.calls = calls  # type: ignore[attr-defined]
    return run


def test_rates_summarise_passing_runs_only(tmp_path: Path) -> None:
    runner = fake_runner([7000.0, 9000.0, None, 123.0], ["pass", "pass", "pass", "fail"])
    rates = bench_rates.bench_rates(["aarch64"], 4, tmp_path, "tcg", runner=runner)
    entry = rates["smmu/many-faults"]
    assert entry["platform"] == "aarch64" and entry["accel"] == ["tcg"]
    assert entry["measurements"]["many_faults_per_s"]["samples"] == [7000.0, 9000.0]
    assert entry["measurements"]["many_faults_per_s"]["median"] == 8000.0
    assert entry["failures"] == [
        "run3: no measurement 'many_faults_per_s'",
        "run4: fail: because",
    ]
    # only the benchmarked platform's scenarios ran, each run in its own directory
    assert set(rates) == {"smmu/many-faults"}
    assert runner.calls[0] == tmp_path / "rates" / "smmu_many-faults" / "run1"
    table = bench_rates.format_rates(rates, 4)
    assert "smmu/many-faults  many_faults_per_s  8000" in table and "2/4" in table


def test_rates_missing_artifacts_are_unavailable(tmp_path: Path) -> None:
    def run(sc: Scenario, *, accel: str, result_dir: Path, series: str) -> ScenarioOutcome:
        assert series == paths.DEFAULT_SERIES
        raise MissingArtifactError("no kernel for ppc64le: run make kernels")

    rates = bench_rates.bench_rates(["ppc64-powernv"], 2, tmp_path, "tcg", runner=run)
    assert rates["nx/many-faults"]["unavailable"].startswith("no kernel")
    assert "unavailable: no kernel" in bench_rates.format_rates(rates, 2)
