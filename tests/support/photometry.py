"""What the photometry tests share: the settings, and OGIP spectra as rassflow writes them.

Used by tests/photometry/test_aperture.py, tests/photometry/test_simulated.py and
tests/report/test_photometry.py.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

EXPOSURE = 400.0
SETTINGS = {
    "confidence": 68.27,
    "detection_sigma": 3.0,
    "upper_limit_confidence": 99.73,
    "ecf_model": {"model": "powerlaw", "shape": 2.0},
}
"""The schema defaults of the ``photometry`` config section (rassflow/schema.yaml)."""


def contamination_hdu(channels, counts, name="CONTAMINATION"):
    """The optional CONTAMINATION extension of a source spectrum: per PI channel the counts
    expected in the source circle from catalogued neighbours' PSF wings (net of the
    BACKSCAL-scaled neighbour counts in the background region)."""
    return fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "J", array=np.asarray(channels, dtype=np.int32)),
            fits.Column("COUNTS", "D", unit="count", array=np.asarray(counts, dtype=float)),
        ],
        name=name,
    )


def write_spectrum(
    path, counts=None, exposure=EXPOSURE, backscal=1e-4, npix=0.0, contamination=None
):
    """An OGIP spectrum laid out as rassflow.products.spectra writes it: WMAP primary image
    (with NPIXSOU), SPECTRUM extension with CHANNEL 1..256 and COUNTS, EXPOSURE and BACKSCAL.
    ``counts``: {PI channel: counts}. ``contamination``: {PI channel: expected counts}, written
    as a CONTAMINATION extension (channels 1..256) after the SPECTRUM extension."""
    spectrum = np.zeros(256, dtype=np.int64)
    for channel, value in (counts or {}).items():
        spectrum[channel - 1] += value
    wmap = fits.PrimaryHDU(np.zeros((4, 4), dtype=np.float32))
    wmap.header["HDUCLAS2"] = "WMAP"
    wmap.header["NPIXSOU"] = float(npix)
    form = "J" if spectrum.max(initial=0) < 2**31 else "K"
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "J", array=np.arange(1, 257)),
            fits.Column("COUNTS", form, unit="count", array=spectrum),
        ],
        name="SPECTRUM",
    )
    header = table.header
    header["HDUCLASS"], header["HDUCLAS1"], header["HDUCLAS2"] = "OGIP", "SPECTRUM", "TOTAL"
    header["CHANTYPE"], header["DETCHANS"], header["POISSERR"] = "PI", 256, True
    for hdu in (wmap, table):
        hdu.header["EXPOSURE"] = exposure
    header["BACKSCAL"] = backscal
    hdus = [wmap, table]
    if contamination is not None:
        expected = np.zeros(256)
        for channel, value in contamination.items():
            expected[channel - 1] += value
        hdus.append(contamination_hdu(np.arange(1, 257), expected))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def chain_photometry(entries, skyfield_files, rmf, specresp, config, calibration=None) -> dict:
    """The per-member reference of the forced photometry: each entry's regions, spectra and
    ARF made by the chain (rassflow.batch.make_batch_products, every source, no fit), then
    measured from those files by rassflow.photometry.aperture.measure. ``entries``: the
    batch sources (id_name, seq, ra, dec, paths, neighbours); ``skyfield_files``:
    {seq: (events, expmap)}; ``calibration``: a survey-PSF calibration (weight, low, high;
    rassflow.chain.with_psf), None for PSFOFF. Returns {id_name: the photometry dict, or
    {"rassflow_failed": reason} when a product stage failed}."""
    from rassflow.batch import make_batch_products
    from rassflow.chain import PRODUCT_STAGES, stage_settings, with_psf
    from rassflow.photometry.aperture import measure

    settings = with_psf(stage_settings(config), calibration)
    entries = [{**entry, "fit": False} for entry in entries]
    failures = make_batch_products(
        skyfield_files, rmf, specresp, entries, {s: settings[s] for s in PRODUCT_STAGES}
    )
    out = {}
    for entry in entries:
        reason = failures[entry["id_name"]]
        if reason:
            out[entry["id_name"]] = {"rassflow_failed": reason}
            continue
        paths = entry["paths"]
        out[entry["id_name"]] = measure(
            paths["spectrum"], paths["background"], rmf, specresp, paths["arf"],
            config["photometry"], config["fit"]["flux_bands_keV"], entry["id_name"],
        )  # fmt: skip
    return out
