"""The lock file (images/lock.json): every external input, pinned.

Entries name a Debian package, the suite it comes from, the series it must stay
in (a version prefix such as ``1:10.0.``) and the pinned version with the pool
path, size and sha256 of each file. When the archive no longer serves a pinned
version, :func:`newest_in_series` finds the newest of the same series through a
private apt configuration (never the system's sources), the caller warns loudly
and records the version actually used (:mod:`faultlab.fetch`). ``make lock``
(``python -m faultlab.lock refresh``) moves every pin to the newest of its series.

This module uses the standard library only: it runs before the venv exists.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultlab import paths

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class LockError(Exception):
    """A pinned input cannot be had; the message says what to bump."""


@dataclass
class PoolFile:
    path: str
    sha256: str
    size: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class Entry:
    """One pinned Debian package: a binary .deb for one arch, or a source package."""

    id: str
    package: str
    suite: str
    kind: str  # "deb" or "source"
    series: str
    version: str
    arch: str = "all"
    files: list[PoolFile] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "package": self.package,
            "kind": self.kind,
            "suite": self.suite,
            "arch": self.arch,
            "series": self.series,
            "version": self.version,
            "files": [f.__dict__ for f in self.files],
        }
        if self.kind == "source":
            del out["arch"]
        return out


@dataclass
class Lock:
    mirrors: dict[str, str]
    suites: dict[str, str]
    entries: list[Entry]
    host_packages: dict[str, str]
    pypi: dict[str, str]
    raw: dict[str, Any]

    def entry(self, entry_id: str) -> Entry:
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise LockError(f"no entry {entry_id!r} in {paths.lock_file()}")

    def mirror_for(self, suite: str) -> str:
        return self.mirrors[self.suites[suite]]

    def save(self, path: Path | None = None) -> None:
        data = dict(self.raw)
        data["entries"] = [e.to_json() for e in self.entries]
        data["host_packages"] = self.host_packages
        data["pypi"] = self.pypi
        target = path or paths.lock_file()
        target.write_text(json.dumps(data, indent=2) + "\n")


def load(path: Path | None = None) -> Lock:
    source = path or paths.lock_file()
    data = json.loads(source.read_text())
    entries = [
        Entry(
            id=e["id"],
            package=e["package"],
            kind=e["kind"],
            suite=e["suite"],
            arch=e.get("arch", "source"),
            series=e["series"],
            version=e.get("version", ""),
            files=[PoolFile(**f) for f in e.get("files", [])],
        )
        for e in data["entries"]
    ]
    return Lock(
        mirrors=data["mirrors"],
        suites=data["suites"],
        entries=entries,
        host_packages=data.get("host_packages", {}),
        pypi=data.get("pypi", {}),
        raw=data,
    )


# --- private apt indexes ---------------------------------------------------


def _apt_dir(suite: str, arch: str) -> Path:
    return paths.cache_dir() / "apt" / f"{suite}-{arch}"


def _apt_opts(suite: str, arch: str) -> list[str]:
    d = _apt_dir(suite, arch)
    return [
        "-o", f"Dir::Etc::SourceList={d / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", f"Dir::State::Lists={d / 'lists'}",
        "-o", f"Dir::Cache={d / 'cache'}",
        "-o", f"Dir::State::status={d / 'status'}",
        "-o", f"APT::Architectures::={arch if arch not in ('all', 'source') else 'amd64'}",
        "-o", "APT::Architecture=" + (arch if arch not in ("all", "source") else "amd64"),
        "-o", "Debug::NoLocking=1",
    ]  # fmt: skip


def update_index(lock: Lock, suite: str, arch: str, attempts: int = 6) -> list[str]:
    """Fetch one suite's index for one arch (or sources) into a private apt dir.

    Foreign-architecture indexes are sometimes briefly inconsistent ("File has
    unexpected size ... Mirror sync in progress?"): retry with back-off.
    """
    d = _apt_dir(suite, arch)
    (d / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (d / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (d / "status").touch()
    kind = "deb-src" if arch == "source" else "deb"
    (d / "sources.list").write_text(
        f"{kind} [signed-by={KEYRING}] {lock.mirror_for(suite)} {suite} main\n"
    )
    opts = _apt_opts(suite, arch)
    delay = 2.0
    last = ""
    for attempt in range(1, attempts + 1):
        proc = subprocess.run(
            ["apt-get", *opts, "update"], capture_output=True, text=True, check=False
        )
        failed = proc.returncode != 0 or "\nE: " in "\n" + proc.stdout + proc.stderr
        if not failed:
            return opts
        last = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        print(
            f"faultlab: apt index {suite}/{arch} failed (attempt {attempt}/{attempts}): {last}",
            file=sys.stderr,
        )
        time.sleep(delay)
        delay *= 2
    raise LockError(f"apt index for {suite}/{arch} could not be fetched: {last}")


def _stanzas(text: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields:
            out.append(fields)
    return out


def version_gt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "gt", b], check=False).returncode == 0


def available_versions(lock: Lock, entry: Entry) -> list[Entry]:
    """Every version of the entry's package the archive serves now, as entries."""
    arch = "source" if entry.kind == "source" else entry.arch
    opts = update_index(lock, entry.suite, arch)
    if entry.kind == "source":
        cmd = ["apt-cache", *opts, "showsrc", entry.package]
    else:
        cmd = ["apt-cache", *opts, "show", f"{entry.package}:{entry.arch}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found: list[Entry] = []
    for st in _stanzas(proc.stdout):
        if st.get("Package") != entry.package or "Version" not in st:
            continue
        if entry.kind == "source":
            files = []
            for line in st.get("Checksums-Sha256", "").splitlines():
                parts = line.split()
                if len(parts) == 3:
                    files.append(PoolFile(f"{st['Directory']}/{parts[2]}", parts[0], int(parts[1])))
        else:
            if st.get("Architecture") not in (entry.arch, "all"):
                continue
            files = [PoolFile(st["Filename"], st["SHA256"], int(st["Size"]))]
        found.append(
            Entry(
                id=entry.id,
                package=entry.package,
                kind=entry.kind,
                suite=entry.suite,
                arch=entry.arch,
                series=entry.series,
                version=st["Version"],
                files=files,
            )
        )
    return found


def newest_in_series(lock: Lock, entry: Entry) -> Entry:
    candidates = [c for c in available_versions(lock, entry) if c.version.startswith(entry.series)]
    if not candidates:
        raise LockError(
            f"{entry.package} ({entry.suite}, {entry.arch}): no version of series "
            f"{entry.series}* is served any more; edit 'series' of {entry.id!r} in "
            f"images/lock.json to a served series and run `make lock`"
        )
    best = candidates[0]
    for c in candidates[1:]:
        if version_gt(c.version, best.version):
            best = c
    return best


# --- host packages and PyPI pins -------------------------------------------


def host_install_args(lock: Lock) -> list[str]:
    """``name=version`` for each pinned host package the system's apt still serves.

    Where the pinned version is gone (a Debian point release replaced it), fall
    back to the name alone and say so loudly.
    """
    args: list[str] = []
    for name, version in lock.host_packages.items():
        proc = subprocess.run(
            ["apt-cache", "madison", name], capture_output=True, text=True, check=False
        )
        served = {line.split("|")[1].strip() for line in proc.stdout.splitlines() if "|" in line}
        if version in served:
            args.append(f"{name}={version}")
        else:
            print(
                f"faultlab: WARNING: host package {name} {version} is not served any more; "
                f"installing the newest ({', '.join(sorted(served)) or 'none listed'}). "
                "Run `make lock` to bump the pin.",
                file=sys.stderr,
            )
            args.append(name)
    return args


def refresh(lock: Lock) -> list[str]:
    """Move every pin to the newest of its series; return what changed."""
    changes: list[str] = []
    for i, entry in enumerate(lock.entries):
        best = newest_in_series(lock, entry)
        if best.version != entry.version or [f.sha256 for f in best.files] != [
            f.sha256 for f in entry.files
        ]:
            changes.append(f"{entry.id}: {entry.version or '(none)'} -> {best.version}")
        lock.entries[i] = best
    for name in list(lock.host_packages):
        proc = subprocess.run(
            ["apt-cache", "policy", name], capture_output=True, text=True, check=False
        )
        for line in proc.stdout.splitlines():
            if line.strip().startswith("Candidate:"):
                cand = line.split(":", 1)[1].strip()
                if cand and cand != "(none)" and cand != lock.host_packages[name]:
                    changes.append(f"host {name}: {lock.host_packages[name]} -> {cand}")
                    lock.host_packages[name] = cand
    return changes


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        lock = load()
        if args == ["refresh"]:
            changes = refresh(lock)
            lock.save()
            print("\n".join(changes) if changes else "lock: every pin is current")
            return 0
        if args == ["host-packages"]:
            print(" ".join(host_install_args(lock)))
            return 0
        if args == ["pypi"]:
            print("\n".join(f"{k}=={v}" for k, v in lock.pypi.items()))
            return 0
    except LockError as exc:
        print(f"faultlab: {exc}", file=sys.stderr)
        return 1
    print("usage: python -m faultlab.lock refresh|host-packages|pypi", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
