"""The fit-result contract: one structure that both fitters write and the report reads."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from astropy.io import fits

from rassflow.fitting.result import (
    FLAGS_OK,
    CountsResult,
    FitResult,
    FitResultError,
    FluxResult,
    ModelResult,
    ParameterResult,
    PlotData,
    failed_fit,
)

N_CHANNELS = 256


def fitted_result(id_name="CARMENES-2") -> FitResult:
    """A result with every kind of entry: a fit with fluxes and a failed bound, a model
    that was not fitted, a flux without a range and a non-finite plot value."""
    bbody = ModelResult.ok(
        statistic=20.1,
        dof=16,
        nfev=85,
        parameters={
            "kT": ParameterResult.from_bounds(0.11565, 0.05892, 0.14618, FLAGS_OK, "keV"),
            "norm": ParameterResult.from_bounds(2.0e-5, None, 3.5e-5, "FFFFFFTFF", ""),
        },
        fluxes={
            "0.5-2.0keV": FluxResult.profile(5.6497e-12, 3.2324e-12, 7.5844e-12, 68),
            "0.1-2.4keV": FluxResult.profile(8.0e-12, None, None, 68),
        },
        plot=PlotData.from_arrays([0.2, 0.4], [0.1, 0.1], [1.0, np.inf], [0.5, 0.5], [1.1, 1.9]),
    )
    powerlaw = ModelResult.unfitted("powerlaw", "not_fitted", "2 group(s) noticed")
    return FitResult(
        id_name=id_name,
        fitter="sherpa",
        fitter_version="4.19.0",
        statistic="wstat",
        energy_range_keV=(0.11, 2.02),
        error_delta_stat=2.706,
        counts=CountsResult(source=123, background=40, backscal_ratio=0.87),
        exposure_s=412.3,
        noticed_groups=18,
        noticed_channels=150,
        models={"bbody": bbody, "powerlaw": powerlaw},
        backend="native",
    )


# ---------------------------------------------------------------- builders and round trip


def test_round_trip_through_a_file(tmp_path):
    result = fitted_result()
    path = tmp_path / "CARMENES-2-fit.json"
    result.write(path)
    back = FitResult.read(path)
    assert back == result
    assert back.to_json() == json.loads(path.read_text())
    json.dumps(back.to_json(), allow_nan=False)  # JSON types only


def test_builders_derive_intervals_and_flags():
    result = fitted_result()
    kT = result.models["bbody"].parameters["kT"]
    assert kT.err_minus == 0.11565 - 0.05892 and kT.err_plus == 0.14618 - 0.11565
    assert kT.good_err is True
    norm = result.models["bbody"].parameters["norm"]
    assert norm.lower is None and norm.err_minus is None and norm.good_err is False
    assert result.models["bbody"].plot.y == [1.0, None]  # JSON has no infinity
    assert result.models["bbody"].flux(0.5, 2) is result.models["bbody"].fluxes["0.5-2.0keV"]
    assert result.models["bbody"].flux(2.0, 5.0) is None
    powerlaw = result.models["powerlaw"]
    assert list(powerlaw.parameters) == ["PhoIndex", "norm"]
    assert all(
        entry.value is None and entry.flags is None for entry in powerlaw.parameters.values()
    )


def test_json_layout_is_the_written_one():
    """Keys and nesting of the fit JSON, as the fitters wrote it before the structure."""
    data = fitted_result().to_json()
    assert list(data) == [
        "id_name",
        "fitter",
        "fitter_version",
        "statistic",
        "energy_range_keV",
        "error_delta_stat",
        "counts",
        "exposure_s",
        "noticed_groups",
        "noticed_channels",
        "models",
        "backend",
    ]
    assert data["energy_range_keV"] == [0.11, 2.02]
    bbody = data["models"]["bbody"]
    assert list(bbody) == [
        "status", "reason", "statistic", "dof", "nfev", "parameters", "fluxes", "plot"
    ]  # fmt: skip
    assert list(bbody["parameters"]["kT"]) == [
        "value", "lower", "upper", "err-", "err+", "good_err", "flags", "unit"
    ]  # fmt: skip
    assert list(bbody["fluxes"]["0.5-2.0keV"]) == [
        "value", "lower", "upper", "err-", "err+", "confidence", "method", "unit"
    ]  # fmt: skip
    assert bbody["fluxes"]["0.5-2.0keV"]["unit"] == "erg/cm2/s"
    assert bbody["fluxes"]["0.5-2.0keV"]["method"] == "profile"
    assert list(bbody["plot"]) == ["x", "xerr", "y", "yerr", "model"]
    assert data["models"]["powerlaw"]["plot"] == {} and data["models"]["powerlaw"]["fluxes"] == {}


def test_failed_fit_validates_and_keeps_its_layout():
    data = failed_fit("CARMENES-5", ["bbody", "powerlaw"], "no spectrum: empty region", "native")
    # no fit setup (statistic, energy range, delta-stat) for a source that was never fitted
    assert set(data) == {
        "id_name",
        "backend",
        "fitter",
        "fitter_version",
        "counts",
        "exposure_s",
        "noticed_groups",
        "noticed_channels",
        "models",
    }
    assert (data["fitter"], data["counts"], data["exposure_s"]) == (None, {}, None)
    result = FitResult.from_json(data)
    assert result.to_json() == data
    assert result == FitResult.failed(
        "CARMENES-5", ["bbody", "powerlaw"], "no spectrum: empty region", "native"
    )
    for name, model in result.models.items():
        assert (model.status, model.reason) == ("failed", "no spectrum: empty region")
        assert (model.statistic, model.dof, model.nfev, model.fluxes, model.plot) == (
            None, None, None, {}, None
        )  # fmt: skip
        assert all(entry.value is None for entry in model.parameters.values()), name
    assert (
        FitResult.from_json(failed_fit("S", ["bbody"], "x", "heasoft", "xspec")).fitter == "xspec"
    )


def test_a_flux_without_method_reads_as_draws():
    """Fit JSON written before fluxes had a method held covariance-draw ranges."""
    data = fitted_result().to_json()
    legacy = data["models"]["bbody"]["fluxes"]["0.5-2.0keV"]
    del legacy["method"]
    # a draws range need not contain the best fit: err- may be negative
    legacy.update({"lower": 6.0e-12, "err-": 5.6497e-12 - 6.0e-12})
    flux = FitResult.from_json(data).models["bbody"].fluxes["0.5-2.0keV"]
    assert flux.method == "draws" and flux.lower == 6.0e-12 and flux.err_minus < 0
    assert (
        FitResult.from_json(data).to_json()["models"]["bbody"]["fluxes"]["0.5-2.0keV"]["method"]
        == "draws"
    )


def test_profile_bounds_always_contain_the_value():
    flux = FluxResult.profile(5.0e-12, 6.0e-12, 4.0e-12, 68)  # both on the wrong side
    assert (flux.lower, flux.upper, flux.err_minus, flux.err_plus) == (None, None, None, None)
    flux = FluxResult.profile(5.0e-12, 5.0e-12, 7.0e-12, 68)  # a bound at the value is one
    assert flux.err_minus == 0.0 and flux.err_plus == pytest.approx(2.0e-12)
    assert FluxResult.profile(None, 1.0, 2.0, 68).lower is None
    with pytest.raises(FitResultError, match="unknown flux method 'bootstrap'"):
        FluxResult.from_bounds(1.0, 0.5, 1.5, 68, method="bootstrap")


# ---------------------------------------------------------------- validation


DELETE = object()
BBODY, KT = ("models", "bbody"), ("models", "bbody", "parameters", "kT")
INVALID = {
    # case: (the keys down to a field, its new value or DELETE, what the error says)
    "no models": (("models",), DELETE, r"models: missing"),
    "no id_name": (("id_name",), DELETE, r"id_name: missing"),
    "empty id_name": (("id_name",), "", r"id_name: empty"),
    "unknown status": ((*BBODY, "status"), "done", r"models\[bbody\]\.status: unknown status"),
    "null reason": ((*BBODY, "reason"), None, r"models\[bbody\]\.reason: expected a string"),
    "dof as text": ((*BBODY, "dof"), "16", r"models\[bbody\]\.dof: expected an integer or null"),
    "dof as float": ((*BBODY, "dof"), 16.0, r"models\[bbody\]\.dof: expected an integer"),
    "null plot": ((*BBODY, "plot"), None, r"models\[bbody\]\.plot: expected an object"),
    "short plot": ((*BBODY, "plot", "y"), [1.0], r"models\[bbody\]\.plot\.y: 1 values for 2"),
    "text in plot": ((*BBODY, "plot", "x"), [0.2, "0.4"], r"models\[bbody\]\.plot\.x\[1\]"),
    "good_err as text": (
        (*KT, "good_err"),
        "yes",
        r"models\[bbody\]\.parameters\[kT\]\.good_err: expected true or false, got str",
    ),
    "value as bool": (
        (*KT, "value"),
        True,
        r"models\[bbody\]\.parameters\[kT\]\.value: expected a number or null, got bool",
    ),
    "unknown parameter field": (
        (*KT, "error"),
        0.1,
        r"models\[bbody\]\.parameters\[kT\]\.error: unknown field",
    ),
    "incomplete flux": (
        (*BBODY, "fluxes", "0.5-2.0keV"),
        {"value": 1e-12},
        r"models\[bbody\]\.fluxes\[0\.5-2\.0keV\]\.lower: missing",
    ),
    "unknown flux method": (
        (*BBODY, "fluxes", "0.5-2.0keV", "method"),
        "bootstrap",
        r"models\[bbody\]\.fluxes\[0\.5-2\.0keV\]\.method: unknown flux method 'bootstrap'",
    ),
    "profile bound beyond the value": (
        (*BBODY, "fluxes", "0.5-2.0keV", "lower"),
        6.0e-12,
        r"models\[bbody\]\.fluxes\[0\.5-2\.0keV\]\.lower: a profile bound on the wrong side",
    ),
    "parameters as list": (
        ("models", "powerlaw", "parameters"),
        [],
        r"models\[powerlaw\]\.parameters: expected an object, got list",
    ),
    "counts as float": (("counts", "source"), 1.5, r"counts\.source: expected an integer"),
    "incomplete counts": (("counts",), {"source": 1}, r"counts\.background: missing"),
    "null groups": (("noticed_groups",), None, r"noticed_groups: expected an integer, got null"),
    "one energy": (("energy_range_keV",), [0.11], r"energy_range_keV: expected a list of 2"),
    "null statistic": (("statistic",), None, r"statistic: expected a string, got null"),
    "exposure as text": (("exposure_s",), "412", r"exposure_s: expected a number or null"),
    "unknown field": (("chi2",), 3.0, r"chi2: unknown field"),
}


@pytest.mark.parametrize(("keys", "value", "message"), INVALID.values(), ids=INVALID.keys())
def test_validation_names_the_file_and_the_field(tmp_path, keys, value, message):
    data = fitted_result().to_json()
    *parents, last = keys
    entry = data
    for key in parents:
        entry = entry[key]
    if value is DELETE:
        del entry[last]
    else:
        entry[last] = value
    path = tmp_path / "CARMENES-2-fit.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"^fit result {re.escape(str(path))}: {message}"):
        FitResult.read(path)
    with pytest.raises(FitResultError, match=rf"^fit result: {message}"):
        FitResult.from_json(data)


def test_a_file_that_is_not_a_fit_result(tmp_path):
    path = tmp_path / "fit.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=rf"fit result {re.escape(str(path))}: not valid JSON"):
        FitResult.read(path)
    path.write_text("[]")
    with pytest.raises(ValueError, match=r"fit\.json: the result: expected an object, got list"):
        FitResult.read(path)


# ---------------------------------------------------------------- the fitters' output


def _spectrum(path, counts, backscal, grouping=None, quality=None):
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
    table.header.update(HDUCLAS1="SPECTRUM", EXPOSURE=400.0, BACKSCAL=backscal, POISSERR=True)
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    return path


@pytest.fixture(scope="module")
def small_spectrum(tmp_path_factory):
    """A faint grouped source spectrum with its background and PSPC-C-like responses."""
    from rassflow.products.grouping import group_min_counts
    from rassflow.products.responses import make_arf
    from rassflow.simulate import caldb

    root = tmp_path_factory.mktemp("small")
    rng = np.random.default_rng(11)
    shape = np.exp(-0.5 * ((np.arange(N_CHANNELS) - 40) / 15.0) ** 2)
    source = rng.poisson(8.0 * shape + 0.1)
    background = rng.poisson(np.full(N_CHANNELS, 1.0))
    grouping, quality = group_min_counts(source, 3)
    rmf = caldb.write_rmf(root / "pspcc.rmf")
    specresp = caldb.write_specresp(root / "pspcc.spec_resp")
    return (
        _spectrum(root / "src-grp.fits", source, 8.5e-5, grouping, quality),
        _spectrum(root / "bkg.fits", background, 9.75e-5),
        rmf,
        make_arf(rmf, specresp, root / "src.arf"),
    )


def test_sherpa_output_on_a_small_spectrum_validates(small_spectrum, tmp_path):
    sherpa = pytest.importorskip("rassflow.fitting.sherpa")
    from rassflow.fitting.run import fit_and_write

    data = sherpa.fit_source(*small_spectrum, {"flux_samples": 20}, "CARMENES-9")
    result = FitResult.from_json(data)
    assert result.to_json() == data  # the structure holds everything the fitter wrote
    assert {name: model.status for name, model in result.models.items()} == {
        "bbody": "ok",
        "powerlaw": "ok",
    }
    assert result.counts.source > 0 and result.noticed_groups > 2
    assert result.backend is None  # the fitter does not know the product backend

    out = tmp_path / "CARMENES-9-fit.json"
    written = fit_and_write(*small_spectrum, {"flux_samples": 20}, "CARMENES-9", out, "heasoft")
    assert FitResult.read(out) == result.replace(backend="heasoft")
    assert FitResult.read(out).to_json() == written


def test_sherpa_output_without_noticed_groups_validates(small_spectrum):
    sherpa = pytest.importorskip("rassflow.fitting.sherpa")

    data = sherpa.fit_source(*small_spectrum, {"energy_range_keV": [2.5, 2.6]}, "CARMENES-9")
    result = FitResult.from_json(data)
    assert result.to_json() == data
    for model in result.models.values():
        assert model.status == "not_fitted" and model.plot == PlotData([], [], [], [], None)


def test_intervals_carry_the_deblending_noise_and_the_psf_systematic(small_spectrum, tmp_path):
    """with_systematics on a real fit: an ARF with the PSF correction and a background with
    a CONTAMINATION table of known variance widen every interval by
    sqrt(1 + sigma_c^2 / (N + alpha^2 N_bkg)) and then the flux lower bounds by PSFSYSLO."""
    import shutil

    from astropy.io import fits

    from rassflow.fitting.result import ModelResult, ParameterResult
    from rassflow.fitting.run import _band_counts, with_systematics
    from rassflow.products.contamination import contamination_hdu
    from rassflow.products.responses import apply_psf_correction, read_psf_record
    from rassflow.pspc import pi_limits

    spectrum, background, rmf, arf = small_spectrum
    bbody = ModelResult.ok(
        50.0,
        40,
        100,
        {
            "kT": ParameterResult.from_bounds(0.2, 0.15, 0.26, "FFFFFFFFF", "keV"),
            "norm": ParameterResult.from_bounds(1e-4, 5e-5, 2e-4, "FFFFFFFFF", ""),
        },
        {"0.5-2.0keV": FluxResult.profile(1e-12, 0.7e-12, 1.4e-12, 90.0)},
        None,
    )
    result = FitResult("S", "sherpa", "x", None, 1000.0, 10, 50, {"bbody": bbody})
    arf_psf = shutil.copy(arf, tmp_path / "psf.arf")
    regions = {
        "source_radius_arcmin": 2.0,
        "background_inner_factor": 2.0,
        "background_outer_factor": 4.0,
    }
    apply_psf_correction(arf_psf, spectrum, background, regions)
    record = read_psf_record(arf_psf)
    assert record["psf_model"] == "psfoff" and record["background_arcmin"] == [4.0, 8.0]
    low, high = record["psf_systematic"]
    assert 0.75 < low < high < 0.95
    bkg = tmp_path / "bkg.fits"
    with fits.open(background) as hdul:
        info = {"neighbours": 1, "confused": 0, "unresolved": 0}
        info["variance"] = np.full(N_CHANNELS, 0.5)
        table = contamination_hdu(np.arange(1, N_CHANNELS + 1), np.zeros(N_CHANNELS), info)
        fits.HDUList([hdu.copy() for hdu in hdul] + [table]).writeto(bkg)

    settings = {"energy_range_keV": [0.11, 2.02]}
    widened = with_systematics(result, spectrum, bkg, arf_psf, settings)
    lo, hi = pi_limits(0.11, 2.02)
    n_src, n_bkg, ratio = _band_counts(spectrum, bkg, (lo, hi))
    sigma_c = np.sqrt(0.5 * (hi - lo + 1))
    inflation = np.sqrt(1.0 + sigma_c**2 / (n_src + ratio**2 * n_bkg))
    assert widened.systematics["deblending_inflation"] == pytest.approx(inflation, rel=1e-5)
    assert widened.systematics["psf_factors"] == [low, high]
    checked = 0
    for name, model in result.models.items():
        kt_or_gamma = next(iter(model.parameters))
        before = model.parameters[kt_or_gamma]
        after = widened.models[name].parameters[kt_or_gamma]
        if before.err_plus is not None:
            assert after.err_plus == pytest.approx(before.err_plus * inflation, rel=1e-9)
        for band, flux in model.fluxes.items():
            if flux.lower is None or flux.upper is None:
                continue
            new = widened.models[name].fluxes[band]
            expected = max(flux.value - flux.err_minus * inflation, 0.0) * low
            assert new.lower == pytest.approx(expected, rel=1e-9)
            assert new.upper == pytest.approx(flux.value + flux.err_plus * inflation, rel=1e-9)
            checked += 1
    assert checked == 1
    # no PSF correction, no neighbours: nothing to add
    assert with_systematics(result, spectrum, background, arf, settings) == result
    assert FitResult.from_json(widened.to_json()) == widened
