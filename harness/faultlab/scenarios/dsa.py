"""Intel DSA 2.0 scenarios: the unmodified idxd driver and user work queues on the faultlab-dsa
model (qemu-devices/hw/faultlab/dsa/), x86_64 with VT-d SVA and page requests.

Each scenario configures the device with accel-config (Debian's 3.5.3, in the x86_64 image;
prs_disable and event_log_size have no accel-config 3.5.3 option, so they are written to sysfs),
then drives a work queue with the guest program faultlab-dsa (one JSON object per case,
guest-kernel/programs/faultlab-dsa.c) or with accel-config-test's dsa_test, and compares what
the completion records, the driver's per-file sysfs counters, dmesg, the debugfs event log dump
and the QOM counters of the device and of the intel-iommu say with what they must say.

The completion-record fault path (the seed, "DSA 2.0 event log"): a CR the device cannot write
(page dropped with MADV_DONTNEED, or read-only) becomes an event log entry with the CR image;
the driver's fault work writes it into the process (idxd_copy_cr) and counts it in the open
file's cr_faults (and, when the copy fails, cr_fault_failures). Note from the kernel source
(drivers/dma/idxd/irq.c idxd_evl_fault_work): cr_faults is counted *before* the copy, so a CR
that cannot be written counts once in cr_faults and once in cr_fault_failures.
A DRAIN's CR that cannot be written is logged as 0x26 DRAIN_EVL: the driver copies it only
when the entry's rcr bit is set and counts it in neither cr_faults nor cr_fault_failures.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faultlab.access import dict_field, int_field, list_field, qom_ints
from faultlab.needs import Needs, PatchNeed
from faultlab.scenario import ScenarioContext, StepFailed, parse_json_object, scenario

PROGRAM = "/opt/faultlab/bin/faultlab-dsa"
ACCFG = "accel-config"
DSA_TEST = "/usr/libexec/accel-config/test/dsa_test"
DSA = "dsa0"
SYSFS = "/sys/bus/dsa/devices"
DEBUGFS_EVL = f"/sys/kernel/debug/idxd/{DSA}/event_log"
DSA_ID = "dsa0"
DSA_QOM = f"/machine/peripheral/{DSA_ID}"
# The intel-iommu is the platform's first -device and has no id (platforms.py).
VTD = "/machine/peripheral-anon/device[0]"
VTD_COUNTERS = ("prq-requests", "prq-responses", "prq-overflows")
# QOM counters of the faultlab-dsa model (helper 1's names, see /work/notes/dsa-status.md).
DSA_COUNTERS = (
    "descriptors",
    "page-requests",
    "partial-completions",
    "evl-entries",
    "evl-full-waits",
    "cr-faults",
    "batches",
)
EVL_FULL_KNOB = "x-inject-evl-full"
# The x86_64 platform itself has the device (platforms.py: faultlab-dsa,id=dsa0 on pcie.0).
QEMU_ARGS: tuple[str, ...] = ()
GUEST_FILES = (PROGRAM, "/bin/accel-config")
PAGE = 4096

# DSA completion status codes (include/uapi/linux/idxd.h)
SUCCESS = 0x01
PAGE_FAULT_NOBOF = 0x03
BATCH_FAIL = 0x05
STATUS_WRITE = 0x80
CRA_XLAT = 0x1A
DRAIN_EVL = 0x26
BATCH_EVL_ERR = 0x27
OP_MEMMOVE = 0x03
OP_DRAIN = 0x02
OP_BATCH = 0x01
BATCH_COUNT = 4  # members of the program's batch case

# dmesg lines of the driver that must not appear in a healthy run (irq.c, cdev.c)
DRIVER_ERRORS = (
    "Device error",  # an event log entry that is not a CR fault
    "Failed to service fault work",
    "No user context",
    "pasid allocation failed",
    "wq set pasid failed",
)


# -- pure parsing (tests/unit/test_dsa_parse.py) ----------------------------------------------


class ParseError(StepFailed):
    """Guest text (sysfs op_cap, the debugfs event log, the dsa_test script) is not as expected.
    Fields of the program's JSON are read through faultlab.access."""


@dataclass(frozen=True)
class Cr:
    """A DSA completion record as faultlab-dsa read it."""

    status: int
    result: int
    fault_info: int
    bytes_completed: int
    fault_addr: int
    timed_out: bool
    wait_us: int

    @classmethod
    def decode(cls, data: Mapping[str, Any], where: str = "cr") -> Cr:
        return cls(
            status=int_field(data, "status", where),
            result=int_field(data, "result", where),
            fault_info=int_field(data, "fault_info", where),
            bytes_completed=int_field(data, "bytes_completed", where),
            fault_addr=int_field(data, "fault_addr", where),
            timed_out=bool(int_field(data, "timed_out", where)),
            wait_us=int_field(data, "wait_us", where),
        )

    @property
    def fields(self) -> tuple[int, int, int, int, int]:
        """Everything the device wrote (the CR's first 16 bytes)."""
        return (self.status, self.result, self.fault_info, self.bytes_completed, self.fault_addr)


@dataclass(frozen=True)
class FileCounters:
    """The open file's sysfs counters (cr_faults, cr_fault_failures) around a case."""

    before: tuple[int, int]
    after: tuple[int, int]

    @classmethod
    def decode(cls, data: Mapping[str, Any]) -> FileCounters:
        c = dict_field(data, "counters")
        b, a = dict_field(c, "before", "counters"), dict_field(c, "after", "counters")
        return cls(
            (int_field(b, "cr_faults", "before"), int_field(b, "cr_fault_failures", "before")),
            (int_field(a, "cr_faults", "after"), int_field(a, "cr_fault_failures", "after")),
        )

    @property
    def readable(self) -> bool:
        return min(*self.before, *self.after) >= 0

    @property
    def faults(self) -> int:
        return self.after[0] - self.before[0]

    @property
    def failures(self) -> int:
        return self.after[1] - self.before[1]


def parse_op_cap(text: str) -> int:
    """sysfs op_cap as one integer whose bit n is opcode n. idxd sysfs.c prints the four 64-bit
    words highest first, each with "%*pb", which itself writes 32-bit chunks of 8 hex digits
    separated by commas: the comma-separated chunks, concatenated, are the number."""
    groups = text.strip().split(",")
    if not all(re.fullmatch(r"[0-9a-fA-F]{1,16}", g) for g in groups):
        raise ParseError(f"op_cap is not comma-separated hex chunks: {text!r:.80}")
    if len({len(g) for g in groups[1:]}) > 1:
        raise ParseError(f"op_cap chunks of different widths: {text!r:.80}")
    return int("".join(groups), 16)


@dataclass(frozen=True)
class EvlEntry:
    """One entry of the debugfs event log dump (drivers/dma/idxd/debugfs.c dump_event_entry)."""

    index: int
    processed: bool
    batch: int
    fault_rw: int
    error: int
    wq_idx: int
    op: int
    pasid: int
    batch_idx: int
    fault_addr: int
    cr_status: int
    cr_result: int
    cr_bytes_completed: int
    cr_fault_addr: int
    raw: tuple[int, ...] = ()  # the entry's qwords (the dump's "entry[i] = ..." lines)

    @property
    def rcr(self) -> bool:
        """Error info bit rcr (qw1 bit 50: the u16 at +14, bit 2); False without raw qwords."""
        return len(self.raw) > 1 and bool(self.raw[1] >> 50 & 1)


@dataclass(frozen=True)
class EvlDump:
    head: int
    tail: int
    int_pending: int
    entries: tuple[EvlEntry, ...]


_EVL_HEAD = re.compile(r"Event Log head (\d+) tail (\d+) interrupt pending (\d+)")
_EVL_ENTRY = re.compile(
    r"Event Log entry \d+ \(real index (\d+)\) processed: (\d+)\s+"
    r"desc valid \d+ wq idx valid \d+\s+"
    r"batch (\d+) fault rw (\d+) priv \d+ error (0x[0-9a-f]+|0)\s+"
    r"wq idx (\d+) op (0x[0-9a-f]+|0) pasid (\d+) batch idx (\d+)\s+"
    r"fault addr (0x[0-9a-f]+|0)\s+"
    r"status (0x[0-9a-f]+|0) result (0x[0-9a-f]+|0) fault_info (?:0x[0-9a-f]+|0) "
    r"bytes_completed (\d+)\s+"
    r"fault addr (0x[0-9a-f]+|0)"
)
_EVL_RAW = re.compile(r"entry\[\d+\] = (0x[0-9a-f]+|0)")


def parse_evl_dump(text: str) -> EvlDump:
    """The debugfs event_log file: the head/tail line, then one block per valid entry."""
    m = _EVL_HEAD.search(text)
    if not m:
        raise ParseError(f"no 'Event Log head .. tail ..' line in {text[:120]!r}")
    found = list(_EVL_ENTRY.finditer(text))
    ends = [e.start() for e in found[1:]] + [len(text)] * bool(found)
    entries = tuple(
        EvlEntry(
            index=int(e[1]),
            processed=e[2] == "1",
            batch=int(e[3]),
            fault_rw=int(e[4]),
            error=int(e[5], 0),
            wq_idx=int(e[6]),
            op=int(e[7], 0),
            pasid=int(e[8]),
            batch_idx=int(e[9]),
            fault_addr=int(e[10], 0),
            cr_status=int(e[11], 0),
            cr_result=int(e[12], 0),
            cr_bytes_completed=int(e[13]),
            cr_fault_addr=int(e[14], 0),
            raw=tuple(int(q, 0) for q in _EVL_RAW.findall(text, e.end(), end)),
        )
        for e, end in zip(found, ends, strict=True)
    )
    return EvlDump(int(m[1]), int(m[2]), int(m[3]), entries)


def pattern(i: int) -> int:
    """Byte i of faultlab-dsa's buffers (its pattern())."""
    return (i * 7 + (i >> 12) + 0x11) & 0xFF


def pattern_nonzero(start: int, length: int) -> int:
    """How many bytes of the pattern in [start, start + length) are not zero."""
    return sum(pattern(i) != 0 for i in range(start, start + length))


@dataclass(frozen=True)
class Wq:
    """One user work queue as a scenario configures it."""

    index: int
    group: int
    mode: str = "dedicated"
    size: int = 16
    bof: bool = False
    prs_disable: bool | None = True  # None: leave the attribute alone

    @property
    def name(self) -> str:
        return f"wq0.{self.index}"

    @property
    def dev(self) -> str:
        return f"/dev/dsa/{self.name}"


def need_device(ctx: ScenarioContext) -> None:
    if ctx.sh(f"test -d {SYSFS}/{DSA}").exit_code:
        raise StepFailed(
            f"{SYSFS}/{DSA} is absent: the idxd driver did not bind a DSA device "
            f"(dmesg: {ctx.must('dmesg | grep -i idxd | tail -n 3').strip()!r})"
        )


def configure(ctx: ScenarioContext, wqs: Sequence[Wq], evl_size: int | None = None) -> None:
    """Configure groups, engines and user WQs with accel-config and enable them."""
    need_device(ctx)
    ctx.expect_eq(f"{DSA} version (DSA 2.0)", ctx.read(f"{SYSFS}/{DSA}/version"), "0x200")
    ctx.expect_eq(f"{DSA} pasid_enabled (SVA)", ctx.read(f"{SYSFS}/{DSA}/pasid_enabled"), "1")
    if evl_size is not None:
        ctx.must(f"echo {evl_size} > {SYSFS}/{DSA}/event_log_size")
    groups = sorted({w.group for w in wqs})
    for i, g in enumerate(groups):
        for e in (2 * i, 2 * i + 1):
            ctx.must(f"{ACCFG} config-engine {DSA}/engine0.{e} --group-id={g}")
    for w in wqs:
        args = [
            f"--group-id={w.group}",
            f"--wq-size={w.size}",
            "--priority=10",
            f"--mode={w.mode}",
            "--type=user",
            f"--name=faultlab{w.index}",
            "--driver-name=user",
            f"--block-on-fault={int(w.bof)}",
        ]
        if w.mode == "shared":
            args.append(f"--threshold={w.size - 1}")
        ctx.must(f"{ACCFG} config-wq {DSA}/{w.name} {' '.join(args)}")
        if w.prs_disable is not None:
            attr = f"{SYSFS}/{w.name}/prs_disable"
            if ctx.sh(f"test -e {attr}").exit_code:
                raise StepFailed(f"{attr} is absent (WQCAP.wq_prs_support clear)")
            ctx.must(f"echo {int(w.prs_disable)} > {attr}")
    ctx.must(f"{ACCFG} enable-device {DSA}")
    for w in wqs:
        ctx.must(f"{ACCFG} enable-wq {DSA}/{w.name}")
        ctx.expect_eq(f"{w.name} enabled", ctx.read(f"{SYSFS}/{w.name}/state"), "enabled")
        got = (
            ctx.read(f"{SYSFS}/{w.name}/mode"),
            ctx.read(f"{SYSFS}/{w.name}/block_on_fault"),
        )
        ctx.expect_eq(f"{w.name} mode, block_on_fault", got, (w.mode, str(int(w.bof))))
        if w.prs_disable is not None:
            ctx.expect_eq(
                f"{w.name} prs_disable",
                ctx.read(f"{SYSFS}/{w.name}/prs_disable"),
                str(int(w.prs_disable)),
            )


def program(ctx: ScenarioContext, wq: Wq, args: str, timeout: float = 300.0) -> dict[str, Any]:
    data = ctx.json(f"{PROGRAM} -d {wq.dev} {args}", timeout)
    if "error" in data:
        raise StepFailed(f"faultlab-dsa {args} on {wq.name}: {data['error']}")
    return data


def decoded(what: str, fn: Any, *args: Any) -> Any:
    """fn(*args), with `what` (the case) put in front of the message of a failed decode."""
    try:
        return fn(*args)
    except StepFailed as exc:
        raise StepFailed(f"{what}: {exc}") from None


class Qom:
    """Device (and VT-d) QOM counters at one moment."""

    def __init__(self, ctx: ScenarioContext, vtd: bool = False) -> None:
        self.dsa = qom_ints(ctx, DSA_QOM, DSA_COUNTERS)
        self.vtd = qom_ints(ctx, VTD, VTD_COUNTERS) if vtd else {}

    def since(self, earlier: Qom) -> dict[str, int]:
        out = {k: v - earlier.dsa[k] for k, v in self.dsa.items()}
        out.update({k: v - earlier.vtd[k] for k, v in self.vtd.items() if k in earlier.vtd})
        return out


def expect_counters(
    ctx: ScenarioContext, label: str, data: Mapping[str, Any], faults: int, failures: int
) -> None:
    c = decoded(label, FileCounters.decode, data)
    ctx.check(
        f"{label}: this open file's cr_faults/cr_fault_failures readable",
        c.readable,
        {"before": c.before, "after": c.after},
        "both >= 0",
    )
    ctx.expect_eq(
        f"{label}: sysfs cr_faults, cr_fault_failures of this file (delta)",
        (c.faults, c.failures),
        (faults, failures),
    )


def expect_own_file(ctx: ScenarioContext, label: str, data: Mapping[str, Any]) -> None:
    ctx.check(
        f"{label}: the open file has its sysfs device (fileY) with this pid",
        bool(data.get("file")) and data.get("file_pid") == data.get("pid"),
        f"{data.get('file')!r} pid {data.get('file_pid')}",
        f"fileY with pid {data.get('pid')}",
    )


def expect_clean_dmesg(ctx: ScenarioContext, label: str) -> None:
    dmesg = ctx.dmesg()
    for line in DRIVER_ERRORS:
        ctx.expect_absent(f"{label}: dmesg has no {line!r}", line, dmesg)


# -- scenarios -------------------------------------------------------------------------------


# What the kernel needs (beyond the x86_64 platform's intel-iommu and idxd): user WQs with SVA
# (configure() checks pasid_enabled): idxd's SVM support, which enables IOPF (PRI, with ATS)
# and PASID for the device (capabilities Linux sees only through MMCONFIG) on intel-iommu SVM;
# 6.12.64+ stable kernels refuse SVA bind on x86 unless patched (patches/x86_64/0001-*);
# faultlab-dsa drops CR and data pages with MADV_DONTNEED.
NEEDS = Needs(
    options=(
        "INTEL_IDXD_SVM",
        "INTEL_IOMMU_SVM",
        "PCI_MMCONFIG",
        "PCI_ATS",
        "PCI_PRI",
        "PCI_PASID",
        "ADVISE_SYSCALLS",
    ),
    patches=(PatchNeed("FAULTLAB_SVA_BIND_X86", since="6.12.64", until="6.13"),),
)
# Several processes submit with ENQCMD to a shared WQ: under TCG (no XSAVES) IA32_PASID follows
# the task only with the test-only patch patches/x86_64/0002-*.
SHARED_WQ_NEEDS = NEEDS | Needs(patches=("FAULTLAB_PASID_SWITCH",))
# The idxd debugfs event log dump (/sys/kernel/debug/idxd/dsa0/event_log).
DEBUGFS_NEEDS = Needs(options=("DEBUG_FS",))


def dsa_scenario(name: str, summary: str, needs: Needs = NEEDS) -> Any:
    return scenario(
        f"dsa/{name}",
        "x86_64",
        summary,
        qemu_args=QEMU_ARGS,
        guest_files=GUEST_FILES,
        needs=needs,
    )


DEDICATED = Wq(0, 0, "dedicated", prs_disable=True)
SHARED = Wq(1, 1, "shared", prs_disable=True)
PRS_NO_BOF = Wq(2, 0, "dedicated", bof=False, prs_disable=False)


def reference_cr(ctx: ScenarioContext, wq: Wq) -> Cr:
    """The CR the device writes itself for the same MEMMOVE of one page."""
    data = program(ctx, wq, f"memmove {PAGE}")
    cr = decoded("memmove", Cr.decode, dict_field(data, "cr"))
    ctx.expect_eq(
        f"{wq.name} reference memmove: CR status, timed out, data",
        (cr.status, cr.timed_out, int_field(data, "dst_mismatches")),
        (SUCCESS, False, 0),
    )
    return cr


@dsa_scenario(
    "cr-fault",
    "the CR page is dropped (MADV_DONTNEED) before submission on a dedicated (MOVDIR64B) and a "
    "shared (ENQCMD) WQ with PRS disabled: the device logs the CR in the event log, the driver "
    "writes it; the CR equals the one the device writes directly, cr_faults +1 per file; with "
    "PRS on the CR address is page-requested instead (no event log entry)",
    SHARED_WQ_NEEDS,
)
def cr_fault(ctx: ScenarioContext) -> None:
    configure(ctx, (DEDICATED, SHARED, PRS_NO_BOF))
    for wq in (DEDICATED, SHARED):
        label = f"{wq.name} ({wq.mode})"
        ref = reference_cr(ctx, wq)
        start = Qom(ctx)
        data = program(ctx, wq, "cr-fault")
        delta = Qom(ctx).since(start)
        cr = decoded(label, Cr.decode, dict_field(data, "cr"))
        expect_own_file(ctx, label, data)
        ctx.expect_eq(
            f"{label}: submitted with",
            data.get("insn"),
            "enqcmd" if wq.mode == "shared" else "movdir64b",
        )
        ctx.expect_eq(f"{label}: CR written (not timed out)", cr.timed_out, False)
        ctx.expect_eq(
            f"{label}: CR (status, result, fault_info, bytes_completed, fault_addr) as the "
            "device writes it without a fault",
            cr.fields,
            ref.fields,
        )
        ctx.expect_eq(
            f"{label}: data copied, source intact",
            (int_field(data, "dst_mismatches"), int_field(data, "src_mismatches")),
            (0, 0),
        )
        expect_counters(ctx, label, data, faults=1, failures=0)
        ctx.expect_eq(
            f"{label}: device event log entries, CR faults (QOM delta)",
            (delta["evl-entries"], delta["cr-faults"]),
            (1, 1),
        )
        ctx.measure(f"{wq.mode}_cr_fault_wait_us", cr.wait_us)
    # PRS on (and block on fault off): the CR address is still page-requested (the seed: "PRS
    # is not disabled for CRs"), so the device writes the CR itself; no event log entry.
    wq = PRS_NO_BOF
    label = f"{wq.name} (dedicated, PRS on, BOF off)"
    start = Qom(ctx, vtd=True)
    data = program(ctx, wq, "cr-fault")
    delta = Qom(ctx, vtd=True).since(start)
    cr = decoded(label, Cr.decode, dict_field(data, "cr"))
    ctx.expect_eq(
        f"{label}: CR status, timed out, data",
        (cr.status, cr.timed_out, int_field(data, "dst_mismatches")),
        (SUCCESS, False, 0),
    )
    expect_counters(ctx, label, data, faults=0, failures=0)
    ctx.expect_eq(
        f"{label}: device page requests, event log entries; VT-d page requests, responses "
        "(QOM delta)",
        (
            delta["page-requests"],
            delta["evl-entries"],
            delta["prq-requests"],
            delta["prq-responses"],
        ),
        (1, 0, 1, 1),
    )
    expect_clean_dmesg(ctx, "cr-fault")


@dsa_scenario(
    "cr-unwritable",
    "the CR lies in a PROT_READ page: the device logs it, the driver's copy fails: "
    "cr_fault_failures +1 (and cr_faults +1, counted before the copy), the CR page stays zero, "
    "the data is copied",
)
def cr_unwritable(ctx: ScenarioContext) -> None:
    configure(ctx, (DEDICATED,))
    wq = DEDICATED
    start = Qom(ctx)
    data = program(ctx, wq, "cr-unwritable")
    delta = Qom(ctx).since(start)
    cr = decoded("cr-unwritable", Cr.decode, dict_field(data, "cr"))
    expect_own_file(ctx, "cr-unwritable", data)
    ctx.expect_eq(
        "CR never written: status 0 after 2 s, read-only page all zeros",
        (cr.status, cr.timed_out, int_field(data, "cr_page_zero")),
        (0, True, 1),
    )
    ctx.expect_eq("data copied nevertheless", int_field(data, "dst_mismatches"), 0)
    expect_counters(ctx, "cr-unwritable", data, faults=1, failures=1)
    ctx.expect_eq(
        "device event log entries, CR faults (QOM delta)",
        (delta["evl-entries"], delta["cr-faults"]),
        (1, 1),
    )
    expect_clean_dmesg(ctx, "cr-unwritable")


@dsa_scenario(
    "drain-cr-fault",
    "a DRAIN with CRAV and RCR whose CR page is dropped (MADV_DONTNEED), on a dedicated "
    "(MOVDIR64B) and a shared (ENQCMD) WQ with PRS disabled: the device logs it as 0x26 "
    "DRAIN_EVL with rcr and the CR image, the driver writes the CR (status 1) and, unlike 0x1a, "
    "does not count it in cr_faults",
    SHARED_WQ_NEEDS | DEBUGFS_NEEDS,
)
def drain_cr_fault(ctx: ScenarioContext) -> None:
    configure(ctx, (DEDICATED, SHARED))
    addrs: list[tuple[Wq, int]] = []
    for wq in (DEDICATED, SHARED):
        label = f"{wq.name} ({wq.mode}) drain"
        start = Qom(ctx)
        data = program(ctx, wq, "drain-cr-fault")
        delta = Qom(ctx).since(start)
        cr = decoded(label, Cr.decode, dict_field(data, "cr"))
        expect_own_file(ctx, label, data)
        ctx.expect_eq(
            f"{label}: CR (status, result, fault_info, bytes_completed, fault_addr), timed out",
            (cr.fields, cr.timed_out),
            ((SUCCESS, 0, 0, 0, 0), False),
        )
        # irq.c idxd_evl_fault_work: the DSA_COMP_DRAIN_EVL case copies the CR but increments
        # neither COUNTER_FAULTS nor (on a failed copy) COUNTER_FAULT_FAILS.
        expect_counters(ctx, label, data, faults=0, failures=0)
        ctx.expect_eq(
            f"{label}: device descriptors, event log entries, CR address faults (QOM delta)",
            (delta["descriptors"], delta["evl-entries"], delta["cr-faults"]),
            (1, 1, 1),
        )
        ctx.measure(f"{wq.mode}_drain_cr_fault_wait_us", cr.wait_us)
        addrs.append((wq, int_field(data, "cr_addr")))
    ctx.must(
        "grep -q ' /sys/kernel/debug ' /proc/mounts || mount -t debugfs none /sys/kernel/debug"
    )
    dump = decoded("event_log", parse_evl_dump, ctx.read(DEBUGFS_EVL))
    ctx.expect_eq("debugfs event log: head == tail (all processed)", dump.head, dump.tail)
    ctx.expect_eq(
        "debugfs entries: (processed, error, wq idx, op, fault addr, CR status, rcr)",
        [
            (e.processed, e.error, e.wq_idx, e.op, hex(e.fault_addr), e.cr_status, e.rcr)
            for e in dump.entries
        ],
        [(True, DRAIN_EVL, wq.index, OP_DRAIN, hex(a), SUCCESS, True) for wq, a in addrs],
    )
    # qw0 without the PASID: desc_valid, wq_idx_valid, fault_rw, error 0x26, wq, op DRAIN;
    # qw1: rcr only (no batch, no interrupt handle); qw3 reserved; the CR: status 1 only.
    ctx.expect_eq(
        "debugfs raw entries: qw0 & (2^40-1), qw1, qw2 (fault addr), qw3, CR qwords",
        [
            (e.raw[0] & (1 << 40) - 1, *e.raw[1:]) if len(e.raw) == 8 else e.raw
            for e in dump.entries
        ],
        [
            (
                0x2C | DRAIN_EVL << 8 | wq.index << 16 | OP_DRAIN << 32,
                4 << 48,
                a,
                0,
                SUCCESS,
                0,
                0,
                0,
            )
            for wq, a in addrs
        ],
    )
    ctx.expect_eq(
        "PASIDs of the two entries are not 0", [bool(e.pasid) for e in dump.entries], [True, True]
    )
    expect_clean_dmesg(ctx, "drain-cr-fault")


# (which, event log entries = the file's cr_faults, cr_fault_failures, CR address faults seen by
# the device, batch status, batch result). A member's CR fault sends the batch's own CR through
# the event log too (0x27 BATCH_EVL_ERR), so that software fixes the batch's status after the
# members' records; the driver counts that entry in cr_faults as well (irq.c).
BATCH_CASES: tuple[tuple[str, int, int, int, int, int], ...] = (
    ("none", 0, 0, 0, SUCCESS, 0),
    ("member", 2, 0, 1, SUCCESS, 0),
    ("batch", 1, 0, 1, SUCCESS, 0),
    ("both", 2, 0, 1, SUCCESS, 0),
    # the member's CR cannot be written: the driver turns the batch status into BATCH_FAIL
    ("member-ro", 2, 1, 1, BATCH_FAIL, 1),
)


@dsa_scenario(
    "batch-cr-fault",
    "a BATCH of 4 MEMMOVEs with the CR of a member, of the batch, of both dropped, and a "
    "member's CR read-only: CRs delivered through the event log, descs_completed 4, the "
    "batch's status BATCH_FAIL when a member's CR could not be written",
)
def batch_cr_fault(ctx: ScenarioContext) -> None:
    configure(ctx, (DEDICATED,))
    wq = DEDICATED
    for which, entries, failures, cr_faults, bstatus, bresult in BATCH_CASES:
        label = f"batch {which}"
        start = Qom(ctx)
        data = program(ctx, wq, f"batch {which}")
        delta = Qom(ctx).since(start)
        bcr = decoded(label, Cr.decode, dict_field(data, "batch_cr"))
        members = [
            decoded(label, Cr.decode, m, f"member {i}")
            for i, m in enumerate(list_field(data, "members"))
        ]
        ctx.expect_eq(
            f"{label}: batch CR status, result, descs_completed, timed out",
            (bcr.status, bcr.result, bcr.bytes_completed, bcr.timed_out),
            (bstatus, bresult, BATCH_COUNT, False),
        )
        want_members = [(SUCCESS, False)] * BATCH_COUNT
        if which == "member-ro":
            want_members[1] = (0, True)
        ctx.expect_eq(
            f"{label}: member CRs (status, timed out)",
            [(m.status, m.timed_out) for m in members],
            want_members,
        )
        ctx.expect_eq(f"{label}: data of all members", int_field(data, "dst_mismatches"), 0)
        expect_counters(ctx, label, data, faults=entries, failures=failures)
        ctx.expect_eq(
            f"{label}: device event log entries, CR address faults, batches (QOM delta)",
            (delta["evl-entries"], delta["cr-faults"], delta["batches"]),
            (entries, cr_faults, 1),
        )
    expect_clean_dmesg(ctx, "batch-cr-fault")


def partial_case(
    ctx: ScenarioContext, wq: Wq, where: str, bof_flag: bool, label: str, vtd: bool = False
) -> None:
    pages, index = 4, 2
    start = Qom(ctx, vtd=vtd)
    data = program(ctx, wq, f"{'-b ' if bof_flag else ''}partial {where} {pages} {index}")
    delta = Qom(ctx, vtd=vtd).since(start)
    subs = list_field(data, "submissions")
    crs = [decoded(label, Cr.decode, dict_field(s, "cr", "submission")) for s in subs]
    hole = int_field(data, "expected_fault_addr")
    write = STATUS_WRITE if where == "dst" else 0
    ctx.expect_eq(
        f"{label}: first CR (status, bytes_completed, fault_addr)",
        [(c.status, c.bytes_completed, hex(c.fault_addr)) for c in crs[:1]],
        [(PAGE_FAULT_NOBOF | write, index * PAGE, hex(hole))],
    )
    ctx.expect_eq(
        f"{label}: resubmission of the rest completes (offsets, final status)",
        ([int_field(s, "offset", "submission") for s in subs], crs[-1].status if crs else None),
        ([0, index * PAGE], SUCCESS),
    )
    ctx.expect_eq(
        f"{label}: bytes completed, destination right",
        (int_field(data, "completed"), int_field(data, "dst_mismatches")),
        (pages * PAGE, 0),
    )
    expect_counters(ctx, label, data, faults=0, failures=0)
    ctx.expect_eq(
        f"{label}: partial completions, page requests, event log entries (QOM delta)",
        (delta["partial-completions"], delta["page-requests"], delta["evl-entries"]),
        (1, 0, 0),
    )
    if vtd:
        ctx.expect_eq(f"{label}: VT-d page requests (QOM delta)", delta["prq-requests"], 0)


@dsa_scenario(
    "partial-fault",
    "a MEMMOVE over a dropped source or destination page with PRS disabled, and with the "
    "descriptor's block-on-fault flag clear on a PRS WQ: status 0x03 (0x83 on the write), "
    "bytes_completed and fault_addr at the page; the program touches it, resubmits the rest",
)
def partial_fault(ctx: ScenarioContext) -> None:
    prs_wq = Wq(1, 1, "dedicated", bof=True, prs_disable=False)
    configure(ctx, (DEDICATED, prs_wq))
    for where in ("dst", "src"):
        partial_case(ctx, DEDICATED, where, False, f"{where} page, PRS disabled")
    partial_case(ctx, prs_wq, "dst", False, "dst page, WQ bof, descriptor BOF clear", vtd=True)
    expect_clean_dmesg(ctx, "partial-fault")


@dsa_scenario(
    "prs-fault",
    "with PRS and block-on-fault a MEMMOVE into 8 dropped pages completes in one submission: "
    "one VT-d page request and one response per page, no partial completion",
)
def prs_fault(ctx: ScenarioContext) -> None:
    wq = Wq(0, 0, "dedicated", bof=True, prs_disable=False)
    configure(ctx, (wq,))
    pages = 8
    start = Qom(ctx, vtd=True)
    data = program(ctx, wq, f"-b prs {pages}")
    delta = Qom(ctx, vtd=True).since(start)
    cr = decoded("prs", Cr.decode, dict_field(data, "cr"))
    ctx.expect_eq(
        "one submission: CR status, timed out, data",
        (cr.status, cr.timed_out, int_field(data, "dst_mismatches")),
        (SUCCESS, False, 0),
    )
    expect_counters(ctx, "prs", data, faults=0, failures=0)
    ctx.expect_eq(
        "device page requests, partial completions (QOM delta)",
        (delta["page-requests"], delta["partial-completions"]),
        (pages, 0),
    )
    ctx.expect_eq(
        "VT-d page requests, responses, overflows (QOM delta)",
        (delta["prq-requests"], delta["prq-responses"], delta["prq-overflows"]),
        (pages, pages, 0),
    )
    ctx.measure("prs_pages", pages)
    ctx.measure("prs_us", cr.wait_us)
    # The source side with the descriptor's BOF: one submission, one page request.
    start = Qom(ctx, vtd=True)
    data = program(ctx, wq, "-b partial src 4 2")
    delta = Qom(ctx, vtd=True).since(start)
    subs = list_field(data, "submissions")
    crs = [decoded("prs src", Cr.decode, dict_field(s, "cr", "submission")) for s in subs]
    # The page request read-faults the dropped anonymous page in as the zero page: the
    # destination's page 2 holds zeros, every other byte the source pattern.
    ctx.expect_eq(
        "dropped source page with BOF: one submission, SUCCESS, destination bytes that differ "
        "from the pattern (page 2 copied as zeros)",
        ([c.status for c in crs], int_field(data, "dst_mismatches")),
        ([SUCCESS], pattern_nonzero(2 * PAGE, PAGE)),
    )
    ctx.expect_eq(
        "dropped source page: VT-d page requests, responses; device partial completions",
        (delta["prq-requests"], delta["prq-responses"], delta["partial-completions"]),
        (1, 1, 0),
    )
    expect_clean_dmesg(ctx, "prs-fault")


FLOOD = 512
EVL_SIZE = 64  # the driver's minimum (IDXD_EVL_SIZE_MIN)


@dsa_scenario(
    "evl-full",
    "with the event log held full (x-inject-evl-full) a CR fault waits and is delivered once "
    "the log frees; then 512 CR faults through a 64-entry log: every one delivered and counted",
)
def evl_full(ctx: ScenarioContext) -> None:
    # The whole WQ space (128) for one dedicated WQ: up to 128 descriptors in flight, twice
    # the event log's 64 entries.
    wq = Wq(0, 0, "dedicated", size=128, prs_disable=True)
    configure(ctx, (wq,), evl_size=EVL_SIZE)
    ctx.expect_eq("event_log_size", ctx.read_int(f"{SYSFS}/{DSA}/event_log_size"), EVL_SIZE)
    start = Qom(ctx)
    ctx.qom_set(DSA_QOM, EVL_FULL_KNOB, True)
    out = "/tmp/faultlab-dsa-evl-full.json"
    ctx.must(
        f"{PROGRAM} -d {wq.dev} -t 30000 cr-fault < /dev/null > {out} 2>&1 & echo $! > {out}.pid"
    )
    ctx.must("sleep 2")
    waiting = ctx.sh(f"kill -0 $(cat {out}.pid)").exit_code == 0
    held = Qom(ctx).since(start)
    ctx.check(
        "with the log full the program still waits for its CR after 2 s",
        waiting,
        "waiting" if waiting else "finished",
        "waiting",
    )
    ctx.expect_eq(
        "device: waits for a free event log slot, entries written while full (QOM delta)",
        (min(held["evl-full-waits"], 1), held["evl-entries"]),
        (1, 0),
    )
    ctx.qom_set(DSA_QOM, EVL_FULL_KNOB, False)
    ctx.must(f"while kill -0 $(cat {out}.pid) 2>/dev/null; do sleep 0.2; done", timeout=60)
    data = parse_json_object("faultlab-dsa cr-fault", ctx.read(out))
    if "error" in data:
        raise StepFailed(f"faultlab-dsa cr-fault: {data['error']}")
    cr = decoded("evl-full", Cr.decode, dict_field(data, "cr"))
    ctx.expect_eq(
        "after the log frees: CR status, timed out, data",
        (cr.status, cr.timed_out, int_field(data, "dst_mismatches")),
        (SUCCESS, False, 0),
    )
    expect_counters(ctx, "held CR fault", data, faults=1, failures=0)
    ctx.expect_eq("device event log entries (QOM delta)", Qom(ctx).since(start)["evl-entries"], 1)

    start = Qom(ctx)
    data = program(ctx, wq, f"flood {FLOOD}", timeout=600)
    delta = Qom(ctx).since(start)
    ctx.expect_eq(
        f"flood: {FLOOD} CRs delivered with SUCCESS, none timed out, data",
        (
            int_field(data, "completed"),
            int_field(data, "timed_out"),
            int_field(data, "other_status"),
            int_field(data, "dst_mismatches"),
        ),
        (FLOOD, 0, 0, 0),
    )
    expect_counters(ctx, "flood", data, faults=FLOOD, failures=0)
    ctx.expect_eq(
        "flood: device event log entries, CR faults (QOM delta)",
        (delta["evl-entries"], delta["cr-faults"]),
        (FLOOD, FLOOD),
    )
    ctx.measure("flood_faults", FLOOD)
    ctx.measure("flood_wall_us", int_field(data, "wall_us"))
    ctx.measure("flood_cr_faults_per_s", int_field(data, "faults_per_s"))
    ctx.measure("flood_evl_full_waits", delta["evl-full-waits"])
    expect_clean_dmesg(ctx, "evl-full")


@dsa_scenario(
    "sysfs",
    "an open WQ file has its fileY device with the opener's pid and zero counters, gone after "
    "close; after CR faults the debugfs event log dump shows them processed, with the CR "
    "address, the MEMMOVE opcode, the WQ and the delivered CR",
    NEEDS | DEBUGFS_NEEDS,
)
def sysfs(ctx: ScenarioContext) -> None:
    configure(ctx, (DEDICATED,))
    wq = DEDICATED
    cdev_dir = f"{SYSFS}/{wq.name}/dsa!{wq.name}"
    data = program(ctx, wq, f"memmove {PAGE}")
    expect_own_file(ctx, "memmove", data)
    expect_counters(ctx, "memmove", data, faults=0, failures=0)
    name = str(data.get("file"))
    left = ctx.must(f"ls {shlex.quote(cdev_dir)}").split()
    ctx.check(
        f"after close: {name} gone from {cdev_dir} and /sys/bus/dsa/devices",
        name not in left and ctx.sh(f"test -e {SYSFS}/{shlex.quote(name)}").exit_code != 0,
        " ".join(left) or "(empty)",
        f"no {name}",
    )
    # Another reader sees the same files while the program holds the WQ open after a CR fault.
    out = "/tmp/faultlab-dsa-held.json"
    ctx.must(
        f"{PROGRAM} -H 3000 -d {wq.dev} cr-fault < /dev/null > {out} 2>&1 & "
        f"i=0; while [ ! -s {out} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done"
    )
    held = parse_json_object("faultlab-dsa -H 3000 cr-fault", ctx.read(out))
    if "error" in held:
        raise StepFailed(f"faultlab-dsa cr-fault: {held['error']}")
    fdir = f"{cdev_dir}/{held.get('file')}"
    seen = tuple(ctx.read(f"{fdir}/{attr}") for attr in ("pid", "cr_faults", "cr_fault_failures"))
    ctx.expect_eq(
        f"while held open, read by the shell: {held.get('file')}/pid, cr_faults, cr_fault_failures",
        seen,
        (str(held.get("pid")), "1", "0"),
    )
    ctx.must(f"while [ -e {shlex.quote(fdir)} ]; do sleep 0.2; done", timeout=30)
    n = 3
    addrs: list[int] = [int_field(held, "cr_addr")]
    for _ in range(n - 1):
        d = program(ctx, wq, "cr-fault")
        expect_counters(ctx, "cr-fault", d, faults=1, failures=0)
        addrs.append(int_field(d, "cr_addr"))
    ctx.must(
        "grep -q ' /sys/kernel/debug ' /proc/mounts || mount -t debugfs none /sys/kernel/debug"
    )
    dump = decoded("event_log", parse_evl_dump, ctx.read(DEBUGFS_EVL))
    ctx.expect_eq("debugfs event log: head == tail (all processed)", dump.head, dump.tail)
    ctx.expect_eq("debugfs event log: valid entries", len(dump.entries), n)
    # The program maps its CR page afresh each run: the kernel may give the same address.
    ctx.expect_eq(
        "debugfs entries: (processed, error, wq idx, op, fault addr, CR status)",
        [
            (e.processed, e.error, e.wq_idx, e.op, hex(e.fault_addr), e.cr_status)
            for e in dump.entries
        ],
        [(True, CRA_XLAT, wq.index, OP_MEMMOVE, hex(a), SUCCESS) for a in addrs],
    )
    ctx.expect_eq(
        "pasids of the three opens differ from 0", all(e.pasid for e in dump.entries), True
    )


@dsa_scenario(
    "enqcmd-switch",
    "two processes take turns on one CPU, each submitting to a shared WQ with ENQCMD: each "
    "descriptor must carry its own process's PASID (IA32_PASID follows the task), so both "
    "copies complete",
    SHARED_WQ_NEEDS,
)
def enqcmd_switch(ctx: ScenarioContext) -> None:
    # Without XSAVES (TCG) nothing in Linux switched IA32_PASID: the second process's ENQCMD
    # carried the first one's PASID until guest-kernel/patches/x86_64/0002-*.
    wq = SHARED
    configure(ctx, (wq,))
    out = "/tmp/faultlab-dsa-first.json"
    # A submits (its ENQCMD #GP loads IA32_PASID with A's PASID), then sleeps with the WQ
    # open; B runs on the same CPU while A still holds its PASID.
    ctx.must(
        f"taskset 1 {PROGRAM} -H 4000 -d {wq.dev} memmove {PAGE} < /dev/null > {out} 2>&1 & sleep 1"
    )
    start = Qom(ctx)
    second = ctx.json(f"taskset 1 {PROGRAM} -d {wq.dev} -t 3000 memmove {PAGE}")
    delta = Qom(ctx).since(start)
    ctx.must("sleep 4")
    first = parse_json_object("faultlab-dsa (first process)", ctx.read(out))
    for label, data in (("first process", first), ("second process, same CPU", second)):
        if "error" in data:
            raise StepFailed(f"faultlab-dsa ({label}): {data['error']}")
        cr = decoded(label, Cr.decode, dict_field(data, "cr"))
        ctx.expect_eq(
            f"{label}: ENQCMD memmove CR status, timed out, data",
            (cr.status, cr.timed_out, int_field(data, "dst_mismatches")),
            (SUCCESS, False, 0),
        )
    ctx.expect_eq(
        "second process: partial completions, event log entries (QOM delta)",
        (delta["partial-completions"], delta["evl-entries"]),
        (0, 0),
    )
    dmesg = ctx.dmesg()
    ctx.expect_absent("dmesg has no DMAR fault", "DMAR: [DMA", dmesg)
    expect_clean_dmesg(ctx, "enqcmd-switch")


# -- accel-config-test ---------------------------------------------------------------------

# The WQs of the runner's own configuration (configs/2g2q_user_1.conf, which its start_dsa()
# loads): a shared (wq0.0) and a dedicated (wq0.1) user WQ with block on fault.
ACCEL_WQS = (
    Wq(0, 0, "shared", bof=True, prs_disable=None),
    Wq(1, 1, "dedicated", bof=True, prs_disable=None),
)


RUNNER = "/usr/libexec/accel-config/test/dsa_user_test_runner.sh"
RUNNER_LOG = "/tmp/dsa_user_test_runner.log"
# What dsa_user_test_runner.sh of accel-config-test 3.5.3 runs: each opcode with block on fault
# on (-f 0x1) and off, on the dedicated and the shared WQ, alone and as a batch of 16 (drain
# alone only); the DIF opcodes at 512, 1024 and 4096 bytes, the others at 5 sizes.
RUNNER_OPS = (0x00, 0x02, 0x03, 0x04, 0x05, 0x06, 0x09, 0x10, 0x11, 0x20)
RUNNER_DIF_OPS = (0x12, 0x13, 0x14, 0x15)
RUNNER_RUNS = 2 * 2 * (5 * len(RUNNER_OPS) + 5 * (len(RUNNER_OPS) - 1)) + 2 * 2 * 2 * 3 * len(
    RUNNER_DIF_OPS
)
_TRACED_DSA_TEST = re.compile(r"^\++ \S*/dsa_test (.*)$", re.M)


def runner_opcodes(trace: str) -> tuple[int, set[int]]:
    """dsa_test runs in the runner's `bash -x` trace: their count and the opcodes they tested
    (-o, or -b for a batch's members)."""
    ops: set[int] = set()
    runs = _TRACED_DSA_TEST.findall(trace)
    for args in runs:
        words = args.split()
        key = "-b" if "-b" in words else "-o"
        if key in words and words.index(key) + 1 < len(words):
            ops.add(int(words[words.index(key) + 1], 16))
    return len(runs), ops


@dsa_scenario(
    "accel-config-test",
    "accel-config-test's own dsa_user_test_runner.sh, unmodified: it reloads idxd with modprobe "
    "(built in: /lib/modules/RELEASE/modules.builtin), loads its 2g2q_user_1.conf and runs "
    "dsa_test for every opcode (DIF included), dedicated and shared WQ, block on fault on and "
    "off, alone and in batches of 16; it must exit 0",
    needs=SHARED_WQ_NEEDS,
)
def accel_config_test(ctx: ScenarioContext) -> None:
    if ctx.sh(f"test -x {RUNNER}").exit_code:
        ctx.skip(f"{RUNNER} is not in the image (rebuild it: make image-x86_64)")
    need_device(ctx)
    res = ctx.sh(f"cd /tmp && {RUNNER} > {RUNNER_LOG} 2>&1", timeout=900.0)
    trace = ctx.must(f"cat {RUNNER_LOG}")
    tail = " | ".join(trace.strip().splitlines()[-4:])
    ctx.check(f"{RUNNER.rsplit('/', 1)[1]} exit status", res.exit_code == 0, res.exit_code, 0)
    if res.exit_code != 0:
        ctx.check("runner's last lines", False, tail, "no failure")
    ctx.expect_in("runner's modprobe idxd ran", "+ modprobe idxd", trace, RUNNER_LOG)
    runs, ops = runner_opcodes(trace)
    ctx.expect_eq("dsa_test runs the runner made", runs, RUNNER_RUNS)
    ctx.expect_eq(
        "opcodes the runner tested",
        sorted(f"{o:#04x}" for o in ops),
        sorted(f"{o:#04x}" for o in (*RUNNER_OPS, *RUNNER_DIF_OPS)),
    )
    for w in ACCEL_WQS:  # the runner disables its WQs and the device at the end
        state = ctx.read(f"{SYSFS}/{w.name}/state")
        ctx.expect_eq(f"{w.name} state after the runner", state, "disabled")
    ctx.measure("runner_dsa_test_runs", runs)
    expect_clean_dmesg(ctx, "accel-config-test")
