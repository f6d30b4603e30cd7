"""The scenario machinery against the fake QEMU: verdicts come from checks, never by default."""

from __future__ import annotations

import json
import re

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


def test_body_raising_fails_and_keeps_every_check(cache: FakeCache) -> None:
    def body(ctx: ScenarioContext) -> None:
        ctx.expect_eq("held", 1, 1)
        ctx.expect_eq("did not hold", 1, 2)
        decoded: dict[str, int] = {}
        ctx.measure("before the crash", decoded.get("x", 7))
        decoded["status"] += 1  # a decoder's KeyError

    verdict, reason, data = run(cache, make("t/raises", body))
    assert verdict == "fail" and data["failure"] == "check"
    assert reason == "2 of 3 checks failed: did not hold, scenario body raised"
    extra = data["extra"]
    assert isinstance(extra, dict)
    checks = extra["checks"]
    assert [(c["name"], c["ok"]) for c in checks] == [
        ("held", True),
        ("did not hold", False),
        ("scenario body raised", False),
    ]
    raised = checks[2]
    assert re.fullmatch(
        r"KeyError: 'status' at test_scenario\.py:\d+ body < scenario\.py:\d+ _run_body",
        raised["observed"],
    )
    assert raised["expected"] == "the body runs to its end"
    assert extra["measurements"] == {"before the crash": 7}
    tb = extra["traceback"]
    assert tb.startswith("Traceback (most recent call last):")
    assert 'decoded["status"] += 1' in tb and tb.rstrip().endswith("KeyError: 'status'")


def test_body_raising_before_any_check_is_no_pass(cache: FakeCache) -> None:
    def body(ctx: ScenarioContext) -> None:
        raise TypeError("unsupported operand type(s) for -: 'NoneType' and 'int'" + "!" * 300)

    verdict, reason, data = run(cache, make("t/raises-first", body))
    assert (verdict, reason) == ("fail", "1 of 1 checks failed: scenario body raised")
    (check,) = data["extra"]["checks"]  # type: ignore[index]
    assert check["observed"].startswith("TypeError: unsupported operand")
    assert "... at test_scenario.py:" in check["observed"] and len(check["observed"]) <= 160


def test_checks_before_a_guest_failure_are_written(cache: FakeCache) -> None:
    def body(ctx: ScenarioContext) -> None:
        ctx.expect_eq("before the panic", 1, 1)
        ctx.sh("trigger-panic")
        ctx.expect_eq("never made", 1, 1)

    verdict, _, data = run(cache, make("t/panic", body))
    assert verdict == "fail" and data["failure"] == "kernel_panic"
    checks = data["extra"]["checks"]  # type: ignore[index]
    assert [c["name"] for c in checks] == ["before the panic"]


def test_harness_error_in_the_body_is_an_outcome_with_its_checks(cache: FakeCache) -> None:
    from faultlab.errors import HarnessError

    def body(ctx: ScenarioContext) -> None:
        ctx.expect_eq("before", 1, 1)
        raise HarnessError("QMP stopped answering")

    verdict, reason, data = run(cache, make("t/harness", body))
    assert (verdict, reason) == ("error", "QMP stopped answering")
    assert [c["name"] for c in data["extra"]["checks"]] == ["before"]  # type: ignore[index]


def group(monkeypatch: pytest.MonkeyPatch, **bodies: object) -> None:
    """Register the scenarios zz/NAME (in this order) for one test."""
    from faultlab import cli
    from faultlab.scenario import load_scenarios

    load_scenarios()
    for name, body in bodies.items():
        monkeypatch.setitem(SCENARIOS, f"zz/{name}", make(f"zz/{name}", body))
    monkeypatch.setattr(cli, "install_signal_handlers", lambda: None)


def passes(ctx: ScenarioContext) -> None:
    ctx.expect_eq("fine", 1, 1)


def raises(ctx: ScenarioContext) -> None:
    ctx.expect_eq("fine", 1, 1)
    {}["missing"]


def test_group_run_goes_on_after_a_body_raised(
    cache: FakeCache, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from faultlab import cli

    group(monkeypatch, a=raises, b=passes)
    code = cli.main(["run", "zz"])
    out, err = capsys.readouterr()
    assert code == 2  # documented: a scenario failed
    assert "zz/a: FAIL: 1 of 2 checks failed: scenario body raised" in out
    assert "FAIL scenario body raised: observed KeyError: 'missing' at test_scenario.py:" in out
    assert "zz/b: PASS: all 1 checks held" in out
    assert "Traceback" not in out + err


def test_group_run_goes_on_after_the_harness_raised(
    cache: FakeCache, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from faultlab import cli, scenario

    group(monkeypatch, a=passes, b=passes)
    real = scenario.run_scenario

    def flaky(sc: Scenario, **kw: object) -> object:
        if sc.name == "zz/a":
            raise RuntimeError("result directory vanished")
        return real(sc, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(scenario, "run_scenario", flaky)
    code = cli.main(["run", "zz/a", "zz/b"])
    out, err = capsys.readouterr()
    assert code == 4  # documented: harness error
    assert "zz/a: ERROR: internal error: RuntimeError: result directory vanished (at " in out
    assert "zz/b: PASS" in out
    assert "Traceback" not in out + err


def test_cli_turns_any_other_exception_into_exit_4(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from faultlab import cli

    def broken(args: object, tail: object) -> int:
        raise AttributeError("'NoneType' object has no attribute 'verdict'")

    monkeypatch.setattr(cli, "install_signal_handlers", lambda: None)
    monkeypatch.setattr(cli, "cmd_scenarios", broken)
    code = cli.main(["scenarios"])
    err = capsys.readouterr().err
    assert code == 4
    assert err.startswith("faultlab: internal error: AttributeError: 'NoneType' object has no")
    assert "test_scenario.py:" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_firmware_qemu_cannot_find_is_an_error_outcome_not_a_skip(
    cache: FakeCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_QEMU_SCENARIO", "nobios")
    verdict, reason, data = run(cache, make("t/nobios", lambda ctx: ctx.expect_eq("x", 1, 1)))
    assert verdict == "error" and data["failure"] == "harness"
    assert "QEMU cannot find firmware 'bios-256k.bin'" in reason and "make qemu" in reason
