"""No skip passes CI: a pytest plugin (loaded by tests/conftest.py) and its pure parts.

Outside CI a skipped test is a skip. In CI mode (CI=true, as CI systems set it, or
FAULTLAB_STRICT_SKIPS=1, as .ci/run sets it) every skipped test, of any tier, that no entry
of tests/skip-allowlist.txt matches is turned into a failure whose message names the test and
its skip reason and says how to allowlist it. A module that skips at collection fails the same
way. An xfail is not a skip.

The allowlist has one entry per line, `NODE-ID-PATTERN  # reason`; the reason is mandatory. The
pattern is a pytest node id (as pytest prints it: tests/e2e/test_scenarios.py::test_scenario[
pseries/apf-user]) in which `*` matches any run of characters; everything else is literal, the
brackets of parametrized ids included. Blank lines and lines starting with `#` are comments.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ALLOWLIST = Path(__file__).resolve().with_name("skip-allowlist.txt")
STRICT_ENV = "FAULTLAB_STRICT_SKIPS"
_SEPARATOR = re.compile(r"\s+#")


class AllowlistError(ValueError):
    """The allowlist file has an entry without a reason (or without a pattern)."""


@dataclass(frozen=True)
class Entry:
    pattern: str
    reason: str
    line: int

    def matches(self, nodeid: str) -> bool:
        regex = ".*".join(re.escape(part) for part in self.pattern.split("*"))
        return re.fullmatch(regex, nodeid) is not None


def parse(text: str, source: str = "skip-allowlist.txt") -> tuple[Entry, ...]:
    """The entries of an allowlist; AllowlistError names the first bad line."""
    entries: list[Entry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = _SEPARATOR.split(line, maxsplit=1)
        pattern = parts[0].strip()
        reason = parts[1].strip() if len(parts) == 2 else ""
        if not reason:
            raise AllowlistError(
                f"{source}:{number}: {line!r} gives no reason; write "
                f"`{pattern}  # why this test may skip in CI`"
            )
        entries.append(Entry(pattern, reason, number))
    return tuple(entries)


def load(path: Path = ALLOWLIST) -> tuple[Entry, ...]:
    """The entries of the allowlist file (none if there is no file)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return ()
    return parse(text, str(path))


def find(entries: Iterable[Entry], nodeid: str) -> Entry | None:
    """The first entry that allows `nodeid` to skip."""
    return next((e for e in entries if e.matches(nodeid)), None)


def strict_reason(env: Mapping[str, str]) -> str | None:
    """Why skips must be allowlisted in this run ("CI=true"...), or None when they need not."""
    if env.get(STRICT_ENV) == "1":
        return f"{STRICT_ENV}=1"
    if env.get("CI", "").lower() == "true":
        return f"CI={env['CI']}"
    return None


def skip_reason(longrepr: object) -> str:
    """The reason of a skip report: pytest keeps (path, lineno, "Skipped: reason")."""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
    else:
        text = str(longrepr)
    return text.removeprefix("Skipped: ")


def failure_message(nodeid: str, reason: str, strict: str, allowlist: Path) -> str:
    """What a skip that is not allowlisted says when it fails the run."""
    return (
        f"{nodeid} skipped in CI mode ({strict}): {reason}\n"
        "A skip does not pass CI: fix what made the test skip, or, if it may skip here, "
        f"add an entry with the reason to {allowlist}:\n"
        f"    {nodeid}  # why this test may skip in CI"
    )


def judge(
    nodeid: str,
    reason: str,
    entries: Iterable[Entry],
    env: Mapping[str, str],
    allowlist: Path,
) -> str | None:
    """The failure message for a skip of `nodeid`, or None if it may stay a skip."""
    strict = strict_reason(env)
    if strict is None or find(entries, nodeid) is not None:
        return None
    return failure_message(nodeid, reason, strict, allowlist)


# -- the pytest plugin ----------------------------------------------------------------------

_ENTRIES = pytest.StashKey[tuple[Entry, ...]]()
_PATH = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--skip-allowlist",
        type=Path,
        default=ALLOWLIST,
        help="tests that may skip in CI mode (CI=true or FAULTLAB_STRICT_SKIPS=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    path: Path = config.getoption("--skip-allowlist")
    try:
        config.stash[_ENTRIES] = load(path)
    except AllowlistError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_PATH] = path


def _shown_path(config: pytest.Config) -> Path:
    path = config.stash.get(_PATH, ALLOWLIST)
    try:
        return path.resolve().relative_to(config.rootpath)
    except ValueError:
        return path


def _enforce(
    config: pytest.Config, report: pytest.TestReport | pytest.CollectReport
) -> None:
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    message = judge(
        report.nodeid,
        skip_reason(report.longrepr),
        config.stash.get(_ENTRIES, ()),
        os.environ,
        _shown_path(config),
    )
    if message is not None:
        report.outcome = "failed"
        report.longrepr = message


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _enforce(item.config, report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _enforce(collector.config, report)
    return report
