"""The XSPEC fitter against a scripted, recording PyXspec stand-in (tests/fakes/xspec)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rassflow.fitting import models
from rassflow.fitting import xspec as xspec_fitter
from rassflow.fitting.absorption import installed as models_available
from rassflow.fitting.result import FitResult, FluxResult, ParameterResult
from rassflow.products.grouping import group_min_counts
from rassflow.products.responses import make_arf
from rassflow.simulate import caldb
from tests.support import FAKES

N_CHANNELS = 256


@pytest.fixture
def fake_xs(monkeypatch):
    """The PyXspec stand-in, imported fresh through the fitter's isolated import."""
    monkeypatch.syspath_prepend(str(FAKES))
    sys.modules.pop("xspec", None)
    module = xspec_fitter.import_xspec()
    assert Path(module.__file__).is_relative_to(FAKES)
    yield module
    sys.modules.pop("xspec", None)


def _spectrum(path, counts, backscal, grouping=None, quality=None, exposure=400.0):
    columns = [
        fits.Column("CHANNEL", "J", array=np.arange(1, N_CHANNELS + 1)),
        fits.Column("COUNTS", "J", unit="count", array=counts),
    ]
    if grouping is not None:
        columns += [
            fits.Column("QUALITY", "I", array=quality),
            fits.Column("GROUPING", "I", array=grouping),
        ]
    table = fits.BinTableHDU.from_columns(columns, name="SPECTRUM")
    for key, value in (("HDUCLAS1", "SPECTRUM"), ("EXPOSURE", exposure), ("BACKSCAL", backscal)):
        table.header[key] = value
    table.header["POISSERR"] = True
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A grouped source spectrum, its background, and a PSPC-C-like RMF and on-axis ARF."""
    root = tmp_path_factory.mktemp("xspec")
    rng = np.random.default_rng(7)
    channel = np.arange(N_CHANNELS)
    shape = np.exp(-0.5 * ((channel - 40) / 15.0) ** 2)
    source = rng.poisson(30.0 * shape + 0.3)
    background = rng.poisson(np.full(N_CHANNELS, 2.0))
    grouping, quality = group_min_counts(source, 3)
    rmf = caldb.write_rmf(root / "pspcc.rmf")
    specresp = caldb.write_specresp(root / "pspcc.spec_resp")
    return {
        "spectrum": _spectrum(root / "src-grp.fits", source, 8.5e-5, grouping, quality),
        "background": _spectrum(root / "bkg.fits", background, 9.75e-5),
        "rmf": rmf,
        "arf": make_arf(rmf, specresp, root / "src.arf"),
        "widths": np.diff(np.append(np.flatnonzero(grouping == 1), N_CHANNELS)),
        "counts": (int(source.sum()), int(background.sum())),
    }


def _paths(files) -> list:
    return [files[key] for key in ("spectrum", "background", "rmf", "arf")]


def _fit(files, settings=None):
    return xspec_fitter.fit_source(*_paths(files), settings or {}, "CARMENES-1")


def _logged(fake, name):
    return [value for logged, value in fake.log if logged == name]


DELTA_68 = f"{models.delta_stat_for_confidence(68):g}"  # '0.988946'
DELTA_90 = f"{models.delta_stat_for_confidence(90):g}"  # '2.70554'


def test_fit_issues_the_notebook_commands(fake_xs, files):
    _fit(files)
    assert _logged(fake_xs, "Xset.chatter") == [0]
    assert _logged(fake_xs, "Fit.statMethod") == ["cstat"]
    assert _logged(fake_xs, "Fit.query") == ["no"]
    assert _logged(fake_xs, "Fit.nIterations") == [500]
    assert _logged(fake_xs, "Plot.xAxis") == ["keV"]
    assert _logged(fake_xs, "Spectrum") == [str(files["spectrum"].resolve())]
    assert _logged(fake_xs, "Spectrum.cwd") == [str(files["spectrum"].parent.resolve())]
    assert _logged(fake_xs, "Spectrum.background") == [str(files["background"].resolve())]
    assert _logged(fake_xs, "Spectrum.response") == [str(files["rmf"].resolve())]
    assert _logged(fake_xs, "Spectrum.response.arf") == [str(files["arf"].resolve())]
    assert _logged(fake_xs, "Spectrum.ignore") == ["**-0.11 2.02-**"]
    assert _logged(fake_xs, "AllData.ignore") == ["bad"]
    # the fitted model, then one cflux model per flux band (the default bands)
    assert _logged(fake_xs, "Model") == [
        "bbody", "cflux*bbody", "cflux*bbody", "powerlaw", "cflux*powerlaw", "cflux*powerlaw"
    ]  # fmt: skip
    assert _logged(fake_xs, "Fit.error") == [
        "2.706 1 2", f"{DELTA_68} 3", f"{DELTA_68} 3"
    ] * 2  # fmt: skip
    assert _logged(fake_xs, "AllModels.calcFlux") == ["0.5 2.0", "0.1 2.4"] * 2
    assert ("data",) in _logged(fake_xs, "Plot")
    names = [name for name, _ in fake_xs.log]
    # state is cleared before the data are loaded and after the fit
    assert names.index("AllData.clear") < names.index("Spectrum")
    assert names.index("AllModels.clear") < names.index("Spectrum")
    assert names[-2:] == ["AllData.clear", "AllModels.clear"]
    # error, the model plot and the fluxes follow each fit
    fitted = [name for name, _ in _after(fake_xs.log, 0)]
    assert fitted.index("Fit.error") < fitted.index("Plot") < fitted.index("AllModels.calcFlux")


def _after(log, index):
    """The log entries after the ``index``-th (0-based) Model command, up to the next."""
    starts = [i for i, (name, _) in enumerate(log) if name == "Model"] + [len(log)]
    return log[starts[index] + 1 : starts[index + 1]]


def test_the_start_scan_freezes_the_shape_and_fits_the_norm(fake_xs, files):
    _fit(files, {"models": ["bbody"]})
    scan = _after(fake_xs.log, 0)
    grid = list(models.START_GRIDS["bbody"])
    nearest = int(np.argmin(np.abs(np.log(np.array(grid) / 0.12))))
    assert scan[0] == ("kT.frozen", True)
    assert [value for name, value in scan if name == "kT.values"] == [*grid, grid[nearest]]
    thawed = scan.index(("kT.frozen", False))
    # every grid point: the shape set, the norm scaled to the net rate, one Fit.perform
    points = scan[1:thawed]
    assert [name for name, _ in points] == ["kT.values", "norm.values", "Fit.perform"] * len(grid)
    # the fake's statistic is a parabola in log kT around its best fit, 0.12 keV: the grid
    # point nearest to it starts the fit, with the norm fitted there
    assert grid[nearest] == pytest.approx(0.1149, abs=1e-4)
    assert scan[thawed + 1 : thawed + 4] == [
        ("kT.values", grid[nearest]), ("norm.values", 2.0e-5), ("Fit.perform", None)
    ]  # fmt: skip


def test_explicit_start_values_replace_the_scan(fake_xs, files):
    _fit(files, {"models": ["powerlaw"], "start": {"powerlaw": {"PhoIndex": 2.0}}})
    fit = _after(fake_xs.log, 0)
    assert fit[:2] == [("PhoIndex.values", 2.0), ("Fit.perform", None)]
    assert ("PhoIndex.frozen", True) not in fit


def test_flux_profiles_use_cflux_as_heasarc_documents(fake_xs, files):
    """cflux*bbody: Emin/Emax the band, the bbody norm frozen at its best fit, lg10Flux
    free from log10 of calcFlux's value, a fit, then error on lg10Flux (parameter 3)."""
    _fit(files, {"models": ["bbody"], "flux_bands_keV": [[0.5, 2.0]]})
    assert _logged(fake_xs, "Model") == ["bbody", "cflux*bbody"]
    assert _after(fake_xs.log, 1) == [
        ("Emin.values", 0.5),
        ("Emax.values", 2.0),
        ("kT.values", 0.12),  # the best fit of the bbody model
        ("norm.values", 2.0e-5),
        ("norm.frozen", True),
        ("lg10Flux.values", math.log10(5.6e-12)),  # calcFlux "0.5 2.0" of the fitted model
        ("Fit.perform", None),
        ("Fit.error", f"{DELTA_68} 3"),
        ("AllModels.clear", None),  # the end of the model
        ("AllData.clear", None),  # the end of the source
        ("AllModels.clear", None),
    ]


def test_draws_are_calcflux_err_as_the_notebook(fake_xs, files):
    result = _fit(files, {"flux_method": "draws"})
    assert _logged(fake_xs, "Model") == ["bbody", "powerlaw"]
    assert _logged(fake_xs, "Fit.error") == ["2.706 1 2"] * 2
    assert _logged(fake_xs, "AllModels.calcFlux") == [
        "0.5 2.0 err 100 68", "0.1 2.4 err 100 68"
    ] * 2  # fmt: skip
    flux = FitResult.from_json(result).models["bbody"].fluxes["0.5-2.0keV"]
    assert (flux.method, flux.value, flux.lower, flux.upper) == (
        "draws", 5.6e-12, 3.2e-12, 7.6e-12
    )  # fmt: skip


def test_settings_change_the_commands(fake_xs, files):
    settings = {
        "energy_range_keV": [0.2, 2.0],
        "error_delta_stat": 1.0,
        "flux_bands_keV": [[0.1, 2.4], [0.5, 2.0]],
        "flux_method": "draws",
        "flux_samples": 500,
        "flux_confidence": 90,
        "max_iterations": 100,
        "models": ["powerlaw"],
        "start": {"powerlaw": {"PhoIndex": 2.0}},
    }
    result = _fit(files, settings)
    assert result["models"]["powerlaw"]["status"] == "ok", result["models"]["powerlaw"]["reason"]
    assert _logged(fake_xs, "Spectrum.ignore") == ["**-0.2 2-**"]
    assert _logged(fake_xs, "Fit.nIterations") == [100]
    assert _logged(fake_xs, "PhoIndex.values") == [2.0]
    assert _logged(fake_xs, "Fit.error") == ["1 1 2"]
    assert _logged(fake_xs, "AllModels.calcFlux") == ["0.1 2.4 err 500 90", "0.5 2.0 err 500 90"]
    assert list(result["models"]) == ["powerlaw"]
    assert list(result["models"]["powerlaw"]["fluxes"]) == ["0.1-2.4keV", "0.5-2.0keV"]
    fake_xs.log.clear()
    _fit(files, {**settings, "flux_method": "profile"})
    assert _logged(fake_xs, "Fit.error") == ["1 1 2", f"{DELTA_90} 3", f"{DELTA_90} 3"]
    assert _logged(fake_xs, "AllModels.calcFlux") == ["0.1 2.4", "0.5 2.0"]


def test_energy_limits_are_passed_with_every_digit():
    assert xspec_fitter.xspec_number(0.11) == "0.11"
    assert xspec_fitter.xspec_number(2.0) == "2"
    assert xspec_fitter.xspec_number(0.123456789) == "0.123456789"  # ':g' would cut it


def test_result_schema_and_error_flags(fake_xs, files, tmp_path):
    FitResult.from_json(_fit(files)).write(tmp_path / "fit.json")
    result = FitResult.read(tmp_path / "fit.json")
    assert result.fitter == "xspec" and result.statistic == "cstat"
    assert result.fitter_version == "12.15.0-fake"
    assert result.energy_range_keV == (0.11, 2.02) and result.error_delta_stat == 2.706
    assert (result.counts.source, result.counts.background) == files["counts"]
    assert result.counts.backscal_ratio == pytest.approx(8.5e-5 / 9.75e-5)
    assert result.exposure_s == 400.0
    assert result.noticed_groups == len(fake_xs.noticed)
    assert result.noticed_channels == sum(files["widths"][g - 1] for g in fake_xs.noticed)

    bbody = result.models["bbody"]
    assert (bbody.status, bbody.statistic, bbody.dof) == ("ok", 12.5, 7)
    assert bbody.parameters["kT"] == ParameterResult(
        value=0.12,
        lower=0.07,
        upper=0.15,
        err_minus=pytest.approx(0.05),
        err_plus=pytest.approx(0.03),
        good_err=True,
        flags="FFFFFFFFF",
        unit="keV",
    )
    # the value is calcFlux's, the bounds 10^ of error's on lg10Flux
    assert bbody.fluxes["0.5-2.0keV"] == FluxResult(
        value=5.6e-12,
        lower=pytest.approx(3.2e-12),
        upper=pytest.approx(7.6e-12),
        err_minus=pytest.approx(2.4e-12),
        err_plus=pytest.approx(2.0e-12),
        confidence=68.0,
        unit="erg/cm2/s",
        method="profile",
    )
    assert bbody.plot.model is not None
    assert len(bbody.plot.model) == len(bbody.plot.x) == len(fake_xs.noticed)

    index = result.models["powerlaw"].parameters["PhoIndex"]
    # pegged at the hard lower limit: the bound is kept, the error is not good
    assert (index.flags, index.good_err, index.lower) == ("FFFTFFFFF", False, -3.0)
    assert result.models["powerlaw"].parameters["norm"].good_err is True


@pytest.mark.parametrize(
    ("flags", "lower", "upper"),
    [
        ("FFFFFFFFF", 3.0e-12, 8.0e-12),
        ("FFFFFFTFF", None, 8.0e-12),  # lower search failed
        ("FFFFFFFTF", 3.0e-12, None),  # upper search failed
        ("FFFTFFFFF", None, 8.0e-12),  # lg10Flux's hard lower limit: the flux reaches ~0
        ("FFFFTFFFF", 3.0e-12, None),
        ("FFFFFFFFT", None, None),  # refused: reduced statistic > 2
    ],
)
def test_flux_error_flags_void_bounds(fake_xs, files, flags, lower, upper):
    fake_xs.script["bbody"]["flux_error"] = (math.log10(3.0e-12), math.log10(8.0e-12), flags)
    result = FitResult.from_json(_fit(files, {"models": ["bbody"]}))
    for flux in result.models["bbody"].fluxes.values():
        assert flux.lower == (None if lower is None else pytest.approx(lower))
        assert flux.upper == (None if upper is None else pytest.approx(upper))


def test_a_flux_bound_beyond_the_value_is_void(fake_xs, files):
    """error found a new minimum and bounds around it that miss calcFlux's value."""
    fake_xs.script["bbody"]["flux_error"] = (math.log10(6.0e-12), math.log10(9.0e-12), "TFFFFFFFF")
    flux = FitResult.from_json(_fit(files, {"models": ["bbody"]})).models["bbody"].fluxes
    for entry in flux.values():
        assert entry.lower is None and entry.upper == pytest.approx(9.0e-12)
        assert entry.err_plus > 0


@pytest.mark.parametrize(
    ("flags", "lower", "upper"),
    [("FFFFFFTFF", None, 0.3), ("FFFFFFFTF", 0.1, None), ("FFFFFFFFT", None, None)],
)
def test_failed_error_searches_give_null_bounds(flags, lower, upper):
    entry = xspec_fitter.parameter_from_error(0.2, (0.1, 0.3, flags), "keV")
    assert (entry.lower, entry.upper, entry.good_err) == (lower, upper, False)
    assert (entry.err_minus is None) == (lower is None)
    assert (entry.err_plus is None) == (upper is None)


def test_too_few_noticed_groups_are_not_fitted(fake_xs, files):
    fake_xs.noticed[:] = [4, 5]
    result = _fit(files)
    assert _logged(fake_xs, "Fit.perform") == []
    for model in result["models"].values():
        assert model["status"] == "not_fitted"
        assert "2 group(s)" in model["reason"] and "more than 2" in model["reason"]
        assert model["parameters"]["norm"]["value"] is None
        assert model["plot"]["model"] is None and len(model["plot"]["x"]) == 2


def test_a_failing_fit_does_not_stop_the_other_model(fake_xs, files):
    fake_xs.failures["Fit.perform"] = "***XSPEC Error: No variable parameters for fit"
    result = _fit(files, {"models": ["bbody"]})
    assert result["models"]["bbody"]["status"] == "failed"
    assert "No variable parameters" in result["models"]["bbody"]["reason"]
    del fake_xs.failures["Fit.perform"]
    assert _fit(files)["models"]["powerlaw"]["status"] == "ok"


def test_unknown_settings_are_rejected(files):
    with pytest.raises(KeyError, match="min_noticed"):
        xspec_fitter.fit_source(*_paths(files), {"min_noticed": 3}, "x")


def test_xspec_is_imported_with_a_private_home(fake_xs):
    home = os.environ.get("HOME")
    assert fake_xs.home_at_import != home
    assert Path(fake_xs.home_at_import).name.startswith("rassflow-xspec-home-")


def test_same_keys_as_the_sherpa_fitter(fake_xs, files):
    """Both fitters fill the same schema, and agree on what they read from the files."""
    from rassflow.fitting.sherpa import fit_source as sherpa_fit

    ours, theirs = _fit(files), sherpa_fit(*_paths(files), {}, "CARMENES-1")
    assert set(ours) == set(theirs)
    for key in ("counts", "exposure_s", "energy_range_keV", "error_delta_stat", "id_name"):
        assert ours[key] == pytest.approx(theirs[key])
    for name, model in ours["models"].items():
        other = theirs["models"][name]
        assert other["status"] == "ok", other["reason"]
        assert set(model) == set(other)
        assert set(model["plot"]) == set(other["plot"])
        for par, entry in model["parameters"].items():
            assert set(entry) == set(other["parameters"][par])
        for band, flux in model["fluxes"].items():
            assert set(flux) == set(other["fluxes"][band])


# ---------------------------------------------------------------- the same setup as Sherpa


def _sherpa_fitter(files):
    """The Sherpa fitter on the files with the groups the Sherpa fitter notices."""
    from sherpa.astro.io import read_arf, read_rmf

    from rassflow.fitting import sherpa as sherpa_fitter

    data = sherpa_fitter.read_spectrum(files["spectrum"])
    rmf, arf = read_rmf(str(files["rmf"])), read_arf(str(files["arf"]))
    fitter = sherpa_fitter.SourceFit(
        data, rmf, arf, sherpa_fitter.read_spectrum(files["background"])
    )
    data.mask = sherpa_fitter.notice_groups(
        data.grouping, data.quality, rmf.e_min, rmf.e_max, (0.11, 2.02)
    )
    return fitter, data


def _profile(files, name):
    """What XSPEC computes at a grid point of the start scan, computed with Sherpa on the
    same files: the W-stat with the shape frozen at ``value`` and the norm fitted."""
    from rassflow.fitting import sherpa as sherpa_fitter

    fitter, data = _sherpa_fitter(files)
    model = sherpa_fitter.MODEL_CLASSES[name](name)
    fitter.set_source(model)
    shape = getattr(model, models.shape_parameter(name))
    shape.freeze()

    def at(value):
        shape.val, model.norm.val = value, 1.0
        predicted = float(np.sum(fitter.folded()))
        model.norm.val = float(np.sum(data.get_dep(filter=True))) / predicted
        fitter.fit("levmar")
        return fitter.calc_stat(), float(model.norm.val)

    return at


def test_both_fitters_start_at_the_same_point(fake_xs, files, monkeypatch):
    """Same spectrum, same statistic at every grid point (W-stat with the norm fitted):
    the XSPEC fitter visits the Sherpa fitter's grid and starts where it starts, with the
    same parameter names, order and units."""
    from rassflow.fitting import sherpa as sherpa_fitter

    scans = {}
    original = sherpa_fitter.scan_statistics

    def recording(fitter, model, name, groups, settings):
        grid, statistics, norms = original(fitter, model, name, groups, settings)
        scans[name] = (grid, statistics, norms)
        return grid, statistics, norms

    monkeypatch.setattr(sherpa_fitter, "scan_statistics", recording)
    theirs = sherpa_fitter.fit_source(*_paths(files), {}, "CARMENES-1")
    for name in ("bbody", "powerlaw"):
        fake_xs.profiles[name] = _profile(files, name)
    ours = _fit(files)
    for index, name in enumerate(("bbody", "powerlaw")):
        shape = models.shape_parameter(name)
        grid, statistics, norms = scans[name]
        best = models.best_grid_point(statistics)
        scan = _after(fake_xs.log, 3 * index)  # each model, then its two cflux models
        visited = [value for key, value in scan if key == f"{shape}.values"]
        np.testing.assert_array_equal(visited[:-1], grid[:, 0])  # the same grid, in order
        thawed = scan.index((f"{shape}.frozen", False))
        (_, start), (_, norm) = scan[thawed + 1 : thawed + 3]
        assert start == grid[best, 0]  # the same start value
        assert norm == pytest.approx(norms[best], rel=1e-3)
        # the same parameters, in the same order, with the same units
        assert (
            list(ours["models"][name]["parameters"])
            == list(theirs["models"][name]["parameters"])
            == list(models.MODELS[name]["parameters"])
        )
        for par, entry in ours["models"][name]["parameters"].items():
            assert entry["unit"] == theirs["models"][name]["parameters"][par]["unit"]


def _ungrouped(path, files):
    """The source counts with one group per channel and channels 200-256 bad."""
    with fits.open(files["spectrum"]) as hdul:
        counts = hdul["SPECTRUM"].data["COUNTS"]
    quality = np.zeros(N_CHANNELS, dtype=np.int16)
    quality[199:] = 2
    return _spectrum(path, counts, 8.5e-5, np.ones(N_CHANNELS, dtype=np.int16), quality)


@pytest.mark.parametrize("grouped", [True, False])
def test_both_fitters_notice_the_same_channels(fake_xs, files, tmp_path, grouped):
    """The XSPEC fitter's ignore commands, applied as XSPEC applies them (fact sheet §4.4),
    notice the groups and channels the Sherpa fitter notices; also for a lower limit that
    ':g' formatting would round across a channel edge."""
    from rassflow.fitting import sherpa as sherpa_fitter

    fake_xs.compute_noticed = True
    paths = dict(files)
    if not grouped:
        paths["spectrum"] = _ungrouped(tmp_path / "ungrouped.fits", files)
    e_min = fits.getdata(files["rmf"], "EBOUNDS")["E_MIN"].astype(float)
    # a limit 2e-7 keV above a channel's E_MIN that 6 significant digits put below it
    edges = [e for e in e_min[10:60] if float(f"{e + 2e-7:g}") <= e]
    assert edges, "no EBOUNDS edge to test the formatting with"
    for energy_range in ([0.11, 2.02], [edges[0] + 2e-7, 1.7]):
        settings = {"energy_range_keV": energy_range}
        ours = xspec_fitter.fit_source(*_paths(paths), settings, "CARMENES-1")
        theirs = sherpa_fitter.fit_source(*_paths(paths), settings, "CARMENES-1")
        assert ours["noticed_groups"] == theirs["noticed_groups"] > 2
        assert ours["noticed_channels"] == theirs["noticed_channels"]
        assert len(ours["models"]["bbody"]["plot"]["x"]) == ours["noticed_groups"]


# ---------------------------------------------------------------- catalogued neighbours


def _with_contamination(files, tmp_path, counts):
    """A copy of the background file with a CONTAMINATION table of ``counts`` per channel."""
    from rassflow.products.contamination import contamination_hdu

    path = tmp_path / "bkg-neighbours.fits"
    with fits.open(files["background"]) as hdul:
        info = {"neighbours": 1, "confused": 0, "unresolved": 0}
        channels = np.arange(1, N_CHANNELS + 1)
        fits.HDUList([*hdul, contamination_hdu(channels, counts, info)]).writeto(path)
    return path


def test_neighbours_are_a_second_source_with_fixed_counts(fake_xs, files, tmp_path, monkeypatch):
    """The neighbours' counts go in as XSPEC fits several sources in one spectrum: a
    diagonal response of unit area for source 2 and a local additive model whose
    photons/cm^2/s per bin are the channel's counts/s, its norm frozen at 1, beside each
    fitted model; the same per-channel counts as the Sherpa fitter's fixed component."""
    from rassflow.products.contamination import fixed_counts

    counts = np.where(np.arange(N_CHANNELS) < 120, 0.2, -0.01)  # net of the background
    background = _with_contamination(files, tmp_path, counts)
    responses = {}
    original = fake_xs._MultiResponse.__setitem__

    def keep(self, index, path):  # the file is removed after the fit: read it when set
        with fits.open(path) as hdul:
            responses[index] = (hdul["MATRIX"].data.copy(), hdul["EBOUNDS"].data.copy())
        original(self, index, path)

    monkeypatch.setattr(fake_xs._MultiResponse, "__setitem__", keep)
    xspec_fitter.fit_source(
        files["spectrum"], background, files["rmf"], files["arf"], {}, "CARMENES-1"
    )
    assert _logged(fake_xs, "AllModels.addPyMod") == [("rfneighb", (), "add")]
    matrix, ebounds = responses[1]
    assert list(matrix["F_CHAN"]) == list(ebounds["CHANNEL"]) and set(matrix["N_CHAN"]) == {1}
    assert np.all(matrix["MATRIX"] == 1.0)
    assert np.array_equal(matrix["ENERG_LO"], ebounds["E_MIN"].astype(np.float32))
    models_logged = _logged(fake_xs, "Model")
    neighbours = ("rfneighb", "neighbours", 2)
    assert models_logged[:2] == ["bbody", neighbours]
    assert models_logged.count(neighbours) == 2  # after each model's clear
    assert _logged(fake_xs, "norm.frozen")[0] is True
    # the local model gives the fixed counts as counts/s per channel
    with fits.open(files["spectrum"]) as hdul:
        grouping = hdul["SPECTRUM"].data["GROUPING"]
    expected = fixed_counts(background, np.arange(1, N_CHANNELS + 1), grouping) / 400.0
    flux = [0.0] * N_CHANNELS
    fake_xs.AllModels.local["rfneighb"](list(ebounds["E_MIN"]) + [ebounds["E_MAX"][-1]], [], flux)
    assert flux == pytest.approx(list(expected))
    assert expected.min() >= 0 and expected.sum() > 0


def test_no_second_source_without_neighbours(fake_xs, files):
    _fit(files)
    assert _logged(fake_xs, "AllModels.addPyMod") == []
    assert not [name for name, _ in fake_xs.log if name.startswith("Spectrum.multiresponse")]


# ---------------------------------------------------------------- absorbed models

ABSORBED = "tbabs*bbody"


def test_absorbed_model_commands(fake_xs, files):
    """abund/xsect set once, the model built as XSPEC's expression, nH free within its
    bounds (soft = hard limits), error on all three parameters, cflux before the absorber
    for the absorbed flux and after it for the unabsorbed one."""
    result = _fit(files, {"models": [ABSORBED]})
    assert ("Xset.abund", "wilm") in fake_xs.log and ("Xset.xsect", "vern") in fake_xs.log
    expressions = _logged(fake_xs, "Model")
    assert expressions[0] == ABSORBED
    assert {"cflux*tbabs*bbody", "tbabs*cflux*bbody"} <= set(expressions)
    assert _logged(fake_xs, "nH.values")[0] == [0.1, 0.001, 0.0, 0.0, 10.0, 10.0]
    assert _logged(fake_xs, "Fit.error")[0] == "2.706 1 2 3"
    fitted = result["models"][ABSORBED]
    assert list(fitted["parameters"]) == ["nH", "kT", "norm"]
    assert fitted["parameters"]["nH"]["unit"] == "10^22 cm^-2"
    assert fitted["parameters"]["nH"]["value"] == 0.3  # the scripted best fit
    assert set(fitted["fluxes"]) == {
        "0.5-2.0keV", "0.5-2.0keV_unabsorbed", "0.1-2.4keV", "0.1-2.4keV_unabsorbed"
    }  # fmt: skip
    # calcFlux with nH 0 gives the unabsorbed value; cflux after tbabs its interval
    unabsorbed = fitted["fluxes"]["0.5-2.0keV_unabsorbed"]
    assert unabsorbed["value"] == fake_xs.script[ABSORBED]["flux_unabsorbed"][0]
    assert unabsorbed["lower"] == pytest.approx(5.0e-12)
    assert fitted["fluxes"]["0.5-2.0keV"]["value"] == fake_xs.script[ABSORBED]["flux"][0]
    absorption = fitted["absorption"]
    assert (absorption["model"], absorption["abundances"], absorption["nh"]) == (
        "tbabs", "wilm", "free"
    )  # fmt: skip
    assert absorption["library"].startswith("XSPEC 12.15.0-fake")


def test_a_fixed_nh_is_frozen_and_has_no_interval(fake_xs, files):
    result = _fit(files, {"models": [ABSORBED], "nh": 0.05, "abundances": "angr"})
    assert ("Xset.abund", "angr") in fake_xs.log
    assert _logged(fake_xs, "nH.values")[0] == 0.05 and ("nH.frozen", True) in fake_xs.log
    assert _logged(fake_xs, "Fit.error")[0] == "2.706 2 3"  # a frozen parameter: no search
    nh = result["models"][ABSORBED]["parameters"]["nH"]
    assert (nh["value"], nh["lower"], nh["upper"], nh["flags"], nh["good_err"]) == (
        0.05, None, None, None, False
    )  # fmt: skip
    assert result["models"][ABSORBED]["absorption"]["nh"] == "fixed"


def test_no_abundance_commands_without_absorbed_models(fake_xs, files):
    _fit(files)
    assert not [key for key, _ in fake_xs.log if key in ("Xset.abund", "Xset.xsect")]


@pytest.mark.skipif(
    not models_available(), reason="absorbed models need the xspectrampoline package"
)
@pytest.mark.parametrize("nh", ["free", 0.02])
def test_absorbed_results_have_the_sherpa_fitters_layout(fake_xs, files, nh):
    """Both fitters write the same parameter names, order, units, flux keys, flags
    conventions and absorption record (all but the library that computed it)."""
    from rassflow.fitting.sherpa import fit_source as sherpa_fit

    settings = {"models": [ABSORBED], "nh": nh}
    ours = _fit(files, settings)
    theirs = sherpa_fit(*_paths(files), settings, "CARMENES-1")
    mine, other = ours["models"][ABSORBED], theirs["models"][ABSORBED]
    assert other["status"] == "ok", other["reason"]
    assert set(mine) == set(other)
    assert list(mine["parameters"]) == list(other["parameters"]) == ["nH", "kT", "norm"]
    for par, entry in mine["parameters"].items():
        assert set(entry) == set(other["parameters"][par])
        assert entry["unit"] == other["parameters"][par]["unit"]
    if nh != "free":
        for fitted in (mine, other):
            assert fitted["parameters"]["nH"]["value"] == nh
            assert fitted["parameters"]["nH"]["flags"] is None
    assert set(mine["fluxes"]) == set(other["fluxes"])
    for band, flux in mine["fluxes"].items():
        assert set(flux) == set(other["fluxes"][band])
    without_library = [
        {key: value for key, value in fitted["absorption"].items() if key != "library"}
        for fitted in (mine, other)
    ]
    assert without_library[0] == without_library[1]
    FitResult.from_json(ours)
    FitResult.from_json(theirs)


def test_a_free_nh_is_scanned_with_the_shape_as_the_sherpa_fitter_scans_it(fake_xs, files):
    """The XSPEC fitter's start scan visits models.start_points: nH 0, 0.03, 0.3, 3 (inside
    nh_bounds) as the outer loop, the kT grid inside, both frozen while the norm is fitted."""
    _fit(files, {"models": [ABSORBED], "nh_bounds": [0.0, 1.0]})
    names, points = models.start_points(ABSORBED, (0.0, 1.0))
    assert names == ("nH", "kT") and len(points) == 3 * len(models.START_GRIDS["bbody"])
    scan = _after(fake_xs.log, 0)
    # nH is given its bounds first, then both scanned parameters are frozen
    assert scan[:3] == [
        ("nH.values", [0.1, 0.001, 0.0, 0.0, 1.0, 1.0]), ("nH.frozen", True),
        ("kT.frozen", True),
    ]  # fmt: skip
    visited = [(key, value) for key, value in scan if key in ("nH.values", "kT.values")]
    expected = [entry for nh, kt in points.tolist()
                for entry in (("nH.values", nh), ("kT.values", kt))]  # fmt: skip
    assert visited[1 : 1 + len(expected)] == expected  # after the bounds
    assert ("nH.frozen", False) in scan and ("kT.frozen", False) in scan
