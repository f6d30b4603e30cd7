"""Build a device model's engine on the host with its test driver (tests/nx, tests/dsa).

The engines (hw/faultlab/nx/nx-gzip.c, hw/faultlab/dsa/dsa-ops.c) are plain C that also
compiles outside QEMU against the small shim in tests/nx/shim, so the unit tier can drive
them over a fake guest memory under the sanitizers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "tests" / "nx" / "shim"
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def host_gcc(need_zlib: bool = False) -> str:
    """gcc (with the zlib headers when asked), or skip the test saying what is missing."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    if need_zlib:
        probe = subprocess.run(
            [gcc, "-E", "-x", "c", "-", "-o", os.devnull],
            input="#include <zlib.h>\n",
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            pytest.skip("the zlib headers (zlib1g-dev) are not installed")
    return gcc


def build_engine(
    out: Path,
    driver: Path,
    engine: Path,
    flags: Sequence[str],
    libs: Sequence[str] = (),
    need_zlib: bool = False,
) -> Path:
    """Compile `driver` and `engine` into `out` with warnings as errors; return `out`."""
    cmd = [
        "nice", "-n", "10", host_gcc(need_zlib), "-std=gnu11", "-Wall", "-Wextra", "-Werror",
        "-Wno-unused-parameter", "-Wno-sign-compare", *flags,
        f"-I{SHIM}", f"-I{ROOT / 'qemu-devices'}", str(driver), str(engine), *libs, "-o", str(out),
    ]  # fmt: skip
    built = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    return out
