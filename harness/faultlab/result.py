"""Result directories and result.json.

Every run writes `<parent>/<UTC timestamp>-<label>/` where parent is `--results DIR`, else
$FAULTLAB_RESULTS, else `./results`. The directory holds result.json, console.log, qemu.log
(QEMU -D log), qemu-output.log (QEMU's stdout/stderr), qemu-cmdline.txt, dmesg.txt when the
guest was reachable, and cmd-<n>.stdout / cmd-<n>.stderr for each command.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faultlab import paths

if TYPE_CHECKING:
    from faultlab.guest_kernel import GuestKernel

RESULTS_ENV = "FAULTLAB_RESULTS"
# "known-issue": every check held and every kernel report is a known issue (known_verdict.py)
VERDICTS = ("pass", "fail", "error", "skip", "known-issue")


@dataclass
class RunResult:
    platform: str
    scenario: str | None = None
    command: str | None = None
    verdict: str = "error"  # until proven otherwise
    reason: str = "run did not finish"
    failure: str | None = None  # machine-readable: command, boot_timeout, kernel_panic, ...
    exit_code: int | None = None  # exit code of the (last) guest command
    accel: str | None = None
    accel_reason: str | None = None
    accel_fallback: str | None = None
    kernel: dict[str, Any] = field(default_factory=dict)  # path, format, arch, description...
    initrd: str | None = None
    qemu: str | None = None
    qemu_argv: list[str] = field(default_factory=list)
    ssh_port: int | None = None
    versions: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float | None] = field(
        default_factory=lambda: {
            "qemu_start": None,
            "ssh_ready": None,
            "command": None,
            "total": None,
        }
    )
    commands: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)  # each with its known_issue
    # the known-issue entries the run was judged against, which report matched which (with
    # the excerpt), the entries absent and the intermittent ones that did not reproduce
    known_issues: dict[str, Any] = field(default_factory=dict)
    excerpt: str | None = None  # console excerpt explaining a failure
    started_utc: str | None = None
    finished_utc: str | None = None
    result_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # probe details, etc.

    def set_verdict(
        self, verdict: str, reason: str, failure: str | None = None, excerpt: str | None = None
    ) -> None:
        if verdict not in VERDICTS:
            raise ValueError(f"bad verdict {verdict!r}")
        self.verdict = verdict
        self.reason = reason
        self.failure = failure
        if excerpt is not None:
            self.excerpt = excerpt

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False, default=str) + "\n"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def results_parent(cli_value: Path | str | None = None, cwd: Path | None = None) -> Path:
    if cli_value:
        return Path(cli_value).expanduser()
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env).expanduser()
    return (cwd or Path.cwd()) / "results"


def _safe_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", label).strip("_") or "run"


def new_result_dir(parent: Path, label: str, now: datetime | None = None) -> Path:
    """Create `<parent>/<YYYYmmddTHHMMSSZ>-<label>[-N]/` and return it."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = f"{stamp}-{_safe_label(label)}"
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = parent / (base if n == 1 else f"{base}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate.resolve()
    raise RuntimeError(f"cannot create a result directory under {parent}")


def write_result(result: RunResult, directory: Path) -> Path:
    result.result_dir = str(directory)
    target = directory / "result.json"
    tmp = directory / ".result.json.tmp"
    tmp.write_text(result.to_json())
    tmp.replace(target)
    return target


def read_manifest(component: str) -> dict[str, Any]:
    """A build manifest as recorded (including any pinned/used versions), or why it's absent."""
    path = paths.manifest(component)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"missing": str(path)}
    except (OSError, ValueError) as exc:
        return {"unreadable": str(path), "error": str(exc)}
    if not isinstance(data, dict):
        return {"unreadable": str(path), "error": "not a JSON object"}
    return data


def collect_versions(
    kernel_arch: str,
    kernel_is_default: bool,
    initrd_is_default: bool,
    kernel_path: Path,
    guest_kernel: GuestKernel | None = None,
) -> dict[str, Any]:
    """Versions of the build products used, read from the manifests the builds wrote, and
    what is known of the kernel (release, series, config hash, git describe of a tree)."""
    versions: dict[str, Any] = {"qemu": read_manifest("qemu")}
    if guest_kernel is not None:
        versions["guest_kernel"] = guest_kernel.as_dict()
    if kernel_is_default and guest_kernel is not None:
        variant = f"-{guest_kernel.variant}" if guest_kernel.variant else ""
        versions["kernel"] = read_manifest(f"kernel-{guest_kernel.series}-{kernel_arch}{variant}")
    elif kernel_is_default:
        versions["kernel"] = read_manifest(f"kernel-{kernel_arch}")
    else:
        try:
            stat = kernel_path.stat()
            versions["kernel"] = {
                "custom": str(kernel_path),
                "size": stat.st_size,
                "mtime_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stat.st_mtime)),
            }
        except OSError:
            versions["kernel"] = {"custom": str(kernel_path)}
    versions["images"] = (
        read_manifest(f"images-{kernel_arch}") if initrd_is_default else {"custom": True}
    )
    return versions
