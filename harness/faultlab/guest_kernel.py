"""Which kernel a boot uses, and what comes with it.

Three sources, resolved before anything is booted:

* ``bench``: one of the bench's own kernels, by series and variant
  (``kernels/SERIES/ARCH[-VARIANT]/``), with the overlay of our modules that
  guest-kernel/build-modules.sh built against it;
* ``image``: a kernel image a user gave with ``--kernel``: its release and (with
  CONFIG_IKCONFIG) its config are read from the file; no modules of ours fit it;
* ``tree``: a user's built kernel tree (``--kernel-tree DIR``): its image, its
  ``.config``, and our modules built against it (cached by release and by the
  tree's .config and Module.symvers), plus its ``modules_install`` output.

The harness appends the kernel's overlay (``/lib/modules/<release>`` and
``/opt/faultlab/modules``) to the base initramfs, so the guest always carries
modules built for the kernel that boots.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultlab import paths
from faultlab.errors import KernelFormatError, MissingArtifactError, UsageError
from faultlab.kernel_check import check_kernel
from faultlab.kernel_info import embedded_config, kernel_release, parse_config, series_of
from faultlab.platforms import Platform

# Where a built tree keeps the image QEMU boots, per kernel arch, in order of preference.
TREE_IMAGES = {
    "x86_64": ("vmlinux", "arch/x86/boot/bzImage"),
    "arm64": ("arch/arm64/boot/Image",),
    "ppc64le": ("vmlinux",),
}
_COMPOSED_KEEP = 24  # composed initramfs files kept in the cache


@dataclass(frozen=True)
class GuestKernel:
    image: Path
    source: str  # "bench" | "image" | "tree"
    release: str | None
    series: str | None
    variant: str | None = None
    config: Mapping[str, str] | None = None  # None: unknown before boot
    modules: frozenset[str] = frozenset()  # our modules built for this kernel
    overlay: Path | None = None  # modules.cpio.gz appended to the initramfs
    modules_error: str | None = None  # why our modules could not be built for it
    tree: Path | None = None
    git_describe: str | None = None
    config_sha256: str | None = None

    @property
    def is_default(self) -> bool:
        return self.source == "bench"

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "image": str(self.image),
            "release": self.release,
            "series": self.series,
            "variant": self.variant,
            "config": "known" if self.config is not None else "unknown before boot",
            "config_sha256": self.config_sha256,
            "modules": sorted(self.modules),
            "modules_error": self.modules_error,
            "tree": str(self.tree) if self.tree else None,
            "git_describe": self.git_describe,
        }


def _sha256(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()


def _modules_in(directory: Path) -> frozenset[str]:
    return frozenset(p.stem for p in directory.glob("*.ko")) if directory.is_dir() else frozenset()


def pinned_series() -> list[str]:
    """The kernel series the lock pins (entries linux-source-SERIES), default first."""
    from faultlab import lock

    found = [
        e.id.removeprefix("linux-source-")
        for e in lock.load().entries
        if e.id.startswith("linux-source-")
    ]
    return sorted(found, key=lambda s: (s != paths.DEFAULT_SERIES, [int(x) for x in s.split(".")]))


def check_series(series: str) -> str:
    known = pinned_series()
    if series not in known:
        raise UsageError(f"unknown kernel series {series!r} (pinned: {', '.join(known)})")
    return series


def bench_kernel(platform: Platform, series: str, variant: str | None = None) -> GuestKernel:
    """One of the bench's kernels, with its modules overlay; raise if it is not built."""
    arch = platform.kernel_arch
    kdir = paths.kernel_dir(arch, variant, series)
    image = paths.kernel(arch, variant, series)
    name = f"kernel-{arch}{'-' + variant if variant else ''}"
    target = f"make {name}" + (f" SERIES={series}" if series != paths.DEFAULT_SERIES else "")
    for need in (image, kdir / "modules.cpio.gz", kdir / "release"):
        if not need.is_file():
            what = "kernel" if need == image else f"kernel {need.name}"
            raise MissingArtifactError(
                f"missing {what} {need} for {platform.name}, series {series} "
                f"(build it with `{target}`)"
            )
    config_file = kdir / ".config"
    config = parse_config(config_file.read_text()) if config_file.is_file() else None
    return GuestKernel(
        image=image,
        source="bench",
        release=(kdir / "release").read_text().strip(),
        series=series,
        variant=variant,
        config=config,
        modules=_modules_in(kdir / "modules"),
        overlay=kdir / "modules.cpio.gz",
        config_sha256=_sha256(config_file) if config_file.is_file() else None,
    )


def image_kernel(image: Path, platform: Platform) -> GuestKernel:
    """A kernel image given alone: what can be read from the file, and no modules of ours."""
    check_kernel(image, platform)
    release = kernel_release(image)
    config = embedded_config(image)
    return GuestKernel(
        image=image,
        source="image",
        release=release,
        series=series_of(release) if release else None,
        config=config,
        modules_error=(
            "no modules of faultlab are built for a kernel given with --kernel alone "
            "(give its build tree with --kernel-tree DIR and faultlab builds them)"
        ),
    )


def _git_describe(tree: Path) -> str | None:
    for d in (tree, (tree / "source").resolve() if (tree / "source").exists() else None):
        if d is None or not (d / ".git").exists():
            continue
        try:
            out = subprocess.run(
                ["git", "-C", str(d), "describe", "--always", "--dirty", "--tags"],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() or None
    return None


def tree_image(tree: Path, platform: Platform) -> Path:
    for rel in TREE_IMAGES[platform.kernel_arch]:
        if (tree / rel).is_file():
            return tree / rel
    wanted = " or ".join(TREE_IMAGES[platform.kernel_arch])
    raise MissingArtifactError(
        f"kernel tree {tree} has no {wanted} for {platform.name}: build it first (make)"
    )


def tree_kernel(tree: Path, platform: Platform, *, build_modules: bool = True) -> GuestKernel:
    """A user's built tree: image, .config, release, git describe, and our modules for it."""
    tree = tree.expanduser().resolve()
    if not tree.is_dir():
        raise UsageError(f"--kernel-tree {tree} is not a directory")
    config_file = tree / ".config"
    release_file = tree / "include" / "config" / "kernel.release"
    if not config_file.is_file() or not release_file.is_file():
        raise MissingArtifactError(
            f"{tree} is not a configured, built kernel tree (no .config or "
            "include/config/kernel.release): build it first (make)"
        )
    image = tree_image(tree, platform)
    try:
        check_kernel(image, platform)
    except KernelFormatError as exc:
        raise KernelFormatError(f"--kernel-tree {tree}: {exc}") from None
    release = release_file.read_text().strip()
    config = parse_config(config_file.read_text())
    config_sha = _sha256(config_file)
    modules: frozenset[str] = frozenset()
    overlay: Path | None = None
    error: str | None = None
    symvers = tree / "Module.symvers"
    if not symvers.is_file():
        error = f"{tree} has no Module.symvers (run `make modules` in it)"
    elif build_modules:
        key = (
            f"{release}-{hashlib.sha256((config_sha + _sha256(symvers)).encode()).hexdigest()[:12]}"
        )
        out = paths.tree_modules_dir(key)
        error = _build_tree_modules(tree, platform.kernel_arch, out)
        if error is None:
            modules = _modules_in(out / "modules")
            overlay = out / "modules.cpio.gz"
    return GuestKernel(
        image=image,
        source="tree",
        release=release,
        series=series_of(release),
        config=config,
        modules=modules,
        overlay=overlay,
        modules_error=error,
        tree=tree,
        git_describe=_git_describe(tree),
        config_sha256=config_sha,
    )


def tree_cache_key(tree: Path) -> str:
    """Where our modules for a user's tree are cached: by its release and by the content of
    its .config and Module.symvers (a rebuilt tree with another ABI gets other modules)."""
    release = (tree / "include" / "config" / "kernel.release").read_text().strip()
    digest = hashlib.sha256(
        (_sha256(tree / ".config") + _sha256(tree / "Module.symvers")).encode()
    ).hexdigest()
    return f"{release}-{digest[:12]}"


def _build_tree_modules(tree: Path, arch: str, out: Path) -> str | None:
    """Run build-modules.sh for a user's tree; None on success, else why it failed."""
    script = paths.repo_root() / "guest-kernel" / "build-modules.sh"
    print(f"faultlab: building faultlab's modules against {tree}", file=sys.stderr, flush=True)
    proc = subprocess.run(
        [str(script), "--tree", str(tree), "--out", str(out), arch],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-4:])
        return f"faultlab's modules do not build against {tree}: {tail}"
    return None


def compose_initrd(base: Path, overlay: Path | None) -> Path:
    """The base initramfs with `overlay` appended (Linux unpacks concatenated cpio
    archives in order), made once per content and kept in the cache."""
    if overlay is None:
        return base
    parts = []
    for p in (base, overlay):
        st = p.stat()
        parts.append(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]
    directory = paths.composed_initrd_dir()
    target = directory / f"{key}.cpio.gz"
    if target.is_file():
        os.utime(target)  # most recently used
        return target
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{key}.{os.getpid()}.tmp"
    with tmp.open("wb") as out:
        for p in (base, overlay):
            out.write(p.read_bytes())
    tmp.replace(target)
    old = sorted(directory.glob("*.cpio.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in old[_COMPOSED_KEEP:]:
        stale.unlink(missing_ok=True)
    return target


def resolve_guest_kernel(
    platform: Platform,
    kernel: Path | None = None,
    kernel_tree: Path | None = None,
    series: str = paths.DEFAULT_SERIES,
    variant: str | None = None,
) -> GuestKernel:
    """The kernel a boot uses: a user's tree, a user's image, or the bench's own."""
    if kernel is not None and kernel_tree is not None:
        raise UsageError("give --kernel or --kernel-tree, not both")
    if kernel_tree is not None:
        return tree_kernel(kernel_tree, platform)
    if kernel is not None:
        if not kernel.is_file():
            raise MissingArtifactError(f"kernel {kernel} does not exist")
        return image_kernel(kernel, platform)
    return bench_kernel(platform, check_series(series), variant)
