"""rassflow.download: one file over HTTP, atomically, with retries, against a local server."""

from __future__ import annotations

import pytest

from rassflow.download import DownloadError, download, safe_name
from tests.support.archive import FAST, SKYFIELD_DIR, STEM
from tests.support.servers import FileTreeApp, LocalServer


def test_safe_name_rejects_paths():
    assert safe_name("rs930204n00_bas.fits.Z") == "rs930204n00_bas.fits.Z"
    for bad in ("../x.fits", "/etc/passwd", "a/b.fits", "..", "a b.fits", ""):
        with pytest.raises(ValueError, match="unsafe file name"):
            safe_name(bad)


def test_download_retries_500_then_succeeds(archive_tree, tmp_path):
    path = f"/{SKYFIELD_DIR}/{STEM}_mex.fits"
    with LocalServer(FileTreeApp(archive_tree)) as server:
        server.faults[path] = ["500", "500"]
        out = download(server.url + path, tmp_path / "out" / "mex.fits", attempts=3, **FAST)
        assert server.hits[path] == 3
    assert out.read_bytes() == (archive_tree / SKYFIELD_DIR / f"{STEM}_mex.fits").read_bytes()


def test_download_gives_up_after_attempts(archive_tree, tmp_path):
    path = f"/{SKYFIELD_DIR}/{STEM}_mex.fits"
    with LocalServer(FileTreeApp(archive_tree)) as server:
        server.faults[path] = ["500"] * 3
        with pytest.raises(DownloadError, match="after 2 attempt"):
            download(server.url + path, tmp_path / "mex.fits", attempts=2, **FAST)
        assert server.hits[path] == 2
    assert list(tmp_path.glob("*mex*")) == []
