"""pseries VAS/NX scenarios: the kernel's own nx-gzip selftests through PowerVM-style hcalls.

The pseries guest gets the `spapr-vas` device (qemu-devices/hw/faultlab/nx/spapr-vas.c): the
VAS/NX hcalls, one paste address and fault interrupt per window, the NX-GZIP engine behind
them, and /ibm,platform-facilities/ibm,compression-v1 in the device tree. COPY/PASTE come from
qemu-devices/patches/0003-*. The unmodified kernel (pseries vas.c, nx-compress-pseries) then
offers /dev/crypto/nx-gzip, and the unmodified selftests gzfht_test and gunz_test
(tools/testing/selftests/powerpc/nx-gzip, cross-built by guest-kernel/build-guest.sh into
/opt/faultlab/selftests/nx-gzip) compress and decompress through it.

nx-gzip-test.sh itself needs bash (`function`, `{1..16}`), which the busybox guest lacks, so
the scenario runs its steps itself: for each size, gzfht_test <file> then gunz_test
<file>.nx.gz, sequentially and then several at once. Its 64M size is left out (1 GiB guest,
TCG). The checks read what the programs print (byte counts, CRCs, their gunzip checksum
comparison), compare the round trip byte for byte, and decompress the guest's NX output with
the host's `gzip -d`.

The other scenarios use the bench's own guest code: faultlab-nx-fault (a CRB on an untouched
page: fault interrupt, H_GET_NX_FAULT, the kernel's CSB with cc 250 and the exact address,
then the resubmission), faultlab-copy-paste (COPY/PASTE corner cases of Power ISA 3.0B) and
the faultlab_hcall module (the hcalls with hostile arguments; qtest cannot drive hcalls, which
need a running CPU).

Default credits following DLPAR core add/remove, and QoS credits through update_total_credits,
are scenarios/pseries_dlpar.py (the platform runs x-dedicated-procs=on, patches/0008-hw-*).
"""

from __future__ import annotations

import hashlib
import random
import re
import shlex
import subprocess
import zlib
from dataclasses import dataclass
from typing import Any

from faultlab import access
from faultlab.access import dict_field, dicts, int_field, int_fields
from faultlab.needs import Needs
from faultlab.scenario import ScenarioContext, StepFailed, parse_json_object, scenario

SELFTESTS = "/opt/faultlab/selftests/nx-gzip"
GZFHT = f"{SELFTESTS}/gzfht_test"
GUNZ = f"{SELFTESTS}/gunz_test"
VAS_ID = "vas0"
VAS = f"/machine/peripheral/{VAS_ID}"
CREDITS_PER_CORE = 8
MAX_PROCESSED_LEN = 1 << 20
QEMU_ARGS = (
    "-device",
    f"spapr-vas,id={VAS_ID},credits-per-core={CREDITS_PER_CORE},"
    f"max-processed-len={MAX_PROCESSED_LEN}",
)
NX_CAPS = "/sys/devices/vio/ibm,compression-v1/nx_gzip_caps"
# VAS through the hcalls and the pseries NX compression driver (a VIO device: nx_gzip_caps,
# /dev/crypto/nx-gzip); pseries VAS opens user windows only under radix ("API is supported only
# with radix page tables"), which must be the kernel's default MMU (no command line is added).
VAS_NEEDS = Needs(
    options=(
        "PPC_VAS",
        "CRYPTO_DEV_NX_COMPRESS",
        "CRYPTO_DEV_NX_COMPRESS_PSERIES",
        "PPC_RADIX_MMU",
        "PPC_RADIX_MMU_DEFAULT",
    )
)
VAS_CAPS = "/sys/devices/virtual/misc/vas/vas0/gzip"
WORKDIR = "/tmp/nx"
# nx-gzip-test.sh's sizes without 64M, as dd bs= values and in bytes.
SIZES = (("4K", 4096), ("64K", 65536), ("1M", 1 << 20))
PARALLEL = 4
PARALLEL_SIZE = ("64K", 65536)

_COMPRESSED = re.compile(r"compressed (\d+) to (\d+) bytes total, crc32 checksum = ([0-9a-f]{8})")
_COMPUTED = re.compile(r"computed checksum ([0-9a-f]{8}) isize ([0-9a-f]{8})")
_STORED = re.compile(r"stored\s+checksum ([0-9a-f]{8}) isize ([0-9a-f]{8})")


@dataclass(frozen=True)
class Compressed:
    """gzfht_test's summary line."""

    source_bytes: int
    gzip_bytes: int
    crc: str


@dataclass(frozen=True)
class Gunzipped:
    """gunz_test's checksum lines: what NX computed and what the gzip trailer stores."""

    computed_crc: str
    computed_isize: int
    stored_crc: str
    stored_isize: int


def parse_gzfht(out: str) -> Compressed:
    m = _COMPRESSED.search(out)
    if not m:
        raise StepFailed(f"gzfht_test printed no 'compressed ... total' line: {out[-300:]!r}")
    return Compressed(int(m.group(1)), int(m.group(2)), m.group(3))


def parse_gunz(out: str) -> Gunzipped:
    c, s = _COMPUTED.search(out), _STORED.search(out)
    if not c or not s:
        raise StepFailed(f"gunz_test printed no checksum lines: {out[-300:]!r}")
    return Gunzipped(c.group(1), int(c.group(2), 16), s.group(1), int(s.group(2), 16))


def guest_bytes(ctx: ScenarioContext, path: str) -> bytes:
    res = ctx.sh(f"cat {shlex.quote(path)}")
    if res.exit_code != 0:
        raise StepFailed(f"cannot read {path} from the guest (status {res.exit_code})")
    return res.stdout


def host_gzip(data: bytes, *args: str) -> bytes:
    """Compress with the host's gzip(1) and the given options."""
    proc = subprocess.run(
        ["gzip", "-c", *args], input=data, capture_output=True, check=True, timeout=120
    )
    return proc.stdout


def host_corpus(size: int, seed: int) -> bytes:
    """Deterministic text-like data: words drawn from a small vocabulary, so that gzip
    uses dynamic Huffman blocks with long matches and literals both."""
    rng = random.Random(seed)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(400)
    ]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words).encode()
        out += b"\n" if rng.random() < 0.08 else b" "
    return bytes(out[:size])


# Host gzip inputs that NX must decompress: (label, data, gzip options). -n leaves the file
# name out of the header, the default puts it in (FNAME); -1 and -9 give different block
# choices; random data makes gzip emit stored blocks.
def host_gzip_cases() -> list[tuple[str, bytes, tuple[str, ...]]]:
    return [
        ("text -9", host_corpus(600_000, 1), ("-9",)),
        ("text -1 -n", host_corpus(300_000, 2), ("-1", "-n")),
        ("random -6", random.Random(3).randbytes(200_000), ("-6",)),
        ("zeros -9", bytes(1 << 20), ("-9",)),
    ]


def host_gzip_through_nx(ctx: ScenarioContext) -> None:
    """The other direction: data the host's gzip compressed, decompressed in the guest by
    the unmodified gunz_test through NX, equal to the host's original (sha256)."""
    for i, (label, data, opts) in enumerate(host_gzip_cases()):
        name = f"host-{i}"
        gz = host_gzip(data, *opts)
        ctx.put(f"{WORKDIR}/{name}.gz", gz)
        out = ctx.must(f"cd {WORKDIR} && {GUNZ} {name}.gz 2>&1", timeout=600)
        gun = parse_gunz(out)
        ctx.expect_eq(
            f"host gzip {label}: NX CRC and size = the host's gzip trailer",
            (gun.computed_crc, gun.computed_isize),
            (f"{zlib.crc32(data):08x}", len(data)),
        )
        digest = ctx.must(f"sha256sum {WORKDIR}/{name}.gz.nx.gunzip").split()[0]
        ctx.expect_eq(
            f"host gzip {label}: NX output = the host's original (sha256, {len(data)} bytes)",
            digest,
            hashlib.sha256(data).hexdigest(),
        )


def host_gunzip(data: bytes) -> tuple[int, bytes, str]:
    """Decompress with the host's gzip(1): (exit status, output, stderr)."""
    proc = subprocess.run(
        ["gzip", "-d", "-c"], input=data, capture_output=True, check=False, timeout=120
    )
    return proc.returncode, proc.stdout, proc.stderr.decode(errors="replace").strip()


def qom_int(ctx: ScenarioContext, prop: str) -> int:
    """An integer QOM property of the spapr-vas device."""
    return access.qom_int(ctx, VAS, prop)


def check_platform(ctx: ScenarioContext) -> None:
    """The kernel found VAS through the hcalls and NX through the device tree."""
    dmesg = ctx.dmesg()
    ctx.expect_in(
        "pseries VAS probed through H_QUERY_VAS_CAPABILITIES",
        "vas: GZIP feature is available",
        dmesg,
        "dmesg",
    )
    ctx.expect_eq(
        "/dev/crypto/nx-gzip is a character device",
        ctx.sh("test -c /dev/crypto/nx-gzip").exit_code,
        0,
    )
    ctx.expect_eq(
        "nx_gzip_caps req_max_processed_len (H_QUERY_NX_CAPABILITIES)",
        ctx.read_int(f"{NX_CAPS}/req_max_processed_len"),
        MAX_PROCESSED_LEN,
    )
    ctx.expect_eq(
        "default credits: nr_total_credits = credits-per-core x 1 core",
        ctx.read_int(f"{VAS_CAPS}/default_capabilities/nr_total_credits"),
        CREDITS_PER_CORE,
    )
    ctx.expect_eq(
        "default credits in use before the tests",
        ctx.read_int(f"{VAS_CAPS}/default_capabilities/nr_used_credits"),
        0,
    )


def round_trip(ctx: ScenarioContext, label: str, path: str, size: int) -> Compressed:
    """gzfht_test then gunz_test on `path`; check what they print and the bytes."""
    q = shlex.quote(path)
    # gzfht_test writes <path>.nx.gz; gunz_test writes <basename>.nx.gunzip in the
    # current directory, so both run in the file's directory.
    out = ctx.must(f"cd {WORKDIR} && {GZFHT} {q} 2>&1", timeout=600)
    comp = parse_gzfht(out)
    ctx.expect_eq(f"{label}: gzfht_test compressed every source byte", comp.source_bytes, size)
    gz_size = int(ctx.must(f"wc -c < {q}.nx.gz").strip())
    ctx.expect_eq(f"{label}: .nx.gz size = gzfht_test's total", gz_size, comp.gzip_bytes)
    out = ctx.must(f"cd {WORKDIR} && {GUNZ} {q}.nx.gz 2>&1", timeout=600)
    gun = parse_gunz(out)
    ctx.expect_eq(
        f"{label}: gunz_test CRC and size = gzip trailer",
        (gun.computed_crc, gun.computed_isize),
        (gun.stored_crc, gun.stored_isize),
    )
    ctx.expect_eq(f"{label}: gunz_test CRC = gzfht_test CRC", gun.computed_crc, comp.crc)
    ctx.expect_eq(f"{label}: gunz_test isize", gun.computed_isize, size)
    same = ctx.sh(f"cmp {q} {q}.nx.gz.nx.gunzip").exit_code
    ctx.expect_eq(f"{label}: NX round trip equals the original (cmp)", same, 0)
    return comp


def selftest_runs(ctx: ScenarioContext, platform_word: str) -> None:
    """nx-gzip-test.sh's runs through the unmodified gzfht_test and gunz_test: random data of
    each size, compressible text that the host's gzip -d reads back, random data the host reads
    back, host-gzipped data gunz_test decompresses through NX, and PARALLEL processes at once
    (one window each)."""
    # nx-gzip-test.sh's test_sizes 0: random data of each size.
    for bs, size in SIZES:
        path = f"{WORKDIR}/nx-tempfile.0.{bs}"
        ctx.must(f"dd if=/dev/urandom of={path} bs={bs} count=1 2>/dev/null")
        round_trip(ctx, f"random {bs}", path, size)

    # Compressible text: NX must really compress it, and the host must read it back.
    text = f"{WORKDIR}/text"
    ctx.must(f"yes 'faultlab {platform_word} nx-gzip line' | head -c 1000000 > {text}")
    size = int(ctx.must(f"wc -c < {text}").strip())
    comp = round_trip(ctx, "text", text, size)
    ctx.check(
        "text: NX output at most a tenth of the input",
        comp.gzip_bytes * 10 <= size,
        comp.gzip_bytes,
        f"<= {size // 10}",
    )
    original = guest_bytes(ctx, text)
    status, plain, err = host_gunzip(guest_bytes(ctx, f"{text}.nx.gz"))
    ctx.expect_eq("host gzip -d accepts the guest's NX output", (status, err), (0, ""))
    ctx.expect_eq(
        "host gzip -d output = the guest's original (sha256)",
        hashlib.sha256(plain).hexdigest(),
        hashlib.sha256(original).hexdigest(),
    )
    status, plain, err = host_gunzip(guest_bytes(ctx, f"{WORKDIR}/nx-tempfile.0.1M.nx.gz"))
    ctx.expect_eq(
        "host gzip -d accepts NX output of random data", (status, len(plain)), (0, 1 << 20)
    )

    host_gzip_through_nx(ctx)

    # nx-gzip-test.sh's parallel part, scaled down: several processes, one window each.
    bs, size = PARALLEL_SIZE
    jobs = []
    for i in range(1, PARALLEL + 1):
        p = f"{WORKDIR}/nx-tempfile.{i}.{bs}"
        jobs.append(
            f"(cd {WORKDIR} && dd if=/dev/urandom of={p} bs={bs} count=1 2>/dev/null && "
            f"{GZFHT} {p} && "
            f"{GUNZ} {p}.nx.gz && cmp {p} {p}.nx.gz.nx.gunzip && echo ok-{i}) "
            f"> {p}.log 2>&1 &"
        )
    ctx.must(" ".join(jobs) + " wait", timeout=900)
    for i in range(1, PARALLEL + 1):
        log = ctx.read(f"{WORKDIR}/nx-tempfile.{i}.{bs}.log")
        ctx.expect_in(
            f"parallel {i}: gzfht_test, gunz_test and cmp all succeeded", f"ok-{i}", log, "its log"
        )


@scenario(
    "pseries/nx-selftests",
    "ppc64-pseries",
    "the kernel's nx-gzip selftests compress and decompress through H_ALLOCATE_VAS_WINDOW "
    "windows, COPY/PASTE and the NX-GZIP engine; the host's gzip -d accepts the output",
    qemu_args=QEMU_ARGS,
    guest_files=(GZFHT, GUNZ),
    needs=VAS_NEEDS,
)
def nx_selftests(ctx: ScenarioContext) -> None:
    check_platform(ctx)
    ctx.must(f"rm -rf {WORKDIR} && mkdir -p {WORKDIR}")
    completed_before = qom_int(ctx, "completed")

    selftest_runs(ctx, "pseries")

    ctx.expect_eq(
        "default credits in use after the tests (every window closed)",
        ctx.read_int(f"{VAS_CAPS}/default_capabilities/nr_used_credits"),
        0,
    )
    completed = qom_int(ctx, "completed") - completed_before
    ctx.check(
        "CRBs completed by the engine (QOM)",
        completed >= 2 * (len(SIZES) + 1 + PARALLEL),
        completed,
        f">= {2 * (len(SIZES) + 1 + PARALLEL)}",
    )
    ctx.measure("crbs_completed", completed)
    ctx.measure("crb_faults", qom_int(ctx, "faults"))
    ctx.measure("pastes_rejected", qom_int(ctx, "rejected"))


NX_FAULT = "/opt/faultlab/bin/faultlab-nx-fault"
CSB_CC_FAULT_ADDRESS = 250
CSB_CE_TERMINATION = 0x40
PASTE_ACCEPTED = 2  # CR0 = 0b001 || XER[SO], SO clear
SIGSEGV, SEGV_MAPERR = 11, 1


def check_fault_cases(ctx: ScenarioContext, data: dict[str, Any]) -> None:
    """faultlab-nx-fault's three cases (shared with the PowerNV scenario nx/translation-fault)."""
    cases = data.get("cases")
    if not isinstance(cases, list) or len(cases) != 3:
        raise StepFailed(f"faultlab-nx-fault printed no three cases: {data!r}")
    cases = dicts(cases, "faultlab-nx-fault cases")
    if [c.get("name") for c in cases] != ["src-absent", "tgt-absent", "csb-readonly"]:
        raise StepFailed(f"faultlab-nx-fault cases: {[c.get('name') for c in cases]}")
    ro = cases.pop()
    for case in cases:
        name = str(case.get("name"))
        fw, rw = f"{name}.fault", f"{name}.retry"
        fault, retry = dict_field(case, "fault", name), dict_field(case, "retry", name)
        ctx.expect_eq(f"{name}: paste accepted", int_field(fault, "cr0", fw), PASTE_ACCEPTED)
        ctx.expect_eq(
            f"{name}: CSB written by the kernel's fault path (valid, cc, ce)",
            int_fields(fault, fw, "completed", "cc", "ce"),
            (1, CSB_CC_FAULT_ADDRESS, CSB_CE_TERMINATION),
        )
        ctx.expect_eq(
            f"{name}: CSB fault address = the untouched page's first byte",
            hex(int_field(fault, "addr", fw)),
            hex(int_field(case, "expected_addr", name)),
        )
        ctx.expect_eq(
            f"{name}: resubmission accepted (the credit came back)",
            int_field(retry, "cr0", rw),
            PASTE_ACCEPTED,
        )
        completed, cc = int_fields(retry, rw, "completed", "cc")
        ctx.check(
            f"{name}: resubmission completes (cc 0 or 64)",
            completed == 1 and cc in (0, 64),
            (completed, cc),
            "(1, 0|64)",
        )
        ctx.expect_eq(
            f"{name}: CPB CRC = CRC32 of the source",
            int_field(case, "cpb_crc", name),
            int_field(case, "source_crc", name),
        )
        tpbc = int_field(retry, "tpbc", rw)
        ctx.check(f"{name}: compressed bytes", tpbc > 0, tpbc, "> 0")
    # The CSB page read-only: NX faults on the CPB output (same page), the kernel's CSB
    # write fails too, and the process gets SIGSEGV at the CSB address (vas_update_csb).
    where = "csb-readonly"
    ctx.expect_eq("csb-readonly: paste accepted", int_field(ro, "cr0", where), PASTE_ACCEPTED)
    signal, si_code, si_addr, csb_flags = int_fields(
        ro, where, "signal", "si_code", "si_addr", "csb_flags"
    )
    ctx.expect_eq(
        "csb-readonly: SIGSEGV (SEGV_MAPERR) at the CSB address, CSB not written",
        (signal, si_code, hex(si_addr), csb_flags),
        (SIGSEGV, SEGV_MAPERR, hex(int_field(ro, "csb_addr", where)), 0),
    )
    retry = dict_field(ro, "retry", where)
    ctx.expect_eq(
        "csb-readonly: resubmission after mprotect completes",
        int_fields(retry, f"{where}.retry", "cr0", "completed", "cc"),
        (PASTE_ACCEPTED, 1, 0),
    )


@scenario(
    "pseries/nx-fault",
    "ppc64-pseries",
    "a CRB whose source or target page is not present faults; the fault interrupt and "
    "H_GET_NX_FAULT bring it to the kernel, which writes the CSB with cc 250 and the exact "
    "address; the program touches the page and the resubmitted CRB completes; a read-only "
    "CSB gets the process SIGSEGV at the CSB address",
    qemu_args=QEMU_ARGS,
    guest_files=(NX_FAULT,),
    needs=VAS_NEEDS,
)
def nx_fault(ctx: ScenarioContext) -> None:
    faults_before = qom_int(ctx, "faults")
    data = ctx.json(NX_FAULT, timeout=300)
    if "error" in data:
        raise StepFailed(f"faultlab-nx-fault: {data['error']}")
    check_fault_cases(ctx, data)
    ctx.expect_eq(
        "fault CRBs counted by the model (QOM)", qom_int(ctx, "faults") - faults_before, 3
    )
    dmesg = ctx.dmesg()
    ctx.expect_absent("no H_GET_NX_FAULT error in the kernel log", "H_GET_NX_FAULT error", dmesg)


COPY_PASTE = "/opt/faultlab/bin/faultlab-copy-paste"


@scenario(
    "pseries/copy-paste",
    "ppc64-pseries",
    "COPY/PASTE as Power ISA 3.0B says: alignment and translation faults become SIGBUS and "
    "SIGSEGV at the EA, paste. to memory stores and reports 0b001||SO in CR0, paste. after "
    "cp_abort (to memory or to a window) reports failure and stores nothing",
    qemu_args=QEMU_ARGS,
    guest_files=(COPY_PASTE,),
    needs=VAS_NEEDS,
)
def copy_paste(ctx: ScenarioContext) -> None:
    data = ctx.json(COPY_PASTE, timeout=120)
    if "error" in data:
        raise StepFailed(f"faultlab-copy-paste: {data['error']}")
    cases = data.get("cases")
    if not isinstance(cases, list):
        raise StepFailed(f"faultlab-copy-paste printed no cases: {data!r}")
    by_name = {str(c.get("name")): c for c in cases if isinstance(c, dict)}
    if "error" in by_name.get("paste-window-no-copy", {}):
        raise StepFailed(f"faultlab-copy-paste: {by_name['paste-window-no-copy']['error']}")

    def case(name: str) -> dict[str, Any]:
        if name not in by_name:
            raise StepFailed(f"faultlab-copy-paste printed no case {name!r}")
        return by_name[name]

    def ints(name: str, *keys: str) -> tuple[int, ...]:
        return int_fields(case(name), name, *keys)

    sigbus, sigsegv = 7, 11
    for name, sig in (
        ("copy-unaligned", sigbus),
        ("copy-unmapped", sigsegv),
        ("paste-unmapped", sigsegv),
    ):
        signal, si_addr, expected_addr = ints(name, "signal", "si_addr", "expected_addr")
        ctx.expect_eq(
            f"{name}: signal and si_addr",
            (signal, hex(si_addr)),
            (sig, hex(expected_addr)),
        )
    ctx.expect_eq(
        "paste. to memory: CR0, bytes stored, neighbours untouched",
        ints("paste-memory", "cr0", "bytes_equal", "before_untouched"),
        (0b0010, 1, 1),
    )
    ctx.expect_eq(
        "paste. to memory with XER[SO]: CR0 and bytes",
        ints("paste-memory-so", "cr0", "bytes_equal"),
        (0b0011, 1),
    )
    ctx.expect_eq(
        "paste. after cp_abort: CR0 and nothing stored",
        ints("paste-no-copy", "cr0", "untouched"),
        (0b0000, 1),
    )
    ctx.expect_eq(
        "paste. to a window after cp_abort: CR0",
        int_field(case("paste-window-no-copy"), "cr0", "paste-window-no-copy"),
        0b0000,
    )


HCALL_MODULE = "/opt/faultlab/modules/faultlab_hcall.ko"
# check_hcall_module: insmod faultlab_hcall (it makes its hcalls at load time), then rmmod.
HCALL_NEEDS = Needs(options=("MODULES", "MODULE_UNLOAD"), modules=("faultlab_hcall",))
_HCALL_LINE = re.compile(r"faultlab_hcall: (\{.*\})")
# PAPR return codes (Linux arch/powerpc/include/asm/hvcall.h).
H_SUCCESS, H_NOT_FOUND, H_PARAMETER, H_RESOURCE, H_P2 = 0, -7, -4, -16, -55
HOSTILE_EXPECTED = {
    "query_vas_bad_type": H_PARAMETER,
    "query_vas_buffer_outside_ram": H_P2,
    "query_nx_bad_type": H_PARAMETER,
    "query_nx_buffer_outside_ram": H_P2,
    "allocate_bad_type": H_PARAMETER,
    "allocate_two_credits": H_P2,
    "modify_bad_winid": H_PARAMETER,
    "deallocate_bad_winid": H_PARAMETER,
    "get_nx_fault_bad_winid": H_PARAMETER,
    "allocate_beyond_credits": H_RESOURCE,
    "windows_allocated": CREDITS_PER_CORE,
    "get_nx_fault_nothing_pending": H_NOT_FOUND,
    "modify_pid_too_large": H_P2,
    "deallocate_all": H_SUCCESS,
    "deallocate_twice": H_PARAMETER,
}


def check_hcall_module(ctx: ScenarioContext, args: str, expected: dict[str, int]) -> None:
    """Load faultlab_hcall with `args` (it makes its hcalls at load time and prints one JSON
    object of return codes to dmesg), check each code against `expected`, unload it."""
    ctx.must(f"insmod {HCALL_MODULE} {args}".rstrip())
    m = _HCALL_LINE.search(ctx.dmesg())
    if not m:
        raise StepFailed("faultlab_hcall printed no result line")
    rcs = parse_json_object("faultlab_hcall", m.group(1))
    for name, code in expected.items():
        ctx.expect_eq(f"{name}: return code", rcs.get(name), code)
    ctx.must("rmmod faultlab_hcall")


@scenario(
    "pseries/hcall-hostile",
    "ppc64-pseries",
    "the VAS/NX hcalls with bad window ids, buffers outside RAM, bad types and credits, "
    "double deallocate and windows beyond the credit return PAPR errors and QEMU survives",
    qemu_args=QEMU_ARGS,
    guest_files=(HCALL_MODULE,),
    needs=HCALL_NEEDS,
)
def hcall_hostile(ctx: ScenarioContext) -> None:
    check_hcall_module(ctx, "", HOSTILE_EXPECTED)
    ctx.expect_eq("QEMU still running", ctx.qmp("query-status").get("status"), "running")
    # The device still works for the kernel after the hostile calls.
    ctx.expect_eq(
        "default credits in use after the hostile calls",
        ctx.read_int(f"{VAS_CAPS}/default_capabilities/nr_used_credits"),
        0,
    )
    data = ctx.json(NX_FAULT, timeout=300)
    cases = data.get("cases")
    retries = [
        dict_field(c, "retry", f"faultlab-nx-fault cases[{i}]")
        for i, c in enumerate(cases if isinstance(cases, list) else [])
    ]
    done = [(int_field(r, "completed", "retry"), int_field(r, "cc", "retry")) for r in retries]
    ctx.expect_eq("NX requests still complete afterwards (faultlab-nx-fault)", done, [(1, 0)] * 3)
