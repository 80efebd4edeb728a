"""rassflow.products.images: counts images per band and binning with extractor's geometry."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from rassflow import __version__
from rassflow.archive.skyfield import read_events
from rassflow.products.images import bin_image, make_images
from rassflow.pspc import pi_limits
from tests.support.fits import write_events


def test_image_geometry_follows_extractor(tmp_path):
    # events at the field centre pixel and one at the first pixel
    path = write_events(
        tmp_path / "ev.fits",
        x=[23040, 23041, 1, 46080],
        y=[23040, 23041, 1, 46080],
        pi=[60, 60, 60, 300],
        time=[1.0] * 4,
    )
    events = read_events(path)
    image, header = bin_image(events, 50, 203, 270)
    assert image.shape == (170, 170)  # 46080 // 270
    assert image.sum() == 3  # PI 300 is outside the band
    assert image[0, 0] == 1
    wcs = WCS(header)
    # the WCS of the image agrees with the events' sky WCS at the centre of a pixel
    col, row = 85, 85
    ra, dec = wcs.all_pix2world([[col, row]], 0)[0]
    phys_x = (col + 1 - header["LTV1"]) / header["LTM1_1"]
    ra_events, dec_events = events.wcs().all_pix2world([[phys_x, phys_x]], 1)[0]
    assert ra == pytest.approx(ra_events, abs=1e-9)
    assert dec == pytest.approx(dec_events, abs=1e-9)
    assert header["CHANMIN"] == 50 and header["CHANMAX"] == 203


def test_make_images_writes_every_band_and_binning(tmp_path):
    path = write_events(
        tmp_path / "ev.fits", x=[100, 20000], y=[100, 20000], pi=[60, 120], time=[1.0, 2.0]
    )
    outputs = {
        (lo, hi, b): tmp_path / f"im_{lo}_{hi}_{b}.fits"
        for lo, hi in ((0.5, 2.0), (1.0, 2.0))
        for b in (180, 270)
    }
    make_images(
        path,
        "RS930001N00",
        [[0.5, 2.0], [1.0, 2.0]],
        [180, 270],
        outputs,
        {"backend": "native", "tool": "test", "config_hash": "abc"},
    )
    with fits.open(outputs[(1.0, 2.0, 180)]) as hdul:
        assert hdul[0].data.sum() == 1
        assert hdul[0].header["RFBACKND"] == "native"
        assert hdul[0].data.shape == (256, 256)


def test_band_edges_are_inclusive_and_the_partial_last_bin_is_dropped(tmp_path):
    lo, hi = pi_limits(0.5, 2.0)
    # PI just outside, on and inside both edges; the last event lies in the 180 sky pixels
    # (46080 - 170 * 270) that do not fill an image pixel
    pi = [lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, 100]
    x = [23040] * 6 + [46000]
    events = read_events(write_events(tmp_path / "ev.fits", x, [23040] * 7, pi, [1.0] * 7))
    image, header = bin_image(events, lo, hi, 270)
    assert image.dtype == np.int32
    assert image.sum() == 4 and image[85, 85] == 4  # (23040 - 1) // 270 = 85
    assert (header["CHANMIN"], header["CHANMAX"], header["BINF"]) == (lo, hi, 270)


@pytest.mark.parametrize("binning", [45, 90, 180])
def test_physical_mapping_puts_each_event_in_its_pixel(tmp_path, binning):
    rng = np.random.default_rng(binning)
    x = rng.integers(1, 46081, 500)
    y = rng.integers(1, 46081, 500)
    events = read_events(write_events(tmp_path / "ev.fits", x, y, [100] * 500, [1.0] * 500))
    image, header = bin_image(events, 1, 256, binning)
    assert image.shape == (46080 // binning,) * 2 and image.sum() == 500
    # LTM/LTV: image pixel (1-based) = X / binf + LTV, inside the pixel that counted the event
    col = x * header["LTM1_1"] + header["LTV1"]
    row = y * header["LTM2_2"] + header["LTV2"]
    counted = np.zeros_like(image)
    np.add.at(counted, (np.rint(row).astype(int) - 1, np.rint(col).astype(int) - 1), 1)
    np.testing.assert_array_equal(counted, image)
    # DS9's physical WCS 'P': image pixel edges are sky pixel edges
    physical = WCS(header, key="P")
    edges = physical.all_pix2world([[0.5, 0.5], [image.shape[1] + 0.5, 1.5]], 1)
    np.testing.assert_allclose(edges, [[0.5, 0.5], [0.5 + 46080, 0.5 + binning]])


@pytest.mark.parametrize("binning", [45, 90])
def test_celestial_wcs_agrees_with_the_events_at_pixel_corners(tmp_path, binning):
    events = read_events(write_events(tmp_path / "ev.fits", [1], [1], [1], [1.0]))
    image, header = bin_image(events, 1, 256, binning)
    wcs, sky = WCS(header), events.wcs()
    n = image.shape[0]
    corners = np.array([[1.0, 1.0], [n, 1.0], [1.0, n], [n, n], [n / 2, n / 3]])
    physical = (corners - 0.5) * binning + 0.5  # image pixel centre in sky pixels
    np.testing.assert_allclose(
        wcs.all_pix2world(corners, 1), sky.all_pix2world(physical, 1), rtol=0, atol=1e-9
    )
    assert header["CDELT1"] == pytest.approx(sky.wcs.cdelt[0] * binning)


def test_image_keywords_name_seq_band_and_provenance(tmp_path):
    path = write_events(tmp_path / "ev.fits", [23040], [23040], [100], [1.0])
    with fits.open(path, mode="update") as hdul:
        hdul["STDEVT"].header["OBJECT"] = "RASS field 930001"
    out = tmp_path / "image.fits"
    provenance = {"backend": "native", "tool": "make-images-test", "config_hash": "c0ffee"}
    make_images(path, "RS930001N00", [[0.1, 0.4]], [90], {(0.1, 0.4, 90): out}, provenance)
    header = fits.getheader(out)
    assert (header["TELESCOP"], header["INSTRUME"]) == ("ROSAT", "PSPCC")
    assert header["OBJECT"] == "RASS field 930001"
    assert header["SEQ_ID"] == "RS930001N00"
    assert (header["E_MIN"], header["E_MAX"]) == (0.1, 0.4)
    assert (header["CHANMIN"], header["CHANMAX"]) == pi_limits(0.1, 0.4)
    assert header["BUNIT"] == "count" and header["CHANTYPE"] == "PI"
    assert (header["RFBACKND"], header["RFTOOL"], header["RFCONFIG"]) == (
        "native",
        "make-images-test",
        "c0ffee",
    )
    assert header["RFVERS"] == __version__ and header["CREATOR"] == f"rassflow {__version__}"
    assert fits.getdata(out).sum() == 0  # PI 100 lies above the 0.1-0.4 keV band
