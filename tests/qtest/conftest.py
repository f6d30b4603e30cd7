"""qtest tier: device models driven through QEMU's qtest protocol, no guest kernel."""

from __future__ import annotations

import pytest
from faultlab import paths


def need_qemu(binary: str) -> None:
    if not paths.qemu_binary(binary).exists():
        pytest.skip(f"{paths.qemu_binary(binary)} not built: run `make qemu`")
