"""Parsing the nx-gzip selftests' output for pseries/nx-selftests (scenarios/pseries.py), no VM."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from faultlab.scenario import ScenarioContext, StepFailed, load_scenarios
from faultlab.scenarios import pseries

# What gzfht_test.c and gunz_test.c print (their fprintf formats), around real values.
GZFHT_OUT = (
    "file /tmp/nx/text read, 1288895 bytes\n"
    "compressed 1288895 to 287554 bytes total, crc32 checksum = 0be4f1a7\n"
)
GUNZ_OUT = (
    "gzHeader FLG 0\n00 00 00 00 04 03\ngzHeader MTIME, XFL, OS ignored\n"
    "computed checksum 0be4f1a7 isize 0013aabf\n"
    "stored   checksum 0be4f1a7 isize 0013aabf\n"
)


def test_gzfht_summary() -> None:
    c = pseries.parse_gzfht(GZFHT_OUT)
    assert c == pseries.Compressed(1288895, 287554, "0be4f1a7")


def test_gunz_checksums() -> None:
    g = pseries.parse_gunz(GUNZ_OUT)
    assert g == pseries.Gunzipped("0be4f1a7", 0x13AABF, "0be4f1a7", 0x13AABF)
    assert g.computed_isize == 1288895


@pytest.mark.parametrize(
    ("fn", "out"),
    [
        (pseries.parse_gzfht, "nx error: cc= 5\n"),
        (pseries.parse_gunz, "error: cc= 66\n"),
        (pseries.parse_gunz, "computed checksum 0be4f1a7 isize 0013aabf\n"),
    ],
)
def test_missing_lines_fail_the_step(fn: object, out: str) -> None:
    with pytest.raises(StepFailed):
        fn(out)  # type: ignore[operator]


def test_host_gunzip_round_trip_and_garbage() -> None:
    data = bytes(range(256)) * 100
    assert pseries.host_gunzip(gzip.compress(data)) == (0, data, "")
    status, _, err = pseries.host_gunzip(b"not gzip at all")
    assert status != 0 and err


def test_registered_on_pseries_with_the_vas_device() -> None:
    sc = load_scenarios()["pseries/nx-selftests"]
    assert sc.platform == "ppc64-pseries"
    assert sc.qemu_args[0] == "-device"
    assert sc.qemu_args[1].startswith("spapr-vas,id=vas0,")
    assert "max-processed-len=1048576" in sc.qemu_args[1]
    assert sc.guest_files == (pseries.GZFHT, pseries.GUNZ)


def nx_fault_output() -> dict[str, Any]:
    """faultlab-nx-fault's object for three cases that went as they must."""

    def case(name: str, addr: int) -> dict[str, Any]:
        return {
            "name": name,
            "expected_addr": addr,
            "cpb_crc": 7,
            "source_crc": 7,
            "fault": {"cr0": 2, "completed": 1, "cc": 250, "ce": 0x40, "addr": addr},
            "retry": {"cr0": 2, "completed": 1, "cc": 64, "tpbc": 100},
        }

    readonly = {
        "name": "csb-readonly",
        "cr0": 2,
        "signal": 11,
        "si_code": 1,
        "si_addr": 0x5000,
        "csb_flags": 0,
        "csb_addr": 0x5000,
        "retry": {"cr0": 2, "completed": 1, "cc": 0},
    }
    return {"cases": [case("src-absent", 0x1000), case("tgt-absent", 0x2000), readonly]}


def bare_context() -> ScenarioContext:
    """A context for helpers that only record checks (no guest behind it)."""
    sc = load_scenarios()["pseries/nx-fault"]
    return ScenarioContext(None, sc)  # type: ignore[arg-type]


def test_fault_cases_checks_hold() -> None:
    ctx = bare_context()
    pseries.check_fault_cases(ctx, nx_fault_output())
    assert [c.name for c in ctx.checks if not c.ok] == []
    assert len(ctx.checks) == 2 * 7 + 3


def test_fault_cases_missing_field_fails_the_step_after_the_checks_before() -> None:
    ctx = bare_context()
    data = nx_fault_output()
    del data["cases"][1]["retry"]["tpbc"]
    with pytest.raises(StepFailed, match=r"tgt-absent\.retry has no field 'tpbc'"):
        pseries.check_fault_cases(ctx, data)
    assert len(ctx.checks) == 7 + 6  # src-absent's seven, tgt-absent's first six
    data = nx_fault_output()
    data["cases"][1] = "garbage"
    with pytest.raises(StepFailed, match=r"cases\[1\] is 'garbage'"):
        pseries.check_fault_cases(bare_context(), data)
