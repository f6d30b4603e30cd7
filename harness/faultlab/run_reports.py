"""The reports of a `faultlab run`: KTAP always, KCIDB on request (the CLI's glue).

`faultlab run` writes KTAP (ktap.py) to ``results.ktap`` in the results parent (``--results
DIR``, $FAULTLAB_RESULTS, ./results), or to ``--ktap FILE`` (``-``: stdout, after the run's
own lines), and with ``--kcidb FILE`` (``-``: stdout) a KCIDB v5.3 report (kcidb.py),
checked against kcidb-io's schema when kcidb-io is installed (it is pinned in the lock).

A scenario that did not boot has no result.json to say which kernel it was for; what the
cache says of that kernel (its release, .config hash and build manifest, read from files,
nothing built) goes into its KCIDB test instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faultlab import errors, kcidb, ktap, paths
from faultlab.platforms import get_platform
from faultlab.result import read_manifest, results_parent
from faultlab.run_record import ScenarioRecord

KTAP_FILE = "results.ktap"
STDOUT = "-"


def report_path(value: str) -> str:
    """An argparse type: ``-`` or a file path that is not a directory."""
    if value == STDOUT:
        return value
    if not value:
        raise argparse.ArgumentTypeError("an empty path")
    if Path(value).expanduser().is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a directory")
    return value


def add_options(run: argparse.ArgumentParser) -> None:
    """`faultlab run --ktap FILE --kcidb FILE`."""
    run.add_argument(
        "--ktap",
        type=report_path,
        metavar="FILE",
        help=f"write the run as KTAP here (default: {KTAP_FILE} in the results parent; "
        "- for stdout)",
    )
    run.add_argument(
        "--kcidb",
        type=report_path,
        metavar="FILE",
        help="also write the run as a KCIDB v5.3 JSON report (- for stdout)",
    )


def run_id(records: Sequence[ScenarioRecord]) -> str:
    """Unique to this run: its start and a random part."""
    start = records[0].started_utc if records else datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stamp = start.replace("-", "").replace(":", "")
    return f"run-{stamp}-{uuid.uuid4().hex[:12]}"


# -- what the cache says of a kernel nothing booted -------------------------------------------
def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _series_of(release: str | None) -> str | None:
    from faultlab.kernel_info import series_of

    try:
        return series_of(release) if release else None
    except ValueError:
        return None


def kernel_facts(
    platform: str,
    variant: str | None,
    series: str,
    kernel: Path | None = None,
    kernel_tree: Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(guest_kernel, build manifest) as result.json would have them, from files only; empty
    when the kernel is not there."""
    arch = get_platform(platform).kernel_arch
    facts: dict[str, Any]
    if kernel_tree is not None:
        tree = kernel_tree.expanduser()
        release = _read(tree / "include" / "config" / "kernel.release")
        if release is None:
            return {}, {}
        facts = {"source": "tree", "tree": str(tree), "release": release}
        facts |= {"series": _series_of(release), "config_sha256": _sha256(tree / ".config")}
        return facts, {}
    if kernel is not None:
        from faultlab.kernel_info import kernel_release

        try:
            release = kernel_release(kernel)
        except (OSError, errors.FaultlabError):
            return {}, {}
        facts = {"source": "image", "image": str(kernel), "release": release}
        return facts | {"series": _series_of(release)}, {}
    image = paths.kernel(arch, variant, series)
    if not image.is_file():
        return {"series": series, "variant": variant}, {}
    kdir = paths.kernel_dir(arch, variant, series)
    facts = {
        "source": "bench",
        "image": str(image),
        "release": _read(kdir / "release"),
        "series": series,
        "variant": variant,
        "config_sha256": _sha256(kdir / ".config"),
    }
    manifest = read_manifest(f"kernel-{series}-{arch}{'-' + variant if variant else ''}")
    return facts, manifest


def with_kernel_facts(record: ScenarioRecord, args: argparse.Namespace) -> ScenarioRecord:
    """`record` with what the cache says of its kernel and QEMU, when it has no result."""
    if record.guest_kernel and record.qemu_manifest:
        return record
    from faultlab.scenario import load_scenarios

    sc = load_scenarios().get(record.scenario)
    own = args.kernel is not None or args.kernel_tree is not None
    variant = sc.kernel_variant if sc is not None and not own else None
    guest_kernel, manifest = record.guest_kernel, record.kernel_manifest
    if not guest_kernel:
        guest_kernel, manifest = kernel_facts(
            record.platform, variant, args.series, args.kernel, args.kernel_tree
        )
    return dataclasses.replace(
        record,
        guest_kernel=guest_kernel,
        kernel_manifest=manifest,
        qemu_manifest=record.qemu_manifest or read_manifest("qemu"),
    )


# -- writing ----------------------------------------------------------------------------------
def _write(target: str, text: str) -> str:
    """Write `text` to `target` (``-``: stdout) whole or not at all; where it went."""
    if target == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return "stdout"
    path = Path(target).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return str(path)


def write(records: Sequence[ScenarioRecord], args: argparse.Namespace) -> list[int]:
    """Write the run's KTAP, and its KCIDB report when asked; the exit codes of what went
    wrong (none: everything was written)."""
    codes: list[int] = []
    ktap_target = args.ktap or str(results_parent(args.results) / KTAP_FILE)
    try:
        where = _write(ktap_target, ktap.render(records))
        print(f"faultlab: KTAP in {where}", file=sys.stderr)
    except OSError as exc:
        print(f"faultlab: cannot write KTAP to {ktap_target}: {exc}", file=sys.stderr)
        codes.append(errors.EXIT_HARNESS_ERROR)
    if args.kcidb:
        data = kcidb.report([with_kernel_facts(r, args) for r in records], run_id(records))
        problem = kcidb.validate(data)
        if problem:  # a harness bug: write it anyway, for the bug report
            print(f"faultlab: the KCIDB report is not valid v5.3: {problem}", file=sys.stderr)
            codes.append(errors.EXIT_HARNESS_ERROR)
        try:
            where = _write(args.kcidb, json.dumps(data, indent=2) + "\n")
            print(f"faultlab: KCIDB report in {where}", file=sys.stderr)
        except OSError as exc:
            print(f"faultlab: cannot write KCIDB to {args.kcidb}: {exc}", file=sys.stderr)
            codes.append(errors.EXIT_HARNESS_ERROR)
    return codes
