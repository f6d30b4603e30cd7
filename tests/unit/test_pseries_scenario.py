"""Parsing the nx-gzip selftests' output for pseries/nx-selftests (scenarios/pseries.py), no VM."""

from __future__ import annotations

import gzip

import pytest

from faultlab.scenario import StepFailed, load_scenarios
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
