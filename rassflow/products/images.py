"""Images of a skyfield per energy band and binning, with extractor's geometry.

extractor (fact sheet §2.6) bins the full field: (TLMAX - TLMIN + 1) // binf pixels per
axis, CDELT = TCDLT * binf, CRPIX = (TCRPX - (TLMIN - 1)) / binf + (binf - 1) / (2 binf).
The physical (sky X/Y) mapping is written as LTM/LTV and as DS9's 'P' WCS.
"""

from __future__ import annotations

import numpy as np

from rassflow.archive.skyfield import EventList
from rassflow.files import stamp, write_fits
from rassflow.pspc import pi_limits


def bin_image(events: EventList, pi_lo: int, pi_hi: int, binning: int):
    """Counts image (int32) of events with pi_lo <= PI <= pi_hi, and its header."""
    from astropy.io import fits

    xmin, xmax = events.axis_range("X")
    ymin, ymax = events.axis_range("Y")
    nx = (xmax - xmin + 1) // binning
    ny = (ymax - ymin + 1) // binning
    select = (events.pi >= pi_lo) & (events.pi <= pi_hi)
    col = (events.x[select] - xmin) // binning
    row = (events.y[select] - ymin) // binning
    inside = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
    image = np.zeros((ny, nx), dtype=np.int32)
    np.add.at(image, (row[inside], col[inside]), 1)

    sky = events.wcs()
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = sky.wcs.ctype
    header["CRVAL1"], header["CRVAL2"] = sky.wcs.crval
    header["CRPIX1"] = (sky.wcs.crpix[0] - (xmin - 1)) / binning + (binning - 1) / (2 * binning)
    header["CRPIX2"] = (sky.wcs.crpix[1] - (ymin - 1)) / binning + (binning - 1) / (2 * binning)
    header["CDELT1"], header["CDELT2"] = sky.wcs.cdelt * binning
    header["CUNIT1"] = header["CUNIT2"] = "deg"
    header["RADESYS"] = sky.wcs.radesys
    header["EQUINOX"] = sky.wcs.equinox
    # physical sky pixels: image pixel p = X / binf + LTV
    for axis, lo in ((1, xmin), (2, ymin)):
        header[f"LTV{axis}"] = 0.5 - (lo - 0.5) / binning
        header[f"LTM{axis}_{axis}"] = 1.0 / binning
        header[f"WCSNAME{'P'}"] = "PHYSICAL"
        header[f"CTYPE{axis}P"] = "x" if axis == 1 else "y"
        header[f"CRPIX{axis}P"] = 0.5
        header[f"CRVAL{axis}P"] = lo - 0.5
        header[f"CDELT{axis}P"] = float(binning)
    header["BUNIT"] = ("count", "events per pixel")
    header["CHANTYPE"] = ("PI", "channel type of the band filter")
    header["CHANMIN"] = (pi_lo, "lowest PI channel included")
    header["CHANMAX"] = (pi_hi, "highest PI channel included")
    header["BINF"] = (binning, "sky pixels (0.5 arcsec) per image pixel")
    return image, header


def make_images(events_path, seq: str, bands_keV, binnings, outputs: dict, provenance: dict):
    """Write one image per (band, binning); ``outputs`` maps (lo, hi, binning) to a path."""
    from astropy.io import fits

    from rassflow.archive.skyfield import read_events

    events = read_events(events_path)
    for lo, hi in bands_keV:
        pi_lo, pi_hi = pi_limits(lo, hi)
        for binning in binnings:
            image, header = bin_image(events, pi_lo, pi_hi, binning)
            for key in ("TELESCOP", "INSTRUME", "OBJECT", "DATE-OBS", "MJDREFI", "MJDREFF"):
                if key in events.header:
                    header[key] = events.header[key]
            header["SEQ_ID"] = (seq, "RASS sequence ID of the skyfield")
            header["E_MIN"] = (lo, "[keV] lower edge of the energy band")
            header["E_MAX"] = (hi, "[keV] upper edge of the energy band")
            stamp(header, **provenance)
            write_fits(fits.HDUList([fits.PrimaryHDU(image, header)]), outputs[(lo, hi, binning)])
