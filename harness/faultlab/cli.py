"""The `faultlab` command line."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from faultlab import errors, paths, run_record, run_reports, versions
from faultlab.accel import ACCEL_CHOICES
from faultlab.artifacts import missing_artifacts
from faultlab.boot import DEFAULT_COMMAND_TIMEOUT, BootOptions, BootSession
from faultlab.errors import FaultlabError, GuestFailure, Terminated, UsageError
from faultlab.guest_kernel import check_series
from faultlab.platforms import PLATFORMS, get_platform
from faultlab.qemu_process import install_signal_handlers
from faultlab.result import RunResult, new_result_dir, results_parent

EPILOG = f"""\
exit codes:
  0    success (boot: the guest command exited 0 and the kernel log is clean)
  N    boot: the guest command's own exit status N (kernel log clean)
  {errors.EXIT_GUEST_FAILURE}    guest failure: kernel panic/oops/BUG/WARNING..., boot timeout, QEMU
       exited, ssh lost, command timeout, failed probe (verdict "fail")
  {errors.EXIT_BAD_INPUT}    bad input/configuration: unknown platform, missing build product
       (the message names the make target), wrong-architecture kernel, port in use,
       unusable --accel kvm, bad option
  {errors.EXIT_HARNESS_ERROR}    harness error: QEMU would not start, QMP failed (verdict "error")
  {errors.EXIT_KNOWN_ISSUE}    run: every check held and every kernel report is a known issue of
       the scenario (guest-kernel/known-issues.toml): verdict "known-issue", printed
       `NAME: KNOWN ISSUE: ID: SIGNATURE (UPSTREAM STATUS)`; a report that is no known
       issue, or a known issue that no longer reproduces, fails (2); boot and probe
       keep 2 for a known report and name the known issue in the message
  {errors.EXIT_INTERRUPTED}  interrupted by Ctrl-C
  {errors.EXIT_TERMINATED}  terminated by SIGTERM/SIGHUP
A guest command that itself exits 2, 3, 4 or 5 is indistinguishable by exit code alone; the
result.json written for every run says which it was ("failure": "command").

environment:
  FAULTLAB_CACHE    build products (default ~/.cache/faultlab)
  FAULTLAB_RESULTS  parent of result directories (default ./results)
  FAULTLAB_TRY_KVM  set to 1 to let --accel auto try KVM (x86_64 only; default: TCG)
  FAULTLAB_KNOWN_ISSUES  the known-issue file (default guest-kernel/known-issues.toml)
"""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage; 2 means guest failure here, so use 3."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(errors.EXIT_BAD_INPUT, f"faultlab: {message}\n")


def _add_series_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--series",
        default=paths.DEFAULT_SERIES,
        help=f"kernel series of the bench's own kernels (default {paths.DEFAULT_SERIES}; "
        "the series images/lock.json pins, e.g. 7.3)",
    )


def _add_boot_options(p: argparse.ArgumentParser, single_platform: bool = True) -> None:
    _add_series_option(p)
    p.add_argument(
        "--kernel-tree",
        type=Path,
        metavar="DIR",
        help="a built kernel tree (yours): boot its image, check its .config against what "
        "scenarios need, build faultlab's modules against it",
    )
    if single_platform:
        p.add_argument("--kernel", type=Path, help="kernel to boot (default: the built one)")
        p.add_argument("--initrd", type=Path, help="initramfs (default: the built one)")
        p.add_argument("--append", default="", help="added to the platform's kernel command line")
        p.add_argument("--ssh-port", type=int, help="host port forwarded to guest port 22")
    p.add_argument(
        "--accel",
        default="auto",
        choices=ACCEL_CHOICES,
        help="accelerator (default auto = TCG unless FAULTLAB_TRY_KVM=1)",
    )
    p.add_argument(
        "--timeout", type=float, help="boot-to-SSH timeout in seconds (default: per platform)"
    )
    p.add_argument("--results", type=Path, help="parent directory for result directories")
    p.add_argument(
        "--qemu-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra QEMU argument (repeatable)",
    )
    p.add_argument("--console", action="store_true", help="copy the guest console to stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="faultlab",
        description="Boot QEMU guests and run commands in them over SSH.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    versions.add_option(parser)
    sub = parser.add_subparsers(
        dest="subcommand", required=True, metavar="COMMAND", parser_class=_Parser
    )
    names = ", ".join(PLATFORMS)

    boot = sub.add_parser(
        "boot",
        help="boot a platform and run a command (default: uname -a)",
        usage="faultlab boot PLATFORM [options] [-- CMD...]",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    boot.add_argument("platform", help=f"one of: {names}")
    _add_boot_options(boot)
    boot.add_argument(
        "--cmd-timeout",
        type=float,
        default=DEFAULT_COMMAND_TIMEOUT,
        help=f"guest command timeout in seconds (default {DEFAULT_COMMAND_TIMEOUT:.0f})",
    )
    boot.set_defaults(func=cmd_boot)

    shell = sub.add_parser("shell", help="interactive shell in a freshly booted guest")
    shell.add_argument("platform", help=f"one of: {names}")
    _add_boot_options(shell)
    shell.set_defaults(func=cmd_shell)

    plats = sub.add_parser("platforms", help="list platforms and whether their artifacts exist")
    plats.set_defaults(func=cmd_platforms)

    probe = sub.add_parser("probe", help="boot platforms and check each is what it claims")
    probe.add_argument("platforms", nargs="*", help=f"default: all ({names})")
    _add_boot_options(probe, single_platform=False)
    probe.set_defaults(func=cmd_probe)

    run = sub.add_parser(
        "run",
        help="run fault scenarios and print their checks (e.g. faultlab run smmu/stall-retry)",
        usage="faultlab run SCENARIO|GROUP... [options]",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("scenarios", nargs="+", help="scenario names or groups (faultlab scenarios)")
    _add_boot_options(run)
    run_reports.add_options(run)
    run.set_defaults(func=cmd_run)

    scen = sub.add_parser("scenarios", help="list the fault scenarios")
    scen.set_defaults(func=cmd_scenarios)

    bench = sub.add_parser("bench", help="boot-to-SSH timing (and virtme-ng comparison)")
    bench.add_argument("platforms", nargs="*", help=f"default: all ({names})")
    bench.add_argument("--runs", type=int, default=5)
    bench.add_argument("--json", type=Path, help="also write the report here")
    bench.add_argument("--results", type=Path, help="parent directory for result directories")
    bench.add_argument("--accel", default="tcg", choices=ACCEL_CHOICES)
    _add_series_option(bench)
    bench.add_argument(
        "--rates",
        action="store_true",
        help="also run the fault-rate scenarios of these platforms (faults/s, NX MB/s)",
    )
    bench.set_defaults(func=cmd_bench)
    _add_kernel_commands(sub, names)
    return parser


def _add_kernel_commands(sub: Any, names: str) -> None:
    """`faultlab kconfig` and `faultlab patches`: what a user's own kernel tree must carry."""
    kconfig = sub.add_parser(
        "kconfig",
        help="print the kernel config fragment a platform and its scenarios need",
        usage="faultlab kconfig PLATFORM [SCENARIO|GROUP...] [--series S]",
    )
    kconfig.add_argument("platform", help=f"one of: {names}")
    kconfig.add_argument(
        "scenarios", nargs="*", help="scenarios or groups (default: every scenario of PLATFORM)"
    )
    kconfig.add_argument("--series", default=None, help="kernel series (default 6.12)")
    kconfig.set_defaults(func=cmd_kconfig)

    patches = sub.add_parser(
        "patches",
        help="list the test-only kernel patches a platform's kernels carry",
        usage="faultlab patches PLATFORM [--series S] [--print]",
    )
    patches.add_argument("platform", help=f"one of: {names}")
    patches.add_argument("--series", default=None, help="kernel series (default 6.12)")
    patches.add_argument(
        "--print", action="store_true", help="write the patches themselves (for patch -p1)"
    )
    patches.set_defaults(func=cmd_patches)


# -- helpers -----------------------------------------------------------------------------
def command_string(words: list[str] | None) -> str | None:
    """`-- CMD...`: one word is passed to the guest shell as is, several are shell-quoted."""
    if not words:
        return None
    return words[0] if len(words) == 1 else shlex.join(words)


def _writer(stream: Any) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        stream.write(data)
        stream.flush()

    return write


def _options(args: argparse.Namespace, platform_name: str, **extra: Any) -> BootOptions:
    return BootOptions(
        platform=get_platform(platform_name),
        kernel=getattr(args, "kernel", None),
        kernel_tree=getattr(args, "kernel_tree", None),
        series=check_series(args.series),
        initrd=getattr(args, "initrd", None),
        append=getattr(args, "append", "") or "",
        accel=args.accel,
        boot_timeout=args.timeout,
        ssh_port=getattr(args, "ssh_port", None),
        results=args.results,
        extra_qemu_args=tuple(args.qemu_arg),
        echo_console=args.console,
        **extra,
    )


def exit_code_for(result: RunResult) -> int:
    if result.verdict == "pass":
        return errors.EXIT_OK
    if result.verdict == "fail":
        if result.failure == "command" and result.exit_code is not None:
            return result.exit_code if 0 < result.exit_code < 256 else errors.EXIT_GUEST_FAILURE
        return errors.EXIT_GUEST_FAILURE
    if result.verdict == "skip":
        return errors.EXIT_BAD_INPUT
    if result.verdict == "known-issue":
        return errors.EXIT_KNOWN_ISSUE
    if result.failure == "interrupted":
        return errors.EXIT_INTERRUPTED
    return errors.EXIT_HARNESS_ERROR


def _report(session: BootSession) -> int:
    result = session.result
    if result is None:
        return errors.EXIT_HARNESS_ERROR
    if result.verdict != "pass" and result.failure != "command":
        print(f"faultlab: {result.verdict.upper()}: {result.reason}", file=sys.stderr)
        if result.excerpt:
            print("----- console excerpt -----", file=sys.stderr)
            print(result.excerpt, file=sys.stderr)
            print("---------------------------", file=sys.stderr)
    if result.accel_fallback:
        print(
            f"faultlab: note: ran under TCG after KVM failed: {result.accel_fallback}",
            file=sys.stderr,
        )
    print(f"faultlab: results in {session.result_dir}", file=sys.stderr)
    return exit_code_for(result)


def _run_session(session: BootSession, body: Callable[[Any], None]) -> int:
    try:
        with session as guest:
            body(guest)
    except GuestFailure:
        pass
    except FaultlabError as exc:
        print(f"faultlab: {exc}", file=sys.stderr)
        if session.result_dir is not None:
            print(f"faultlab: results in {session.result_dir}", file=sys.stderr)
        return exc.exit_code
    except BaseException:
        if session.result_dir is not None:
            print(f"faultlab: results in {session.result_dir}", file=sys.stderr)
        raise
    return _report(session)


# -- subcommands ---------------------------------------------------------------------------
def cmd_boot(args: argparse.Namespace, tail: list[str] | None) -> int:
    command = command_string(tail) or "uname -a"
    session = BootSession(_options(args, args.platform))

    def body(guest: Any) -> None:
        guest.run(
            command,
            args.cmd_timeout,
            on_stdout=_writer(sys.stdout.buffer),
            on_stderr=_writer(sys.stderr.buffer),
        )

    return _run_session(session, body)


def cmd_shell(args: argparse.Namespace, tail: list[str] | None) -> int:
    if tail:
        raise UsageError("faultlab shell takes no command; use faultlab boot PLATFORM -- CMD")
    session = BootSession(_options(args, args.platform, scenario=f"shell-{args.platform}"))
    status: list[int] = []

    def body(guest: Any) -> None:
        guest.result.command = "(interactive shell)"
        status.append(guest.shell())

    code = _run_session(session, body)
    if code == errors.EXIT_OK and status and 0 < status[0] < 256:
        return status[0]
    return code


def cmd_platforms(args: argparse.Namespace, tail: list[str] | None) -> int:
    if tail:
        raise UsageError("faultlab platforms takes no command")
    for platform in PLATFORMS.values():
        missing = missing_artifacts(platform)
        state = "ready" if not missing else f"missing {len(missing)} artifact(s)"
        print(f"{platform.name:<15} {platform.kernel_arch:<8} {platform.qemu_binary:<20} {state}")
        for message in missing:
            print(f"    {message}")
    return errors.EXIT_OK


def cmd_probe(args: argparse.Namespace, tail: list[str] | None) -> int:
    from faultlab.probes import probe_platform

    if tail:
        raise UsageError("faultlab probe takes no command")
    names = args.platforms or list(PLATFORMS)
    for name in names:
        get_platform(name)
    parent = new_result_dir(results_parent(args.results), "probe")
    rows = []
    for name in names:
        opts = _options(args, name, result_dir=parent / name, scenario=f"probe-{name}")
        row = probe_platform(opts)
        rows.append(row)
        print(f"faultlab: probe {name}: {row['verdict']}: {row['detail']}", file=sys.stderr)
    (parent / "probe.json").write_text(json.dumps(rows, indent=2) + "\n")
    header = ("platform", "verdict", "accel", "boot-to-SSH s", "probe detail")
    table = [header] + [
        (
            r["platform"],
            r["verdict"],
            r["accel"] or "-",
            "-" if r["boot_s"] is None else f"{r['boot_s']:.1f}",
            r["detail"],
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(4)]
    for row in table:
        print(
            "  ".join(str(c).ljust(w) for c, w in zip(row[:4], widths, strict=True))
            + "  "
            + str(row[4])
        )
    print(f"faultlab: results in {parent}", file=sys.stderr)
    verdicts = {r["verdict"] for r in rows}
    if verdicts == {"pass"}:
        return errors.EXIT_OK
    if "fail" in verdicts:
        return errors.EXIT_GUEST_FAILURE
    if "error" in verdicts:
        return errors.EXIT_HARNESS_ERROR
    return errors.EXIT_BAD_INPUT  # skipped: missing artifacts


def cmd_scenarios(args: argparse.Namespace, tail: list[str] | None) -> int:
    from faultlab.scenario import load_scenarios

    if tail:
        raise UsageError("faultlab scenarios takes no command")
    for sc in load_scenarios().values():
        print(f"{sc.name:<28} {sc.platform:<15} {sc.summary}")
    return errors.EXIT_OK


def cmd_run(args: argparse.Namespace, tail: list[str] | None) -> int:
    from faultlab import known_issues
    from faultlab.scenario import format_outcome, load_scenarios, run_scenario, select

    if tail:
        raise UsageError("faultlab run takes no command; scenarios run their own")
    chosen = select(args.scenarios)
    platforms = sorted({sc.platform for sc in chosen})
    arches = sorted({get_platform(p).kernel_arch for p in platforms})
    if len(arches) > 1 and (args.kernel or args.initrd or args.kernel_tree):
        raise UsageError(
            f"--kernel/--kernel-tree/--initrd given for several architectures: {', '.join(arches)}"
        )
    series = check_series(args.series)
    issues = known_issues.load(scenarios=load_scenarios())  # a malformed file: exit 3, once
    codes: list[int] = []
    records: list[run_record.ScenarioRecord] = []  # for the KTAP and KCIDB reports
    for sc in chosen:
        started = time.time()
        try:
            outcome = run_scenario(
                sc,
                accel=args.accel,
                kernel=args.kernel,
                kernel_tree=args.kernel_tree,
                series=series,
                initrd=args.initrd,
                extra_qemu_args=args.qemu_arg,
                append=args.append,
                results=args.results,
                boot_timeout=args.timeout,
                echo_console=args.console,
                issues=issues,
            )
        except FaultlabError as exc:  # bad input for this scenario: nothing was booted
            print(f"{sc.name}: NOT RUN: {exc}")
            codes.append(exc.exit_code)
            records.append(run_record.not_run(sc, exc, started))
            continue
        except Exception as exc:  # a harness bug: say so, go on with the next scenario
            print(
                f"{sc.name}: ERROR: internal error: {type(exc).__name__}: {exc} "
                f"(at {errors.crash_site(exc)})",
                flush=True,
            )
            codes.append(errors.EXIT_HARNESS_ERROR)
            records.append(run_record.internal_error(sc, exc, started))
            continue
        records.append(run_record.from_outcome(sc, outcome, started))
        result = outcome.result
        print(format_outcome(outcome, result.accel if result else None), flush=True)
        if result is not None and result.excerpt and outcome.verdict in ("fail", "error"):
            print("  ----- console excerpt -----")
            print("  " + result.excerpt.replace("\n", "\n  "))
        if outcome.result_dir:
            print(f"  results: {outcome.result_dir}", flush=True)
        codes.append(exit_code_for(result) if result is not None else errors.EXIT_HARNESS_ERROR)
    codes.extend(run_reports.write(records, args))  # a report that cannot be written: exit 4
    # The most serious outcome wins: a guest failure, then a harness error, then not run,
    # then a known issue.
    for code in (
        errors.EXIT_GUEST_FAILURE,
        errors.EXIT_HARNESS_ERROR,
        errors.EXIT_BAD_INPUT,
        errors.EXIT_KNOWN_ISSUE,
    ):
        if code in codes:
            return code
    return next((c for c in codes if c != errors.EXIT_OK), errors.EXIT_OK)


def cmd_bench(args: argparse.Namespace, tail: list[str] | None) -> int:
    from faultlab.bench import format_table, run_bench

    if tail:
        raise UsageError("faultlab bench takes no command")
    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    names = args.platforms or list(PLATFORMS)
    report, parent = run_bench(
        names,
        args.runs,
        results=args.results,
        json_path=args.json,
        accel=args.accel,
        rates=args.rates,
        series=check_series(args.series),
    )
    print(format_table(report))
    print(f"faultlab: results in {parent}", file=sys.stderr)
    ok = all(
        "unavailable" not in data and not data["failures"]
        for data in [*report["platforms"].values(), *report.get("fault_rates", {}).values()]
    )
    return errors.EXIT_OK if ok else errors.EXIT_GUEST_FAILURE


def cmd_kconfig(args: argparse.Namespace, tail: list[str] | None) -> int:
    from faultlab import kconfig
    from faultlab.scenario import Scenario, load_scenarios, select

    if tail:
        raise UsageError("faultlab kconfig takes no command")
    platform = get_platform(args.platform)
    series = kconfig.require_series(args.series or kconfig.DEFAULT_SERIES)
    if args.scenarios:
        chosen = select(args.scenarios)
        for sc in chosen:
            if sc.platform != platform.name:
                raise UsageError(f"scenario {sc.name} runs on {sc.platform}, not {platform.name}")
        left_out: list[Scenario] = []
    else:
        mine = [sc for sc in load_scenarios().values() if sc.platform == platform.name]
        chosen = [sc for sc in mine if sc.needs.variant is None]
        left_out = [sc for sc in mine if sc.needs.variant is not None]
    sys.stdout.write(kconfig.kconfig_fragment(platform, chosen, series, left_out))
    return errors.EXIT_OK


def cmd_patches(args: argparse.Namespace, tail: list[str] | None) -> int:
    from faultlab import kconfig
    from faultlab.scenario import load_scenarios

    if tail:
        raise UsageError("faultlab patches takes no command")
    platform = get_platform(args.platform)
    series = kconfig.require_series(args.series or kconfig.DEFAULT_SERIES)
    mine = [sc for sc in load_scenarios().values() if sc.platform == platform.name]
    if not args.print:
        sys.stdout.write(kconfig.patch_report(platform, series, mine))
        return errors.EXIT_OK
    sys.stdout.write(kconfig.patch_texts(platform, series))
    for marker, (users, have) in kconfig.unavailable(platform.kernel_arch, series, mine).items():
        print(
            f"faultlab: note: no CONFIG_{marker} patch for {series} yet (exists for "
            f"{', '.join(have) or 'no series'}); needed by {', '.join(users)}",
            file=sys.stderr,
        )
    return errors.EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    tail: list[str] | None = None
    if "--" in args_list:
        split = args_list.index("--")
        args_list, tail = args_list[:split], args_list[split + 1 :]
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else errors.EXIT_BAD_INPUT
    install_signal_handlers()
    try:
        return int(args.func(args, tail))
    except FaultlabError as exc:
        print(f"faultlab: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated as exc:
        print(f"faultlab: {exc}", file=sys.stderr)
        return errors.EXIT_TERMINATED
    except KeyboardInterrupt:
        print("faultlab: interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    except BrokenPipeError:
        return errors.EXIT_HARNESS_ERROR
    except Exception as exc:  # a harness bug: a documented code and one line, no traceback
        print(
            f"faultlab: internal error: {type(exc).__name__}: {exc} (at {errors.crash_site(exc)})",
            file=sys.stderr,
        )
        return errors.EXIT_HARNESS_ERROR


if __name__ == "__main__":
    sys.exit(main())
