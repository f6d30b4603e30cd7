"""KTAP of a run (ktap.py): the text for every verdict, read back by our strict grammar and by
the kernel's own kunit_parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from faultlab import ktap, paths
from faultlab.checks import Check
from faultlab.run_record import NOT_RUN_INPUT, NOT_RUN_NEEDS, ScenarioRecord
from ktap_check import KtapError, kunit_parse, kunit_parsers, parse

KUNIT_DIRS = kunit_parsers(paths.cache_dir())  # before any test points the cache elsewhere
KUNIT_PARAMS: list[Path | None] = [*KUNIT_DIRS] or [None]  # None: a test that says why it skips
PANIC = "kernel panic: Kernel panic - not syncing: VFS: Unable to mount root fs"


def record(scenario: str, verdict: str, reason: str, *checks: Check, **kw: Any) -> ScenarioRecord:
    return ScenarioRecord(
        scenario=scenario,
        platform="x86_64",
        verdict=verdict,
        reason=reason,
        started_utc="2026-12-04T10:15:00Z",
        seconds=1.5,
        checks=checks,
        **kw,
    )


OK = Check("fine", True, "1", "1")
RUN = [
    record(
        "zz/pass",
        "pass",
        "all 2 checks held",
        OK,
        Check("bytes", True, "4096", "4096"),
        result_dir="/r/pass",
    ),
    record(
        "zz/fail",
        "fail",
        "1 of 2 checks failed: CR #2 written",
        OK,
        Check("CR #2 written", False, '{"status": 0}', "status 0x1 # done"),
        result_dir="/r/fail",
    ),
    record("zz/skip", "skip", "no DSA here", failure="scenario_skip"),
    record(
        "zz/needs",
        "skip",
        "NOT RUN: zz/needs needs what this kernel lacks: CONFIG_X=y is not set",
        not_run=NOT_RUN_NEEDS,
    ),
    record(
        "zz/input", "skip", "NOT RUN: missing kernel /k (make kernel-x86_64)", not_run=NOT_RUN_INPUT
    ),
    record(
        "zz/known",
        "known-issue",
        "vas-mmap-close-fork: WARNING: .* at vas_mmap_close\\+ (unreported)",
        OK,
        Check("known issue vas-mmap-close-fork still reproduces", True, "present", "present"),
        result_dir="/r/known",
    ),
    record("zz/error", "error", "QEMU would not start:\nno such device", result_dir="/r/error"),
    record("zz/panic", "fail", PANIC, failure="kernel_panic"),
]

EXPECTED = """\
KTAP version 1
1..8
  KTAP version 1
  1..2
  ok 1 fine
  ok 2 bytes
# results: /r/pass
ok 1 zz/pass
  KTAP version 1
  1..2
  ok 1 fine
  # observed {"status": 0}; expected status 0x1 # done
  not ok 2 CR _2 written
# zz/fail: 1 of 2 checks failed: CR #2 written
# results: /r/fail
not ok 2 zz/fail
ok 3 zz/skip # SKIP no DSA here
ok 4 zz/needs # SKIP NOT RUN: zz/needs needs what this kernel lacks: CONFIG_X=y is not set
ok 5 zz/input # SKIP NOT RUN: missing kernel /k (make kernel-x86_64)
  KTAP version 1
  1..2
  ok 1 fine
  ok 2 known issue vas-mmap-close-fork still reproduces
# results: /r/known
ok 6 zz/known # XFAIL known issue vas-mmap-close-fork: WARNING: .* at vas_mmap_close\\+ (unreported)
# zz/error: QEMU would not start: no such device
# results: /r/error
not ok 7 zz/error # ERROR QEMU would not start: no such device
# zz/panic: kernel panic: Kernel panic - not syncing: VFS - Unable to mount root fs
not ok 8 zz/panic
# Totals: pass:1 fail:2 xfail:1 xpass:0 skip:3 error:1
"""


def test_every_verdict_as_ktap() -> None:
    assert ktap.render(RUN) == EXPECTED


def test_our_grammar_reads_it_back() -> None:
    tests, trailing = parse(ktap.render(RUN))
    got = [(t.number, t.name, t.ok, t.directive, len(t.subtests)) for t in tests]
    assert got == [
        (1, "zz/pass", True, None, 2),
        (2, "zz/fail", False, None, 2),
        (3, "zz/skip", True, "SKIP", 0),
        (4, "zz/needs", True, "SKIP", 0),
        (5, "zz/input", True, "SKIP", 0),
        (6, "zz/known", True, "XFAIL", 2),
        (7, "zz/error", False, "ERROR", 0),
        (8, "zz/panic", False, None, 0),
    ]
    assert [(s.name, s.ok) for s in tests[1].subtests] == [("fine", True), ("CR _2 written", False)]
    assert tests[1].subtests[1].diagnostics == [
        'observed {"status": 0}; expected status 0x1 # done'
    ]
    assert tests[5].data is not None and tests[5].data.startswith("known issue vas-mmap-close-fork")
    assert trailing == ["Totals: pass:1 fail:2 xfail:1 xpass:0 skip:3 error:1"]


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("CR #2 written", "CR _2 written"),
        ("two\nlines\tand  spaces ", "two lines and spaces"),
        ("- dashed", "dashed"),
        ("#", "_"),
        ("", "unnamed"),
        (" \x00 ", "unnamed"),
        ("ok 1 looks like a result", "ok 1 looks like a result"),
    ],
)
def test_names_are_made_safe(raw: str, safe: str) -> None:
    assert ktap.safe_name(raw) == safe
    line = ktap.result_line(True, 1, raw)
    assert parse(f"KTAP version 1\n1..1\n{line}\n")[0][0].name == safe


def test_diagnostics_are_one_line_and_never_a_subtest_header() -> None:
    assert ktap.diagnostic("Subtest: x") == "# (Subtest: x)"
    assert ktap.diagnostic("a\r\nb", "  ") == "  # a b"
    assert ktap.directive_data("List of all partitions: # 3") == "List of all partitions - _ 3"
    assert ktap.render([]) == "KTAP version 1\n1..0\n# Totals: " + (
        "pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0\n"
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("TAP version 13\n1..0\n", "expected 'KTAP version 1'"),
        ("KTAP version 1\nok 1 a\n", "expected the plan"),
        ("KTAP version 1\n1..1\nok 1 a # b\n", "not a KTAP result line"),
        ("KTAP version 1\n1..1\nok 1 a#b\n", "not a KTAP result line"),
        ("KTAP version 1\n1..2\nok 1 a\nok 3 b\n", "test number 3, expected 2"),
        ("KTAP version 1\n1..2\nok 1 a\n", "end of text before the result of test 2"),
        ("KTAP version 1\n1..1\nok 1 a # ERROR x\n", "ERROR goes with 'not ok'"),
        ("KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  not ok 1 b\nok 1 a\n", "parent"),
        ("KTAP version 1\n1..1\n    KTAP version 1\n    1..0\nok 1 a\n", "indentation"),
        ("KTAP version 1\n1..1\nok 1 a\nstray\n", "only diagnostic lines"),
        ("KTAP version 1\n1..1\nok 1 a", "newline"),
    ],
)
def test_our_grammar_is_strict(text: str, why: str) -> None:
    with pytest.raises(KtapError, match=why):
        parse(text)


# -- the kernel's parser ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kunit_dir",
    KUNIT_PARAMS,
    ids=[p.parents[3].name for p in KUNIT_DIRS] or ["no-kernel-source"],
)
def test_kunit_parser_reads_every_verdict(kunit_dir: Path | None) -> None:
    if kunit_dir is None:
        pytest.skip(
            f"no unpacked kernel source with tools/testing/kunit/kunit_parser.py under "
            f"{paths.cache_dir()}/linux/ (make kernels unpacks it)"
        )
    main = kunit_parse(kunit_dir, "unrelated console line\n" + ktap.render(RUN))
    assert main["errors"] == 0, main
    got = [(t["name"], t["status"], len(t["subtests"])) for t in main["subtests"]]
    assert got == [
        ("zz/pass", "SUCCESS", 2),
        ("zz/fail", "FAILURE", 2),
        ("zz/skip", "SKIPPED", 0),
        ("zz/needs", "SKIPPED", 0),
        ("zz/input", "SKIPPED", 0),
        ("zz/known", "SUCCESS", 2),  # XFAIL: kunit_parser keeps the ok, as kselftest means it
        ("zz/error", "FAILURE", 0),
        ("zz/panic", "FAILURE", 0),  # its reason did not end the KTAP for kunit_parser
    ]
    fail = main["subtests"][1]["subtests"]
    assert [(t["name"], t["status"]) for t in fail] == [
        ("fine", "SUCCESS"),
        ("CR _2 written", "FAILURE"),
    ]
    assert main["status"] == "FAILURE"
    skip = main["subtests"][2]
    if skip["skip_reason"] is not None:  # 6.12's parser keeps no reason
        assert skip["skip_reason"] == "no DSA here"
