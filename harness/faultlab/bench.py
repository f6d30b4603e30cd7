"""`faultlab bench`: boot-to-SSH time per platform (median/min/max of N runs), plus, for
x86_64, the same kernel under virtme-ng (vng) with our QEMU, and the faultlab/vng ratio;
with --rates, the fault-path rates of faultlab.bench_rates.

faultlab's time is measured from QEMU's start to an SSH session being established; the
comparison with vng uses "boot to a finished `true`" on both sides (faultlab: SSH ready + the
`true` command; vng: the wall time of `vng --run ... --exec true`, which also includes QEMU's
start and the guest's power-off). A vng cell that cannot be measured says
"unavailable: <reason>"; no number is ever made up.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faultlab import paths
from faultlab.artifacts import resolve_artifacts
from faultlab.boot import BootOptions, BootSession
from faultlab.errors import FaultlabError, GuestFailure
from faultlab.platforms import get_platform
from faultlab.result import new_result_dir, results_parent

VNG_TIMEOUT = 600.0


def summarize(samples: Sequence[float]) -> dict[str, Any]:
    if not samples:
        return {"median": None, "min": None, "max": None, "samples": []}
    return {
        "median": round(statistics.median(samples), 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
        "samples": [round(s, 3) for s in samples],
    }


def bench_platform(
    name: str, runs: int, parent: Path, accel: str, series: str = paths.DEFAULT_SERIES
) -> dict[str, Any]:
    platform = get_platform(name)
    ssh_ready: list[float] = []
    to_true: list[float] = []
    failures: list[str] = []
    accels: set[str] = set()
    for i in range(runs):
        session = BootSession(
            BootOptions(
                platform,
                accel=accel,
                series=series,
                result_dir=parent / name / f"run{i + 1}",
                scenario=f"bench-{name}",
                fetch_dmesg=False,
            )
        )
        true_seconds: float | None = None
        try:
            with session as guest:
                true_seconds = guest.run("true", 60.0).seconds
        except GuestFailure:
            pass
        except FaultlabError as exc:
            if session.result is None:
                return {"unavailable": str(exc)}
        result = session.result
        assert result is not None
        if result.accel:
            accels.add(result.accel)
        ready = result.timings.get("ssh_ready")
        if result.verdict == "pass" and ready is not None and true_seconds is not None:
            ssh_ready.append(ready)
            to_true.append(ready + true_seconds)
        else:
            failures.append(f"run{i + 1}: {result.verdict}: {result.reason}")
    return {
        "boot_to_ssh": summarize(ssh_ready),
        "boot_to_true": summarize(to_true),
        "accel": sorted(accels),
        "failures": failures,
    }


def vng_command(
    help_text: str, kernel: Path, qemu: Path, data_dirs: Sequence[Path] = ()
) -> list[str]:
    """A vng command line for this vng version (flags chosen from its --help)."""
    cmd = ["vng", "--run", str(kernel)]
    if "--disable-kvm" in help_text:
        cmd.append("--disable-kvm")
    if "--qemu " in help_text or "--qemu QEMU" in help_text:
        cmd += ["--qemu", str(qemu)]
    if "--verbose" in help_text:
        # the guest console on stderr: where vng's init reports the script's exit code
        cmd.append("--verbose")
    if "--qemu-opts" in help_text:
        # The same firmware search path and -nodefaults that faultlab's x86_64 uses (the
        # build tree installs no blobs; q35's default CD-ROM costs ~32 s in SeaBIOS).
        opts = " ".join(f"-L {shlex.quote(str(d))}" for d in data_dirs)
        cmd.append(f"--qemu-opts={opts} -nodefaults")
    if "--exec" in help_text:
        cmd += ["--exec", "true"]
    else:
        cmd += ["--", "true"]
    return cmd


VNG_SCRIPT_OK = "virtme-ng-init: script exited with code 0"


def vng_script_succeeded(returncode: int, output: str) -> bool:
    """Did the guest run the command? vng's exit status, or its init's own report.

    vng passes the command's status back through a virtio-serial port that the guest finds
    through udev; on a host without udevd (this bench's machines) the port never appears,
    vng exits 255 and its init falls back to the console, where it still reports the exit
    code of the command it ran.
    """
    return returncode == 0 or VNG_SCRIPT_OK in output


def find_vng() -> str | None:
    """vng next to this Python (the faultlab venv pins virtme-ng), else on PATH."""
    beside = Path(sys.executable).parent / "vng"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("vng")


def bench_vng(runs: int) -> dict[str, Any]:
    vng = find_vng()
    if vng is None:
        return {"unavailable": "vng (virtme-ng) is not installed"}
    try:
        artifacts = resolve_artifacts(get_platform("x86_64"))
    except FaultlabError as exc:
        return {"unavailable": str(exc)}
    env = dict(os.environ)
    qemu_dir = paths.qemu_binary("qemu-system-x86_64").parent
    # Our QEMU first; vng's own directory next (vng runs `virtme-run` through PATH).
    env["PATH"] = os.pathsep.join([str(qemu_dir), str(Path(vng).parent), env.get("PATH", "")])
    try:
        help_text = subprocess.run(
            [vng, "--help"], capture_output=True, text=True, timeout=60, env=env
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"unavailable": f"vng --help failed: {exc}"}
    cmd = vng_command(help_text, artifacts.kernel, artifacts.qemu, artifacts.data_dirs)
    cmd[0] = vng
    samples: list[float] = []
    for _ in range(runs):
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=VNG_TIMEOUT,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return {"unavailable": f"vng timed out after {VNG_TIMEOUT:.0f} s", "command": cmd}
        except OSError as exc:
            return {"unavailable": f"vng failed to start: {exc}", "command": cmd}
        if not vng_script_succeeded(proc.returncode, proc.stdout + proc.stderr):
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            last = lines[-1] if lines else "no output"
            return {
                "unavailable": f"vng exited with status {proc.returncode}: {last}",
                "command": cmd,
            }
        samples.append(time.monotonic() - started)
    return {"wall": summarize(samples), "command": cmd}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_table(report: dict[str, Any]) -> str:
    rows = [("platform", "median s", "min s", "max s", "ok/runs", "note")]
    for name, data in report["platforms"].items():
        if "unavailable" in data:
            rows.append((name, "-", "-", "-", "-", f"unavailable: {data['unavailable']}"))
            continue
        stats = data["boot_to_ssh"]
        ok = len(stats["samples"])
        note = "; ".join(data["failures"][:2])
        rows.append(
            (
                name,
                _fmt(stats["median"]),
                _fmt(stats["min"]),
                _fmt(stats["max"]),
                f"{ok}/{report['runs']}",
                note,
            )
        )
    vng = report.get("virtme_ng")
    if vng is not None:
        if "unavailable" in vng:
            rows.append(("x86_64 vng", "-", "-", "-", "-", f"unavailable: {vng['unavailable']}"))
        else:
            w = vng["wall"]
            rows.append(
                (
                    "x86_64 vng",
                    _fmt(w["median"]),
                    _fmt(w["min"]),
                    _fmt(w["max"]),
                    f"{len(w['samples'])}/{report['runs']}",
                    "boot to `true` done",
                )
            )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    ratio = report.get("ratio_faultlab_over_vng")
    lines.append(f"faultlab/virtme-ng (x86_64, boot to `true`): {ratio}")
    if "fault_rates" in report:
        from faultlab.bench_rates import format_rates

        lines += ["", format_rates(report["fault_rates"], report["runs"])]
    return "\n".join(lines)


def run_bench(
    platform_names: Sequence[str],
    runs: int,
    *,
    results: Path | None = None,
    json_path: Path | None = None,
    accel: str = "tcg",
    rates: bool = False,
    series: str = paths.DEFAULT_SERIES,
) -> tuple[dict[str, Any], Path]:
    for name in platform_names:
        get_platform(name)  # reject unknown names before booting anything
    parent = new_result_dir(results_parent(results), "bench")
    report: dict[str, Any] = {"runs": runs, "accel": accel, "series": series, "platforms": {}}
    for name in platform_names:
        report["platforms"][name] = bench_platform(name, runs, parent, accel, series)
    ratio: str | float = "unavailable: x86_64 not benchmarked"
    if "x86_64" in platform_names:
        vng = bench_vng(runs)
        report["virtme_ng"] = vng
        ours = report["platforms"]["x86_64"].get("boot_to_true", {}).get("median")
        if "unavailable" in vng:
            ratio = f"unavailable: {vng['unavailable']}"
        elif ours is None:
            ratio = "unavailable: faultlab x86_64 boots failed"
        else:
            ratio = round(ours / vng["wall"]["median"], 3)
    report["ratio_faultlab_over_vng"] = ratio
    if rates:
        from faultlab.bench_rates import bench_rates

        report["fault_rates"] = bench_rates(platform_names, runs, parent, accel, series=series)
    text = json.dumps(report, indent=2) + "\n"
    (parent / "bench.json").write_text(text)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(text)
    return report, parent
