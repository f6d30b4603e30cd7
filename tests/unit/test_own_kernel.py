"""A user's kernel: --kernel-tree and --kernel, checked before anything boots."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import synth_kernels as sk
from fakes import FakeCache, fragment_config
from faultlab import paths
from faultlab.guest_kernel import compose_initrd, tree_cache_key, tree_kernel
from faultlab.platforms import get_platform

pytestmark = pytest.mark.unit


def make_tree(root: Path, config: str, release: str = "7.3.4-mine", symvers: bool = False) -> Path:
    """What `make O=root` leaves that faultlab reads: .config, the release, the Image."""
    (root / "include" / "config").mkdir(parents=True)
    (root / "include" / "config" / "kernel.release").write_text(release + "\n")
    (root / ".config").write_text(config)
    sk.write(root / "arch" / "arm64" / "boot" / "Image", sk.arm64_image())
    if symvers:
        (root / "Module.symvers").write_text("0x1\tsym\tvmlinux\tEXPORT_SYMBOL\t\n")
    return root


def without(config: str, option: str) -> str:
    return "".join(ln for ln in config.splitlines(True) if not ln.startswith(f"{option}="))


def test_tree_without_an_option_is_not_run_naming_it(cache: FakeCache) -> None:
    cache.populate()
    config = without(fragment_config("arm64", None, "7.3"), "CONFIG_ARM_SMMU_V3_SVA")
    tree = make_tree(cache.root / "mytree", config)
    proc = cache.cli("run", "smmu/stall-retry", "--kernel-tree", str(tree))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if "NOT RUN" in ln]
    assert line.startswith("smmu/stall-retry: NOT RUN")
    assert "CONFIG_ARM_SMMU_V3_SVA=y is not set" in line
    assert "module faultlab_dma" in line and "Module.symvers" in line
    assert not cache.result_dirs(), "nothing was booted"


def test_tree_reads_release_config_and_describe(tmp_path: Path) -> None:
    config = fragment_config("arm64", None, "7.3")
    tree = make_tree(tmp_path / "t", config)
    gk = tree_kernel(tree, get_platform("aarch64"), build_modules=False)
    assert (gk.source, gk.release, gk.series) == ("tree", "7.3.4-mine", "7.3")
    assert gk.config is not None and gk.config["CONFIG_ARM_SMMU_V3_SVA"] == "y"
    assert gk.image == tree / "arch" / "arm64" / "boot" / "Image"
    assert gk.modules_error and "Module.symvers" in gk.modules_error


def test_tree_cache_key_follows_release_config_and_symvers(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", "CONFIG_A=y\n", symvers=True)
    key = tree_cache_key(tree)
    assert key.startswith("7.3.4-mine-") and key == tree_cache_key(tree)
    (tree / "Module.symvers").write_text("0x2\tsym\tvmlinux\tEXPORT_SYMBOL\t\n")
    key2 = tree_cache_key(tree)
    assert key2 != key
    (tree / ".config").write_text("CONFIG_A=m\n")
    assert tree_cache_key(tree) not in (key, key2)


def test_tree_for_another_arch_is_refused(tmp_path: Path, cache: FakeCache) -> None:
    cache.populate()
    tree = make_tree(cache.root / "t", fragment_config("arm64", None, "7.3"))
    proc = cache.cli("boot", "x86_64", "--kernel-tree", str(tree))
    assert proc.returncode == 3
    assert "has no vmlinux or arch/x86/boot/bzImage" in proc.stderr


def test_compose_appends_the_overlay_once(cache: FakeCache) -> None:
    base = cache.root / "base.cpio.gz"
    overlay = cache.root / "overlay.cpio.gz"
    base.write_bytes(gzip.compress(b"base"))
    overlay.write_bytes(gzip.compress(b"overlay"))
    composed = compose_initrd(base, overlay)
    assert composed.parent == paths.composed_initrd_dir()
    assert gzip.decompress(composed.read_bytes()) == b"baseoverlay"  # two gzip members
    assert compose_initrd(base, overlay) == composed
    assert compose_initrd(base, None) == base
    overlay.write_bytes(gzip.compress(b"other overlay"))
    assert compose_initrd(base, overlay) != composed


def test_series_selects_the_kernel_and_unknown_series_is_bad_input(cache: FakeCache) -> None:
    cache.populate()
    proc = cache.cli("boot", "x86_64", "--series", "9.9", "--", "true")
    assert proc.returncode == 3 and "unknown kernel series '9.9'" in proc.stderr
    proc = cache.cli("boot", "x86_64", "--series", "7.3", "--", "true")
    assert proc.returncode == 3
    assert "make kernel-x86_64 SERIES=7.3" in proc.stderr
