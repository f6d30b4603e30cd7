"""A `faultlab run` as KTAP version 1 (the kernel's Documentation/dev-tools/ktap.rst); pure.

Each scenario is a test, each of its checks a subtest (a nested KTAP block: its own version
line and plan, indented one level deeper). Result lines, by verdict:

* pass         ``ok N group/name``
* fail         ``not ok N group/name``, its reason and each failed check's observed and
               expected values as diagnostic lines (``# ...``) before the result lines
* error        ``not ok N group/name # ERROR reason`` (the spec's ERROR directive: the test's
               execution failed, the reason is its diagnostic data)
* skip         ``ok N group/name # SKIP reason``; NOT RUN too (``# SKIP NOT RUN: ...``): the
               spec's SKIP is for "a description of missing dependencies"
* known-issue  ``ok N group/name # XFAIL known issue ID: SIGNATURE (UPSTREAM)``: the spec's
               XFAIL ("expected to fail, used by some kselftest tests"), written as
               kselftest's ksft_test_result_xfail writes it (``ok``), so that a parser without
               XFAIL counts it as kselftest does (not a failure); TODO is discouraged by
               the spec ("not recognized" in its TAP/KTAP table), and SKIP would hide that
               the scenario ran and its checks held. The entry ids are in the data.

After the scenarios, ``# Totals: pass:P fail:F xfail:X xpass:0 skip:S error:E`` (kselftest's
closing line; NOT RUN counts as skip).

Indentation: the spec says "One level of indentation is two spaces"; KUnit writes four.
Parsers (kunit_parser among them) ignore leading whitespace; this file follows the spec.

Names and directive data: the spec allows any characters but ``#`` and newline in a name.
'#' becomes '_', control characters and runs of whitespace one space, a leading ``-`` (TAP's
optional separator) is dropped, an empty name becomes ``unnamed``. Directive data and
diagnostic lines are one line each, without '#' in directive data (kunit_parser would read
`` # SKIP`` in it as a skip) and with the three console phrases at which kunit_parser stops
reading KTAP (``Kernel panic - not syncing: VFS:``, ``List of all partitions:``, ``reboot:
System halted``) defused by one changed character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from faultlab.checks import Check
from faultlab.run_record import ScenarioRecord

VERSION_LINE = "KTAP version 1"
INDENT = "  "  # one level (ktap.rst, "Nested tests")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SPACES = re.compile(r"\s+")
# kunit_parser's KTAP_END: it stops reading KTAP at a line that contains one of these
_KUNIT_END = (
    ("Kernel panic - not syncing: VFS:", "Kernel panic - not syncing: VFS -"),
    ("List of all partitions:", "List of all partitions -"),
    ("reboot: System halted", "reboot - System halted"),
)


def one_line(text: str) -> str:
    """`text` on one line: control characters and whitespace runs become one space."""
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    for phrase, defused in _KUNIT_END:
        text = text.replace(phrase, defused)
    return text


def safe_name(name: str) -> str:
    """A test description KTAP parsers accept: no '#', one line, not empty."""
    text = one_line(name.replace("#", "_"))
    text = re.sub(r"^(?:- ?)+", "", text).strip()
    return text or "unnamed"


def directive_data(text: str) -> str:
    """Directive data (after ``# SKIP`` and the like): one line without '#'."""
    return one_line(text.replace("#", "_"))


def diagnostic(text: str, indent: str = "") -> str:
    """A diagnostic line; never one kunit_parser would read as a subtest header."""
    text = one_line(text)
    if text.startswith("Subtest:"):
        text = "(" + text + ")"
    return f"{indent}# {text}".rstrip()


def result_line(ok: bool, number: int, name: str, directive: str = "", data: str = "") -> str:
    line = f"{'ok' if ok else 'not ok'} {number} {safe_name(name)}"
    if directive:
        line += f" # {directive}"
        data = directive_data(data)
        if data:
            line += f" {data}"
    return line


def _check_lines(checks: Sequence[Check], indent: str) -> list[str]:
    lines = [indent + VERSION_LINE, f"{indent}1..{len(checks)}"]
    for n, c in enumerate(checks, 1):
        if not c.ok:
            lines.append(diagnostic(f"observed {c.observed}; expected {c.expected}", indent))
        lines.append(indent + result_line(c.ok, n, c.name))
    return lines


def scenario_lines(record: ScenarioRecord, number: int, indent: str = "") -> list[str]:
    """One scenario: its checks as subtests, diagnostics, its result line."""
    lines = _check_lines(record.checks, indent + INDENT) if record.checks else []
    verdict = record.verdict
    if verdict in ("fail", "error"):
        lines.append(diagnostic(f"{record.scenario}: {record.reason}", indent))
    if record.result_dir:
        lines.append(diagnostic(f"results: {record.result_dir}", indent))
    if verdict == "pass":
        line = result_line(True, number, record.scenario)
    elif verdict == "skip":
        line = result_line(True, number, record.scenario, "SKIP", record.reason)
    elif verdict == "known-issue":
        data = f"known issue {record.reason}"
        line = result_line(True, number, record.scenario, "XFAIL", data)
    elif verdict == "fail":
        line = result_line(False, number, record.scenario)
    else:  # error, or a verdict this file does not know: never an ok
        line = result_line(False, number, record.scenario, "ERROR", record.reason)
    return [*lines, indent + line]


def totals(records: Iterable[ScenarioRecord]) -> str:
    counts = {"pass": 0, "fail": 0, "xfail": 0, "xpass": 0, "skip": 0, "error": 0}
    for r in records:
        key = {"known-issue": "xfail"}.get(r.verdict, r.verdict)
        counts[key if key in counts else "error"] += 1
    return "# Totals: " + " ".join(f"{k}:{v}" for k, v in counts.items())


def render(records: Sequence[ScenarioRecord]) -> str:
    """The whole run: version line, plan, one test per scenario, the totals."""
    lines = [VERSION_LINE, f"1..{len(records)}"]
    for n, record in enumerate(records, 1):
        lines.extend(scenario_lines(record, n))
    lines.append(totals(records))
    return "\n".join(lines) + "\n"
