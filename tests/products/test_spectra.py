import numpy as np
import pytest
from astropy.io import fits

from rassflow.archive.skyfield import read_events
from rassflow.chain import Skyfield, Source, extract_spectra
from rassflow.products.regions import source_regions, write_region_files
from rassflow.products.spectra import SpectrumError, extract_spectrum
from tests.support.fits import write_events, write_expmap

PROV = {"backend": "native", "tool": "test", "config_hash": "0"}


def regions_for(events, ra=150.0, dec=20.0):
    return source_regions(events.wcs(), ra, dec, 2.0, 1.05, 1.5, events.pixel_scale_deg)


def test_backscal_counts_lattice_points_like_extractor(tmp_path):
    events = read_events(write_events(tmp_path / "ev.fits", [1], [1], [1], [1.0]))
    regions = regions_for(events)
    src = extract_spectrum(events, regions, "src", 90, 400.0, "S1", PROV)
    bkg = extract_spectrum(events, regions, "bkg", 90, 400.0, "S1", PROV)
    xs, ys = np.meshgrid(np.arange(22700, 23400), np.arange(22700, 23400))
    npix = np.count_nonzero((xs - 23040.5) ** 2 + (ys - 23040.5) ** 2 <= 240.0**2)
    assert src[1].header["BACKSCAL"] == pytest.approx(npix / 46080**2)
    assert src[1].header["BACKSCAL"] == pytest.approx(8.5e-5, rel=0.01)  # fact sheet §2.3
    ratio = bkg[1].header["BACKSCAL"] / src[1].header["BACKSCAL"]
    assert ratio == pytest.approx(1.5**2 - 1.05**2, rel=1e-3)  # 1.1475


def test_spectrum_selects_region_channels_and_gti(tmp_path):
    x = [23040, 23040, 23040, 23100, 23400, 23040]
    pi = [1, 256, 300, 50, 50, 60]
    time = [1, 2, 3, 4, 5, 2000]  # the last one is outside the GTI
    events = read_events(write_events(tmp_path / "ev.fits", x, [23040] * 6, pi, time))
    regions = regions_for(events)
    hdul = extract_spectrum(events, regions, "src", 90, 412.345678, "S1", PROV)
    spectrum = hdul["SPECTRUM"]
    assert spectrum.data["CHANNEL"][0] == 1 and spectrum.data["CHANNEL"][-1] == 256
    counts = spectrum.data["COUNTS"]
    assert counts.sum() == 3 and counts[0] == 1 and counts[255] == 1 and counts[49] == 1
    for hdu in hdul:
        assert hdu.header["EXPOSURE"] == 412.34568
    h = spectrum.header
    assert (h["HDUCLAS1"], h["HDUCLAS2"], h["CHANTYPE"], h["DETCHANS"]) == (
        "SPECTRUM",
        "TOTAL",
        "PI",
        256,
    )
    assert h["POISSERR"] is True and h["TOTCTS"] == 3
    wmap = hdul[0]
    assert wmap.header["HDUCLAS2"] == "WMAP" and wmap.header["WMREBIN"] == 90
    assert wmap.data.max() == 2 and (wmap.data == -1).any()  # two events share a 90x90 bin
    assert wmap.data[wmap.data >= 0].sum() == 3


def test_zero_exposure_is_refused_with_the_source_named(tmp_path):
    events = read_events(write_events(tmp_path / "ev.fits", [1], [1], [1], [1.0]))
    with pytest.raises(SpectrumError, match="source S9.*not positive"):
        extract_spectrum(events, regions_for(events), "src", 90, 0.0, "S9", PROV)


def test_extract_spectra_takes_exposure_from_the_map(tmp_path):
    ev = write_events(tmp_path / "ev.fits", [23040] * 5, [23040] * 5, [100] * 5, [1.0] * 5)
    mex = write_expmap(tmp_path / "mex.fits", value=777.0)
    events = read_events(ev)
    regions = regions_for(events)
    paths = {k: tmp_path / f"{k}.reg" for k in ("src", "bkg", "src_phys", "bkg_phys")}
    write_region_files(regions, 150.0, 20.0, 2.0, 1.05, 1.5, paths)
    paths.update(spectrum=tmp_path / "src.fits", background=tmp_path / "bkg.fits")
    settings = {"backend": "native", "wmap_binning": 90, "provenance": PROV}
    extract_spectra(Skyfield(ev, mex), Source("S1", 150.0, 20.0, paths), settings)
    with fits.open(tmp_path / "src.fits") as src, fits.open(tmp_path / "bkg.fits") as bkg:
        assert src["SPECTRUM"].data["COUNTS"].sum() == 5
        assert bkg["SPECTRUM"].data["COUNTS"].sum() == 0
        assert src[1].header["EXPOSURE"] == bkg[1].header["EXPOSURE"] == 777.0
        assert src[1].header["RFBACKND"] == "native"
