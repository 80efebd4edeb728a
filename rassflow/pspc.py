"""Facts about the ROSAT PSPC and the RASS skyfields that more than one stage needs.

Each constant is defined here once; the sources are the project's fact sheet sections
(archive format §1.6–1.7, 2RXS bands §11) and the HEASARC notebook.
"""

from __future__ import annotations

import math

SKY_PIXEL_DEG = 1.388889e-4  # RASS sky X/Y pixel: 0.5 arcsec (TCDLT1/2 of the _bas files)
SKY_PIXELS = 46080  # X and Y run 1..46080: 6.4 deg per skyfield axis
DETECTOR_PIXEL_DEG = 2.595021e-4  # PSPC DETX/DETY pixel (0.93 arcsec), pcarf's value
PI_CHANNELS = (1, 256)  # PI channels of the PSPC-C RMF (extractor's [PI=0:256] clipped)
PI_ENERGY_KEV = 0.0099  # the notebook's PI <-> energy conversion for band limits

# 2RXS channel bands (Boller et al. 2016, A&A 588, A103, §2.4): PI ranges, inclusive
BROAD_BAND = (11, 235)  # 0.1-2.4 keV
HR_BANDS = {"A": (11, 41), "B": (52, 201), "C": (52, 90), "D": (91, 201)}


def pi_limits(e_lo_kev: float, e_hi_kev: float) -> tuple[int, int]:
    """PI channel limits of an energy band, as the notebook computes them."""
    lo = int(math.floor(round(e_lo_kev / PI_ENERGY_KEV, 9)))
    hi = int(math.ceil(round(e_hi_kev / PI_ENERGY_KEV, 9)))
    return lo, hi
