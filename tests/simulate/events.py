"""Reading a simulated survey back the way an analysis would: events, maps, WCS, truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.wcs import WCS

from rassflow.files import decompress_to

PIXEL_ARCMIN = 0.5 / 60.0  # sky X/Y pixels of the events


def expanded(path: Path, tmp_path: Path) -> Path:
    """A .Z archive file expanded into tmp_path (plain FITS files are used as they are)."""
    path = Path(path)
    if path.suffix != ".Z":
        return path
    tmp_path.mkdir(parents=True, exist_ok=True)
    return decompress_to(path, tmp_path / path.name.removesuffix(".Z"))


def events_of(paths, seq, tmp_path):
    with fits.open(expanded(paths["skyfields"][seq]["bas"], tmp_path)) as hdul:
        return hdul["STDEVT"].data.copy(), hdul["STDGTI"].data.copy(), hdul["STDEVT"].header.copy()


def in_gti(time, gti):
    return np.any((time[:, None] >= gti["START"]) & (time[:, None] < gti["STOP"]), axis=1)


def events_wcs(header) -> WCS:
    """The sky WCS of the events' X/Y columns, from the TC* keywords."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = [header["TCTYP1"], header["TCTYP2"]]
    wcs.wcs.crval = [header["TCRVL1"], header["TCRVL2"]]
    wcs.wcs.crpix = [header["TCRPX1"], header["TCRPX2"]]
    wcs.wcs.cdelt = [header["TCDLT1"], header["TCDLT2"]]
    return wcs


class Field:
    """One skyfield's good events (in GTIs), their WCS and the exposure map."""

    def __init__(self, paths, seq, tmp_path):
        data, gti, header = events_of(paths, seq, Path(tmp_path) / seq)
        good = in_gti(data["TIME"], gti)
        self.header = header
        self.x = data["X"][good].astype(float)
        self.y = data["Y"][good].astype(float)
        self.pi = data["PI"][good].astype(int)
        self.time = data["TIME"][good].astype(float)
        self.wcs = events_wcs(header)
        with fits.open(paths["skyfields"][seq]["mex"]) as hdul:
            self.expmap = hdul[0].data.astype(float)
            self.map_wcs = WCS(hdul[0].header)

    def pixel(self, ra, dec):
        x, y = self.wcs.all_world2pix([[ra, dec]], 1)[0]
        return float(x), float(y)

    def distance_arcmin(self, ra, dec):
        x0, y0 = self.pixel(ra, dec)
        return np.hypot(self.x - x0, self.y - y0) * PIXEL_ARCMIN

    def nearest_pixel_exposure(self, ra, dec) -> float:
        """The analysis's lookup (fact sheet 1.10): nearest map pixel, 0-based, rounded."""
        col, row = np.round(self.map_wcs.all_world2pix([[ra, dec]], 0)[0])
        return float(self.expmap[int(row), int(col)])


def read_truth(paths) -> pd.DataFrame:
    return pd.read_csv(paths["truth"])


def read_rxs(paths) -> pd.DataFrame:
    with fits.open(paths["rxs"]) as hdul:
        data = hdul[1].data
        return pd.DataFrame(
            {
                "name": [str(n).strip() for n in data["name"]],
                "ra": data["ra"].astype(float),
                "dec": data["dec"].astype(float),
                "skyfield_number": data["skyfield_number"].astype(int),
            }
        )


def separation_arcmin(ra1, dec1, ra2, dec2):
    """Great-circle distance (arcmin), the tests' own haversine."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, dtype=float)) for v in (ra1, dec1, ra2, dec2))
    h = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0, 1)))) * 60.0
