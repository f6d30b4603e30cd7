"""Waiting for a guest or QEMU state: one polling loop for every scenario.

`poll(fn, until, timeout=..., interval=..., what=...)` calls `fn` until `until(value)` holds
and returns that value. `fn` is always called at least once, and once more after the
deadline has passed before giving up, so a wait is never shorter than its timeout. On timeout
it raises StepFailed naming `what` and the last value, or, with `fail=False`, returns the last
value so that the caller's check records what was observed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from faultlab.scenario import StepFailed

T = TypeVar("T")

_SHOWN = 120  # characters of the last value quoted in a timeout message


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def poll(
    fn: Callable[[], T],
    until: Callable[[T], bool] = bool,
    *,
    timeout: float,
    interval: float,
    what: str,
    fail: bool = True,
) -> T:
    """The first value of `fn()` for which `until` holds, polling every `interval` seconds
    for at least `timeout` seconds; after that, StepFailed (or the last value if not `fail`)."""
    if timeout < 0 or interval <= 0:
        raise ValueError(f"bad timeout {timeout} or interval {interval}")
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            if fail:
                raise StepFailed(
                    f"timed out after {timeout:g} s waiting for {what} (last seen: {_shown(value)})"
                )
            return value
        time.sleep(interval)
