"""`faultlab --version`: the harness, and the QEMU and kernels built in the cache.

One line each, from the build manifests ($FAULTLAB_CACHE/manifests/): ``qemu`` and
``kernel-SERIES-ARCH[-VARIANT]`` for every series the lock pins, every kernel arch and every
kernel variant a scenario boots; one that is not built says so.
"""

from __future__ import annotations

import argparse
from typing import Any

from faultlab import __version__
from faultlab.result import read_manifest

NOT_BUILT = "not built"


def _used(manifest: dict[str, Any]) -> str:
    """The version a manifest records (``used (pinned P)`` when the pin was not served)."""
    version = manifest.get("version")
    if isinstance(version, dict):
        used, pinned = version.get("used"), version.get("pinned")
        if used and pinned and used != pinned:
            return f"{used} (pinned {pinned})"
        return str(used or pinned or "unknown")
    return str(version) if version else "unknown"


def describe(manifest: dict[str, Any], kernel: bool = False) -> str:
    if "missing" in manifest:
        return NOT_BUILT
    if "unreadable" in manifest:
        return f"unreadable manifest {manifest['unreadable']}: {manifest.get('error')}"
    if not kernel:
        return _used(manifest)
    release = manifest.get("kernelrelease")
    series = manifest.get("series")
    source = f"linux-source-{series} {_used(manifest)}" if series else _used(manifest)
    return f"{release} ({source})" if release else source


def kernel_components() -> list[str]:
    """kernel-SERIES-ARCH[-VARIANT] for each pinned series, kernel arch and variant."""
    from faultlab.guest_kernel import pinned_series
    from faultlab.platforms import PLATFORMS
    from faultlab.scenario import load_scenarios

    arches = list(dict.fromkeys(p.kernel_arch for p in PLATFORMS.values()))
    builds: list[tuple[str, str | None]] = [(arch, None) for arch in arches]
    for sc in load_scenarios().values():
        if sc.kernel_variant:
            build = (PLATFORMS[sc.platform].kernel_arch, sc.kernel_variant)
            if build not in builds:
                builds.append(build)
    return [
        f"kernel-{series}-{arch}{'-' + variant if variant else ''}"
        for series in pinned_series()
        for arch, variant in builds
    ]


def version_lines() -> list[str]:
    lines = [f"faultlab {__version__}", f"qemu {describe(read_manifest('qemu'))}"]
    for component in kernel_components():
        lines.append(f"{component} {describe(read_manifest(component), kernel=True)}")
    return lines


class _VersionAction(argparse.Action):
    """Print `version_lines()` and exit 0 when the option is seen."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print("\n".join(version_lines()))
        parser.exit(0)


def add_option(parser: argparse.ArgumentParser) -> None:
    """`faultlab --version`."""
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the harness version and the QEMU and kernel versions built in the cache",
    )
