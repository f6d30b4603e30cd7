"""Identify what kind of kernel a file is, and whether a platform can boot it.

Recognised formats:
  * ELF (pyelftools): EM_X86_64, EM_AARCH64, EM_PPC64 (little or big endian), anything else
    is reported by its machine name;
  * arm64 ``Image``: magic b"ARM\\x64" at 0x38;
  * x86 ``bzImage``: "HdrS" at 0x202;
  * compressed files (gzip, xz, zstd, bzip2, lz4, lzma) are refused with a hint.

QEMU boots an x86_64 ELF vmlinux only through PVH, so an x86_64 ELF must carry the Xen
PHYS32_ENTRY ELF note (CONFIG_PVH=y). QEMU's arm loader treats an ELF as a bare-metal
program (no DTB pointer in x0), so arm64 Linux must be given as the raw Image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from faultlab.errors import KernelFormatError
from faultlab.platforms import Platform

ARM64_IMAGE_MAGIC_OFFSET = 0x38
ARM64_IMAGE_MAGIC = b"ARM\x64"
BZIMAGE_MAGIC_OFFSET = 0x202
BZIMAGE_MAGIC = b"HdrS"
XEN_ELFNOTE_PHYS32_ENTRY = 18

_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x02\x21\x4c\x18", "lz4 (legacy)"),
    (b"\x5d\x00\x00", "lzma"),
)

_ELF_ARCH = {"EM_X86_64": "x86_64", "EM_AARCH64": "arm64"}


@dataclass(frozen=True)
class KernelInfo:
    path: Path
    format: str  # "elf" | "arm64-image" | "bzimage"
    arch: str | None  # "x86_64" | "arm64" | "ppc64le"; None for foreign ELF/unsupported
    description: str  # e.g. "an x86_64 ELF"
    machine: str | None = None  # ELF e_machine
    pvh: bool | None = None  # x86_64 ELF only: has the PVH entry note

    def as_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "format": self.format,
            "arch": self.arch,
            "description": self.description,
            "elf_machine": self.machine,
            "pvh": self.pvh,
        }


def _has_pvh_note(elf: ELFFile) -> bool:
    """True if a PT_NOTE segment holds the Xen PHYS32_ENTRY note (what QEMU's PVH loader needs)."""
    endian = "<" if elf.little_endian else ">"
    for segment in elf.iter_segments():
        if segment["p_type"] != "PT_NOTE":
            continue
        data = segment.data()
        offset = 0
        while offset + 12 <= len(data):
            namesz, descsz, ntype = struct.unpack_from(endian + "III", data, offset)
            offset += 12
            name = data[offset : offset + namesz].rstrip(b"\x00")
            offset += (namesz + 3) & ~3
            offset += (descsz + 3) & ~3
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
    return False


def _identify_elf(path: Path, stream: BinaryIO) -> KernelInfo:
    try:
        elf = ELFFile(stream)
        machine = str(elf.header["e_machine"])
        little = bool(elf.little_endian)
        bits = int(elf.elfclass)
    except (ELFError, struct.error, ValueError) as exc:
        raise KernelFormatError(
            f"kernel {path} is a damaged or truncated ELF file ({exc})"
        ) from None
    if machine == "EM_PPC64":
        if little:
            return KernelInfo(path, "elf", "ppc64le", "a ppc64le ELF", machine)
        return KernelInfo(path, "elf", None, "a big-endian ppc64 ELF", machine)
    arch = _ELF_ARCH.get(machine)
    if arch is None or bits != 64 or not little:
        detail = f"{bits}-bit {'little' if little else 'big'}-endian"
        return KernelInfo(path, "elf", None, f"an ELF for {machine} ({detail})", machine)
    pvh = _has_pvh_note(elf) if arch == "x86_64" else None
    return KernelInfo(path, "elf", arch, f"an {arch} ELF", machine, pvh)


def identify_kernel(path: Path) -> KernelInfo:
    """Say what `path` is; raise KernelFormatError for unreadable/compressed/unknown files."""
    try:
        with path.open("rb") as stream:
            head = stream.read(0x400)
            if head[:4] == b"\x7fELF":
                stream.seek(0)
                return _identify_elf(path, stream)
    except OSError as exc:
        raise KernelFormatError(f"cannot read kernel {path}: {exc.strerror or exc}") from None
    magic = head[ARM64_IMAGE_MAGIC_OFFSET : ARM64_IMAGE_MAGIC_OFFSET + 4]
    if magic == ARM64_IMAGE_MAGIC:
        flags = struct.unpack_from("<Q", head, 0x18)[0]  # bit 0: kernel endianness (1 = BE)
        if flags & 1:
            return KernelInfo(path, "arm64-image", None, "a big-endian arm64 Image")
        return KernelInfo(path, "arm64-image", "arm64", "an arm64 Image")
    if head[BZIMAGE_MAGIC_OFFSET : BZIMAGE_MAGIC_OFFSET + 4] == BZIMAGE_MAGIC:
        return KernelInfo(path, "bzimage", "x86_64", "an x86 bzImage")
    for prefix, kind in _COMPRESSED:
        if head.startswith(prefix):
            raise KernelFormatError(
                f"kernel {path} is {kind}-compressed; give the uncompressed kernel "
                "(vmlinux, arch/arm64/boot/Image or bzImage)"
            )
    if not head:
        raise KernelFormatError(f"kernel {path} is empty")
    raise KernelFormatError(
        f"kernel {path} is not a kernel faultlab recognises (not ELF, arm64 Image or bzImage)"
    )


def check_kernel(path: Path, platform: Platform) -> KernelInfo:
    """Identify `path` and make sure `platform` can boot it; raise KernelFormatError if not."""
    info = identify_kernel(path)
    if info.arch == platform.kernel_arch and info.format in platform.kernel_formats:
        if info.format == "elf" and info.arch == "x86_64" and info.pvh is False:
            raise KernelFormatError(
                f"kernel {path} is an x86_64 ELF without a PVH entry note; QEMU can only boot "
                "an ELF vmlinux built with CONFIG_PVH=y (or give a bzImage)"
            )
        return info
    if info.arch == platform.kernel_arch:  # right arch, wrong container (arm64 ELF vmlinux)
        raise KernelFormatError(
            f"kernel {path} is {info.description}; platform {platform.name} needs "
            f"{platform.kernel_needs} (QEMU boots arm64 Linux only from arch/arm64/boot/Image)"
        )
    raise KernelFormatError(
        f"kernel {path} is {info.description}; platform {platform.name} needs "
        f"{platform.kernel_needs}"
    )
