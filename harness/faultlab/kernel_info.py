"""What a kernel image says about itself before it boots: its release and its embedded config.

* release: an uncompressed ELF vmlinux or arm64 ``Image`` holds the banner
  ``Linux version <release> (<user>@<host>) ...`` (init/version-timestamp.c); some images also
  hold the format string ``Linux version %s``, so a match must have a release-looking token
  (``6.12.117-faultlab``). A bzImage's setup header points at its version string
  (``kernel_version`` at 0x20e, +0x200 gives the file offset: Documentation/arch/x86/boot.rst).
* config: CONFIG_IKCONFIG puts the gzipped .config between the markers ``IKCFG_ST`` and
  ``IKCFG_ED`` (kernel/configs.c). In a bzImage it is inside the compressed payload, which is
  read when the standard library can decompress it (gzip, xz, lzma, bzip2; not zstd or lz4).
* modules: `module_vermagic` reads a ``.ko``'s ``vermagic=`` (its first word is the release
  the module was built for); `built_modules` names the modules of a directory built for one
  release.

Config dictionaries are keyed by the full option name (``CONFIG_X``); values are as written in
.config (``y``, ``m``, ``123``, ``0x10``, ``"a string"`` with its quotes); ``# CONFIG_X is not
set`` gives ``n``, and an option that is absent is ``n`` too for whoever reads the dictionary.
"""

from __future__ import annotations

import bz2
import lzma
import mmap
import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from faultlab.errors import KernelFormatError

IKCFG_START = b"IKCFG_ST"
IKCFG_END = b"IKCFG_ED"
GZIP_MAGIC = b"\x1f\x8b"
BZIMAGE_MAGIC_OFFSET = 0x202
BZIMAGE_MAGIC = b"HdrS"

# A release: digits.digits, then what `make kernelrelease` can append (.N, -rc1, +, -local...).
_RELEASE = rb"\d+\.\d+[0-9A-Za-z.+~_-]*"
# The banner proper: "Linux version R (user@host) (compiler...". The looser form is a fallback
# for a banner built without the "(user@host)" part.
_BANNER = re.compile(rb"Linux version (" + _RELEASE + rb") \([^()\x00\n]*@[^()\x00\n]*\)")
_BANNER_LOOSE = re.compile(rb"Linux version (" + _RELEASE + rb") \(")
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")
_CONFIG_SET = re.compile(r"^(CONFIG_\w+)=(.*)$")
_CONFIG_UNSET = re.compile(r"^# (CONFIG_\w+) is not set$")


# -- releases -------------------------------------------------------------------------------
def release_version(release: str) -> tuple[int, int, int]:
    """(major, minor, patch) of a release or version: "6.12.117-faultlab" -> (6, 12, 117),
    "6.13" -> (6, 13, 0), "7.3-rc1" -> (7, 3, 0). ValueError if it does not start like one."""
    m = _VERSION.match(release.strip())
    if not m:
        raise ValueError(f"{release!r} is not a kernel release (like 6.12.117-faultlab)")
    return int(m[1]), int(m[2]), int(m[3] or 0)


def in_release_range(release: str, since: str | None, until: str | None) -> bool:
    """since <= release < until (either bound may be absent); ValueError for a release that
    is not one."""
    version = release_version(release)
    if since is not None and version < release_version(since):
        return False
    return until is None or version < release_version(until)


def series_of(release: str) -> str:
    """The kernel series of a release: "6.12.117-faultlab" -> "6.12"."""
    major, minor, _ = release_version(release)
    return f"{major}.{minor}"


# -- .config text ---------------------------------------------------------------------------
def parse_config(text: str) -> dict[str, str]:
    """A .config (or fragment) as {"CONFIG_X": value}; `# CONFIG_X is not set` gives "n".
    Other comments and blank lines are ignored; a later line wins, as in Kconfig."""
    config: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        m = _CONFIG_SET.match(line)
        if m:
            config[m[1]] = m[2].strip()
            continue
        m = _CONFIG_UNSET.match(line)
        if m:
            config[m[1]] = "n"
    return config


# -- images ---------------------------------------------------------------------------------
@contextmanager
def _mapped(path: Path) -> Iterator[bytes | mmap.mmap]:
    """The file's bytes, memory-mapped (an empty file gives b"")."""
    try:
        with path.open("rb") as stream:
            stream.seek(0, 2)
            if stream.tell() == 0:
                yield b""
                return
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
                yield data
    except OSError as exc:
        raise KernelFormatError(f"cannot read kernel {path}: {exc.strerror or exc}") from None


def _is_bzimage(data: bytes | mmap.mmap) -> bool:
    return data[BZIMAGE_MAGIC_OFFSET : BZIMAGE_MAGIC_OFFSET + 4] == BZIMAGE_MAGIC


def _cstring(data: bytes | mmap.mmap, offset: int, limit: int = 256) -> bytes:
    chunk = data[offset : offset + limit]
    return chunk.split(b"\x00", 1)[0]


def _bzimage_version(data: bytes | mmap.mmap) -> str | None:
    """The release from the setup header's kernel_version string (boot protocol >= 2.00)."""
    if len(data) < 0x210:
        return None
    (protocol,) = struct.unpack_from("<H", data, 0x206)
    (pointer,) = struct.unpack_from("<H", data, 0x20E)
    if protocol < 0x200 or pointer == 0:
        return None
    text = _cstring(data, pointer + 0x200).decode("ascii", errors="replace")
    word = text.split(" ", 1)[0]
    return word if re.fullmatch(_RELEASE.decode(), word) else None


def _decompress(blob: bytes) -> bytes | None:
    """Decompress a gzip, xz, lzma or bzip2 stream (trailing bytes ignored); None otherwise."""
    try:
        if blob.startswith(GZIP_MAGIC):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(blob)
        if blob.startswith(b"\xfd7zXZ\x00"):
            return lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(blob)
        if blob.startswith(b"\x5d\x00\x00"):
            return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(blob)
        if blob.startswith(b"BZh"):
            return bz2.BZ2Decompressor().decompress(blob)
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError):
        return None
    return None  # zstd, lz4: not in the standard library


def _bzimage_payload(data: bytes | mmap.mmap) -> bytes | None:
    """The decompressed kernel inside a bzImage (boot protocol >= 2.08), or None."""
    if len(data) < 0x250:
        return None
    setup_sects = data[0x1F1] or 4
    (protocol,) = struct.unpack_from("<H", data, 0x206)
    if protocol < 0x208:
        return None
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + offset
    if not length or start + length > len(data):
        return None
    return _decompress(bytes(data[start : start + length]))


def _banner_release(data: bytes | mmap.mmap) -> str | None:
    for pattern in (_BANNER, _BANNER_LOOSE):
        m = pattern.search(data)
        if m:
            return bytes(m[1]).decode("ascii")
    return None


def _ikconfig(data: bytes | mmap.mmap) -> dict[str, str] | None:
    start = data.find(IKCFG_START + GZIP_MAGIC)
    while start >= 0:
        blob_start = start + len(IKCFG_START)
        end = data.find(IKCFG_END, blob_start)
        if end < 0:
            return None
        text = _decompress(bytes(data[blob_start:end]))
        if text is not None:
            return parse_config(text.decode("utf-8", errors="replace"))
        start = data.find(IKCFG_START + GZIP_MAGIC, blob_start)
    return None


def kernel_release(path: Path) -> str | None:
    """The release of the kernel image at `path` ("6.12.117-faultlab"), or None when the
    image does not say (no banner; a bzImage without a version string or readable payload).
    KernelFormatError if the file cannot be read."""
    with _mapped(path) as data:
        if _is_bzimage(data):
            found = _bzimage_version(data)
            if found:
                return found
            payload = _bzimage_payload(data)
            return _banner_release(payload) if payload is not None else None
        return _banner_release(data)


def embedded_config(path: Path) -> dict[str, str] | None:
    """The .config embedded in the image at `path` (CONFIG_IKCONFIG), or None when it has none
    (or it is in a bzImage payload the standard library cannot decompress)."""
    with _mapped(path) as data:
        if _is_bzimage(data):
            payload = _bzimage_payload(data)
            return _ikconfig(payload) if payload is not None else None
        return _ikconfig(data)


# -- modules --------------------------------------------------------------------------------
def module_vermagic(path: Path) -> str | None:
    """The vermagic string of a kernel module (.ko), e.g. "6.12.117-faultlab SMP mod_unload
    aarch64"; None when the file is no ELF module or has no vermagic."""
    try:
        with path.open("rb") as stream:
            section = ELFFile(stream).get_section_by_name(".modinfo")
            info = section.data() if section is not None else b""
    except (OSError, ELFError, struct.error, ValueError):
        return None
    for entry in info.split(b"\x00"):
        if entry.startswith(b"vermagic="):
            return entry[len(b"vermagic=") :].decode("ascii", errors="replace").strip()
    return None


def module_release(path: Path) -> str | None:
    """The release a module was built for: the first word of its vermagic."""
    magic = module_vermagic(path)
    return magic.split()[0] if magic else None


def built_modules(directory: Path, release: str) -> set[str]:
    """Names of the modules (file stems) in `directory` built for `release`."""
    if not directory.is_dir():
        return set()
    return {ko.stem for ko in directory.glob("*.ko") if module_release(ko) == release}
