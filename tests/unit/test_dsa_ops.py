"""The DSA operation engine (qemu-devices/hw/faultlab/dsa/dsa-ops.c) on the host, without QEMU.

tests/dsa/dsa_ops_host_test.c runs descriptors over a fake "guest" memory whose 4 KiB pages can
be absent or read-only; it fails loudly when the engine touches a byte outside the buffers the
test allows or crosses a page in one access. It is built with gcc under AddressSanitizer and
UndefinedBehaviorSanitizer. Expected bytes and CRCs are computed here, in Python.

CRC convention (accel-config test/dsa.c dsa_calculate_crc32, Intel DML core/src/crc.cpp): CRC-32C
(Castagnoli, reflected); register = ~seed, result = ~register, so seed 0 gives the catalogue
CRC-32C and a crc_val is the seed that continues it. Flag bit 17 (bypass CRC inversion and
reflection): register = bitrev32(seed), result = bitrev32(register). Flag bit 18 (bypass data
reflection): each data byte is bit-reversed before it enters the register.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from host_engine import ROOT, SANITIZE, build_engine

ENGINE = ROOT / "qemu-devices" / "hw" / "faultlab" / "dsa" / "dsa-ops.c"
DRIVER = ROOT / "tests" / "dsa" / "dsa_ops_host_test.c"

PAGE = 4096
NOOP, MEMMOVE, MEMFILL, COMPARE, COMPVAL, CR_DELTA, AP_DELTA, DUALCAST = 0, 3, 4, 5, 6, 7, 8, 9
CRCGEN, COPY_CRC, CFLUSH = 0x10, 0x11, 0x20
CRAV, RCR, CHECK_RESULT, CC, DRDBK = 0x4, 0x8, 0x80, 0x100, 0x4000
READ_SEED, BYPASS_INV, BYPASS_DATA_REF, FILL16 = 0x10000, 0x20000, 0x40000, 0x10000
SUCCESS, SUCCESS_PRED, PAGE_FAULT, WRITE = 0x01, 0x02, 0x03, 0x80
BAD_OPCODE, INVALID_FLAGS, XFER_ERANGE, DR_ERANGE = 0x10, 0x11, 0x13, 0x15
OVERLAP, DCAST_ERR, CRA_ALIGN, ADDR_ALIGN = 0x16, 0x17, 0x1B, 0x1C
DR_OFFSET_NOINC, DR_OFFSET_ERANGE = 0x07, 0x08
ALL_OPCAP = (1 << 0x0A) - 1 | 0x3F << 0x10 | 1 << 0x20  # with DIF 0x12..0x15
GENCAP_OVERLAP, GENCAP_READBACK = 1 << 1, 1 << 8

A, B, C, D = 0x10000, 0x40000, 0x80000, 0xC0000  # 8-page regions
REGION = 8 * PAGE

Result = dict[str, int]


# ---- reference models ----


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def bitrev(v: int, bits: int) -> int:
    return int(f"{v:0{bits}b}"[::-1], 2)


def dsa_crc(data: bytes, seed: int = 0, flags: int = 0) -> int:
    reg = bitrev(seed, 32) if flags & BYPASS_INV else ~seed & 0xFFFFFFFF
    for b in data:
        if flags & BYPASS_DATA_REF:
            b = bitrev(b, 8)
        reg = CRC_TABLE[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return bitrev(reg, 32) if flags & BYPASS_INV else ~reg & 0xFFFFFFFF


def crc32c_msb_first(data: bytes, init: int) -> int:
    """Non-reflected CRC with polynomial 0x1EDC6F41, no final xor (independent model)."""
    reg = init
    for b in data:
        reg ^= b << 24
        for _ in range(8):
            reg = ((reg << 1) ^ 0x1EDC6F41 if reg & 0x80000000 else reg << 1) & 0xFFFFFFFF
    return reg


def pattern_bytes(n: int, pattern: bytes) -> bytes:
    return (pattern * (n // len(pattern) + 1))[:n]


# ---- driver ----


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dsa") / "dsa_ops_host_test"
    return build_engine(out, DRIVER, ENGINE, SANITIZE)


def desc(
    op: int,
    src: int = 0,
    dst: int = 0,
    n: int = 0,
    flags: int = CRAV | RCR,
    extra: dict[int, bytes] | None = None,
    completion: int = 0x1000,
) -> bytes:
    d = bytearray(64)
    struct.pack_into("<IQQQI", d, 4, flags | op << 24, completion, src, dst, n)
    for off, val in (extra or {}).items():
        d[off : off + len(val)] = val
    return bytes(d)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v & (2**64 - 1))


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


@dataclass
class Bench:
    """One driver session: regions, page states, a descriptor, runs."""

    exe: Path
    tmp: Path
    lines: list[str] = field(default_factory=list)
    regions: dict[int, int] = field(default_factory=dict)

    def region(self, base: int, data: bytes | int = REGION) -> Bench:
        size = data if isinstance(data, int) else len(data)
        size = (size + PAGE - 1) // PAGE * PAGE
        if isinstance(data, int):
            self.lines.append(f"region {base:x} {size:x}")
        else:
            f = self.tmp / f"region-{base:x}"
            f.write_bytes(data.ljust(size, b"\0"))
            self.lines.append(f"region {base:x} {size:x} {f}")
        self.regions[base] = size
        return self

    def absent(self, *addrs: int) -> Bench:
        self.lines += [f"absent {a:x}" for a in addrs]
        return self

    def readonly(self, *addrs: int) -> Bench:
        self.lines += [f"readonly {a:x}" for a in addrs]
        return self

    def allow(self, base: int, length: int) -> Bench:
        self.lines.append(f"allow {base & (2**64 - 1):x} {length:x}")
        return self

    def limits(self, max_xfer: int = 0, opcap: int = ALL_OPCAP, gencap: int = 0x102) -> Bench:
        caps = " ".join(f"{(opcap >> (64 * i)) & (2**64 - 1):x}" for i in range(4))
        self.lines.append(f"limits {max_xfer:x} {caps} {gencap:x}")
        return self

    def desc(self, d: bytes) -> Bench:
        self.lines.append(f"desc {d.hex()}")
        return self

    def cmd(self, line: str) -> Bench:
        self.lines.append(line)
        return self

    def go(self, ok: bool = True) -> tuple[list[Result], dict[int, bytes], str]:
        dumps = {}
        for base, size in self.regions.items():
            dumps[base] = self.tmp / f"dump-{base:x}"
            self.lines.append(f"dump {base:x} {size:x} {dumps[base]}")
        done = subprocess.run(
            [str(self.exe)],
            input="\n".join(self.lines) + "\n",
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "ASAN_OPTIONS": "detect_leaks=1"},
            check=False,
        )
        assert "ERROR: AddressSanitizer" not in done.stderr, done.stderr
        assert "runtime error" not in done.stderr, done.stderr
        if ok:
            assert done.returncode == 0, done.stdout + done.stderr
        results = []
        for line in done.stdout.splitlines():
            kind, *pairs = line.split()
            if kind in ("run", "validate"):
                res: Result = {"kind": 1 if kind == "run" else 0}
                for p in pairs:
                    k, v = p.split("=", 1)
                    res[k] = int(v, 16) if k == "cr" else int(v, 0)
                results.append(res)
        mems = {base: p.read_bytes() for base, p in dumps.items() if p.exists()}
        return results, mems, done.stdout + done.stderr


@pytest.fixture
def bench(driver: Path, tmp_path: Path) -> Bench:
    return Bench(driver, tmp_path)


def rand(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def cr_bytes(r: Result) -> bytes:
    return r["cr"].to_bytes(32, "big")


def one_run(b: Bench, d: bytes, runs: str = "run") -> tuple[Result, dict[int, bytes]]:
    results, mems, _ = b.desc(d).cmd(runs).go()
    return results[-1], mems


# ---- CRC ----


def test_crc_model_matches_catalogue_and_accel_config_convention() -> None:
    assert dsa_crc(b"123456789") == 0xE3069283  # CRC-32C check value
    data = rand(1000)
    # the seed is the previous crc_val: chaining over a split equals one pass
    for flags in (0, BYPASS_INV, BYPASS_DATA_REF, BYPASS_INV | BYPASS_DATA_REF):
        assert dsa_crc(data, 0x12345678, flags) == dsa_crc(
            data[300:], dsa_crc(data[:300], 0x12345678, flags), flags
        )
    # both bypasses: a plain MSB-first CRC-32C (poly 0x1EDC6F41), init = seed, no final xor
    assert dsa_crc(data, 0x89ABCDEF, BYPASS_INV | BYPASS_DATA_REF) == crc32c_msb_first(
        data, 0x89ABCDEF
    )


@pytest.mark.parametrize("flags", [0, BYPASS_INV, BYPASS_DATA_REF, BYPASS_INV | BYPASS_DATA_REF])
def test_crcgen_values(bench: Bench, flags: int) -> None:
    data = b"123456789" + rand(3 * PAGE)
    bench.region(A, data).limits()
    d1 = desc(CRCGEN, A, 0, 9, CRAV | RCR | flags, {40: u32(0)})
    d2 = desc(CRCGEN, A + 1, 0, len(data) - 1, CRAV | RCR | flags, {40: u32(0x12345678)})
    results, _, _ = bench.desc(d1).cmd("validate").cmd("run").desc(d2).cmd("run").go()
    assert results[0]["status"] == 0
    assert results[1]["status"] == SUCCESS
    assert results[1]["op_specific"] == dsa_crc(b"123456789", 0, flags)
    if flags == 0:
        assert results[1]["op_specific"] == 0xE3069283
        assert struct.unpack_from("<Q", cr_bytes(results[1]), 16) == (0xE3069283,)
    assert results[2]["op_specific"] == dsa_crc(data[1:], 0x12345678, flags)


def test_crc_read_seed_from_memory_and_accel_config_pattern(bench: Bench) -> None:
    # accel-config init_crcgen: src = 0x0123456789abcdef pattern, seed 0x12345678
    src = pattern_bytes(2 * PAGE, struct.pack("<Q", 0x0123456789ABCDEF))
    seed_addr = B + PAGE - 2  # the seed straddles two pages (two regions here)
    page_b = bytearray(PAGE)
    page_b[PAGE - 2 :] = u32(0x12345678)[:2]
    bench.region(A, src).region(B, bytes(page_b)).region(B + PAGE, u32(0x12345678)[2:])
    bench.limits().allow(A, len(src)).allow(seed_addr, 4)
    d = desc(CRCGEN, A, 0, len(src), CRAV | RCR | READ_SEED, {48: u64(seed_addr)})
    res, _ = one_run(bench, d)
    assert res["status"] == SUCCESS
    assert res["op_specific"] == dsa_crc(src, 0x12345678)


def test_crc_seed_page_fault_reports_seed_address(bench: Bench) -> None:
    bench.region(A, rand(PAGE)).region(B).limits().absent(B + PAGE)
    d = desc(CRCGEN, A, 0, PAGE, CRAV | RCR | READ_SEED, {48: u64(B + PAGE - 2)})
    results, _, _ = bench.desc(d).cmd("runall").go()
    assert [(r["status"], r["fault_addr"], r["bytes_completed"]) for r in results] == [
        (PAGE_FAULT, B + PAGE, 0),
        (SUCCESS, 0, 0),
    ]
    assert results[1]["op_specific"] == dsa_crc(rand(PAGE), 0)


@pytest.mark.parametrize("op", [CRCGEN, COPY_CRC])
@pytest.mark.parametrize("flags", [0, BYPASS_INV | BYPASS_DATA_REF])
def test_crc_fault_at_each_page_and_resume(bench: Bench, op: int, flags: int) -> None:
    src = rand(5 * PAGE + 123, seed=op)
    s, dst, n = A + 77, B + 1000, len(src) - 200
    bench.region(A, src).region(B).limits().allow(s, n).allow(dst, n)
    # every source page absent, every destination page read-only
    bench.absent(*range(A, A + 6 * PAGE, PAGE)).readonly(*range(B, B + 6 * PAGE, PAGE))
    d = desc(op, s, dst if op == COPY_CRC else 0, n, CRAV | RCR | flags, {40: u32(0xCAFEF00D)})
    results, mems, _ = bench.desc(d).cmd("runall").go()
    body = src[77 : 77 + n]
    for r in results[:-1]:
        done = r["bytes_completed"]
        assert r["faulted"] == 1 and r["done"] == done
        # crc_val of a partial completion covers exactly the bytes done
        assert r["op_specific"] == dsa_crc(body[:done], 0xCAFEF00D, flags)  # 0 bytes: the seed
        if r["fault_write"]:
            assert r["status"] == PAGE_FAULT | WRITE and r["fault_addr"] == dst + done
        else:
            assert r["status"] == PAGE_FAULT and r["fault_addr"] == s + done
        assert r["fault_addr"] % PAGE == 0 or done == 0
    final = results[-1]
    assert final["status"] == SUCCESS and final["faulted"] == 0
    assert final["op_specific"] == dsa_crc(body, 0xCAFEF00D, flags)
    src_pages = (s + n - 1) // PAGE - s // PAGE + 1
    dst_pages = (dst + n - 1) // PAGE - dst // PAGE + 1
    assert len(results) - 1 == src_pages + (dst_pages if op == COPY_CRC else 0)
    if op == COPY_CRC:
        assert mems[B][1000 : 1000 + n] == body


# ---- MEMMOVE ----


def test_memmove_copies_unaligned_buffers(bench: Bench) -> None:
    src = rand(REGION)
    s, d, n = A + 5, B + 4000, 3 * PAGE + 17
    bench.region(A, src).region(B).limits().allow(s, n).allow(d, n)
    res, mems = one_run(bench, desc(MEMMOVE, s, d, n))
    assert (res["status"], res["result"], res["bytes_completed"]) == (SUCCESS, 0, 0)
    assert res["cr"] >> 248 == SUCCESS
    assert mems[B][4000 : 4000 + n] == src[5 : 5 + n]
    assert mems[B][:4000] == bytes(4000) and mems[B][4000 + n :] == bytes(REGION - 4000 - n)


@pytest.mark.parametrize("k", range(4))
def test_memmove_missing_source_page_k(bench: Bench, k: int) -> None:
    src = rand(REGION)
    s, d, n = A + 100, B + 300, 3 * PAGE + 50  # source spans pages 0..3
    bench.region(A, src).region(B).limits().allow(s, n).allow(d, n).absent(A + k * PAGE)
    results, mems, _ = bench.desc(desc(MEMMOVE, s, d, n)).cmd("run").go()
    r = results[0]
    done = 0 if k == 0 else k * PAGE - 100
    fault = s if k == 0 else A + k * PAGE  # the first byte of the access that failed
    assert (r["status"], r["faulted"], r["fault_write"]) == (PAGE_FAULT, 1, 0)
    assert (r["bytes_completed"], r["fault_addr"], r["result"]) == (done, fault, 0)
    # the CR as software reads it
    cr = cr_bytes(r)
    assert cr[0] == PAGE_FAULT and struct.unpack_from("<IQ", cr, 4) == (done, fault)
    assert mems[B][300 : 300 + done] == src[100 : 100 + done]
    assert mems[B][300 + done :] == bytes(REGION - 300 - done)


@pytest.mark.parametrize("k", range(4))
def test_memmove_read_only_destination_page_k(bench: Bench, k: int) -> None:
    s, d, n = A + 100, B + 300, 3 * PAGE + 50
    bench.region(A, rand(REGION)).region(B).limits().readonly(B + k * PAGE)
    results, _, _ = bench.desc(desc(MEMMOVE, s, d, n)).cmd("runall").go()
    r = results[0]
    done = 0 if k == 0 else k * PAGE - 300
    assert (r["status"], r["fault_write"]) == (PAGE_FAULT | WRITE, 1)
    assert (r["bytes_completed"], r["fault_addr"]) == (done, d if k == 0 else B + k * PAGE)
    assert r["cr"] >> 248 == 0x83
    assert results[1]["status"] == SUCCESS


@pytest.mark.parametrize("delta", [-5000, -1, 1, 7, 4096, 9000])
def test_memmove_overlapping_is_memmove(bench: Bench, delta: int) -> None:
    data = rand(REGION)
    s, n = A + 2 * PAGE + 11, 3 * PAGE + 99
    d = s + delta
    bench.region(A, data).limits().allow(min(s, d), n + abs(delta))
    # every page absent: one fault per page touched, resumed each time
    bench.absent(*range(A, A + REGION, PAGE))
    results, mems, _ = bench.desc(desc(MEMMOVE, s, d, n)).cmd("runall").go()
    expected = bytearray(data)
    expected[d - A : d - A + n] = data[s - A : s - A + n]
    assert mems[A] == bytes(expected)
    descending = 0 < delta < n
    assert all(r["result"] == int(descending) for r in results[:-1])
    assert results[-1]["status"] == SUCCESS
    if descending:  # the bytes done are at the end: the first fault is the last page
        first = results[0]
        assert first["fault_addr"] // PAGE == (s + n - 1) // PAGE


def test_memmove_descending_partial_completion_resumes_like_accel_config(bench: Bench) -> None:
    """accel-config dsa_reprep_memcpy: result 1 -> resubmit with xfer_size -= bytes_completed."""
    data = rand(REGION)
    s, n = A + 2 * PAGE, 2 * PAGE
    d = s + 100
    bench.region(A, data).limits().absent(s)
    results, mems, _ = bench.desc(desc(MEMMOVE, s, d, n)).cmd("run").go()
    r = results[0]
    # from the end: 100 bytes (dst page), 3996 (src page), then src page s is missing
    assert (r["status"], r["result"], r["fault_addr"]) == (PAGE_FAULT, 1, s + PAGE - 100)
    bc = r["bytes_completed"]
    assert bc == PAGE
    # the tail n-bc.. n is done; a new descriptor for the head finishes the job
    b2 = Bench(bench.exe, bench.tmp / "second")
    (bench.tmp / "second").mkdir()
    b2.region(A, mems[A]).limits()
    res2, mems2 = one_run(b2, desc(MEMMOVE, s, d, n - bc))
    assert res2["status"] == SUCCESS
    expected = bytearray(data)
    expected[d - A : d - A + n] = data[s - A : s - A + n]
    assert mems2[A] == bytes(expected)


def test_memmove_overlap_without_gencap_is_overlap_error(bench: Bench) -> None:
    bench.region(A).limits(gencap=0)
    results, _, _ = bench.desc(desc(MEMMOVE, A, A + 8, 64)).cmd("validate").go()
    assert results[0]["status"] == OVERLAP
    bench2 = Bench(bench.exe, bench.tmp)
    bench2.region(A).limits(gencap=0)
    results, _, _ = bench2.desc(desc(MEMMOVE, A, A + 64, 64)).cmd("validate").go()
    assert results[0]["status"] == 0


# ---- MEMFILL, COMPARE, COMPVAL, DUALCAST, CFLUSH, NOOP ----


def test_memfill_8_and_16_byte_patterns_with_faults(bench: Bench) -> None:
    lo, hi = 0x0123456789ABCDEF, 0xFEDCBA9876543210
    d8, n8 = B + 3, 2 * PAGE + 7
    d16, n16 = C + 100, 3 * PAGE
    bench.region(B).region(C).limits().absent(C + PAGE, C + 2 * PAGE)
    bench.desc(desc(MEMFILL, lo, d8, n8)).cmd("run")
    bench.desc(desc(MEMFILL, lo, d16, n16, CRAV | RCR | FILL16, {40: u64(hi)})).cmd("runall")
    results, mems, _ = bench.go()
    assert results[0]["status"] == SUCCESS
    assert mems[B][3 : 3 + n8] == pattern_bytes(n8, u64(lo))
    assert mems[B][3 + n8 :] == bytes(REGION - 3 - n8)
    assert [(r["status"], r["bytes_completed"], r["fault_addr"]) for r in results[1:]] == [
        (PAGE_FAULT | WRITE, PAGE - 100, C + PAGE),
        (PAGE_FAULT | WRITE, 2 * PAGE - 100, C + 2 * PAGE),
        (SUCCESS, 0, 0),
    ]
    assert mems[C][100 : 100 + n16] == pattern_bytes(n16, u64(lo) + u64(hi))


def test_compare_equal_different_and_check_result(bench: Bench) -> None:
    data = rand(REGION)
    other = bytearray(data)
    other[2 * PAGE + 17] ^= 0x40
    bench.region(A, data).region(B, bytes(other)).limits()
    n = 3 * PAGE
    bench.desc(desc(COMPARE, A, B, 2 * PAGE)).cmd("run")
    bench.desc(desc(COMPARE, A + 1, B + 1, n)).cmd("run")
    # check result: expected 0 but they differ -> success with false predicate
    bench.desc(desc(COMPARE, A, B, n, CRAV | RCR | CHECK_RESULT, {40: b"\0"})).cmd("run")
    bench.desc(desc(COMPARE, A, B, n, CRAV | RCR | CHECK_RESULT, {40: b"\1"})).cmd("run")
    results, mems, _ = bench.go()
    got = [(r["status"], r["result"], r["bytes_completed"]) for r in results]
    assert got == [
        (SUCCESS, 0, 0),
        (SUCCESS, 1, 2 * PAGE + 16),
        (SUCCESS_PRED, 1, 2 * PAGE + 17),
        (SUCCESS, 1, 2 * PAGE + 17),
    ]
    assert mems[A] == data and mems[B] == bytes(other)  # nothing written


def test_compare_faults_on_either_source(bench: Bench) -> None:
    data = rand(REGION)
    bench.region(A, data).region(B, data).limits().absent(B + 2 * PAGE, A + PAGE)
    results, _, _ = bench.desc(desc(COMPARE, A + 8, B + 8, 4 * PAGE)).cmd("runall").go()
    assert [(r["status"], r["fault_addr"], r["bytes_completed"]) for r in results] == [
        (PAGE_FAULT, A + PAGE, PAGE - 8),
        (PAGE_FAULT, B + 2 * PAGE, 2 * PAGE - 8),
        (SUCCESS, 0, 0),
    ]
    assert results[-1]["result"] == 0


def test_compval(bench: Bench) -> None:
    pat = 0x1122334455667788
    n = 2 * PAGE + 5
    buf = bytearray(pattern_bytes(n, u64(pat)))
    bench.region(A, bytes(buf)).limits()
    bench.desc(desc(COMPVAL, A, pat, n)).cmd("run")
    buf[PAGE + 13] = 0
    bench2 = Bench(bench.exe, bench.tmp)
    results, _, _ = bench.go()
    assert (results[0]["status"], results[0]["result"]) == (SUCCESS, 0)
    bench2.region(A, bytes(buf)).limits()
    bench2.desc(desc(COMPVAL, A, pat, n)).cmd("run")
    tail = bytearray(pattern_bytes(n, u64(pat)))
    tail[n - 2] ^= 1
    bench2.region(B, bytes(tail)).desc(desc(COMPVAL, B, pat, n)).cmd("run")
    results, _, _ = bench2.go()
    # DML's reference: the offset of the differing 8-byte word; in the tail, of the byte
    assert (results[0]["result"], results[0]["bytes_completed"]) == (1, PAGE + 8)
    assert (results[1]["result"], results[1]["bytes_completed"]) == (1, n - 2)


def test_dualcast_and_its_address_rule(bench: Bench) -> None:
    src = rand(REGION)
    s, d1, d2, n = A + 9, B + 0x123, C + 0x123, 2 * PAGE + 1
    bench.region(A, src).region(B).region(C).limits().allow(s, n).allow(d1, n).allow(d2, n)
    bench.absent(C + PAGE)
    bench.desc(desc(DUALCAST, s, d1, n, extra={40: u64(d2)})).cmd("runall")
    bench.desc(desc(DUALCAST, s, d1, n, extra={40: u64(d2 + 8)})).cmd("validate")
    bench.desc(desc(DUALCAST, s, d1, n, extra={40: u64(d1 + PAGE)})).cmd("validate")
    results, mems, _ = bench.go()
    assert (results[0]["status"], results[0]["fault_addr"]) == (PAGE_FAULT | WRITE, C + PAGE)
    assert results[0]["bytes_completed"] == PAGE - 0x123
    assert results[1]["status"] == SUCCESS
    assert mems[B][0x123 : 0x123 + n] == src[9 : 9 + n] == mems[C][0x123 : 0x123 + n]
    assert results[2]["status"] == DCAST_ERR
    assert results[3]["status"] == OVERLAP


def test_noop_and_cflush_touch_nothing(bench: Bench) -> None:
    data = rand(REGION)
    bench.region(A, data).limits().allow(0, 0)  # any access would abort the driver
    bench.desc(desc(NOOP, A, A, 0)).cmd("validate").cmd("run")
    bench.desc(desc(CFLUSH, 0, A, REGION, CRAV | RCR | CC)).cmd("validate").cmd("run")
    results, mems, _ = bench.go()
    assert [r["status"] for r in results] == [0, SUCCESS, 0, SUCCESS]
    assert mems[A] == data


# ---- CR_DELTA / AP_DELTA ----


def test_create_and_apply_delta_roundtrip_with_faults(bench: Bench) -> None:
    n = 3 * PAGE
    src1 = rand(n)
    src2 = bytearray(src1)
    changed = [0, 1, 500, 1023, 1535]  # 8-byte block indices
    for i in changed:
        src2[8 * i + 3] ^= 0xFF
    bench.region(A, src1).region(B, bytes(src2)).region(C, src1).region(D).limits()
    bench.absent(B + PAGE, D + 0x1000)  # a source page, the delta record's second page
    delta = D + 0x1000 - 24  # the third entry straddles the page boundary
    bench.desc(desc(CR_DELTA, A, B, n, extra={40: u64(delta), 48: u32(200)})).cmd("runall")
    results, mems, _ = bench.go()
    final = results[-1]
    assert (final["status"], final["result"], final["op_specific"]) == (SUCCESS, 1, 50)
    assert [(r["fault_addr"], r["bytes_completed"], r["op_specific"]) for r in results[:-1]] == [
        (D + 0x1000, 4000, 20),
        (B + PAGE, PAGE, 30),
    ]
    record = mems[D][0x1000 - 24 : 0x1000 - 24 + 50]
    entries = [struct.unpack_from("<HQ", record, 10 * k) for k in range(5)]
    assert [e[0] for e in entries] == changed
    assert [e[1] for e in entries] == [struct.unpack_from("<Q", src2, 8 * i)[0] for i in changed]
    # apply it to a copy of src1
    b2 = Bench(bench.exe, bench.tmp / "apply")
    (bench.tmp / "apply").mkdir()
    b2.region(C, src1).region(D, mems[D]).limits().absent(C + 2 * PAGE)
    b2.desc(desc(AP_DELTA, delta, C, n, extra={40: u32(50)})).cmd("runall")
    res, mems2, _ = b2.go()
    assert res[-1]["status"] == SUCCESS
    assert (res[0]["fault_addr"], res[0]["bytes_completed"]) == (C + 1535 * 8, 40)
    assert mems2[C][:n] == bytes(src2)


def test_delta_overflow_check_result_and_errors(bench: Bench) -> None:
    n = PAGE
    src1, src2 = bytes(n), b"\1" * n
    bench.region(A, src1).region(B, src2).region(D).limits()
    bench.desc(desc(CR_DELTA, A, B, n, extra={40: u64(D), 48: u32(80)})).cmd("run")
    mask_overflow = {40: u64(D), 48: u32(80), 56: b"\4"}
    bench.desc(desc(CR_DELTA, A, B, n, CRAV | RCR | CHECK_RESULT, mask_overflow)).cmd("run")
    mask_equal = {40: u64(D), 48: u32(80), 56: b"\1"}
    bench.desc(desc(CR_DELTA, A, B, n, CRAV | RCR | CHECK_RESULT, mask_equal)).cmd("run")
    bench.desc(desc(CR_DELTA, A, B, n, extra={40: u64(D), 48: u32(85)})).cmd("validate")
    bench.desc(desc(CR_DELTA, A + 4, B, n, extra={40: u64(D), 48: u32(80)})).cmd("validate")
    bad_order = struct.pack("<HQ", 5, 1) + struct.pack("<HQ", 5, 2)
    bad_range = struct.pack("<HQ", n // 8, 1)
    bench.region(C, bad_order + bytes(4) + bad_range)
    bench.desc(desc(AP_DELTA, C, A, n, extra={40: u32(20)})).cmd("run")
    bench.desc(desc(AP_DELTA, C + 24, A, n, extra={40: u32(10)})).cmd("run")
    bench.desc(desc(AP_DELTA, C, A, n, extra={40: u32(15)})).cmd("validate")
    results, _, _ = bench.go()
    got = [(r["status"], r.get("result", 0), r["op_specific"]) for r in results[:3]]
    assert got == [(SUCCESS, 2, 80), (SUCCESS, 2, 80), (SUCCESS_PRED, 2, 80)]
    assert results[0]["bytes_completed"] == 64  # 8 entries fit, the 9th block overflows
    assert [r["status"] for r in results[3:]] == [
        DR_ERANGE,
        ADDR_ALIGN,
        DR_OFFSET_NOINC,
        DR_OFFSET_ERANGE,
        DR_ERANGE,
    ]


# ---- DIF (T10 protection information) ----
#
# Block = blk data bytes followed by an 8-byte tuple: guard (CRC-16 T10-DIF of the data,
# big-endian), application tag (big-endian), reference tag (big-endian 32-bit), as accel-config
# test/dsa.c init_dif_check writes it. Descriptor: byte 40 source DIF flags, 41 destination DIF
# flags, 42 DIF flags (bits 1:0 block size 512/520/4096/4104, 2 invert CRC seed, 3 invert CRC
# result); +48 source ref tag seed, app tag mask, app tag seed; +56 the destination's. CR: byte 1
# dif_status, +16 source tags, +24 destination tags (Insert: +24 only).

DIF_CHECK, DIF_INS, DIF_STRP, DIF_UPDT = 0x12, 0x13, 0x14, 0x15
DIF_OPS = (DIF_CHECK, DIF_INS, DIF_STRP, DIF_UPDT)
DIF_ERR = 0x09
DIF_BLOCKS = (512, 520, 4096, 4104)
# source DIF flags
ALL_F_ERR, ALL_F, APP_F, APP_REF_F = 0x01, 0x02, 0x04, 0x08
SRC_APP_INC, GUARD_OFF, REF_OFF, SRC_REF_FIXED = 0x10, 0x20, 0x40, 0x80
# destination DIF flags
APP_PASS, DST_APP_INC, GUARD_PASS, REF_PASS, DST_REF_FIXED = 0x08, 0x10, 0x20, 0x40, 0x80
# DIF flags
INV_SEED, INV_RESULT = 0x04, 0x08
# dif_status
E_GUARD, E_APP, E_REF, E_ALL_F = 0x01, 0x02, 0x04, 0x08


def _crc16_byte(v: int) -> int:
    reg = v << 8
    for _ in range(8):
        reg = ((reg << 1) ^ 0x8BB7 if reg & 0x8000 else reg << 1) & 0xFFFF
    return reg


CRC16_TABLE = [_crc16_byte(i) for i in range(256)]


def crc16_t10(data: bytes, init: int = 0) -> int:
    """CRC-16 T10-DIF: polynomial 0x8BB7, MSB first, no reflection, no final xor."""
    reg = init
    for b in data:
        reg = ((reg << 8) & 0xFFFF) ^ CRC16_TABLE[(reg >> 8) ^ b]
    return reg


def guard(data: bytes, dflags: int = 0) -> int:
    crc = crc16_t10(data, 0xFFFF if dflags & INV_SEED else 0)
    return crc ^ 0xFFFF if dflags & INV_RESULT else crc


@dataclass(frozen=True)
class Tags:
    """One side's tags as a descriptor gives them: seeds for block 0 and how they move."""

    ref: int = 0xABBA
    mask: int = 0
    app: int = 0xFACE
    ref_fixed: bool = False
    app_inc: bool = False

    def at(self, block: int) -> tuple[int, int]:
        ref = self.ref if self.ref_fixed else (self.ref + block) & 0xFFFFFFFF
        app = (self.app + block) & 0xFFFF if self.app_inc else self.app
        return ref, app

    def desc_bytes(self) -> bytes:
        return struct.pack("<IHH", self.ref, self.mask, self.app)

    def cr(self, block: int) -> int:
        """The CR's view (+16 or +24) for the block a run stopped at or would start next."""
        ref, app = self.at(block)
        return ref | self.mask << 32 | app << 48


def tuple_bytes(g: int, app: int, ref: int) -> bytes:
    return struct.pack(">HHI", g, app, ref)


def protect(data: bytes, blk: int, tags: Tags, dflags: int = 0) -> bytes:
    """data (whole blocks) with a tuple after each block, as DIF Insert writes it."""
    out = bytearray()
    for i in range(len(data) // blk):
        block = data[i * blk : (i + 1) * blk]
        ref, app = tags.at(i)
        out += block + tuple_bytes(guard(block, dflags), app & ~tags.mask & 0xFFFF, ref)
    return bytes(out)


def strip(prot: bytes, blk: int) -> bytes:
    return b"".join(prot[i : i + blk] for i in range(0, len(prot), blk + 8))


def dif_desc(
    op: int,
    src: int,
    dst: int,
    n: int,
    *,
    sflags: int = 0,
    oflags: int = 0,
    dflags: int = 0,
    src_tags: Tags | None = None,
    dst_tags: Tags | None = None,
    flags: int = CRAV | RCR,
) -> bytes:
    extra = {40: bytes([sflags, oflags, dflags])}
    if src_tags is not None:
        extra[48] = src_tags.desc_bytes()
    if dst_tags is not None:
        extra[56] = dst_tags.desc_bytes()
    return desc(op, src, dst, n, flags, extra)


def src_side(sflags: int, tags: Tags) -> Tags:
    """The source tags a descriptor with these source DIF flags describes."""
    return Tags(tags.ref, tags.mask, tags.app, bool(sflags & SRC_REF_FIXED), bool(sflags & 0x10))


def dst_side(oflags: int, tags: Tags) -> Tags:
    return Tags(tags.ref, tags.mask, tags.app, bool(oflags & DST_REF_FIXED), bool(oflags & 0x10))


def test_crc16_t10_model_is_the_catalogue_crc() -> None:
    assert crc16_t10(b"123456789") == 0xD0DB  # CRC-16/T10-DIF check value
    # accel-config dsa_calculate_crc_t10dif with DIF_INVERT_CRC_SEED | DIF_INVERT_CRC_RESULT
    data = rand(512)
    assert guard(data, INV_SEED | INV_RESULT) == crc16_t10(data, 0xFFFF) ^ 0xFFFF


@pytest.mark.parametrize("bs", range(4))
@pytest.mark.parametrize(
    ("oflags", "dflags", "mask"),
    [(0, 0, 0), (DST_REF_FIXED | DST_APP_INC, INV_SEED | INV_RESULT, 0x0F0F)],
)
def test_dif_insert_writes_the_tuples(
    bench: Bench, bs: int, oflags: int, dflags: int, mask: int
) -> None:
    blk = DIF_BLOCKS[bs]
    k = 3
    data = rand(k * blk, seed=bs)
    tags = dst_side(oflags, Tags(0xFFFFFFFE, mask, 0xFFFE))  # both wrap
    s, d = A + 40, B + 8
    bench.region(A, data.rjust(len(data) + 40, b"\0")).region(B).limits()
    bench.allow(s, len(data)).allow(d, k * (blk + 8))
    res, mems = one_run(
        bench, dif_desc(DIF_INS, s, d, len(data), oflags=oflags, dflags=bs | dflags, dst_tags=tags)
    )
    assert (res["status"], res["result"], res["bytes_completed"]) == (SUCCESS, 0, 0)
    assert mems[B][8 : 8 + k * (blk + 8)] == protect(data, blk, tags, dflags)
    assert mems[B][8 + k * (blk + 8) :] == bytes(REGION - 8 - k * (blk + 8))
    # CR: +16 reserved, +24 the destination tags where a next descriptor would start
    assert (res["op_specific"], res["op_specific2"]) == (0, tags.cr(k))
    assert struct.unpack_from("<QQ", cr_bytes(res), 16) == (0, tags.cr(k))


def test_dif_insert_accel_config_values(bench: Bench) -> None:
    """dsa_test -o 0x13 -l 1024: 0x0123456789abcdef pattern, ref 0xABBA incrementing, app 0xFACE."""
    data = pattern_bytes(1024, u64(0x0123456789ABCDEF))
    bench.region(A, data).region(B).limits()
    res, mems = one_run(bench, dif_desc(DIF_INS, A, B, 1024, dst_tags=Tags()))
    assert res["status"] == SUCCESS
    for i in range(2):
        block = mems[B][i * 520 : (i + 1) * 520]
        assert block[:512] == data[i * 512 : (i + 1) * 512]
        assert block[512:] == tuple_bytes(crc16_t10(data[:512]), 0xFACE, 0xABBA + i)


@pytest.mark.parametrize("bs", range(4))
@pytest.mark.parametrize("sflags", [0, SRC_REF_FIXED | SRC_APP_INC])
def test_dif_check_and_strip_accept_good_tuples(bench: Bench, bs: int, sflags: int) -> None:
    blk = DIF_BLOCKS[bs]
    tags = src_side(sflags, Tags(0x1000, 0, 0x2000))
    prot = protect(rand(4 * blk, seed=7), blk, tags)
    bench.region(A, prot).region(C).limits()
    bench.desc(dif_desc(DIF_CHECK, A, 0, len(prot), sflags=sflags, dflags=bs, src_tags=tags))
    bench.cmd("run")
    bench.desc(dif_desc(DIF_STRP, A, C, len(prot), sflags=sflags, dflags=bs, src_tags=tags))
    bench.cmd("run")
    results, mems, _ = bench.go()
    for r in results:
        assert (r["status"], r["result"], r["bytes_completed"]) == (SUCCESS, 0, 0)
        assert (r["op_specific"], r["op_specific2"]) == (tags.cr(4), 0)
    assert mems[A] == prot.ljust(len(mems[A]), b"\0")  # the source is never written
    assert mems[C][: 4 * blk] == strip(prot, blk)
    assert mems[C][4 * blk :] == bytes(len(mems[C]) - 4 * blk)


@pytest.mark.parametrize(
    ("corrupt", "status"),
    [
        ("guard", E_GUARD),
        ("app", E_APP),
        ("ref", E_REF),
        ("data", E_GUARD),
        ("tags", E_APP | E_REF),
    ],
)
@pytest.mark.parametrize("op", [DIF_CHECK, DIF_STRP, DIF_UPDT])
def test_dif_error_completion(bench: Bench, op: int, corrupt: str, status: int) -> None:
    blk = 512
    tags = Tags(0x50, 0, 0x60)
    prot = bytearray(protect(rand(5 * blk, seed=3), blk, tags))
    at = 2 * (blk + 8)  # block 2
    offs = {
        "guard": [blk],
        "app": [blk + 2],
        "ref": [blk + 7],
        "data": [10],
        "tags": [blk + 3, blk + 4],
    }
    for off in offs[corrupt]:
        prot[at + off] ^= 0x21
    bench.region(A, bytes(prot)).region(C).limits()
    dtags = Tags(0x7000, 0, 0x8000)
    d = dif_desc(op, A, C if op != DIF_CHECK else 0, len(prot), src_tags=tags, dst_tags=dtags)
    res, mems = one_run(bench, d)
    assert (res["status"], res["result"], res["faulted"]) == (DIF_ERR, status, 0)
    # bytes_completed: the source offset of the block in error; the tags: those it was checked
    # against (and, for Update, the destination's for the same block)
    assert res["bytes_completed"] == at
    assert res["op_specific"] == tags.cr(2)
    assert res["op_specific2"] == (dtags.cr(2) if op == DIF_UPDT else 0)
    cr = cr_bytes(res)
    assert (cr[0], cr[1]) == (DIF_ERR, status)
    assert struct.unpack_from("<IIHH", cr, 4)[0] == at
    # the blocks before it were written, nothing from it on
    if op == DIF_STRP:
        assert mems[C][: 2 * blk] == strip(bytes(prot[:at]), blk)
        assert mems[C][2 * blk :] == bytes(REGION - 2 * blk)
    if op == DIF_UPDT:
        assert mems[C][:at] == protect(strip(bytes(prot[:at]), blk), blk, dtags)
        assert mems[C][at:] == bytes(REGION - at)


def test_dif_check_f_detect_and_all_f_error(bench: Bench) -> None:
    blk = 512
    tags = Tags(0x10, 0, 0x20)
    good = protect(rand(3 * blk, seed=4), blk, tags)

    def with_tuple(t: bytes) -> bytes:
        p = bytearray(good)
        p[blk + 8 + blk : 2 * (blk + 8)] = t  # block 1's tuple
        return bytes(p)

    bad_guard = bytes([0x12, 0x34])
    cases = [
        # (tuple of block 1, source DIF flags, status, dif_status)
        (b"\xff" * 8, ALL_F | ALL_F_ERR, DIF_ERR, E_ALL_F),  # all F with the error enabled
        (b"\xff" * 8, ALL_F, SUCCESS, 0),  # all F detected: the block is not checked
        (b"\xff" * 8, 0, DIF_ERR, E_GUARD | E_APP | E_REF),  # not detected: checked
        (bad_guard + b"\xff\xff" + b"\0\0\0\x11", APP_F, SUCCESS, 0),  # app tag 0xFFFF
        (bad_guard + b"\xff\xff" + b"\0\0\0\x11", APP_REF_F, DIF_ERR, E_GUARD | E_APP),
        (bad_guard + b"\xff" * 6, APP_REF_F, SUCCESS, 0),  # app and ref all F
        (bad_guard + b"\0\x20" + b"\0\0\0\x11", GUARD_OFF, SUCCESS, 0),
        (bad_guard + b"\0\x20" + b"\0\0\0\x99", GUARD_OFF | REF_OFF, SUCCESS, 0),
        (bad_guard + b"\0\x20" + b"\0\0\0\x99", GUARD_OFF, DIF_ERR, E_REF),
    ]
    for i, (t, _, _, _) in enumerate(cases):
        bench.region(0x100000 * (i + 1), with_tuple(t))
    bench.limits()
    for i, (_, sflags, _, _) in enumerate(cases):
        src = 0x100000 * (i + 1)
        bench.desc(dif_desc(DIF_CHECK, src, 0, len(good), sflags=sflags, src_tags=tags))
        bench.cmd("run")
    results, _, _ = bench.go()
    got = [(r["status"], r["result"]) for r in results]
    assert got == [(s, e) for _, _, s, e in cases]
    assert all(r["bytes_completed"] == blk + 8 for r in results if r["status"] == DIF_ERR)


def test_dif_application_tag_mask(bench: Bench) -> None:
    blk = 512
    data = rand(2 * blk, seed=5)
    stored = Tags(0x1, 0, 0xAB00)
    prot = protect(data, blk, stored)
    bench.region(A, prot).region(C).limits()
    # mask bits are not compared: 0xAB00 matches 0xABFF under 0x00FF, not 0xAAFF
    for app, mask in [(0xABFF, 0x00FF), (0xAAFF, 0x00FF), (0x1234, 0xFFFF), (0xAB00, 0)]:
        bench.desc(dif_desc(DIF_CHECK, A, 0, len(prot), src_tags=Tags(0x1, mask, app)))
        bench.cmd("run")
    # Insert writes the seed with the mask bits cleared (DML's reference)
    bench.desc(dif_desc(DIF_INS, A, C, blk, dst_tags=Tags(0x5, 0xF00F, 0xABCD))).cmd("run")
    results, mems, _ = bench.go()
    assert [(r["status"], r["result"]) for r in results[:4]] == [
        (SUCCESS, 0),
        (DIF_ERR, E_APP),
        (SUCCESS, 0),
        (SUCCESS, 0),
    ]
    assert results[1]["op_specific"] == Tags(0x1, 0x00FF, 0xAAFF).cr(0)
    assert mems[C][blk : blk + 8] == tuple_bytes(crc16_t10(prot[:blk]), 0x0BC0, 0x5)


@pytest.mark.parametrize(
    "oflags",
    [
        0,
        DST_REF_FIXED,
        DST_APP_INC,
        GUARD_PASS,
        APP_PASS,
        REF_PASS,
        GUARD_PASS | APP_PASS | REF_PASS,
    ],
)
def test_dif_update_rewrites_or_passes_each_field(bench: Bench, oflags: int) -> None:
    blk, k = 520, 3
    dflags = 1 | INV_RESULT  # 520-byte blocks; the guard is checked and written inverted
    stags = Tags(0x11111111, 0, 0x2222)
    dtags = dst_side(oflags, Tags(0x33333333, 0, 0x4444))
    data = rand(k * blk, seed=8)
    prot = protect(data, blk, stags, dflags)
    bench.region(A, prot).region(C).limits()
    d = dif_desc(
        DIF_UPDT, A, C, len(prot), oflags=oflags, dflags=dflags, src_tags=stags, dst_tags=dtags
    )
    res, mems = one_run(bench, d)
    assert res["status"] == SUCCESS
    assert (res["op_specific"], res["op_specific2"]) == (stags.cr(k), dtags.cr(k))
    for i in range(k):
        block = data[i * blk : (i + 1) * blk]
        src_ref, src_app = stags.at(i)
        ref, app = dtags.at(i)
        g = guard(block, dflags)
        want = tuple_bytes(
            g,  # recomputed or passed, the same value for a good source
            src_app if oflags & APP_PASS else app,
            src_ref if oflags & REF_PASS else ref,
        )
        assert mems[C][i * (blk + 8) : (i + 1) * (blk + 8)] == block + want


def test_dif_update_guard_pass_through_keeps_an_unchecked_guard(bench: Bench) -> None:
    blk = 512
    stags = Tags(7, 0, 9)
    prot = bytearray(protect(rand(blk, seed=9), blk, stags))
    prot[blk : blk + 2] = b"\xde\xad"
    bench.region(A, bytes(prot)).region(C).limits()
    for oflags in (GUARD_PASS, 0):
        dst = C + PAGE * (oflags != 0)
        d = dif_desc(
            DIF_UPDT,
            A,
            dst,
            len(prot),
            sflags=GUARD_OFF,
            oflags=oflags,
            src_tags=stags,
            dst_tags=Tags(1, 0, 2),
        )
        bench.desc(d).cmd("run")
    results, mems, _ = bench.go()
    assert [r["status"] for r in results] == [SUCCESS, SUCCESS]
    assert mems[C][PAGE + blk : PAGE + blk + 2] == b"\xde\xad"
    assert mems[C][blk : blk + 8] == tuple_bytes(crc16_t10(bytes(prot[:blk])), 2, 1)


def dif_layout(op: int, blk: int, k: int) -> tuple[int, int]:
    """(source length, destination length) of k blocks."""
    prot = k * (blk + 8)
    return {
        DIF_CHECK: (prot, 0),
        DIF_INS: (k * blk, prot),
        DIF_STRP: (prot, k * blk),
        DIF_UPDT: (prot, prot),
    }[op]


def dif_source(op: int, blk: int, k: int, tags: Tags) -> bytes:
    data = rand(k * blk, seed=op + blk)
    return data if op == DIF_INS else protect(data, blk, tags)


@pytest.mark.parametrize("op", DIF_OPS)
@pytest.mark.parametrize("bs", [0, 3])
def test_dif_every_page_faulted_resumes_to_the_unfaulted_run(
    driver: Path, tmp_path: Path, op: int, bs: int
) -> None:
    """Every source page absent, every destination page read-only: the run stops once per page,
    always on a block boundary with the tags of that block, and the resumed run ends exactly as
    a run that never faulted (result, completion record, memory)."""
    blk = DIF_BLOCKS[bs]
    k = 7 if bs == 0 else 3
    stags = Tags(0xFFFFFFFD, 0x000F, 0xFFF0, False, True)  # ref and app wrap
    dtags = Tags(0x100, 0, 0x200, False, True)
    src_len, dst_len = dif_layout(op, blk, k)
    source = dif_source(op, blk, k, stags)
    s, d = A + 100, B + 3000  # unaligned: blocks straddle pages
    d_ = dif_desc(
        op,
        s,
        d if op != DIF_CHECK else 0,
        src_len,
        sflags=SRC_APP_INC,
        oflags=DST_APP_INC,
        dflags=bs,
        src_tags=stags,
        dst_tags=dtags,
    )
    runs = {}
    for name in ("clean", "faulted"):
        (tmp_path / name).mkdir()
        b = Bench(driver, tmp_path / name)
        b.region(A, (bytes(100) + source).ljust(REGION, b"\0")).region(B).limits().allow(s, src_len)
        if dst_len:
            b.allow(d, dst_len)
        if name == "faulted":
            b.absent(*range(A, A + REGION, PAGE))
            b.readonly(*range(B, B + REGION, PAGE))
        runs[name] = b.desc(d_).cmd("runall").go()[:2]
    (clean,), clean_mem = runs["clean"]
    results, mems = runs["faulted"]
    final = results[-1]
    assert clean["status"] == SUCCESS
    assert {k_: final[k_] for k_ in ("status", "result", "op_specific", "op_specific2", "cr")} == {
        k_: clean[k_] for k_ in ("status", "result", "op_specific", "op_specific2", "cr")
    }
    assert mems == clean_mem
    sstep = src_len // k
    pages = (s + src_len - 1) // PAGE - s // PAGE + 1
    if dst_len:
        pages += (d + dst_len - 1) // PAGE - d // PAGE + 1
    assert len(results) - 1 == pages
    last = 0
    for r in results[:-1]:
        bc = r["bytes_completed"]
        assert r["faulted"] == 1 and bc % sstep == 0 and bc >= last
        last = bc
        block = bc // sstep
        assert r["status"] == PAGE_FAULT | (WRITE if r["fault_write"] else 0)
        side = (s, src_len) if not r["fault_write"] else (d, dst_len)
        assert side[0] <= r["fault_addr"] < side[0] + side[1]
        if op == DIF_INS:
            assert (r["op_specific"], r["op_specific2"]) == (0, dtags.cr(block))
        else:
            assert r["op_specific"] == stags.cr(block)
            assert r["op_specific2"] == (dtags.cr(block) if op == DIF_UPDT else 0)


@pytest.mark.parametrize("op", DIF_OPS)
def test_dif_partial_completion_resumed_like_accel_config(bench: Bench, op: int) -> None:
    """dsa_reprep_dif: src += bytes_completed, xfer_size -= bytes_completed, dst moves by the
    blocks done, the seeds come from the CR. The second descriptor finishes the job."""
    blk, k = 512, 12
    stags, dtags = Tags(0xABBA, 0, 0xFACE), Tags(0xABBA, 0, 0xFACE)
    src_len, dst_len = dif_layout(op, blk, k)
    source = dif_source(op, blk, k, stags)
    bench.region(A, source.ljust(REGION, b"\0")).region(B).limits().absent(A + PAGE)
    d = dif_desc(op, A, B, src_len, src_tags=stags, dst_tags=dtags)
    (r,), mems, _ = bench.desc(d).cmd("run").go()
    bc = r["bytes_completed"]
    assert r["status"] == PAGE_FAULT and r["fault_addr"] == A + PAGE and 0 < bc < src_len
    sstep = src_len // k
    dstep = dst_len // k
    cr = cr_bytes(r)
    ref, mask, app = struct.unpack_from("<IHH", cr, 16)
    ref2, mask2, app2 = struct.unpack_from("<IHH", cr, 24)
    d2 = dif_desc(
        op,
        A + bc,
        B + bc // sstep * dstep,
        src_len - bc,
        src_tags=Tags(ref, mask, app),
        dst_tags=Tags(ref2, mask2, app2),
    )
    b2 = Bench(bench.exe, bench.tmp / "resume")
    (bench.tmp / "resume").mkdir()
    b2.region(A, source).region(B, mems[B]).limits()
    res, mems2 = one_run(b2, d2)
    assert res["status"] == SUCCESS
    if op == DIF_INS:
        assert mems2[B][:dst_len] == protect(source, blk, dtags)
    elif op == DIF_STRP:
        assert mems2[B][:dst_len] == strip(source, blk)
    elif op == DIF_UPDT:
        assert mems2[B][:dst_len] == source


def test_dif_hostile_descriptors(bench: Bench) -> None:
    bench.region(A).limits(max_xfer=1 << 21)
    t = Tags()
    cases: Sequence[tuple[bytes, int, int]] = [
        (dif_desc(DIF_CHECK, A, 0, 520 * 3, src_tags=t), 0, 0),
        (dif_desc(DIF_CHECK, A, 0, 512 * 3, src_tags=t), XFER_ERANGE, 0),  # not whole blocks
        (dif_desc(DIF_CHECK, A, 0, 4104, dflags=3, src_tags=t), XFER_ERANGE, 0),
        (dif_desc(DIF_CHECK, A, 0, 4112 * 2, dflags=3, src_tags=t), 0, 0),
        (dif_desc(DIF_INS, A, B, 520, dst_tags=t), XFER_ERANGE, 0),
        (dif_desc(DIF_INS, A, B, 0, dst_tags=t), XFER_ERANGE, 0),
        (dif_desc(DIF_STRP, A, B, 520 * 4097, src_tags=t), XFER_ERANGE, 0),  # > max xfer
        # reserved DIF flag bits, reserved destination flag bits
        (dif_desc(DIF_CHECK, A, 0, 520, dflags=0x10, src_tags=t), INVALID_FLAGS, 0),
        (dif_desc(DIF_STRP, A, B, 520, dflags=0x80, src_tags=t), INVALID_FLAGS, 0),
        (dif_desc(DIF_INS, A, B, 512, oflags=0x01), INVALID_FLAGS, 0),
        (dif_desc(DIF_UPDT, A, B, 520, oflags=0x04), INVALID_FLAGS, 0),
        (dif_desc(DIF_CHECK, A, 0, 520, oflags=0xFF), 0, 0),  # Check has no destination flags
        # descriptor flags the operation does not take
        (dif_desc(DIF_CHECK, A, 0, 520, flags=CRAV | RCR | CC), INVALID_FLAGS, CC),
        (dif_desc(DIF_CHECK, A, 0, 520, flags=CRAV | RCR | 0x400), INVALID_FLAGS, 0x400),
        (dif_desc(DIF_INS, A, B, 512, flags=CRAV | RCR | CHECK_RESULT), INVALID_FLAGS, 0x80),
        (dif_desc(DIF_UPDT, A, B, 520, flags=CRAV | RCR | 0x10000), INVALID_FLAGS, 0x10000),
        (dif_desc(DIF_INS, A, B, 512, flags=CRAV | RCR | CC | DRDBK), 0, 0),
        # overlapping buffers (Insert: the destination is 8 bytes per block longer)
        (dif_desc(DIF_INS, A, A + 1023, 1024), OVERLAP, 0),
        (dif_desc(DIF_INS, A, A + 1024, 1024), 0, 0),
        (dif_desc(DIF_INS, A + 1039, A, 1024), OVERLAP, 0),
        (dif_desc(DIF_INS, A + 1040, A, 1024), 0, 0),
        (dif_desc(DIF_STRP, A, A + 1039, 1040), OVERLAP, 0),
        (dif_desc(DIF_UPDT, B, B - 1039, 1040), OVERLAP, 0),
        (dif_desc(DIF_UPDT, B, B - 1040, 1040), 0, 0),
    ]
    for d, _, _ in cases:
        bench.desc(d).cmd("validate")
    results, _, _ = bench.go()
    assert [(r["status"], r["op_specific"]) for r in results] == [(s, f) for _, s, f in cases]


def test_dif_huge_and_wrapping_buffers_stay_in_bounds(bench: Bench) -> None:
    blk = 4096
    top = 2**64 - PAGE
    bench.region(A, rand(REGION)).region(top, PAGE).limits()
    n = 0xFFFFF000  # 1048575 blocks of 4096: the engine meets a missing page long before
    bench.allow(A, n).allow(top - 8, n // blk * (blk + 8) + 8)
    bench.desc(dif_desc(DIF_INS, A, top, n, dflags=2, dst_tags=Tags())).cmd("run")
    bench.desc(dif_desc(DIF_INS, A, top - 8, n, dflags=2, dst_tags=Tags())).cmd("run")
    results, _, _ = bench.go()
    # the first block fits below 2^64 minus its tuple: it wraps to page 0, unmapped
    assert [(r["status"], r["bytes_completed"], r["fault_addr"]) for r in results] == [
        (PAGE_FAULT | WRITE, 0, 0),
        (PAGE_FAULT | WRITE, 0, top - 8),
    ]
    assert results[0]["op_specific2"] == Tags().cr(0)


# ---- validation ----


def test_validation_statuses(bench: Bench) -> None:
    bench.region(A).limits(max_xfer=1 << 21, opcap=ALL_OPCAP & ~(1 << DUALCAST), gencap=0x2)
    cases: Sequence[tuple[bytes, int, int]] = [
        (desc(MEMMOVE, A, B, 64), 0, 0),
        (desc(DUALCAST, A, B, 64, extra={40: u64(C)}), BAD_OPCODE, 0),
        (desc(0x0A, A, B, 64), BAD_OPCODE, 0),  # TRANSL_FETCH: not in OPCAP
        (desc(0x7F, A, B, 64), BAD_OPCODE, 0),
        (desc(MEMMOVE, A, B, 64, CRAV | RCR | CHECK_RESULT | 0x40), INVALID_FLAGS, 0xC0),
        (desc(MEMMOVE, A, B, 64, CRAV | RCR | DRDBK), INVALID_FLAGS, DRDBK),  # no readback cap
        (desc(COMPARE, A, B, 64, CRAV | RCR | CC), INVALID_FLAGS, CC),
        (desc(CRCGEN, A, 0, 64, CRAV | RCR | 0x80000), INVALID_FLAGS, 0x80000),
        (desc(NOOP, flags=CRAV | RCR | 0x2), INVALID_FLAGS, 0x2),
        (desc(MEMMOVE, A, B, 0), XFER_ERANGE, 0),
        (desc(MEMMOVE, A, B, (1 << 21) + 1), XFER_ERANGE, 0),
        (desc(MEMFILL, 0, B, 1 << 21), 0, 0),
        (desc(MEMMOVE, A, B, 64, completion=0x1010), CRA_ALIGN, 0),
        (desc(MEMMOVE, A, B, 64, flags=RCR, completion=0x1010), 0, 0),  # no CRAV
        (desc(COPY_CRC, A, A + 32, 64), OVERLAP, 0),
    ]
    for d, _, _ in cases:
        bench.desc(d).cmd("validate")
    results, _, _ = bench.go()
    assert [(r["status"], r["op_specific"]) for r in results] == [(s, f) for _, s, f in cases]


def test_invalid_flags_land_in_the_completion_record(bench: Bench) -> None:
    bench.region(A).limits()
    results, _, _ = bench.desc(desc(COMPVAL, A, 0, 8, CRAV | RCR | CC | 0x40)).cmd("validate").go()
    assert (results[0]["status"], results[0]["op_specific"]) == (INVALID_FLAGS, CC | 0x40)


# ---- hostile descriptors ----


def test_addresses_wrapping_past_2_64(bench: Bench) -> None:
    top = 2**64 - PAGE
    data = rand(PAGE, 3)
    bench.region(top, data).region(0).limits().allow(top + 100, 2 * PAGE).allow(A, 2 * PAGE)
    bench.region(A)
    # source wraps from the last page to page 0: copied as the modular buffer it is
    bench.desc(desc(MEMMOVE, top + 100, A, 2 * PAGE)).cmd("run")
    results, mems, _ = bench.go()
    assert results[0]["status"] == SUCCESS
    assert mems[A][: PAGE - 100] == data[100:] and mems[A][PAGE - 100 : 2 * PAGE] == bytes(
        PAGE + 100
    )


def test_huge_sizes_fault_at_the_first_missing_page(bench: Bench) -> None:
    bench.region(A).region(B, rand(REGION)).region(C, rand(REGION, 2)).limits()
    n = 0xFFFFFFFF
    bench.allow(A, n).allow(B, n).allow(C, n).allow(2**64 - 8, n)
    # 4 GiB buffers 192 KiB apart overlap: dst below src copies upwards
    bench.desc(desc(MEMMOVE, B, A, n)).cmd("run")
    bench.desc(desc(CRCGEN, C + 1, 0, n)).cmd("run")
    bench.desc(desc(MEMFILL, 7, 2**64 - 8, n)).cmd("run")  # wraps to page 0, unmapped
    # dst above src copies downwards from the end: the end of src is unmapped
    bench.desc(desc(MEMMOVE, A, B, n)).cmd("run")
    results, mems, _ = bench.go()
    assert [(r["status"], r["fault_addr"], r["bytes_completed"]) for r in results] == [
        (PAGE_FAULT, B + REGION, REGION),
        (PAGE_FAULT, C + REGION, REGION - 1),
        (PAGE_FAULT | WRITE, 2**64 - 8, 0),
        (PAGE_FAULT, A + n - (A + n) % PAGE, 0),
    ]
    assert [r["result"] for r in results] == [0, 0, 0, 1]
    assert results[1]["op_specific"] == dsa_crc(rand(REGION, 2)[1:])
    assert mems[A] == rand(REGION)


def test_resume_state_out_of_range_is_clamped(bench: Bench) -> None:
    bench.region(A).region(B).limits().allow(A, 64).allow(B, 64)
    bench.desc(desc(MEMMOVE, A, B, 64)).cmd("state ffffffff 0 0").cmd("run")
    results, _, _ = bench.go()
    assert (results[0]["status"], results[0]["done"]) == (SUCCESS, 64)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_descriptors_under_sanitizers(bench: Bench, seed: int) -> None:
    """Random (often hostile) descriptors: in bounds, and faulted+resumed == unfaulted."""
    _, _, out = bench.cmd(f"fuzz {seed:x} {3000:x}").go()
    assert "fuzz failed" not in out, out
    stats = dict(p.split("=") for p in out.split("fuzz ", 1)[1].split()[:5])
    assert int(stats["iterations"]) == 3000
    engine_ops = [NOOP, MEMMOVE, MEMFILL, COMPARE, COMPVAL, CR_DELTA, AP_DELTA, DUALCAST]
    ran = int(stats["ops"], 16)
    assert all(ran >> op & 1 for op in [*engine_ops, CRCGEN, COPY_CRC, CFLUSH, *DIF_OPS]), hex(ran)
    assert int(stats["ran"]) > 800 and int(stats["rejected"]) > 800
    assert int(stats["faults"]) > 300
