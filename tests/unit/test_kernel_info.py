"""kernel_info: release and embedded config read from synthetic images, .config parsing."""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import pytest

import synth_kernels as sk
from faultlab.errors import KernelFormatError
from faultlab.kernel_check import identify_kernel
from faultlab.kernel_info import (
    built_modules,
    embedded_config,
    kernel_release,
    module_release,
    module_vermagic,
    parse_config,
    release_version,
    series_of,
)

pytestmark = pytest.mark.unit

CONFIG = """\
#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_64BIT=y
CONFIG_LOCALVERSION="-faultlab"
CONFIG_NR_CPUS=8
CONFIG_PHYSICAL_START=0x1000000
CONFIG_VIRTIO_NET=m
# CONFIG_SWAP is not set
CONFIG_IKCONFIG=y
"""
RELEASE = "6.12.117-faultlab"


def test_parse_config() -> None:
    assert parse_config(CONFIG) == {
        "CONFIG_64BIT": "y",
        "CONFIG_LOCALVERSION": '"-faultlab"',
        "CONFIG_NR_CPUS": "8",
        "CONFIG_PHYSICAL_START": "0x1000000",
        "CONFIG_VIRTIO_NET": "m",
        "CONFIG_SWAP": "n",
        "CONFIG_IKCONFIG": "y",
    }
    assert parse_config("CONFIG_A=y\n# CONFIG_A is not set\n") == {"CONFIG_A": "n"}
    assert parse_config("# a comment\n\nnot a line\n") == {}


@pytest.mark.parametrize(
    ("release", "series", "version"),
    [
        ("6.12.117-faultlab", "6.12", (6, 12, 117)),
        ("7.3.4-faultlab", "7.3", (7, 3, 4)),
        ("7.3-rc1", "7.3", (7, 3, 0)),
        ("6.13", "6.13", (6, 13, 0)),
        ("10.0.1+", "10.0", (10, 0, 1)),
    ],
)
def test_series_and_version(release: str, series: str, version: tuple[int, int, int]) -> None:
    assert series_of(release) == series
    assert release_version(release) == version


def test_not_a_release() -> None:
    with pytest.raises(ValueError, match="not a kernel release"):
        series_of("%s")


@pytest.mark.parametrize(
    "maker",
    [
        lambda extra: sk.x86_64_vmlinux(extra=extra),
        lambda extra: sk.ppc64le_vmlinux(extra=extra),
        lambda extra: sk.arm64_image(extra=extra),
    ],
    ids=["x86_64-elf", "ppc64le-elf", "arm64-image"],
)
def test_uncompressed_images(tmp_path: Path, maker) -> None:  # type: ignore[no-untyped-def]
    path = sk.write(tmp_path / "k", maker(sk.contents(RELEASE, CONFIG)))
    identify_kernel(path)  # still a kernel kernel_check accepts
    assert kernel_release(path) == RELEASE
    assert embedded_config(path) == parse_config(CONFIG)


def test_format_string_is_not_a_release(tmp_path: Path) -> None:
    path = sk.write(tmp_path / "k", sk.arm64_image(extra=sk.contents(None, None)))
    assert kernel_release(path) is None
    assert embedded_config(path) is None


def test_banner_without_user_at_host(tmp_path: Path) -> None:
    path = sk.write(tmp_path / "k", sk.arm64_image(extra=b"\0Linux version 7.3.4-x (gcc) #1\0"))
    assert kernel_release(path) == "7.3.4-x"


def test_ikconfig_marker_without_gzip_is_skipped(tmp_path: Path) -> None:
    # kernel/configs.c's own code refers to the marker text; only the one before a gzip
    # stream is the blob
    data = b"IKCFG_ST\0IKCFG_ED\0" + sk.contents(RELEASE, CONFIG)
    path = sk.write(tmp_path / "k", sk.ppc64le_vmlinux(extra=data))
    assert embedded_config(path) == parse_config(CONFIG)


def test_bzimage_version_string(tmp_path: Path) -> None:
    version = f"{RELEASE} (faultlab@faultlab) #1 SMP PREEMPT_DYNAMIC Thu Jan  1 00:00:00 UTC 1970"
    path = sk.write(tmp_path / "bzImage", sk.bzimage(version=version))
    assert identify_kernel(path).format == "bzimage"
    assert kernel_release(path) == RELEASE
    assert embedded_config(path) is None  # no payload


@pytest.mark.parametrize(
    "compress",
    [
        lambda b: gzip.compress(b, mtime=0),
        lambda b: lzma.compress(b, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
        lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE),
        bz2.compress,
    ],
    ids=["gzip", "xz", "lzma", "bzip2"],
)
def test_bzimage_payload(tmp_path: Path, compress) -> None:  # type: ignore[no-untyped-def]
    vmlinux = sk.x86_64_vmlinux(extra=sk.contents("7.3.4-faultlab", CONFIG))
    path = sk.write(tmp_path / "bzImage", sk.bzimage(payload=compress(vmlinux)))
    assert embedded_config(path) == parse_config(CONFIG)
    # no version string in the header: the banner in the payload
    assert kernel_release(path) == "7.3.4-faultlab"


def test_bzimage_zstd_payload_is_unreadable(tmp_path: Path) -> None:
    path = sk.write(tmp_path / "bzImage", sk.bzimage(payload=b"\x28\xb5\x2f\xfd" + b"\0" * 64))
    assert embedded_config(path) is None
    assert kernel_release(path) is None


def test_unreadable_and_empty(tmp_path: Path) -> None:
    with pytest.raises(KernelFormatError, match="cannot read kernel"):
        kernel_release(tmp_path / "missing")
    empty = sk.write(tmp_path / "empty", b"")
    assert kernel_release(empty) is None
    assert embedded_config(empty) is None


def test_module_vermagic(tmp_path: Path) -> None:
    magic = f"{RELEASE} SMP preempt mod_unload "
    ko = sk.write(tmp_path / "mods" / "faultlab_dma.ko", sk.kernel_module(magic))
    assert module_vermagic(ko) == magic.strip()
    assert module_release(ko) == RELEASE
    sk.write(tmp_path / "mods" / "faultlab_hcall.ko", sk.kernel_module("7.3.4-faultlab SMP"))
    sk.write(tmp_path / "mods" / "old.ko", sk.kernel_module(None))
    sk.write(tmp_path / "mods" / "junk.ko", b"not an ELF")
    assert built_modules(tmp_path / "mods", RELEASE) == {"faultlab_dma"}
    assert built_modules(tmp_path / "mods", "7.3.4-faultlab") == {"faultlab_hcall"}
    assert built_modules(tmp_path / "none", RELEASE) == set()
