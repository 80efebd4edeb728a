"""The XSPEC fitter against a scripted, recording PyXspec stand-in (tests/fakes/xspec)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rassflow import caldb
from rassflow.arf import make_arf
from rassflow.fitting import xspec as xspec_fitter
from rassflow.grouping import group_min_counts
from rassflow.io import write_json

FAKES = Path(__file__).parent / "fakes"
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
    assert _logged(fake_xs, "Model") == ["bbody", "powerlaw"]
    assert _logged(fake_xs, "Fit.error") == ["2.706 1 2", "2.706 1 2"]
    assert _logged(fake_xs, "AllModels.calcFlux") == ["0.5 2.0 err 100 68"] * 2
    assert ("data",) in _logged(fake_xs, "Plot")
    names = [name for name, _ in fake_xs.log]
    # state is cleared before the data are loaded and after the fit
    assert names.index("AllData.clear") < names.index("Spectrum")
    assert names.index("AllModels.clear") < names.index("Spectrum")
    assert names[-2:] == ["AllData.clear", "AllModels.clear"]
    # error and flux follow each fit
    assert names.index("Fit.perform") < names.index("Fit.error") < names.index("AllModels.calcFlux")


def test_settings_change_the_commands(fake_xs, files):
    settings = {
        "energy_range_keV": [0.2, 2.0],
        "error_delta_stat": 1.0,
        "flux_bands_keV": [[0.1, 2.4], [0.5, 2.0]],
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


def test_result_schema_and_error_flags(fake_xs, files, tmp_path):
    write_json(_fit(files), tmp_path / "fit.json")
    result = json.loads((tmp_path / "fit.json").read_text())
    assert result["fitter"] == "xspec" and result["statistic"] == "cstat"
    assert result["fitter_version"] == "12.15.0-fake"
    assert result["energy_range_keV"] == [0.11, 2.02] and result["error_delta_stat"] == 2.706
    assert result["counts"] == {
        "source": files["counts"][0],
        "background": files["counts"][1],
        "backscal_ratio": pytest.approx(8.5e-5 / 9.75e-5),
    }
    assert result["exposure_s"] == 400.0
    assert result["noticed_groups"] == len(fake_xs.noticed)
    assert result["noticed_channels"] == sum(files["widths"][g - 1] for g in fake_xs.noticed)

    bbody = result["models"]["bbody"]
    assert (bbody["status"], bbody["statistic"], bbody["dof"]) == ("ok", 12.5, 7)
    assert bbody["parameters"]["kT"] == {
        "value": 0.12,
        "lower": 0.07,
        "upper": 0.15,
        "err-": pytest.approx(0.05),
        "err+": pytest.approx(0.03),
        "good_err": True,
        "flags": "FFFFFFFFF",
        "unit": "keV",
    }
    assert bbody["fluxes"]["0.5-2.0keV"] == {
        "value": 5.6e-12,
        "lower": 3.2e-12,
        "upper": 7.6e-12,
        "err-": pytest.approx(2.4e-12),
        "err+": pytest.approx(2.0e-12),
        "confidence": 68.0,
        "unit": "erg/cm2/s",
    }
    assert set(bbody["plot"]) == {"x", "xerr", "y", "yerr", "model"}
    assert len(bbody["plot"]["model"]) == len(bbody["plot"]["x"]) == len(fake_xs.noticed)

    index = result["models"]["powerlaw"]["parameters"]["PhoIndex"]
    # pegged at the hard lower limit: the bound is kept, the error is not good
    assert (index["flags"], index["good_err"], index["lower"]) == ("FFFTFFFFF", False, -3.0)
    assert result["models"]["powerlaw"]["parameters"]["norm"]["good_err"] is True


@pytest.mark.parametrize(
    ("flags", "lower", "upper"),
    [("FFFFFFTFF", None, 0.3), ("FFFFFFFTF", 0.1, None), ("FFFFFFFFT", None, None)],
)
def test_failed_error_searches_give_null_bounds(flags, lower, upper):
    entry = xspec_fitter.parameter_entry(0.2, (0.1, 0.3, flags), "keV")
    assert (entry["lower"], entry["upper"], entry["good_err"]) == (lower, upper, False)
    assert (entry["err-"] is None) == (lower is None)
    assert (entry["err+"] is None) == (upper is None)


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
