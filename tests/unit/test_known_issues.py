"""The known-issue file: loading (every field checked, with clear messages) and matching."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from faultlab import judge, paths
from faultlab.known_issues import (
    KnownIssue,
    KnownIssuesError,
    for_run,
    load,
    parse,
    scenario_pattern_matches,
    warning_form,
)

GOOD = """\
# a comment
[[issue]]
id = "vas-mmap-close-fork"
series = ["6.12"]
scenarios = ["pseries/nx-fault", "nx"]
kind = "warning"
signature = 'WARNING: .* at vas_mmap_close\\+'
upstream = "unreported"
note = "WARN_ON in vas_mmap_close when a child with the window's mapping exits"

[[issue]]
id = "some-race"
since = "6.12.40"
until = "7.1"
scenarios = ["smmu/*-abort"]
kind = "lockdep"
signature = "possible circular locking dependency"
upstream = "reported https://lore.kernel.org/r/xyz"
note = "two locks taken in both orders"
intermittent = "needs an IRQ between the two locks"
"""

ENTRY = {
    "id": '"x"',
    "series": '["6.12"]',
    "scenarios": '["pseries/nx-fault"]',
    "kind": '"warning"',
    "signature": "'vas_mmap_close\\+'",
    "upstream": '"unreported"',
    "note": '"n"',
}

# The same WARN_ON as 6.12 and 7.x print it, with and without CONFIG_DEBUG_BUGVERBOSE.
TITLES = {
    "6.12 file:line": "WARNING: CPU: 0 PID: 97 at arch/powerpc/platforms/book3s/vas-api.c:578 "
    "vas_mmap_close+0x5c/0x100",
    "6.12": "WARNING: CPU: 0 PID: 97 at vas_mmap_close+0x5c/0x100",
    "7.x file:line": "WARNING: arch/powerpc/platforms/book3s/vas-api.c:578 at "
    "vas_mmap_close+0x5c/0x100, CPU#0: nx-fault/97",
    "7.x": "WARNING: at vas_mmap_close+0x5c/0x100, CPU#0: nx-fault/97",
}


def entry(**fields: str | None) -> str:
    """One [[issue]] in TOML: ENTRY with `fields` replaced (None: left out)."""
    values = ENTRY | fields
    return "[[issue]]\n" + "".join(f"{k} = {v}\n" for k, v in values.items() if v is not None)


def finding(title: str, kind: str = "warning") -> judge.Finding:
    return judge.Finding(kind, 1, title, title)


def test_good_file_loads_every_field() -> None:
    first, second = parse(GOOD, "ki.toml")
    assert first.id == "vas-mmap-close-fork" and first.series == ("6.12",)
    assert first.scenarios == ("pseries/nx-fault", "nx") and first.kind == "warning"
    assert first.signature.pattern == "WARNING: .* at vas_mmap_close\\+"
    assert first.upstream == "unreported" and first.intermittent is None
    assert first.summary == "vas-mmap-close-fork: WARNING: .* at vas_mmap_close\\+ (unreported)"
    assert first.kernels == "series 6.12"
    assert (second.since, second.until, second.series) == ("6.12.40", "7.1", ())
    assert second.kernels == "6.12.40 <= release < 7.1"
    assert second.intermittent == "needs an IRQ between the two locks"
    assert second.source == "ki.toml: [[issue]] #2 (id 'some-race')"


def test_the_repository_file_loads_and_names_real_scenarios() -> None:
    from faultlab.scenario import load_scenarios

    assert paths.known_issues_file().name == "known-issues.toml"
    load(scenarios=load_scenarios())  # every entry well-formed, every scenario pattern real


def test_an_empty_file_has_no_entries() -> None:
    assert parse("# nothing known yet\n") == ()


@pytest.mark.parametrize("field", ["id", "scenarios", "kind", "signature", "upstream", "note"])
def test_a_missing_mandatory_field_is_named(field: str) -> None:
    with pytest.raises(
        KnownIssuesError, match=rf"ki\.toml: \[\[issue\]\] #1.*: missing mandatory field '{field}'"
    ):
        parse(entry(**{field: None}), "ki.toml")


def test_missing_kernels_says_how_to_give_them() -> None:
    with pytest.raises(
        KnownIssuesError, match=r"\(id 'x'\): missing mandatory field 'series'.*since"
    ):
        parse(entry(series=None), "ki.toml")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"signature": "'WARNING: (x'"}, r"signature 'WARNING: \(x' is not a valid regex"),
        ({"kind": '"panic"'}, r"kind 'panic' is not a report kind \(a panic ends the guest"),
        ({"kind": '"warn"'}, r"kind 'warn' is not a report kind \(kinds: .*\bwarning\b"),
        ({"upstream": '"pending"'}, r"upstream 'pending' must be 'unreported', 'reported <link>'"),
        ({"upstream": '"reported"'}, r"must be 'unreported', 'reported <link>'"),
        ({"series": '"6.12"'}, r"series must be a non-empty list of strings \(e.g. series = \["),
        ({"series": '["6"]'}, r"series '6' is not a kernel series"),
        ({"series": "[]"}, r"series must be a non-empty list"),
        ({"scenarios": '"pseries/nx-fault"'}, r"scenarios must be a non-empty list of strings"),
        ({"series": None, "since": '"later"'}, r"since = 'later' is not a kernel release"),
        ({"series": None, "since": '"7.1"', "until": '"6.12"'}, r"since 7.1 is not before until"),
        ({"since": '"6.12.40"'}, r"as series = \[...\] or as a release range since/until, not"),
        ({"intermittent": "true"}, r"intermittent must say why the report may not appear"),
        ({"intermittent": '""'}, r"intermittent must be a non-empty string"),
        ({"note": '"  "'}, r"note must be a non-empty string"),
        ({"id": '"has space"'}, r"id 'has space' must be letters, digits"),
        ({"sceanrios": '["x"]'}, r"unknown field 'sceanrios' \(fields: id, scenarios,"),
    ],
)  # fmt: skip
def test_malformed_fields_are_errors_naming_the_entry(fields: dict[str, str], message: str) -> None:
    with pytest.raises(KnownIssuesError, match=message) as info:
        parse(entry(**fields), "ki.toml")
    assert str(info.value).startswith("ki.toml: [[issue]] #1")


def test_file_level_errors() -> None:
    with pytest.raises(KnownIssuesError, match=r"ki\.toml: not valid TOML: .*line 1"):
        parse("[[issue]\n", "ki.toml")
    with pytest.raises(KnownIssuesError, match=r"unknown top-level key 'issues'"):
        parse("[[issues]]\nid = 'x'\n", "ki.toml")
    with pytest.raises(KnownIssuesError, match=r"#2 \(id 'x'\): id 'x' is used twice"):
        parse(entry() + entry(), "ki.toml")


def test_a_scenario_that_does_not_exist_is_an_error_when_the_names_are_given() -> None:
    text = entry(scenarios='["pseries/nx-fault", "psereis/nx-fault"]')
    assert parse(text)  # without the registered names, not checked
    with pytest.raises(KnownIssuesError, match=r"scenario 'psereis/nx-fault' matches no scenario"):
        parse(text, scenarios=["pseries/nx-fault", "pseries/copy-paste"])


def test_load_reads_the_env_file_and_names_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(entry())
    monkeypatch.setenv("FAULTLAB_KNOWN_ISSUES", str(path))
    assert [i.id for i in load()] == ["x"]
    monkeypatch.setenv("FAULTLAB_KNOWN_ISSUES", str(tmp_path / "nope.toml"))
    with pytest.raises(KnownIssuesError, match=r"cannot read the known-issue file .*nope\.toml"):
        load()


@pytest.mark.parametrize("shape", sorted(TITLES))
def test_signature_matches_6_12_and_7_x_warning_lines(shape: str) -> None:
    title = TITLES[shape]
    assert judge.classify(title) == "warning"  # the judge sees all four as WARNINGs
    (issue,) = parse(entry(signature="'WARNING: .* at vas_mmap_close\\+'"))
    assert issue.matches(finding(title)), title
    (plain,) = parse(entry(signature="'vas_mmap_close\\+0x'"))
    assert plain.matches(finding(title))
    (other,) = parse(entry(signature="'at vas_window_free\\+'"))
    assert not other.matches(finding(title))


def test_the_series_independent_form_of_a_warning() -> None:
    forms = {shape: warning_form(title) for shape, title in TITLES.items()}
    with_file = "WARNING: CPU: 0 PID: 97 at vas_mmap_close+0x5c/0x100 "
    assert (
        forms["6.12 file:line"]
        == forms["7.x file:line"]
        == (with_file + "(arch/powerpc/platforms/book3s/vas-api.c:578)")
    )
    assert forms["6.12"] == forms["7.x"] == "WARNING: CPU: 0 PID: 97 at vas_mmap_close+0x5c/0x100"
    module = "WARNING: at idxd_wq_drain+0x1c/0x40 [idxd], CPU#1: swapper/0/1"
    assert warning_form(module) == "WARNING: CPU: 1 PID: 1 at idxd_wq_drain+0x1c/0x40 [idxd]"
    assert warning_form("WARNING: possible circular locking dependency detected") is None


def test_the_kind_must_match_too() -> None:
    (issue,) = parse(entry(signature="'vas_mmap_close'"))
    assert not issue.matches(finding("BUG: sleeping in vas_mmap_close", kind="bug"))


def kernels(issue: KnownIssue) -> list[tuple[str | None, str | None]]:
    runs: list[tuple[str | None, str | None]] = [
        ("6.12", "6.12.8-faultlab"),
        ("6.12", "6.12.64-faultlab"),
        ("7.3", "7.3.1-faultlab"),
        (None, None),
    ]
    return [run for run in runs if issue.applies_to_kernel(*run)]


def test_series_filter_list_and_range() -> None:
    (listed,) = parse(entry(series='["6.12", "7.0"]'))
    assert kernels(listed) == [("6.12", "6.12.8-faultlab"), ("6.12", "6.12.64-faultlab")]
    assert listed.applies_to_kernel(None, "6.12.3")  # a user's image: the release says it
    (ranged,) = parse(entry(series=None, since='"6.12.40"', until='"7.3"'))
    assert kernels(ranged) == [("6.12", "6.12.64-faultlab")]
    (since,) = parse(entry(series=None, since='"6.12.40"'))
    assert kernels(since) == [("6.12", "6.12.64-faultlab"), ("7.3", "7.3.1-faultlab")]
    assert since.kernels == "release >= 6.12.40"


@pytest.mark.parametrize(
    ("pattern", "matched"),
    [
        ("pseries/nx-fault", ["pseries/nx-fault"]),
        ("pseries", ["pseries/nx-fault", "pseries/copy-paste"]),
        ("pseries/", ["pseries/nx-fault", "pseries/copy-paste"]),
        ("pseries/*", ["pseries/nx-fault", "pseries/copy-paste"]),
        ("*/nx-fault", ["pseries/nx-fault"]),
        ("nx/*-faults", ["nx/many-faults"]),
        ("nx-fault", []),
        ("pseries/nx", []),
    ],
)
def test_scenario_patterns(pattern: str, matched: list[str]) -> None:
    names = ["pseries/nx-fault", "pseries/copy-paste", "nx/many-faults", "nx/selftests"]
    assert [n for n in names if scenario_pattern_matches(pattern, n)] == matched


def test_for_run_filters_by_scenario_and_kernel() -> None:
    issues = parse(GOOD)
    assert [i.id for i in for_run(issues, "pseries/nx-fault", "6.12", "6.12.8")] == [
        "vas-mmap-close-fork"
    ]
    assert for_run(issues, "pseries/nx-fault", "7.3", "7.3.1") == ()
    assert for_run(issues, "pseries/copy-paste", "6.12", "6.12.8") == ()
    assert [i.id for i in for_run(issues, "smmu/unmapped-abort", "6.12", "6.12.64")] == [
        "some-race"
    ]
    assert for_run(issues, "smmu/unmapped-abort", "6.12", "6.12.8") == ()
    assert re.search(issues[0].signature, TITLES["7.x"]) is None  # raw 7.x title: the form helps


def test_the_documented_examples_parse() -> None:
    """The README's entry and the commented example in the file's header are real entries."""
    from faultlab.scenario import load_scenarios

    readme = (paths.repo_root() / "README.md").read_text()
    block = re.search(r"```toml\n(\[\[issue\]\].*?)```", readme, re.S)
    assert block is not None
    (documented,) = parse(block[1], "README.md", scenarios=load_scenarios())
    assert documented.matches(finding(TITLES["6.12 file:line"]))
    header = paths.known_issues_file().read_text().split("# Example (not an entry):\n", 1)[1]
    example = "\n".join(
        line.removeprefix("#   ") for line in header.splitlines() if line.startswith("#   ")
    )
    (commented,) = parse(example, "known-issues.toml header", scenarios=load_scenarios())
    assert commented.id == documented.id and commented.matches(finding(TITLES["7.x"]))
