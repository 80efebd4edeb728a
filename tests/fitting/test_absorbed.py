"""Absorbed models in the Sherpa fitter: nH free, fixed or from a sample column; the
configuration refuses them without XSPEC's model library."""

from __future__ import annotations

import numpy as np
import pytest

from rassflow.config import ConfigError, validate
from rassflow.fitting import absorption, models, nh_from_sample, source_fit_settings

needs_xspec_models = pytest.mark.skipif(not absorption.installed(), reason=absorption.INSTALL_HINT)
MODEL = "tbabs*powerlaw"


def test_the_configuration_refuses_absorbed_models_without_the_package(monkeypatch):
    """Where the wheel is missing (a platform without one), the check before any job says
    what to install; the same configuration passes where it is installed."""
    config = {"fit": {"models": ["bbody", "tbabs*bbody"]}}
    monkeypatch.setattr(absorption, "PACKAGE", "xspectrampoline_not_installed_here")
    with pytest.raises(ConfigError, match=r"fit\.models\[1\].*pip install xspectrampoline"):
        validate(config)
    ecf = {"photometry": {"ecf_model": {"model": "phabs*powerlaw", "shape": 2.0, "nh": 0.03}}}
    with pytest.raises(ConfigError, match="photometry.ecf_model.model"):
        validate(ecf)
    validate({"fit": {"models": ["bbody", "powerlaw"]}})  # plain models need nothing
    monkeypatch.undo()
    if absorption.installed():
        assert validate(config)["fit"]["models"] == ["bbody", "tbabs*bbody"]


def test_nh_settings_are_checked():
    with pytest.raises(ConfigError, match="'fit.nh'"):
        validate({"fit": {"nh": "fixed"}})
    with pytest.raises(ConfigError, match="'fit.nh'"):
        validate({"fit": {"nh": -0.1}})
    with pytest.raises(ConfigError, match="fit.nh_bounds"):
        validate({"fit": {"nh_bounds": [1.0, 0.5]}})
    with pytest.raises(ConfigError, match="fit.abundances"):
        validate({"fit": {"abundances": "solar"}})


def test_nh_from_the_sample_table(tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text("id_name,ra,dec,NH\nS-1,10.0,20.0,0.05\nS-2,11.0,21.0,\nS-3,1,2,-1\n")
    assert nh_from_sample(sample, "NH", "S-1") == 0.05
    assert nh_from_sample(sample, "NH", "S-2") is None  # missing
    assert nh_from_sample(sample, "NH", "S-3") is None  # negative
    with pytest.raises(KeyError, match="no nH column 'N_H'"):
        nh_from_sample(sample, "N_H", "S-1")
    with pytest.raises(KeyError, match="'S-9' is not in the sample"):
        nh_from_sample(sample, "NH", "S-9")
    settings = source_fit_settings({"nh": "free"}, "NH", 0.05)
    assert settings == {"nh": 0.05, "nh_origin": "column NH"}
    assert source_fit_settings({"nh": "free"}, None, 0.05) == {"nh": "free"}


@pytest.fixture(scope="module")
def spectrum(tmp_path_factory):
    """An absorbed power law (nH 0.2, Gamma 2) through the synthetic PSPC-like response."""
    from tests.fitting import test_absorbed_coverage as coverage
    from tests.fitting.test_coverage import synthetic_response, write_response

    directory = tmp_path_factory.mktemp("absorbed")
    response = synthetic_response()
    rmf, arf = write_response(directory, response)
    grouped, bkg, params = coverage.simulate(3, directory, rmf, arf, response, MODEL, 0.2)
    return grouped, bkg, rmf, arf, params


def _fit(spectrum, settings):
    from rassflow.fitting.sherpa import fit_source

    grouped, bkg, rmf, arf, _ = spectrum
    settings = {"models": [MODEL], "flux_bands_keV": [[0.5, 2.0]], **settings}
    return fit_source(grouped, bkg, rmf, arf, settings, "S-1")


@needs_xspec_models
def test_nh_from_a_column_equals_the_same_value_given_by_hand(spectrum, tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text("id_name,NH\nS-1,0.2\n")
    by_column = _fit(spectrum, source_fit_settings({}, "NH", nh_from_sample(sample, "NH", "S-1")))
    by_hand = _fit(spectrum, {"nh": 0.2})
    column_model, hand_model = by_column["models"][MODEL], by_hand["models"][MODEL]
    assert column_model["absorption"].pop("nh") == "column NH"
    assert hand_model["absorption"].pop("nh") == "fixed"
    assert by_column == by_hand  # every number, flag and flux identical
    nh = hand_model["parameters"]["nH"]
    assert (nh["value"], nh["lower"], nh["flags"], nh["good_err"]) == (0.2, None, None, False)
    assert hand_model["parameters"]["PhoIndex"]["good_err"]


@needs_xspec_models
def test_a_source_without_a_column_value_fails_its_absorbed_models_only(spectrum):
    settings = {**source_fit_settings({}, "NH", None), "models": [MODEL, "powerlaw"]}
    result = _fit(spectrum, settings)
    assert result["models"][MODEL]["status"] == "failed"
    assert "no nH for this source in the sample (column NH)" in result["models"][MODEL]["reason"]
    assert result["models"]["powerlaw"]["status"] == "ok"


@needs_xspec_models
def test_free_nh_is_fitted_with_absorbed_and_unabsorbed_fluxes(spectrum):
    result = _fit(spectrum, {"nh": "free"})
    fitted = result["models"][MODEL]
    assert fitted["status"] == "ok", fitted["reason"]
    _, _, _, _, (nh, gamma, norm) = spectrum
    pars = fitted["parameters"]
    assert pars["nH"]["lower"] <= pars["nH"]["value"] <= pars["nH"]["upper"]
    assert pars["nH"]["unit"] == "10^22 cm^-2" and pars["nH"]["flags"] is not None
    assert 0.0 < pars["nH"]["value"] < 1.0 and 1.0 < pars["PhoIndex"]["value"] < 3.5
    absorbed, unabsorbed = fitted["fluxes"]["0.5-2.0keV"], fitted["fluxes"]["0.5-2.0keV_unabsorbed"]
    assert unabsorbed["value"] > absorbed["value"] > 0
    for flux in (absorbed, unabsorbed):
        assert flux["lower"] <= flux["value"] <= flux["upper"]
    best = [pars[name]["value"] for name in models.MODELS[MODEL]["parameters"]]
    assert absorbed["value"] == pytest.approx(models.energy_flux(MODEL, best, 0.5, 2.0))
    assert unabsorbed["value"] == pytest.approx(
        models.energy_flux(MODEL, best, 0.5, 2.0, unabsorbed=True)
    )
    record = fitted["absorption"]
    assert record["abundances"] == "wilm" and record["nh"] == "free"
    assert "XSPEC 12.15" in record["library"] and "xspectrampoline" in record["library"]


@needs_xspec_models
def test_draws_give_both_fluxes_with_a_fixed_nh(spectrum):
    result = _fit(spectrum, {"nh": 0.2, "flux_method": "draws"})
    fluxes = result["models"][MODEL]["fluxes"]
    for key in ("0.5-2.0keV", "0.5-2.0keV_unabsorbed"):
        assert fluxes[key]["method"] == "draws" and fluxes[key]["lower"] < fluxes[key]["upper"]
    assert np.isfinite(fluxes["0.5-2.0keV_unabsorbed"]["value"])


@needs_xspec_models
def test_the_fit_stage_takes_each_sources_nh_from_the_sample_column(spectrum, tmp_path):
    """rassflow.chain's fit stage (what both granularities run) with sample.nh_column."""
    from rassflow.chain import Responses, Source, fit_spectrum, stage_settings
    from rassflow.fitting.result import FitResult

    config = validate(
        {
            "results_dir": str(tmp_path),
            "sample": {"nh_column": "NH"},
            "fit": {"models": [MODEL, "powerlaw"], "flux_bands_keV": [[0.5, 2.0]]},
            "tools": {"fitter": "sherpa", "products": "native"},  # as the workflow resolves
        }
    )
    (tmp_path / "sample").mkdir()
    (tmp_path / "sample" / "sample.csv").write_text("id_name,ra,dec,NH\nS-1,1.0,2.0,0.2\n")
    grouped, bkg, rmf, arf, _ = spectrum
    paths = {"grouped": grouped, "background": bkg, "arf": arf, "fit": tmp_path / "fit.json"}
    settings = stage_settings(config)["fit_spectrum"]
    fit_spectrum(None, Source("S-1", 1.0, 2.0, paths), settings, Responses(str(rmf), ""))
    fitted = FitResult.read(tmp_path / "fit.json").models[MODEL]
    assert fitted.parameters["nH"].value == 0.2 and fitted.parameters["nH"].flags is None
    assert fitted.absorption["nh"] == "column NH"


@needs_xspec_models
def test_results_table_carries_nh_and_both_fluxes(spectrum, tmp_path):
    """Columns in the notebook's style with the model's prefix (tbabs*powerlaw ->
    tbabs_powerlaw_...): nH with err-/err+/good_err and bounds, the absorbed flux
    (``_flux``) and the unabsorbed one (``_unabsflux``), L_X of the unabsorbed flux; the
    FITS file states the unit and what computed the absorption."""
    from astropy.io import fits as pyfits
    from astropy.table import Table

    from rassflow.fitting.result import FitResult
    from rassflow.report.results import build_results_table, write_results

    fit = FitResult.from_json(_fit(spectrum, {"nh": "free", "models": [MODEL, "powerlaw"]}))
    fit.write(tmp_path / "S-1-fit.json")
    sample = tmp_path / "sample.csv"
    sample.write_text(
        "id_name,name,ra,dec,seq_id,rasscat_name,sep_arcsec,plx\n"
        "S-1,star,1.0,2.0,RS930001N00,2RXS J000000.0+000000,1.0,10.0\n"
    )
    models_ = [MODEL, "powerlaw"]
    table = build_results_table(sample, [tmp_path / "S-1-fit.json"], models_, [(0.5, 2.0)],
                                parallax_column="plx")  # fmt: skip
    row = table.loc["S-1"]
    nh = fit.models[MODEL].parameters["nH"]
    assert row["tbabs_powerlaw_nH"] == nh.value
    assert row["tbabs_powerlaw_nH_err-"] == pytest.approx(nh.value - nh.lower)
    assert row["tbabs_powerlaw_nH_hi"] == nh.upper
    assert row["tbabs_powerlaw_nH_good_err"] == nh.good_err
    absorbed = fit.models[MODEL].flux(0.5, 2.0)
    unabsorbed = fit.models[MODEL].flux(0.5, 2.0, unabsorbed=True)
    assert row["tbabs_powerlaw_0.5-2.0keV_flux"] == absorbed.value
    assert row["tbabs_powerlaw_0.5-2.0keV_unabsflux"] == unabsorbed.value
    assert row["tbabs_powerlaw_0.5-2.0keV_unabsflux_lo"] == unabsorbed.lower
    lx = 4 * np.pi * (100.0 * 3.0857e18) ** 2 * unabsorbed.value  # 10 mas: 100 pc
    assert row["tbabs_powerlaw_0.5-2.0keV_lx"] == pytest.approx(lx)
    assert row["tbabs_powerlaw_status"] == "ok" and row["powerlaw_status"] == "ok"
    assert "powerlaw_0.5-2.0keV_unabsflux" not in table.columns  # plain models: one flux
    write_results(table, tmp_path / "r.csv", tmp_path / "r.fits", {})
    back = Table.read(tmp_path / "r.fits", hdu="RESULTS")
    assert back["tbabs_powerlaw_nH"].unit.to_string("fits") == "10**22 cm-2"
    with pyfits.open(tmp_path / "r.fits") as hdus:
        header = hdus["RESULTS"].header
        assert (header["ABUND"], header["XSECT"], header["NHSRC"]) == (
            "wilm", "vern", "free"
        )  # fmt: skip
        assert header["ABSLIB"].startswith("XSPEC 12.15")
        index = hdus["RESULTS"].columns.names.index("tbabs_powerlaw_0.5-2.0keV_unabsflux") + 1
        assert "unabsorbed" in header[f"TCOMM{index}"]


@needs_xspec_models
def test_histograms_show_the_absorbed_parameters(spectrum, tmp_path):
    from rassflow.fitting.result import FitResult
    from rassflow.report.plots import plot_parameter_histograms
    from rassflow.report.results import build_results_table, write_results

    FitResult.from_json(_fit(spectrum, {"nh": "free"})).write(tmp_path / "S-1-fit.json")
    sample = tmp_path / "sample.csv"
    sample.write_text("id_name,name,ra,dec,seq_id,rasscat_name,sep_arcsec\nS-1,a,1,2,RS1,r,1\n")
    table = build_results_table(sample, [tmp_path / "S-1-fit.json"], [MODEL], [(0.5, 2.0)])
    write_results(table, tmp_path / "r.csv", tmp_path / "r.fits", {})
    summary = plot_parameter_histograms(tmp_path / "r.csv", tmp_path / "h.png")
    assert list(summary) == ["tbabs_powerlaw_nH", "tbabs_powerlaw_PhoIndex"]
    assert summary["tbabs_powerlaw_nH"][0] == ("sources", 1)
    assert (tmp_path / "h.png").stat().st_size > 0
