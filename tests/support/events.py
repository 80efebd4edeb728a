"""An in-memory event list on the RASS sky-pixel lattice, for tests of the stages that read
events (deblending, the PSF stack) without writing a skyfield file."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from rassflow.archive.skyfield import EventList

PIXEL_DEG = 0.5 / 3600.0  # the RASS sky pixel


def synthetic_events(xs, ys, pis) -> EventList:
    """Events at (x, y) sky pixels (rounded) with PI channels (clipped to 1-256), on the
    full 46080-pixel field, one GTI, the 0.5" pixel scale in TCDLT1/2."""
    header = fits.Header()
    for number, lo, hi in ((1, 1, 46080), (2, 1, 46080), (3, 1, 256)):
        header[f"TLMIN{number}"], header[f"TLMAX{number}"] = lo, hi
    header["TCDLT1"] = header["TCDLT2"] = PIXEL_DEG
    x = np.round(np.asarray(xs, float)).astype(int)
    return EventList(
        x=x,
        y=np.round(np.asarray(ys, float)).astype(int),
        pi=np.clip(np.asarray(pis), 1, 256).astype(int),
        time=np.zeros(len(x)),
        header=header,
        primary_header=fits.Header(),
        gti=np.array([[0.0, 1.0]]),
        path="synthetic events",
        xy_columns=(1, 2),
        pi_column=3,
    )
