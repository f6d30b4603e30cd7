"""Known issues: kernel reports that unmodified upstream drivers print during scenarios.

A report (WARNING, BUG, lockdep, KASAN, oops...) that an upstream driver prints while a
scenario runs is a finding about the kernel, not a failure of the bench. The known-issue file
(guest-kernel/known-issues.toml, or $FAULTLAB_KNOWN_ISSUES; its header documents the fields)
lists those findings, one ``[[issue]]`` table each: an id, the kernels it applies to (a list
of series, or a release range), the scenarios, the report kind (a judge kind), a signature
(a regex searched in the report's title line), the upstream status, a note, and for races
the reason the report may not appear in every run (``intermittent``).

A WARNING's title is matched as printed and in one series-independent form,
``WARNING: CPU: N PID: N at FUNC+0xOFF/0xSIZE [(FILE:LINE)]`` (6.12 prints ``WARNING: CPU: 0
PID: 97 at [FILE:LINE ]FUNC+..``, 7.x ``WARNING: [FILE:LINE ]at FUNC+.., CPU#0: COMM/97``), so
``WARNING: .* at vas_mmap_close\\+`` or ``vas_mmap_close\\+`` hold on both.

`load` parses and checks the file (a missing or malformed field, a bad regex, an unknown
scenario: KnownIssuesError naming the entry and the field); `for_run` keeps the entries
that apply to one run (scenario, kernel series and release); `KnownIssue.matches` tells
whether a report is that issue. known_verdict.py turns that into the run's verdict.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultlab import judge, paths
from faultlab.errors import FaultlabError
from faultlab.kernel_info import in_release_range, release_version, series_of

# Fields of an [[issue]] table: mandatory ones, then optional ones.
MANDATORY = ("id", "scenarios", "kind", "signature", "upstream", "note")
KERNEL_FIELDS = ("series", "since", "until")  # `series`, or a release range since/until
OPTIONAL = ("intermittent",)
# A panic ends the guest: no scenario completes after one, so it cannot be a known issue
# (record the report that led to it: the oops, the BUG).
KINDS = tuple(k for k in judge.KIND_TITLES if k != "panic")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SERIES = re.compile(r"^\d+\.\d+$")
_UPSTREAM = re.compile(r"^(?:unreported|reported \S.*|fixed in \S.*)$")
_AT = r"(?P<at>\S+\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[^\]]+\])?)"
_WARN_6 = re.compile(
    rf"^WARNING: CPU: (?P<cpu>\d+) PID: (?P<pid>\d+) at (?:(?P<file>\S+):(?P<line>\d+) )?{_AT}"
)
_WARN_7 = re.compile(
    rf"^WARNING: (?:(?P<file>\S+):(?P<line>\d+) )?at {_AT}, CPU#(?P<cpu>\d+): .*/(?P<pid>\d+)\s*$"
)


class KnownIssuesError(FaultlabError):
    """The known-issue file is malformed; str() names the file, the entry and the field."""


def warning_form(title: str) -> str | None:
    """A WARNING title in the series-independent form (see the module doc), else None."""
    m = _WARN_6.match(title) or _WARN_7.match(title)
    if m is None:
        return None
    where = f" ({m['file']}:{m['line']})" if m["file"] else ""
    return f"WARNING: CPU: {m['cpu']} PID: {m['pid']} at {m['at']}{where}"


@dataclass(frozen=True)
class KnownIssue:
    id: str
    scenarios: tuple[str, ...]  # exact names, groups ("nx", "nx/") or globs ("nx/*-fault")
    kind: str  # a judge kind (judge.KIND_TITLES), not "panic"
    signature: re.Pattern[str]  # searched in the report's title line
    upstream: str  # "unreported" | "reported <link>" | "fixed in <commit or release>"
    note: str
    series: tuple[str, ...] = ()  # the kernel series it applies to ("6.12"), or:
    since: str | None = None  # first release it applies to (inclusive)
    until: str | None = None  # first release it no longer applies to (exclusive)
    intermittent: str | None = None  # why it may not reproduce in every run (a race...)
    source: str = ""  # "FILE: [[issue]] #N", for messages

    @property
    def kernels(self) -> str:
        """The kernels it applies to, in words."""
        if self.series:
            return "series " + ", ".join(self.series)
        if self.since and self.until:
            return f"{self.since} <= release < {self.until}"
        return f"release >= {self.since}" if self.since else f"release < {self.until}"

    @property
    def summary(self) -> str:
        """`<id>: <signature> (<upstream status>)`, as the CLI prints it."""
        return f"{self.id}: {self.signature.pattern} ({self.upstream})"

    def applies_to_kernel(self, series: str | None, release: str | None) -> bool:
        """Whether a kernel of that series and release has the issue (unknown: no)."""
        if self.series:
            if series is None and release is not None:
                try:
                    series = series_of(release)
                except ValueError:
                    return False
            return series in self.series
        if release is None:
            return False
        try:
            return in_release_range(release, self.since, self.until)
        except ValueError:
            return False

    def applies_to_scenario(self, name: str) -> bool:
        return any(scenario_pattern_matches(p, name) for p in self.scenarios)

    def matches(self, finding: judge.Finding) -> bool:
        """Whether `finding` is this issue: its kind, and the signature found in its title
        (as printed, or for a WARNING in the series-independent form)."""
        if finding.kind != self.kind:
            return False
        if self.signature.search(finding.title):
            return True
        form = warning_form(finding.title)
        return form is not None and self.signature.search(form) is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kernels": self.kernels,
            "scenarios": list(self.scenarios),
            "kind": self.kind,
            "signature": self.signature.pattern,
            "upstream": self.upstream,
            "note": self.note,
            "intermittent": self.intermittent,
        }


def scenario_pattern_matches(pattern: str, name: str) -> bool:
    """An exact scenario name, a group ("nx" or "nx/"), or a glob ("nx/*", "*/many-faults")."""
    if pattern == name:
        return True
    group = pattern.removesuffix("/")
    if "/" not in group and name.split("/", 1)[0] == group:
        return True
    return any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(name, pattern)


def _string(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        raise KnownIssuesError(f"{where}: {key} must be a non-empty string, not {value!r}")
    return value.strip()


def _strings(entry: dict[str, Any], key: str, where: str, example: str) -> tuple[str, ...]:
    value = entry[key]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise KnownIssuesError(
            f"{where}: {key} must be a non-empty list of strings (e.g. {key} = {example}), "
            f"not {value!r}"
        )
    return tuple(v.strip() for v in value)


def _release(entry: dict[str, Any], key: str, where: str) -> str | None:
    if key not in entry:
        return None
    value = _string(entry, key, where)
    try:
        release_version(value)
    except ValueError:
        raise KnownIssuesError(
            f"{where}: {key} = {value!r} is not a kernel release (like 6.12 or 6.12.64)"
        ) from None
    return value


def _kernels(entry: dict[str, Any], where: str) -> tuple[tuple[str, ...], str | None, str | None]:
    ranged = "since" in entry or "until" in entry
    if "series" in entry and ranged:
        raise KnownIssuesError(
            f"{where}: give the kernels as series = [...] or as a release range since/until, "
            "not both"
        )
    if not ranged:
        if "series" not in entry:
            raise KnownIssuesError(
                f"{where}: missing mandatory field 'series' (the kernel series it applies to, "
                'e.g. series = ["6.12"]; or a release range: since = "6.12.64", until = "7.1")'
            )
        series = _strings(entry, "series", where, '["6.12"]')
        bad = [s for s in series if not _SERIES.match(s)]
        if bad:
            raise KnownIssuesError(
                f"{where}: series {bad[0]!r} is not a kernel series (like 6.12 or 7.3)"
            )
        return series, None, None
    since, until = _release(entry, "since", where), _release(entry, "until", where)
    if since and until and release_version(since) >= release_version(until):
        raise KnownIssuesError(f"{where}: since {since} is not before until {until}")
    return (), since, until


def _issue(entry: Any, where: str) -> KnownIssue:
    if not isinstance(entry, dict):
        raise KnownIssuesError(f"{where}: an [[issue]] must be a table, not {entry!r}")
    ident = entry.get("id")
    if isinstance(ident, str) and ident:
        where = f"{where} (id {ident!r})"
    unknown = sorted(set(entry) - {*MANDATORY, *KERNEL_FIELDS, *OPTIONAL})
    if unknown:
        known = ", ".join((*MANDATORY, *KERNEL_FIELDS, *OPTIONAL))
        raise KnownIssuesError(f"{where}: unknown field {unknown[0]!r} (fields: {known})")
    for key in MANDATORY:
        if key not in entry:
            raise KnownIssuesError(f"{where}: missing mandatory field {key!r}")
    ident = _string(entry, "id", where)
    if not _ID.match(ident):
        raise KnownIssuesError(
            f"{where}: id {ident!r} must be letters, digits, '.', '_' and '-' "
            "(e.g. vas-mmap-close-fork)"
        )
    series, since, until = _kernels(entry, where)
    kind = _string(entry, "kind", where)
    if kind not in KINDS:
        why = " (a panic ends the guest: give the report that led to it)" if kind == "panic" else ""
        raise KnownIssuesError(
            f"{where}: kind {kind!r} is not a report kind{why} (kinds: {', '.join(KINDS)})"
        )
    text = _string(entry, "signature", where)
    try:
        signature = re.compile(text)
    except re.error as exc:
        raise KnownIssuesError(f"{where}: signature {text!r} is not a valid regex: {exc}") from None
    upstream = _string(entry, "upstream", where)
    if not _UPSTREAM.match(upstream):
        raise KnownIssuesError(
            f"{where}: upstream {upstream!r} must be 'unreported', 'reported <link>' or "
            "'fixed in <commit or release>'"
        )
    intermittent = None
    if "intermittent" in entry:
        if not isinstance(entry["intermittent"], str):
            raise KnownIssuesError(
                f"{where}: intermittent must say why the report may not appear in every run "
                f'(intermittent = "a race between ..."), not {entry["intermittent"]!r}'
            )
        intermittent = _string(entry, "intermittent", where)
    return KnownIssue(
        id=ident,
        scenarios=_strings(entry, "scenarios", where, '["pseries/nx-fault"]'),
        kind=kind,
        signature=signature,
        upstream=upstream,
        note=_string(entry, "note", where),
        series=series,
        since=since,
        until=until,
        intermittent=intermittent,
        source=where,
    )


def parse(
    text: str, source: str = "known-issues.toml", scenarios: Collection[str] | None = None
) -> tuple[KnownIssue, ...]:
    """The entries of a known-issue file, in order. With `scenarios` (the registered names),
    a scenario pattern that matches none of them is an error too."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KnownIssuesError(f"{source}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"issue"})
    if extra:
        raise KnownIssuesError(
            f"{source}: unknown top-level key {extra[0]!r} (entries are [[issue]] tables)"
        )
    entries = data.get("issue", [])
    if not isinstance(entries, list):
        raise KnownIssuesError(f"{source}: issue must be [[issue]] tables")
    issues: list[KnownIssue] = []
    for number, entry in enumerate(entries, 1):
        issue = _issue(entry, f"{source}: [[issue]] #{number}")
        if any(i.id == issue.id for i in issues):
            raise KnownIssuesError(f"{issue.source}: id {issue.id!r} is used twice")
        if scenarios is not None:
            for pattern in issue.scenarios:
                if not any(scenario_pattern_matches(pattern, name) for name in scenarios):
                    raise KnownIssuesError(
                        f"{issue.source}: scenario {pattern!r} matches no scenario "
                        "(`faultlab scenarios` lists them)"
                    )
        issues.append(issue)
    return tuple(issues)


def load(
    path: Path | None = None, scenarios: Collection[str] | None = None
) -> tuple[KnownIssue, ...]:
    """The entries of the known-issue file (`path`, else paths.known_issues_file())."""
    path = path or paths.known_issues_file()
    try:
        text = path.read_text()
    except OSError as exc:
        raise KnownIssuesError(
            f"cannot read the known-issue file {path}: {exc.strerror or exc} "
            f"(${paths.KNOWN_ISSUES_ENV} names another one)"
        ) from None
    return parse(text, str(path), scenarios)


def for_kernel(
    issues: Iterable[KnownIssue], series: str | None, release: str | None
) -> tuple[KnownIssue, ...]:
    return tuple(i for i in issues if i.applies_to_kernel(series, release))


def for_run(
    issues: Iterable[KnownIssue], scenario: str, series: str | None, release: str | None
) -> tuple[KnownIssue, ...]:
    """The entries that apply to a run of `scenario` on a kernel of `series`/`release`."""
    return tuple(i for i in for_kernel(issues, series, release) if i.applies_to_scenario(scenario))
