"""Download pinned Debian files by pool path and verify their sha256.

``python -m faultlab.fetch ID...`` prints, one per line, the local paths of the
files of each lock entry (a .deb, or the .dsc/.orig/.debian files of a source
package). Files are kept in ``$CACHE/downloads`` under their pool name and are
verified again on every use. When the pinned version is no longer served (HTTP
404), the newest of the same series is taken, a loud warning is printed and the
version actually used is recorded in ``$CACHE/resolved.json``.

Standard library only: this runs before the venv exists.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from faultlab import lock as lockmod
from faultlab import paths


class Gone(Exception):
    """The archive answered 404 for a pinned file."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(url: str, dest: Path, attempts: int = 5) -> None:
    tmp = dest.with_suffix(dest.suffix + ".part")
    delay = 2.0
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, tmp.open("wb") as out:
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
            tmp.replace(dest)
            return
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise Gone(url) from exc
            err = f"HTTP {exc.code}"
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            err = str(exc)
        print(
            f"faultlab: download {url} failed ({err}), attempt {attempt}/{attempts}",
            file=sys.stderr,
        )
        time.sleep(delay)
        delay *= 2
    raise lockmod.LockError(f"could not download {url} after {attempts} attempts")


def fetch_file(mirror: str, pf: lockmod.PoolFile) -> Path:
    dest = paths.downloads_dir() / pf.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and dest.stat().st_size == pf.size and sha256_of(dest) == pf.sha256:
        return dest
    _download(f"{mirror}/{pf.path}", dest)
    got = sha256_of(dest)
    if got != pf.sha256:
        dest.unlink()
        raise lockmod.LockError(
            f"{pf.name}: sha256 {got} does not match the lock's {pf.sha256}; "
            "the archive changed a file under the same version: run `make lock` "
            "and review the change"
        )
    return dest


def _record(entry_id: str, pinned: str, used: str) -> None:
    f = paths.resolved_file()
    data = json.loads(f.read_text()) if f.exists() else {}
    if pinned == used:
        data.pop(entry_id, None)
    else:
        data[entry_id] = {"pinned": pinned, "used": used}
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(data, indent=2) + "\n")


def used_version(entry_id: str) -> dict[str, str]:
    """``{"pinned": ..., "used": ...}`` for an entry, for manifests and results."""
    pinned = lockmod.load().entry(entry_id).version
    f = paths.resolved_file()
    data = json.loads(f.read_text()) if f.exists() else {}
    return data.get(entry_id, {"pinned": pinned, "used": pinned})


def fetch_entry(lock: lockmod.Lock, entry: lockmod.Entry) -> list[Path]:
    mirror = lock.mirror_for(entry.suite)
    try:
        out = [fetch_file(mirror, pf) for pf in entry.files]
        _record(entry.id, entry.version, entry.version)
        return out
    except Gone as gone:
        best = lockmod.newest_in_series(lock, entry)
        bar = "!" * 72
        print(
            f"{bar}\nfaultlab: WARNING: {entry.package} {entry.version} ({entry.suite}) is no "
            f"longer served ({gone}).\nfaultlab: WARNING: using {best.version}, the newest of "
            f"series {entry.series}*. Run `make lock` to bump the pin.\n{bar}",
            file=sys.stderr,
        )
        out = [fetch_file(mirror, pf) for pf in best.files]
        _record(entry.id, entry.version, best.version)
        return out


def main(argv: list[str] | None = None) -> int:
    ids = sys.argv[1:] if argv is None else argv
    if not ids:
        print("usage: python -m faultlab.fetch ID...", file=sys.stderr)
        return 2
    try:
        lock = lockmod.load()
        for entry_id in ids:
            for p in fetch_entry(lock, lock.entry(entry_id)):
                print(p)
    except lockmod.LockError as exc:
        print(f"faultlab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
