"""Fault scenarios: a named guest experiment whose verdict comes from concrete checks.

A scenario boots its platform (with the QEMU arguments it needs), runs guest programs and
QMP commands through a `ScenarioContext`, and records checks: each one a name, what was
observed and what was expected. The verdict is

* pass  - every check held (and there was at least one: a scenario that checks nothing
          cannot fail, so it is an error, not a pass);
* fail  - a check did not hold, a step of the scenario failed (a guest program that must
          succeed exited non-zero or printed no JSON), the body raised (its outcome could
          not be established: the check "scenario body raised", with the traceback in
          result.json's extra.traceback), or the guest failed (panic, oops, WARNING, hang,
          lost SSH: the boot session's own judgement, which beats a pass); also a known
          issue of the scenario (known_issues.py) that did not reproduce: the check
          "known issue ID still reproduces" (unless the entry is intermittent);
* known-issue - every check held and every kernel report is a known issue of the scenario
          on this kernel (known_verdict.py): not a pass, not a failure;
* skip  - the scenario cannot run here, with the reason (never counted as a pass);
* error - the harness broke.

Scenarios are registered with `@scenario(...)` in the modules of `faultlab.scenarios`.
"""

from __future__ import annotations

import json
import shlex
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from faultlab import judge, known_issues, known_verdict, paths
from faultlab.boot import BootOptions, BootSession, Guest
from faultlab.checks import MAX_SHOWN, Check, conclude, shown
from faultlab.errors import (
    FaultlabError,
    GuestFailure,
    NotRunError,
    UsageError,
    crash_site,
)
from faultlab.guest_kernel import GuestKernel, resolve_guest_kernel
from faultlab.kernel_info import parse_config
from faultlab.known_issues import KnownIssue
from faultlab.needs import NO_NEEDS, Needs, missing
from faultlab.platforms import get_platform
from faultlab.qmp import QMPError
from faultlab.result import RunResult
from faultlab.ssh import CommandResult

DEFAULT_STEP_TIMEOUT = 300.0


class ScenarioSkip(Exception):
    """The scenario cannot run here; str() says why."""


class StepFailed(Exception):
    """A step the scenario depends on failed; str() says which and how."""


def parse_json_object(command: str, out: str) -> dict[str, Any]:
    lines = out.splitlines()
    candidates = [ln for ln in reversed(lines) if ln.startswith("{")]
    first = next((i for i, ln in enumerate(lines) if ln.startswith("{")), None)
    if first is not None:
        candidates.append("\n".join(lines[first:]))
    error = "no line starts with '{'"
    for text in candidates:
        try:
            data = json.loads(text)
        except ValueError as exc:
            error = str(exc)
            continue
        if isinstance(data, dict):
            return data
    raise StepFailed(f"`{command}` printed no JSON object ({error}): {out.strip()[-400:]!r}")


@dataclass(frozen=True)
class Scenario:
    name: str  # "group/name"
    platform: str
    summary: str
    body: Callable[[ScenarioContext], None]
    qemu_args: tuple[str, ...] = ()
    append: str = ""
    guest_files: tuple[str, ...] = ()  # guest paths the scenario needs (else: skip)
    # a kernel variant (make kernel-ARCH-VARIANT) instead of the platform's kernel
    kernel_variant: str | None = None
    # what the scenario needs of the kernel beyond its platform's needs (faultlab.needs);
    # needs.variant and kernel_variant are kept equal (either may be given)
    needs: Needs = NO_NEEDS

    def __post_init__(self) -> None:
        variant = self.needs.variant
        if variant and self.kernel_variant and variant != self.kernel_variant:
            raise ValueError(
                f"scenario {self.name}: kernel_variant {self.kernel_variant!r} but needs "
                f"variant {variant!r}"
            )
        if self.kernel_variant and not variant:
            object.__setattr__(self, "needs", replace(self.needs, variant=self.kernel_variant))
        elif variant and not self.kernel_variant:
            object.__setattr__(self, "kernel_variant", variant)

    @property
    def group(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def all_needs(self) -> Needs:
        """The platform's needs and the scenario's own."""
        return get_platform(self.platform).needs | self.needs


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    name: str,
    platform: str,
    summary: str,
    *,
    qemu_args: Iterable[str] = (),
    append: str = "",
    guest_files: Iterable[str] = (),
    kernel_variant: str | None = None,
    needs: Needs = NO_NEEDS,
) -> Callable[[Callable[[ScenarioContext], None]], Callable[[ScenarioContext], None]]:
    """Register the decorated function as scenario `name` (group/name) on `platform`."""
    if name.count("/") != 1 or not all(name.split("/")):
        raise ValueError(f"scenario name {name!r} is not group/name")
    get_platform(platform)  # a typo in a registration fails at import

    def register(body: Callable[[ScenarioContext], None]) -> Callable[[ScenarioContext], None]:
        if name in SCENARIOS:
            raise ValueError(f"scenario {name!r} registered twice")
        SCENARIOS[name] = Scenario(
            name,
            platform,
            summary,
            body,
            tuple(qemu_args),
            append,
            tuple(guest_files),
            kernel_variant,
            needs,
        )
        return body

    return register


def load_scenarios() -> dict[str, Scenario]:
    import faultlab.scenarios  # noqa: F401  (registers every scenario module)

    return SCENARIOS


def select(patterns: Iterable[str]) -> list[Scenario]:
    """Scenarios named by `patterns`: exact names, or a group ("smmu" or "smmu/")."""
    known = load_scenarios()
    chosen: list[Scenario] = []
    for pattern in patterns:
        group = pattern.rstrip("/")
        if pattern in known:
            matches = [known[pattern]]
        else:
            matches = [s for s in known.values() if s.group == group and "/" not in group]
        if not matches:
            groups = sorted({s.group for s in known.values()})
            raise UsageError(
                f"unknown scenario {pattern!r} (groups: {', '.join(groups) or 'none'}; "
                "`faultlab scenarios` lists them all)"
            )
        chosen.extend(s for s in matches if s not in chosen)
    return chosen


class ScenarioContext:
    """What a scenario body uses: guest commands, QMP, checks and measurements."""

    def __init__(self, guest: Guest, scenario: Scenario) -> None:
        self.guest = guest
        self.scenario = scenario
        self.checks: list[Check] = []
        self.measurements: dict[str, Any] = {}

    # -- guest ---------------------------------------------------------------------------
    def sh(self, command: str, timeout: float = DEFAULT_STEP_TIMEOUT) -> CommandResult:
        """Run a guest command; its exit status is the caller's to judge."""
        return self.guest.run(command, timeout)

    def must(self, command: str, timeout: float = DEFAULT_STEP_TIMEOUT) -> str:
        """Run a guest command that must succeed; return its stdout."""
        res = self.sh(command, timeout)
        if res.exit_code != 0:
            raise StepFailed(
                f"`{command}` exited with status {res.exit_code}: "
                f"{res.stderr.decode(errors='replace').strip()[-400:]}"
            )
        return res.stdout.decode(errors="replace")

    def json(self, command: str, timeout: float = DEFAULT_STEP_TIMEOUT) -> dict[str, Any]:
        """Run a guest program that prints one JSON object: its last line that is one, or
        everything from the first line starting with '{' (a pretty-printed object)."""
        return parse_json_object(command, self.must(command, timeout))

    def put(self, path: str, data: bytes) -> None:
        """Write `data` to the guest file `path` (through the command's stdin)."""
        res = self.guest.run(f"cat > {shlex.quote(path)}", DEFAULT_STEP_TIMEOUT, stdin=data)
        if res.exit_code != 0:
            raise StepFailed(f"cannot write {path} in the guest (status {res.exit_code})")

    def read(self, path: str) -> str:
        return self.must(f"cat {shlex.quote(path)}").strip()

    def read_int(self, path: str) -> int:
        text = self.read(path)
        try:
            return int(text, 0)
        except ValueError:
            raise StepFailed(f"{path} does not hold an integer: {text[:80]!r}") from None

    def dmesg(self) -> str:
        return self.must("dmesg")

    # -- QMP -----------------------------------------------------------------------------
    def qmp(self, command: str, **arguments: Any) -> Any:
        try:
            return self.guest.qmp.command_timeout(command, 10.0, **arguments)
        except QMPError as exc:
            raise StepFailed(f"QMP {command} {arguments}: {exc}") from None

    def qom_get(self, path: str, prop: str) -> Any:
        return self.qmp("qom-get", path=path, property=prop)

    def qom_set(self, path: str, prop: str, value: Any) -> None:
        self.qmp("qom-set", path=path, property=prop, value=value)

    # -- checks --------------------------------------------------------------------------
    def check(self, name: str, ok: bool, observed: Any, expected: Any) -> bool:
        self.checks.append(Check(name, bool(ok), shown(observed), shown(expected)))
        return bool(ok)

    def expect_eq(self, name: str, observed: Any, expected: Any) -> bool:
        return self.check(name, observed == expected, observed, expected)

    def expect_in(self, name: str, needle: str, haystack: str, where: str) -> bool:
        found = needle in haystack
        return self.check(name, found, "present" if found else f"absent from {where}", needle)

    def expect_absent(self, name: str, needle: str, haystack: str) -> bool:
        """The twin of expect_in: `needle` (an error message, say) must not occur."""
        absent = needle not in haystack
        return self.check(name, absent, "absent" if absent else "present", "absent")

    def expect_range(self, name: str, observed: float, low: float, high: float) -> bool:
        return self.check(name, low <= observed <= high, observed, f"{low} .. {high}")

    def measure(self, key: str, value: Any) -> None:
        self.measurements[key] = value

    def skip(self, reason: str) -> None:
        raise ScenarioSkip(reason)


@dataclass
class ScenarioOutcome:
    scenario: str
    verdict: str
    reason: str
    checks: list[Check] = field(default_factory=list)
    result: RunResult | None = None
    seconds: float = 0.0

    @property
    def result_dir(self) -> str | None:
        return self.result.result_dir if self.result else None


def run_scenario(
    sc: Scenario,
    *,
    accel: str = "auto",
    kernel: Path | None = None,
    kernel_tree: Path | None = None,
    series: str = paths.DEFAULT_SERIES,
    initrd: Path | None = None,
    extra_qemu_args: Iterable[str] = (),
    append: str = "",
    results: Path | None = None,
    result_dir: Path | None = None,
    boot_timeout: float | None = None,
    echo_console: bool = False,
    issues: Sequence[KnownIssue] | None = None,
) -> ScenarioOutcome:
    """Boot, run the scenario body, judge. Bad input (missing artifacts, wrong kernel, a
    malformed known-issue file...) raises FaultlabError before anything is booted; everything
    else ends in an outcome. `issues`: the known-issue file's entries (default: loaded)."""
    platform = get_platform(sc.platform)
    own_kernel = kernel is not None or kernel_tree is not None
    # The bench's kernel of the scenario's variant; a user's kernel must carry what the
    # variant adds itself (the scenario's needs say what).
    guest_kernel = resolve_guest_kernel(
        platform, kernel, kernel_tree, series, None if own_kernel else sc.kernel_variant
    )
    lacking = missing_needs(sc, guest_kernel, guest_kernel.config)
    if lacking:
        raise NotRunError(sc.name, lacking)
    if issues is None:
        issues = known_issues.load(scenarios={*load_scenarios(), sc.name})
    applicable = known_issues.for_run(issues, sc.name, guest_kernel.series, guest_kernel.release)
    options = BootOptions(
        platform=platform,
        guest_kernel=guest_kernel,
        initrd=initrd,
        append=" ".join(filter(None, [sc.append, append])),
        accel=accel,
        boot_timeout=boot_timeout,
        results=results,
        result_dir=result_dir,
        scenario=sc.name,
        extra_qemu_args=(*sc.qemu_args, *extra_qemu_args),
        echo_console=echo_console,
        known_issues=applicable,
    )
    session = BootSession(options)
    started = time.monotonic()
    ctx: ScenarioContext | None = None
    try:
        with session as guest:
            ctx = ScenarioContext(guest, sc)
            guest.result.command = f"scenario {sc.name}"
            try:
                verdict = _needs_in_guest(ctx, guest_kernel) or _run_body(ctx)
            finally:  # before the session writes result.json, whatever the body did
                guest.result.extra["checks"] = [c.as_dict() for c in ctx.checks]
                guest.result.extra["measurements"] = ctx.measurements
            guest.set_outcome(verdict, ctx.checks)
    except GuestFailure:
        pass
    except FaultlabError:
        if session.result is None:  # rejected before anything was started: bad input
            raise
    result = session.result
    assert result is not None  # __enter__ raised before creating it otherwise
    if ctx is not None and "checks" not in result.extra:  # the guest failed mid-scenario
        result.extra["checks"] = [c.as_dict() for c in ctx.checks]
        result.extra["measurements"] = ctx.measurements
    return ScenarioOutcome(
        sc.name,
        result.verdict,
        result.reason,
        [*ctx.checks, *session.added_checks] if ctx else [],
        result,
        round(time.monotonic() - started, 3),
    )


def missing_needs(sc: Scenario, kernel: GuestKernel, config: Mapping[str, str] | None) -> list[str]:
    """What `kernel` lacks of what `sc` needs, one line each (empty: it may run). Options
    and patches are judged when the config is known; modules always (ours are built per
    kernel, so the kernel's list is exact)."""
    lines = missing(
        sc.all_needs,
        config,
        kernel.release,
        kernel.modules,
        platform=sc.platform,
        scenario=sc.name,
    )
    if kernel.modules_error and any(ln.startswith("module ") for ln in lines):
        lines.append(kernel.modules_error)
    return lines


def _needs_in_guest(ctx: ScenarioContext, kernel: GuestKernel) -> judge.Verdict | None:
    """Check the needs again against the running kernel's /proc/config.gz (the only
    config there is for an image whose embedded config could not be read): NOT RUN
    (verdict skip, failure "not_run") naming what is missing, else None."""
    res = ctx.sh("zcat /proc/config.gz")
    config = parse_config(res.stdout.decode(errors="replace")) if res.exit_code == 0 else {}
    if not config:  # no IKCONFIG_PROC (a real config is never empty)
        ctx.guest.result.extra["kernel_config"] = (
            "no /proc/config.gz: needs checked before boot only"
        )
        return None
    ctx.guest.result.extra["kernel_config"] = "checked in the guest (/proc/config.gz)"
    lacking = missing_needs(ctx.scenario, kernel, config)
    if not lacking:
        return None
    return judge.Verdict(
        "skip", "not_run", f"NOT RUN: {ctx.scenario.name} needs: " + "; ".join(lacking), None
    )


def _run_body(ctx: ScenarioContext) -> judge.Verdict:
    missing = [p for p in ctx.scenario.guest_files if ctx.sh(f"test -e {shlex.quote(p)}").exit_code]
    if missing:
        return judge.Verdict(
            "skip",
            "missing_guest_file",
            f"not in the guest image: {', '.join(missing)} (rebuild it: make images)",
            None,
        )
    try:
        ctx.scenario.body(ctx)
    except ScenarioSkip as exc:
        return judge.Verdict("skip", "scenario_skip", str(exc), None)
    except StepFailed as exc:
        ctx.check("scenario steps completed", False, str(exc), "every step succeeds")
    except (GuestFailure, FaultlabError):
        raise
    except Exception as exc:  # fail closed: a decoder's KeyError is no pass and no crash
        ctx.guest.result.extra["traceback"] = traceback.format_exc()
        ctx.check(BODY_RAISED, False, _raised(exc), "the body runs to its end")
    return conclude(ctx.checks)


BODY_RAISED = "scenario body raised"


def _raised(exc: BaseException) -> str:
    """The exception and where it was raised (the innermost frames), to fit in a check."""
    where = crash_site(exc)
    head = f"{type(exc).__name__}: {exc}"
    room = MAX_SHOWN - len(where) - len(" at ")
    if len(head) > room:
        head = head[: max(room - 3, 20)] + "..."
    return f"{head} at {where}"


def format_outcome(outcome: ScenarioOutcome, accel: str | None) -> str:
    """`NAME: VERDICT: reason (seconds, accel)`, the checks, then the known issues' reports
    and the intermittent ones that did not reproduce."""
    label = outcome.verdict.upper().replace("-", " ")  # KNOWN ISSUE
    lines = [
        f"{outcome.scenario}: {label}: {outcome.reason} "
        f"({outcome.seconds:.1f} s, {accel or 'no accel'})"
    ]
    for c in outcome.checks:
        mark = "ok  " if c.ok else "FAIL"
        lines.append(f"  {mark} {c.name}: observed {c.observed}; expected {c.expected}")
    known = outcome.result.known_issues if outcome.result else {}
    for match in known.get("matched", []):
        lines.append(f"  known issue {match['issue']}: {match['title']}")
    for ident in known.get("not_reproduced", []):
        lines.append(f"  note known issue {ident} {known_verdict.NOT_REPRODUCED}")
    return "\n".join(lines)
