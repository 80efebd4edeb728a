"""Positions at the RASS epoch: catalog positions moved by their proper motions.

Nearby M dwarfs move 1-4 arcsec/yr, i.e. 10-40 arcsec between the RASS (1990-91) and
J2000 catalog positions, far more than the 8" match radius. With ``sample.pm_ra_column``
and ``sample.pm_dec_column`` set, the sample is matched with 2RXS at the survey's mid-epoch
and each matched source's regions are centred on its position at its skyfield's epoch (the
exposure-weighted mean time of the skyfield's good time intervals).
"""

from __future__ import annotations

import warnings

import numpy as np

# RASS ran from 1990 Jul 30 to 1991 Jan 25 (Voges et al. 1999, A&A 349, 389): any position
# was observed within 0.25 yr of the middle, i.e. within 1" for 4"/yr
RASS_MID_EPOCH = 1990.87  # Julian year


def propagate(ra_deg, dec_deg, pm_ra_masyr, pm_dec_masyr, epoch_from, epoch_to):
    """(ra, dec) in deg at Julian year ``epoch_to`` of positions at ``epoch_from`` that move
    by (pm_ra cos dec, pm_dec) mas/yr, by astropy's space motion (no parallax or radial
    velocity: their effect over a decade is far below the PSF). NaN motions count as 0."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.time import Time

    ra, dec = np.atleast_1d(ra_deg).astype(float), np.atleast_1d(dec_deg).astype(float)
    pm_ra = np.nan_to_num(np.atleast_1d(pm_ra_masyr).astype(float))
    pm_dec = np.nan_to_num(np.atleast_1d(pm_dec_masyr).astype(float))
    start = np.broadcast_to(np.asarray(epoch_from, float), ra.shape)
    end = np.broadcast_to(np.asarray(epoch_to, float), ra.shape)
    out_ra, out_dec = np.empty(ra.shape), np.empty(dec.shape)
    # one scalar-epoch SkyCoord per (from, to) pair: arrays of Time cost ~25 us per row, and
    # a sample has one catalog epoch and a few skyfield epochs
    pairs, group = np.unique(np.column_stack([start, end]), axis=0, return_inverse=True)
    for k, (t0, t1) in enumerate(pairs):
        rows = np.flatnonzero(group.ravel() == k)
        coords = SkyCoord(
            ra=ra[rows] * u.deg,
            dec=dec[rows] * u.deg,
            pm_ra_cosdec=pm_ra[rows] * u.mas / u.yr,
            pm_dec=pm_dec[rows] * u.mas / u.yr,
            obstime=Time(t0, format="jyear"),
            frame="icrs",
        )
        with warnings.catch_warnings():  # no distance: astropy assumes a large one, as we mean
            warnings.simplefilter("ignore")
            moved = coords.apply_space_motion(new_obstime=Time(t1, format="jyear"))
        out_ra[rows], out_dec[rows] = moved.ra.deg, moved.dec.deg
    return out_ra, out_dec


MOTION_COLUMNS = ("pm_ra", "pm_dec", "epoch", "ra_rass", "dec_rass", "epoch_rass")


def with_rass_positions(
    stars, pm_ra_column: str, pm_dec_column: str, epoch: float, source: str = "sample"
):
    """The prepared sample with its proper motions (``pm_ra`` incl. cos dec, ``pm_dec``,
    mas/yr), the catalog ``epoch`` and the positions at the RASS mid-epoch (``ra_rass``,
    ``dec_rass``, ``epoch_rass``)."""
    import pandas as pd

    from rassflow.catalog.sample import CatalogError

    for column in (pm_ra_column, pm_dec_column):
        if column not in stars.columns:
            raise CatalogError(
                f"{source}: proper-motion column {column!r} not found (sample.pm_ra_column / "
                f"sample.pm_dec_column); columns are {', '.join(map(str, stars.columns))}"
            )
    out = stars.copy()
    out["pm_ra"] = pd.to_numeric(stars[pm_ra_column], errors="coerce").to_numpy(float)
    out["pm_dec"] = pd.to_numeric(stars[pm_dec_column], errors="coerce").to_numpy(float)
    out["epoch"] = float(epoch)
    return at_epochs(out, np.full(len(out), RASS_MID_EPOCH))


def at_epochs(stars, epochs):
    """``stars`` with ``ra_rass``, ``dec_rass`` recomputed at the given Julian years."""
    out = stars.copy()
    ra, dec = propagate(out["ra"], out["dec"], out["pm_ra"], out["pm_dec"], out["epoch"], epochs)
    out["ra_rass"], out["dec_rass"] = np.round(ra, 7), np.round(dec, 7)
    out["epoch_rass"] = np.round(np.asarray(epochs, float), 4)
    return out
