"""The test-only kernel patches of guest-kernel/patches/, read from the patch files themselves.

guest-kernel/build.sh applies patches/common/, patches/ARCH/ and patches/ARCH-VARIANT/ to the
kernel tree of ARCH, each only for the series its ``Faultlab-Series:`` header line names. Each
patch adds a Kconfig *marker* (``config FAULTLAB_...``, or the option it introduces such as
``config PSERIES_APF``), so a kernel that carries it shows the marker in its config: that is
how the harness tells whether a kernel has the patch. This module finds, per patch file: the
arch (and variant) of its directory, the series, the marker, the subject and the header's
first paragraph (why it exists). Nothing is hard-coded: a new patch file is picked up as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from faultlab import paths

_SERIES = re.compile(r"^Faultlab-Series:\s*(.*)$")
_SUBJECT = re.compile(r"^Subject:\s*(?:\[PATCH[^\]]*\]\s*)?(.*)$")
_ADDED_CONFIG = re.compile(r"^\+\s*(?:menu)?config\s+(\w+)\s*$")
SERIES_HEADER_LINES = 40  # build.sh reads the header line from the first 40 lines


def patches_dir() -> Path:
    return paths.repo_root() / "guest-kernel" / "patches"


@dataclass(frozen=True)
class KernelPatch:
    path: Path
    arch: str | None  # kernel arch of its directory (x86_64, arm64, ppc64le); None: common/
    variant: str | None  # "apf" for patches/ppc64le-apf/
    series: tuple[str, ...]  # from the Faultlab-Series: line; () when it has none
    marker: str | None  # the Kconfig marker without CONFIG_, None when it adds no option
    subject: str
    reason: tuple[str, ...]  # the header's first paragraph after the subject, line by line

    @staticmethod
    def short_name(marker: str) -> str:
        """A short name from a marker: FAULTLAB_PASID_SWITCH -> pasid-switch."""
        return marker.removeprefix("CONFIG_").removeprefix("FAULTLAB_").lower().replace("_", "-")

    @property
    def name(self) -> str:
        """The marker's short name (the file name's stem for a patch without a marker)."""
        return self.path.stem if self.marker is None else self.short_name(self.marker)

    @property
    def relpath(self) -> str:
        """The path under guest-kernel/patches/ ("x86_64/0002-....patch")."""
        return f"{self.path.parent.name}/{self.path.name}"

    def for_series(self, series: str) -> bool:
        return series in self.series

    def for_arch(self, arch: str) -> bool:
        return self.arch is None or self.arch == arch

    def text(self) -> str:
        return self.path.read_text()


def _directory_arch(name: str) -> tuple[str | None, str | None]:
    if name == "common":
        return None, None
    arch, _, variant = name.partition("-")  # "x86_64" has no hyphen; "ppc64le-apf" has one
    return arch, variant or None


def read_patch(path: Path) -> KernelPatch:
    lines = path.read_text(errors="replace").splitlines()
    series: tuple[str, ...] = ()
    for line in lines[:SERIES_HEADER_LINES]:
        m = _SERIES.match(line)
        if m:
            series = tuple(m[1].split())
            break
    subject = ""
    reason: list[str] = []
    in_body = False
    for line in lines:
        if line == "---" or line.startswith(("diff ", "--- a/", "Index: ")):
            break
        m = _SUBJECT.match(line)
        if m and not subject:
            subject = m[1].strip()
            continue
        if not subject:
            continue
        if not in_body and line[:1] in (" ", "\t") and line.strip():
            subject = f"{subject} {line.strip()}"  # a folded Subject: header
            continue
        if not line.strip():
            if reason:
                break
            in_body = True
            continue
        if in_body:
            reason.append(line.rstrip())
    added = [m[1] for m in map(_ADDED_CONFIG.match, lines) if m]
    ours = [name for name in added if name.startswith("FAULTLAB_")]
    marker = ours[0] if ours else (added[0] if len(added) == 1 else None)
    arch, variant = _directory_arch(path.parent.name)
    return KernelPatch(path, arch, variant, series, marker, subject, tuple(reason))


def _apply_order(path: Path) -> tuple[int, str, str]:
    """build.sh's order: common/, then ARCH/, then ARCH-VARIANT/; files by name."""
    arch, variant = _directory_arch(path.parent.name)
    rank = 0 if arch is None else (2 if variant else 1)
    return rank, path.parent.name, path.name


@lru_cache(maxsize=8)
def _scan(root: Path) -> tuple[KernelPatch, ...]:
    if not root.is_dir():
        return ()
    return tuple(read_patch(p) for p in sorted(root.glob("*/*.patch"), key=_apply_order))


def all_patches(root: Path | None = None) -> tuple[KernelPatch, ...]:
    """Every patch under guest-kernel/patches/*/ (or `root`), in build.sh's apply order."""
    return _scan((root or patches_dir()).resolve())


def by_marker(marker: str, root: Path | None = None) -> list[KernelPatch]:
    """The patch files that add `marker` (one per series version of the patch)."""
    name = marker.removeprefix("CONFIG_")
    return [p for p in all_patches(root) if p.marker == name]


def markers(root: Path | None = None) -> set[str]:
    return {p.marker for p in all_patches(root) if p.marker}


def for_platform_arch(
    arch: str, series: str | None = None, root: Path | None = None
) -> list[KernelPatch]:
    """The patches build.sh applies to `arch` kernels (of `series`, when given)."""
    return [
        p
        for p in all_patches(root)
        if p.for_arch(arch) and (series is None or p.for_series(series))
    ]
