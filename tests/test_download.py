"""Network clients (VizieR, HEASARC TAP/datalink, archive, CALDB) against local servers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from rassflow.archive.heasarc import HeasarcError, download_skyfield, list_directory
from rassflow.archive.skyfield import find_archive_file
from rassflow.catalog.crossmatch import crossmatch, tap_crossmatch
from rassflow.catalog.sample import prepare_sample
from rassflow.catalog.vizier import fetch_vizier_sample, unique_lowercase_names
from rassflow.download import DownloadError, NotFoundError, download, safe_name
from rassflow.files import compress_file
from tests.support.servers import (
    FileTreeApp,
    HeasarcApp,
    LocalServer,
    Reply,
    VizierApp,
    tls_context,
)

SEQ = "RS930204N00"
STEM = "rs930204n00"
SKYFIELD_DIR = f"FTP/rosat/data/pspc/processed_data/900000/{STEM}"
FAST = {"backoff": 0.01, "timeout": 10}


# --- test data ----------------------------------------------------------------------------


def rxs_table() -> Table:
    """2RXS-like sources: 8 isolated ones, a close pair (0.5' apart) and faint neighbours."""
    rng = np.random.default_rng(3)
    ra = np.concatenate([np.linspace(10, 80, 8), [120.0, 120.0 + 4 / 3600], [200.0]])
    dec = np.concatenate([np.linspace(-60, 60, 8), [5.0, 5.0], [-30.0]])
    return Table(
        {
            "name": [f"2RXS J{i:06d}" for i in range(len(ra))],
            "ra": ra,
            "dec": dec,
            "skyfield_number": np.array([930204 + i for i in range(len(ra))], dtype=np.int64),
            "count_rate": rng.uniform(0.01, 1.0, len(ra)),
        }
    )


def sample_frame(rxs: Table) -> pd.DataFrame:
    """Stars: 5 within a few arcsec of 2RXS sources, one between the close pair, 3 far away."""
    offsets = np.array([1.0, 2.5, 3.0, 6.0, 7.5]) / 3600
    ra = list(rxs["ra"][:5] + offsets)
    dec = list(rxs["dec"][:5])
    ra += [120.0 + 3 / 3600, 300.0, 150.0, 250.0]  # nearer the second of the pair
    dec += [5.0, 10.0, -10.0, 45.0]
    frame = pd.DataFrame(
        {
            "Karmn": [f"J{i:02d}" for i in range(1, len(ra) + 1)],
            "Name": [f"Star {i}" for i in range(len(ra))],
            "RA_deg": ra,
            "DE_deg": dec,
            "Vmag": np.arange(len(ra), dtype=float),
        }
    )
    return prepare_sample(frame, "Karmn", "Name", "RA_deg", "DE_deg", "CARMENES-")


def small_fits(path, value: float, extname: str = "DATA") -> fits.HDUList:
    hdul = fits.HDUList(
        [fits.PrimaryHDU(), fits.ImageHDU(np.full((16, 16), value, np.float32), name=extname)]
    )
    hdul.writeto(path, overwrite=True)
    return hdul


@pytest.fixture
def archive_tree(tmp_path):
    """A skyfield directory as HEASARC holds it: .Z files, an uncompressed _mex, extras."""
    root = tmp_path / "archive"
    directory = root / SKYFIELD_DIR
    directory.mkdir(parents=True)
    plain = tmp_path / "plain"
    plain.mkdir()
    for kind, value in (("bas", 1.0), ("im1", 3.0), ("bk1", 4.0)):
        small_fits(plain / f"{kind}.fits", value)
        compress_file(plain / f"{kind}.fits", directory / f"{STEM}_{kind}.fits.Z")
    small_fits(directory / f"{STEM}_mex.fits", 2.0)
    (directory / ".public_contents").write_text("listing\n")
    return root


# --- download -----------------------------------------------------------------------------


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


# --- VizieR -------------------------------------------------------------------------------


def test_unique_lowercase_names_rule():
    names = ["e_pEWa", "E_pEWa", "SpTC", "SpTc", "a", "a_2", "A", "Vmag"]
    assert unique_lowercase_names(names) == [
        "e_pEWa",
        "E_pEWa_2",
        "SpTC",
        "SpTc_2",
        "a",
        "a_2",
        "A_3",
        "Vmag",
    ]


def test_vizier_fetch_cleans_columns_and_caches(tmp_path, monkeypatch):
    mstars = Table(
        {
            "_RAJ2000": [1.2953, 10.5],
            "_DEJ2000": [-16.71, 45.0],
            "Karmn": ["J00051+457", "J00067-075"],
            "RAJ2000": ["00 05 10.89", "00 42 00.00"],
            "DEJ2000": ["+45 47 11.6", "+45 00 00.0"],
            "RAs": ["00 05 10.9", "00 42 00.0"],  # dropped for its unit 'h:m:s' alone
            "e_pEWa": [0.1, 0.2],
            "E_pEWa": [0.3, 0.4],
            "SpTC": ["M1.0", "M2.0"],
            "SpTc": [1.0, 2.0],
        }
    )
    refs = Table({"Ref": ["A", "B", "C"]})
    context, ca_bundle = tls_context()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_bundle)
    app = VizierApp(
        "J/A+A/577/A128",
        {"mstars": mstars, "refs": refs},
        sexagesimal=("RAJ2000", "DEJ2000", "RAs"),
    )
    cache = tmp_path / "cache" / "sample.csv"
    with LocalServer(app, ssl_context=context) as server:
        first = fetch_vizier_sample(cache_path=cache, vizier_server=server.host)
        hits = server.hits["/viz-bin/votable"]
        second = fetch_vizier_sample(cache_path=cache, vizier_server=server.host)
        assert server.hits["/viz-bin/votable"] == hits == 1
        refs_frame = fetch_vizier_sample(
            table=1, cache_path=tmp_path / "refs.fits", vizier_server=server.host
        )
    assert app.requests[0]["-out.max"] == ["unlimited"]
    assert list(first.columns) == [
        "_RAJ2000",
        "_DEJ2000",
        "Karmn",
        "e_pEWa",
        "E_pEWa_2",
        "SpTC",
        "SpTc_2",
    ]
    assert first["E_pEWa_2"].tolist() == [0.3, 0.4]
    pd.testing.assert_frame_equal(first, second)
    assert refs_frame["Ref"].tolist() == ["A", "B", "C"]


def test_vizier_missing_table_names_catalog(tmp_path, monkeypatch):
    context, ca_bundle = tls_context()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_bundle)
    app = VizierApp("J/A+A/577/A128", {"mstars": Table({"x": [1.0]})})
    with LocalServer(app, ssl_context=context) as server:
        with pytest.raises(RuntimeError, match=r"J/A\+A/577/A128.*no table 3"):
            fetch_vizier_sample(table=3, cache_path=tmp_path / "s.csv", vizier_server=server.host)
    assert not (tmp_path / "s.csv").exists()


# --- HEASARC TAP and datalink --------------------------------------------------------------


def test_tap_crossmatch_equals_local_crossmatch():
    rxs = rxs_table()
    sample = sample_frame(rxs)
    columns = {"name": "name", "ra": "ra", "dec": "dec", "skyfield": "skyfield_number"}
    local = crossmatch(sample, rxs.to_pandas(), 8.0, columns)
    app = HeasarcApp({"rass2rxs": rxs}, max_rows=4)
    with LocalServer(app) as server:
        remote = tap_crossmatch(sample, 8.0, chunk_size=3, tap_url=f"{server.url}/tap")
        assert server.hits["/tap/sync"] == 3
    assert len(local) == 6
    assert local.loc[local["id_name"] == "CARMENES-J06", "rasscat_name"].item() == "2RXS J000009"
    pd.testing.assert_frame_equal(remote, local)


@pytest.mark.filterwarnings("ignore::pyvo.dal.exceptions.DALOverflowWarning")
def test_tap_crossmatch_refuses_capped_answer():
    rxs = rxs_table()
    sample = sample_frame(rxs)
    with LocalServer(HeasarcApp({"rass2rxs": rxs}, max_rows=4)) as server:
        with pytest.raises(HeasarcError, match="capped.*smaller chunk_size"):
            tap_crossmatch(sample, 8.0, chunk_size=9, tap_url=f"{server.url}/tap")
        with pytest.raises(HeasarcError, match="no table rass3rxs"):
            tap_crossmatch(sample, 8.0, table="rass3rxs", tap_url=f"{server.url}/tap")


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
