"""Tiny synthetic kernel files: just enough header for kernel_check to identify them."""

from __future__ import annotations

import struct
from pathlib import Path

EM_X86_64 = 62
EM_AARCH64 = 183
EM_PPC64 = 21
EM_386 = 3
PT_NOTE = 4


def _note(name: bytes, ntype: int, desc: bytes, endian: str) -> bytes:
    name_z = name + b"\x00"
    pad = lambda b: b + b"\x00" * (-len(b) % 4)  # noqa: E731
    return struct.pack(endian + "III", len(name_z), len(desc), ntype) + pad(name_z) + pad(desc)


def elf64(
    machine: int,
    *,
    little: bool = True,
    notes: bytes = b"",
    elf_class: int = 2,
) -> bytes:
    """An ELF64 (or ELF32 header if elf_class=1) executable header, optionally with one PT_NOTE."""
    endian = "<" if little else ">"
    ident = b"\x7fELF" + bytes([elf_class, 1 if little else 2, 1, 0]) + b"\x00" * 8
    if elf_class == 1:
        header = ident + struct.pack(
            endian + "HHIIIIIHHHHHH", 2, machine, 1, 0x1000, 0, 0, 0, 52, 32, 0, 40, 0, 0
        )
        return header
    phnum = 1 if notes else 0
    phoff = 64 if notes else 0
    header = ident + struct.pack(
        endian + "HHIQQQIHHHHHH", 2, machine, 1, 0x1000000, phoff, 0, 0, 64, 56, phnum, 64, 0, 0
    )
    if not notes:
        return header
    note_off = 64 + 56
    phdr = struct.pack(endian + "IIQQQQQQ", PT_NOTE, 4, note_off, 0, 0, len(notes), len(notes), 4)
    return header + phdr + notes


def x86_64_vmlinux(pvh: bool = True) -> bytes:
    notes = _note(b"GNU", 3, b"\x01" * 20, "<")
    if pvh:
        notes += _note(b"Xen", 18, struct.pack("<I", 0x1000000), "<")
    return elf64(EM_X86_64, notes=notes)


def aarch64_vmlinux() -> bytes:
    return elf64(EM_AARCH64)


def ppc64le_vmlinux() -> bytes:
    return elf64(EM_PPC64, little=True)


def ppc64be_vmlinux() -> bytes:
    return elf64(EM_PPC64, little=False)


def i386_elf() -> bytes:
    return elf64(EM_386, elf_class=1)


def arm64_image(big_endian: bool = False) -> bytes:
    """arm64 Image header (Documentation/arch/arm64/booting.rst), 64 bytes + padding."""
    flags = 1 if big_endian else 0
    header = struct.pack(
        "<IIQQQQQQ4sI",
        0x91005A4D,  # code0 (add x13, x18, #0x16 = "MZ" for EFI stub)
        0x14000000,  # code1 (b stext)
        0,  # text_offset
        0x1000000,  # image_size
        flags,
        0,  # res2
        0,  # res3
        0,  # res4
        b"ARM\x64",  # magic at 0x38
        0,
    )
    return header + b"\x00" * (0x400 - len(header))


def bzimage() -> bytes:
    data = bytearray(0x400)
    data[0:2] = b"MZ"
    data[0x1FE:0x200] = b"\x55\xaa"
    data[0x202:0x206] = b"HdrS"
    return bytes(data)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
