"""The mini CALDB: RMF and SPECRESP contents, Sherpa compatibility, quzcif-style look-up."""

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rassflow import caldb, response
from rassflow.arf import make_arf

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
        energ_lo, energ_hi = response.energy_grid()
        np.testing.assert_allclose(matrix.data["ENERG_LO"], energ_lo, rtol=1e-6)
        np.testing.assert_allclose(matrix.data["ENERG_HI"], energ_hi, rtol=1e-6)
        expected = response.redistribution_matrix()
        np.testing.assert_allclose(
            full_matrix(matrix), expected, rtol=1e-6, atol=header["LO_THRES"]
        )

        ebounds = hdul["EBOUNDS"]
        assert ebounds.header["HDUCLAS2"] == "EBOUNDS"
        channel, e_min, e_max = response.channel_bounds()
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
        np.testing.assert_allclose(row["THETA"], response.OFFAXIS_ANGLES_ARCMIN)
        assert table.columns["SPECRESP"].unit == "cm**2"
        energ_lo, energ_hi = response.energy_grid()
        np.testing.assert_allclose(row["ENERG_LO"], energ_lo, rtol=1e-6)
        mid = 0.5 * (energ_lo + energ_hi)
        theta_index = 9  # 45 arcmin
        expected = response.onaxis_area(mid) * response.vignetting(45.0)
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
    energ_lo, energ_hi = response.energy_grid()
    photons = np.ones(energ_lo.size)  # photons/cm^2 in every energy bin
    folded = rmf.apply_rmf(arf.apply_arf(photons))

    area = response.onaxis_area(0.5 * (energ_lo + energ_hi))
    expected = area @ response.redistribution_matrix()
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
    assert caldb.query_caldb(root, "ROSAT", "PSPCC", "MATRIX", "pich.eq.256") == rmf
    assert (
        caldb.query_caldb(index, "rosat", "pspcc", "matrix", "PICH.EQ.256.AND.detchans.eq.256")
        == rmf
    )
    # without the expression the newest valid entry wins: the 34-channel file (fact sheet §3.1)
    assert caldb.query_caldb(root, "ROSAT", "PSPCC", "MATRIX").name == "pspcc_gain1_34.rmf"
    # ... unless the observation predates it
    assert caldb.query_caldb(root, "ROSAT", "PSPCC", "MATRIX", date="1990-06-15") == rmf
    assert caldb.query_caldb(root, "ROSAT", "PSPCC", "SPECRESP").name == caldb.SPECRESP_FILE


def test_query_without_match_names_the_index_and_the_query(tmp_path):
    root = tmp_path / "caldb"
    index = caldb.write_caldb(root)
    with pytest.raises(LookupError, match="pich.eq.512") as info:
        caldb.query_caldb(root, "ROSAT", "PSPCC", "MATRIX", "pich.eq.512")
    assert str(index) in str(info.value)
    with pytest.raises(LookupError, match="HRI"):
        caldb.query_caldb(index, "ROSAT", "HRI", "MATRIX")
    with pytest.raises(FileNotFoundError, match="caldb.indx"):
        caldb.query_caldb(tmp_path / "nowhere", "ROSAT", "PSPCC", "MATRIX")


def test_boundary_and_expression_parsing():
    assert caldb.parse_boundary("THETA(0)arcmin") == ("THETA", 0.0, 0.0, "arcmin")
    assert caldb.parse_boundary("PICH(0-256)") == ("PICH", 0.0, 256.0, "")
    assert caldb.parse_boundary("HV(3060)V") == ("HV", 3060.0, 3060.0, "V")
    assert caldb.parse_boundary("NONE") is None
    assert caldb.parse_expression("pich.eq.256.and.Filter.eq.open") == [
        ("PICH", 256.0),
        ("FILTER", "OPEN"),
    ]
    with pytest.raises(ValueError, match="pich.gt.3"):
        caldb.parse_expression("pich.gt.3")
    with pytest.raises(ValueError, match="PICH"):
        caldb.parse_boundary("PICH 0-256")
