"""pseries VAS credits that follow DLPAR core changes, and QoS credits set through sysfs.

The partition runs with the spapr machine's `x-dedicated-procs=on`
(qemu-devices/patches/0008-*): the VPA's shared-processor bit stays clear, so Linux treats it as a
dedicated-processor LPAR and its VAS notifier (pseries_vas_notifier, arch/powerpc/platforms/
pseries/vas.c) re-reads the default capabilities on every OF attach/detach of a CPU node. The
spapr-vas model derives the default target credits from the cores present (credits-per-core x
cores). QMP device_del/device_add of a `power9_v2.2-spapr-cpu-core` is real DLPAR: QEMU raises the
hotplug event, the kernel's in-kernel DLPAR code offlines/onlines the CPU and detaches/attaches
its node; no drmgr is involved.

faultlab-vas-credits (guest-kernel/programs) holds the windows and pastes on all of them on
request (commands through a FIFO), falling back to software CRC32 where a paste is refused.
"""

from __future__ import annotations

import json
from typing import Any

from faultlab.access import dict_field, dicts, int_field
from faultlab.needs import Needs
from faultlab.polling import poll
from faultlab.scenario import ScenarioContext, StepFailed, scenario
from faultlab.scenarios.pseries import VAS_NEEDS

PROGRAM = "/opt/faultlab/bin/faultlab-vas-credits"
VAS_ID = "vas0"
CREDITS_PER_CORE = 4
CORES = 2
CORE_TYPE = "power9_v2.2-spapr-cpu-core"
DLPAR_ARGS = (
    "-machine",
    "x-dedicated-procs=on",
    "-smp",
    f"{CORES},maxcpus=4",
    "-device",
    f"spapr-vas,id={VAS_ID},credits-per-core={CREDITS_PER_CORE}",
)
GZIP = "/sys/devices/virtual/misc/vas/vas0/gzip"
DEFAULT = f"{GZIP}/default_capabilities"
QOS = f"{GZIP}/qos_capabilities"
FIFO = "/tmp/vas-credits.cmd"
OUT = "/tmp/vas-credits.out"
# vas.c refuses a window beyond its own credit count with -EINVAL ("Credits are not available
# to allocate window"); an H_ALLOCATE_VAS_WINDOW failure (H_RESOURCE) comes back as -EIO.
EINVAL, EIO = 22, 5


def credits(ctx: ScenarioContext, caps: str) -> tuple[int, int]:
    """(nr_total_credits, nr_used_credits) from sysfs."""
    return ctx.read_int(f"{caps}/nr_total_credits"), ctx.read_int(f"{caps}/nr_used_credits")


def out_lines(ctx: ScenarioContext, path: str = OUT) -> list[dict[str, Any]]:
    lines = [ln for ln in ctx.read(path).splitlines() if ln.strip()]
    try:
        return [json.loads(ln) for ln in lines]
    except json.JSONDecodeError as exc:
        raise StepFailed(f"faultlab-vas-credits printed no JSON: {lines!r}: {exc}") from None


def wait_lines(ctx: ScenarioContext, count: int, timeout: float = 120.0) -> list[dict[str, Any]]:
    lines = poll(
        lambda: out_lines(ctx),
        lambda got: len(got) >= count,
        timeout=timeout,
        interval=0.5,
        what=f"{count} lines from faultlab-vas-credits in {OUT}",
    )
    if "error" in lines[-1]:
        raise StepFailed(f"faultlab-vas-credits: {lines[-1]['error']}")
    return lines


def paste_round(ctx: ScenarioContext, count: int) -> list[dict[str, Any]]:
    """Ask the program to paste on every window; its per-window results."""
    ctx.must(f"echo paste > {FIFO}")
    line = wait_lines(ctx, count)[count - 1]
    windows = line.get("windows")
    if not isinstance(windows, list):
        raise StepFailed(f"faultlab-vas-credits round without windows: {line!r}")
    windows = dicts(windows, "faultlab-vas-credits windows")
    for w in windows:
        if w.get("crc") != line.get("source_crc"):
            raise StepFailed(f"window {w.get('window')}: CRC {w.get('crc')} != source")
    return windows


def paths(windows: list[dict[str, Any]]) -> list[str]:
    return [str(w.get("path")) for w in windows]


def wait_sysfs(ctx: ScenarioContext, path: str, value: int, timeout: float = 180.0) -> int:
    """`path`'s value once it is `value`, or the last one read after `timeout` seconds."""
    return poll(
        lambda: ctx.read_int(path),
        lambda got: got == value,
        timeout=timeout,
        interval=1.0,
        what=f"{path} = {value}",
        fail=False,
    )


def core_paths(ctx: ScenarioContext) -> dict[int, str | None]:
    cores = ctx.qmp("query-hotpluggable-cpus")
    if not isinstance(cores, list):
        raise StepFailed(f"query-hotpluggable-cpus returned {cores!r:.120}")
    where = "query-hotpluggable-cpus"
    return {
        int_field(dict_field(c, "props", where), "core-id", f"{where} props"): c.get("qom-path")
        for c in cores
    }


def wait_core(ctx: ScenarioContext, core: int, present: bool, timeout: float = 180.0) -> str | None:
    """The core's QOM path (None: not plugged) once it is `present`, or as it is after
    `timeout` seconds."""
    return poll(
        lambda: core_paths(ctx).get(core),
        lambda path: (path is not None) == present,
        timeout=timeout,
        interval=1.0,
        what=f"core {core} {'plugged' if present else 'unplugged'}",
        fail=False,
    )


def core_state(qom_path: str | None) -> str:
    """What query-hotpluggable-cpus says of a core: unplugged, or plugged at its QOM path."""
    return "unplugged" if qom_path is None else f"plugged ({qom_path})"


def expect_core(
    ctx: ScenarioContext, name: str, core: int, present: bool, timeout: float = 180.0
) -> None:
    """Check `core` becomes plugged (or unplugged), recording the state QEMU reports."""
    path = wait_core(ctx, core, present, timeout)
    want = "plugged" if present else "unplugged"
    ctx.check(name, (path is not None) == present, core_state(path), want)


def online_cpus(ctx: ScenarioContext) -> str:
    return ctx.read("/sys/devices/system/cpu/online").strip()


@scenario(
    "pseries/dlpar-credits",
    "ppc64-pseries",
    "a dedicated-processor partition opens windows up to its default credits; DLPAR core "
    "removal makes the kernel close the newest windows (pastes fail, the program falls back, "
    "sysfs shows used > total); adding the core back reopens them and pastes succeed",
    qemu_args=DLPAR_ARGS,
    guest_files=(PROGRAM,),
    needs=VAS_NEEDS | Needs(options=("HOTPLUG_CPU",)),
)
def dlpar_credits(ctx: ScenarioContext) -> None:
    target = CREDITS_PER_CORE * CORES
    # lpar.c creates /proc/powerpc/vcpudispatch_stats only when the VPA says shared processors
    # (the bench's kernel has no CONFIG_LPARCFG, whose shared_processor_mode would say the same).
    ctx.expect_eq(
        "dedicated-processor partition: no /proc/powerpc/vcpudispatch_stats",
        ctx.sh("test -e /proc/powerpc/vcpudispatch_stats").exit_code,
        1,
    )
    ctx.expect_eq("CPUs online at boot", online_cpus(ctx), f"0-{CORES - 1}")
    ctx.expect_eq("default credits at boot (total, used)", credits(ctx, DEFAULT), (target, 0))

    ctx.must(f"rm -f {FIFO} {OUT} && mkfifo {FIFO}")
    ctx.must(f"{PROGRAM} {target + 1} {FIFO} > {OUT} 2>&1 < /dev/null &")
    opened = wait_lines(ctx, 1)[0]
    ctx.expect_eq("windows opened: up to the credit limit", opened.get("opened"), target)
    ctx.expect_eq("window beyond the credits refused by the kernel", opened.get("errno"), EINVAL)
    ctx.expect_eq("default credits used", credits(ctx, DEFAULT), (target, target))
    r1 = paste_round(ctx, 2)
    ctx.expect_eq("every window pastes to NX", paths(r1), ["nx"] * target)
    ctx.expect_eq("NX completed every CRB (cc 0)", [w.get("cc") for w in r1], [0] * target)

    # DLPAR core removal: core 1 (the boot core 0 cannot be unplugged).
    removed = core_paths(ctx).get(1)
    if removed is None:
        raise StepFailed("core 1 is not present at boot")
    ctx.qmp("device_del", id=removed)
    expect_core(ctx, "core 1 released by the guest", 1, present=False)
    remaining = target - CREDITS_PER_CORE
    total = wait_sysfs(ctx, f"{DEFAULT}/nr_total_credits", remaining)
    ctx.expect_eq("CPUs online after removal", online_cpus(ctx), "0")
    ctx.expect_eq(
        "after removal: nr_total_credits, nr_used_credits, avail",
        (total, ctx.read_int(f"{DEFAULT}/nr_used_credits"), total - target),
        (remaining, target, remaining - target),
    )
    r2 = paste_round(ctx, 3)
    ctx.expect_eq(
        "after removal: oldest windows paste to NX, the newest fall back to software",
        paths(r2),
        ["nx"] * remaining + ["sw"] * (target - remaining),
    )
    ctx.expect_eq(
        "refused pastes report CR0 not accepted",
        sorted({w.get("cr0") for w in r2[remaining:]}),
        [0],
    )

    # DLPAR core add: the same windows reopen.
    ctx.qmp("device_add", driver=CORE_TYPE, id="core1", **{"core-id": 1})
    expect_core(ctx, "core 1 plugged", 1, present=True)
    total = wait_sysfs(ctx, f"{DEFAULT}/nr_total_credits", target)
    ctx.expect_eq(
        "after add: (total, used)",
        (total, ctx.read_int(f"{DEFAULT}/nr_used_credits")),
        (target, target),
    )
    poll(
        lambda: online_cpus(ctx),
        lambda cpus: cpus == f"0-{CORES - 1}",
        timeout=60,
        interval=1.0,
        what="CPUs online",
        fail=False,
    )
    ctx.expect_eq("CPUs online after add", online_cpus(ctx), f"0-{CORES - 1}")
    r3 = paste_round(ctx, 4)
    ctx.expect_eq("after add: every window pastes to NX again", paths(r3), ["nx"] * target)
    ctx.must(f"echo quit > {FIFO}")
    wait_lines(ctx, 5)
    ctx.expect_eq("credits after the program exits", credits(ctx, DEFAULT), (target, 0))
    dmesg = ctx.dmesg()
    ctx.expect_absent("no VAS reconfig error in the kernel log", "Failed reconfig VAS", dmesg)


QOS_CREDITS = 4
BAD_TOTALS = ("70000", "abc")  # not a u16
QOS_ARGS = ("-device", f"spapr-vas,id={VAS_ID},qos-credits={QOS_CREDITS}")


def set_qos_total(ctx: ScenarioContext, value: str) -> int | None:
    """Write update_total_credits; the shell's exit status (non-zero or None: the write
    failed)."""
    return ctx.sh(f"echo {value} > {QOS}/update_total_credits").exit_code


def expect_bad_totals_refused(ctx: ScenarioContext) -> None:
    """Write each bad total, whatever the one before did; the check shows every exit status."""
    statuses = {value: set_qos_total(ctx, value) for value in BAD_TOTALS}
    ctx.check(
        "update_total_credits refuses a value that is not a u16",
        all(status != 0 for status in statuses.values()),
        {f"echo {value}": f"exit {status}" for value, status in statuses.items()},
        "a non-zero exit status for each (the write refused)",
    )


@scenario(
    "pseries/qos-credits",
    "ppc64-pseries",
    "update_total_credits sets the QoS total without asking the hypervisor: lowering it closes "
    "the newest QoS windows (pastes fail, the program falls back), raising it reopens them; "
    "a bad value is refused; a total above the hypervisor's grant does not get more windows",
    qemu_args=QOS_ARGS,
    guest_files=(PROGRAM,),
    needs=VAS_NEEDS,
)
def qos_credits(ctx: ScenarioContext) -> None:
    default_before = credits(ctx, DEFAULT)
    ctx.expect_eq("QoS credits at boot (total, used)", credits(ctx, QOS), (QOS_CREDITS, 0))
    ctx.must(f"rm -f {FIFO} {OUT} && mkfifo {FIFO}")
    ctx.must(f"{PROGRAM} {QOS_CREDITS + 1} {FIFO} qos > {OUT} 2>&1 < /dev/null &")
    opened = wait_lines(ctx, 1)[0]
    ctx.expect_eq("QoS windows opened: up to the QoS credits", opened.get("opened"), QOS_CREDITS)
    ctx.expect_eq(
        "QoS window beyond the credits refused by the kernel", opened.get("errno"), EINVAL
    )
    ctx.expect_eq("QoS credits used", credits(ctx, QOS), (QOS_CREDITS, QOS_CREDITS))
    ctx.expect_eq("default credits untouched by QoS windows", credits(ctx, DEFAULT), default_before)
    r1 = paste_round(ctx, 2)
    ctx.expect_eq("every QoS window pastes to NX", paths(r1), ["nx"] * QOS_CREDITS)

    lower = QOS_CREDITS // 2
    ctx.expect_eq(f"update_total_credits = {lower} accepted", set_qos_total(ctx, str(lower)), 0)
    ctx.expect_eq(
        "after lowering: QoS (total, used): used > total shows the lost credits",
        credits(ctx, QOS),
        (lower, QOS_CREDITS),
    )
    ctx.expect_in("kernel log", f"Set QoS total credits {lower}", ctx.dmesg(), "dmesg")
    r2 = paste_round(ctx, 3)
    ctx.expect_eq(
        "after lowering: the oldest QoS windows paste to NX, the newest fall back",
        paths(r2),
        ["nx"] * lower + ["sw"] * (QOS_CREDITS - lower),
    )
    ctx.expect_eq(
        "default credits untouched by the QoS change", credits(ctx, DEFAULT), default_before
    )

    expect_bad_totals_refused(ctx)
    ctx.expect_eq(
        "QoS total unchanged by the refused writes", credits(ctx, QOS), (lower, QOS_CREDITS)
    )

    ctx.expect_eq(
        f"update_total_credits = {QOS_CREDITS} accepted", set_qos_total(ctx, str(QOS_CREDITS)), 0
    )
    ctx.expect_eq("after raising: QoS (total, used)", credits(ctx, QOS), (QOS_CREDITS, QOS_CREDITS))
    r3 = paste_round(ctx, 4)
    ctx.expect_eq(
        "after raising: every QoS window pastes to NX again", paths(r3), ["nx"] * QOS_CREDITS
    )

    # The OS total is only what the management console told the OS: raising it above the
    # hypervisor's QoS grant (qos-credits) lets the kernel try, but H_ALLOCATE_VAS_WINDOW refuses.
    above = QOS_CREDITS + 2
    ctx.expect_eq(f"update_total_credits = {above} accepted", set_qos_total(ctx, str(above)), 0)
    ctx.expect_eq("QoS (total, used) above the grant", credits(ctx, QOS), (above, QOS_CREDITS))
    ctx.must(
        f"rm -f {FIFO}.2 && mkfifo {FIFO}.2 && "
        f"{PROGRAM} 1 {FIFO}.2 qos > {OUT}.2 2>&1 < /dev/null & "
        f"for i in $(seq 60); do test -s {OUT}.2 && break; sleep 1; done; "
        f"cat {OUT}.2; echo quit > {FIFO}.2",
        timeout=120,
    )
    extra_lines = out_lines(ctx, f"{OUT}.2")
    if not extra_lines:
        raise StepFailed(f"faultlab-vas-credits printed nothing into {OUT}.2")
    extra = extra_lines[0]
    ctx.expect_eq(
        "one more QoS window: the kernel tries, the hypervisor refuses (opened, errno)",
        (extra.get("opened"), extra.get("errno")),
        (0, EIO),
    )
    ctx.must(f"echo quit > {FIFO}")
    wait_lines(ctx, 5)
    ctx.expect_eq("QoS credits after the program exits", credits(ctx, QOS), (above, 0))
