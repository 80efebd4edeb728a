"""ARFs: on-axis response and pcarf's WMAP weighting, checked against hand computations."""

import numpy as np
import pytest
from astropy.io import fits

from rassflow.products.responses import make_arf
from rassflow.simulate import caldb, instrument

SKY_PIXEL_DEG = 1.388889e-4
DET_PIXEL_DEG = 2.595021e-4
BINNING = 90


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    root = tmp_path_factory.mktemp("caldb")
    rmf = caldb.write_rmf(root / "pspcc_gain1_256.rmf")
    specresp = caldb.write_specresp(root / "pspcc_v1.spec_resp")
    return rmf, specresp


def grid_midpoints():
    energ_lo, energ_hi = instrument.energy_grid()
    return 0.5 * (energ_lo + energ_hi)


def read_arf(path):
    with fits.open(path) as hdul:
        return hdul[0].header.copy(), hdul["SPECRESP"].header.copy(), hdul["SPECRESP"].data.copy()


def make_wmap(values, first_bin_x=80, first_bin_y=70, **keywords) -> fits.PrimaryHDU:
    """A WMAP as extractor writes it (HDUVERS 2): physical WCS of 90x binned sky pixels whose
    first pixel is full-field bin ``first_bin_x``/``first_bin_y`` (1-based)."""
    wmap = fits.PrimaryHDU(np.asarray(values, dtype=np.float32))
    header = wmap.header
    header["HDUNAME"] = "WMAP"
    header["HDUVERS"] = "2.0.0"
    header["WMREBIN"] = BINNING
    header["CDELT1"] = -SKY_PIXEL_DEG * BINNING
    header["CDELT2"] = SKY_PIXEL_DEG * BINNING
    for axis, first in ((1, first_bin_x), (2, first_bin_y)):
        header[f"CRPIX{axis}P"] = 1.0
        header[f"CRVAL{axis}P"] = (first - 1) * BINNING + (BINNING + 1) / 2.0
        header[f"CDELT{axis}P"] = BINNING
    header.update(keywords)
    return wmap


def test_onaxis_arf_is_the_onaxis_area_at_grid_midpoints(calibration, tmp_path):
    rmf, specresp = calibration
    path = make_arf(
        rmf,
        specresp,
        tmp_path / "src.arf",
        provenance={"tool": "native arf", "config_hash": "ab12"},
    )
    primary, header, data = read_arf(path)
    assert primary["CONTENT"] == "ANCILLARY RESP"
    assert (header["EXTNAME"], header["HDUCLAS1"], header["HDUCLAS2"], header["HDUVERS"]) == (
        "SPECRESP",
        "RESPONSE",
        "SPECRESP",
        "1.1.0",
    )
    assert (header["TELESCOP"], header["INSTRUME"], header["ARFMETH"]) == (
        "ROSAT",
        "PSPCC",
        "onaxis",
    )
    assert (header["RFTOOL"], header["RFCONFIG"]) == ("native arf", "ab12")
    assert header["TUNIT3"] == "cm**2"
    energ_lo, _ = instrument.energy_grid()
    np.testing.assert_allclose(data["ENERG_LO"], energ_lo, rtol=1e-6)
    np.testing.assert_allclose(
        data["SPECRESP"], instrument.onaxis_area(grid_midpoints()), rtol=1e-6, atol=1e-6
    )


def hand_pcarf(values, axis_x, axis_y):
    """pcarf's sum, pixel by pixel: sum w A(theta) / sum nint(w) with A linear in theta."""
    pixel_arcmin = SKY_PIXEL_DEG * BINNING * 60.0
    angles = instrument.OFFAXIS_ANGLES_ARCMIN
    tabulated = instrument.vignetting(angles)
    weighted, total = 0.0, 0
    for iy, row in enumerate(values, start=1):
        for ix, value in enumerate(row, start=1):
            if value < 1:
                continue
            theta = np.hypot((ix - axis_x) * pixel_arcmin, (iy - axis_y) * pixel_arcmin)
            weighted += value * np.interp(theta, angles, tabulated)  # last angle beyond 65'
            total += int(value + 0.5)
    return instrument.onaxis_area(grid_midpoints()) * weighted / total


WMAP_VALUES = [
    [-1.0, 2.0, 0.4, -1.0],
    [1.0, 2.5, 7.0, 0.0],
    [-1.0, 3.0, 1.0, -1.0],
]


def test_pcarf_weighting_matches_a_hand_computation(calibration, tmp_path):
    rmf, specresp = calibration
    wmap = make_wmap(WMAP_VALUES, first_bin_x=80, first_bin_y=70)
    # pcarf's default axis (4119, 3929) detector pixels, in WMAP pixels:
    axis_x = 4118 * DET_PIXEL_DEG / (SKY_PIXEL_DEG * BINNING) + 2 - 80
    axis_y = 3928 * DET_PIXEL_DEG / (SKY_PIXEL_DEG * BINNING) + 2 - 70
    path = make_arf(rmf, specresp, tmp_path / "pcarf.arf", method="pcarf", wmap=wmap)
    _, header, data = read_arf(path)
    assert header["ARFMETH"] == "pcarf"
    assert header["WMAPCNTS"] == 2 + 1 + 3 + 7 + 3 + 1  # nint(2.5) = 3, 0.4 and 0 excluded
    assert header["OPTAXWX"] == pytest.approx(axis_x)
    assert header["OPTAXWY"] == pytest.approx(axis_y)
    expected = hand_pcarf(WMAP_VALUES, axis_x, axis_y)
    np.testing.assert_allclose(data["SPECRESP"], expected, rtol=1e-5, atol=1e-5)
    # the pixels sit 8-11' from the default axis: vignetted, but far from the last angle
    onaxis = instrument.onaxis_area(grid_midpoints())
    assert 0.8 * onaxis.max() < data["SPECRESP"].max() < onaxis.max()


def test_pcarf_beyond_the_last_angle_uses_the_last_angle(calibration, tmp_path):
    rmf, specresp = calibration
    wmap = make_wmap(WMAP_VALUES)
    far_axis = (4119.0 + 20000.0, 3929.0)  # ~ 5 deg from the WMAP
    path = make_arf(rmf, specresp, tmp_path / "far.arf", "pcarf", wmap, optical_axis=far_axis)
    _, _, data = read_arf(path)
    # pcarf divides sum(w) = 16.5 by sum(nint(w)) = 17
    last = instrument.vignetting(instrument.OFFAXIS_ANGLES_ARCMIN[-1]) * 16.5 / 17
    np.testing.assert_allclose(
        data["SPECRESP"], last * instrument.onaxis_area(grid_midpoints()), rtol=1e-5, atol=1e-5
    )


def test_pcarf_uses_optaxis_keywords_in_wmap_pixels(calibration, tmp_path):
    rmf, specresp = calibration
    wmap = make_wmap(WMAP_VALUES, OPTAXISX=2.0, OPTAXISY=2.0)
    path = make_arf(rmf, specresp, tmp_path / "kw.arf", method="pcarf", wmap=wmap)
    _, header, data = read_arf(path)
    assert (header["OPTAXWX"], header["OPTAXWY"]) == (2.0, 2.0)
    np.testing.assert_allclose(
        data["SPECRESP"], hand_pcarf(WMAP_VALUES, 2.0, 2.0), rtol=1e-5, atol=1e-5
    )


def test_pcarf_reads_the_wmap_from_a_spectrum_file(calibration, tmp_path):
    rmf, specresp = calibration
    spectrum = tmp_path / "src.pi"
    table = fits.BinTableHDU.from_columns(
        [fits.Column("CHANNEL", "J", array=[1, 2]), fits.Column("COUNTS", "J", array=[3, 4])],
        name="SPECTRUM",
    )
    fits.HDUList([make_wmap(WMAP_VALUES), table]).writeto(spectrum)
    from_file = make_arf(rmf, specresp, tmp_path / "a.arf", "pcarf", spectrum)
    from_hdu = make_arf(rmf, specresp, tmp_path / "b.arf", "pcarf", make_wmap(WMAP_VALUES))
    np.testing.assert_array_equal(
        read_arf(from_file)[2]["SPECRESP"], read_arf(from_hdu)[2]["SPECRESP"]
    )


def test_empty_wmap_falls_back_to_onaxis_with_a_warning_keyword(calibration, tmp_path):
    rmf, specresp = calibration
    wmap = make_wmap([[-1.0, 0.0], [0.5, -1.0]])
    with pytest.warns(UserWarning, match="no pixel >= 1"):
        path = make_arf(rmf, specresp, tmp_path / "empty.arf", method="pcarf", wmap=wmap)
    _, header, data = read_arf(path)
    assert (header["ARFMETH"], header["ARFREQ"]) == ("onaxis", "pcarf")
    assert "no pixel" in header["ARFWARN"]
    np.testing.assert_allclose(
        data["SPECRESP"], instrument.onaxis_area(grid_midpoints()), rtol=1e-6, atol=1e-6
    )


def test_bad_requests_raise(calibration, tmp_path):
    rmf, specresp = calibration
    with pytest.raises(ValueError, match="unknown ARF method"):
        make_arf(rmf, specresp, tmp_path / "x.arf", method="average")
    with pytest.raises(ValueError, match="needs the spectrum's WMAP"):
        make_arf(rmf, specresp, tmp_path / "x.arf", method="pcarf")
    with pytest.raises(ValueError, match="SPECTRAL RESPONSE"):
        make_arf(rmf, rmf, tmp_path / "x.arf")
    assert not (tmp_path / "x.arf").exists()


def test_psf_kept_fraction_and_systematic_for_default_and_notebook_regions():
    """What the extraction keeps of a source under each PSF description (BACKSCAL ratio of a
    full annulus, area ratio): the default 4'-8' annulus takes 0.5 % of a source with it,
    the notebook's 2.1'-3' 13 %; the 2' circle itself holds 0.64 (PSFOFF) or 0.74 (GOF
    FAQ), so the PSF systematic remains 0.81-0.89 for the default and 0.76-0.84 for the
    notebook over 0.1-2.4 keV."""
    from rassflow.products.responses import psf_kept_fraction, psf_systematic

    default = (2.0, 4.0, 8.0, 4.0 / 48.0)
    notebook = (2.0, 2.1, 3.0, 4.0 / (9.0 - 4.41))
    kept = {
        (name, model): float(psf_kept_fraction(1.0, *regions, model=model))
        for name, regions in (("default", default), ("notebook", notebook))
        for model in ("psfoff", "gof_faq")
    }
    assert kept["default", "psfoff"] == pytest.approx(0.635, abs=0.005)
    assert kept["default", "gof_faq"] == pytest.approx(0.736, abs=0.005)
    assert kept["notebook", "psfoff"] == pytest.approx(0.510, abs=0.005)
    assert kept["notebook", "gof_faq"] == pytest.approx(0.625, abs=0.005)
    low, high = psf_systematic(*default)
    assert 0.80 < low < high < 0.90
    low_nb, high_nb = psf_systematic(*notebook)
    assert low_nb < low and high_nb < high  # the notebook's annulus depends more on the PSF


def test_psf_systematic_widens_only_towards_the_other_description():
    from rassflow.products.responses import apply_psf_systematic

    assert apply_psf_systematic(8.0, 12.0, (0.8, 0.9)) == (pytest.approx(6.4), 12.0)
    assert apply_psf_systematic(8.0, 12.0, (1.1, 1.2)) == (8.0, pytest.approx(14.4))
    assert apply_psf_systematic(None, 12.0, (0.8, 0.9)) == (None, 12.0)
