"""pseries asynchronous page faults: PAPR expropriation and subvention notifications.

The guest gets the `spapr-apf` device (qemu-devices/hw/faultlab/apf/spapr-apf.c, patch 0010,
docs/spapr-apf.md): H_REG_SNS, the VPA expropriation bytes, an expropriation DSI (SRR1 bit 46)
for a data access to an expropriated page, and the subvention interrupt with the correlation
number queued in the guest's SNS. The host side is QOM: `expropriate` takes a guest-physical
address, `subvene` a correlation number, and counters are read-only properties.

The guest runs the "apf" kernel variant (make kernel-ppc64le-apf: patches/ppc64le-apf/,
configs/ppc64le-apf.config): it registers the SNS at boot and enables expropriation in every
VPA. A user-mode fault sleeps (TASK_UNINTERRUPTIBLE, /proc state D) keyed by the correlation
number; a kernel-mode one waits in place draining the SNS; a number that arrives before its
sleeper is kept. Counters: /sys/kernel/debug/pseries-apf/stats.

The page is the one page faultlab-apf maps and fills; it prints the page's guest-physical
address (from /proc/self/pagemap), waits for a go file, then touches it (user: a load;
kernel: read() into it) and checks every byte afterwards.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from faultlab.access import int_field, qom_int, qom_ints
from faultlab.needs import Needs
from faultlab.polling import poll
from faultlab.scenario import ScenarioContext, parse_json_object, scenario
from faultlab.scenarios.pseries import HCALL_MODULE, check_hcall_module

APF_ID = "apf0"
APF = f"/machine/peripheral/{APF_ID}"
QEMU_ARGS = ("-device", f"spapr-apf,id={APF_ID}")
PROGRAM = "/opt/faultlab/bin/faultlab-apf"
DEBUGFS = "/sys/kernel/debug/pseries-apf"
# The "apf" kernel variant: the test-only patch patches/ppc64le-apf/ (marker CONFIG_PSERIES_APF,
# which depends on PPC_SPLPAR and DEBUG_FS: its counters and switch are in debugfs);
# faultlab-apf finds its page's guest-physical address in /proc/self/pagemap.
NEEDS = Needs(
    options=("PPC_SPLPAR", "DEBUG_FS", "PROC_PAGE_MONITOR"),
    patches=("PSERIES_APF",),
    variant="apf",
)
# pseries/apf-hcall-hostile runs on the base kernel, which must not have the option (it checks
# that no SNS was registered at boot); faultlab_hcall makes the H_REG_SNS calls (insmod, rmmod).
BASE_KERNEL_NEEDS = Needs(
    options=("PSERIES_APF=n", "PROC_PAGE_MONITOR", "MODULES", "MODULE_UNLOAD"),
    modules=("faultlab_hcall",),
)
APF_IRQ = 0x1000 + 0x70  # SPAPR_XIRQ_BASE + 0x70, what H_REG_SNS returns in R5
QOM_COUNTERS = (
    "expropriations",
    "apf-faults-delivered",
    "sync-accesses",
    "subventions",
    "notifications",
    "sns-overflows",
)

# H_REG_SNS with hostile arguments (faultlab_hcall set=apf, base kernel: nothing registered):
# PAPR return codes H_PARAMETER -4, H_P2 -55, H_BUSY 1, H_SUCCESS 0.
HOSTILE_EXPECTED = {
    "reg_sns_unaligned": -4,
    "reg_sns_outside_ram": -4,
    "reg_sns_len_zero": -55,
    "reg_sns_len_255": -55,
    "reg_sns_crosses_page": -55,
    "reg_sns_huge_len": -55,
    "reg_sns_valid": 0,
    "reg_sns_irq": APF_IRQ,
    "reg_sns_twice": 1,
    "dereg_sns": 0,
    "dereg_sns_twice": 0,
    "reg_sns_min_len": 0,
    "dereg_sns_final": 0,
}


POLL_S = 0.05  # how often a wait asks QEMU or the guest again
DSI_TIMEOUT_S = 20.0
SLEEP_TIMEOUT_S = 10.0


def _wait_dsi(ctx: ScenarioContext) -> None:
    """Until QEMU has delivered an expropriation DSI."""
    poll(
        lambda: qom_int(ctx, APF, "apf-faults-delivered"),
        lambda n: n > 0,
        timeout=DSI_TIMEOUT_S,
        interval=POLL_S,
        what="the expropriation DSI",
    )


def _wait_asleep(prog: Program, what: str = "the task to sleep") -> None:
    """Until the program's task is in state D."""
    poll(prog.state, lambda s: s == "D", timeout=SLEEP_TIMEOUT_S, interval=POLL_S, what=what)


def _qom_counters(ctx: ScenarioContext) -> dict[str, int]:
    return qom_ints(ctx, APF, (*QOM_COUNTERS, "pending"))


def _guest_stats(ctx: ScenarioContext) -> dict[str, int]:
    out = ctx.must(f"cat {DEBUGFS}/stats")
    stats: dict[str, int] = {}
    for line in out.splitlines():
        key, _, val = line.partition(" ")
        if val.strip().lstrip("-").isdigit():
            stats[key] = int(val)
    return stats


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


def _expect_guest_delta(ctx: ScenarioContext, before: dict[str, int], **want: int) -> None:
    """The guest's debugfs counters moved by exactly `want` since `before`."""
    moved = _delta(_guest_stats(ctx), before)
    for key, n in want.items():
        ctx.expect_eq(f"guest: {key} (delta)", moved.get(key), n)


class Program:
    """faultlab-apf in the background; its JSON lines are read from a file."""

    def __init__(self, ctx: ScenarioContext, mode: str) -> None:
        self.ctx = ctx
        self.out = f"/tmp/faultlab-apf-{mode}.out"
        self.go = f"/tmp/faultlab-apf-{mode}.go"
        args = self.go if mode == "user" else ""  # kernel: expropriating starts the access
        ctx.must(f"rm -f {self.out} {self.go}")
        ctx.must(f"setsid {PROGRAM} {mode} {args} </dev/null >{self.out} 2>&1 &")
        self.ready = self.wait_stage("ready")

    def lines(self) -> list[dict[str, Any]]:
        text = self.ctx.sh(f"cat {self.out}").stdout.decode(errors="replace")
        return [
            parse_json_object(PROGRAM, line) for line in text.splitlines() if line.startswith("{")
        ]

    def wait_stage(self, stage: str, timeout: float = 30.0) -> dict[str, Any]:
        found = poll(
            lambda: [o for o in self.lines() if o.get("stage") == stage],
            timeout=timeout,
            interval=POLL_S,
            what=f"faultlab-apf stage {stage!r}",
        )
        return found[-1]

    @property
    def pid(self) -> int:
        return int_field(self.ready, "pid", "faultlab-apf ready line")

    def state(self) -> str:
        """The task's state letter from /proc/PID/stat (R, S, D...)."""
        stat = self.ctx.must(f"cat /proc/{self.pid}/stat")
        return stat.rsplit(")", 1)[1].split()[0]

    def touch(self) -> None:
        self.ctx.must(f"touch {self.go}")


def _expropriate(ctx: ScenarioContext, prog: Program) -> int:
    gpa = int_field(prog.ready, "gpa", "faultlab-apf ready line")
    ctx.check("faultlab-apf found its page's guest-physical address", gpa > 0, gpa, "> 0")
    ctx.qom_set(APF, "expropriate", gpa)
    corr = qom_int(ctx, APF, "last-correlation")
    ctx.check("the page has a non-zero correlation number", 0 < corr < 1 << 16, corr, "1..65535")
    ctx.expect_eq("pages expropriated", qom_int(ctx, APF, "pending"), 1)
    return corr


def _check_done(
    ctx: ScenarioContext, done: dict[str, Any], read: int = -1, waited: bool = False
) -> None:
    ctx.expect_eq(
        "every byte of the page intact after the subvention", done.get("pattern_ok"), True
    )
    ctx.expect_eq("first bad offset", done.get("bad_offset"), -1)
    ctx.expect_eq("bytes read into the page", done.get("read"), read)
    touch_ms = float(done.get("touch_ms", -1))
    ctx.measure("touch_ms", touch_ms)
    if waited:  # the harness subvened at least 1 s after the DSI
        ctx.expect_range("the access waited for the subvention (ms)", touch_ms, 900, 120_000)
    else:
        ctx.expect_range("the access did not wait (ms)", touch_ms, 0, 900)


def _registered(ctx: ScenarioContext) -> None:
    ctx.expect_eq("the guest registered its SNS at boot", ctx.qom_get(APF, "sns-registered"), True)
    ctx.sh("mount -t debugfs none /sys/kernel/debug 2>/dev/null")
    ctx.expect_in(
        "pseries-apf reported its SNS", "pseries-apf: SNS at", ctx.dmesg(), "the guest's dmesg"
    )
    ctx.expect_eq("expropriation enabled in the VPAs", _guest_stats(ctx).get("enabled"), 1)


@scenario(
    "pseries/apf-user",
    "ppc64-pseries",
    "a user load from an expropriated page: DSI with SRR1 bit 46, the task sleeps (D) until "
    "the subvention's correlation number arrives in the SNS, then resumes with its data intact",
    qemu_args=QEMU_ARGS,
    guest_files=(PROGRAM,),
    kernel_variant="apf",
    needs=NEEDS,
)
def apf_user(ctx: ScenarioContext) -> None:
    _registered(ctx)
    prog = Program(ctx, "user")
    q0, g0 = _qom_counters(ctx), _guest_stats(ctx)
    corr = _expropriate(ctx, prog)
    prog.touch()
    _wait_dsi(ctx)
    _wait_asleep(prog)
    ctx.expect_eq("task state while the page is away", prog.state(), "D")
    time.sleep(1.0)
    ctx.expect_eq("task state 1 s later", prog.state(), "D")
    g1 = _delta(_guest_stats(ctx), g0)
    ctx.expect_eq("guest: user faults", g1.get("user_faults"), 1)
    ctx.expect_eq("guest: sleeps", g1.get("sleeps"), 1)
    ctx.expect_eq("guest: tasks sleeping now", _guest_stats(ctx).get("sleeping"), 1)
    ctx.expect_eq(
        "QEMU: one DSI, no re-fault while asleep",
        qom_int(ctx, APF, "apf-faults-delivered") - q0["apf-faults-delivered"],
        1,
    )
    ctx.expect_eq("no result before the subvention", len(prog.lines()), 1)
    ctx.qom_set(APF, "subvene", corr)
    done = prog.wait_stage("done")
    _check_done(ctx, done, waited=True)
    q = _delta(_qom_counters(ctx), q0)
    ctx.expect_eq(
        "QEMU counters (delta)",
        q,
        {
            "expropriations": 1,
            "apf-faults-delivered": 1,
            "sync-accesses": 0,
            "subventions": 1,
            "notifications": 1,
            "sns-overflows": 0,
            "pending": 0,
        },
    )
    _expect_guest_delta(
        ctx,
        g0,
        user_faults=1,
        kernel_faults=0,
        sleeps=1,
        early_wakeups=0,
        tokens=1,
        wakeups=1,
        overflows=0,
        bad_tokens=0,
    )
    ctx.expect_eq("guest: tasks sleeping after", _guest_stats(ctx).get("sleeping"), 0)


@scenario(
    "pseries/apf-wake-before-fault",
    "ppc64-pseries",
    "the subvention is queued and its interrupt raised before the DSI handler runs: the "
    "number is kept, the fault does not sleep, the access completes",
    qemu_args=QEMU_ARGS,
    guest_files=(PROGRAM,),
    kernel_variant="apf",
    needs=NEEDS,
)
def apf_wake_before_fault(ctx: ScenarioContext) -> None:
    _registered(ctx)
    prog = Program(ctx, "user")
    q0, g0 = _qom_counters(ctx), _guest_stats(ctx)
    ctx.qom_set(APF, "subvene-on-delivery", True)
    _expropriate(ctx, prog)
    prog.touch()
    done = prog.wait_stage("done")
    ctx.qom_set(APF, "subvene-on-delivery", False)
    _check_done(ctx, done)
    q = _delta(_qom_counters(ctx), q0)
    ctx.expect_eq("QEMU: expropriation DSIs", q["apf-faults-delivered"], 1)
    ctx.expect_eq("QEMU: notifications queued", q["notifications"], 1)
    ctx.expect_eq("QEMU: pages still away", q["pending"] + q0["pending"], 0)
    _expect_guest_delta(
        ctx, g0, user_faults=1, early_tokens=1, early_wakeups=1, sleeps=0, tokens=1, wakeups=0
    )
    ctx.expect_eq("guest: tasks sleeping", _guest_stats(ctx).get("sleeping"), 0)


@scenario(
    "pseries/apf-kernel",
    "ppc64-pseries",
    "read() into an expropriated user page: the DSI comes in kernel mode, the kernel waits in "
    "place (no sleep) draining the SNS, and the copy completes after the subvention",
    qemu_args=QEMU_ARGS,
    guest_files=(PROGRAM,),
    kernel_variant="apf",
    needs=NEEDS,
)
def apf_kernel(ctx: ScenarioContext) -> None:
    _registered(ctx)
    prog = Program(ctx, "kernel")
    q0, g0 = _qom_counters(ctx), _guest_stats(ctx)
    # The program read()s into the page every 10 ms: the next read after this takes the DSI
    # in the kernel, and the guest's only vCPU waits there: QMP only until the subvention.
    corr = _expropriate(ctx, prog)
    _wait_dsi(ctx)
    time.sleep(1.0)
    ctx.expect_eq(
        "QEMU: one DSI while the kernel waits (it polls the SNS, not the page)",
        qom_int(ctx, APF, "apf-faults-delivered") - q0["apf-faults-delivered"],
        1,
    )
    ctx.expect_eq("QEMU: the page is still away", qom_int(ctx, APF, "pending"), 1)
    ctx.qom_set(APF, "subvene", corr)
    done = prog.wait_stage("done")
    _check_done(ctx, done, read=4096, waited=True)
    q = _delta(_qom_counters(ctx), q0)
    ctx.expect_eq("QEMU: notifications queued", q["notifications"], 1)
    ctx.expect_eq("QEMU: subventions", q["subventions"], 1)
    _expect_guest_delta(ctx, g0, kernel_faults=1, user_faults=0, sleeps=0, tokens=1, wakeups=1)


@scenario(
    "pseries/apf-disabled",
    "ppc64-pseries",
    "expropriation cleared in the VPAs (debugfs enable=0): the access to an expropriated page "
    "is served synchronously, no DSI, no sleep",
    qemu_args=QEMU_ARGS,
    guest_files=(PROGRAM,),
    kernel_variant="apf",
    needs=NEEDS,
)
def apf_disabled(ctx: ScenarioContext) -> None:
    _registered(ctx)
    ctx.must(f"echo 0 > {DEBUGFS}/enable")
    ctx.expect_eq("expropriation disabled in the VPAs", _guest_stats(ctx).get("enabled"), 0)
    prog = Program(ctx, "user")
    q0, g0 = _qom_counters(ctx), _guest_stats(ctx)
    _expropriate(ctx, prog)
    prog.touch()
    done = prog.wait_stage("done")
    _check_done(ctx, done)
    q = _delta(_qom_counters(ctx), q0)
    ctx.expect_eq("QEMU: expropriation DSIs", q["apf-faults-delivered"], 0)
    ctx.expect_eq("QEMU: accesses served synchronously", q["sync-accesses"], 1)
    ctx.expect_eq("QEMU: pages still away", qom_int(ctx, APF, "pending"), 0)
    g = _delta(_guest_stats(ctx), g0)
    ctx.expect_eq(
        "guest: faults seen (delta)",
        int_field(g, "user_faults", "guest stats delta")
        + int_field(g, "kernel_faults", "guest stats delta"),
        0,
    )
    ctx.must(f"echo 1 > {DEBUGFS}/enable")
    ctx.expect_eq("expropriation enabled again", _guest_stats(ctx).get("enabled"), 1)


@scenario(
    "pseries/apf-hcall-hostile",
    "ppc64-pseries",
    "base kernel: H_REG_SNS with bad addresses and lengths, twice and deregistered twice gets "
    "the PAPR codes; an expropriated page is not a fault for a kernel without the option",
    qemu_args=QEMU_ARGS,
    guest_files=(HCALL_MODULE, PROGRAM),
    needs=BASE_KERNEL_NEEDS,
)
def apf_hcall_hostile(ctx: ScenarioContext) -> None:
    ctx.expect_eq("no SNS registered by the base kernel", ctx.qom_get(APF, "sns-registered"), False)
    # Deregistering with a page still expropriated is a guest error QEMU logs and survives.
    prog = Program(ctx, "user")
    q0 = _qom_counters(ctx)
    errors0 = qom_int(ctx, APF, "hcall-errors")
    _expropriate(ctx, prog)
    check_hcall_module(ctx, "set=apf", HOSTILE_EXPECTED)
    ctx.expect_eq("QEMU counted the refused calls", qom_int(ctx, APF, "hcall-errors") - errors0, 7)
    ctx.expect_eq("QEMU still running", ctx.qmp("query-status").get("status"), "running")
    ctx.expect_eq("no SNS left registered", ctx.qom_get(APF, "sns-registered"), False)
    qemu_log = Path(ctx.guest.result_dir, "qemu.log")
    log = qemu_log.read_text(errors="replace") if qemu_log.is_file() else ""
    ctx.expect_in("guest errors logged", "spapr-apf: H_REG_SNS: an SNS is already", log, "qemu.log")
    ctx.expect_in("deregistered while pending", "still expropriated", log, "qemu.log")
    # The base kernel never enabled expropriation: the access is served synchronously.
    prog.touch()
    done = prog.wait_stage("done")
    _check_done(ctx, done)
    q = _delta(_qom_counters(ctx), q0)
    ctx.expect_eq("QEMU: expropriation DSIs (base kernel)", q["apf-faults-delivered"], 0)
    ctx.expect_eq("QEMU: accesses served synchronously", q["sync-accesses"], 1)
    ctx.expect_eq("QEMU: pages still away", qom_int(ctx, APF, "pending"), 0)


@scenario(
    "pseries/apf-overflow",
    "ppc64-pseries",
    "the subvention's number is lost to a full SNS event queue (x-inject-sns-full): the "
    "overflow bit and the interrupt still come, the guest wakes every waiter, the task "
    "resumes with its data intact",
    qemu_args=QEMU_ARGS,
    guest_files=(PROGRAM,),
    kernel_variant="apf",
    needs=NEEDS,
)
def apf_overflow(ctx: ScenarioContext) -> None:
    _registered(ctx)
    prog = Program(ctx, "user")
    q0, g0 = _qom_counters(ctx), _guest_stats(ctx)
    corr = _expropriate(ctx, prog)
    prog.touch()
    _wait_dsi(ctx)
    _wait_asleep(prog)
    time.sleep(1.0)
    ctx.expect_eq("task state 1 s later", prog.state(), "D")
    ctx.expect_eq("guest: tasks sleeping now", _guest_stats(ctx).get("sleeping"), 1)
    # Filling the 2047-entry queue for real needs 2047 unread numbers: the knob makes the
    # next notification find it full, with the same outcome.
    ctx.qom_set(APF, "x-inject-sns-full", 1)
    ctx.expect_eq("injection armed", qom_int(ctx, APF, "x-inject-sns-full"), 1)
    ctx.qom_set(APF, "subvene", corr)
    ctx.expect_eq("injection consumed", qom_int(ctx, APF, "x-inject-sns-full"), 0)
    done = prog.wait_stage("done")
    _check_done(ctx, done, waited=True)
    q = _delta(_qom_counters(ctx), q0)
    ctx.expect_eq(
        "QEMU counters (delta): the number dropped, the overflow counted",
        q,
        {
            "expropriations": 1,
            "apf-faults-delivered": 1,
            "sync-accesses": 0,
            "subventions": 1,
            "notifications": 0,
            "sns-overflows": 1,
            "pending": 0,
        },
    )
    _expect_guest_delta(
        ctx,
        g0,
        user_faults=1,
        sleeps=1,
        overflows=1,  # the state bit seen (and cleared) by the interrupt handler
        tokens=0,  # no number arrived
        wakeups=1,  # the overflow woke every waiter: the one task
        early_tokens=0,
        early_wakeups=0,
        bad_tokens=0,
    )
    ctx.expect_eq("guest: tasks sleeping after", _guest_stats(ctx).get("sleeping"), 0)
    # Nothing is left of the overflow: the next fault and subvention go the normal way.
    prog = Program(ctx, "user")
    q1, g1 = _qom_counters(ctx), _guest_stats(ctx)
    corr = _expropriate(ctx, prog)
    prog.touch()
    _wait_asleep(prog, "the task to sleep again")
    time.sleep(1.0)
    ctx.qom_set(APF, "subvene", corr)
    _check_done(ctx, prog.wait_stage("done"), waited=True)
    q = _delta(_qom_counters(ctx), q1)
    ctx.expect_eq("QEMU: the next number is queued", q["notifications"], 1)
    ctx.expect_eq("QEMU: no further overflow", q["sns-overflows"], 0)
    g = _delta(_guest_stats(ctx), g1)
    ctx.expect_eq("guest: the next number arrived", g.get("tokens"), 1)
    ctx.expect_eq("guest: no further overflow", g.get("overflows"), 0)
    ctx.expect_eq("guest: the task woken by its number", g.get("wakeups"), 1)
