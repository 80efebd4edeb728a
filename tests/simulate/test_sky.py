"""Where the simulated sky departs from the analysis's assumptions, as the real sky does.

Each test reads the survey back from its files (events, maps, catalogs) and compares with
an expectation computed independently: the survey PSF from ``scan_psf`` with fresh random
numbers, the background from the settings, separations and proper motions from the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.time import Time

from rassflow import pspc
from rassflow.fitting import models
from rassflow.simulate import sky
from rassflow.simulate.response import Response
from rassflow.simulate.survey import SkyModel, simulate_survey, with_defaults
from tests.simulate.events import Field, read_rxs, read_truth, separation_arcmin
from tests.simulate.psf_expectation import expected_eef, sample_source_photons

A_BAND, B_BAND = pspc.HR_BANDS["A"], pspc.HR_BANDS["B"]
SOFT_BAND, HARD_BAND = (11, 41), (91, 201)

# bright, isolated sources for the PSF; the default background
BRIGHT = {
    "seed": 11,
    "n_skyfields": 4,
    "n_stars": 12,
    "xray_fraction": 1.0,
    "n_unrelated_per_field": 3,
    "flux_range": [1e-11, 6e-11],
    "neighbour_fraction": 0.0,
}


def fields_of(paths, tmp_path) -> dict[str, Field]:
    return {seq: Field(paths, seq, tmp_path) for seq in paths["skyfields"]}


@pytest.fixture(scope="module")
def bright(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bright")
    paths = simulate_survey(tmp / "survey", BRIGHT)
    return paths, read_truth(paths), fields_of(paths, tmp / "events")


def stacked_profile(truth, fields, radii, band=None):
    """Background-subtracted counts within ``radii`` of every source, over its total counts.

    The background (counts per s of exposure per arcmin^2, in the band) is measured in the
    source's field, in the map pixels more than 15' from every source, so the expectation
    needs nothing from the simulator.
    """
    lo, hi = band or (1, 256)
    density = {}
    for seq, field in fields.items():
        pi, exposure_area = empty_area_events(truth[truth["seq_id"] == seq], field, 15.0)
        density[seq] = np.sum((pi >= lo) & (pi <= hi)) / exposure_area
    counts = np.zeros(len(radii))
    total = 0
    for _, source in truth.iterrows():
        field = fields[source["seq_id"]]
        keep = (field.pi >= lo) & (field.pi <= hi)
        distance = field.distance_arcmin(source["ra_rass"], source["dec_rass"])
        background = density[source["seq_id"]] * source["exposure_s"] * np.pi * radii**2
        counts += [np.sum(keep & (distance <= r)) for r in radii] - background
        total += source["simulated_counts"]
    return counts / total


def test_source_events_follow_the_survey_psf_not_a_narrow_one(bright):
    """Stacked bright sources: encircled fractions as scan_psf predicts for their spectra.

    > 4e4 source counts: the statistical error of a stacked EEF is < 0.003, the background
    subtraction adds < 0.005 at 5'; 0.015 is well beyond both. The old two-Gaussian PSF had
    98.9 % inside 2'; the survey PSF has well under 90 %.
    """
    paths, truth, fields = bright
    sources = truth[truth["kind"] != "dark"]
    assert len(sources) == 24 and sources["simulated_counts"].sum() > 40_000
    radii = np.array([0.5, 1.0, 2.0, 3.0, 5.0])
    measured = stacked_profile(sources, fields, radii)
    weights = sources["simulated_counts"].to_numpy(float)
    expected = (
        sum(
            w * expected_eef(s, radii, seed=i)
            for i, (w, (_, s)) in enumerate(zip(weights, sources.iterrows(), strict=True))
        )
        / weights.sum()
    )
    np.testing.assert_allclose(measured, expected, atol=0.015)
    assert measured[2] < 0.9  # EEF(2'): broader than the analysis's old assumption
    assert np.all(np.diff(measured) > 0)


def test_psf_depends_on_the_true_photon_energy(bright):
    """Soft (PI 11-41) and hard (PI 91-201) events have the profiles the PSF at each photon's
    true energy predicts: the soft core is wider (detector blur ~ E^-0.44), the hard wing
    larger (scattering ~ E^1.43). Averaged over the survey's off-axis blur the difference is
    ~-0.035 in EEF at 0.5' and +0.015 at 5' (of the counts within 12'); a PSF drawn at one
    energy for all photons would show none.

    Profiles are relative to the band's counts within 12' (so the band's Poisson share of a
    source's counts does not enter); ~1e4 hard counts give errors < 0.005.
    """
    paths, truth, fields = bright
    sources = truth[truth["kind"] != "dark"]
    radii = np.array([0.5, 1.0, 2.0, 5.0, 12.0])
    measured, expected = {}, {}
    for band in (SOFT_BAND, HARD_BAND):
        profile = stacked_profile(sources, fields, radii, band)
        measured[band] = profile[:-1] / profile[-1]
        weights, profiles = [], []
        for i, (_, s) in enumerate(sources.iterrows()):
            _, pi, radius = sample_source_photons(s, seed=100 + i)
            selected = (pi >= band[0]) & (pi <= band[1])
            weights.append(s["simulated_counts"] * selected.mean())
            profiles.append([np.mean(radius[selected] <= r) for r in radii])
        stacked = np.array(weights) @ np.array(profiles)
        expected[band] = stacked[:-1] / stacked[-1]
        np.testing.assert_allclose(measured[band], expected[band], atol=0.015)
    difference = measured[SOFT_BAND] - measured[HARD_BAND]
    predicted = expected[SOFT_BAND] - expected[HARD_BAND]
    assert predicted[0] < -0.025 and predicted[-1] > 0.01
    np.testing.assert_allclose(difference, predicted, atol=0.012)
    assert difference[0] < -0.01 and difference[-1] > 0


def empty_area_events(truth, field, radius_arcmin=12.0):
    """Events and exposure (s arcmin^2) of map pixels > radius from every source."""
    centres = (np.arange(512) + 0.5) * 90 + 0.5  # sky-pixel centre of map pixel k
    cx, cy = np.meshgrid(centres, centres)
    far = np.ones((512, 512), dtype=bool)
    for _, source in truth.iterrows():
        x0, y0 = field.pixel(source["ra_rass"], source["dec_rass"])
        far &= np.hypot(cx - x0, cy - y0) * 0.5 / 60.0 > radius_arcmin
    col = ((field.x - 1) // 90).astype(int)
    row = ((field.y - 1) // 90).astype(int)
    return field.pi[far[row, col]], float(field.expmap[far].sum()) * 0.75**2


def test_background_is_at_rass_levels_and_soft(bright):
    """Empty areas (> 12' from every source): rate in PI 11-235 = background_rate (4e-4
    counts/s/arcmin^2 by default) and HR1 < 0, as the model folded through the response."""
    paths, truth, fields = bright
    n_broad = n_a = n_b = 0
    exposure_area = 0.0
    for seq, field in fields.items():
        pi, area = empty_area_events(truth[truth["seq_id"] == seq], field)
        n_broad += np.sum((pi >= 11) & (pi <= 235))
        n_a += np.sum((pi >= A_BAND[0]) & (pi <= A_BAND[1]))
        n_b += np.sum((pi >= B_BAND[0]) & (pi <= B_BAND[1]))
        exposure_area += area
    assert n_broad > 50_000
    rate = n_broad / exposure_area
    assert rate == pytest.approx(4.0e-4, rel=0.03)  # the 12' cut leaves < 1 % of source wings
    hr1 = (n_b - n_a) / (n_b + n_a)
    assert hr1 < -0.3
    settings = with_defaults({})
    model_hr1 = sky.hardness_ratio_1(sum(SkyModel(settings).background.values()))
    assert hr1 == pytest.approx(model_hr1, abs=0.02)


def test_background_hardness_setting(tmp_path):
    """background_soft_fraction moves HR1: all power law is near 0, all thermal near -1."""
    for fraction, low, high in ((0.0, -0.15, 0.15), (1.0, -1.0, -0.8)):
        settings = {**BRIGHT, "n_skyfields": 1, "background_soft_fraction": fraction}
        model = SkyModel(with_defaults(settings))
        assert sky.broad_band_sum(sum(model.background.values())) == pytest.approx(4e-4)
        assert low < sky.hardness_ratio_1(sum(model.background.values())) < high


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """Every star has a neighbour; some stars are faint or dark."""
    tmp = tmp_path_factory.mktemp("crowded")
    settings = {
        "seed": 5,
        "n_skyfields": 3,
        "n_stars": 12,
        "xray_fraction": 0.5,
        "faint_fraction": 0.5,
        "neighbour_fraction": 1.0,
        "n_unrelated_per_field": 2,
    }
    paths = simulate_survey(tmp / "survey", settings)
    return paths, read_truth(paths), read_rxs(paths), fields_of(paths, tmp / "events")


def test_neighbours_are_in_the_events_and_in_2rxs_at_the_stated_separations(crowded):
    paths, truth, rxs, fields = crowded
    neighbours = truth[truth["kind"] == "neighbour"]
    stars = truth.dropna(subset=["star_no"]).set_index("star_no")
    assert len(neighbours) == 12 and neighbours["neighbour_of"].notna().all()
    assert neighbours["star_no"].isna().all()
    targets = stars.loc[neighbours["neighbour_of"].astype(int)]
    sep = separation_arcmin(
        targets["ra_rass"].to_numpy(),
        targets["dec_rass"].to_numpy(),
        neighbours["ra_rass"].to_numpy(),
        neighbours["dec_rass"].to_numpy(),
    )
    np.testing.assert_allclose(sep, neighbours["sep_arcmin"], atol=1e-3)
    assert np.all((sep >= 2.1) & (sep <= 5.0))
    in_annulus = (sep >= 2.1) & (sep <= 3.0)
    assert 0 < in_annulus.sum() < len(sep)  # both kinds occur
    assert (targets["seq_id"].to_numpy() == neighbours["seq_id"].to_numpy()).all()
    # fluxes comparable to a detected target's
    detected = targets["kind"].to_numpy() == "target"
    ratio = (
        neighbours["flux_0.5-2.0keV"].to_numpy()[detected]
        / targets["flux_0.5-2.0keV"].to_numpy()[detected]
    )
    assert np.all((ratio >= 1 / 3 - 1e-9) & (ratio <= 3 + 1e-9))
    for _, neighbour in neighbours.iterrows():
        # a 2RXS row near it (3" per axis errors)
        d = separation_arcmin(neighbour["ra_rass"], neighbour["dec_rass"], rxs["ra"], rxs["dec"])
        assert d.min() * 60 < 5 * 3.0 * np.sqrt(2)
        assert neighbour["in_2rxs"] and neighbour["rxs_name"] in set(rxs["name"])
        # and its events: the counts within 1' are its share of the survey PSF
        field = fields[neighbour["seq_id"]]
        near = np.sum(field.distance_arcmin(neighbour["ra_rass"], neighbour["dec_rass"]) <= 1.0)
        share = expected_eef(neighbour, [1.0])[0] * neighbour["simulated_counts"]
        assert neighbour["simulated_counts"] > 20
        assert near > 0.7 * share
    # everything except a star and its own neighbour is > 6' apart
    pairs = set(zip(neighbours["neighbour_of"].astype(int), neighbours["ra_rass"], strict=True))
    for seq, group in truth.groupby("seq_id"):
        rows = list(group.itertuples())
        for i, a in enumerate(rows):
            for b in rows[i + 1 :]:
                d = separation_arcmin(a.ra_rass, a.dec_rass, b.ra_rass, b.dec_rass)
                linked = (a.kind == "neighbour" and (b.star_no, a.ra_rass) in pairs) or (
                    b.kind == "neighbour" and (a.star_no, b.ra_rass) in pairs
                )
                assert linked or d > 6.0, (seq, a.kind, b.kind, d)


def test_faint_members_have_events_but_no_2rxs_row(crowded, tmp_path):
    paths, truth, rxs, fields = crowded
    faint = truth[truth["kind"] == "faint"]
    dark = truth[truth["kind"] == "dark"]
    assert len(faint) == 3 and len(dark) == 3
    assert not faint["in_2rxs"].any() and faint["rxs_name"].isna().all()
    for _, star in pd.concat([faint, dark]).iterrows():
        d = separation_arcmin(star["ra_rass"], star["dec_rass"], rxs["ra"], rxs["dec"])
        assert d.min() > 2.0  # only a neighbour may be that close
    # below the 2RXS limit: a few counts, rates in faint_rate_range
    rate = faint["rate_broad"]
    assert rate.between(5e-4, 5e-3).all()
    np.testing.assert_allclose(faint["expected_counts_broad"], rate * faint["exposure_s"])
    assert (faint["expected_counts"] < 15).all()
    # brighter faint members show up in the events (stacked, to beat the background)
    settings = {
        "seed": 3,
        "n_skyfields": 2,
        "n_stars": 10,
        "xray_fraction": 0.0,
        "faint_fraction": 1.0,
        "neighbour_fraction": 0.0,
        "n_unrelated_per_field": 0,
        "faint_rate_range": [0.02, 0.05],
    }
    paths = simulate_survey(tmp_path / "faint", settings)
    truth = read_truth(paths)
    assert (truth["kind"] == "faint").all() and len(read_rxs(paths)) == 0
    found = expected = background = 0.0
    for seq, field in fields_of(paths, tmp_path / "events").items():
        for _, star in truth[truth["seq_id"] == seq].iterrows():
            found += np.sum(field.distance_arcmin(star["ra_rass"], star["dec_rass"]) <= 1.0)
            expected += star["simulated_counts"] * expected_eef(star, [1.0])[0]
            background += 4.7e-4 * star["exposure_s"] * np.pi
    assert truth["simulated_counts"].sum() > 100
    assert found - background == pytest.approx(expected, abs=5 * np.sqrt(found))


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("moving")
    settings = {
        "seed": 13,
        "n_skyfields": 2,
        "n_stars": 10,
        "xray_fraction": 1.0,
        "neighbour_fraction": 0.0,
        "n_unrelated_per_field": 0,
        "flux_range": [1e-11, 5e-11],
        "pm_fraction": 0.5,
    }
    paths = simulate_survey(tmp / "survey", settings)
    return paths, read_truth(paths), pd.read_csv(paths["sample"]), fields_of(paths, tmp / "ev")


def window_mean(field, x0, y0, radius_arcmin):
    near = np.hypot(field.x - x0, field.y - y0) * 0.5 / 60.0 <= radius_arcmin
    return field.x[near].mean(), field.y[near].mean(), near


def centroid(field, ra, dec, radius_arcmin=3.0):
    """Position (sky pixels) where the mean of the events within ``radius_arcmin`` is the
    window's own centre (iterated from (ra, dec)), and its per-axis error (pixels).

    The error is the window mean's statistical error divided by 1 - a, where a is how much
    the window mean follows a shift of the window (a broad PSF in a small window follows
    it), measured by finite differences.
    """
    x0, y0 = field.pixel(ra, dec)
    for _ in range(500):
        x1, y1, near = window_mean(field, x0, y0, radius_arcmin)
        if np.hypot(x1 - x0, y1 - y0) < 1e-3:
            break
        x0, y0 = x1, y1
    h = 10.0  # pixels
    follow_x = (
        window_mean(field, x0 + h, y0, radius_arcmin)[0]
        - window_mean(field, x0 - h, y0, radius_arcmin)[0]
    ) / (2 * h)
    follow_y = (
        window_mean(field, x0, y0 + h, radius_arcmin)[1]
        - window_mean(field, x0, y0 - h, radius_arcmin)[1]
    ) / (2 * h)
    n = near.sum()
    error_x = np.sqrt(field.x[near].var() / n) / (1.0 - follow_x)
    error_y = np.sqrt(field.y[near].var() / n) / (1.0 - follow_y)
    return x0, y0, error_x, error_y


def test_events_are_at_the_rass_epoch_and_the_catalog_at_j2000(moving):
    """pm_fraction 0.5: half the stars move 1-4"/yr. Event centroids (started from the
    catalog position) land on the RASS-epoch positions; the catalog is pm x (2000 - epoch)
    away, the epoch taken from the events' own times."""
    paths, truth, sample, fields = moving
    sample = sample.set_index("No")
    stars = truth.dropna(subset=["star_no"])
    total_pm = np.hypot(sample["pmRA"], sample["pmDE"]) / 1e3
    assert np.sum(total_pm >= 1.0) == 5 and np.all(total_pm <= 4.0)
    assert np.sum(total_pm < 0.3) == 5
    rxs = read_rxs(paths)
    for _, star in stars.iterrows():
        field = fields[star["seq_id"]]
        catalog = sample.loc[int(star["star_no"])]
        x, y, error_x, error_y = centroid(field, catalog["RAdeg"], catalog["DEdeg"])
        ra_c, dec_c = field.wcs.all_pix2world([[x, y]], 1)[0]
        # the events centre on the RASS-epoch position (PSF-limited error, 0.5" pixels)
        xt, yt = field.pixel(star["ra_rass"], star["dec_rass"])
        assert abs(x - xt) < 4 * error_x + 1 and abs(y - yt) < 4 * error_y + 1, star["star_no"]
        error_mas = 4 * 500.0 * max(error_x, error_y) + 500.0  # 4 sigma + 1 pixel
        # the epoch of the events, from their times and MJDREF
        near = field.distance_arcmin(star["ra_rass"], star["dec_rass"]) <= 1.0
        mjdref = field.header["MJDREFI"] + field.header["MJDREFF"]
        epoch = Time(mjdref + field.time[near].mean() / 86400.0, format="mjd", scale="utc").jyear
        assert 1990.5 < epoch < 1991.2
        assert epoch == pytest.approx(star["epoch_rass"], abs=0.01)
        years = 2000.0 - epoch
        # the catalog position is the centroid moved by pm x years
        d_dec = (catalog["DEdeg"] - dec_c) * 3.6e6
        d_ra = ((catalog["RAdeg"] - ra_c + 180) % 360 - 180) * np.cos(np.radians(dec_c)) * 3.6e6
        assert d_ra == pytest.approx(catalog["pmRA"] * years, abs=error_mas)
        assert d_dec == pytest.approx(catalog["pmDE"] * years, abs=error_mas)
        # truth keeps both positions; 2RXS scatters around the RASS one
        assert star["ra"] == catalog["RAdeg"] and star["dec"] == catalog["DEdeg"]
        d = separation_arcmin(star["ra_rass"], star["dec_rass"], rxs["ra"], rxs["dec"]) * 60
        assert d.min() < 5 * 3.0 * np.sqrt(2)
    fast = stars[np.hypot(stars["pmRA"], stars["pmDE"]) >= 1000]
    moved = separation_arcmin(fast["ra"], fast["dec"], fast["ra_rass"], fast["dec_rass"]) * 60
    assert np.all(moved > 9.0)  # >= 1"/yr over ~9 yr: beyond a few-arcsec match


def test_proper_motions_change_only_positions(moving, tmp_path):
    """The pm stream is separate: with pm_fraction 0 the same survey has the same spectra,
    counts and RASS positions, and the catalog equals the RASS positions."""
    paths, truth, sample, fields = moving
    settings = {
        "seed": 13,
        "n_skyfields": 2,
        "n_stars": 10,
        "xray_fraction": 1.0,
        "neighbour_fraction": 0.0,
        "n_unrelated_per_field": 0,
        "flux_range": [1e-11, 5e-11],
    }
    still = read_truth(simulate_survey(tmp_path / "still", settings))
    key = ["seq_id", "ra_rass", "dec_rass"]
    merged = truth.merge(still, on=key, suffixes=("", "_still"))
    assert len(merged) == len(truth)
    for column in ("norm", "simulated_counts", "exposure_s"):
        np.testing.assert_array_equal(merged[column], merged[f"{column}_still"])
    np.testing.assert_array_equal(still["ra"], still["ra_rass"])


def read_rsp(path):
    """The dense matrix of an OGIP RSP (one group per row, as the PSPC file has)."""
    with fits.open(path) as hdul:
        data = hdul["SPECRESP MATRIX"].data
        matrix = np.zeros((len(data), 256))
        for i, row in enumerate(data):
            if row["N_GRP"] > 0:
                start, width = (
                    int(np.atleast_1d(row["F_CHAN"])[0]),
                    int(np.atleast_1d(row["N_CHAN"])[0]),
                )
                matrix[i, start - 1 : start - 1 + width] = row["MATRIX"][:width]
        return data["ENERG_LO"].astype(float), data["ENERG_HI"].astype(float), matrix


def test_folding_with_the_real_response(reference_dir, tmp_path):
    """response_file: sources and background are folded through the real PSPC-C .rsp."""
    rsp = reference_dir / "pspcc_gain1_256.rsp"
    if not rsp.exists():
        pytest.skip(f"{rsp} not available (the real response comes from ../shared/reference)")
    lo, hi, matrix = read_rsp(rsp)
    assert np.sum(hi - lo == 0) == 19  # it has the zero-width bins of the fact sheet
    settings = {**BRIGHT, "n_skyfields": 2, "n_stars": 4, "response_file": str(rsp)}
    paths = simulate_survey(tmp_path / "rsp", settings)
    truth = read_truth(paths)
    fields = pd.read_csv(paths["truth_fields"])
    assert (fields["response"] == str(rsp)).all()
    sources = truth[truth["kind"] != "dark"]
    pi_counts = np.zeros(256)
    pi_expected = np.zeros(256)
    for seq, field in fields_of(paths, tmp_path / "events").items():
        for _, s in sources[sources["seq_id"] == seq].iterrows():
            shape = s["kT"] if s["model"] == "bbody" else s["PhoIndex"]
            per_channel = models.photon_flux(s["model"], (shape, s["norm"]), lo, hi) @ matrix
            assert s["exposure_s"] * per_channel.sum() == pytest.approx(
                s["expected_counts"], rel=1e-5
            )
            assert per_channel[10:235].sum() == pytest.approx(s["rate_broad"], rel=1e-5)
            near = field.distance_arcmin(s["ra_rass"], s["dec_rass"]) <= 2.0
            pi_counts += np.bincount(field.pi[near], minlength=257)[1:]
            pi_expected += (
                s["exposure_s"]
                * per_channel
                * expected_eef(s, [2.0], response=Response.from_file(rsp))[0]
            )
    # the events' channels follow the real response (background inside 2' is < 1 %)
    bands = [(11, 41), (42, 51), (52, 90), (91, 131), (132, 201)]
    for a, b in bands:
        n, e = pi_counts[a - 1 : b].sum(), pi_expected[a - 1 : b].sum()
        assert n == pytest.approx(e, abs=5 * np.sqrt(e) + 0.03 * e), (a, b)
    # and the built-in response would predict a different count for the same sources
    builtin = simulate_survey(tmp_path / "builtin", {**settings, "response_file": None})
    other = read_truth(builtin)
    assert not np.allclose(other["expected_counts"], truth["expected_counts"], rtol=0.01)


def test_a_redistribution_matrix_without_area_is_refused(tmp_path):
    from rassflow.simulate.caldb import write_rmf

    rmf = tmp_path / "pure.rmf"
    write_rmf(rmf)
    with pytest.raises(ValueError, match="full response"):
        Response.from_file(rmf)
    with pytest.raises(FileNotFoundError, match="response_file"):
        Response.from_file(tmp_path / "missing.rsp")


@pytest.mark.parametrize("key", ["neighbour_fraction", "pm_fraction", "faint_fraction"])
def test_fractions_out_of_range_are_errors(tmp_path, key):
    with pytest.raises(ValueError, match=key):
        simulate_survey(tmp_path, {key: 1.5})
