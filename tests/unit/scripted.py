"""A ScenarioContext with no VM behind it: guest commands and QMP answered by the test.

For the checks of a scenario body (or of one of its helpers) given what the guest and QEMU
say: `scripted(name, commands, qom)` where `commands` maps a guest command to its stdout (or
(exit status, stdout)) and `qom(path, prop)` answers qom-get.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from faultlab.result import RunResult
from faultlab.scenario import ScenarioContext, load_scenarios
from faultlab.ssh import CommandResult

Answer = str | bytes | tuple[int, str | bytes]


class _Qmp:
    def __init__(self, qom: Callable[[str, str], Any]) -> None:
        self.qom = qom
        self.sets: list[tuple[str, str, Any]] = []

    def command_timeout(self, command: str, timeout: float, **arguments: Any) -> Any:
        if command == "qom-get":
            return self.qom(arguments["path"], arguments["property"])
        if command == "qom-set":
            self.sets.append((arguments["path"], arguments["property"], arguments["value"]))
            return {}
        raise AssertionError(f"unscripted QMP command {command} {arguments}")


class ScriptedGuest:
    def __init__(self, commands: Mapping[str, Answer], qom: Callable[[str, str], Any]) -> None:
        self.commands = dict(commands)
        self.ran: list[str] = []
        self.qmp = _Qmp(qom)
        self.result = RunResult(platform="scripted")

    def run(self, command: str, timeout: float, stdin: bytes | None = None) -> CommandResult:
        if command not in self.commands:
            raise AssertionError(f"unscripted guest command {command!r}")
        self.ran.append(command)
        answer = self.commands[command]
        status, out = answer if isinstance(answer, tuple) else (0, answer)
        data = out.encode() if isinstance(out, str) else out
        return CommandResult(command, status, data, b"", 0.0)


def scripted(
    scenario: str,
    commands: Mapping[str, Answer],
    qom: Callable[[str, str], Any] | None = None,
) -> tuple[ScenarioContext, ScriptedGuest]:
    guest = ScriptedGuest(commands, qom or (lambda path, prop: 0))
    ctx = ScenarioContext(guest, load_scenarios()[scenario])  # type: ignore[arg-type]
    return ctx, guest


def as_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data) + "\n"
