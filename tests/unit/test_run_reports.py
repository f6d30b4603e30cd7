"""`faultlab run` writes KTAP and KCIDB (run_reports.py), against the fake QEMU: a group with a
pass, a fail, a skip, two kinds of NOT RUN, a known issue and a harness error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes import FakeCache
from faultlab import cli, kcidb, paths
from faultlab.errors import HarnessError
from faultlab.needs import Needs
from faultlab.scenario import SCENARIOS, Scenario, ScenarioContext, load_scenarios
from ktap_check import kunit_parse, kunit_parsers, parse

KUNIT_DIRS = kunit_parsers(paths.cache_dir())  # before any test points the cache elsewhere
WARN = [  # a kernel WARNING on the fake guest's console (fake_qemu's "fake-console")
    "[    7.400100] ------------[ cut here ]------------",
    "[    7.400500] WARNING: CPU: 0 PID: 97 at arch/powerpc/platforms/book3s/vas-api.c:578 "
    "vas_mmap_close+0x5c/0x100",
    "[    7.405400] ---[ end trace 0000000000000000 ]---",
]
KNOWN_TOML = """\
[[issue]]
id = "vas-mmap-close-fork"
series = ["6.12"]
scenarios = ["zz/known"]
kind = "warning"
signature = 'WARNING: .* at vas_mmap_close\\+'
upstream = "unreported"
note = "the WARN_ON in vas_mmap_close"
"""


def passes(ctx: ScenarioContext) -> None:
    ctx.expect_eq("fine", 1, 1)


def fails(ctx: ScenarioContext) -> None:
    ctx.expect_eq("fine", 1, 1)
    ctx.expect_eq("CR #2 written", "abcd", "abce")


def skips(ctx: ScenarioContext) -> None:
    ctx.skip("no such device here")


def warns(ctx: ScenarioContext) -> None:
    ctx.sh("fake-console " + json.dumps(WARN))
    ctx.expect_eq("fine", 1, 1)


def breaks(ctx: ScenarioContext) -> None:
    ctx.expect_eq("before", 1, 1)
    raise HarnessError("QMP stopped answering")


def register(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *scenarios: Scenario) -> None:
    load_scenarios()
    for sc in scenarios:
        monkeypatch.setitem(SCENARIOS, sc.name, sc)
    known = tmp_path / "known-issues.toml"
    known.write_text(KNOWN_TOML if "zz/known" in SCENARIOS else "")
    monkeypatch.setenv("FAULTLAB_KNOWN_ISSUES", str(known))
    monkeypatch.setattr(cli, "install_signal_handlers", lambda: None)


def zz(name: str, body: object, **kw: object) -> Scenario:
    return Scenario(f"zz/{name}", "x86_64", "test", body, **kw)  # type: ignore[arg-type]


GROUP = (
    zz("pass", passes),
    zz("fail", fails),
    zz("skip", skips),
    zz("needs", passes, needs=Needs(options=("FAULTLAB_NO_SUCH_OPTION",))),
    zz("input", passes, kernel_variant="unbuilt"),
    zz("known", warns),
    zz("error", breaks),
)


def test_a_group_run_writes_ktap_and_kcidb(
    cache: FakeCache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register(monkeypatch, tmp_path, *GROUP)
    report = tmp_path / "out" / "kcidb.json"
    code = cli.main(["run", "zz", "--kcidb", str(report)])
    out, err = capsys.readouterr()
    assert code == 2, out + err  # the fail wins
    ktap_file = cache.results / "results.ktap"
    assert f"faultlab: KTAP in {ktap_file}\n" in err
    assert f"faultlab: KCIDB report in {report}\n" in err

    text = ktap_file.read_text()
    tests, trailing = parse(text)
    got = [(t.name, t.ok, t.directive) for t in tests]
    assert got == [
        ("zz/pass", True, None),
        ("zz/fail", False, None),
        ("zz/skip", True, "SKIP"),
        ("zz/needs", True, "SKIP"),
        ("zz/input", True, "SKIP"),
        ("zz/known", True, "XFAIL"),
        ("zz/error", False, "ERROR"),
    ]
    assert [(s.name, s.ok) for s in tests[1].subtests] == [("fine", True), ("CR _2 written", False)]
    assert tests[1].subtests[1].diagnostics == ["observed abcd; expected abce"]
    assert tests[1].diagnostics[0] == "zz/fail: 1 of 2 checks failed: CR #2 written"
    assert tests[2].data == "no such device here"
    assert tests[3].data is not None and tests[3].data.startswith(
        "NOT RUN: zz/needs needs what this kernel lacks: CONFIG_FAULTLAB_NO_SUCH_OPTION=y"
    )
    assert tests[4].data is not None and "missing kernel" in tests[4].data
    assert tests[5].data == (
        "known issue vas-mmap-close-fork: WARNING: .* at vas_mmap_close\\+ (unreported)"
    )
    assert [s.name for s in tests[5].subtests] == [
        "fine",
        "known issue vas-mmap-close-fork still reproduces",
    ]
    assert tests[6].data == "QMP stopped answering"
    assert trailing == ["Totals: pass:1 fail:1 xfail:1 xpass:0 skip:3 error:1"]
    for t in tests:  # each booted scenario names its result directory
        booted = t.name not in ("zz/needs", "zz/input")
        assert any(d.startswith("results: ") for d in t.diagnostics) == booted

    data = json.loads(report.read_text())
    assert kcidb.validate(data) is None
    assert [(t["path"], t["status"]) for t in data["tests"]] == [
        ("faultlab.x86_64.zz.pass", "PASS"),
        ("faultlab.x86_64.zz.fail", "FAIL"),
        ("faultlab.x86_64.zz.skip", "SKIP"),
        ("faultlab.x86_64.zz.needs", "SKIP"),
        ("faultlab.x86_64.zz.input", "MISS"),
        ("faultlab.x86_64.zz.known", "FAIL"),
        ("faultlab.x86_64.zz.error", "ERROR"),
    ]
    tests_by = {t["path"].rsplit(".", 1)[1]: t for t in data["tests"]}
    known = tests_by["known"]
    assert known["environment"]["misc"]["kernel_release"] == "6.12.1-faultlab"
    assert known["environment"]["misc"]["accelerator"] == "tcg"
    assert "vas_mmap_close" in known["log_excerpt"]
    (incident,) = data["incidents"]
    assert (incident["test_id"], incident["present"]) == (known["id"], True)
    assert data["issues"][0]["id"] == "faultlab:known-issue/vas-mmap-close-fork"
    assert "FAIL CR #2 written: observed abcd; expected abce" in tests_by["fail"]["log_excerpt"]
    # NOT RUN: no result.json, but the cache says which kernel it was for
    needs = tests_by["needs"]
    assert needs["build_id"] == tests_by["pass"]["build_id"]
    assert needs["environment"]["misc"]["kernel_release"] == "6.12.1-faultlab"
    assert needs["environment"]["misc"]["kernel_series"] == "6.12"
    builds = {b["id"]: b for b in data["builds"]}
    assert builds[tests_by["input"]["build_id"]].get("status") is None  # never built
    assert len({t["id"] for t in data["tests"]}) == 7

    if not KUNIT_DIRS:
        pytest.skip(f"no kunit_parser.py under {paths.cache_dir()}/linux/ (make kernels)")
    for kunit_dir in KUNIT_DIRS:
        main = kunit_parse(kunit_dir, text)
        assert main["errors"] == 0, (kunit_dir, main)
        statuses = [(t["name"], t["status"]) for t in main["subtests"]]
        assert statuses == [
            ("zz/pass", "SUCCESS"),
            ("zz/fail", "FAILURE"),
            ("zz/skip", "SKIPPED"),
            ("zz/needs", "SKIPPED"),
            ("zz/input", "SKIPPED"),
            ("zz/known", "SUCCESS"),
            ("zz/error", "FAILURE"),
        ], kunit_dir


def test_ktap_and_kcidb_to_stdout_after_the_run(
    cache: FakeCache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register(monkeypatch, tmp_path, zz("pass", passes))
    assert cli.main(["run", "zz/pass", "--ktap", "-"]) == 0
    out, err = capsys.readouterr()
    human, ktap_text = out.split("KTAP version 1\n", 1)
    assert human.startswith("zz/pass: PASS: all 1 checks held")
    tests, _ = parse("KTAP version 1\n" + ktap_text)
    assert [(t.name, t.ok) for t in tests] == [("zz/pass", True)]
    assert "faultlab: KTAP in stdout" in err
    assert not (cache.results / "results.ktap").exists()

    mine = tmp_path / "mine.ktap"
    assert cli.main(["run", "zz/pass", "--ktap", str(mine), "--kcidb", "-"]) == 0
    out, _ = capsys.readouterr()
    data = json.loads(out[out.index("{\n") :])
    assert kcidb.validate(data) is None and data["tests"][0]["status"] == "PASS"
    assert parse(mine.read_text())[0][0].name == "zz/pass"


def test_report_paths(
    cache: FakeCache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register(monkeypatch, tmp_path, zz("pass", passes))
    assert cli.main(["run", "zz/pass", "--ktap", str(tmp_path)]) == 3  # a directory
    assert f"argument --ktap: {tmp_path} is a directory" in capsys.readouterr().err
    assert cache.result_dirs() == []  # nothing booted
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = cli.main(["run", "zz/pass", "--kcidb", str(blocker / "kcidb.json")])
    out, err = capsys.readouterr()
    assert code == 4  # the run passed, its report could not be written
    assert "zz/pass: PASS" in out
    assert f"faultlab: cannot write KCIDB to {blocker / 'kcidb.json'}: " in err


# -- faultlab --version -------------------------------------------------------------------------
def test_version_names_the_harness_qemu_and_each_kernel(
    cache: FakeCache, capsys: pytest.CaptureFixture[str]
) -> None:
    from faultlab import __version__
    from faultlab.guest_kernel import pinned_series

    manifests = paths.cache_dir() / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    (manifests / "qemu.json").write_text(
        json.dumps({"version": {"pinned": "1:10.0.13", "used": "1:10.0.14"}})
    )
    (manifests / "kernel-6.12-x86_64.json").write_text(
        json.dumps(
            {
                "series": "6.12",
                "version": {"pinned": "6.12.117-1", "used": "6.12.117-1"},
                "kernelrelease": "6.12.117-faultlab",
            }
        )
    )
    (manifests / "kernel-6.12-arm64.json").write_text("{not json")
    assert cli.main(["--version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == [
        f"faultlab {__version__}",
        "qemu 1:10.0.14 (pinned 1:10.0.13)",
        "kernel-6.12-x86_64 6.12.117-faultlab (linux-source-6.12 6.12.117-1)",
        f"kernel-6.12-arm64 unreadable manifest {manifests / 'kernel-6.12-arm64.json'}: "
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    ]
    kernels = [ln.split()[0] for ln in lines[2:]]
    assert kernels == [
        f"kernel-{s}-{k}"
        for s in pinned_series()
        for k in ("x86_64", "arm64", "ppc64le", "ppc64le-apf")
    ]
    assert all(ln.endswith(" not built") for ln in lines[4:])
    (manifests / "qemu.json").unlink()
    assert cli.main(["--version"]) == 0
    assert "qemu not built" in capsys.readouterr().out.splitlines()
