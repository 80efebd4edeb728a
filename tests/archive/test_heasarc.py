"""rassflow.archive.heasarc: list and download a skyfield's files from a local archive server."""

from __future__ import annotations

import pytest
from astropy.io import fits

from rassflow.archive.heasarc import HeasarcError, download_skyfield, list_directory
from rassflow.archive.skyfield import find_archive_file
from rassflow.download import NotFoundError
from tests.support.archive import FAST, SEQ, SKYFIELD_DIR, STEM
from tests.support.servers import FileTreeApp, LocalServer, Reply


def test_cut_transfer_leaves_no_file_and_next_call_fetches(archive_tree, tmp_path):
    path = f"/{SKYFIELD_DIR}/{STEM}_bas.fits.Z"
    dest = tmp_path / "skyfields"
    with LocalServer(FileTreeApp(archive_tree)) as server:
        server.faults[path] = ["cut"]
        with pytest.raises(HeasarcError, match=SEQ):
            download_skyfield(SEQ, dest, kinds=("bas",), attempts=1, base_url=server.url, **FAST)
        assert server.hits[path] == 1
        assert [p.name for p in (dest / STEM).iterdir()] == []  # no partial, no temporary
        paths = download_skyfield(
            SEQ, dest, kinds=("bas",), attempts=1, base_url=server.url, **FAST
        )
        assert server.hits[path] == 2
    expected = archive_tree / SKYFIELD_DIR / f"{STEM}_bas.fits.Z"
    assert paths["bas"].read_bytes() == expected.read_bytes()


def test_cut_transfer_is_retried_within_one_call(archive_tree, tmp_path):
    path = f"/{SKYFIELD_DIR}/{STEM}_im1.fits.Z"
    with LocalServer(FileTreeApp(archive_tree)) as server:
        server.faults[path] = ["cut"]
        download_skyfield(SEQ, tmp_path, kinds=("im1",), attempts=2, base_url=server.url, **FAST)
        assert server.hits[path] == 2


def test_download_skyfield_picks_needed_files(archive_tree, tmp_path):
    with LocalServer(FileTreeApp(archive_tree)) as server:
        paths = download_skyfield(SEQ, tmp_path, base_url=server.url, **FAST)
        assert server.hits[f"/{SKYFIELD_DIR}/{STEM}_bk1.fits.Z"] == 0
        again = download_skyfield(SEQ, tmp_path, base_url=server.url, **FAST)
        assert sum(v for k, v in server.hits.items() if "_" in k.rsplit("/", 1)[-1]) == 3
    assert again == paths
    assert sorted(p.name for p in (tmp_path / STEM).iterdir()) == [
        f"{STEM}_bas.fits.Z",
        f"{STEM}_im1.fits.Z",
        f"{STEM}_mex.fits",
    ]
    for kind in ("bas", "mex", "im1"):
        assert find_archive_file(tmp_path, SEQ, kind) == paths[kind]


def test_download_skyfield_from_s3_listing(archive_tree, tmp_path):
    with LocalServer(FileTreeApp(archive_tree / "FTP")) as server:
        paths = download_skyfield(SEQ, tmp_path, host="aws", base_url=server.url, **FAST)
        assert server.hits["/"] == 1  # one ListObjectsV2 request
    with fits.open(paths["mex"]) as hdul:
        assert hdul["DATA"].data[0, 0] == 2.0


def test_missing_skyfield_names_seq_and_url(archive_tree, tmp_path):
    with LocalServer(FileTreeApp(archive_tree)) as server:
        with pytest.raises(HeasarcError) as listing:
            download_skyfield("RS931111N00", tmp_path, base_url=server.url, **FAST)
        path = f"/{SKYFIELD_DIR}/{STEM}_bas.fits.Z"
        server.faults[path] = ["404"]
        with pytest.raises(HeasarcError) as file_404:
            download_skyfield(SEQ, tmp_path, kinds=("bas",), base_url=server.url, **FAST)
        assert server.hits[path] == 1  # a 404 is not retried
    message = str(listing.value)
    assert "RS931111N00" in message
    assert f"{server.url}/FTP/rosat/data/pspc/processed_data/900000/rs931111n00/" in message
    assert SEQ in str(file_404.value) and server.url + path in str(file_404.value)
    assert isinstance(file_404.value.__cause__, NotFoundError)


def test_listing_ignores_unsafe_entries(tmp_path):
    page = (
        '<a href="../">up</a><a href="/abs/x_bas.fits.Z">abs</a>'
        '<a href="..%2Fevil_bas.fits.Z">enc</a><a href="sub/">sub</a>'
        '<a href="?C=M;O=A">sort</a><a href="rs930204n00_bas.fits.Z">ok</a>'
    )
    with LocalServer(lambda handler, body: Reply(200, page.encode(), "text/html")) as server:
        assert list_directory(server.url + "/dir/") == ["rs930204n00_bas.fits.Z"]


def test_download_skyfield_from_a_given_directory_url(archive_tree):
    with LocalServer(FileTreeApp(archive_tree)) as archive:
        paths = download_skyfield(
            SEQ,
            archive_tree.parent / "dl",
            kinds=("mex",),
            directory_url=f"{archive.url}/{SKYFIELD_DIR}/",
            **FAST,
        )
    assert paths["mex"].name == f"{STEM}_mex.fits"
