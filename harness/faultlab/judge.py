"""Pure functions that judge kernel console text.

What counts as a kernel report: a line that, after an optional printk prefix (``<4>``,
``[    1.234567]``, ``[    T1]``/``[  C0]`` caller id), *starts* with one of the report headers
below. Anchoring at the start of the line is what keeps the kernel's own command line
(``Kernel command line: ... panic=-1 oops=panic``) and userspace chatter from matching.
Plain ``WARNING:`` lines are only kernel WARNs when they have the kernel's shape
(``WARNING: CPU: 0 PID: 1 at ...`` or a ``func+0x../0x..`` location) or follow a
``------------[ cut here ]------------`` marker; so ``WARNING: unsupported option`` printed by
a userspace tool on the console is *not* a finding (documented decision).

A finding's excerpt runs from its first line (or the ``cut here`` marker just before it)
through the end marker (``---[ end trace``, ``---[ end Kernel panic``, the closing ``=====``
of a KASAN report) or at most `max_lines` lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

EXCERPT_LINES = 40
TAIL_LINES = 50

_PREFIX = re.compile(r"^(?:<\d+>)?(?:\[\s*\d+\.\d+\])?(?:\[\s*[CT]\d+\])?\s*")
_CUT_HERE = re.compile(r"^-+\[ cut here \]-+\s*$")
_END_TRACE = re.compile(r"---\[ end (?:trace|Kernel panic)")
_KASAN_RULE = re.compile(r"^={20,}\s*$")

# (kind, regex matched against the line without its printk prefix); first match wins.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rx))
    for kind, rx in (
        ("panic", r"^Kernel panic - not syncing"),
        ("kasan", r"^BUG: KASAN: "),
        (
            "lockdep",
            r"^WARNING: (?:possible circular locking dependency|possible recursive locking"
            r"|inconsistent lock state|possible irq lock inversion dependency"
            r"|bad unlock balance|suspicious RCU usage)",
        ),
        ("kernel_bug", r"^kernel BUG at "),
        ("gpf", r"^(?:Oops: )?general protection fault"),
        (
            "unable_to_handle",
            r"^(?:BUG: )?(?:[Uu]nable to handle (?:kernel|page fault)"
            r"|[Kk]ernel NULL pointer dereference)",
        ),
        ("oops", r"^(?:Internal error: )?Oops(?::| -)"),
        ("rcu_stall", r"^(?:rcu: )?INFO: rcu_\w+ (?:self-)?detected stall"),
        # 7.x: "blocked in I/O wait for more than" for a task in I/O wait
        ("hung_task", r"^INFO: task \S.* blocked(?: in I/O wait)? for more than \d+ seconds"),
        # 6.12: "WARNING: CPU: 0 PID: 1 at func+0x1/0x2"; 7.x: "WARNING: [FILE:LINE ]at
        # func+0x1/0x2, CPU#0: comm/1" (FILE:LINE only with DEBUG_BUGVERBOSE)
        (
            "warning",
            r"^WARNING: (?:CPU: \d+ PID: \d+|(?:.* )?at \S+\+0x[0-9a-f]+/0x[0-9a-f]+)",
        ),
        ("bug", r"^(?:[\w-]+: )?BUG: "),
    )
)

# Kinds after which the guest cannot be trusted: stop the boot/command at once.
FATAL_KINDS = frozenset({"panic", "oops", "kernel_bug", "gpf", "unable_to_handle", "kasan"})

KIND_TITLES = {
    "panic": "kernel panic",
    "oops": "kernel oops",
    "kernel_bug": "kernel BUG",
    "gpf": "general protection fault",
    "unable_to_handle": "kernel bad memory access",
    "kasan": "KASAN report",
    "lockdep": "lockdep report",
    "rcu_stall": "RCU stall",
    "hung_task": "hung task",
    "warning": "kernel WARNING",
    "bug": "kernel BUG report",
}


@dataclass(frozen=True)
class Finding:
    kind: str
    line: int  # 1-based line number of the report's first line in the judged text
    title: str  # first line without the printk prefix
    excerpt: str

    @property
    def fatal(self) -> bool:
        return self.kind in FATAL_KINDS

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "line": self.line,
            "title": self.title,
            "fatal": self.fatal,
            "excerpt": self.excerpt,
        }


@dataclass(frozen=True)
class Verdict:
    verdict: str  # "pass" | "fail" | "error" | "skip" | "known-issue"
    failure: str | None  # machine-readable failure kind
    reason: str  # one line
    excerpt: str | None = None


def strip_prefix(line: str) -> str:
    return _PREFIX.sub("", line.rstrip("\r\n").replace("\r", ""), count=1)


def classify(line: str) -> str | None:
    """The report kind a console line starts, or None."""
    body = strip_prefix(line)
    for kind, regex in _RULES:
        if regex.search(body):
            return kind
    return None


# Headers that continue the report before them (x86 "BUG: ... NULL pointer dereference" is
# followed by "Oops: 0000 [#1]", arm64 "kernel BUG at" by "Internal error: Oops - BUG").
_CONTINUATION_KINDS = frozenset({"oops"})


def _starts_report(body: str) -> bool:
    kind = classify(body)
    return (kind is not None and kind not in _CONTINUATION_KINDS) or bool(_CUT_HERE.match(body))


def _excerpt_end(bodies: list[str], start: int, kind: str, max_lines: int) -> int:
    """Index (inclusive) of the last excerpt line: the end marker, the line before the next
    report's header, or the `max_lines` limit."""
    limit = min(len(bodies), start + max_lines) - 1
    for i in range(start + 1, limit + 1):
        if _END_TRACE.search(bodies[i]):
            return i
        if kind == "kasan" and _KASAN_RULE.match(bodies[i]):
            return i
        if _starts_report(bodies[i]):
            return i - 1
    return limit


def find_reports(text: str, max_lines: int = EXCERPT_LINES) -> list[Finding]:
    """Every kernel report in `text`, in order of appearance."""
    lines = [line.rstrip("\r") for line in text.replace("\r\n", "\n").split("\n")]
    bodies = [strip_prefix(line) for line in lines]
    findings: list[Finding] = []
    covered_until = -1  # last line index inside the previous finding's excerpt
    header_done = -1  # header line of the previous finding (may follow a "cut here" line)
    for start, body in enumerate(bodies):
        if start <= header_done:
            continue
        kind = classify(body)
        header = start
        if kind is None and _CUT_HERE.match(body):
            # A "cut here" marker opens a WARN/BUG report; its header is on the next lines.
            for j in range(start + 1, min(start + 4, len(bodies))):
                kind = classify(bodies[j])
                if kind is not None:
                    header = j
                    break
            else:
                kind = "warning"
                header = next(
                    (j for j in range(start + 1, min(start + 4, len(bodies))) if bodies[j].strip()),
                    start,
                )
        if kind is None or (start <= covered_until and kind in _CONTINUATION_KINDS):
            continue
        end = _excerpt_end(bodies, header, kind, max_lines - (header - start))
        findings.append(
            Finding(
                kind=kind,
                line=header + 1,
                title=bodies[header].strip(),
                excerpt="\n".join(lines[start : end + 1]).rstrip(),
            )
        )
        covered_until = max(covered_until, end)
        header_done = header
    return findings


def merge_findings(*groups: Iterable[Finding]) -> list[Finding]:
    """Concatenate finding lists, dropping repeats of the same (kind, title)."""
    seen: set[tuple[str, str]] = set()
    merged: list[Finding] = []
    for group in groups:
        for finding in group:
            key = (finding.kind, finding.title)
            if key not in seen:
                seen.add(key)
                merged.append(finding)
    return merged


def fatal_findings(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.fatal]


def report_complete(finding: Finding, max_lines: int = EXCERPT_LINES) -> bool:
    """True if the report's end marker is printed or its excerpt is full (it can't grow)."""
    rows = finding.excerpt.split("\n")
    last = strip_prefix(rows[-1])
    return (
        bool(_END_TRACE.search(last))
        or (finding.kind == "kasan" and bool(_KASAN_RULE.match(last)) and len(rows) > 1)
        or len(rows) >= max_lines
    )


def console_tail(text: str, lines: int = TAIL_LINES) -> str:
    rows = text.replace("\r\n", "\n").replace("\r", "").rstrip("\n").split("\n")
    return "\n".join(rows[-lines:])


def findings_verdict(findings: list[Finding]) -> Verdict | None:
    """A "fail" verdict naming the most important finding, or None if there are none."""
    if not findings:
        return None
    first = next((f for f in findings if f.fatal), findings[0])
    more = len(findings) - 1
    reason = f"{KIND_TITLES[first.kind]}: {first.title}"
    if any(f.kind == "panic" for f in findings) and first.kind != "panic":
        reason += " (then kernel panic)"
    if more:
        reason += f" (+{more} more finding{'s' if more > 1 else ''})"
    return Verdict("fail", f"kernel_{first.kind}", reason, first.excerpt)


def boot_timeout_verdict(text: str, seconds: float, what: str = "SSH") -> Verdict:
    return Verdict(
        "fail",
        "boot_timeout",
        f"guest did not offer {what} within {seconds:.0f} s",
        console_tail(text),
    )


def qemu_exit_verdict(text: str, returncode: int | None, when: str) -> Verdict:
    return Verdict(
        "fail",
        "qemu_exit",
        f"QEMU exited with status {returncode} {when}",
        console_tail(text),
    )
