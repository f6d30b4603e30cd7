"""Exceptions that the CLI turns into one-line messages and exit codes."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faultlab.result import RunResult

# Exit codes of the `faultlab` command (also listed in `faultlab --help`).
EXIT_OK = 0
EXIT_GUEST_FAILURE = 2  # verdict "fail" for a guest reason: panic, oops, timeout, ssh lost...
EXIT_BAD_INPUT = 3  # bad input or configuration, nothing was booted
EXIT_HARNESS_ERROR = 4  # verdict "error": QEMU would not start, QMP broke, ...
# `faultlab run`: verdict "known-issue": every check held and every kernel report is a known
# issue (known_issues.py); not 0, which says the kernel log was clean
EXIT_KNOWN_ISSUE = 5
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_TERMINATED = 143  # SIGTERM / SIGHUP


class FaultlabError(Exception):
    """Base class; str(error) is the one-line message (without the 'faultlab: ' prefix)."""

    exit_code = EXIT_BAD_INPUT


class UsageError(FaultlabError):
    """Unknown platform, bad option value."""


class MissingArtifactError(FaultlabError):
    """A build product (QEMU, firmware, kernel, initramfs, key) is missing."""


class KernelFormatError(FaultlabError):
    """The kernel file is not bootable on the requested platform."""


class NotRunError(FaultlabError):
    """The kernel lacks what a scenario needs (an option, a test-only patch, our module):
    NOT RUN, never "fail"; str() names each missing item and how to get it."""

    def __init__(self, scenario: str, missing: list[str]) -> None:
        super().__init__(f"{scenario} needs what this kernel lacks: " + "; ".join(missing))
        self.scenario = scenario
        self.missing = list(missing)


class PortInUseError(FaultlabError):
    """The SSH forwarding port requested with --ssh-port is taken."""


class AccelError(FaultlabError):
    """The requested accelerator cannot be used."""


class HarnessError(FaultlabError):
    """Infrastructure failure: QEMU would not start, QMP did not answer..."""

    exit_code = EXIT_HARNESS_ERROR


class GuestFailure(FaultlabError):
    """The guest failed (panic, oops, boot timeout, ssh lost...); the result is written."""

    exit_code = EXIT_GUEST_FAILURE

    def __init__(self, message: str, result: RunResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM/SIGHUP so that context managers unwind."""


def crash_site(exc: BaseException, frames: int = 2) -> str:
    """Where `exc` was raised: its innermost `frames` frames, innermost first
    ("access.py:88 field < dsa.py:412 cr_fault"), for a one-line report of a harness bug."""
    tb = traceback.extract_tb(exc.__traceback__)[-frames:]
    return " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(tb))
