"""Two KTAP readers for the tests: a strict grammar of our own (ktap.rst, version 1), and the
kernel's kunit_parser (tools/testing/kunit/ of an unpacked kernel source in the cache), run
in a subprocess so that two kernels' copies never meet in one interpreter."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = "KTAP version 1"
PLAN = re.compile(r"1\.\.(\d+)")
# "<result> <number> [<description>][ # [<directive>] [<diagnostic data>]]"; the description is
# any string without '#' or newline; we always write one, without surrounding blanks
RESULT = re.compile(
    r"(?P<result>ok|not ok) (?P<number>[1-9]\d*) (?P<name>[^#\s](?:[^#]*[^#\s])?)"
    r"(?: # (?P<directive>SKIP|TODO|XFAIL|TIMEOUT|ERROR)(?: (?P<data>.+))?)?"
)
INDENT = "  "  # one level (ktap.rst, "Nested tests")


class KtapError(AssertionError):
    """The text is not KTAP v1 as ktap.rst specifies it (line number and why)."""


@dataclass
class KtapTest:
    number: int
    name: str
    ok: bool
    directive: str | None
    data: str | None
    subtests: list[KtapTest] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)  # the lines before its result


@dataclass
class _Reader:
    lines: list[str]
    pos: int = 0

    def peek(self) -> str | None:
        return self.lines[self.pos] if self.pos < len(self.lines) else None

    def fail(self, why: str) -> KtapError:
        line = self.peek()
        return KtapError(f"line {self.pos + 1} ({line!r}): {why}")


def _block(r: _Reader, depth: int) -> list[KtapTest]:
    """A version line, a plan, then exactly `plan` tests at indentation `depth`."""
    pad = INDENT * depth
    if r.peek() != pad + VERSION:
        raise r.fail(f"expected {pad + VERSION!r}")
    r.pos += 1
    line = r.peek()
    m = PLAN.fullmatch(line[len(pad) :]) if line is not None and line.startswith(pad) else None
    if m is None or line is None:
        raise r.fail("expected the plan 1..N right after the version line")
    r.pos += 1
    tests: list[KtapTest] = []
    for number in range(1, int(m[1]) + 1):
        tests.append(_test(r, depth, number))
    return tests


def _test(r: _Reader, depth: int, number: int) -> KtapTest:
    pad = INDENT * depth
    diagnostics: list[str] = []
    subtests: list[KtapTest] = []
    while True:
        line = r.peek()
        if line is None:
            raise r.fail(f"end of text before the result of test {number}")
        if line.startswith(pad + "# "):
            diagnostics.append(line[len(pad) + 2 :])
            r.pos += 1
        elif line == pad + INDENT + VERSION:
            if subtests:
                raise r.fail("a second block of subtests for one test")
            subtests = _block(r, depth + 1)
        else:
            break
    body = line[len(pad) :]
    if not line.startswith(pad) or body[:1].isspace():
        raise r.fail(f"expected test {number}'s result line at indentation {len(pad)}")
    m = RESULT.fullmatch(body)
    if m is None:
        raise r.fail("not a KTAP result line (or a '#' in the description)")
    if int(m["number"]) != number:
        raise r.fail(f"test number {m['number']}, expected {number}")
    ok = m["result"] == "ok"
    directive = m["directive"]
    if directive in ("TIMEOUT", "ERROR") and ok:
        raise r.fail(f"{directive} goes with 'not ok'")
    failed = [t for t in subtests if not t.ok and t.directive != "SKIP"]
    if failed and ok and directive != "SKIP":
        raise r.fail("a subtest failed but its parent is ok")
    r.pos += 1
    return KtapTest(number, m["name"], ok, directive, m["data"], subtests, diagnostics)


def parse(text: str) -> tuple[list[KtapTest], list[str]]:
    """(tests, trailing diagnostic lines) of a whole KTAP document; KtapError if it breaks
    the grammar anywhere (unknown lines included: we write none)."""
    if not text.endswith("\n"):
        raise KtapError("the text does not end with a newline")
    r = _Reader(text[:-1].split("\n"))
    tests = _block(r, 0)
    trailing = []
    while (line := r.peek()) is not None:
        if not line.startswith("# "):
            raise r.fail("after the last test: only diagnostic lines")
        trailing.append(line[2:])
        r.pos += 1
    return tests, trailing


# -- the kernel's kunit_parser ------------------------------------------------------------------
def kunit_parsers(cache: Path) -> list[Path]:
    """tools/testing/kunit of every unpacked kernel source in the cache (guest-kernel/build.sh
    keeps linux/SERIES/pristine-VERSION/)."""
    found = cache.glob("linux/*/pristine-*/tools/testing/kunit/kunit_parser.py")
    return sorted(p.parent for p in found)


_RUNNER = r"""
import inspect, io, json, sys
sys.path.insert(0, sys.argv[1])
real, sys.stdout = sys.stdout, io.StringIO()  # its printer writes to the stdout of its import
import kunit_parser, kunit_printer
lines = sys.stdin.read().splitlines(keepends=True)
if "printer" in inspect.signature(kunit_parser.parse_run_tests).parameters:
    test = kunit_parser.parse_run_tests(lines, kunit_printer.Printer(output=io.StringIO()))
else:
    test = kunit_parser.parse_run_tests(lines)
def tree(t):
    return {"name": t.name, "status": t.status.name, "errors": t.counts.errors,
            "skip_reason": getattr(t, "skip_reason", None), "counts": str(t.counts),
            "subtests": [tree(s) for s in t.subtests]}
real.write(json.dumps(tree(test)))
"""


def kunit_parse(kunit_dir: Path, text: str) -> dict[str, Any]:
    """What kunit_parser makes of `text`: the main test as a tree of name, status (a
    kunit_parser.TestStatus name), errors (parse errors, this test's and below), skip_reason
    (None where that kernel's parser has none) and subtests."""
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(kunit_dir)],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    if proc.returncode != 0:
        raise AssertionError(f"kunit_parser of {kunit_dir} failed: {proc.stderr[-2000:]}")
    tree: dict[str, Any] = json.loads(proc.stdout)
    return tree
