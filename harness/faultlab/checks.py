"""A scenario's checks and the verdict they conclude (pure; scenario.py and boot.py use it).

A check is a name, whether it held, what was observed and what was expected. The verdict of
a list of checks: pass when every check held and there was at least one; fail naming the
checks that did not hold; a list with no check is an error (a scenario that checks nothing
cannot fail, so it cannot pass either).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from faultlab import judge

MAX_SHOWN = 160  # characters of an observed/expected value kept in a check


def shown(value: Any) -> str:
    """`value` as a check shows it: a string as is, anything else as JSON, at most
    MAX_SHOWN characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    observed: str
    expected: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def conclude(checks: Sequence[Check]) -> judge.Verdict:
    """pass (every check held), fail (naming the first five that did not) or error (none)."""
    failed = [c for c in checks if not c.ok]
    if failed:
        names = ", ".join(c.name for c in failed[:5]) + (" ..." if len(failed) > 5 else "")
        return judge.Verdict(
            "fail", "check", f"{len(failed)} of {len(checks)} checks failed: {names}", None
        )
    if not checks:
        return judge.Verdict("error", "no_checks", "the scenario made no checks", None)
    return judge.Verdict("pass", None, f"all {len(checks)} checks held", None)
