"""Where faultlab keeps what it fetches and builds.

Everything built lives in one cache outside the repository: ``$FAULTLAB_CACHE``
or ``~/.cache/faultlab``. This module only names paths; it never creates or
builds anything, so it is safe to import from any tool (standard library only).
"""

from __future__ import annotations

import os
from pathlib import Path

KERNEL_IMAGE = {"x86_64": "vmlinux", "arm64": "Image", "ppc64le": "vmlinux"}
DEFAULT_SERIES = "6.12"  # the kernel series used unless --series says otherwise
KNOWN_ISSUES_ENV = "FAULTLAB_KNOWN_ISSUES"


def repo_root() -> Path:
    """The faultlab checkout this package was imported from."""
    return Path(__file__).resolve().parents[2]


def known_issues_file() -> Path:
    """The known-issue file (known_issues.py): $FAULTLAB_KNOWN_ISSUES, else the checkout's
    guest-kernel/known-issues.toml."""
    env = os.environ.get(KNOWN_ISSUES_ENV)
    if env:
        return Path(env).expanduser()
    return repo_root() / "guest-kernel" / "known-issues.toml"


def cache_dir() -> Path:
    env = os.environ.get("FAULTLAB_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    return Path.home() / ".cache" / "faultlab"


def lock_file() -> Path:
    return repo_root() / "images" / "lock.json"


def downloads_dir() -> Path:
    return cache_dir() / "downloads"


def qemu_build_dir() -> Path:
    return cache_dir() / "qemu" / "build"


def qemu_binary(name: str) -> Path:
    return qemu_build_dir() / name


def firmware_dir() -> Path:
    return cache_dir() / "firmware"


def firmware(name: str) -> Path:
    return firmware_dir() / name


def kernel_dir(arch: str, variant: str | None = None, series: str = DEFAULT_SERIES) -> Path:
    """Where guest-kernel/build.sh and build-modules.sh put one kernel's products:
    kernels/SERIES/ARCH[-VARIANT]/ (image, System.map, .config, kernelrelease,
    modules.cpio.gz, release)."""
    return cache_dir() / "kernels" / series / (f"{arch}-{variant}" if variant else arch)


def kernel(arch: str, variant: str | None = None, series: str = DEFAULT_SERIES) -> Path:
    """The guest kernel image of `arch` (or of its build variant) in `series`."""
    return kernel_dir(arch, variant, series) / KERNEL_IMAGE[arch]


def kernel_build_dir(arch: str, variant: str | None = None, series: str = DEFAULT_SERIES) -> Path:
    """The kbuild output directory of one of the bench's kernels."""
    name = f"build-{arch}-{variant}" if variant else f"build-{arch}"
    return cache_dir() / "linux" / series / name


def tree_modules_dir(key: str) -> Path:
    """build-modules.sh products for a user's kernel tree (--kernel-tree), by cache key."""
    return cache_dir() / "trees" / key


def composed_initrd_dir() -> Path:
    """Base initramfs + a kernel's modules overlay, concatenated once per content."""
    return cache_dir() / "images" / "composed"


def initramfs(arch: str) -> Path:
    return cache_dir() / "images" / arch / "initramfs.cpio.gz"


def ssh_key() -> Path:
    return cache_dir() / "ssh" / "id_ed25519"


def manifest(component: str) -> Path:
    """JSON written by a build: at least ``version`` and ``built_seconds``."""
    return cache_dir() / "manifests" / f"{component}.json"


def resolved_file() -> Path:
    """Versions actually used where the pinned one was no longer served."""
    return cache_dir() / "resolved.json"
