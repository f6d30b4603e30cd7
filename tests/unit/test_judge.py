from __future__ import annotations

from pathlib import Path

import pytest

from faultlab import judge

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> str:
    return (FIXTURES / name).read_text()


def kinds(text: str) -> list[str]:
    return [f.kind for f in judge.find_reports(text)]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("x86_panic_no_root.txt", ["panic"]),
        ("x86_null_deref_oops.txt", ["unable_to_handle", "panic"]),
        ("x86_warning.txt", ["warning"]),
        ("x86_kasan.txt", ["kasan"]),
        ("x86_lockdep.txt", ["lockdep"]),
        ("x86_hung_task.txt", ["hung_task"]),
        ("x86_gpf.txt", ["gpf", "panic"]),
        ("x86_rcu_stall.txt", ["rcu_stall", "rcu_stall"]),
        ("x86_bug_sleeping.txt", ["bug", "bug"]),
        ("arm64_oops.txt", ["unable_to_handle", "panic"]),
        ("arm64_bug.txt", ["kernel_bug"]),
        ("ppc64_oops.txt", ["unable_to_handle", "panic"]),
        ("ppc64_warning.txt", ["warning"]),
    ],
)
def test_recorded_reports(fixture: str, expected: list[str]) -> None:
    assert kinds(load(fixture)) == expected


@pytest.mark.parametrize(
    "fixture", ["clean_x86_boot.txt", "clean_arm64_boot.txt", "clean_ppc64_powernv_boot.txt"]
)
def test_clean_boot_logs_have_no_findings(fixture: str) -> None:
    assert judge.find_reports(load(fixture)) == []


def test_panic_excerpt_runs_to_end_marker() -> None:
    (finding,) = judge.find_reports(load("x86_panic_no_root.txt"))
    assert finding.title == (
        "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"
    )
    assert finding.fatal
    first, *_, last = finding.excerpt.splitlines()
    assert "Kernel panic - not syncing" in first
    assert "---[ end Kernel panic" in last
    assert judge.report_complete(finding)


def test_oops_excerpt_stops_at_end_trace_and_panic_is_separate() -> None:
    oops, panic = judge.find_reports(load("x86_null_deref_oops.txt"))
    assert oops.title.startswith("BUG: kernel NULL pointer dereference")
    assert "Oops: Oops: 0000 [#1]" in oops.excerpt
    assert oops.excerpt.splitlines()[-1].endswith("---[ end trace 0000000000000000 ]---")
    assert panic.title == "Kernel panic - not syncing: Fatal exception"


def test_warning_excerpt_includes_cut_here_marker() -> None:
    (warn,) = judge.find_reports(load("x86_warning.txt"))
    assert warn.excerpt.splitlines()[0].endswith("------------[ cut here ]------------")
    assert warn.title.startswith("WARNING: CPU: 1 PID: 187 at drivers/iommu/intel/iommu.c")
    assert not warn.fatal
    assert "random: crng reseeded" not in warn.excerpt


def test_cut_here_then_kernel_bug_is_kernel_bug() -> None:
    (bug,) = judge.find_reports(load("arm64_bug.txt"))
    assert bug.kind == "kernel_bug"
    assert "Internal error: Oops - BUG" in bug.excerpt


def test_kasan_excerpt_ends_at_closing_rule() -> None:
    (kasan,) = judge.find_reports(load("x86_kasan.txt"))
    assert kasan.title.startswith("BUG: KASAN: slab-out-of-bounds in faultlab_oob_write")
    assert kasan.excerpt.splitlines()[-1].endswith("=" * 66)
    assert "Disabling lock debugging" not in kasan.excerpt


def test_lockdep_excerpt_is_bounded() -> None:
    (report,) = judge.find_reports(load("x86_lockdep.txt"))
    assert report.excerpt.count("\n") + 1 <= judge.EXCERPT_LINES
    assert "DEADLOCK" in report.excerpt


def test_excerpt_capped_without_end_marker() -> None:
    text = "[    1.000000] Kernel panic - not syncing: test\n" + "".join(
        f"[    1.{i:06d}] line {i}\n" for i in range(100)
    )
    (finding,) = judge.find_reports(text)
    assert finding.excerpt.count("\n") + 1 == judge.EXCERPT_LINES


def test_crlf_console_and_printk_caller_prefix() -> None:
    text = load("arm64_oops.txt").replace("\n", "\r\n")
    found = judge.find_reports(text)
    assert [f.kind for f in found] == ["unable_to_handle", "panic"]
    assert "\r" not in found[0].excerpt
    assert found[0].title.startswith("Unable to handle kernel NULL pointer dereference")


@pytest.mark.parametrize(
    "line",
    [
        "WARNING: unsupported option 'foo' ignored",
        "[    0.010000] Kernel command line: console=ttyS0 panic=-1 oops=panic",
        "[    0.300000] ACPI BIOS Warning (bug): Incorrect checksum in table [DMAR]",
        "[    0.300000] some driver: no BUG here, just a mention of Oops in the middle",
        "echo 'Kernel panic - not syncing' is quoted by a script",
    ],
)
def test_lines_that_are_not_reports(line: str) -> None:
    assert judge.classify(line) is None


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("<4>[    3.000000] WARNING: CPU: 0 PID: 1 at lib/foo.c:1 foo+0x1/0x2", "warning"),
        ("WARNING: kernel/foo.c:12 at bar+0x10/0x20, CPU#0: swapper/0/1", "warning"),
        # 7.x without DEBUG_BUGVERBOSE (kernel/panic.c __warn)
        ("[    4.1] WARNING: at vas_mmap_close+0x4c/0x90, CPU#0: sh/97", "warning"),
        ("[   99.0] INFO: task cat:81 blocked in I/O wait for more than 60 seconds.", "hung_task"),
        ("[   99.0] INFO: task cat:81 blocked for more than 60 seconds.", "hung_task"),
        ("[    2.0][    T1] general protection fault, probably for non-canonical", "gpf"),
        ("[   60.000000] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [sh:260]", "bug"),
        ("[    9.0] WARNING: possible recursive locking detected", "lockdep"),
        ("[    9.0] WARNING: inconsistent lock state", "lockdep"),
        (
            "[    9.0] BUG: unable to handle page fault for address: ffffed1000000000",
            "unable_to_handle",
        ),
        ("[    9.0] INFO: rcu_sched self-detected stall on CPU", "rcu_stall"),
        ("[    9.0] kernel BUG at mm/slub.c:456!", "kernel_bug"),
    ],
)
def test_classify(line: str, kind: str) -> None:
    assert judge.classify(line) == kind


def test_merge_findings_dedups_console_and_dmesg() -> None:
    console = judge.find_reports(load("x86_warning.txt"))
    dmesg = judge.find_reports(load("x86_warning.txt").replace("[    7.", "[    8."))
    assert len(judge.merge_findings(console, dmesg)) == 1


def test_findings_verdict_prefers_fatal_and_mentions_panic() -> None:
    verdict = judge.findings_verdict(judge.find_reports(load("arm64_oops.txt")))
    assert verdict is not None
    assert verdict.verdict == "fail"
    assert verdict.failure == "kernel_unable_to_handle"
    assert "then kernel panic" in verdict.reason
    assert verdict.excerpt and "Internal error: Oops" in verdict.excerpt
    assert judge.findings_verdict([]) is None


def test_boot_timeout_verdict_has_last_50_lines() -> None:
    text = "".join(f"line {i}\r\n" for i in range(200))
    verdict = judge.boot_timeout_verdict(text, 120)
    assert verdict.failure == "boot_timeout"
    assert "120 s" in verdict.reason
    assert verdict.excerpt is not None
    rows = verdict.excerpt.splitlines()
    assert len(rows) == judge.TAIL_LINES
    assert rows[0] == "line 150" and rows[-1] == "line 199"
