from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import synth_kernels as sk
from faultlab.errors import KernelFormatError
from faultlab.kernel_check import check_kernel, identify_kernel
from faultlab.platforms import get_platform


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.mark.parametrize(
    ("maker", "arch", "fmt", "description"),
    [
        (sk.x86_64_vmlinux, "x86_64", "elf", "an x86_64 ELF"),
        (sk.aarch64_vmlinux, "arm64", "elf", "an arm64 ELF"),
        (sk.ppc64le_vmlinux, "ppc64le", "elf", "a ppc64le ELF"),
        (sk.ppc64be_vmlinux, None, "elf", "a big-endian ppc64 ELF"),
        (sk.i386_elf, None, "elf", "an ELF for EM_386 (32-bit little-endian)"),
        (sk.arm64_image, "arm64", "arm64-image", "an arm64 Image"),
        (sk.bzimage, "x86_64", "bzimage", "an x86 bzImage"),
    ],
)
def test_identify(kdir: Path, maker, arch, fmt, description) -> None:  # type: ignore[no-untyped-def]
    info = identify_kernel(sk.write(kdir / "k", maker()))
    assert (info.arch, info.format, info.description) == (arch, fmt, description)


def test_pvh_note_detected(kdir: Path) -> None:
    assert identify_kernel(sk.write(kdir / "a", sk.x86_64_vmlinux(pvh=True))).pvh is True
    assert identify_kernel(sk.write(kdir / "b", sk.x86_64_vmlinux(pvh=False))).pvh is False


@pytest.mark.parametrize(
    ("platform", "maker"),
    [
        ("x86_64", sk.x86_64_vmlinux),
        ("x86_64", sk.bzimage),
        ("aarch64", sk.arm64_image),
        ("ppc64-powernv", sk.ppc64le_vmlinux),
        ("ppc64-pseries", sk.ppc64le_vmlinux),
    ],
)
def test_accepted(kdir: Path, platform: str, maker) -> None:  # type: ignore[no-untyped-def]
    info = check_kernel(sk.write(kdir / "k", maker()), get_platform(platform))
    assert info.arch == get_platform(platform).kernel_arch


def test_x86_kernel_on_aarch64_is_one_clear_line(kdir: Path) -> None:
    path = sk.write(kdir / "vmlinux", sk.x86_64_vmlinux())
    with pytest.raises(KernelFormatError) as err:
        check_kernel(path, get_platform("aarch64"))
    assert str(err.value) == (
        f"kernel {path} is an x86_64 ELF; platform aarch64 needs an arm64 Image"
    )


@pytest.mark.parametrize(
    ("platform", "maker", "fragment"),
    [
        ("x86_64", sk.arm64_image, "is an arm64 Image; platform x86_64 needs"),
        ("x86_64", sk.ppc64le_vmlinux, "is a ppc64le ELF; platform x86_64 needs"),
        ("aarch64", sk.bzimage, "is an x86 bzImage; platform aarch64 needs an arm64 Image"),
        ("aarch64", sk.aarch64_vmlinux, "QEMU boots arm64 Linux only from"),
        ("ppc64-powernv", sk.ppc64be_vmlinux, "is a big-endian ppc64 ELF; platform"),
        ("ppc64-pseries", sk.x86_64_vmlinux, "needs a ppc64le ELF vmlinux"),
        ("ppc64-pseries", sk.bzimage, "is an x86 bzImage"),
        ("x86_64", sk.i386_elf, "is an ELF for EM_386"),
        ("aarch64", lambda: sk.arm64_image(big_endian=True), "big-endian arm64 Image"),
    ],
)
def test_rejected(kdir: Path, platform: str, maker, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KernelFormatError, match=fragment.replace("(", r"\(")):
        check_kernel(sk.write(kdir / "k", maker()), get_platform(platform))


def test_x86_elf_without_pvh_note_rejected(kdir: Path) -> None:
    path = sk.write(kdir / "vmlinux", sk.x86_64_vmlinux(pvh=False))
    with pytest.raises(KernelFormatError, match="CONFIG_PVH"):
        check_kernel(path, get_platform("x86_64"))


def test_compressed_unknown_empty_truncated(kdir: Path) -> None:
    with pytest.raises(KernelFormatError, match="gzip-compressed"):
        identify_kernel(sk.write(kdir / "Image.gz", gzip.compress(sk.arm64_image())))
    with pytest.raises(KernelFormatError, match="xz-compressed"):
        identify_kernel(sk.write(kdir / "k.xz", b"\xfd7zXZ\x00" + b"\x00" * 100))
    with pytest.raises(KernelFormatError, match="not a kernel faultlab recognises"):
        identify_kernel(sk.write(kdir / "junk", b"hello world" * 100))
    with pytest.raises(KernelFormatError, match="is empty"):
        identify_kernel(sk.write(kdir / "empty", b""))
    with pytest.raises(KernelFormatError, match="damaged or truncated ELF"):
        identify_kernel(sk.write(kdir / "trunc", b"\x7fELF\x02\x01\x01"))
    with pytest.raises(KernelFormatError, match="cannot read"):
        identify_kernel(kdir / "missing")
