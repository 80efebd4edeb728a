"""Sherpa fitting backend: XSPEC-equivalent models, mask, errors, fluxes, low-count cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from astropy.io import fits
from scipy.integrate import quad

from rassflow.fitting import models
from rassflow.products.grouping import group_min_counts
from rassflow.simulate import instrument
from tests.support import SHARED_REFERENCE

sherpa_backend = pytest.importorskip("rassflow.fitting.sherpa")

REFERENCE = SHARED_REFERENCE
EXPOSURE_S = 400.0
BACKGROUND_PER_CHANNEL = 0.02  # expected background counts per channel in the source region
BACKSCAL_SOURCE, BACKSCAL_BACKGROUND = 1.0e-4, 1.0e-3


# ---------------------------------------------------------------- OGIP files for the tests


def write_rmf(path):
    """A 256-channel redistribution matrix (full rows, one group each) with EBOUNDS."""
    energ_lo, energ_hi = instrument.energy_grid()
    n_energies = energ_lo.size
    channel, e_min, e_max = instrument.channel_bounds()
    matrix = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=energ_lo),
            fits.Column("ENERG_HI", "E", unit="keV", array=energ_hi),
            fits.Column("N_GRP", "I", array=np.ones(n_energies)),
            fits.Column("F_CHAN", "1I", array=np.ones(n_energies)),
            fits.Column("N_CHAN", "1I", array=np.full(n_energies, channel.size)),
            fits.Column("MATRIX", f"{channel.size}E", array=instrument.redistribution_matrix()),
        ],
        name="MATRIX",
    )
    ebounds = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "J", array=channel),
            fits.Column("E_MIN", "E", unit="keV", array=e_min),
            fits.Column("E_MAX", "E", unit="keV", array=e_max),
        ],
        name="EBOUNDS",
    )
    for hdu, hduclas2 in ((matrix, "RSP_MATRIX"), (ebounds, "EBOUNDS")):
        hdu.header.update(
            HDUCLASS="OGIP", HDUCLAS1="RESPONSE", HDUCLAS2=hduclas2, DETCHANS=channel.size
        )
    matrix.header["TLMIN4"] = 1
    fits.HDUList([fits.PrimaryHDU(), matrix, ebounds]).writeto(path)
    return path


def write_arf(path):
    energ_lo, energ_hi = instrument.energy_grid()
    arf = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=energ_lo),
            fits.Column("ENERG_HI", "E", unit="keV", array=energ_hi),
            fits.Column(
                "SPECRESP",
                "E",
                unit="cm2",
                array=instrument.onaxis_area(0.5 * (energ_lo + energ_hi)),
            ),
        ],
        name="SPECRESP",
    )
    arf.header.update(HDUCLASS="OGIP", HDUCLAS1="RESPONSE", HDUCLAS2="SPECRESP")
    fits.HDUList([fits.PrimaryHDU(), arf]).writeto(path)
    return path


def write_spectrum(path, counts, backscal, grouping=None, quality=None):
    """A SPECTRUM extension behind a WMAP-like primary image, as the extractor writes it."""
    columns = [
        fits.Column("CHANNEL", "J", array=np.arange(1, counts.size + 1)),
        fits.Column("COUNTS", "J", unit="count", array=counts),
    ]
    if grouping is not None:
        columns += [
            fits.Column("QUALITY", "I", array=quality),
            fits.Column("GROUPING", "I", array=grouping),
        ]
    spectrum = fits.BinTableHDU.from_columns(columns, name="SPECTRUM")
    spectrum.header.update(
        HDUCLASS="OGIP",
        HDUCLAS1="SPECTRUM",
        EXPOSURE=EXPOSURE_S,
        BACKSCAL=backscal,
        AREASCAL=1.0,
        POISSERR=True,
        BACKFILE="none",
        RESPFILE="none",
    )
    wmap = fits.PrimaryHDU(np.full((4, 4), -1.0, dtype=np.float32))
    fits.HDUList([wmap, spectrum]).writeto(path)
    return path


def expected_counts(model, params):
    """Counts per channel of a source folded through the test responses."""
    energ_lo, energ_hi = instrument.energy_grid()
    photons = models.photon_flux(model, params, energ_lo, energ_hi)
    photons = photons * instrument.onaxis_area(0.5 * (energ_lo + energ_hi))
    return EXPOSURE_S * photons @ instrument.redistribution_matrix(energ_lo, energ_hi)


def write_source(directory, name, source_counts, background_counts, min_counts=3):
    """Grouped source spectrum and background spectrum; returns their paths."""
    grouping, quality = group_min_counts(source_counts, min_counts)
    source = write_spectrum(
        directory / f"{name}_src.pha", source_counts, BACKSCAL_SOURCE, grouping, quality
    )
    background = write_spectrum(
        directory / f"{name}_bkg.pha", background_counts, BACKSCAL_BACKGROUND
    )
    return source, background


def simulate(directory, name, model, params, seed):
    """A Poisson source + background spectrum pair of a known model."""
    rng = np.random.default_rng(seed)
    scale = BACKSCAL_BACKGROUND / BACKSCAL_SOURCE
    background_mean = np.full(instrument.N_CHANNELS, BACKGROUND_PER_CHANNEL)
    source = rng.poisson(expected_counts(model, params) + background_mean)
    background = rng.poisson(background_mean * scale)
    return write_source(directory, name, source, background)


TRUTH = {
    "bbody": {"kT": 0.2, "norm": models.norm_for_energy_flux("bbody", 0.2, 3e-12, 0.5, 2.0)},
    "powerlaw": {
        "PhoIndex": 2.5,
        "norm": models.norm_for_energy_flux("powerlaw", 2.5, 3e-12, 0.5, 2.0),
    },
}
TRUE_FLUX = 3e-12  # erg/cm2/s in 0.5-2.0 keV
BANDS = {"0.5-2.0keV": (0.5, 2.0), "0.1-2.4keV": (0.1, 2.4)}
TRUE_FLUXES = {
    model: {band: models.energy_flux(model, tuple(truth.values()), *edges)
            for band, edges in BANDS.items()}
    for model, truth in TRUTH.items()
}  # fmt: skip
# One fixed Poisson realisation per model; a 90 % interval misses the truth in 1 of 10
# realisations, so the coverage itself belongs to the injection-recovery tests on many sources.
SEEDS = {"bbody": 3, "powerlaw": 6}


@pytest.fixture(scope="module")
def responses(tmp_path_factory):
    directory = tmp_path_factory.mktemp("responses")
    return write_rmf(directory / "test.rmf"), write_arf(directory / "test.arf")


@pytest.fixture(scope="module")
def bright(tmp_path_factory, responses):
    """Fits of simulated bright sources: {true model: (result, source path, background path)}."""
    directory = tmp_path_factory.mktemp("bright")
    rmf, arf = responses
    fitted = {}
    for model, truth in TRUTH.items():
        params = tuple(truth.values())
        source, background = simulate(directory, model, model, params, SEEDS[model])
        result = sherpa_backend.fit_source(source, background, rmf, arf, {}, f"sim-{model}")
        fitted[model] = (result, source, background)
    return fitted


def fit(paths, responses, settings=None, source_id="src"):
    source, background = paths
    rmf, arf = responses
    return sherpa_backend.fit_source(source, background, rmf, arf, settings or {}, source_id)


# ---------------------------------------------------------------- models


def test_bbody_matches_integral_of_xspec_formula():
    kT, norm = 0.2, 3.0e-4
    model = sherpa_backend.XSBBody()
    model.kT.val, model.norm.val = kT, norm
    lo = np.array([0.1, 0.5, 1.0, 1.995])
    hi = lo + 0.005

    def density(energy):  # XSPEC bbody, photons/cm^2/s/keV
        return norm * 8.0525 * energy**2 / (kT**4 * math.expm1(energy / kT))

    integral = [quad(density, a, b)[0] for a, b in zip(lo, hi, strict=True)]
    # XSPEC integrates each bin with a two-point trapezoid: exact to ~(dE/kT)^2
    np.testing.assert_allclose(model(lo, hi), integral, rtol=1e-4)


def test_powerlaw_is_exact_bin_integral():
    model = sherpa_backend.XSPowerLaw()
    lo, hi = np.array([0.1, 0.5, 1.0]), np.array([0.2, 1.5, 2.0])
    model.PhoIndex.val, model.norm.val = 2.5, 1.0e-3
    exact = 1.0e-3 * (hi**-1.5 - lo**-1.5) / -1.5
    np.testing.assert_allclose(model(lo, hi), exact, rtol=1e-12)
    model.PhoIndex.val = 1.0
    np.testing.assert_allclose(model(lo, hi), 1.0e-3 * np.log(hi / lo), rtol=1e-12)


def test_parameters_have_xspec_names_and_limits():
    bbody, powerlaw = sherpa_backend.XSBBody(), sherpa_backend.XSPowerLaw()
    assert [p.name for p in bbody.pars] == ["kT", "norm"]
    assert [p.name for p in powerlaw.pars] == ["PhoIndex", "norm"]
    limits = lambda p: (p.hard_min, p.min, p.max, p.hard_max)  # noqa: E731
    assert limits(bbody.kT) == pytest.approx((1e-4, 0.01, 100.0, 200.0))
    assert limits(powerlaw.PhoIndex) == pytest.approx((-3.0, -2.0, 9.0, 10.0))
    assert bbody.norm.hard_min == 0.0 and powerlaw.norm.min == 0.0


def test_models_need_energy_bins():
    with pytest.raises(Exception, match="energy bins"):
        sherpa_backend.XSPowerLaw().calc([2.0, 1.0], np.array([0.5, 1.0]))


# ---------------------------------------------------------------- groups, mask, flags


def test_mask_keeps_channels_inside_energy_range():
    channel, e_min, e_max = instrument.channel_bounds()
    e_min, e_max = e_min.astype(np.float32), e_max.astype(np.float32)  # as in EBOUNDS
    ones = np.ones(channel.size, dtype=np.int16)
    noticed = sherpa_backend.notice_groups(ones, 0 * ones, e_min, e_max, (0.11, 2.02))
    assert np.array_equal(noticed, (e_min >= 0.11) & (e_max < 2.02))
    # channel 10 (0.104-0.114 keV) and 203 (2.017-2.027 keV) straddle the limits
    assert channel[noticed][[0, -1]].tolist() == [11, 202]


def test_mask_drops_straddling_and_bad_groups():
    _, e_min, e_max = instrument.channel_bounds()
    grouping = -np.ones(256, dtype=np.int16)
    # groups (1-based channels): 1-9, 10-11 (straddles 0.11 keV), 12-20, 21-200, 201-202,
    # 203 (straddles 2.02 keV), then single channels of which 204-256 are bad
    for first in (1, 10, 12, 21, 201, *range(203, 257)):
        grouping[first - 1] = 1
    quality = np.zeros(256, dtype=np.int16)
    quality[203:] = 2
    quality[14] = 5  # one bad channel spoils its whole group (12-20)
    starts, stops = sherpa_backend.group_edges(grouping)
    assert (starts[:5] + 1).tolist() == [1, 10, 12, 21, 201]
    assert (stops[:5] + 1).tolist() == [9, 11, 20, 200, 202]
    noticed = sherpa_backend.notice_groups(grouping, quality, e_min, e_max, (0.11, 2.02))
    assert np.flatnonzero(noticed).tolist() == [3, 4]


def test_group_edges_start_a_group_at_the_first_channel():
    starts, stops = sherpa_backend.group_edges([-1, -1, 1, -1, 1])
    assert starts.tolist() == [0, 2, 4] and stops.tolist() == [1, 3, 4]


def test_flag_string_marks_xspec_positions():
    assert sherpa_backend.flag_string([]) == "FFFFFFFFF"
    assert sherpa_backend.flag_string([4, 9]) == "FFFTFFFFT"


def test_unknown_setting_is_an_error(responses, tmp_path):
    with pytest.raises(KeyError, match="energy_range"):
        sherpa_backend.resolve_settings({"energy_range": [0.1, 2.0]})
    with pytest.raises(KeyError, match="apec"):
        sherpa_backend.resolve_settings({"models": ["apec"]})


# ---------------------------------------------------------------- fits of bright sources


@pytest.mark.parametrize("model", ["bbody", "powerlaw"])
def test_bright_source_recovers_truth(bright, model):
    result = bright[model][0]
    fitted = result["models"][model]
    assert fitted["status"] == "ok", fitted["reason"]
    assert fitted["dof"] == result["noticed_groups"] - 2
    for name, true_value in TRUTH[model].items():
        entry = fitted["parameters"][name]
        assert entry["flags"] == "FFFFFFFFF" and entry["good_err"] is True
        assert entry["lower"] <= true_value <= entry["upper"], (name, entry)
        assert entry["err-"] == pytest.approx(entry["value"] - entry["lower"])
        assert entry["err+"] == pytest.approx(entry["upper"] - entry["value"])
    assert list(fitted["fluxes"]) == ["0.5-2.0keV", "0.1-2.4keV"]  # the default bands
    best = [p["value"] for p in fitted["parameters"].values()]
    for band, true_flux in TRUE_FLUXES[model].items():
        flux = fitted["fluxes"][band]
        assert flux["confidence"] == 68 and flux["unit"] == "erg/cm2/s"
        assert flux["method"] == "profile"
        assert flux["lower"] < flux["value"] < flux["upper"]
        assert flux["err-"] > 0 and flux["err+"] > 0
        assert flux["lower"] <= true_flux <= flux["upper"], (band, flux)
        # the flux of the ordinary fit: the same likelihood maximum
        assert flux["value"] == models.energy_flux(model, best, *BANDS[band])


def test_wrong_model_refuses_errors_like_xspec(bright):
    """A bbody fit to a bright power law has reduced W-stat > 2: no bounds, flag 9."""
    fitted = bright["powerlaw"][0]["models"]["bbody"]
    assert fitted["status"] == "ok"
    assert fitted["statistic"] / fitted["dof"] > 2
    for entry in fitted["parameters"].values():
        assert entry["flags"] == "FFFFFFFFT" and entry["good_err"] is False
        assert entry["lower"] is None and entry["upper"] is None and entry["err-"] is None


def test_result_summarises_counts_and_mask(bright):
    result, source, background = bright["bbody"]
    with fits.open(source) as hdul:
        spectrum = hdul["SPECTRUM"].data
        counts, grouping, quality = spectrum["COUNTS"], spectrum["GROUPING"], spectrum["QUALITY"]
    _, e_min, e_max = instrument.channel_bounds()
    noticed = sherpa_backend.notice_groups(grouping, quality, e_min, e_max, (0.11, 2.02))
    starts, stops = sherpa_backend.group_edges(grouping)
    assert result["noticed_groups"] == noticed.sum()
    assert result["noticed_channels"] == (stops - starts + 1)[noticed].sum()
    assert result["counts"]["source"] == counts.sum()
    assert result["counts"]["background"] == fits.getdata(background, "SPECTRUM")["COUNTS"].sum()
    assert result["counts"]["backscal_ratio"] == pytest.approx(0.1)
    assert result["exposure_s"] == EXPOSURE_S
    assert (result["statistic"], result["fitter"]) == ("wstat", "sherpa")
    json.dumps(result, allow_nan=False)  # JSON types only, no NaN


def test_plot_data_are_net_rates_and_folded_model(bright):
    result, source, background = bright["bbody"]
    plot = result["models"]["bbody"]["plot"]
    x, xerr, y, model = (np.array(plot[key]) for key in ("x", "xerr", "y", "model"))
    assert len(x) == len(plot["yerr"]) == len(model) == result["noticed_groups"]
    assert np.all(x - xerr >= 0.11) and np.all(x + xerr < 2.02)
    # net counts of the first noticed group, by hand
    src = fits.getdata(source, "SPECTRUM")
    bkg = fits.getdata(background, "SPECTRUM")["COUNTS"]
    _, e_min, e_max = instrument.channel_bounds()
    first = np.flatnonzero(e_min >= 0.11)[0]
    last = first + 1
    while last < 256 and src["GROUPING"][last] == -1:
        last += 1
    net = src["COUNTS"][first:last].sum() - 0.1 * bkg[first:last].sum()
    width = e_max[last - 1] - e_min[first]
    assert y[0] == pytest.approx(net / (EXPOSURE_S * width), rel=1e-5)
    # a W-stat best fit reproduces the total net counts
    counts_per_rate = 2 * xerr * EXPOSURE_S
    assert np.sum(model * counts_per_rate) == pytest.approx(np.sum(y * counts_per_rate), rel=0.05)


def test_same_inputs_give_identical_results(bright, responses):
    result, source, background = bright["bbody"]
    again = fit((source, background), responses, source_id="sim-bbody")
    assert json.dumps(again, sort_keys=True) == json.dumps(result, sort_keys=True)
    other_id = fit((source, background), responses, {"models": ["bbody"]}, source_id="other")
    # profile intervals depend on the data only
    assert other_id["models"]["bbody"] == result["models"]["bbody"]
    draws = {"models": ["bbody"], "flux_method": "draws"}
    first = fit((source, background), responses, draws, source_id="sim-bbody")
    second = fit((source, background), responses, draws, source_id="other")
    # the flux draws depend on the source id, the fit itself does not
    assert first["models"]["bbody"]["parameters"] == result["models"]["bbody"]["parameters"]
    assert second["models"]["bbody"]["parameters"] == result["models"]["bbody"]["parameters"]
    assert second["models"]["bbody"]["fluxes"] != first["models"]["bbody"]["fluxes"]


def test_draws_are_kept_for_notebook_parity(bright, responses):
    result, source, background = bright["bbody"]
    draws = fit((source, background), responses, {"models": ["bbody"], "flux_method": "draws"})
    for band, flux in draws["models"]["bbody"]["fluxes"].items():
        profile = result["models"]["bbody"]["fluxes"][band]
        assert flux["method"] == "draws" and flux["confidence"] == 68
        assert flux["value"] == profile["value"]  # one best fit, two kinds of interval
        assert flux["lower"] < flux["upper"]


def _source_fit(paths, responses):
    """(data, SourceFit) of a (source, background) spectrum pair, noticed over 0.11-2.02 keV."""
    from sherpa.astro.io import read_arf, read_rmf

    source, background = paths
    data = sherpa_backend.read_spectrum(source)
    rmf, arf = read_rmf(str(responses[0])), read_arf(str(responses[1]))
    fitter = sherpa_backend.SourceFit(data, rmf, arf, sherpa_backend.read_spectrum(background))
    data.mask = sherpa_backend.notice_groups(
        data.grouping, data.quality, rmf.e_min, rmf.e_max, (0.11, 2.02)
    )
    return data, fitter


def _profile_statistic(paths, responses, name, band, lg10flux):
    """The W-stat minimised over the shape with lg10Flux fixed: an independent profile."""
    _, fitter = _source_fit(paths, responses)
    template = sherpa_backend.make_model(name, {})
    getattr(template, models.shape_parameter(name)).val = TRUTH[name][models.shape_parameter(name)]
    model = sherpa_backend.BandFluxModel(template, band, lg10flux)
    fitter.set_source(model)
    model.lg10Flux.freeze()
    fitter.fit("neldermead")
    return fitter.calc_stat()


@pytest.mark.parametrize("name", ["bbody", "powerlaw"])
def test_folding_matrix_gives_sherpas_folded_counts(bright, responses, name):
    """The dense folding (Folding, FoldedModel) against Sherpa's own response, grouping and
    filter (get_full_response, DataPHA.eval_model_to_fit), with per-channel counts added."""
    from sherpa.astro.data import DataPHA

    data, fitter = _source_fit(bright[name][1:], responses)
    model = sherpa_backend.make_model(name, {})
    added = sherpa_backend.NeighbourCounts(np.linspace(0.0, 2.0, len(data.channel)))
    fitter.set_source(model, added)
    assert isinstance(fitter.model, sherpa_backend.FoldedModel)
    sherpas = DataPHA.eval_model_to_fit(data, data.get_full_response()(model) + added)
    np.testing.assert_allclose(fitter.folded(), sherpas, rtol=1e-12)


@pytest.mark.parametrize("model", ["bbody", "powerlaw"])
def test_flux_bounds_are_where_the_profile_rises_by_the_delta_stat(bright, responses, model):
    result, source, background = bright[model]
    fitted = result["models"][model]
    delta = models.delta_stat_for_confidence(68)
    assert delta == pytest.approx(0.98895, abs=1e-5)
    for band, edges in BANDS.items():
        flux = fitted["fluxes"][band]
        for bound in ("lower", "upper"):
            rise = (
                _profile_statistic(
                    (source, background), responses, model, edges, math.log10(flux[bound])
                )
                - fitted["statistic"]
            )
            assert rise == pytest.approx(delta, abs=0.05), (band, bound)


def test_band_flux_model_is_the_model_with_another_norm():
    lo = np.linspace(0.1, 2.4, 50)
    hi = lo + 0.01
    for name, truth in TRUTH.items():
        shape = truth[models.shape_parameter(name)]
        flux = models.energy_flux(name, tuple(truth.values()), 0.5, 2.0)
        ordinary = sherpa_backend.MODEL_CLASSES[name](name)
        for par, value in truth.items():
            getattr(ordinary, par).val = value
        reparametrised = sherpa_backend.BandFluxModel(ordinary, (0.5, 2.0), math.log10(flux))
        assert getattr(reparametrised, models.shape_parameter(name)).val == shape
        assert [p.name for p in reparametrised.pars] == [models.shape_parameter(name), "lg10Flux"]
        np.testing.assert_allclose(reparametrised(lo, hi), ordinary(lo, hi), rtol=1e-10)


def test_fits_start_at_the_best_point_of_the_shared_scan(bright, responses, monkeypatch):
    """The scan visits the shared grid with the norm fitted, and the fit starts at its
    lowest statistic (the same rule the XSPEC fitter uses, see test_xspec)."""
    scans = []
    original = sherpa_backend.scan_statistics

    def recording(*args, **kwargs):
        grid, statistics, norms = original(*args, **kwargs)
        scans.append((args[2], grid, statistics, norms))
        return grid, statistics, norms

    monkeypatch.setattr(sherpa_backend, "scan_statistics", recording)
    _, source, background = bright["bbody"]
    fit((source, background), responses)
    assert [name for name, *_ in scans] == ["bbody", "powerlaw"]
    for name, grid, statistics, norms in scans:
        np.testing.assert_array_equal(grid[:, 0], models.START_GRIDS[name])
        assert np.all(np.isfinite(statistics)) and np.all(norms > 0)
    # the bbody profile over kT has its minimum near the true 0.2 keV
    _, grid, statistics, _ = scans[0]
    assert 0.1 < grid[models.best_grid_point(statistics), 0] < 0.4


# ---------------------------------------------------------------- faint and broken cases


def assert_not_fitted(result, status, reason_part):
    for fitted in result["models"].values():
        assert fitted["status"] == status
        assert reason_part in fitted["reason"]
        assert fitted["statistic"] is None and fitted["fluxes"] == {}
        assert all(entry["value"] is None for entry in fitted["parameters"].values())
    json.dumps(result, allow_nan=False)


def test_zero_counts_are_not_fitted(tmp_path, responses):
    zeros = np.zeros(256, dtype=int)
    result = fit(write_source(tmp_path, "zero", zeros, zeros), responses)
    assert result["counts"]["source"] == 0 and result["noticed_groups"] == 0
    assert_not_fitted(result, "not_fitted", "0 group(s)")


def test_two_groups_are_not_fitted(tmp_path, responses):
    counts = np.zeros(256, dtype=int)
    # groups of channels 1-10 (below 0.11 keV), 11-61 and 62-101, then a bad trailing group
    counts[[9, 60, 100]] = 5
    result = fit(write_source(tmp_path, "two", counts, np.zeros(256, dtype=int)), responses)
    assert result["noticed_groups"] == 2
    assert_not_fitted(result, "not_fitted", "needs more than 2")


def test_all_counts_in_bad_channels_are_not_fitted(tmp_path, responses):
    counts = np.zeros(256, dtype=int)
    counts[230:] = 4  # all above 2.02 keV
    result = fit(write_source(tmp_path, "hard", counts, np.zeros(256, dtype=int)), responses)
    assert result["counts"]["source"] == 104
    assert_not_fitted(result, "not_fitted", "0 group(s)")


def test_background_above_source_is_not_fitted(tmp_path, responses):
    counts = np.zeros(256, dtype=int)
    counts[20:200:10] = 3
    background = np.full(256, 10)  # 0.1 x 2560 = 256 scaled counts against 54
    result = fit(write_source(tmp_path, "bkg", counts, background), responses)
    assert_not_fitted(result, "not_fitted", "no net source counts")


def test_faint_source_norm_interval_reaches_zero(tmp_path, responses):
    """A source barely above its background: the lower norm bound is XSPEC's hard limit 0."""
    rng = np.random.default_rng(13)
    background_mean = np.full(256, 0.05)
    params = (2.0, 0.01 * TRUTH["powerlaw"]["norm"])
    counts = rng.poisson(background_mean + expected_counts("powerlaw", params))
    paths = write_source(tmp_path, "faint", counts, rng.poisson(background_mean * 10))
    # flux intervals at the parameters' 90 %: where norm 0 is inside, so is flux 0
    result = fit(paths, responses, {"models": ["powerlaw"], "flux_confidence": 90})
    fitted = result["models"]["powerlaw"]
    assert fitted["status"] == "ok", fitted["reason"]
    norm = fitted["parameters"]["norm"]
    assert norm["flags"] == "FFFTFFFFF" and norm["good_err"] is False
    # the interval reaches the hard limit: that is its bound, as XSPEC's error reports it
    assert norm["lower"] == 0.0 and norm["err-"] == pytest.approx(norm["value"])
    assert norm["upper"] > norm["value"] > 0 and norm["err+"] > 0
    for flux in fitted["fluxes"].values():  # the profile stays below the delta towards 0
        assert flux["confidence"] == 90
        assert flux["lower"] is None and flux["err-"] is None
        assert flux["upper"] > flux["value"] > 0


def _with_neighbour(tmp_path, seed, contamination_hdu=None):
    """A bbody target (TRUTH) plus a hard neighbour's wing and background: the source and
    background paths, the background carrying the neighbour's expected counts as its
    CONTAMINATION table when ``contamination_hdu`` writes one."""
    from rassflow.products.contamination import contamination_hdu as library_hdu

    rng = np.random.default_rng(seed)
    target = expected_counts("bbody", tuple(TRUTH["bbody"].values()))
    wing = expected_counts("powerlaw", (1.0, 0.6 * TRUTH["powerlaw"]["norm"]))  # hard
    background_mean = np.full(256, BACKGROUND_PER_CHANNEL)
    scale = BACKSCAL_BACKGROUND / BACKSCAL_SOURCE
    source = rng.poisson(target + wing + background_mean)
    name = f"nb{seed}{'-table' if contamination_hdu else ''}"
    paths = write_source(tmp_path, name, source, rng.poisson(background_mean * scale))
    if contamination_hdu:
        channels = np.arange(1, 257)
        info = {"neighbours": 1, "confused": 0, "unresolved": 0}
        with fits.open(paths[1], mode="append") as hdul:
            hdul.append(library_hdu(channels, wing, info))
    return paths, float(wing.sum()), float(target.sum())


def test_neighbour_counts_are_a_fixed_model_component(tmp_path, responses):
    """A hard neighbour's wing in the circle: fitted as the blend, the bbody's flux interval
    lies above the target's flux; with the wing as the fit's fixed component (the
    background's CONTAMINATION table), the target's kT and fluxes are recovered."""
    settings = {"models": ["bbody"], "flux_confidence": 90, "error_delta_stat": 2.706}
    blended, wing, target = _with_neighbour(tmp_path, 21)
    assert wing > 0.3 * target  # a strong neighbour: the blend is visibly biased
    deblended, _, _ = _with_neighbour(tmp_path, 21, contamination_hdu=True)
    fits_of = {name: fit(paths, responses, settings)["models"]["bbody"]
               for name, paths in (("blend", blended), ("deblended", deblended))}  # fmt: skip
    for fitted in fits_of.values():
        assert fitted["status"] == "ok", fitted["reason"]
    true_kt = TRUTH["bbody"]["kT"]
    kt = fits_of["deblended"]["parameters"]["kT"]
    assert kt["lower"] <= true_kt <= kt["upper"], kt
    for band, true_flux in TRUE_FLUXES["bbody"].items():
        flux = fits_of["deblended"]["fluxes"][band]
        assert flux["lower"] <= true_flux <= flux["upper"], (band, flux)
        assert fits_of["blend"]["fluxes"][band]["lower"] > true_flux  # biased by the wing
    # the folded model of the plot is target + neighbour, the data the blend's net rates
    plot = fits_of["deblended"]["plot"]
    assert sum(plot["model"]) == pytest.approx(sum(plot["y"]), rel=0.2)


def test_fixed_counts_are_non_negative_group_sums(tmp_path):
    """The table is net of the background subtraction (negative entries): the fit's
    component keeps each group's sum when positive and drops groups that sum below 0."""
    from rassflow.products.contamination import contamination_hdu, fixed_counts

    background = write_spectrum(tmp_path / "b.pha", np.zeros(6, int), 1.0)
    counts = np.array([2.0, -1.0, 0.5, -2.0, 1.0, 3.0])
    info = {"neighbours": 1, "confused": 0, "unresolved": 0}
    with fits.open(background, mode="append") as hdul:
        hdul.append(contamination_hdu(np.arange(1, 7), counts, info))
    grouping = np.array([1, -1, 1, -1, 1, -1])  # groups: 1+0 | 0.5-2 | 1+3
    fixed = fixed_counts(background, np.arange(1, 7), grouping)
    assert fixed == pytest.approx([1.0, 0.0, 0.0, 0.0, 1.0, 3.0])
    assert fixed_counts(background, np.arange(1, 7)) == pytest.approx(np.clip(counts, 0, None))
    clean = write_spectrum(tmp_path / "clean.pha", np.zeros(6, int), 1.0)
    assert fixed_counts(clean, np.arange(1, 7)) is None


def test_optimiser_failure_is_reported_not_raised(bright, responses):
    _, source, background = bright["powerlaw"]
    result = fit((source, background), responses, {"max_iterations": 1, "models": ["powerlaw"]})
    fitted = result["models"]["powerlaw"]
    assert fitted["status"] == "failed" and fitted["reason"]


def test_fit_and_write_records_backend_in_json(tmp_path, responses):
    from rassflow.fitting.run import fit_and_write

    counts = np.zeros(256, dtype=int)
    paths = write_source(tmp_path, "empty", counts, counts)
    out = tmp_path / "fits" / "empty-fit.json"
    result = fit_and_write(*paths, *responses, {"models": ["bbody"]}, "empty", out, "native")
    assert json.loads(out.read_text()) == result
    assert result["backend"] == "native" and result["models"]["bbody"]["status"] == "not_fitted"
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left


def test_unknown_fitter_is_an_error(tmp_path, responses):
    from rassflow.backends.registry import fit_source

    with pytest.raises(ValueError, match="unknown fitter 'isis'"):
        fit_source("isis", "s.pha", "b.pha", *responses, {}, "src")
    # the workflow resolves 'auto' when it starts; a fit never sees it
    with pytest.raises(ValueError, match="unknown fitter 'auto'"):
        fit_source("auto", "s.pha", "b.pha", *responses, {}, "src")


def test_defaults_are_the_config_schema_defaults():
    from rassflow.config import load_schema

    fit = load_schema()["properties"]["fit"]["properties"]
    settings = sherpa_backend.resolve_settings({})
    assert {key: settings[key] for key in fit} == {key: fit[key]["default"] for key in fit}
    assert set(settings) == set(fit) | {"start", "nh_origin"}


# ---------------------------------------------------------------- parity with XSPEC


def test_chi2_of_powerlaw_on_real_pspc_spectrum_matches_xspec():
    spectrum, rsp = REFERENCE / "xrbg_xspec.pi", REFERENCE / "pspcc_gain1_256.rsp"
    if not (spectrum.exists() and rsp.exists()):
        pytest.skip(f"reference PSPC spectrum and response not found in {REFERENCE}")
    from sherpa.astro.io import read_rmf
    from sherpa.stats import Chi2

    # the fitter's own reader, fitter and model, with chi2 on the file's STAT_ERR, all
    # channels noticed, the parameters fixed as in the XSPEC session
    data = sherpa_backend.read_spectrum(spectrum, use_errors=True)
    fitter = sherpa_backend.SourceFit(data, read_rmf(str(rsp)), stat=Chi2())
    model = sherpa_backend.MODEL_CLASSES["powerlaw"]("powerlaw")
    model.PhoIndex.val, model.norm.val = 1.7, 2e-6
    fitter.set_source(model)
    assert fitter.calc_stat() == pytest.approx(973.23, abs=0.01)  # XSPEC 12.9.1p
