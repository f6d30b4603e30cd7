"""The verdict of a run whose kernel reports may be known issues (pure; known_issues.py).

BootSession._finish calls this once a run's kernel reports are final (console and dmesg),
with the known-issue entries that apply to the run:

* a scenario run (run_scenario passes the entries for its scenario, kernel series and
  release): every report is matched to the first entry it matches (kind and signature);
  - each entry that is not intermittent adds the check ``known issue ID still reproduces``
    (observed present/absent, expected present) to the scenario's checks, so a kernel that
    fixed or changed the report fails the scenario until someone updates the entry; an
    intermittent entry adds the measurement ``known issue ID``: ``reproduced this run`` or
    ``did not reproduce this run`` instead (a measurement, not a failure). Only when the
    verdict is the checks' conclusion (pass or failed checks, not a skip, an error or a
    guest failure);
  - a report no entry matches fails the run as it always did; a failed check fails it;
    otherwise, when every report is a known issue, the verdict is "known-issue" (reason
    ``ID: SIGNATURE (UPSTREAM)``, excerpt of the first report), never "pass";
* a plain boot, shell or probe (the entries for the kernel, whatever their scenarios): the
  run fails on a report exactly as before, and the reason names the known issue it matches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from faultlab import judge
from faultlab.checks import Check
from faultlab.known_issues import KnownIssue

KNOWN_ISSUE = "known-issue"  # the verdict
REPRODUCED = "reproduced this run"
NOT_REPRODUCED = "did not reproduce this run"


def check_name(issue: KnownIssue) -> str:
    return f"known issue {issue.id} still reproduces"


@dataclass(frozen=True)
class Match:
    finding: judge.Finding
    issue: KnownIssue

    def as_dict(self) -> dict[str, Any]:
        return {
            "issue": self.issue.id,
            "upstream": self.issue.upstream,
            "signature": self.issue.signature.pattern,
            "note": self.issue.note,
            "kind": self.finding.kind,
            "line": self.finding.line,
            "title": self.finding.title,
            "excerpt": self.finding.excerpt,
        }


@dataclass(frozen=True)
class Triage:
    issues: tuple[KnownIssue, ...]  # the entries the run was judged against
    matches: tuple[Match, ...]  # reports that are known issues
    unknown: tuple[judge.Finding, ...]  # reports no entry matches

    def issue_of(self, finding: judge.Finding) -> KnownIssue | None:
        return next((m.issue for m in self.matches if m.finding == finding), None)

    @property
    def reproduced(self) -> tuple[KnownIssue, ...]:
        """Entries some report matched, in file order."""
        seen = {m.issue.id for m in self.matches}
        return tuple(i for i in self.issues if i.id in seen)

    @property
    def absent(self) -> tuple[KnownIssue, ...]:
        """Entries that are not intermittent and that no report matched."""
        return tuple(i for i in self.issues if not i.intermittent and i not in self.reproduced)

    @property
    def not_reproduced(self) -> tuple[KnownIssue, ...]:
        """Intermittent entries that no report matched."""
        return tuple(i for i in self.issues if i.intermittent and i not in self.reproduced)

    def as_dict(self) -> dict[str, Any]:
        return {
            "applied": [i.as_dict() for i in self.issues],
            "matched": [m.as_dict() for m in self.matches],
            "absent": [i.id for i in self.absent],
            "not_reproduced": [i.id for i in self.not_reproduced],
        }


def triage(findings: Iterable[judge.Finding], issues: Iterable[KnownIssue]) -> Triage:
    """Each report matched to the first entry that matches it, or unknown."""
    entries = tuple(issues)
    matches: list[Match] = []
    unknown: list[judge.Finding] = []
    for finding in findings:
        issue = next((i for i in entries if i.matches(finding)), None)
        if issue is None:
            unknown.append(finding)
        else:
            matches.append(Match(finding, issue))
    return Triage(entries, tuple(matches), tuple(unknown))


def reproduction_checks(t: Triage) -> list[Check]:
    """`known issue ID still reproduces` for every entry that is not intermittent."""
    reproduced = t.reproduced
    return [
        Check(
            check_name(i),
            i in reproduced,
            "present" if i in reproduced else "absent",
            f"present: {i.kind} {i.signature.pattern}",
        )
        for i in t.issues
        if not i.intermittent
    ]


def measurements(t: Triage) -> dict[str, str]:
    """`known issue ID`: reproduced or not, for the intermittent entries."""
    reproduced = t.reproduced
    return {
        f"known issue {i.id}": REPRODUCED if i in reproduced else NOT_REPRODUCED
        for i in t.issues
        if i.intermittent
    }


def known_issue_verdict(t: Triage) -> judge.Verdict:
    """Every report is a known issue and every check held."""
    reason = "; ".join(i.summary for i in t.reproduced)
    return judge.Verdict(KNOWN_ISSUE, None, reason, t.matches[0].finding.excerpt)


def annotate(verdict: judge.Verdict, t: Triage) -> judge.Verdict:
    """`verdict` with the known issues the run's reports matched named in its reason."""
    if not t.matches:
        return verdict
    named = "; ".join(f"known issue {i.id}, {i.upstream}" for i in t.reproduced)
    also = "also " if t.unknown else ""
    return judge.Verdict(
        verdict.verdict, verdict.failure, f"{verdict.reason} ({also}{named})", verdict.excerpt
    )


def final_verdict(
    current: judge.Verdict, overridable: bool, t: Triage, scenario: bool
) -> judge.Verdict | None:
    """The run's verdict given its reports, or None to keep `current`.

    `overridable`: whether reports may change `current` (a pass, a skip, failed checks, a
    failed command or probe; not a guest failure, an error or an interrupt). `scenario`:
    whether known reports may make the run "known-issue" (else they only name it)."""
    if not overridable:
        return None
    if t.unknown:
        verdict = judge.findings_verdict(list(t.unknown))
        assert verdict is not None
        return annotate(verdict, t)
    if not t.matches:
        return None
    if not scenario:  # a boot or probe: a report fails it as before, named
        verdict = judge.findings_verdict([m.finding for m in t.matches])
        assert verdict is not None
        return annotate(verdict, t)
    if current.verdict == "pass":
        return known_issue_verdict(t)
    return None  # failed checks still fail; a skip stays a skip
