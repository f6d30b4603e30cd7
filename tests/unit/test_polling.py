"""poll(): the one wait loop of the scenarios."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from faultlab.polling import poll
from faultlab.scenario import StepFailed


def counter() -> tuple[list[int], Callable[[], int]]:
    calls: list[int] = []

    def fn() -> int:
        calls.append(len(calls))
        return len(calls)

    return calls, fn


def test_returns_the_first_value_that_holds() -> None:
    calls, fn = counter()
    got = poll(fn, lambda n: n >= 3, timeout=5, interval=0.01, what="three calls")
    assert got == 3 and len(calls) == 3


def test_default_until_is_truthiness() -> None:
    values = iter(["", "", "line"])
    assert poll(lambda: next(values), timeout=5, interval=0.01, what="a line") == "line"


def test_timeout_raises_step_failed_naming_what_and_the_last_value() -> None:
    started = time.monotonic()
    with pytest.raises(StepFailed) as err:
        poll(lambda: "nothing yet", lambda v: False, timeout=0.2, interval=0.05, what="the CSB")
    assert time.monotonic() - started >= 0.2  # never shorter than the timeout
    assert str(err.value) == (
        "timed out after 0.2 s waiting for the CSB (last seen: 'nothing yet')"
    )


def test_timeout_without_fail_returns_the_last_value() -> None:
    calls, fn = counter()
    got = poll(fn, lambda n: False, timeout=0.1, interval=0.02, what="x", fail=False)
    assert got == len(calls) and len(calls) >= 2  # called again after the deadline


def test_called_at_least_once_even_with_no_time() -> None:
    _, fn = counter()
    assert poll(fn, lambda n: True, timeout=0, interval=1, what="x") == 1
    with pytest.raises(ValueError):
        poll(fn, timeout=1, interval=0, what="x")
