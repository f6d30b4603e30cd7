"""No skip passes CI (tests/skip_allowlist.py): the allowlist, the CI mode, the pytest hooks."""

from __future__ import annotations

from pathlib import Path

import pytest
import skip_allowlist as sa

SCENARIO = "tests/e2e/test_scenarios.py::test_scenario[smmu/stall-retry]"


def test_parse_entries_comments_and_blank_lines() -> None:
    text = (
        "# header\n"
        "\n"
        f"{SCENARIO}  # no arm64 kernel on this runner until the 7.3 series builds\n"
        "   tests/qtest/test_dsa.py::test_a#b\t# a '#' inside a node id is kept\n"
    )
    assert sa.parse(text) == (
        sa.Entry(SCENARIO, "no arm64 kernel on this runner until the 7.3 series builds", 3),
        sa.Entry("tests/qtest/test_dsa.py::test_a#b", "a '#' inside a node id is kept", 4),
    )


@pytest.mark.parametrize("line", ["tests/unit/test_x.py::test_y", "tests/unit/x.py  #", "x #  "])
def test_an_entry_without_a_reason_is_refused(line: str) -> None:
    with pytest.raises(sa.AllowlistError, match=r"^list.txt:2: .* gives no reason; write `"):
        sa.parse(f"# ok\n{line}\n", "list.txt")


def test_star_is_the_only_wildcard() -> None:
    smmu = sa.Entry("tests/e2e/test_scenarios.py::test_scenario[smmu/*]", "r", 1)
    assert smmu.matches(SCENARIO)
    assert not smmu.matches("tests/e2e/test_scenarios.py::test_scenario[nx/selftests]")
    assert not smmu.matches(SCENARIO + "x/")  # the whole id must match
    literal = sa.Entry("tests/unit/t.py::test[ab]", "r", 1)  # no character class
    assert literal.matches("tests/unit/t.py::test[ab]")
    assert not literal.matches("tests/unit/t.py::testa")
    assert sa.Entry("*", "r", 1).matches(SCENARIO)
    assert sa.find([smmu, literal], SCENARIO) == smmu
    assert sa.find([literal], SCENARIO) is None


@pytest.mark.parametrize(
    ("env", "strict"),
    [
        ({}, None),
        ({"CI": "true"}, "CI=true"),
        ({"CI": "True"}, "CI=True"),
        ({"CI": "false"}, None),
        ({"CI": "1"}, None),
        ({"FAULTLAB_STRICT_SKIPS": "1"}, "FAULTLAB_STRICT_SKIPS=1"),
        ({"FAULTLAB_STRICT_SKIPS": "0"}, None),
        ({"FAULTLAB_STRICT_SKIPS": "0", "CI": "true"}, "CI=true"),
    ],
)
def test_ci_mode(env: dict[str, str], strict: str | None) -> None:
    assert sa.strict_reason(env) == strict


def test_judge_names_the_test_the_reason_and_how_to_allowlist() -> None:
    entries = sa.parse(f"{SCENARIO}  # waits for the arm64 runner\n")
    reason = "missing kernel /c/kernels/arm64/Image for aarch64 (build it with `make kernels`)"
    allowlist = Path("tests/skip-allowlist.txt")
    other = SCENARIO.replace("smmu/stall-retry", "smmu/file-backed")
    assert sa.judge(other, reason, entries, {}, allowlist) is None  # not CI: a skip
    assert sa.judge(SCENARIO, reason, entries, {"CI": "true"}, allowlist) is None  # allowed
    message = sa.judge(other, reason, entries, {"CI": "true"}, allowlist)
    assert message is not None
    first, *rest = message.splitlines()
    assert first == f"{other} skipped in CI mode (CI=true): {reason}"
    assert "tests/skip-allowlist.txt" in rest[0]
    assert rest[-1] == f"    {other}  # why this test may skip in CI"


def test_skip_reason_from_a_report() -> None:
    assert sa.skip_reason(("t.py", 3, "Skipped: no gcc")) == "no gcc"
    assert sa.skip_reason("odd") == "odd"


def test_the_shipped_allowlist_parses() -> None:
    assert sa.ALLOWLIST.is_file()
    for entry in sa.load():
        assert entry.pattern and entry.reason


TESTS = """
import pytest

def test_passes():
    pass

def test_skips():
    pytest.skip("QEMU binary not built: run `make qemu`")

@pytest.mark.skipif(True, reason="no /dev/kvm here")
def test_skipif():
    pass

@pytest.mark.xfail(reason="known")
def test_xfails():
    assert False

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    pytest.skip(f"param {n}")
"""


def run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], entries: str
) -> pytest.RunResult:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(sa.STRICT_ENV, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pytester.makepyfile(test_it=TESTS)
    allowlist = pytester.path / "allow.txt"
    allowlist.write_text(entries)
    return pytester.runpytest("-p", "skip_allowlist", "--skip-allowlist", str(allowlist), "-rA")


def test_plugin_outside_ci_skips_stay_skips(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(pytester, monkeypatch, {}, "")
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)
    assert result.ret == 0


def test_plugin_in_ci_fails_every_skip_not_allowlisted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = "test_it.py::test_param[2]  # the second parameter may skip\n"
    result = run(pytester, monkeypatch, {"CI": "true"}, entries)
    # test_skips and test_param[1] fail in their call, test_skipif at setup (an error)
    result.assert_outcomes(passed=1, failed=2, errors=1, skipped=1, xfailed=1)
    assert result.ret == 1
    for line in (
        "*test_it.py::test_skips skipped in CI mode (CI=true): QEMU binary not built: "
        "run `make qemu`",
        "*test_it.py::test_skipif skipped in CI mode (CI=true): no /dev/kvm here",
        "*test_it.py::test_param?1? skipped in CI mode (CI=true): param 1",
        "*add an entry with the reason to allow.txt:",
        "    test_it.py::test_skips  # why this test may skip in CI",
        "SKIPPED * param 2",
    ):
        result.stdout.fnmatch_lines([line])


def test_plugin_fails_a_module_skipped_at_collection(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sa.STRICT_ENV, "1")
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(test_mod="import pytest\npytest.skip('no gcc', allow_module_level=True)\n")
    result = pytester.runpytest("-p", "skip_allowlist", "--skip-allowlist", "/nonexistent")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_mod.py skipped in CI mode (FAULTLAB_STRICT_SKIPS=1): no gcc"]
    )


def test_plugin_refuses_an_entry_without_a_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(pytester, monkeypatch, {}, "test_it.py::test_skips\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*allow.txt:1: 'test_it.py::test_skips' gives no reason*"])
