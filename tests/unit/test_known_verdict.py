"""Known issues in a run's verdict: pure decisions, then scenarios, the CLI and a boot
against the fake guest, whose console the tests script (fake_qemu's "fake-console")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes import FakeCache
from faultlab import judge, known_verdict
from faultlab.known_issues import KnownIssue, parse
from faultlab.scenario import SCENARIOS, Scenario, ScenarioContext, run_scenario

# The fake's bench kernel is 6.12.1-faultlab (series 6.12).
WARN_612 = [
    "[    7.400100] ------------[ cut here ]------------",
    "[    7.400200] Invalid paste address mmaping",
    "[    7.400500] WARNING: CPU: 0 PID: 97 at arch/powerpc/platforms/book3s/vas-api.c:578 "
    "vas_mmap_close+0x5c/0x100",
    "[    7.401100] Modules linked in:",
    "[    7.405400] ---[ end trace 0000000000000000 ]---",
]
WARN_7X = [
    "[    7.400100] ------------[ cut here ]------------",
    "[    7.400500] WARNING: at vas_mmap_close+0x5c/0x100, CPU#0: nx-fault/97",
    "[    7.405400] ---[ end trace 0000000000000000 ]---",
]
OOPS = [
    "[    9.100000] BUG: kernel NULL pointer dereference, address: 0000000000000010",
    "[    9.200000] Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI",
    "[    9.300000] ---[ end trace 0000000000000000 ]---",
]
VAS = "WARNING: .* at vas_mmap_close\\+"


def issue_toml(
    ident: str = "vas-mmap-close-fork",
    scenarios: str = "zz/known",
    series: str = "6.12",
    kind: str = "warning",
    signature: str = VAS,
    intermittent: str | None = None,
) -> str:
    text = (
        f'[[issue]]\nid = "{ident}"\nseries = ["{series}"]\nscenarios = ["{scenarios}"]\n'
        f'kind = "{kind}"\nsignature = \'{signature}\'\nupstream = "unreported"\n'
        'note = "the WARN_ON in vas_mmap_close"\n'
    )
    return text + (f'intermittent = "{intermittent}"\n' if intermittent else "")


def issues(*tables: str) -> tuple[KnownIssue, ...]:
    return parse("".join(tables))


def console(lines: list[str]) -> str:
    return "fake-console " + json.dumps(lines)


# -- pure decisions ------------------------------------------------------------------------
def finding(title: str, kind: str = "warning") -> judge.Finding:
    return judge.Finding(kind, 3, title, f"excerpt of {title}")


KNOWN = finding("WARNING: at vas_mmap_close+0x5c/0x100, CPU#0: nx-fault/97")
OTHER = finding("WARNING: CPU: 1 PID: 187 at intel_iommu_attach_device+0x7d/0xb0")
PASS = judge.Verdict("pass", None, "all 2 checks held")


def test_triage_sorts_reports_into_known_and_unknown() -> None:
    t = known_verdict.triage([KNOWN, OTHER], issues(issue_toml()))
    assert [m.issue.id for m in t.matches] == ["vas-mmap-close-fork"] and t.unknown == (OTHER,)
    assert t.issue_of(KNOWN) is not None and t.issue_of(OTHER) is None
    assert t.as_dict()["matched"][0] == {  # type: ignore[index]
        "issue": "vas-mmap-close-fork",
        "upstream": "unreported",
        "signature": VAS,
        "note": "the WARN_ON in vas_mmap_close",
        "kind": "warning",
        "line": 3,
        "title": KNOWN.title,
        "excerpt": KNOWN.excerpt,
    }


def test_final_verdict_cases() -> None:
    known = known_verdict.triage([KNOWN], issues(issue_toml()))
    verdict = known_verdict.final_verdict(PASS, True, known, scenario=True)
    assert verdict == judge.Verdict(
        "known-issue", None, f"vas-mmap-close-fork: {VAS} (unreported)", KNOWN.excerpt
    )
    failed = judge.Verdict("fail", "check", "1 of 2 checks failed: x")
    assert known_verdict.final_verdict(failed, True, known, scenario=True) is None  # stays
    skipped = judge.Verdict("skip", "scenario_skip", "no model")
    assert known_verdict.final_verdict(skipped, True, known, scenario=True) is None
    assert known_verdict.final_verdict(PASS, False, known, scenario=True) is None
    mixed = known_verdict.triage([KNOWN, OTHER], issues(issue_toml()))
    verdict = known_verdict.final_verdict(PASS, True, mixed, scenario=True)
    assert verdict is not None and (verdict.verdict, verdict.failure) == ("fail", "kernel_warning")
    assert verdict.reason == (
        f"kernel WARNING: {OTHER.title} (also known issue vas-mmap-close-fork, unreported)"
    )
    boot = known_verdict.final_verdict(PASS, True, known, scenario=False)
    assert boot is not None and (boot.verdict, boot.failure) == ("fail", "kernel_warning")
    assert (
        boot.reason
        == f"kernel WARNING: {KNOWN.title} (known issue vas-mmap-close-fork, unreported)"
    )
    none = known_verdict.triage([], issues(issue_toml()))
    assert known_verdict.final_verdict(PASS, True, none, scenario=True) is None


def test_reproduction_checks_and_measurements() -> None:
    table = issue_toml() + issue_toml("race", intermittent="needs two CPUs")
    absent = known_verdict.triage([], issues(table))
    (check,) = known_verdict.reproduction_checks(absent)
    assert (check.name, check.ok, check.observed) == (
        "known issue vas-mmap-close-fork still reproduces",
        False,
        "absent",
    )
    assert check.expected == f"present: warning {VAS}"
    assert known_verdict.measurements(absent) == {"known issue race": "did not reproduce this run"}
    present = known_verdict.triage([KNOWN], issues(table))  # the first entry matches it
    assert [c.ok for c in known_verdict.reproduction_checks(present)] == [True]


# -- scenarios against the fake guest --------------------------------------------------------
def make(name: str, body: object) -> Scenario:
    return Scenario(name, "x86_64", "test", body)  # type: ignore[arg-type]


def run(
    cache: FakeCache, sc: Scenario, known: tuple[KnownIssue, ...]
) -> tuple[str, str, dict[str, object]]:
    where = cache.results / sc.name.replace("/", "_")
    outcome = run_scenario(sc, result_dir=where, issues=known)
    data = json.loads((where / "result.json").read_text())
    assert data["verdict"] == outcome.verdict
    assert [c.as_dict() for c in outcome.checks] == data["extra"]["checks"]
    return outcome.verdict, outcome.reason, data


def warns(*lines: list[str]) -> object:
    def body(ctx: ScenarioContext) -> None:
        for report in lines:
            ctx.sh(console(report))
        ctx.expect_eq("fine", 1, 1)

    return body


def test_every_report_known_and_checks_held_is_known_issue(cache: FakeCache) -> None:
    sc = make("zz/known", warns(WARN_612))
    verdict, reason, data = run(cache, sc, issues(issue_toml()))
    assert (verdict, reason) == ("known-issue", f"vas-mmap-close-fork: {VAS} (unreported)")
    assert data["failure"] is None and "Invalid paste address mmaping" in str(data["excerpt"])
    (matched,) = data["known_issues"]["matched"]  # type: ignore[index]
    assert matched["issue"] == "vas-mmap-close-fork" and matched["kind"] == "warning"
    assert matched["title"].endswith("vas-api.c:578 vas_mmap_close+0x5c/0x100")
    assert "Invalid paste address mmaping" in matched["excerpt"]
    assert "---[ end trace" in matched["excerpt"]
    assert data["known_issues"]["applied"][0]["id"] == "vas-mmap-close-fork"  # type: ignore[index]
    assert data["known_issues"]["absent"] == []  # type: ignore[index]
    assert [f["known_issue"] for f in data["findings"]] == ["vas-mmap-close-fork"]  # type: ignore[union-attr]
    assert [(c["name"], c["ok"]) for c in data["extra"]["checks"]] == [  # type: ignore[index]
        ("fine", True),
        ("known issue vas-mmap-close-fork still reproduces", True),
    ]


def test_a_7x_warning_matches_the_same_entry(cache: FakeCache) -> None:
    verdict, _, _ = run(cache, make("zz/known", warns(WARN_7X)), issues(issue_toml()))
    assert verdict == "known-issue"


def test_one_unknown_report_still_fails(cache: FakeCache) -> None:
    sc = make("zz/known", lambda ctx: (ctx.sh("trigger-warn"), warns(WARN_612)(ctx)))
    verdict, reason, data = run(cache, sc, issues(issue_toml()))
    assert verdict == "fail" and data["failure"] == "kernel_warning"
    assert "intel_iommu_attach_device" in reason
    assert reason.endswith("(also known issue vas-mmap-close-fork, unreported)")
    known = [f["known_issue"] for f in data["findings"]]  # type: ignore[union-attr]
    assert known == [None, "vas-mmap-close-fork"]


def test_a_failed_check_still_fails_with_a_known_report(cache: FakeCache) -> None:
    def body(ctx: ScenarioContext) -> None:
        ctx.sh(console(WARN_612))
        ctx.expect_eq("dst bytes", "abcd", "abce")

    verdict, reason, data = run(cache, make("zz/known", body), issues(issue_toml()))
    assert (verdict, reason) == ("fail", "1 of 2 checks failed: dst bytes")
    assert data["failure"] == "check"
    assert data["known_issues"]["matched"][0]["issue"] == "vas-mmap-close-fork"  # type: ignore[index]


def test_a_known_issue_that_did_not_reproduce_fails_with_its_check(cache: FakeCache) -> None:
    verdict, reason, data = run(cache, make("zz/known", warns()), issues(issue_toml()))
    assert verdict == "fail" and data["failure"] == "check"
    assert reason == "1 of 2 checks failed: known issue vas-mmap-close-fork still reproduces"
    assert data["extra"]["checks"][-1] == {  # type: ignore[index]
        "name": "known issue vas-mmap-close-fork still reproduces",
        "ok": False,
        "observed": "absent",
        "expected": f"present: warning {VAS}",
    }
    assert data["known_issues"]["absent"] == ["vas-mmap-close-fork"]  # type: ignore[index]


def test_an_intermittent_issue_that_did_not_reproduce_is_a_measurement(cache: FakeCache) -> None:
    known = issues(issue_toml(intermittent="the child must exit before the parent unmaps"))
    verdict, reason, data = run(cache, make("zz/known", warns()), known)
    assert (verdict, reason) == ("pass", "all 1 checks held")
    measured = data["extra"]["measurements"]  # type: ignore[index]
    assert measured == {"known issue vas-mmap-close-fork": "did not reproduce this run"}
    assert data["known_issues"]["not_reproduced"] == ["vas-mmap-close-fork"]  # type: ignore[index]
    verdict, _, data = run(cache, make("zz/known2", warns(WARN_612)), known_for("zz/known2", known))
    assert verdict == "known-issue"
    measured = data["extra"]["measurements"]  # type: ignore[index]
    assert measured == {"known issue vas-mmap-close-fork": "reproduced this run"}


def known_for(name: str, known: tuple[KnownIssue, ...]) -> tuple[KnownIssue, ...]:
    from dataclasses import replace

    return tuple(replace(i, scenarios=(name,)) for i in known)


@pytest.mark.parametrize(
    "table",
    [issue_toml(series="7.3"), issue_toml(scenarios="zz/other")],
    ids=["other-series", "other-scenario"],
)
def test_an_entry_for_another_series_or_scenario_does_not_apply(
    cache: FakeCache, table: str
) -> None:
    verdict, _, data = run(cache, make("zz/known", warns(WARN_612)), issues(table))
    assert verdict == "fail" and data["failure"] == "kernel_warning"
    assert data["known_issues"]["applied"] == []  # type: ignore[index]
    assert [c["name"] for c in data["extra"]["checks"]] == ["fine"]  # type: ignore[index]


def test_a_known_oops_does_not_stop_the_scenario(
    cache: FakeCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faultlab import boot

    monkeypatch.setattr(boot, "FATAL_GRACE_SECONDS", 0.3)

    def body(ctx: ScenarioContext) -> None:
        ctx.sh(console(OOPS))
        ctx.expect_eq("still answering", ctx.must("sleep 1; echo up").strip(), "up")

    oops = issue_toml("null-deref", kind="unable_to_handle", signature="NULL pointer dereference")
    verdict, reason, _ = run(cache, make("zz/known", body), issues(oops))
    assert (verdict, reason) == ("known-issue", "null-deref: NULL pointer dereference (unreported)")
    verdict, _, data = run(cache, make("zz/unknown", body), issues(oops))  # not its scenario
    assert verdict == "fail" and data["failure"] == "kernel_unable_to_handle"


# -- a plain boot ----------------------------------------------------------------------------
def known_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "known-issues.toml"
    path.write_text(text)
    monkeypatch.setenv("FAULTLAB_KNOWN_ISSUES", str(path))


def test_boot_names_a_known_report_and_keeps_exit_2(
    cache: FakeCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    iommu = issue_toml("iommu-attach", scenarios="any/thing", signature="intel_iommu_attach_device")
    known_file(tmp_path, monkeypatch, iommu)
    proc = cache.cli("boot", "x86_64", "--", "trigger-warn")
    assert proc.returncode == 2, proc.stderr
    assert (
        "faultlab: FAIL: kernel WARNING: WARNING: CPU: 1 PID: 187 at drivers/iommu/intel/"
        "iommu.c:3457 intel_iommu_attach_device+0x7d/0xb0 (known issue iommu-attach, unreported)"
    ) in proc.stderr
    data = json.loads((cache.result_dirs()[0] / "result.json").read_text())
    assert (data["verdict"], data["failure"]) == ("fail", "kernel_warning")
    assert data["known_issues"]["matched"][0]["issue"] == "iommu-attach"
    assert [f["known_issue"] for f in data["findings"]] == ["iommu-attach"]
    known_file(tmp_path, monkeypatch, iommu.replace('"6.12"', '"7.3"'))  # not this kernel's
    proc = cache.cli("boot", "x86_64", "--", "trigger-warn")
    assert proc.returncode == 2 and "known issue" not in proc.stderr


# -- the CLI ---------------------------------------------------------------------------------
def register(monkeypatch: pytest.MonkeyPatch, **bodies: object) -> None:
    from faultlab import cli
    from faultlab.scenario import load_scenarios

    load_scenarios()
    for name, body in bodies.items():
        monkeypatch.setitem(SCENARIOS, f"zz/{name}", make(f"zz/{name}", body))
    monkeypatch.setattr(cli, "install_signal_handlers", lambda: None)


def test_cli_prints_the_known_issue_and_exits_5(
    cache: FakeCache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from faultlab import cli

    register(monkeypatch, known=warns(WARN_612), fine=warns())
    known_file(tmp_path, monkeypatch, issue_toml())
    code = cli.main(["run", "zz/known"])
    out = capsys.readouterr().out
    assert code == 5
    lines = out.splitlines()
    assert lines[0].startswith(f"zz/known: KNOWN ISSUE: vas-mmap-close-fork: {VAS} (unreported) (")
    assert "  ok   fine: observed 1; expected 1" in lines
    assert "  ok   known issue vas-mmap-close-fork still reproduces: observed present; " in out
    assert "  known issue vas-mmap-close-fork: WARNING: CPU: 0 PID: 97 at arch/" in out
    assert "PASS" not in out
    assert cli.main(["run", "zz/known", "zz/fine"]) == 5  # a known issue and a pass
    out = capsys.readouterr().out
    assert "zz/fine: PASS: all 1 checks held" in out


def test_cli_a_fixed_kernel_fails_the_scenario(
    cache: FakeCache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from faultlab import cli

    register(monkeypatch, known=warns())
    known_file(tmp_path, monkeypatch, issue_toml())
    assert cli.main(["run", "zz/known"]) == 2
    out = capsys.readouterr().out
    assert "zz/known: FAIL: 1 of 2 checks failed: known issue vas-mmap-close-fork" in out
    assert (
        "  FAIL known issue vas-mmap-close-fork still reproduces: observed absent; "
        f"expected present: warning {VAS}" in out
    )


def test_cli_an_intermittent_absent_issue_is_a_note(
    cache: FakeCache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from faultlab import cli

    register(monkeypatch, known=warns())
    known_file(tmp_path, monkeypatch, issue_toml(intermittent="a race with the child's exit"))
    assert cli.main(["run", "zz/known"]) == 0
    out = capsys.readouterr().out
    assert "zz/known: PASS: all 1 checks held" in out
    assert "  note known issue vas-mmap-close-fork did not reproduce this run" in out


def test_cli_a_malformed_file_is_bad_input_before_anything_boots(
    cache: FakeCache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from faultlab import cli

    register(monkeypatch, known=warns())
    known_file(tmp_path, monkeypatch, issue_toml().replace("kind", "kinds"))
    assert cli.main(["run", "zz/known"]) == 3
    err = capsys.readouterr().err
    assert err.strip() == (
        f"faultlab: {tmp_path}/known-issues.toml: [[issue]] #1 (id 'vas-mmap-close-fork'): "
        "unknown field 'kinds' (fields: id, scenarios, kind, signature, upstream, note, "
        "series, since, until, intermittent)"
    )
    assert cache.result_dirs() == []
    known_file(tmp_path, monkeypatch, issue_toml(scenarios="zz/nope"))
    assert cli.main(["run", "zz/known"]) == 3
    assert "scenario 'zz/nope' matches no scenario" in capsys.readouterr().err


# -- pytest: a known issue is an xfail, never a pass or a skip --------------------------------
def e2e_module(monkeypatch: pytest.MonkeyPatch, outcome: object) -> object:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "e2e" / "test_scenarios.py"
    spec = importlib.util.spec_from_file_location("e2e_test_scenarios", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(module.SCENARIOS, "zz/known", make("zz/known", warns()))
    monkeypatch.setattr(module, "missing_artifacts", lambda *a, **kw: [])
    monkeypatch.setattr(module, "run_scenario", lambda *a, **kw: outcome)
    return module


def test_e2e_known_issue_is_an_xfail_naming_the_entry(
    cache: FakeCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = make("zz/known", warns(WARN_612))
    outcome = run_scenario(sc, result_dir=cache.results / "k", issues=issues(issue_toml()))
    module = e2e_module(monkeypatch, outcome)
    with pytest.raises(pytest.xfail.Exception) as info:
        module._run("zz/known", "6.12")  # type: ignore[attr-defined]
    assert str(info.value).startswith(f"known issue vas-mmap-close-fork (unreported): {VAS}")
    outcome.result.known_issues = {}  # type: ignore[union-attr]  # no entry recorded: no xfail
    with pytest.raises(AssertionError, match="known-issue verdict without a matched entry"):
        module._run("zz/known", "6.12")  # type: ignore[attr-defined]


def test_e2e_known_issue_that_did_not_reproduce_fails(
    cache: FakeCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = make("zz/known", warns())
    outcome = run_scenario(sc, result_dir=cache.results / "k", issues=issues(issue_toml()))
    module = e2e_module(monkeypatch, outcome)
    with pytest.raises(AssertionError, match="known issue vas-mmap-close-fork still reproduces"):
        module._run("zz/known", "6.12")  # type: ignore[attr-defined]
