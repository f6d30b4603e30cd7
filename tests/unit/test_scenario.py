"""The scenario machinery against the fake QEMU: verdicts come from checks, never by default."""

from __future__ import annotations

import json

import pytest

from fakes import FakeCache
from faultlab.errors import UsageError
from faultlab.scenario import SCENARIOS, Scenario, ScenarioContext, run_scenario, select


def make(name: str, body: object, **kw: object) -> Scenario:
    return Scenario(name, "x86_64", "test", body, **kw)  # type: ignore[arg-type]


def run(cache: FakeCache, sc: Scenario) -> tuple[str, str, dict[str, object]]:
    outcome = run_scenario(sc, result_dir=cache.results / sc.name.replace("/", "_"))
    assert outcome.result is not None and outcome.result_dir
    data = json.loads((cache.results / sc.name.replace("/", "_") / "result.json").read_text())
    return outcome.verdict, outcome.reason, data


def test_all_checks_hold_is_a_pass(cache: FakeCache) -> None:
    def body(ctx: ScenarioContext) -> None:
        data = ctx.json('echo noise; echo \'{"bytes": 4096, "mismatches": 0}\'')
        ctx.expect_eq("mismatches", data["mismatches"], 0)
        ctx.expect_range("bytes", data["bytes"], 4096, 4096)
        ctx.measure("bytes", data["bytes"])
        ctx.expect_eq("non-zero exit is data", ctx.sh("exit 5").exit_code, 5)

    verdict, reason, data = run(cache, make("t/pass", body))
    assert (verdict, reason) == ("pass", "all 3 checks held")
    extra = data["extra"]
    assert isinstance(extra, dict) and extra["measurements"] == {"bytes": 4096}
    assert [c["ok"] for c in extra["checks"]] == [True, True, True]


def test_a_failed_check_fails_with_its_name(cache: FakeCache) -> None:
    def body(ctx: ScenarioContext) -> None:
        ctx.expect_eq("first", 1, 1)
        ctx.expect_eq("dst bytes", "abcd", "abce")

    verdict, reason, data = run(cache, make("t/fail", body))
    assert verdict == "fail" and reason == "1 of 2 checks failed: dst bytes"
    assert data["failure"] == "check"
    checks = data["extra"]["checks"]  # type: ignore[index]
    assert checks[1] == {"name": "dst bytes", "ok": False, "observed": "abcd", "expected": "abce"}


def test_expect_absent_fails_when_the_message_is_there(cache: FakeCache) -> None:
    def body(ctx: ScenarioContext) -> None:
        assert ctx.expect_absent("no oops", "Oops", "boot ok\n")
        assert not ctx.expect_absent(
            "no hung task", "blocked for more than", "task x blocked for more than 120 seconds"
        )

    verdict, reason, data = run(cache, make("t/absent", body))
    assert verdict == "fail" and "no hung task" in reason
    recorded = data["extra"]["checks"]  # type: ignore[index]
    checks = [(c["name"], c["ok"], c["observed"], c["expected"]) for c in recorded]
    assert checks == [
        ("no oops", True, "absent", "absent"),
        ("no hung task", False, "present", "absent"),
    ]


def test_no_checks_is_an_error_not_a_pass(cache: FakeCache) -> None:
    verdict, reason, _ = run(cache, make("t/none", lambda ctx: None))
    assert (verdict, reason) == ("error", "the scenario made no checks")


def test_skip_keeps_its_reason(cache: FakeCache) -> None:
    def body(ctx: ScenarioContext) -> None:
        ctx.skip("no stall model on this machine")

    verdict, reason, _ = run(cache, make("t/skip", body))
    assert (verdict, reason) == ("skip", "no stall model on this machine")


def test_missing_guest_file_skips_naming_it(cache: FakeCache) -> None:
    sc = make("t/files", lambda ctx: ctx.expect_eq("x", 1, 1), guest_files=("/nonexistent/fldma",))
    verdict, reason, _ = run(cache, sc)
    assert verdict == "skip" and "/nonexistent/fldma" in reason and "make images" in reason


def test_failed_step_fails_with_its_output(cache: FakeCache) -> None:
    def body(ctx: ScenarioContext) -> None:
        ctx.expect_eq("before", 1, 1)
        ctx.json("echo broken >&2; exit 9")

    verdict, reason, data = run(cache, make("t/step", body))
    assert verdict == "fail" and "scenario steps completed" in reason
    failed = data["extra"]["checks"][-1]  # type: ignore[index]
    assert "status 9" in failed["observed"] and "broken" in failed["observed"]


def test_kernel_warning_beats_passing_checks(cache: FakeCache) -> None:
    def body(ctx: ScenarioContext) -> None:
        ctx.sh("trigger-warn")
        ctx.expect_eq("fine", 1, 1)

    verdict, _, data = run(cache, make("t/warn", body))
    assert verdict == "fail" and data["failure"] == "kernel_warning"


def test_qmp_from_a_scenario(cache: FakeCache) -> None:
    def body(ctx: ScenarioContext) -> None:
        ctx.expect_eq("status", ctx.qmp("query-status")["status"], "running")

    assert run(cache, make("t/qmp", body))[0] == "pass"


def test_select_by_name_group_and_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    from faultlab.scenario import load_scenarios

    load_scenarios()
    a, b = make("zz/a", lambda ctx: None), make("zz/b", lambda ctx: None)
    monkeypatch.setitem(SCENARIOS, "zz/a", a)
    monkeypatch.setitem(SCENARIOS, "zz/b", b)
    assert select(["zz/b"]) == [b]
    assert select(["zz"]) == [a, b] and select(["zz/", "zz/a"]) == [a, b]
    with pytest.raises(UsageError, match="unknown scenario 'zz/c'"):
        select(["zz/c"])


def test_cli_run_unknown_and_verdict_output(
    cache: FakeCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = cache.cli("run", "no/such")
    assert proc.returncode == 3 and "unknown scenario 'no/such'" in proc.stderr
    proc = cache.cli("scenarios")
    assert proc.returncode == 0 and "bench/guest-basics" in proc.stdout


def test_json_single_line_pretty_and_broken() -> None:
    from faultlab.scenario import StepFailed, parse_json_object

    assert parse_json_object("c", 'noise\n{"a": 1}\n') == {"a": 1}
    assert parse_json_object("c", 'noise\n{\n  "a": {"b": 2}\n}\n') == {"a": {"b": 2}}
    with pytest.raises(StepFailed, match="printed no JSON object"):
        parse_json_object("c", '{"a": \n')
