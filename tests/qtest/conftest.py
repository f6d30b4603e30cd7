"""qtest tier: device models driven through QEMU's qtest protocol, no guest kernel."""

from __future__ import annotations

import pytest
from faultlab import paths


def need_qemu(binary: str) -> None:
    """Skip when QEMU is not built (a local run); in CI mode that skip fails unless
    tests/skip-allowlist.txt lists the test (tests/skip_allowlist.py)."""
    if not paths.qemu_binary(binary).exists():
        pytest.skip(f"{paths.qemu_binary(binary)} not built: run `make qemu`")
