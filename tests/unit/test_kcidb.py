"""KCIDB v5.3 report of a run (kcidb.py): statuses, paths, excerpts, known issues as issues and
incidents, and the whole report validated by kcidb-io."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from faultlab import kcidb
from faultlab.checks import Check
from faultlab.run_record import NOT_RUN_INPUT, NOT_RUN_NEEDS, ScenarioRecord

kcidb_io = pytest.importorskip("kcidb_io", reason="kcidb-io is pinned in images/lock.json")

BENCH = {
    "source": "bench",
    "image": "/c/kernels/6.12/x86_64/vmlinux",
    "release": "6.12.117-faultlab",
    "series": "6.12",
    "variant": None,
    "config": "known",
    "config_sha256": "ab" * 32,
    "modules": ["faultlab_dma"],
}
MANIFEST = {
    "component": "kernel-x86_64",
    "series": "6.12",
    "version": {"pinned": "6.12.117-1~deb12u1", "used": "6.12.117-1~deb12u1"},
    "kernelrelease": "6.12.117-faultlab",
    "built_seconds": 1229,
    "patches": 2,
}
QEMU = {"component": "qemu", "version": {"pinned": "1:10.0.13+ds-0", "used": "1:10.0.13+ds-0"}}
ENTRY = {
    "id": "vas-mmap-close-fork",
    "kernels": "series 6.12",
    "scenarios": ["zz/known"],
    "kind": "warning",
    "signature": "WARNING: .* at vas_mmap_close\\+",
    "upstream": "reported https://lore.kernel.org/r/1234@example.org",
    "note": "WARN_ON in vas_mmap_close",
    "intermittent": None,
}
TITLE = "WARNING: CPU: 0 PID: 97 at arch/powerpc/platforms/book3s/vas-api.c:578 vas_mmap_close"
OK = Check("fine", True, "1", "1")


def record(scenario: str, verdict: str, reason: str = "r", **kw: Any) -> ScenarioRecord:
    booted = kw.pop("booted", True)
    fields: dict[str, Any] = {
        "platform": "x86_64",
        "started_utc": "2026-12-04T10:15:00Z",
        "seconds": 12.5,
    }
    if booted:
        fields |= {
            "accel": "tcg",
            "guest_kernel": dict(BENCH),
            "kernel_manifest": dict(MANIFEST),
            "qemu_manifest": dict(QEMU),
            "result_dir": f"/results/{scenario.replace('/', '_')}",
        }
    return ScenarioRecord(scenario=scenario, verdict=verdict, reason=reason, **(fields | kw))


KNOWN = {
    "applied": [ENTRY],
    "matched": [{"issue": ENTRY["id"], "title": TITLE}],
    "absent": [],
    "not_reproduced": [],
}
RUN = [
    record("zz/pass", "pass", "all 1 checks held", checks=(OK,)),
    record(
        "zz/fail",
        "fail",
        "1 of 2 checks failed: dst",
        failure="check",
        checks=(OK, Check("dst", False, "abcd", "abce")),
        known_issues={"applied": [ENTRY], "matched": [], "absent": [ENTRY["id"]]},
    ),
    record("zz/skip", "skip", "no DSA here", failure="scenario_skip"),
    record("zz/image", "skip", "not in the guest image: /x", failure="missing_guest_file"),
    record(
        "zz/guest-needs",
        "skip",
        "NOT RUN: zz/guest-needs needs: X",
        failure="not_run",
        not_run=NOT_RUN_NEEDS,
    ),
    record("zz/needs", "skip", "NOT RUN: lacks CONFIG_X", not_run=NOT_RUN_NEEDS, booted=False),
    record("zz/input", "skip", "NOT RUN: missing kernel", not_run=NOT_RUN_INPUT, booted=False),
    record(
        "zz/known",
        "known-issue",
        "vas-mmap-close-fork: ... (reported ...)",
        checks=(OK,),
        excerpt="[ 7.4] WARNING: ...\n[ 7.5] ---[ end trace ]---",
        known_issues=KNOWN,
    ),
    record(
        "zz/error",
        "error",
        "QMP stopped answering",
        failure="harness",
        known_issues={"applied": [ENTRY], "matched": []},
    ),
]


def test_the_report_validates() -> None:
    data = kcidb.report(RUN, "run-20261204T101500Z-0123456789ab")
    assert kcidb.validate(data) is None
    kcidb_io.schema.V5_3.validate_exactly(data)
    assert kcidb_io.schema.LATEST.is_compatible(data)
    assert data["version"] == {"major": 5, "minor": 3}


def test_statuses() -> None:
    data = kcidb.report(RUN, "run-x")
    assert [(t["path"], t["status"]) for t in data["tests"]] == [
        ("faultlab.x86_64.zz.pass", "PASS"),
        ("faultlab.x86_64.zz.fail", "FAIL"),
        ("faultlab.x86_64.zz.skip", "SKIP"),
        ("faultlab.x86_64.zz.image", "MISS"),
        ("faultlab.x86_64.zz.guest-needs", "SKIP"),
        ("faultlab.x86_64.zz.needs", "SKIP"),
        ("faultlab.x86_64.zz.input", "MISS"),
        ("faultlab.x86_64.zz.known", "FAIL"),
        ("faultlab.x86_64.zz.error", "ERROR"),
    ]


def test_ids_origin_and_links() -> None:
    data = kcidb.report(RUN, "run-x")
    objects = [*data["checkouts"], *data["builds"], *data["tests"], *data["issues"]]
    assert all(o["origin"] == "faultlab" and o["id"].startswith("faultlab:") for o in objects)
    bench, unknown = data["checkouts"]
    assert bench["id"] == "faultlab:checkout/linux-source-6.12/6.12.117-1~deb12u1/x86_64"
    assert bench["tree_name"] == "linux-source-6.12" and bench["misc"]["patches"] == 2
    assert unknown["id"] == "faultlab:checkout/unknown/unknown/x86_64"
    build = data["builds"][0]
    assert build["checkout_id"] == bench["id"] and build["architecture"] == "x86_64"
    assert build["status"] == "PASS" and build["duration"] == 1229
    assert build["misc"]["release"] == "6.12.117-faultlab"
    assert build["id"].endswith("/6.12.117-faultlab/" + "ab" * 8)
    tests = {t["path"].rsplit(".", 1)[1]: t for t in data["tests"]}
    assert tests["pass"]["id"] == "faultlab:run-x/zz/pass"
    assert tests["pass"]["build_id"] == build["id"]
    assert tests["needs"]["build_id"] == data["builds"][1]["id"]
    assert "status" not in data["builds"][1]  # nothing says that kernel was built


def test_environment_and_misc() -> None:
    tests = kcidb.report(RUN, "run-x")["tests"]
    env = tests[0]["environment"]
    assert env["comment"] == "QEMU q35 (x86_64), under tcg"
    assert env["misc"] == {
        "platform": "x86_64",
        "qemu_machine": "q35",
        "qemu_version": "1:10.0.13+ds-0",
        "accelerator": "tcg",
        "kernel_release": "6.12.117-faultlab",
        "kernel_series": "6.12",
        "kernel_source": "bench",
    }
    assert tests[0]["start_time"] == "2026-12-04T10:15:00Z" and tests[0]["duration"] == 12.5
    assert tests[1]["misc"]["checks"][1] == {
        "name": "dst",
        "ok": False,
        "observed": "abcd",
        "expected": "abce",
    }
    assert tests[5]["environment"]["misc"] == {"platform": "x86_64", "qemu_machine": "q35"}


def test_log_excerpts() -> None:
    tests = {t["path"].rsplit(".", 1)[1]: t for t in kcidb.report(RUN, "run-x")["tests"]}
    assert "log_excerpt" not in tests["pass"]
    assert tests["fail"]["log_excerpt"] == (
        "zz/fail: FAIL: 1 of 2 checks failed: dst\nFAIL dst: observed abcd; expected abce\n"
    )
    assert tests["needs"]["log_excerpt"] == "zz/needs: NOT RUN: lacks CONFIG_X\n"
    assert tests["known"]["log_excerpt"].endswith(
        "----- console excerpt -----\n[ 7.4] WARNING: ...\n[ 7.5] ---[ end trace ]---\n"
    )


def test_a_huge_excerpt_is_cut_to_the_schema_limit() -> None:
    big = record("zz/oops", "fail", "kernel oops", excerpt="x\0" * 40000, failure="kernel_oops")
    data = kcidb.report([big], "run-x")
    excerpt = data["tests"][0]["log_excerpt"]
    assert len(excerpt) == kcidb.LOG_EXCERPT_MAX and "\0" not in excerpt
    assert excerpt.startswith("zz/oops: FAIL: kernel oops\n----- console excerpt -----\nxxx")
    assert excerpt.endswith("keeps at most 16384 characters]\n")
    assert kcidb.validate(data) is None


def test_known_issues_are_issues_and_incidents() -> None:
    data = kcidb.report(RUN, "run-x")
    (issue,) = data["issues"]
    assert issue["id"] == "faultlab:known-issue/vas-mmap-close-fork" and issue["version"] == 0
    assert issue["report_url"] == "https://lore.kernel.org/r/1234@example.org"
    assert issue["culprit"] == {"code": True, "tool": False, "harness": False}
    assert issue["categories"] == ["runtime.warning"]
    assert [(i["test_id"], i["present"], i["comment"]) for i in data["incidents"]] == [
        ("faultlab:run-x/zz/fail", False, "did not reproduce this run"),
        ("faultlab:run-x/zz/known", True, TITLE),
        # zz/error: an error proves nothing about the issue, no incident
    ]
    assert all(i["issue_id"] == issue["id"] for i in data["incidents"])
    assert "issues" not in kcidb.report(RUN[:1], "run-x")


@pytest.mark.parametrize(
    ("platform", "scenario", "path"),
    [
        ("ppc64-pseries", "pseries/nx-fault", "faultlab.ppc64-pseries.pseries.nx-fault"),
        ("aarch64", "smmu/stall-retry", "faultlab.aarch64.smmu.stall-retry"),
        ("x86_64", "zz/a.b c+d", "faultlab.x86_64.zz.a_b_c_d"),
    ],
)
def test_paths(platform: str, scenario: str, path: str) -> None:
    rec = ScenarioRecord(scenario, platform, "pass", "ok", "2026-12-04T10:15:00Z", 1.0)
    assert kcidb.kcidb_path(rec) == path
    assert kcidb_io.schema.V5_3.path_re.fullmatch(path)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["tests"][0].update(path="faultlab.x86_64.zz/pass"), "tests/0/path"),
        (lambda d: d["tests"][0].update(status="XFAIL"), "tests/0/status"),
        (lambda d: d["tests"][0].update(log_excerpt="x" * 16385), "tests/0/log_excerpt"),
        (lambda d: d["builds"][0].update(origin="Faultlab"), "builds/0/origin"),
        (lambda d: d["tests"][0].update(start_time="yesterday"), "tests/0/start_time"),
    ],
)
def test_the_validation_has_teeth(mutate: Any, where: str) -> None:
    data = copy.deepcopy(kcidb.report(RUN, "run-x"))
    mutate(data)
    problem = kcidb.validate(data)
    assert problem is not None and problem.startswith(where + ": ")
