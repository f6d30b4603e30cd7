"""Shared pytest setup: markers, the harness importable without installing it, and no skip
passing CI unless allowlisted (skip_allowlist.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
HARNESS = TESTS.parent / "harness"
if str(HARNESS) not in sys.path:
    sys.path.insert(0, str(HARNESS))

# pytester for the plugin's own tests; skip_allowlist (tests/skip_allowlist.py): in CI mode a
# skip that tests/skip-allowlist.txt does not list fails.
pytest_plugins = ("pytester", "skip_allowlist")

_DIR_MARKERS = {"unit": "unit", "e2e": "e2e", "qtest": "qtest"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: fast tests, no VM, no built artifacts")
    config.addinivalue_line(
        "markers", "e2e: boot real QEMU guests; skipped when artifacts are missing"
    )
    config.addinivalue_line("markers", "qtest: QEMU device models driven through qtest")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under tests/<tier>/ get the <tier> marker (so `pytest -m unit` finds them)."""
    for item in items:
        try:
            tier = Path(str(item.fspath)).resolve().relative_to(TESTS).parts[0]
        except (ValueError, IndexError):
            continue
        marker = _DIR_MARKERS.get(tier)
        # (not `marker in item.keywords`: the tests/<tier>/ directory's name is a keyword too)
        if marker and item.get_closest_marker(marker) is None:
            item.add_marker(getattr(pytest.mark, marker))
