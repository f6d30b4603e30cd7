"""The output of the guest program `faultlab-smmu`, decoded and judged (pure: no VM).

The program (guest-kernel/programs/faultlab-smmu.c, fields documented at its top) prints one
JSON object per case. `decode_*` turn its parts into typed values (through faultlab.access,
whose StepFailed names the missing or mistyped field); the `expect_*` functions turn a decoded
result into `Expect`s (name, observed, expected, ok) that a scenario records as checks. Every
expectation compares a value the guest or QEMU reported with the value it must have; none is a
constant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from faultlab.access import dict_field, dicts, int_field, list_field, str_field
from faultlab.scenario import StepFailed

PAGE = 4096

# What each sysfs counter of the faultlab_dma driver means is in its source; these are the
# ones the expectations use.
DRIVER_COUNTERS = (
    "commands",
    "completed",
    "faults",
    "stalls",
    "timeouts",
    "aborts",
    "stuck",
    "lost_irqs",
    "iopf_reported",
    "resp_success",
    "resp_invalid",
    "resp_failure",
    "resp_other",
)

# QOM counters of the SMMU (qemu-devices/patches/0002-*) and of the faultlab-dma device.
SMMU_COUNTERS = (
    "stalls-total",
    "stalls-pending",
    "stalls-refused",
    "stalls-terminated",
    "resumes-retry",
    "resumes-abort",
    "evtq-overflows",
)
DMA_COUNTERS = ("stalls", "faults")


class DecodeError(StepFailed):
    """The program reported an error, or its output does not add up (a counter missing)."""


def check_no_error(data: Mapping[str, Any]) -> None:
    if "error" in data:
        raise DecodeError(f"the program reported an error: {data['error']}")


@dataclass(frozen=True)
class Run:
    """One command as the ioctl returned it."""

    rc: int
    errno_name: str
    state: str
    reason: str
    fault_write: int
    flags: tuple[str, ...]
    bytes_done: int
    fault_addr: int
    stalls: int
    elapsed_us: int
    wall_us: int
    length: int

    @classmethod
    def decode(cls, data: Mapping[str, Any], where: str = "run") -> Run:
        flags = list_field(data, "flags", where, of=str)
        return cls(
            rc=int_field(data, "rc", where),
            errno_name=str_field(data, "errno_name", where),
            state=str_field(data, "state", where),
            reason=str_field(data, "reason", where),
            fault_write=int_field(data, "fault_write", where),
            flags=tuple(flags),
            bytes_done=int_field(data, "bytes_done", where),
            fault_addr=int_field(data, "fault_addr", where),
            stalls=int_field(data, "stalls", where),
            elapsed_us=int_field(data, "elapsed_us", where),
            wall_us=int_field(data, "wall_us", where),
            length=int_field(data, "len", where),
        )


@dataclass(frozen=True)
class Compare:
    """Bytes the program checked against what they must hold."""

    nbytes: int
    mismatches: int
    first_mismatch: int

    @classmethod
    def decode(cls, data: Mapping[str, Any], where: str = "compare") -> Compare:
        return cls(
            nbytes=int_field(data, "bytes", where),
            mismatches=int_field(data, "mismatches", where),
            first_mismatch=int_field(data, "first_mismatch", where),
        )


@dataclass(frozen=True)
class Counters:
    """The driver's sysfs counters around a case (the delta is recomputed, not trusted)."""

    before: dict[str, int]
    after: dict[str, int]

    @classmethod
    def decode(cls, data: Mapping[str, Any], where: str = "counters") -> Counters:
        parts: list[dict[str, int]] = []
        for part in ("before", "after"):
            obj = dict_field(data, part, where)
            parts.append({k: int_field(obj, k, f"{where}.{part}") for k in obj})
        return cls(parts[0], parts[1])

    def delta(self, name: str) -> int:
        if name not in self.before or name not in self.after:
            raise DecodeError(f"driver counter {name!r} missing (has: {sorted(self.after)})")
        return self.after[name] - self.before[name]


def qom_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after if k in before}


@dataclass(frozen=True)
class Expect:
    name: str
    ok: bool
    observed: Any
    expected: Any


def eq(name: str, observed: Any, expected: Any) -> Expect:
    return Expect(name, observed == expected, observed, expected)


def within(name: str, observed: int | float, low: int | float, high: int | float) -> Expect:
    return Expect(name, low <= observed <= high, observed, f"{low} .. {high}")


def fault_windows(addr: int, length: int, fault_around_bytes: int) -> int:
    """Read faults a never-touched file mapping takes when read from `addr` on: one per
    naturally aligned fault-around window the range touches (do_fault_around maps the
    cached pages of the whole window around the faulting page)."""
    if length <= 0 or fault_around_bytes < PAGE or fault_around_bytes & (fault_around_bytes - 1):
        raise ValueError(f"bad range or window: {length} bytes, window {fault_around_bytes}")
    return (addr + length - 1) // fault_around_bytes - addr // fault_around_bytes + 1


# -- expectations --------------------------------------------------------------------------


def expect_copy_done(
    label: str, run: Run, compare: Compare, length: int, stalls: int
) -> list[Expect]:
    """A COPY of `length` bytes that must complete, with `stalls` stalls on the way."""
    return [
        eq(f"{label}: ioctl result", (run.rc, run.errno_name), (0, "")),
        eq(f"{label}: final state", (run.state, run.reason), ("DONE", "NONE")),
        eq(f"{label}: driver flags", list(run.flags), []),
        eq(f"{label}: bytes done", run.bytes_done, length),
        eq(f"{label}: stalls (device)", run.stalls, stalls),
        eq(f"{label}: bytes compared", compare.nbytes, length),
        eq(f"{label}: mismatching bytes", (compare.mismatches, compare.first_mismatch), (0, -1)),
    ]


def expect_copy_aborted(label: str, run: Run, addr: int) -> list[Expect]:
    """A COPY whose first destination write stalls and is answered with abort."""
    return [
        eq(f"{label}: ioctl result", (run.rc, run.errno_name), (0, "")),
        eq(f"{label}: final state", (run.state, run.reason), ("FAULT", "ABORTED")),
        eq(f"{label}: fault address", hex(run.fault_addr), hex(addr)),
        eq(f"{label}: faulting access was a write", run.fault_write, 1),
        eq(f"{label}: bytes done", run.bytes_done, 0),
        eq(f"{label}: stalls (device)", run.stalls, 1),
    ]


def expect_fault_accounting(
    label: str, counters: Counters, *, stalls: int, success: int, invalid: int
) -> list[Expect]:
    """Every stall the device went through was reported to the IOMMU core once and answered
    once, with the response codes given."""
    return [
        eq(f"{label}: driver stalls counter", counters.delta("stalls"), stalls),
        eq(f"{label}: faults reported to the IOMMU core", counters.delta("iopf_reported"), stalls),
        eq(
            f"{label}: page responses success/invalid/failure/other",
            [counters.delta(f"resp_{c}") for c in ("success", "invalid", "failure", "other")],
            [success, invalid, 0, 0],
        ),
        eq(f"{label}: completions without an interrupt", counters.delta("lost_irqs"), 0),
    ]


def expect_smmu(
    label: str,
    delta: Mapping[str, int],
    after: Mapping[str, int],
    *,
    stalls: int,
    retry: int,
    abort: int,
    held: int = 0,
) -> list[Expect]:
    """The SMMU's own account: `stalls` stalls, each answered once, `held` left held."""
    return [
        eq(f"{label}: SMMU stalls", delta["stalls-total"], stalls),
        eq(
            f"{label}: SMMU resumes retry/abort",
            [delta["resumes-retry"], delta["resumes-abort"]],
            [retry, abort],
        ),
        eq(f"{label}: SMMU stalls refused", delta["stalls-refused"], 0),
        eq(f"{label}: SMMU stalls still held", after["stalls-pending"], held),
    ]


def decode_many(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    procs = dicts(list_field(data, "procs"), "procs")
    out = []
    for i, p in enumerate(procs):
        where = f"procs[{i}]"
        out.append(
            {
                "pasid": int_field(p, "pasid", where),
                "channel": int_field(p, "channel", where),
                "open_error": str_field(p, "open_error", where),
                "rc": int_field(p, "rc", where),
                "state": str_field(p, "state", where),
                "reason": str_field(p, "reason", where),
                "stalls": int_field(p, "stalls", where),
                "bytes_done": int_field(p, "bytes_done", where),
                "mismatches": int_field(p, "mismatches", where),
            }
        )
    return out


def expect_many(data: Mapping[str, Any], processes: int, pages: int) -> list[Expect]:
    """`processes` processes each copied `pages` untouched pages: one stall per page each,
    every byte right, each process with its own PASID and channel."""
    procs = decode_many(data)
    total = dict_field(data, "total")
    exps = [eq("processes that reported", len(procs), processes)]
    exps.append(
        eq(
            "processes ending DONE with every byte right",
            sum(
                1
                for p in procs
                if not p["open_error"]
                and p["rc"] == 0
                and (p["state"], p["reason"]) == ("DONE", "NONE")
                and p["bytes_done"] == pages * PAGE
                and p["mismatches"] == 0
            ),
            processes,
        )
    )
    exps.append(eq("stalls per process", sorted({p["stalls"] for p in procs}), [pages]))
    exps.append(eq("distinct PASIDs", len({p["pasid"] for p in procs}), processes))
    exps.append(eq("distinct channels", len({p["channel"] for p in procs}), processes))
    total_stalls = int_field(total, "stalls", "total")
    exps.append(eq("total stalls (program)", total_stalls, processes * pages))
    exps.append(eq("total mismatching bytes", int_field(total, "mismatches", "total"), 0))
    return exps


def expect_hold(data: Mapping[str, Any], close_limit_us: int) -> list[Expect]:
    """`hold` with the stall record of the first command dropped: nothing reaches the IOMMU
    core, nothing answers the stall. The command times out; the driver's ABORT cannot end an
    access the SMMU holds (IHI0070 3.12.2: only CMD_RESUME, CMD_STALL_TERM or SMMUEN 1->0 do,
    and arm-smmu-v3 never issues CMD_STALL_TERM), so the channel stays STALLED, the driver
    retires it after its ABORT wait (STUCK, EIO) and refuses the second command on it;
    close() returns promptly."""
    run = Run.decode(dict_field(data, "run"))
    counters = Counters.decode(dict_field(data, "counters"))
    return [
        eq("timed-out ioctl result", (run.rc, run.errno_name), (-1, "EIO")),
        eq("timed-out command flags", list(run.flags), ["TIMED_OUT", "ABORTED", "STUCK"]),
        eq("timed-out command state", (run.state, run.reason), ("STALLED", "NONE")),
        eq("timed-out command bytes done", run.bytes_done, 0),
        eq("timed-out command stalls (device)", run.stalls, 1),
        eq(
            "second command on the retired channel",
            (int_field(data, "second_submit_rc"), str_field(data, "second_submit_errno_name")),
            (-1, "EIO"),
        ),
        within("close() after a held stall (us)", int_field(data, "close_us"), 0, close_limit_us),
        eq(
            "driver commands/faults/aborts",
            [counters.delta(k) for k in ("commands", "faults", "aborts")],
            [1, 0, 1],
        ),
        eq("driver timeouts", counters.delta("timeouts"), 1),
        eq("channels stuck after ABORT", counters.delta("stuck"), 1),
        eq("faults reported to the IOMMU core", counters.delta("iopf_reported"), 0),
        eq(
            "page responses sent",
            sum(counters.delta(f"resp_{c}") for c in ("success", "invalid", "failure", "other")),
            0,
        ),
        eq("unbinds at close", counters.delta("unbinds"), 1),
    ]


def sum_stalls(runs: Iterable[Run]) -> int:
    return sum(r.stalls for r in runs)


STORM_MODES = ("close", "stalled-close", "stalled-exit")
_RESPONSES = ("success", "invalid", "failure", "other")


def expect_storm(
    label: str,
    data: Mapping[str, Any],
    cycles: int,
    smmu: Mapping[str, int],
    smmu_after: Mapping[str, int],
    dma: Mapping[str, int],
) -> list[Expect]:
    """`storm MODE` (open / submit into untouched memory / close or exit, `cycles` times):
    every cycle went through; the driver bound and unbound once per cycle and every fault
    it reported got one response; the SMMU (QOM deltas `smmu`, values after `smmu_after`)
    answered each stall it held exactly once (resume or termination) and holds none; the
    device's stalls are the SMMU's, and its FAULT endings are the driver's."""
    mode = str_field(data, "mode")
    counters = Counters.decode(dict_field(data, "counters"))
    responses = [counters.delta(f"resp_{c}") for c in _RESPONSES]
    d = counters.delta
    out = [
        eq(f"{label}: cycles with an error", list_field(data, "errors"), []),
        eq(
            f"{label}: cycles opened/submitted/ended",
            [int_field(data, k) for k in ("opened", "submitted", "ended")],
            [cycles] * 3,
        ),
        eq(
            f"{label}: driver commands/binds/unbinds",
            [d("commands"), d("binds"), d("unbinds")],
            [cycles] * 3,
        ),
        eq(f"{label}: driver bind errors, stuck channels", [d("bind_errors"), d("stuck")], [0, 0]),
        eq(
            f"{label}: commands collected (completed + faults)",
            d("completed") + d("faults"),
            cycles,
        ),
        eq(f"{label}: faults reported = responses sent", d("iopf_reported"), sum(responses)),
        eq(f"{label}: driver responses other than success/invalid", responses[2:], [0, 0]),
        eq(f"{label}: SMMU stalls = faults reported", smmu["stalls-total"], d("iopf_reported")),
        eq(
            f"{label}: SMMU stalls answered once (retry + abort + terminated)",
            smmu["resumes-retry"] + smmu["resumes-abort"] + smmu["stalls-terminated"],
            smmu["stalls-total"],
        ),
        eq(
            f"{label}: SMMU resumes retry/abort = driver responses success/invalid",
            [smmu["resumes-retry"], smmu["resumes-abort"]],
            responses[:2],
        ),
        eq(f"{label}: SMMU stalls refused", smmu["stalls-refused"], 0),
        eq(f"{label}: stalls still held by the SMMU", smmu_after["stalls-pending"], 0),
        eq(f"{label}: device stalls = SMMU stalls", dma["stalls"], smmu["stalls-total"]),
        eq(f"{label}: device FAULT endings = driver faults", dma["faults"], d("faults")),
    ]
    if mode != "close":
        out.append(
            eq(
                f"{label}: cycles ended after their fault was reported",
                int_field(data, "waited_for_fault"),
                cycles,
            )
        )
    return out
