"""Small but complete RASS-like files written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from rassflow.pspc import SKY_PIXEL_DEG as PIXEL_DEG


def write_events(
    path, x, y, pi, time, gti=((0.0, 1000.0),), centre=(150.0, 20.0), columns=None, extname="STDEVT"
):
    """A _bas-like file: STDEVT with X, Y first and their TC* keywords, then PI and TIME."""
    cols = [
        fits.Column("X", "J", array=np.asarray(x)),
        fits.Column("Y", "J", array=np.asarray(y)),
        fits.Column("PHA", "I", array=np.asarray(pi)),
        fits.Column("PI", "I", array=np.asarray(pi)),
        fits.Column("TIME", "D", unit="s", array=np.asarray(time, float)),
    ]
    if columns is not None:
        cols = [c for c in cols if c.name in columns]
    events = fits.BinTableHDU.from_columns(cols, name=extname)
    h = events.header
    names = [c.name for c in cols]
    if "X" in names and "Y" in names:
        for n, ctype, crval, cdelt in (
            (1, "RA---TAN", centre[0], -PIXEL_DEG),
            (2, "DEC--TAN", centre[1], PIXEL_DEG),
        ):
            h[f"TCTYP{n}"], h[f"TCRVL{n}"], h[f"TCRPX{n}"] = ctype, crval, 23040.5
            h[f"TCDLT{n}"], h[f"TLMIN{n}"], h[f"TLMAX{n}"] = cdelt, 1, 46080
    if "PI" in names:
        n = names.index("PI") + 1
        h[f"TLMIN{n}"], h[f"TLMAX{n}"] = 1, 256
    h["TELESCOP"], h["INSTRUME"], h["LIVETIME"] = "ROSAT", "PSPCC", -500.0
    gti = np.asarray(gti, float)
    gti_hdu = fits.BinTableHDU.from_columns(
        [fits.Column("START", "D", array=gti[:, 0]), fits.Column("STOP", "D", array=gti[:, 1])],
        name="STDGTI",
    )
    fits.HDUList([fits.PrimaryHDU(), events, gti_hdu]).writeto(path, overwrite=True)
    return Path(path)


def write_expmap(path, value=400.0, centre=(150.0, 20.0)):
    data = np.full((512, 512), value, dtype=np.float32)
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"] = centre
    h["CRPIX1"] = h["CRPIX2"] = 256.5
    h["CDELT1"], h["CDELT2"] = -0.0125, 0.0125
    h["BUNIT"] = "s"
    fits.PrimaryHDU(data, h).writeto(path, overwrite=True)
    return Path(path)
