"""A kernel developer's own kernel: a built tree (--kernel-tree) and an image alone (--kernel).

The bench's 7.3 build trees stand in for a user's tree: an O= build directory with .config,
Module.symvers and the image, exactly what `make O=DIR` leaves. `make test` runs the x86_64
cases (CI builds the 7.3 x86_64 kernel); FAULTLAB_E2E_MATRIX=all (`make test-matrix`) adds the
arm64 ones (smmu/stall-retry through the user's tree, the issue's own example).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from faultlab import paths
from faultlab.artifacts import missing_artifacts
from faultlab.platforms import get_platform
from test_boot import faultlab

pytestmark = pytest.mark.e2e

SERIES = "7.3"
# (platform, kernel arch, a scenario that needs our module, an upstream-only scenario)
CASES = {
    "x86_64": ("x86_64", "x86/insn-kernel", "x86/insn-user"),
    "aarch64": ("arm64", "smmu/stall-retry", None),
}
MATRIX_ONLY = {"aarch64"}
RUN = [p for p in CASES if p not in MATRIX_ONLY or os.environ.get("FAULTLAB_E2E_MATRIX") == "all"]


def tree(platform: str) -> Path:
    arch = CASES[platform][0]
    missing = missing_artifacts(get_platform(platform), series=SERIES)
    build = paths.kernel_build_dir(arch, series=SERIES)
    if missing or not (build / "Module.symvers").is_file():
        pytest.skip(
            f"no built {SERIES} {arch} kernel tree: run `make kernel-{arch} SERIES={SERIES}`"
        )
    return build


def release(build: Path) -> str:
    return (build / "include" / "config" / "kernel.release").read_text().strip()


@pytest.mark.parametrize("platform", RUN)
def test_kernel_tree_runs_a_scenario_with_our_modules(platform: str, tmp_path: Path) -> None:
    build = tree(platform)
    scenario = CASES[platform][1]
    proc = faultlab("run", scenario, "--kernel-tree", str(build), "--results", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"{scenario}: PASS" in proc.stdout
    (result_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    result = json.loads((result_dir / "result.json").read_text())
    kernel = result["versions"]["guest_kernel"]
    assert kernel["source"] == "tree" and kernel["tree"] == str(build)
    assert kernel["release"] == release(build) and kernel["series"] == SERIES
    assert re.fullmatch(r"[0-9a-f]{64}", kernel["config_sha256"] or "")
    assert kernel["modules"], "faultlab's modules were built against the tree"


@pytest.mark.parametrize("platform", RUN)
def test_image_alone_is_not_run_where_our_modules_are_needed(platform: str, tmp_path: Path) -> None:
    build = tree(platform)
    image = paths.kernel(CASES[platform][0], series=SERIES)
    scenario = CASES[platform][1]
    proc = faultlab("run", scenario, "--kernel", str(image), "--results", str(tmp_path))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(f"{scenario}: NOT RUN"))
    module = "faultlab_dma" if platform == "aarch64" else "faultlab_x86_insn"
    assert f"module {module}" in line and "--kernel-tree" in line, line
    assert release(build) in line, line
    # nothing was booted: no result directory, only the run's KTAP (its scenario skipped)
    assert [p.name for p in tmp_path.iterdir()] == ["results.ktap"]
    assert f"ok 1 {scenario} # SKIP NOT RUN: " in (tmp_path / "results.ktap").read_text()


@pytest.mark.parametrize("platform", RUN)
def test_boot_own_image_prints_its_release(platform: str, tmp_path: Path) -> None:
    build = tree(platform)
    image = paths.kernel(CASES[platform][0], series=SERIES)
    proc = faultlab(
        "boot", platform, "--kernel", str(image), "--results", str(tmp_path), "--", "uname -r"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == release(build)
    assert proc.stdout.startswith(SERIES + ".")


def test_upstream_only_scenario_runs_on_an_image_alone(tmp_path: Path) -> None:
    tree("x86_64")
    image = paths.kernel("x86_64", series=SERIES)
    scenario = CASES["x86_64"][2]
    assert scenario is not None
    proc = faultlab("run", scenario, "--kernel", str(image), "--results", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"{scenario}: PASS" in proc.stdout
