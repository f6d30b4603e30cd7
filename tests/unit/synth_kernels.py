"""Tiny synthetic kernel files: just enough header for kernel_check to identify them, and
optionally what kernel_info reads: the version banner, an IKCONFIG blob, a bzImage's version
string and compressed payload; and a minimal module (.ko) with a .modinfo section."""

from __future__ import annotations

import gzip
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


def banner(release: str) -> bytes:
    """linux_banner as init/version-timestamp.c builds it, NUL-terminated."""
    return (
        f"Linux version {release} (faultlab@faultlab) (gcc (Debian 12.2.0-14) 12.2.0, "
        "GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Thu Jan  1 00:00:00 "
        "UTC 1970\n\x00"
    ).encode()


def ikconfig(config_text: str) -> bytes:
    """kernel/configs.c's blob: "IKCFG_ST", the gzipped .config, "IKCFG_ED"."""
    return b"IKCFG_ST" + gzip.compress(config_text.encode(), mtime=0) + b"IKCFG_ED"


def contents(release: str | None = None, config_text: str | None = None) -> bytes:
    """Padding and rodata-like strings to put after a synthetic image's header: the printk
    format "Linux version %s" (which must not be taken for a banner), then the banner and the
    IKCONFIG blob when given."""
    out = b"\x00" * 64 + b"%s version %s (faultlab@faultlab)\x00Linux version %s\n\x00"
    if release is not None:
        out += b"\x00" * 13 + banner(release)
    if config_text is not None:
        out += b"\x00" * 7 + ikconfig(config_text)
    return out + b"\x00" * 64


def x86_64_vmlinux(pvh: bool = True, extra: bytes = b"") -> bytes:
    notes = _note(b"GNU", 3, b"\x01" * 20, "<")
    if pvh:
        notes += _note(b"Xen", 18, struct.pack("<I", 0x1000000), "<")
    return elf64(EM_X86_64, notes=notes) + extra


def aarch64_vmlinux() -> bytes:
    return elf64(EM_AARCH64)


def ppc64le_vmlinux(extra: bytes = b"") -> bytes:
    return elf64(EM_PPC64, little=True) + extra


def ppc64be_vmlinux() -> bytes:
    return elf64(EM_PPC64, little=False)


def i386_elf() -> bytes:
    return elf64(EM_386, elf_class=1)


def arm64_image(big_endian: bool = False, extra: bytes = b"") -> bytes:
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
    return header + b"\x00" * (0x400 - len(header)) + extra


def bzimage(version: str | None = None, payload: bytes | None = None) -> bytes:
    """A bzImage: boot sector and setup header (one setup sector), then the protected-mode part.
    `version`: the kernel_version string (at 0x300, pointed to from 0x20e); `payload`: the
    compressed kernel, described by payload_offset/payload_length (boot protocol 2.15)."""
    data = bytearray(0x400)
    data[0:2] = b"MZ"
    data[0x1F1] = 1  # setup_sects: the protected-mode code starts at (1 + 1) * 512
    data[0x1FE:0x200] = b"\x55\xaa"
    data[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", data, 0x206, 0x020F if (version or payload) else 0)
    if version is not None:
        text = version.encode() + b"\x00"
        data[0x300 : 0x300 + len(text)] = text
        struct.pack_into("<H", data, 0x20E, 0x300 - 0x200)
    if payload is None:
        return bytes(data)
    head = b"\x00" * 0x80  # the decompressor's code before the payload
    struct.pack_into("<II", data, 0x248, len(head), len(payload))
    return bytes(data) + head + payload + struct.pack("<I", 0x1234567)  # + trailing size word


def kernel_module(vermagic: str | None, name: str = "faultlab_dma") -> bytes:
    """A relocatable ELF64 (x86_64) with sections NULL, .modinfo, .shstrtab."""
    info = f"license=GPL\x00name={name}\x00".encode()
    if vermagic is not None:
        info += f"vermagic={vermagic}\x00".encode()
    shstrtab = b"\x00.modinfo\x00.shstrtab\x00"
    info_off = 64
    shstr_off = info_off + len(info)
    sh_off = (shstr_off + len(shstrtab) + 7) & ~7
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\x00" * 8
    header += struct.pack("<HHIQQQIHHHHHH", 1, EM_X86_64, 1, 0, 0, sh_off, 0, 64, 0, 0, 64, 3, 2)
    body = header + info + shstrtab
    body += b"\x00" * (sh_off - len(body))

    def shdr(name_off: int, sh_type: int, offset: int, size: int) -> bytes:
        return struct.pack("<IIQQQQIIQQ", name_off, sh_type, 0, 0, offset, size, 0, 0, 1, 0)

    body += shdr(0, 0, 0, 0)
    body += shdr(1, 1, info_off, len(info))  # SHT_PROGBITS
    body += shdr(10, 3, shstr_off, len(shstrtab))  # SHT_STRTAB
    return body


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
