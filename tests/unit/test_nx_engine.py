"""The NX-GZIP engine core (qemu-devices/hw/faultlab/nx) on the host, without QEMU.

tests/nx/nx_host_test.c drives the engine over a flat "guest" memory with pages that can
be absent. It is compiled here with gcc against the engine, the tests/nx/shim headers and
zlib, under AddressSanitizer and UndefinedBehaviorSanitizer (one plain -O2 build runs the
64 MiB size of the selftest script). Outputs are checked with Python's zlib and gzip.
"""

from __future__ import annotations

import gzip
import os
import random
import subprocess
import zlib
from pathlib import Path

import pytest

from faultlab import paths
from host_engine import ROOT, SANITIZE, SHIM, build_engine, host_gcc

ENGINE = ROOT / "qemu-devices" / "hw" / "faultlab" / "nx" / "nx-gzip.c"
DRIVER = ROOT / "tests" / "nx" / "nx_host_test.c"

# Completion codes and CE bits (nxu.h / crb.h)
CC_OK, CC_DATA_LENGTH, CC_TARGET_SPACE = 0, 3, 13
CC_SUBFUNCTION, CC_INVALID_DDE, CC_DDE_OVERFLOW = 17, 30, 33
CC_TPBC_GT_SPBC, CC_MISSING_CODE, CC_INVALID_DIST, CC_INVALID_DHT = 64, 66, 67, 68
CE_PARTIAL, CE_TERMINATION, CE_TPBC = 0x80, 0x40, 0x20

Result = dict[str, str]


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nx") / "nx_host_test"
    return build_engine(out, DRIVER, ENGINE, SANITIZE, ["-lz"], need_zlib=True)


@pytest.fixture(scope="module")
def fast_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nx") / "nx_host_test_o2"
    return build_engine(out, DRIVER, ENGINE, ["-O2"], ["-lz"], need_zlib=True)


def run(exe: Path, *args: object, env: dict[str, str] | None = None, ok: bool = True) -> Result:
    environ = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0", **(env or {})}
    done = subprocess.run(
        [str(exe), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env=environ,
        check=False,
    )
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    assert "ERROR: AddressSanitizer" not in done.stderr, done.stderr
    assert "runtime error" not in done.stderr, done.stderr
    pairs = (line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return {k: v for k, v in pairs}


def text_data(n_lines: int) -> bytes:
    rng = random.Random(7)
    words = [b"lorem", b"ipsum", b"dolor", b"sit", b"amet", b"nx", b"gzip", b"fault"]
    return b"".join(
        b"line %d %s %s %d\n" % (i, rng.choice(words), rng.choice(words), i * i % 977)
        for i in range(n_lines)
    )


def random_data(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def raw_deflate(data: bytes, level: int = 6, strategy: int = zlib.Z_DEFAULT_STRATEGY) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    return c.compress(data) + c.flush()


# ---- compression ----


def test_compress_fht_is_one_fixed_block_zlib_decodes(driver: Path, tmp_path: Path) -> None:
    data = text_data(4000)
    (tmp_path / "in").write_bytes(data)
    r = run(driver, "deflate", 0x00, tmp_path / "in", tmp_path / "out")
    z = (tmp_path / "out").read_bytes()
    assert (int(r["cc"]), int(r["ce"], 16)) == (CC_OK, CE_TPBC)
    assert int(r["spbc"]) == len(data) and int(r["tpbc"]) == len(z) < len(data)
    assert (z[0] >> 1) & 3 == 1  # BTYPE 01: fixed Huffman
    assert int(r["tebc"]) in range(8)
    assert zlib.decompress(z, -15) == data
    assert int(r["crc32"], 16) == zlib.crc32(data)
    assert int(r["adler32"], 16) == zlib.adler32(data)


def test_compress_incompressible_gives_cc64_with_valid_output(driver: Path, tmp_path: Path) -> None:
    data = random_data(100_000)
    (tmp_path / "in").write_bytes(data)
    r = run(driver, "deflate", 0x08, tmp_path / "in", tmp_path / "out")
    assert (int(r["cc"]), int(r["ce"], 16)) == (CC_TPBC_GT_SPBC, CE_TPBC)
    assert int(r["tpbc"]) > int(r["spbc"]) == len(data)
    assert zlib.decompress((tmp_path / "out").read_bytes(), -15) == data


def test_compress_dht_encodes_with_the_programs_table(driver: Path, tmp_path: Path) -> None:
    data = text_data(4000)
    (tmp_path / "in").write_bytes(data)
    for fc in (0x02, 0x0A):
        r = run(driver, "deflate", fc, tmp_path / "in", tmp_path / "out")
        z = (tmp_path / "out").read_bytes()
        assert (int(r["cc"]), int(r["spbc"])) == (CC_OK, len(data))
        head = int.from_bytes(z[:2], "little")
        # BTYPE 10, then the driver's table: HLIT 286-257, HDIST 30-1 (zlib's would differ)
        assert (head >> 1) & 3 == 2
        assert ((head >> 3) & 31, (head >> 8) & 31) == (29, 29)
        assert zlib.decompress(z, -15) == data


def test_compress_count_variants_report_lz_counts(driver: Path, tmp_path: Path) -> None:
    data = text_data(2000)
    (tmp_path / "in").write_bytes(data)
    plain = run(driver, "deflate", 0x00, tmp_path / "in", tmp_path / "plain")
    for fc in (0x04, 0x06, 0x0C, 0x0E):
        r = run(driver, "deflate", fc, tmp_path / "in", tmp_path / "out")
        assert int(r["cc"]) == CC_OK
        assert int(r["spbc"]) == len(data)  # read at out_spbc_comp_with_count (qw104)
        assert int(r["lz_eob"]) == 1
        assert 0 < int(r["lz_literals"]) < len(data)
        assert zlib.decompress((tmp_path / "out").read_bytes(), -15) == data
        if fc == 0x04:
            assert (tmp_path / "out").read_bytes() == (tmp_path / "plain").read_bytes()
    assert int(plain["cc"]) == CC_OK


def test_compress_resume_uses_history(driver: Path, tmp_path: Path) -> None:
    data = text_data(3000)
    hist = 4096
    (tmp_path / "in").write_bytes(data)
    r = run(driver, "deflate", 0x08, tmp_path / "in", tmp_path / "out", hist)
    z = (tmp_path / "out").read_bytes()
    assert int(r["cc"]) == CC_OK and int(r["spbc"]) == len(data)  # history included
    assert zlib.decompressobj(-15, zdict=data[:hist]).decompress(z) == data[hist:]
    assert int(r["crc32"], 16) == zlib.crc32(data[hist:])
    with pytest.raises(zlib.error):
        zlib.decompress(z, -15)  # it does reach back into the history


# ---- decompression ----


@pytest.mark.parametrize(
    ("level", "strategy"),
    [(0, zlib.Z_DEFAULT_STRATEGY), (1, zlib.Z_DEFAULT_STRATEGY), (6, zlib.Z_DEFAULT_STRATEGY),
     (9, zlib.Z_DEFAULT_STRATEGY), (6, zlib.Z_FIXED), (6, zlib.Z_HUFFMAN_ONLY)],
)  # fmt: skip
def test_decompress_host_zlib_one_shot(
    driver: Path, tmp_path: Path, level: int, strategy: int
) -> None:
    data = text_data(20_000) + random_data(50_000)
    z = raw_deflate(data, level, strategy)
    (tmp_path / "z").write_bytes(z)
    r = run(driver, "inflate", tmp_path / "z", tmp_path / "out")
    assert (int(r["cc"]), int(r["ce"], 16)) == (CC_OK, CE_TPBC)
    assert int(r["tpbc"]) == len(data) and int(r["spbc"]) == len(z)
    assert (tmp_path / "out").read_bytes() == data
    assert int(r["crc32"], 16) == zlib.crc32(data)
    assert int(r["adler32"], 16) == zlib.adler32(data)


def test_decompress_trailing_data_is_cc3_sfbt0(driver: Path, tmp_path: Path) -> None:
    data = text_data(5000)
    z = raw_deflate(data)
    (tmp_path / "z").write_bytes(z + b"TRAILER!")
    r = run(driver, "inflate", tmp_path / "z", tmp_path / "out")
    assert (int(r["cc"]), int(r["ce"], 16)) == (CC_DATA_LENGTH, CE_PARTIAL | CE_TPBC)
    assert int(r["sfbt"]) == 0
    # spbc - subc/8 is where the trailer starts (gunz_test's arithmetic)
    assert int(r["spbc"]) - int(r["subc"]) // 8 == len(z)
    assert (tmp_path / "out").read_bytes() == data


def test_decompress_target_too_small_is_cc13(driver: Path, tmp_path: Path) -> None:
    data = text_data(5000)
    (tmp_path / "z").write_bytes(raw_deflate(data))
    r = run(driver, "inflate", tmp_path / "z", tmp_path / "out", len(data) - 1)
    assert (int(r["cc"]), int(r["ce"], 16), int(r["tpbc"])) == (
        CC_TARGET_SPACE,
        CE_TERMINATION,
        0,
    )
    r = run(driver, "inflate", tmp_path / "z", tmp_path / "out", len(data))
    assert int(r["cc"]) == CC_OK and (tmp_path / "out").read_bytes() == data


def test_decompress_single_block_and_suspend(driver: Path, tmp_path: Path) -> None:
    data = text_data(40_000)
    z = raw_deflate(data)
    (tmp_path / "z").write_bytes(z)
    r = run(driver, "inflate", tmp_path / "z", tmp_path / "out", 64 << 20, 0x12)
    assert (int(r["cc"]), int(r["ce"], 16)) == (CC_DATA_LENGTH, CE_PARTIAL | CE_TPBC)
    assert int(r["sfbt"]) == 0xE  # stopped before the next block header
    first = (tmp_path / "out").read_bytes()
    assert 0 < len(first) < len(data) and data.startswith(first)
    # the spbc source bytes it reports consumed hold that output
    d = zlib.decompressobj(-15)
    spbc, subc = int(r["spbc"]), int(r["subc"])
    assert d.decompress(z[:spbc])[: len(first)] == first
    assert subc < 8


# ---- the selftests' request sequences (gzfht_test.c / gunz_test.c) ----


@pytest.mark.parametrize("size", [4096, 65536, 1 << 20])
def test_selftest_sizes_gzfht_then_gunz(driver: Path, tmp_path: Path, size: int) -> None:
    """nx-gzip-test.sh: urandom file -> gzfht_test -> gunz_test (4 MiB chunks, 16 MiB fifos)."""
    data = random_data(size, seed=size)
    (tmp_path / "f").write_bytes(data)
    c = run(driver, "gzfht", tmp_path / "f", tmp_path / "f.nx.gz")
    gz = (tmp_path / "f.nx.gz").read_bytes()
    assert c["gzfht_ok"] == "1" and int(c["compressed"]) == len(gz)
    assert gzip.decompress(gz) == data  # the host's gzip reads what NX wrote
    assert int(c["crc32"], 16) == zlib.crc32(data)
    d = run(driver, "gunz", tmp_path / "f.nx.gz", tmp_path / "f.out")
    assert d["gunz_ok"] == "1" and d["computed_checksum"] == d["stored_checksum"]
    assert (tmp_path / "f.out").read_bytes() == data


def test_selftest_size_64m(fast_driver: Path, tmp_path: Path) -> None:
    """The 64M size needs mid-block resumes: one 4 MiB FHT block spans several gunz jobs."""
    data = random_data(64 << 20, seed=64)
    (tmp_path / "f").write_bytes(data)
    mem = {"NX_MEM_MB": "512"}
    c = run(fast_driver, "gzfht", tmp_path / "f", tmp_path / "f.nx.gz", env=mem)
    assert int(c["jobs"]) == 16 and int(c["crc32"], 16) == zlib.crc32(data)
    d = run(fast_driver, "gunz", tmp_path / "f.nx.gz", tmp_path / "f.out", env=mem)
    assert d["gunz_ok"] == "1" and int(d.get("sfbt_a", "0")) >= 1
    assert (tmp_path / "f.out").read_bytes() == data


def test_gzfht_chunks_chain_crc(driver: Path, tmp_path: Path) -> None:
    data = text_data(20_000)
    (tmp_path / "f").write_bytes(data)
    c = run(driver, "gzfht", tmp_path / "f", tmp_path / "f.gz", 65536)
    assert int(c["jobs"]) == -(-len(data) // 65536)
    assert int(c["crc32"], 16) == zlib.crc32(data)
    assert gzip.decompress((tmp_path / "f.gz").read_bytes()) == data


def test_gzfht_page_outs_fault_and_resubmit(driver: Path, tmp_path: Path) -> None:
    data = text_data(20_000)
    (tmp_path / "f").write_bytes(data)
    c = run(driver, "gzfht", tmp_path / "f", tmp_path / "f.gz", 65536, 2)
    chunks = -(-len(data) // 65536)
    assert int(c["nx_faults"]) >= chunks // 2 >= 1
    assert int(c["jobs"]) == chunks + int(c["nx_faults"])
    assert gzip.decompress((tmp_path / "f.gz").read_bytes()) == data


def _gz(data: bytes, level: int) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


@pytest.mark.parametrize(
    ("kind", "sfbt_keys"),
    [("dynamic", ("sfbt_c", "sfbt_d")), ("stored", ("sfbt_8", "sfbt_9")),
     ("nx_fixed", ("sfbt_a", "sfbt_b"))],
)  # fmt: skip
def test_gunz_resumes_with_history(
    driver: Path, fast_driver: Path, tmp_path: Path, kind: str, sfbt_keys: tuple[str, str]
) -> None:
    """Small fifos force many DECOMPRESS_RESUME jobs, history wrapping around fifo_out."""
    if kind == "dynamic":
        data = text_data(60_000)
        (tmp_path / "f.gz").write_bytes(_gz(data, 6))
    elif kind == "stored":
        data = random_data(1 << 20)
        (tmp_path / "f.gz").write_bytes(_gz(data, 1))
    else:
        data = text_data(20_000) + random_data(200_000)
        (tmp_path / "f").write_bytes(data)
        run(fast_driver, "gzfht", tmp_path / "f", tmp_path / "f.gz")
    one = run(driver, "gunz", tmp_path / "f.gz", tmp_path / "one")
    assert int(one["resumes"]) <= 1
    many = run(driver, "gunz", tmp_path / "f.gz", tmp_path / "many", 5000, 70000)
    assert many["gunz_ok"] == "1"
    assert int(many["resumes"]) >= 20 and int(many["hist_wraps"]) >= 1
    # suspended inside blocks of that kind (bfinal 0 or 1), and once at the final EOB
    assert sum(int(many.get(key, "0")) for key in sfbt_keys) >= 10
    assert int(many["sfbt_0"]) == 1
    assert (tmp_path / "many").read_bytes() == (tmp_path / "one").read_bytes() == data


def test_gunz_target_space_then_resume(driver: Path, tmp_path: Path) -> None:
    data = text_data(60_000)
    (tmp_path / "f.gz").write_bytes(_gz(data, 6))
    r = run(driver, "gunz", tmp_path / "f.gz", tmp_path / "out", 5000, 70000)
    assert int(r["cc13"]) >= 1  # halved the source and went on
    assert (tmp_path / "out").read_bytes() == data


def test_gunz_page_outs_fault_and_resubmit(driver: Path, tmp_path: Path) -> None:
    data = text_data(30_000)
    (tmp_path / "f.gz").write_bytes(_gz(data, 6))
    r = run(driver, "gunz", tmp_path / "f.gz", tmp_path / "out", 5000, 70000, 3)
    assert int(r["nx_faults"]) >= 10 and r["gunz_ok"] == "1"
    assert (tmp_path / "out").read_bytes() == data


def test_max_processed_len_splits_decompression(driver: Path, tmp_path: Path) -> None:
    data = text_data(30_000)
    gz = _gz(data, 6)
    (tmp_path / "f.gz").write_bytes(gz)
    r = run(driver, "gunz", tmp_path / "f.gz", tmp_path / "out", env={"NX_MAX_LEN": "4096"})
    assert int(r["cc3"]) >= (len(gz) - 18) // 4096
    assert (tmp_path / "out").read_bytes() == data


# ---- faults and hostile CRBs ----


@pytest.fixture(scope="module")
def cases(driver: Path) -> Result:
    r = run(driver, "cases")
    assert r["cases_done"] == "1"
    return r


@pytest.mark.parametrize(
    ("case", "write", "ea_delta"),
    [("src_fault", 0, 0), ("dst_fault", 1, 0), ("cpb_fault", 0, 0), ("cpb_out_fault", 1, 0),
     # the CSB is written bytes 1..15 first, then the valid byte: the first access is CSB+1
     ("csb_fault", 1, 1), ("list_fault", None, 0)],
)  # fmt: skip
def test_fault_reports_exact_ea_and_leaves_csb(
    cases: Result, case: str, write: int | None, ea_delta: int
) -> None:
    assert cases[f"{case}.status"] == "faulted"
    assert int(cases[f"{case}.fault_ea_delta"]) == ea_delta
    if write is not None:
        assert int(cases[f"{case}.fault_write"]) == write
        assert cases[f"{case}.csb_untouched"] == "1"
        assert cases[f"{case}.retry_status"] == "completed"
        assert cases[f"{case}.retry_v"] == "0x80"
    else:
        assert cases[f"{case}.csb_v"] == "0x00"
    assert int(cases[f"{case}.retry_cc"]) == CC_OK
    assert cases[f"{case}.retry_roundtrip"] == "1"


@pytest.mark.parametrize(
    ("case", "cc", "ce"),
    [("bad_fc_1e", CC_SUBFUNCTION, CE_TERMINATION), ("bad_fc_ff", CC_SUBFUNCTION, CE_TERMINATION),
     ("bad_fc_18", CC_SUBFUNCTION, CE_TERMINATION), ("self_loop", CC_INVALID_DDE, CE_TERMINATION),
     ("list_loop", CC_INVALID_DDE, CE_TERMINATION), ("short_list", CC_DDE_OVERFLOW, CE_TERMINATION),
     ("max_list", CC_OK, CE_TPBC), ("wrap_src", CC_INVALID_DDE, CE_TERMINATION),
     ("huge_list_entry", CC_OK, CE_TPBC), ("tiny_target", CC_TARGET_SPACE, CE_TERMINATION),
     ("zero_target", CC_TARGET_SPACE, CE_TERMINATION),
     ("hist_too_long", CC_DATA_LENGTH, CE_TERMINATION),
     ("hist_past_src", CC_DATA_LENGTH, CE_TERMINATION), ("bad_dht", CC_INVALID_DHT, CE_TERMINATION),
     ("garbage_inflate", CC_INVALID_DHT, CE_TERMINATION),
     ("bad_stored", CC_INVALID_DHT, CE_TERMINATION), ("btype3", CC_INVALID_DHT, CE_TERMINATION),
     ("far_distance", CC_INVALID_DIST, CE_TERMINATION),
     ("sym286", CC_MISSING_CODE, CE_TERMINATION),
     ("limit_compress", CC_DATA_LENGTH, CE_PARTIAL | CE_TPBC)],
)  # fmt: skip
def test_hostile_crb_completion_codes(cases: Result, case: str, cc: int, ce: int) -> None:
    assert cases[f"{case}.status"] == "completed"
    assert (int(cases[f"{case}.cc"]), int(cases[f"{case}.ce"], 16)) == (cc, ce)
    assert cases[f"{case}.v"] == "0x80"


def test_hostile_outputs_that_are_still_usable(cases: Result) -> None:
    assert cases["max_list.roundtrip"] == "1"  # 255 indirect entries
    assert int(cases["limit_compress.spbc"]) == 4096
    assert cases["limit_compress.roundtrip"] == "1"


def test_source_past_memory_faults_at_its_end(cases: Result) -> None:
    assert cases["huge_src.status"] == "faulted"
    assert int(cases["huge_src.fault_off"], 16) == int(cases["huge_src.mem_size"], 16)
    assert cases["huge_src.v"] == "0x00"


def test_csb_outside_memory_faults_without_a_write(cases: Result) -> None:
    # the CPB (CSB + 16) is read before anything is written
    assert cases["csb_outside.status"] == "faulted"
    assert int(cases["csb_outside.fault_ea"], 16) == 0x20


# ---- the unmodified selftest sources, with gzip_vas.c replaced by the engine ----

SELFTEST_SUBDIR = "tools/testing/selftests/powerpc/nx-gzip"


def _selftest_dir() -> Path | None:
    cache = Path(os.environ.get("FAULTLAB_CACHE", Path.home() / ".cache" / "faultlab"))
    # the default series' unpacked source (linux/SERIES/pristine-VERSION)
    trees = sorted((cache / "linux" / paths.DEFAULT_SERIES).glob("pristine-*/.faultlab-complete"))
    for done in reversed(trees):
        src = done.parent / SELFTEST_SUBDIR
        if (src / "gzfht_test.c").is_file() and (src / "gunz_test.c").is_file():
            return src
    return None


def _build_selftests(out: Path, flags: list[str]) -> dict[str, Path]:
    src = _selftest_dir()
    if src is None:
        pytest.skip("no unpacked linux source in the cache (guest-kernel/build.sh makes it)")
    gcc = host_gcc(need_zlib=True)
    bins = {}
    for name in ("gzfht_test", "gunz_test"):
        cmd = [
            "nice", "-n", "10", gcc, *flags,
            f"-I{ROOT / 'tests' / 'nx' / 'selftest'}", f"-I{src / 'include'}",
            f"-I{ROOT / 'qemu-devices'}", f"-I{SHIM}",
            str(src / f"{name}.c"), str(ROOT / "tests" / "nx" / "selftest" / "nx_engine_vas.c"),
            str(ENGINE), "-lz", "-o", str(out / name),
        ]  # fmt: skip
        built = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert built.returncode == 0, built.stderr
        bins[name] = out / name
    return bins


@pytest.fixture(scope="module")
def selftests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    flags = ["-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    return _build_selftests(tmp_path_factory.mktemp("selftests"), flags)


def run_selftest(
    exe: Path, arg: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0", **(env or {})}
    done = subprocess.run(
        [str(exe), arg.name],
        cwd=arg.parent,
        capture_output=True,
        text=True,
        timeout=600,
        env=environ,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "runtime error" not in done.stderr, done.stderr
    return done


def _stat(stderr: str, key: str) -> int:
    return int(stderr.rsplit(f"{key}=", 1)[1].split()[0])


def _checksums(stderr: str) -> tuple[str, str]:
    computed = stderr.split("computed checksum ", 1)[1].split()[0]
    stored = stderr.split("stored   checksum ", 1)[1].split()[0]
    return computed, stored


@pytest.mark.parametrize("size", [4096, 65536, 1 << 20])
def test_unmodified_selftests_pass(selftests: dict[str, Path], tmp_path: Path, size: int) -> None:
    """nx-gzip-test.sh's sizes through the unmodified gzfht_test.c and gunz_test.c."""
    data = random_data(size, seed=size + 1)
    (tmp_path / "f").write_bytes(data)
    c = run_selftest(selftests["gzfht_test"], tmp_path / "f")
    assert f"crc32 checksum = {zlib.crc32(data):08x}" in c.stderr
    assert gzip.decompress((tmp_path / "f.nx.gz").read_bytes()) == data
    d = run_selftest(selftests["gunz_test"], tmp_path / "f.nx.gz")
    computed, stored = _checksums(d.stderr)
    assert computed == stored == f"{zlib.crc32(data):08x}"
    assert (tmp_path / "f.nx.gz.nx.gunzip").read_bytes() == data


def test_unmodified_selftests_64m(tmp_path_factory: pytest.TempPathFactory) -> None:
    bins = _build_selftests(tmp_path_factory.mktemp("selftests_o2"), ["-O2"])
    tmp = tmp_path_factory.mktemp("st64")
    data = random_data(64 << 20, seed=65)
    (tmp / "f").write_bytes(data)
    c = run_selftest(bins["gzfht_test"], tmp / "f")
    assert _stat(c.stderr, "engine_jobs") == 16  # 4 MiB chunks on PowerNV
    d = run_selftest(bins["gunz_test"], tmp / "f.nx.gz")
    assert _stat(d.stderr, "engine_jobs") > 1  # resumed inside the 4 MiB FHT blocks
    assert (tmp / "f.nx.gz.nx.gunzip").read_bytes() == data


def test_unmodified_selftests_faults_and_pseries_limit(
    selftests: dict[str, Path], tmp_path: Path
) -> None:
    """Injected AT faults (cc 250 through the CSB) and req_max_processed_len chunks."""
    data = text_data(40_000)
    (tmp_path / "f").write_bytes(data)
    c = run_selftest(
        selftests["gzfht_test"], tmp_path / "f", {"NX_FAULT_EVERY": "2", "NX_MAX_LEN": "65536"}
    )
    chunks = -(-len(data) // 65536)
    assert _stat(c.stderr, "engine_faults") >= chunks // 2 >= 1
    assert _stat(c.stderr, "engine_jobs") == chunks + _stat(c.stderr, "engine_faults")
    assert gzip.decompress((tmp_path / "f.nx.gz").read_bytes()) == data
    (tmp_path / "g.gz").write_bytes(_gz(data, 9))
    d = run_selftest(
        selftests["gunz_test"], tmp_path / "g.gz", {"NX_FAULT_EVERY": "3", "NX_MAX_LEN": "8192"}
    )
    assert _stat(d.stderr, "engine_faults") >= 1
    assert _stat(d.stderr, "engine_jobs") >= len(_gz(data, 9)) // 8192
    computed, stored = _checksums(d.stderr)
    assert computed == stored
    assert (tmp_path / "g.gz.nx.gunzip").read_bytes() == data
