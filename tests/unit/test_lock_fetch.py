"""images/lock.json and the pinned-download path, against a loopback HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from faultlab import fetch, paths
from faultlab import lock as lockmod


def test_the_real_lock_pins_everything() -> None:
    lock = lockmod.load()
    ids = [e.id for e in lock.entries]
    assert len(ids) == len(set(ids)), "duplicate lock ids"
    assert lock.entry("qemu-source").series == "1:10.0."
    assert lock.entry("linux-source-6.12").series == "6.12."
    assert lock.entry("linux-source-6.12").suite == "bookworm-security"
    for arch in ("amd64", "arm64", "ppc64el"):
        lock.entry(f"busybox-static-{arch}")
        lock.entry(f"dropbear-bin-{arch}")
    for e in lock.entries:
        assert e.version.startswith(e.series), e.id
        assert e.files, e.id
        for f in e.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256), (e.id, f.path)
            assert f.size > 0 and f.path.startswith("pool/"), (e.id, f.path)
    assert all(lock.host_packages.values()), "every host package has a pinned version"
    assert all(re.fullmatch(r"[0-9][\w.]*", v) for v in lock.pypi.values())


def test_lock_roundtrip(tmp_path: Path) -> None:
    lock = lockmod.load()
    out = tmp_path / "lock.json"
    lock.save(out)
    assert json.loads(out.read_text()) == json.loads(paths.lock_file().read_text())


class _Archive(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        _Archive.requests.append(self.path)


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "archive"
    (root / "pool").mkdir(parents=True)
    monkeypatch.setenv("FAULTLAB_CACHE", str(tmp_path / "cache"))
    _Archive.requests = []
    handler = lambda *a, **k: _Archive(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def _pool_file(root: Path, name: str, data: bytes) -> lockmod.PoolFile:
    (root / "pool" / name).write_bytes(data)
    return lockmod.PoolFile(f"pool/{name}", hashlib.sha256(data).hexdigest(), len(data))


def test_fetch_verifies_and_reuses(archive: tuple[str, Path]) -> None:
    mirror, root = archive
    pf = _pool_file(root, "a_1.0_all.deb", b"payload")
    got = fetch.fetch_file(mirror, pf)
    assert got.read_bytes() == b"payload"
    assert got.parent == paths.downloads_dir()
    fetch.fetch_file(mirror, pf)
    assert _Archive.requests.count("/pool/a_1.0_all.deb") == 1, (
        "a verified file is not fetched again"
    )


def test_fetch_rejects_a_changed_file(archive: tuple[str, Path]) -> None:
    mirror, root = archive
    pf = _pool_file(root, "b_1.0_all.deb", b"original")
    (root / "pool" / "b_1.0_all.deb").write_bytes(b"tampered")
    with pytest.raises(lockmod.LockError, match="does not match the lock"):
        fetch.fetch_file(mirror, pf)
    assert not (paths.downloads_dir() / "b_1.0_all.deb").exists()


def test_gone_pin_falls_back_to_newest_of_series_loudly(
    archive: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror, root = archive
    newer = _pool_file(root, "c_1.2_all.deb", b"newer")
    gone = lockmod.PoolFile("pool/c_1.1_all.deb", "0" * 64, 5)
    entry = lockmod.Entry("c", "c", "bookworm", "deb", "1.", "1.1", "all", [gone])
    lock = lockmod.Lock({"debian": mirror}, {"bookworm": "debian"}, [entry], {}, {}, {})
    replacement = lockmod.Entry("c", "c", "bookworm", "deb", "1.", "1.2", "all", [newer])
    monkeypatch.setattr(lockmod, "newest_in_series", lambda _lock, _e: replacement)
    out = fetch.fetch_entry(lock, entry)
    assert [p.read_bytes() for p in out] == [b"newer"]
    err = capsys.readouterr().err
    assert "WARNING" in err and "1.1" in err and "1.2" in err and "make lock" in err
    recorded = json.loads(paths.resolved_file().read_text())
    assert recorded["c"] == {"pinned": "1.1", "used": "1.2"}


def test_newest_in_series(monkeypatch: pytest.MonkeyPatch) -> None:
    def entry(version: str) -> lockmod.Entry:
        return lockmod.Entry("q", "qemu", "trixie", "source", "1:10.0.", version)

    served = [entry(v) for v in ("1:10.0.9+ds-1", "1:10.0.13+ds-0", "1:10.1.0+ds-1", "1:10.0.2")]
    monkeypatch.setattr(lockmod, "available_versions", lambda _lock, _e: served)
    best = lockmod.newest_in_series(lockmod.load(), entry("1:10.0.13+ds-0+deb13u1"))
    assert best.version == "1:10.0.13+ds-0"
    monkeypatch.setattr(lockmod, "available_versions", lambda _lock, _e: [entry("1:10.1.0")])
    with pytest.raises(lockmod.LockError, match=r"series 1:10\.0\.\* is served any more"):
        lockmod.newest_in_series(lockmod.load(), entry("1:10.0.13"))


def test_stanza_parsing() -> None:
    text = (
        "Package: qemu\nVersion: 1:10.0.13\nChecksums-Sha256:\n a 1 x.dsc\n b 2 x.tar.xz\n\n"
        "Package: qemu\nVersion: 1:10.0.2\n"
    )
    st = lockmod._stanzas(text)
    assert [s["Version"] for s in st] == ["1:10.0.13", "1:10.0.2"]
    assert st[0]["Checksums-Sha256"].splitlines()[1:] == ["a 1 x.dsc", "b 2 x.tar.xz"]
