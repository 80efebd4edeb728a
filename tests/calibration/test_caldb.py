"""The mini CALDB: RMF and SPECRESP contents, Sherpa compatibility, quzcif-style look-up."""

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rassflow.calibration.caldb import (
    CaldbError,
    LocalCaldb,
    RemoteCaldb,
    find_file,
    parse_boundary,
    parse_expression,
    read_index,
    select_entry,
)
from rassflow.products.responses import make_arf
from rassflow.simulate import caldb, instrument
from tests.support.servers import FileTreeApp, LocalServer

REFERENCE_RSP = Path("/work/shared/reference/pspcc_gain1_256.rsp")


def full_matrix(matrix_hdu) -> np.ndarray:
    """Unpack the one-group-per-row MATRIX column into (n_energy, DETCHANS)."""
    data, header = matrix_hdu.data, matrix_hdu.header
    out = np.zeros((len(data), header["DETCHANS"]))
    offset = header["TLMIN4"]
    for row, (n_grp, f_chan, n_chan, values) in enumerate(
        zip(data["N_GRP"], data["F_CHAN"], data["N_CHAN"], data["MATRIX"], strict=True)
    ):
        if n_grp:
            out[row, f_chan - offset : f_chan - offset + n_chan] = values[:n_chan]
    return out


def test_rmf_rows_match_the_redistribution_matrix(tmp_path):
    path = caldb.write_rmf(tmp_path / "pspcc.rmf")
    with fits.open(path) as hdul:
        matrix = hdul["MATRIX"]
        header = matrix.header
        assert (header["HDUCLAS2"], header["HDUCLAS3"], header["HDUVERS"]) == (
            "RSP_MATRIX",
            "REDIST",
            "1.3.0",
        )
        assert (header["DETCHANS"], header["TLMIN4"], header["CHANTYPE"]) == (256, 1, "PI")
        assert (header["TELESCOP"], header["INSTRUME"], header["FILTER"]) == (
            "ROSAT",
            "PSPCC",
            "NONE",
        )
        assert matrix.columns["ENERG_LO"].unit == "keV"
        energ_lo, energ_hi = instrument.energy_grid()
        np.testing.assert_allclose(matrix.data["ENERG_LO"], energ_lo, rtol=1e-6)
        np.testing.assert_allclose(matrix.data["ENERG_HI"], energ_hi, rtol=1e-6)
        expected = instrument.redistribution_matrix()
        np.testing.assert_allclose(
            full_matrix(matrix), expected, rtol=1e-6, atol=header["LO_THRES"]
        )

        ebounds = hdul["EBOUNDS"]
        assert ebounds.header["HDUCLAS2"] == "EBOUNDS"
        channel, e_min, e_max = instrument.channel_bounds()
        np.testing.assert_array_equal(ebounds.data["CHANNEL"], channel)
        np.testing.assert_allclose(ebounds.data["E_MIN"], e_min, rtol=1e-6)
        np.testing.assert_allclose(ebounds.data["E_MAX"], e_max, rtol=1e-6)


def test_rmf_channel_grid_matches_the_real_pspcc_response(tmp_path):
    if not REFERENCE_RSP.is_file():
        pytest.skip(f"reference response {REFERENCE_RSP} is not available")
    path = caldb.write_rmf(tmp_path / "pspcc.rmf")
    with fits.open(path) as ours, fits.open(REFERENCE_RSP) as real:
        np.testing.assert_allclose(
            ours["EBOUNDS"].data["E_MIN"], real["EBOUNDS"].data["E_MIN"], atol=2e-5
        )
        assert ours["MATRIX"].header["DETCHANS"] == real[1].header["DETCHANS"]


def test_specresp_is_area_times_vignetting(tmp_path):
    path = caldb.write_specresp(tmp_path / "pspcc_v1.spec_resp")
    with fits.open(path) as hdul:
        assert hdul[0].header["CONTENT"] == "SPECTRAL RESPONSE"
        table = hdul["SPECRESP"]
        assert (table.header["HDUCLAS1"], table.header["HDUCLAS2"]) == ("RESPONSE", "SPECRESP")
        row = table.data[0]
        np.testing.assert_allclose(row["THETA"], instrument.OFFAXIS_ANGLES_ARCMIN)
        assert table.columns["SPECRESP"].unit == "cm**2"
        energ_lo, energ_hi = instrument.energy_grid()
        np.testing.assert_allclose(row["ENERG_LO"], energ_lo, rtol=1e-6)
        mid = 0.5 * (energ_lo + energ_hi)
        theta_index = 9  # 45 arcmin
        expected = instrument.onaxis_area(mid) * instrument.vignetting(45.0)
        assert row["SPECRESP"].shape == (14, mid.size)
        np.testing.assert_allclose(row["SPECRESP"][theta_index], expected, rtol=1e-6)


def test_sherpa_folds_a_flat_spectrum_as_area_times_matrix(tmp_path):
    from sherpa.astro.io import read_arf, read_rmf

    root = tmp_path / "caldb"
    caldb.write_caldb(root)
    rmf_path = root / caldb.RMF_DIR / caldb.RMF_FILE
    arf_path = make_arf(
        rmf_path, root / caldb.SPECRESP_DIR / caldb.SPECRESP_FILE, tmp_path / "src.arf"
    )
    rmf, arf = read_rmf(str(rmf_path)), read_arf(str(arf_path))
    energ_lo, energ_hi = instrument.energy_grid()
    photons = np.ones(energ_lo.size)  # photons/cm^2 in every energy bin
    folded = rmf.apply_rmf(arf.apply_arf(photons))

    area = instrument.onaxis_area(0.5 * (energ_lo + energ_hi))
    expected = area @ instrument.redistribution_matrix()
    assert folded.shape == (256,)
    # stored in float32 and thresholded at LO_THRES: agree to far below one count
    np.testing.assert_allclose(folded, expected, rtol=1e-5, atol=0.05)
    assert expected.max() > 100.0


def write_index_with_decoys(root: Path) -> Path:
    """The standard mini CALDB plus a 34-channel RMF (newer) and a bad-quality 256 entry."""
    caldb.write_caldb(root)
    decoy_dir = root / caldb.RMF_DIR
    fits.HDUList([fits.PrimaryHDU()]).writeto(decoy_dir / "pspcc_gain1_34.rmf")
    entries = [
        caldb.cif_entry(caldb.RMF_DIR, caldb.RMF_FILE, "MATRIX", ("PICH(0-256)", "DETCHANS(256)")),
        caldb.cif_entry(
            caldb.RMF_DIR,
            "pspcc_gain1_34.rmf",
            "MATRIX",
            ("PICH(0-34)", "DETCHANS(34)"),
            valid_from="1990-07-01",
        ),
        caldb.cif_entry(
            caldb.RMF_DIR,
            "withdrawn.rmf",
            "MATRIX",
            ("PICH(0-256)", "DETCHANS(256)"),
            valid_from="1991-01-01",
            quality=5,
        ),
        caldb.cif_entry(caldb.SPECRESP_DIR, caldb.SPECRESP_FILE, "SPECRESP"),
    ]
    return caldb.write_cif(root / caldb.MISSION_DIR / caldb.INDEX_FILE, entries)


def test_query_picks_the_256_channel_rmf_not_the_decoy(tmp_path):
    root = tmp_path / "caldb"
    index = write_index_with_decoys(root)
    rmf = root / caldb.RMF_DIR / caldb.RMF_FILE
    assert find_file(LocalCaldb(root), "MATRIX", "pich.eq.256") == rmf
    assert find_file(LocalCaldb(index), "matrix", "PICH.EQ.256.AND.detchans.eq.256") == rmf
    # without the expression the newest valid entry wins: the 34-channel file (fact sheet §3.1)
    assert find_file(LocalCaldb(root), "MATRIX").name == "pspcc_gain1_34.rmf"
    # ... unless the observation predates it
    assert find_file(LocalCaldb(root), "MATRIX", date="1990-06-15") == rmf
    assert find_file(LocalCaldb(root), "SPECRESP").name == caldb.SPECRESP_FILE


def test_query_without_match_names_the_index_and_the_query(tmp_path):
    root = tmp_path / "caldb"
    index = caldb.write_caldb(root)
    with pytest.raises(LookupError, match="pich.eq.512") as info:
        find_file(LocalCaldb(root), "MATRIX", "pich.eq.512")
    assert str(index) in str(info.value)
    with pytest.raises(LookupError, match="HRI"):
        find_file(LocalCaldb(index), "MATRIX", instrume="HRI")
    with pytest.raises(CaldbError, match="caldb.indx"):
        find_file(LocalCaldb(tmp_path / "nowhere"), "MATRIX")


def test_boundary_and_expression_parsing():
    assert parse_boundary("THETA(0)arcmin") == ("THETA", 0.0, 0.0, "arcmin")
    assert parse_boundary("PICH(0-256)") == ("PICH", 0.0, 256.0, "")
    assert parse_boundary("HV(3060)V") == ("HV", 3060.0, 3060.0, "V")
    assert parse_boundary("NONE") is None
    assert parse_expression("pich.eq.256.and.Filter.eq.open") == [
        ("PICH", 256.0),
        ("FILTER", "OPEN"),
    ]
    with pytest.raises(ValueError, match="pich.gt.3"):
        parse_expression("pich.gt.3")
    with pytest.raises(ValueError, match="PICH"):
        parse_boundary("PICH 0-256")


# --- a remote CALDB (local HTTP server) ------------------------------------------------------


def small_fits(path, value: float, extname: str = "DATA"):
    """A one-extension FITS file whose data say which file it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.full((2, 2), value), name=extname)])
    hdul.writeto(path, overwrite=True)
    return hdul


# --- CALDB --------------------------------------------------------------------------------


@pytest.fixture
def caldb_tree(tmp_path):
    """An index with a 34- and a 256-channel matrix, a newer bad-quality 256 one, SPECRESP."""
    root = tmp_path / "caldb"
    cpf = root / "data/rosat/pspc/cpf"
    (cpf / "matrices").mkdir(parents=True)
    files = {
        "pspcc_gain1_34.rmf": 34.0,
        "pspcc_gain1_256.rmf": 256.0,
        "pspcc_gain2_256.rmf": -1.0,
        "pspcc_v1.spec_resp": 1.5,
    }
    for name, value in files.items():
        small_fits((cpf / "matrices" if name.endswith(".rmf") else cpf) / name, value, "MATRIX")
    rmf_dir, cpf_dir = "data/rosat/pspc/cpf/matrices", "data/rosat/pspc/cpf"
    entries = [
        caldb.cif_entry(rmf_dir, "pspcc_gain1_34.rmf", "MATRIX", ("PICH(0-34)",)),
        caldb.cif_entry(rmf_dir, "pspcc_gain1_256.rmf", "MATRIX", ("PICH(0-256)",)),
        caldb.cif_entry(
            rmf_dir,
            "pspcc_gain2_256.rmf",
            "MATRIX",
            ("PICH(0-256)",),
            valid_from="1991-01-01",
            quality=5,
        ),
        caldb.cif_entry(cpf_dir, "pspcc_v1.spec_resp", "SPECRESP", ("THETA(0-60)arcmin",)),
    ]
    caldb.write_cif(root / "data/rosat/pspc/caldb.indx", entries)
    return root


def test_select_entry(caldb_tree):
    rows = read_index(caldb_tree / "data/rosat/pspc/caldb.indx")

    def pick(codename, expr=None):
        entry = select_entry(rows, codename, expr)
        return entry["CAL_DIR"], entry["CAL_FILE"]

    assert pick("MATRIX", "pich.eq.256")[1] == "pspcc_gain1_256.rmf"
    # 34 lies in both PICH ranges: of equal validity starts the later row (256 channels) wins
    assert pick("matrix", "PICH.EQ.34")[1] == "pspcc_gain1_256.rmf"
    assert pick("MATRIX", "pich.eq.200")[1] == "pspcc_gain1_256.rmf"
    assert pick("SPECRESP") == ("data/rosat/pspc/cpf", "pspcc_v1.spec_resp")
    with pytest.raises(CaldbError, match="codename=MATRIX expr='pich.eq.512'"):
        pick("MATRIX", "pich.eq.512")


def test_remote_caldb_downloads_once_and_selects_as_the_local_one(caldb_tree, tmp_path):
    cache = tmp_path / "cache"
    with LocalServer(FileTreeApp(caldb_tree)) as server:
        remote = RemoteCaldb(server.url, cache, attempts=1, timeout=10)
        rmf = find_file(remote, "MATRIX", "pich.eq.256")
        specresp = find_file(remote, "SPECRESP", None)
        again = find_file(remote, "MATRIX", "pich.eq.256")
        assert server.hits["/data/rosat/pspc/caldb.indx"] == 1
        assert server.hits["/data/rosat/pspc/cpf/matrices/pspcc_gain1_256.rmf"] == 1
        with pytest.raises(CaldbError, match="caldb.indx"):
            find_file(RemoteCaldb(server.url + "/nowhere", tmp_path / "other", 1, 10), "MATRIX")
        # one selection: the local CALDB picks the same rows
        for codename, expr in (
            ("MATRIX", "pich.eq.256"),
            ("MATRIX", "pich.eq.34"),
            ("SPECRESP", None),
        ):
            local = find_file(LocalCaldb(caldb_tree), codename, expr)
            assert find_file(remote, codename, expr) == cache / local.relative_to(caldb_tree)
    assert again == rmf == cache / "data/rosat/pspc/cpf/matrices/pspcc_gain1_256.rmf"
    with fits.open(rmf) as hdul:
        assert hdul["MATRIX"].data[0, 0] == 256.0
    assert (
        specresp.read_bytes()
        == (caldb_tree / "data/rosat/pspc/cpf/pspcc_v1.spec_resp").read_bytes()
    )


@pytest.mark.parametrize(
    "cbd_form, tform, tdim",
    [("substrings", "630A70", None), ("tdim", "630A", "(70,9)")],
    ids=["cfitsio-630A70", "astropy-TDIM"],
)
def test_index_is_read_in_both_cal_cbd_forms(tmp_path, cbd_form, tform, tdim):
    """CAL_CBD as cfitsio-based tools declare it (one field in substrings of 70) and as an
    astropy string array with TDIM: the same boundaries, the same selection."""
    root = tmp_path / "caldb"
    write_index_with_decoys(root)
    index = root / caldb.MISSION_DIR / caldb.INDEX_FILE
    entries = [
        caldb.cif_entry(
            caldb.RMF_DIR, "pspcc_gain1_34.rmf", "MATRIX", ("PICH(0-34)", "DETCHANS(34)")
        ),
        caldb.cif_entry(
            caldb.RMF_DIR,
            caldb.RMF_FILE,
            "MATRIX",
            ("PICH(0-256)", "DETCHANS(256)"),
            valid_from="1990-01-01",
        ),
    ]
    caldb.write_cif(index, entries, cbd_form=cbd_form)
    with fits.open(index) as hdul:
        header = hdul["CIF"].header
        number = hdul["CIF"].columns.names.index("CAL_CBD") + 1
        assert header[f"TFORM{number}"] == tform
        assert header.get(f"TDIM{number}") == tdim
    rows = read_index(index)
    assert rows[0]["CAL_CBD"] == [
        "PICH(0-34)",
        "DETCHANS(34)",
        "NONE",
        "NONE",
        "NONE",
        "NONE",
        "NONE",
        "NONE",
        "NONE",
    ]
    assert rows[1]["CAL_CBD"][:2] == ["PICH(0-256)", "DETCHANS(256)"]
    assert find_file(LocalCaldb(root), "MATRIX", "pich.eq.256").name == caldb.RMF_FILE
    assert find_file(LocalCaldb(root), "MATRIX", "pich.eq.34").name == "pspcc_gain1_34.rmf"
