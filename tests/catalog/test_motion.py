"""Positions at the RASS epoch: high-proper-motion stars are matched and centred."""

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from rassflow.archive.skyfield import archive_epoch
from rassflow.catalog.crossmatch import match_sample, read_prepared_sample
from rassflow.catalog.motion import RASS_MID_EPOCH, at_epochs, propagate, with_rass_positions
from rassflow.catalog.sample import read_table
from rassflow.config import validate
from rassflow.simulate.survey import simulate_survey
from tests.support import SIMULATED_SAMPLE

SAMPLE_CFG = SIMULATED_SAMPLE


def test_propagate_moves_by_pm_times_years():
    ra, dec = propagate([10.0], [60.0], [3600.0], [-1800.0], 2000.0, 1990.0)  # mas/yr
    # 10 yr back: 36" along RA (on the sky, i.e. /cos dec in RA) and +18" in Dec, to 0.04"
    # (the great-circle motion differs from this flat-sky estimate by ~0.01")
    assert ra[0] == pytest.approx(10.0 - 36.0 / 3600.0 / np.cos(np.radians(60.0)), abs=1e-5)
    assert dec[0] == pytest.approx(60.0 + 18.0 / 3600.0, abs=1e-5)
    ra, dec = propagate([10.0], [60.0], [np.nan], [np.nan], 2000.0, 1990.0)
    assert (ra[0], dec[0]) == pytest.approx((10.0, 60.0))


@pytest.fixture(scope="module")
def moving_survey(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("motion")
    simulate_survey(
        tmp,
        {
            "seed": 5,
            "n_skyfields": 6,
            "n_stars": 30,
            "xray_fraction": 1.0,
            "n_unrelated_per_field": 0,
            "neighbour_fraction": 0.0,
            "pm_fraction": 1.0,
        },
    )
    return tmp


def test_fast_movers_are_matched_and_centred_at_their_skyfield_epoch(moving_survey):
    tmp = moving_survey
    crossmatch = validate({})["crossmatch"]
    rxs = read_table(tmp / "rass2rxs.fits")
    stars = read_prepared_sample(tmp / "sample.csv", SAMPLE_CFG)
    truth = pd.read_csv(tmp / "truth.csv")
    targets = truth[truth["kind"] == "target"].set_index("star_no")
    speed = np.hypot(targets["pmRA"], targets["pmDE"]) / 1000.0  # arcsec/yr
    assert (speed >= 1.0).sum() >= 15, "the survey should have fast movers"

    still, _ = match_sample(stars, crossmatch, rxs, 0.0)  # the PM keys unset: today's match
    moving = with_rass_positions(stars, "pmRA", "pmDE", 2000.0)
    matched, _ = match_sample(moving, crossmatch, rxs, 0.0)
    assert len(matched) >= 0.9 * len(targets) > len(still)
    epochs = matched["seq_id"].map(
        {s: archive_epoch(tmp / "archive", s) for s in matched["seq_id"].unique()}
    )
    assert np.all(np.abs(epochs - RASS_MID_EPOCH) < 0.5)
    refined = at_epochs(matched, epochs.to_numpy(float))
    true = targets.loc[refined["No"].astype(int)]
    offset = (
        SkyCoord(refined["ra_rass"].to_numpy() * u.deg, refined["dec_rass"].to_numpy() * u.deg)
        .separation(
            SkyCoord(true["ra_rass"].to_numpy() * u.deg, true["dec_rass"].to_numpy() * u.deg)
        )
        .arcsec
    )
    assert offset.max() < 3.0, offset.max()
    assert list(refined["ra"]) == list(stars.set_index("id_name").loc[refined["id_name"], "ra"])


def test_mixed_epochs_move_each_row_as_alone():
    """Rows are grouped by (catalog epoch, target epoch); each moves as it would alone."""
    rng = np.random.default_rng(4)
    n = 12
    ra, dec = rng.uniform(0, 360, n), rng.uniform(-85, 85, n)
    pm_ra, pm_dec = rng.normal(0, 3000, n), rng.normal(0, 3000, n)
    pm_ra[0] = np.nan
    start = rng.choice([2000.0, 2015.5], n)
    end = rng.choice([1990.6, 1990.87, 1991.0], n)
    got = np.array(propagate(ra, dec, pm_ra, pm_dec, start, end))
    for k in range(n):
        alone = propagate(ra[k], dec[k], pm_ra[k], pm_dec[k], start[k], end[k])
        assert got[:, k].tolist() == [alone[0][0], alone[1][0]]
    assert np.all(got[:, 1:] != np.array([ra, dec])[:, 1:])
