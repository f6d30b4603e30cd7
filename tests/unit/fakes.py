"""Fixtures' helpers: a faultlab cache populated with synthetic artifacts and a fake QEMU."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import synth_kernels as sk

HERE = Path(__file__).resolve().parent
HARNESS = HERE.parents[1] / "harness"
FAKE_QEMU = HERE / "fake_qemu.py"


def write_ssh_key(path: Path) -> Path:
    key = ed25519.Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    pub = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    path.with_name(path.name + ".pub").write_bytes(pub + b" faultlab-test\n")
    return path


def write_fake_qemu(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_QEMU}" "$@"\n')
    path.chmod(0o755)
    return path


_KERNEL_MAKERS = {
    "x86_64": sk.x86_64_vmlinux,
    "arm64": sk.arm64_image,
    "ppc64le": sk.ppc64le_vmlinux,
}


def fragment_config(arch: str, variant: str | None, series: str) -> str:
    """A .config with what build.sh's fragments ask for (so every need is met)."""
    from faultlab.kconfig import fragment_files

    return "".join(f.read_text() for f in fragment_files(arch, series, variant))


def write_bench_kernel(
    arch: str, variant: str | None = None, series: str | None = None, release: str | None = None
) -> Path:
    """One of the bench's kernels as build.sh and build-modules.sh leave it in the cache:
    the image, .config, release, modules/ and the modules overlay."""
    from faultlab import paths

    series = series or paths.DEFAULT_SERIES
    image = sk.write(paths.kernel(arch, variant, series), _KERNEL_MAKERS[arch]())
    kdir = image.parent
    (kdir / "release").write_text((release or f"{series}.1-faultlab") + "\n")
    (kdir / ".config").write_text(fragment_config(arch, variant, series))
    (kdir / "modules").mkdir(exist_ok=True)
    sk.write(kdir / "modules.cpio.gz", b"\x1f\x8b fake modules overlay")
    return image


@dataclass
class FakeCache:
    root: Path
    results: Path

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            FAULTLAB_CACHE=str(self.root),
            FAULTLAB_RESULTS=str(self.results),
            FAKE_QEMU_AUTHORIZED=str(self.root / "ssh" / "id_ed25519.pub"),
            PYTHONPATH=str(HARNESS),
        )
        env.pop("FAULTLAB_TRY_KVM", None)
        return env

    def populate(self, *, qemu: bool = True, kernels: bool = True, images: bool = True) -> None:
        from faultlab import paths

        if kernels:
            for arch in ("x86_64", "arm64", "ppc64le"):
                write_bench_kernel(arch)
        if images:
            for arch in ("x86_64", "arm64", "ppc64le"):
                sk.write(paths.initramfs(arch), b"\x1f\x8b fake initramfs")
            write_ssh_key(paths.ssh_key())
        if qemu:
            for name in ("qemu-system-x86_64", "qemu-system-aarch64", "qemu-system-ppc64"):
                write_fake_qemu(paths.qemu_binary(name))
            for fw in ("skiboot.lid", "vof.bin"):
                sk.write(paths.firmware(fw), b"firmware")

    def cli(
        self,
        *args: str,
        scenario: str = "ok",
        timeout: float = 120,
        stdin: str | None = None,
        **env: str,
    ) -> subprocess.CompletedProcess[str]:
        full_env = self.env | {"FAKE_QEMU_SCENARIO": scenario} | env
        return subprocess.run(
            [sys.executable, "-m", "faultlab", *args],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            cwd=self.root,
        )

    def result_dirs(self) -> list[Path]:
        if not self.results.exists():
            return []
        return sorted(p for p in self.results.iterdir() if p.is_dir())
