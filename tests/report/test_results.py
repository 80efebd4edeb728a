"""Results table: columns, interval arithmetic, missing results, CSV and FITS output."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from rassflow.fitting.result import (
    FLAGS_OK,
    CountsResult,
    FitResult,
    FluxResult,
    ModelResult,
    ParameterResult,
    PlotData,
)
from rassflow.report.results import (
    build_results_table,
    notebook_columns,
    result_columns,
    write_results,
)

MODELS = ["bbody", "powerlaw"]
BANDS = [[0.5, 2.0]]
PROVENANCE = {"backend": "native", "tool": "rassflow.report.results", "config_hash": "abc123"}
NOT_FITTED_REASON = "2 groups noticed, need more than 2"


def parameter(value, lower, upper, unit="", good=True):
    return ParameterResult.from_bounds(value, lower, upper, FLAGS_OK if good else "FFFFFFTFF", unit)


def flux(value, lower, upper):
    return FluxResult.profile(value, lower, upper, confidence=68)


def fit_result(id_name, bbody, powerlaw):
    return FitResult(
        id_name=id_name,
        fitter="sherpa",
        fitter_version="4.19.0",
        backend="native",
        statistic="wstat",
        energy_range_keV=(0.11, 2.02),
        error_delta_stat=2.706,
        counts=CountsResult(source=123, background=40, backscal_ratio=0.87),
        exposure_s=412.3,
        noticed_groups=18,
        noticed_channels=150,
        models={"bbody": bbody, "powerlaw": powerlaw},
    )


def fitted(parameters, fluxes, statistic=20.1, dof=16):
    plot = PlotData.from_arrays([0.2, 0.4], [0.1, 0.1], [1.0, 2.0], [0.5, 0.5], [1.1, 1.9])
    return ModelResult.ok(statistic, dof, 40, parameters, fluxes, plot)


def not_fitted_model(model):
    return ModelResult.unfitted(model, "not_fitted", NOT_FITTED_REASON)


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
        not_fitted_model("powerlaw"),
    )
    paths = []
    for result in (carmenes2, carmenes10):
        path = tmp_path / f"{result.id_name}.json"
        result.write(path)
        paths.append(path)
    return sample_csv, paths


def test_columns_are_in_the_documented_order(inputs):
    table = build_results_table(*inputs, MODELS, BANDS, PROVENANCE)
    assert table.index.name == "id_name"
    assert list(table.columns) == result_columns(MODELS, BANDS)
    assert list(table.columns[:6]) == ["name", "ra", "dec", "seq_id", "rasscat_name", "sep_arcsec"]
    assert list(table.columns[6:12]) == [
        "bbody_kT",
        "bbody_kT_err-",
        "bbody_kT_err+",
        "bbody_kT_good_err",
        "bbody_kT_lo",
        "bbody_kT_hi",
    ]
    flux = list(table.columns).index("bbody_0.5-2.0keV_flux")
    assert list(table.columns[flux : flux + 5]) == [
        "bbody_0.5-2.0keV_flux",
        "bbody_0.5-2.0keV_flux_err-",
        "bbody_0.5-2.0keV_flux_err+",
        "bbody_0.5-2.0keV_flux_lo",
        "bbody_0.5-2.0keV_flux_hi",
    ]
    assert list(table.columns[-4:]) == ["flux_method", "fitter", "fitter_version", "backend"]
    assert not any(column.endswith("_lx") for column in table.columns)  # no distance given


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
    assert not_fitted["powerlaw_reason"] == NOT_FITTED_REASON
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
    fit_result("CARMENES-99", not_fitted_model("bbody"), not_fitted_model("powerlaw")).write(stray)
    with pytest.raises(ValueError, match="CARMENES-99"):
        build_results_table(sample_csv, [*paths, stray], MODELS, BANDS, PROVENANCE)


def test_invalid_fit_result_names_file_and_field(inputs, tmp_path):
    sample_csv, paths = inputs
    broken = fit_result("CARMENES-3", not_fitted_model("bbody"), not_fitted_model("powerlaw"))
    data = broken.to_json()
    data["models"]["powerlaw"]["status"] = "done"
    path = tmp_path / "CARMENES-3.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"CARMENES-3\.json: models\[powerlaw\]\.status"):
        build_results_table(sample_csv, [*paths, path], MODELS, BANDS, PROVENANCE)


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


def test_bounds_are_columns_beside_the_errors(inputs):
    table = build_results_table(*inputs, MODELS, BANDS, PROVENANCE)
    row = table.loc["CARMENES-2"]
    assert (row["bbody_kT_lo"], row["bbody_kT_hi"]) == (0.05892, 0.14618)
    assert (row["bbody_0.5-2.0keV_flux_lo"], row["bbody_0.5-2.0keV_flux_hi"]) == (
        3.2324e-12, 7.5844e-12
    )  # fmt: skip
    assert math.isnan(row["powerlaw_PhoIndex_lo"]) and row["powerlaw_PhoIndex_hi"] == 4.0
    assert math.isnan(table.loc["CARMENES-3", "bbody_0.5-2.0keV_flux_lo"])  # missing result
    assert list(table["flux_method"]) == ["profile", "", "profile"]  # CARMENES-3 has no fit


def test_legacy_draws_results_say_so(inputs, tmp_path):
    sample_csv, paths = inputs
    data = json.loads(paths[0].read_text())
    for model in data["models"].values():
        for entry in model["fluxes"].values():
            del entry["method"]  # written before fluxes had a method: draws
    paths[0].write_text(json.dumps(data))
    table = build_results_table(sample_csv, paths, MODELS, BANDS, PROVENANCE)
    assert table.loc["CARMENES-2", "flux_method"] == "draws"
    assert table.loc["CARMENES-10", "flux_method"] == "profile"
    assert "flux_method" not in table.attrs["settings"]  # the table mixes both


def _with_catalog_column(sample_csv, column, values):
    sample = pd.read_csv(sample_csv)
    sample[column] = values  # rows CARMENES-10, CARMENES-2, CARMENES-3
    sample.to_csv(sample_csv, index=False)


PARSEC_CM = 3.0857e18


def test_luminosities_from_parallaxes(inputs):
    sample_csv, paths = inputs
    _with_catalog_column(sample_csv, "Plx", [0.0, 100.0, np.nan])  # mas
    table = build_results_table(sample_csv, paths, MODELS, BANDS, PROVENANCE,
                                parallax_column="Plx")  # fmt: skip
    assert list(table.columns) == result_columns(MODELS, BANDS, luminosities=True)
    row = table.loc["CARMENES-2"]
    assert row["distance_pc"] == 10.0
    area = 4 * math.pi * (10.0 * PARSEC_CM) ** 2
    base = "bbody_0.5-2.0keV"
    assert row[f"{base}_lx"] == pytest.approx(area * 5.6497e-12, rel=1e-12)
    assert row[f"{base}_lx_lo"] == pytest.approx(area * 3.2324e-12, rel=1e-12)
    assert row[f"{base}_lx_hi"] == pytest.approx(area * 7.5844e-12, rel=1e-12)
    assert row[f"{base}_lx"] == pytest.approx(6.76e28, rel=1e-3)  # 5.6e-12 at 10 pc
    flux = list(table.columns).index(f"{base}_flux_hi")
    assert list(table.columns[flux + 1 : flux + 4]) == [f"{base}_lx", f"{base}_lx_lo",
                                                        f"{base}_lx_hi"]  # fmt: skip
    # zero and missing parallaxes: no distance, no L_X
    for source in ("CARMENES-10", "CARMENES-3"):
        assert math.isnan(table.loc[source, "distance_pc"])
        assert math.isnan(table.loc[source, f"{base}_lx"])
    assert not math.isnan(table.loc["CARMENES-10", f"{base}_flux"])


def test_luminosities_from_distances_and_the_parallax_first(inputs):
    sample_csv, paths = inputs
    _with_catalog_column(sample_csv, "Dist", [20.0, -5.0, 8.0])  # pc
    _with_catalog_column(sample_csv, "Plx", [50.0, 100.0, 125.0])  # mas: 20, 10, 8 pc
    by_distance = build_results_table(sample_csv, paths, MODELS, BANDS, PROVENANCE,
                                      distance_column="Dist")  # fmt: skip
    assert by_distance.loc["CARMENES-10", "distance_pc"] == 20.0
    assert math.isnan(by_distance.loc["CARMENES-2", "distance_pc"])  # negative: unknown
    both = build_results_table(sample_csv, paths, MODELS, BANDS, PROVENANCE,
                               parallax_column="Plx", distance_column="Dist")  # fmt: skip
    assert both.loc["CARMENES-2", "distance_pc"] == 10.0
    with pytest.raises(KeyError, match="parallax column 'plx'"):
        build_results_table(sample_csv, paths, MODELS, BANDS, PROVENANCE, parallax_column="plx")


def test_fits_describes_every_new_column(inputs, tmp_path):
    sample_csv, paths = inputs
    _with_catalog_column(sample_csv, "Plx", [0.0, 100.0, np.nan])
    bands = [[0.5, 2.0], [0.1, 2.4]]
    table = build_results_table(sample_csv, paths, MODELS, bands, PROVENANCE,
                                parallax_column="Plx")  # fmt: skip
    fits_path = tmp_path / "results.fits"
    write_results(table, tmp_path / "results.csv", fits_path, PROVENANCE)
    back = Table.read(fits_path, hdu="RESULTS", mask_invalid=False)
    assert back["distance_pc"].unit == "pc"
    assert back["bbody_0.5-2.0keV_lx"].unit == "erg / s"
    assert back["powerlaw_0.1-2.4keV_lx_hi"].unit == "erg / s"
    assert back["bbody_0.5-2.0keV_flux_lo"].unit == "erg / (s cm2)"
    assert back["bbody_kT_hi"].unit == "keV"
    with fits.open(fits_path) as hdus:
        header, names = hdus["RESULTS"].header, hdus["RESULTS"].columns.names
        comments = {name: header.get(f"TCOMM{i}", "") for i, name in enumerate(names, 1)}
        assert all(comments.values()), [name for name, text in comments.items() if not text]
        assert "profile-likelihood" in comments["bbody_0.1-2.4keV_flux_lo"]
        assert "NaN if not found" in comments["bbody_kT_lo"]
        assert "4 pi d^2" in comments["bbody_0.1-2.4keV_lx"]
        assert header["FLUXMETH"] == "profile" and "Plx" in header["DISTSRC"]
