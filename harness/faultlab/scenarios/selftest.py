"""Scenarios that exercise the scenario machinery itself on a plain guest."""

from __future__ import annotations

from faultlab.needs import NO_NEEDS
from faultlab.scenario import ScenarioContext, scenario


@scenario(
    "bench/guest-basics",
    "aarch64",
    "the guest runs commands, reports its kernel and answers QMP (harness self-check)",
    needs=NO_NEEDS,  # nothing beyond what every aarch64 boot needs
)
def guest_basics(ctx: ScenarioContext) -> None:
    ctx.expect_eq("uname -m", ctx.must("uname -m").strip(), "aarch64")
    status = ctx.qmp("query-status")
    ctx.expect_eq("QMP run state", status.get("status"), "running")
    res = ctx.sh("sh -c 'exit 3'")
    ctx.expect_eq("a guest exit status is reported", res.exit_code, 3)
