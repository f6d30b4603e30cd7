"""Boot the real guests. Each test SKIPs (naming the missing file and its make target) when
the build products it needs are not there (in CI mode that skip fails unless
tests/skip-allowlist.txt lists it); it never passes without booting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faultlab import paths
from faultlab.artifacts import missing_artifacts
from faultlab.boot import BootOptions
from faultlab.platforms import PLATFORMS, get_platform
from faultlab.probes import probe_platform

pytestmark = pytest.mark.e2e

HARNESS = Path(__file__).resolve().parents[2] / "harness"


def require(platform: str) -> None:
    missing = missing_artifacts(get_platform(platform))
    if missing:
        pytest.skip("; ".join(missing))


def faultlab(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HARNESS), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "faultlab", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def only_result(parent: Path) -> dict[str, object]:
    (directory,) = [p for p in parent.iterdir() if p.is_dir()]
    return json.loads((directory / "result.json").read_text())


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_boot_and_probe(platform: str, tmp_path: Path) -> None:
    require(platform)
    row = probe_platform(BootOptions(get_platform(platform), result_dir=tmp_path / platform))
    assert row["verdict"] == "pass", f"{row['detail']} (results: {row['result_dir']})"


def test_exit_code_passthrough(tmp_path: Path) -> None:
    require("x86_64")
    proc = faultlab("boot", "x86_64", "--results", str(tmp_path), "--", "sh", "-c", "exit 7")
    assert proc.returncode == 7, proc.stderr
    result = only_result(tmp_path)
    assert (result["failure"], result["exit_code"]) == ("command", 7)


def test_panic_at_boot_fails_with_excerpt(tmp_path: Path) -> None:
    require("x86_64")
    # No /nonexistent in the initramfs: the kernel falls back to mounting a root fs and panics.
    proc = faultlab("boot", "x86_64", "--results", str(tmp_path), "--append", "rdinit=/nonexistent")
    assert proc.returncode == 2, proc.stderr
    assert "Kernel panic - not syncing" in proc.stderr
    result = only_result(tmp_path)
    assert result["verdict"] == "fail" and result["failure"] == "kernel_panic"
    assert "Kernel panic - not syncing" in str(result["excerpt"])


def test_aarch64_with_x86_kernel_fails_fast(tmp_path: Path) -> None:
    x86_kernel = paths.kernel("x86_64")
    if not x86_kernel.is_file():
        pytest.skip(f"missing kernel {x86_kernel} (build it with `make kernels`)")
    started = time.monotonic()
    proc = faultlab(
        "boot", "aarch64", "--kernel", str(x86_kernel), "--results", str(tmp_path), timeout=60
    )
    assert proc.returncode == 3
    assert proc.stderr.strip() == (
        f"faultlab: kernel {x86_kernel} is an x86_64 ELF; platform aarch64 needs an arm64 Image"
    )
    assert time.monotonic() - started < 20
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
