"""BootSession: validate -> build argv -> start QEMU -> wait for SSH -> run -> judge -> result.

    session = BootSession(BootOptions(get_platform("x86_64")))
    try:
        with session as guest:
            guest.run("uname -a")
    except GuestFailure:
        ...
    print(session.result.verdict, session.result_dir)

Bad input (missing artifacts, wrong kernel, port in use, unusable --accel kvm) raises a
FaultlabError from __enter__ before anything is started or written. A guest failure during boot
(panic/oops seen on the console, QEMU exit, no SSH before the timeout) raises GuestFailure from
__enter__ after the result is written; a failure during `run()` (ssh lost, command timeout,
fatal kernel report) raises GuestFailure from `run()` and __exit__ writes the result. Kernel
reports that appear while a command runs fail the run even if the command exits 0, unless they
are known issues of a scenario run (`BootOptions.known_issues`; known_verdict.py decides).
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

from faultlab import judge, known_issues, known_verdict, paths
from faultlab.accel import AccelChoice, choose_accel, kvm_failure_in
from faultlab.artifacts import BootArtifacts, resolve_artifacts
from faultlab.checks import Check, conclude
from faultlab.console import READY_LINE, Console, ConsoleEOF, stderr_echo
from faultlab.errors import (
    FaultlabError,
    GuestFailure,
    HarnessError,
    PortInUseError,
    Terminated,
)
from faultlab.guest_kernel import GuestKernel, resolve_guest_kernel
from faultlab.known_issues import KnownIssue
from faultlab.machine_args import RunPaths, build_argv
from faultlab.platforms import Platform
from faultlab.qemu_process import QemuProcess, check_port_available, pick_free_port
from faultlab.qmp import QMP, QMPError
from faultlab.result import (
    RunResult,
    collect_versions,
    new_result_dir,
    results_parent,
    utc_now,
    write_result,
)
from faultlab.ssh import Abort, CommandResult, CommandTimeout, GuestSSH, SshLost, SshUnavailable
from faultlab.ssh import load_key as load_ssh_key

DEFAULT_COMMAND_TIMEOUT = 600.0
FATAL_GRACE_SECONDS = 5.0  # keep reading after a fatal report so its excerpt is complete
STATUS_POLL_SECONDS = 2.0  # how often QMP query-status is asked while waiting
# VM run states (QMP query-status) from which the guest will not come back by itself.
_DEAD_STATES = frozenset({"internal-error", "guest-panicked", "shutdown", "io-error"})
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes
# QEMU's messages when a BIOS / option ROM file is not found in its data directories.
_MISSING_FIRMWARE = re.compile(
    r"(?:could not load PC BIOS|failed to find romfile|Could not find option rom"
    r"|Could not find LPAR firmware|Could not load \S+ firmware|Could not find firmware)"
    r"\s*['\"]?([^'\"\s]+)",
    re.IGNORECASE,
)


def _notify_stderr(message: str) -> None:
    print(f"faultlab: {message}", file=sys.stderr, flush=True)


@dataclass
class BootOptions:
    platform: Platform
    kernel: Path | None = None  # --kernel IMAGE
    initrd: Path | None = None
    kernel_tree: Path | None = None  # --kernel-tree DIR
    series: str = paths.DEFAULT_SERIES  # of the bench's kernel (no --kernel/--kernel-tree)
    variant: str | None = None  # of the bench's kernel
    guest_kernel: GuestKernel | None = None  # already resolved (a scenario checked its needs)
    append: str = ""
    accel: str = "auto"
    boot_timeout: float | None = None  # default: platform.boot_timeout
    ssh_port: int | None = None  # default: a free port
    results: Path | None = None  # parent of the result directory
    result_dir: Path | None = None  # exact result directory (created), overrides `results`
    scenario: str | None = None  # label for the result directory and result.json
    extra_qemu_args: tuple[str, ...] = ()
    echo_console: bool = False  # copy the guest console to stderr as it arrives
    fetch_dmesg: bool = True
    notify: Callable[[str], None] = _notify_stderr
    # A scenario run's known issues (its entries for this kernel, known_issues.for_run): a
    # report they match neither stops nor fails the run (known_verdict.py decides). None: a
    # plain boot, shell or probe; the known-issue file's entries for the kernel then only
    # name a report they match in the failure.
    known_issues: tuple[KnownIssue, ...] | None = None


class _KvmFailed(Exception):
    pass


class _PortClash(Exception):
    pass


class Guest:
    """What a BootSession yields: a booted guest reachable over SSH."""

    def __init__(self, session: BootSession) -> None:
        self._session = session

    @property
    def qmp(self) -> QMP:
        assert self._session.qmp is not None
        return self._session.qmp

    @property
    def console(self) -> Console:
        assert self._session.console is not None
        return self._session.console

    @property
    def ssh(self) -> GuestSSH:
        assert self._session.ssh is not None
        return self._session.ssh

    @property
    def result(self) -> RunResult:
        assert self._session.result is not None
        return self._session.result

    @property
    def result_dir(self) -> Path:
        assert self._session.result_dir is not None
        return self._session.result_dir

    def run(
        self,
        command: str,
        timeout: float = DEFAULT_COMMAND_TIMEOUT,
        *,
        on_stdout: Callable[[bytes], None] | None = None,
        on_stderr: Callable[[bytes], None] | None = None,
        stdin: bytes | None = None,
    ) -> CommandResult:
        return self._session.run_command(command, timeout, on_stdout, on_stderr, stdin)

    def mark_failed(self, failure: str, reason: str, excerpt: str | None = None) -> None:
        """Fail the run at the end (e.g. a probe's check did not hold)."""
        self.set_outcome(judge.Verdict("fail", failure, reason, excerpt))

    def set_outcome(self, verdict: judge.Verdict, checks: Sequence[Check] | None = None) -> None:
        """Decide the run's verdict at the end (e.g. from a scenario's checks) instead of
        from the commands' exit codes; kernel reports on the console still win. `checks`:
        the checks `verdict` concludes, to which known issues add theirs."""
        self._session.marked = verdict
        self._session.marked_checks = list(checks) if checks is not None else None

    def shell(self) -> int:
        return self.ssh.interactive_shell()


class BootSession:
    def __init__(self, options: BootOptions) -> None:
        self.options = options
        self.result: RunResult | None = None
        self.result_dir: Path | None = None
        self.artifacts: BootArtifacts | None = None
        self.proc: QemuProcess | None = None
        self.console: Console | None = None
        self.qmp: QMP | None = None
        self.ssh: GuestSSH | None = None
        self.marked: judge.Verdict | None = None
        self.marked_checks: list[Check] | None = None
        self.known: tuple[KnownIssue, ...] = ()  # the entries the run is judged against
        self.triage: known_verdict.Triage | None = None  # its reports, once final
        self.added_checks: list[Check] = []  # the known issues' checks (scenario runs)
        self._sock_dir: Path | None = None
        self._own_sock_dir = False
        self._t0 = 0.0
        self._fatal_seen_at: float | None = None
        self._last_status_check = 0.0
        self._stopped_reason: str | None = None
        self._dmesg_text = ""

    # -- entry ---------------------------------------------------------------------------
    def __enter__(self) -> Guest:
        self._t0 = time.monotonic()
        opts = self.options
        platform = opts.platform
        # Bad input: raise before anything is started or written.
        guest_kernel = opts.guest_kernel or resolve_guest_kernel(
            platform, opts.kernel, opts.kernel_tree, opts.series, opts.variant
        )
        artifacts = resolve_artifacts(platform, initrd=opts.initrd, guest_kernel=guest_kernel)
        if opts.known_issues is not None:
            self.known = opts.known_issues
        else:
            self.known = known_issues.for_kernel(
                known_issues.load(), guest_kernel.series, guest_kernel.release
            )
        choice = choose_accel(opts.accel, platform)
        key = load_ssh_key(artifacts.ssh_key)
        if opts.ssh_port is not None:
            check_port_available(opts.ssh_port)
        self.artifacts = artifacts

        label = opts.scenario or platform.name
        if opts.result_dir is not None:
            opts.result_dir.mkdir(parents=True, exist_ok=True)
            self.result_dir = opts.result_dir.resolve()
        else:
            self.result_dir = new_result_dir(results_parent(opts.results), label)
        self.result = RunResult(
            platform=platform.name,
            scenario=opts.scenario,
            accel_reason=choice.reason,
            kernel=artifacts.kernel_info.as_dict(),
            initrd=str(artifacts.initrd),
            qemu=str(artifacts.qemu),
            versions=collect_versions(
                platform.kernel_arch,
                artifacts.kernel_is_default,
                artifacts.initrd_is_default,
                artifacts.kernel,
                guest_kernel,
            ),
            started_utc=utc_now(),
        )
        write_result(self.result, self.result_dir)  # a partial result survives a SIGKILL
        try:
            self._boot(artifacts, choice, key)
        except BaseException as exc:
            self._finish(exc)
            raise
        return Guest(self)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish(exc)

    # -- boot ----------------------------------------------------------------------------------
    def _boot(self, artifacts: BootArtifacts, choice: AccelChoice, key: Any) -> None:
        assert self.result is not None
        accel = choice.accel
        clashes = 0
        while True:
            port = self.options.ssh_port or pick_free_port()
            fallback = accel == "kvm" and choice.fallback_to_tcg
            try:
                self._attempt(artifacts, accel, port, key, fallback)
                return
            except _KvmFailed as exc:
                self._teardown(logs="kvm")
                self.result.accel_fallback = str(exc)
                self.options.notify(f"KVM failed ({exc}); restarting with TCG")
                accel = "tcg"
            except _PortClash:
                self._teardown(logs="drop")
                if self.options.ssh_port is not None:
                    raise PortInUseError(
                        f"--ssh-port {port}: QEMU could not listen on 127.0.0.1:{port}"
                    ) from None
                clashes += 1
                if clashes >= 3:
                    raise HarnessError("QEMU could not bind a forwarding port 3 times") from None

    def _socket_dir(self) -> Path:
        if self._sock_dir is None:
            assert self.result_dir is not None
            if len(str(self.result_dir / "console.sock")) <= _SOCKET_PATH_MAX:
                self._sock_dir = self.result_dir
            else:
                self._sock_dir = Path(tempfile.mkdtemp(prefix="faultlab-"))
                self._own_sock_dir = True
        return self._sock_dir

    def _attempt(
        self, artifacts: BootArtifacts, accel: str, port: int, key: Any, kvm_fallback: bool
    ) -> None:
        assert self.result is not None and self.result_dir is not None
        opts = self.options
        rd = self.result_dir
        self._stopped_reason, self._last_status_check = None, 0.0  # per attempt
        sock_dir = self._socket_dir()
        run_paths = RunPaths(sock_dir / "console.sock", sock_dir / "qmp.sock", rd / "qemu.log")
        for sock in (run_paths.console_sock, run_paths.qmp_sock):
            sock.unlink(missing_ok=True)
        argv = build_argv(
            opts.platform,
            qemu=artifacts.qemu,
            kernel=artifacts.kernel,
            initrd=artifacts.initrd,
            firmware=artifacts.firmware,
            ssh_port=port,
            accel=accel,
            run_paths=run_paths,
            extra_append=opts.append,
            extra_args=opts.extra_qemu_args,
            data_dirs=artifacts.data_dirs,
        )
        self.result.qemu_argv = argv
        self.result.accel = accel
        self.result.ssh_port = port
        (rd / "qemu-cmdline.txt").write_text(shlex.join(argv) + "\n")
        write_result(self.result, rd)

        started = time.monotonic()
        self.proc = QemuProcess(argv, output_path=rd / "qemu-output.log").start()
        self.console = Console(
            rd / "console.log", echo=stderr_echo() if opts.echo_console else None
        )
        try:
            self.console.connect(run_paths.console_sock, alive=self.proc.alive, timeout=30.0)
        except ConsoleEOF:
            self._died_at_start(kvm_fallback)
        self.qmp = QMP(f"{opts.platform.name}")
        try:
            self.qmp.connect(run_paths.qmp_sock, timeout=15.0, alive=self.proc.alive)
        except QMPError:
            if not self.proc.alive():
                self._died_at_start(kvm_fallback)
            raise
        self.result.timings["qemu_start"] = round(time.monotonic() - started, 3)

        timeout = opts.boot_timeout or opts.platform.boot_timeout
        self.ssh = GuestSSH(port, key)
        console = self.console
        try:
            self.ssh.wait(
                started + timeout,
                poll=lambda: self._boot_poll(kvm_fallback),
                ready=lambda: READY_LINE in console.text(),
            )
        except SshUnavailable as exc:
            self._boot_poll(kvm_fallback)  # a more specific cause wins
            if "rejects the key" in str(exc):
                self._fail(
                    judge.Verdict(
                        "fail",
                        "ssh_auth",
                        f"SSH is up but {exc}",
                        judge.console_tail(console.text()),
                    )
                )
            verdict = judge.boot_timeout_verdict(console.text(), timeout)
            said_ready = READY_LINE in console.text()
            detail = f"the guest printed {READY_LINE!r}; " if said_ready else ""
            self._fail(
                judge.Verdict(
                    verdict.verdict,
                    verdict.failure,
                    f"{verdict.reason} ({detail}last SSH error: {exc})",
                    verdict.excerpt,
                )
            )
        self.result.timings["ssh_ready"] = round(time.monotonic() - started, 3)

    def _died_at_start(self, kvm_fallback: bool) -> NoReturn:
        assert self.proc is not None
        self.proc.wait_exit(2.0)
        if self.console is not None:  # a guest that panicked within milliseconds
            self.console.wait_eof(1.0)
            verdict = judge.findings_verdict(judge.find_reports(self.console.text()))
            if verdict is not None:
                self._fail(verdict)
        output = self.proc.output_text()
        if "host forwarding" in output or "hostfwd" in output:
            raise _PortClash()
        last = next((ln for ln in reversed(output.splitlines()) if ln.strip()), "no output")
        missing = _MISSING_FIRMWARE.search(output)
        if missing:
            # Every file the platform needs was there (resolve_artifacts): a ROM that QEMU
            # itself cannot find means a broken QEMU build, a harness error, never a skip.
            searched = " ".join(str(d) for d in self.artifacts.data_dirs) if self.artifacts else ""
            raise HarnessError(
                f"QEMU cannot find firmware {missing.group(1)!r} (searched -L {searched or '-'} "
                f"and QEMU's defaults): the QEMU build is incomplete, rebuild it with `make qemu`"
            )
        if kvm_fallback:
            raise _KvmFailed(f"QEMU exited at start: {last.strip()}")
        raise HarnessError(
            f"QEMU exited at start with status {self.proc.returncode}: {last.strip()} "
            f"(see {self.result_dir}/qemu-output.log)"
        )

    def _fail(self, verdict: judge.Verdict) -> NoReturn:
        assert self.result is not None
        self.result.set_verdict(verdict.verdict, verdict.reason, verdict.failure, verdict.excerpt)
        raise GuestFailure(verdict.reason, self.result)

    def _unknown_reports(self, text: str) -> list[judge.Finding]:
        """The kernel reports in `text`, but for a scenario run's known issues."""
        findings = judge.find_reports(text)
        if self.options.known_issues is None:
            return findings
        return list(known_verdict.triage(findings, self.known).unknown)

    def _fail_on_findings(self) -> None:
        """If the console shows a fatal kernel report, wait for its end, then fail."""
        assert self.console is not None and self.proc is not None
        fatal = judge.fatal_findings(self._unknown_reports(self.console.text()))
        if not fatal:
            return
        grace_end = time.monotonic() + FATAL_GRACE_SECONDS
        while self.proc.alive() and time.monotonic() < grace_end:
            current = judge.fatal_findings(self._unknown_reports(self.console.text()))
            if (
                current
                and all(judge.report_complete(f) for f in current)
                and any(f.kind == "panic" for f in current)
            ):
                break
            time.sleep(0.2)
        if not self.proc.alive():
            self.console.wait_eof(2.0)
        verdict = judge.findings_verdict(self._unknown_reports(self.console.text()))
        assert verdict is not None
        self._fail(verdict)

    def _vm_stopped(self) -> str | None:
        """Why the VM stopped for good (QMP query-status, every few seconds), else None."""
        now = time.monotonic()
        if self.qmp is None or now - self._last_status_check < STATUS_POLL_SECONDS:
            return self._stopped_reason
        self._last_status_check = now
        try:
            reply = self.qmp.command_timeout("query-status", 2.0)
        except QMPError:
            return self._stopped_reason
        status = reply.get("status") if isinstance(reply, dict) else None
        paused_by_us = "-S" in self.options.extra_qemu_args
        if status in _DEAD_STATES or (status == "paused" and not paused_by_us):
            assert self.proc is not None
            output = [ln.strip() for ln in self.proc.output_text().splitlines() if ln.strip()]
            last = f": {output[-1]}" if output else ""
            self._stopped_reason = f"VM stopped (QMP status {status}){last}"
        return self._stopped_reason

    def _boot_poll(self, kvm_fallback: bool) -> None:
        assert self.console is not None and self.proc is not None
        self._fail_on_findings()
        if kvm_fallback:
            why = kvm_failure_in(self.proc.output_text())
            stopped = self._vm_stopped()
            if why is None and stopped and "internal-error" in stopped:
                why = stopped
            if why:
                raise _KvmFailed(why)
        stopped = self._vm_stopped()
        if stopped and self.proc.alive():
            self._fail(
                judge.Verdict(
                    "fail",
                    "vm_stopped",
                    f"{stopped} before SSH was ready",
                    judge.console_tail(self.console.text()),
                )
            )
        if not self.proc.alive():
            self.console.wait_eof(2.0)
            self._fail_on_findings()
            if kvm_fallback:
                raise _KvmFailed(f"QEMU exited with status {self.proc.returncode} during boot")
            self._fail(
                judge.qemu_exit_verdict(
                    self.console.text(), self.proc.returncode, "before SSH was ready"
                )
            )

    # -- commands ------------------------------------------------------------------------------
    def _command_poll(self) -> None:
        assert self.console is not None and self.proc is not None
        if not self.proc.alive():
            raise SshLost(f"QEMU exited with status {self.proc.returncode}")
        stopped = self._vm_stopped()
        if stopped:
            raise Abort(stopped)
        if self._fatal_seen_at is None:
            if judge.fatal_findings(self._unknown_reports(self.console.text())):
                self._fatal_seen_at = time.monotonic()
        elif time.monotonic() - self._fatal_seen_at > FATAL_GRACE_SECONDS:
            raise Abort("fatal kernel report on the console")

    def run_command(
        self,
        command: str,
        timeout: float,
        on_stdout: Callable[[bytes], None] | None,
        on_stderr: Callable[[bytes], None] | None,
        stdin: bytes | None = None,
    ) -> CommandResult:
        assert self.ssh is not None and self.result is not None and self.console is not None
        assert self.result_dir is not None
        result = self.result
        index = len(result.commands) + 1
        result.command = command
        try:
            res = self.ssh.run(
                command,
                timeout,
                on_stdout=on_stdout,
                on_stderr=on_stderr,
                poll=self._command_poll,
                stdin=stdin,
            )
        except (SshLost, Abort) as exc:
            if self.proc is not None and not self.proc.alive():
                self.console.wait_eof(2.0)
            self._fail_on_findings()
            if self._stopped_reason:
                self._fail(
                    judge.Verdict(
                        "fail",
                        "vm_stopped",
                        f"{self._stopped_reason} during `{command}`",
                        judge.console_tail(self.console.text()),
                    )
                )
            self._fail(
                judge.Verdict(
                    "fail",
                    "ssh_lost",
                    f"ssh lost during `{command}`: {exc}",
                    judge.console_tail(self.console.text()),
                )
            )
        except CommandTimeout as exc:
            self._fail(
                judge.Verdict(
                    "fail",
                    "command_timeout",
                    f"`{command}`: {exc}",
                    judge.console_tail(self.console.text()),
                )
            )
        (self.result_dir / f"cmd-{index}.stdout").write_bytes(res.stdout)
        (self.result_dir / f"cmd-{index}.stderr").write_bytes(res.stderr)
        result.commands.append(
            {"command": command, "exit_code": res.exit_code, "seconds": round(res.seconds, 3)}
        )
        result.exit_code = res.exit_code
        result.timings["command"] = round((result.timings["command"] or 0.0) + res.seconds, 3)
        return res

    # -- teardown ------------------------------------------------------------------------------
    def _ssh_alive(self) -> bool:
        if self.ssh is None or self.ssh.client is None:
            return False
        transport = self.ssh.client.get_transport()
        return transport is not None and transport.is_active()

    def _teardown(self, logs: str = "keep") -> None:
        """Stop everything of the current attempt. logs: "keep", "drop" (a failed attempt
        that says nothing) or a suffix to archive them under (console-kvm.log, ...)."""
        if self.ssh is not None:
            self.ssh.close()
            self.ssh = None
        if self.proc is not None:
            qmp = self.qmp
            self.proc.stop(quit_via_qmp=(lambda: qmp.command_timeout("quit", 2.0)) if qmp else None)
        if self.qmp is not None:
            self.qmp.close()
            self.qmp = None
        if self.console is not None:
            self.console.wait_eof(2.0)
            self.console.close()
        if self.result_dir is not None and logs != "keep":
            for name in ("console.log", "qemu-output.log", "qemu.log", "qemu-cmdline.txt"):
                path = self.result_dir / name
                if not path.exists():
                    continue
                if logs != "drop":
                    stem, _, ext = name.rpartition(".")
                    path.replace(self.result_dir / f"{stem}-{logs}.{ext}")
                else:
                    path.unlink()

    def _finish(self, exc: BaseException | None) -> None:
        result, rd = self.result, self.result_dir
        if result is None or rd is None or result.finished_utc is not None:
            return
        interrupted = isinstance(exc, KeyboardInterrupt)
        if isinstance(exc, GuestFailure):
            pass  # verdict already set
        elif isinstance(exc, Terminated):
            result.set_verdict("error", f"terminated: {exc}", "interrupted")
        elif interrupted:
            result.set_verdict("error", "interrupted (Ctrl-C)", "interrupted")
        elif isinstance(exc, FaultlabError):
            result.set_verdict("error", str(exc), "harness")
        elif exc is not None:
            result.set_verdict("error", f"internal error: {type(exc).__name__}: {exc}", "internal")

        if (
            not interrupted
            and self.options.fetch_dmesg
            and self._ssh_alive()
            and self.proc is not None
            and self.proc.alive()
        ):
            assert self.ssh is not None
            try:
                res = self.ssh.run("dmesg", 30.0)
                self._dmesg_text = res.stdout.decode(errors="replace")
                (rd / "dmesg.txt").write_bytes(res.stdout)
            except (SshLost, CommandTimeout) as err:
                result.extra["dmesg_error"] = str(err)

        try:
            self._teardown()
        finally:
            console_text = ""
            with contextlib.suppress(OSError):
                console_text = (rd / "console.log").read_bytes().decode(errors="replace")
            findings = judge.merge_findings(
                judge.find_reports(console_text), judge.find_reports(self._dmesg_text)
            )
            triage = self.triage = known_verdict.triage(findings, self.known)
            result.findings = []
            for f in findings:
                issue = triage.issue_of(f)
                result.findings.append(f.as_dict() | {"known_issue": issue.id if issue else None})
            result.known_issues = triage.as_dict()
            scenario = self.options.known_issues is not None
            if exc is None:
                if self.marked is not None:
                    m = self.marked
                    result.set_verdict(m.verdict, m.reason, m.failure, m.excerpt)
                elif any(c["exit_code"] != 0 for c in result.commands):
                    bad = next(c for c in result.commands if c["exit_code"] != 0)
                    status = bad["exit_code"]
                    reason = (
                        f"`{bad['command']}` exited with status {status}"
                        if status is not None
                        else f"`{bad['command']}` ended without an exit status (killed?)"
                    )
                    result.set_verdict("fail", reason, "command")
                else:
                    result.set_verdict("pass", "ok", None)
                if scenario and self.marked_checks is not None:
                    self._add_known_issue_checks(result, triage)
            # Kernel reports beat a command/probe failure or a pass; known issues of a
            # scenario make it "known-issue" instead of "pass" (known_verdict.py).
            overridable = result.verdict in ("pass", "skip") or result.failure in (
                "command",
                "probe",
                "check",
            )
            current = judge.Verdict(result.verdict, result.failure, result.reason)
            verdict = known_verdict.final_verdict(
                current, overridable and not interrupted, triage, scenario
            )
            if verdict is not None:
                result.set_verdict(
                    verdict.verdict, verdict.reason, verdict.failure, verdict.excerpt
                )
            result.timings["total"] = round(time.monotonic() - self._t0, 3)
            result.finished_utc = utc_now()
            write_result(result, rd)
            self._cleanup_sockets()

    def _add_known_issue_checks(self, result: RunResult, triage: known_verdict.Triage) -> None:
        """A scenario's verdict concluded from its checks: add the known issues' checks (and
        the intermittent ones' measurements) and conclude again."""
        assert self.marked_checks is not None
        if not (result.verdict == "pass" or result.failure == "check"):
            return  # a skip, an error: the body did not run to a conclusion
        self.added_checks = known_verdict.reproduction_checks(triage)
        if self.added_checks:
            checks = [*self.marked_checks, *self.added_checks]
            verdict = conclude(checks)
            result.set_verdict(verdict.verdict, verdict.reason, verdict.failure)
            result.extra["checks"] = [c.as_dict() for c in checks]
        measured = known_verdict.measurements(triage)
        if measured:
            result.extra.setdefault("measurements", {}).update(measured)

    def _cleanup_sockets(self) -> None:
        if self._sock_dir is None:
            return
        for name in ("console.sock", "qmp.sock"):
            (self._sock_dir / name).unlink(missing_ok=True)
        if self._own_sock_dir:
            shutil.rmtree(self._sock_dir, ignore_errors=True)
