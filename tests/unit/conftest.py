"""Fixtures shared by the unit tests that run the harness against the fake QEMU."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes import FakeCache
from faultlab import qemu_process


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCache]:
    """A populated fake build cache whose fake QEMU boots fine; no QEMU may outlive a test."""
    fake = FakeCache(tmp_path / "cache", tmp_path / "results")
    for key, value in fake.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FAKE_QEMU_SCENARIO", "ok")
    fake.populate()
    yield fake
    assert qemu_process.live_processes() == [], "a (fake) QEMU was left running"
