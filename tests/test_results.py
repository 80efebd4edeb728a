"""Results table: columns, interval arithmetic, missing results, CSV and FITS output."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from rassflow.results import (
    build_results_table,
    notebook_columns,
    result_columns,
    write_results,
)

MODELS = ["bbody", "powerlaw"]
BANDS = [[0.5, 2.0]]
PROVENANCE = {"backend": "native", "tool": "rassflow.results", "config_hash": "abc123"}


def parameter(value, lower, upper, unit="", good=True):
    return {
        "value": value,
        "lower": lower,
        "upper": upper,
        "err-": None if lower is None else value - lower,
        "err+": None if upper is None else upper - value,
        "good_err": good,
        "flags": "FFFFFFFFF" if good else "FFFFFFTFF",
        "unit": unit,
    }


def flux(value, lower, upper):
    return {
        "value": value,
        "lower": lower,
        "upper": upper,
        "err-": value - lower,
        "err+": upper - value,
        "confidence": 68,
        "unit": "erg/cm2/s",
    }


def fit_result(id_name, bbody, powerlaw):
    return {
        "id_name": id_name,
        "fitter": "sherpa",
        "fitter_version": "4.19.0",
        "backend": "native",
        "statistic": "wstat",
        "energy_range_keV": [0.11, 2.02],
        "error_delta_stat": 2.706,
        "counts": {"source": 123, "background": 40, "backscal_ratio": 0.87},
        "exposure_s": 412.3,
        "noticed_groups": 18,
        "noticed_channels": 150,
        "models": {"bbody": bbody, "powerlaw": powerlaw},
    }


def fitted(parameters, fluxes, statistic=20.1, dof=16):
    plot = {"x": [0.2, 0.4], "xerr": [0.1, 0.1], "y": [1.0, 2.0], "yerr": [0.5, 0.5]}
    return {
        "status": "ok",
        "reason": "",
        "statistic": statistic,
        "dof": dof,
        "parameters": parameters,
        "fluxes": fluxes,
        "plot": {**plot, "model": [1.1, 1.9]},
    }


NOT_FITTED = {
    "status": "not_fitted",
    "reason": "2 groups noticed, need more than 2",
    "statistic": None,
    "dof": None,
    "parameters": {},
    "fluxes": {},
    "plot": {},
}


@pytest.fixture
def inputs(tmp_path):
    sample = pd.DataFrame(
        {
            "id_name": ["CARMENES-10", "CARMENES-2", "CARMENES-3"],
            "Karmn": ["J00051+457", "J00067-075", "J00183+440"],
            "name": ["GJ 2", "G 217-032", "GX And"],
            "ra": [1.29, 1.68, 4.59],
            "dec": [45.78, -7.54, 44.02],
            "rasscat_name": ["2RXS J000509.3+454700", "2RXS J000641.0-073224", ""],
            "rasscat_ra": [1.29, 1.67, 4.59],
            "rasscat_dec": [45.78, -7.54, 44.02],
            "rasscat_skyfield_number": [930001, 930204, 930002],
            "rasscat_count_rate": [0.05, 0.31, 0.02],
            "sep_arcsec": [3.1, 5.2, 7.9],
            "seq_id": ["RS930001N00", "RS930204N00", "RS930002N00"],
        }
    )
    sample_csv = tmp_path / "sample.csv"
    sample.to_csv(sample_csv, index=False)
    carmenes2 = fit_result(
        "CARMENES-2",
        fitted(
            {
                "kT": parameter(0.11565, 0.05892, 0.14618, "keV"),
                "norm": parameter(2.0e-5, 1.0e-5, 3.5e-5),
            },
            {"0.5-2.0keV": flux(5.6497e-12, 3.2324e-12, 7.5844e-12)},
        ),
        fitted(
            {
                "PhoIndex": parameter(3.2, None, 4.0, good=False),  # failed lower search
                "norm": parameter(1.0e-4, 0.5e-4, 1.6e-4),
            },
            {"0.5-2.0keV": flux(6.0e-12, 4.0e-12, 8.0e-12)},
            statistic=22.5,
        ),
    )
    carmenes10 = fit_result(
        "CARMENES-10",
        fitted(
            {"kT": parameter(0.2, 0.1, 0.3, "keV"), "norm": parameter(1e-6, 5e-7, 2e-6)},
            {"0.5-2.0keV": flux(1.0e-13, 0.5e-13, 1.5e-13)},
        ),
        NOT_FITTED,
    )
    paths = []
    for result in (carmenes2, carmenes10):
        path = tmp_path / f"{result['id_name']}.json"
        path.write_text(json.dumps(result))
        paths.append(path)
    return sample_csv, paths


def test_columns_are_in_the_documented_order(inputs):
    table = build_results_table(*inputs, MODELS, BANDS, PROVENANCE)
    assert table.index.name == "id_name"
    assert list(table.columns) == result_columns(MODELS, BANDS)
    assert list(table.columns[:6]) == ["name", "ra", "dec", "seq_id", "rasscat_name", "sep_arcsec"]
    assert list(table.columns[6:10]) == [
        "bbody_kT",
        "bbody_kT_err-",
        "bbody_kT_err+",
        "bbody_kT_good_err",
    ]
    assert list(table.columns[-3:]) == ["fitter", "fitter_version", "backend"]


def test_notebook_columns_exist_unchanged(inputs):
    columns = notebook_columns()
    assert len(columns) == 22
    for name in (
        "bbody_kT",
        "bbody_kT_err-",
        "bbody_norm_good_err",
        "powerlaw_PhoIndex_good_err",
        "bbody_0.5-2.0keV_flux",
        "bbody_0.5-2.0keV_flux_err+",
        "powerlaw_0.5-2.0keV_flux_err-",
    ):
        assert name in columns
    table = build_results_table(*inputs, MODELS, BANDS, PROVENANCE)
    assert set(columns) <= set(table.columns)


def test_rows_are_in_natural_order(inputs):
    table = build_results_table(*inputs, MODELS, BANDS, PROVENANCE)
    assert list(table.index) == ["CARMENES-2", "CARMENES-3", "CARMENES-10"]


def test_interval_arithmetic_and_good_err(inputs):
    table = build_results_table(*inputs, MODELS, BANDS, PROVENANCE)
    row = table.loc["CARMENES-2"]
    assert row["bbody_kT"] == 0.11565
    assert row["bbody_kT_err-"] == pytest.approx(0.11565 - 0.05892)
    assert row["bbody_kT_err+"] == pytest.approx(0.14618 - 0.11565)
    assert row["bbody_0.5-2.0keV_flux_err-"] == pytest.approx(5.6497e-12 - 3.2324e-12)
    assert row["bbody_0.5-2.0keV_flux_err+"] == pytest.approx(7.5844e-12 - 5.6497e-12)
    assert table["bbody_kT_good_err"].dtype == bool
    assert row["bbody_kT_good_err"] is np.True_
    assert row["powerlaw_PhoIndex_good_err"] is np.False_
    assert row["bbody_statistic"] == 20.1 and row["bbody_dof"] == 16
    assert row["counts_src"] == 123 and row["exposure_s"] == 412.3


def test_null_values_become_nan(inputs):
    table = build_results_table(*inputs, MODELS, BANDS, PROVENANCE)
    row = table.loc["CARMENES-2"]
    assert math.isnan(row["powerlaw_PhoIndex_err-"])
    assert row["powerlaw_PhoIndex_err+"] == pytest.approx(0.8)
    not_fitted = table.loc["CARMENES-10"]
    assert not_fitted["powerlaw_status"] == "not_fitted"
    assert not_fitted["powerlaw_reason"] == "2 groups noticed, need more than 2"
    for column in ("powerlaw_PhoIndex", "powerlaw_0.5-2.0keV_flux", "powerlaw_dof"):
        assert math.isnan(not_fitted[column])
    assert not not_fitted["powerlaw_PhoIndex_good_err"]


def test_missing_fit_result_gives_status_missing(inputs):
    table = build_results_table(*inputs, MODELS, BANDS, PROVENANCE)
    row = table.loc["CARMENES-3"]
    assert row["bbody_status"] == "missing" and row["powerlaw_status"] == "missing"
    assert row["bbody_reason"]
    assert math.isnan(row["bbody_kT"]) and math.isnan(row["counts_src"])
    assert row["fitter"] == ""
    assert row["seq_id"] == "RS930002N00"


def test_result_for_unknown_source_is_an_error(inputs, tmp_path):
    sample_csv, paths = inputs
    stray = tmp_path / "stray.json"
    stray.write_text(json.dumps(fit_result("CARMENES-99", NOT_FITTED, NOT_FITTED)))
    with pytest.raises(ValueError, match="CARMENES-99"):
        build_results_table(sample_csv, [*paths, stray], MODELS, BANDS, PROVENANCE)


def test_csv_is_byte_identical_and_reads_back(inputs, tmp_path):
    written = []
    for run in ("a", "b"):
        table = build_results_table(*inputs, MODELS, BANDS, PROVENANCE)
        csv_path = tmp_path / run / "results.csv"
        write_results(table, csv_path, tmp_path / run / "results.fits", PROVENANCE)
        written.append(csv_path.read_bytes())
    assert written[0] == written[1]
    back = pd.read_csv(tmp_path / "a" / "results.csv", index_col="id_name")
    assert list(back.columns) == list(table.columns)
    assert back.loc["CARMENES-2", "bbody_0.5-2.0keV_flux"] == 5.6497e-12
    assert back["bbody_kT_good_err"].dtype == bool
    assert not list(tmp_path.glob("a/.*"))  # no temporary files left behind


def test_fits_units_logicals_and_keywords(inputs, tmp_path):
    table = build_results_table(*inputs, MODELS, BANDS, PROVENANCE)
    fits_path = tmp_path / "results.fits"
    write_results(table, tmp_path / "results.csv", fits_path, PROVENANCE)
    back = Table.read(fits_path, hdu="RESULTS", mask_invalid=False)
    assert back["bbody_kT"].unit == "keV"
    assert back["bbody_0.5-2.0keV_flux_err+"].unit == "erg / (s cm2)"
    assert back["exposure_s"].unit == "s"
    assert back["ra"].unit == "deg" and back["sep_arcsec"].unit == "arcsec"
    assert back["counts_src"].unit == "ct"
    assert back["bbody_kT_good_err"].dtype == bool
    assert list(back["bbody_kT_good_err"]) == list(table["bbody_kT_good_err"])
    assert [str(v) for v in back["id_name"]] == list(table.index)
    assert np.isnan(back["powerlaw_PhoIndex"][list(table.index).index("CARMENES-10")])
    with fits.open(fits_path, checksum=True) as hdus:
        header = hdus["RESULTS"].header
        assert header["ERRDSTAT"] == 2.706 and header["ERRCONF"] == 90.0
        assert header["FLUXCONF"] == 68.0 and header["FITSTAT"] == "wstat"
        assert (header["E_MIN"], header["E_MAX"]) == (0.11, 2.02)
        assert header["RFCONFIG"] == "abc123" and header["RFBACKND"] == "native"
        columns = hdus["RESULTS"].columns
        index = columns.names.index("bbody_kT_err-") + 1
        assert "lower bound" in header[f"TCOMM{index}"]
        assert columns["bbody_status"].format.startswith(tuple("0123456789"))
