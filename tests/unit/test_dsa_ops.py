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
ALL_OPCAP = (1 << 0x0A) - 1 | 1 << 0x10 | 1 << 0x11 | 1 << 0x20
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
    assert all(ran >> op & 1 for op in [*engine_ops, CRCGEN, COPY_CRC, CFLUSH]), hex(ran)
    assert int(stats["ran"]) > 800 and int(stats["rejected"]) > 800
    assert int(stats["faults"]) > 300
