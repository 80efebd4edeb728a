"""The results table: one row per source, fit parameters, fluxes and fit diagnostics.

Parameter intervals follow XSPEC's ``error 2.706``: ``err-`` = value - lower bound,
``err+`` = upper bound - value. Flux errors are built the same way from the flux bounds
at the confidence level the fit JSON records (68 %, as XSPEC's calcFlux). The notebook
stored the flux bounds themselves under ``_err-``/``_err+``; here both parameters and
fluxes use the same, documented, definition.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_path, read_json, stamp, write_fits
from .models import MODELS

SAMPLE_COLUMNS = ("name", "ra", "dec", "seq_id", "rasscat_name", "sep_arcsec")
DIAGNOSTIC_COLUMNS = (
    "counts_src",
    "counts_bkg",
    "backscal_ratio",
    "exposure_s",
    "noticed_channels",
    "noticed_groups",
    "fitter",
    "fitter_version",
    "backend",
)
STRING_COLUMNS = ("name", "seq_id", "rasscat_name", "fitter", "fitter_version", "backend")
NOTEBOOK_MODELS = ("bbody", "powerlaw")
NOTEBOOK_BANDS = ((0.5, 2.0),)
MISSING_REASON = "no fit result file for this source"

PARAMETER_DESCRIPTIONS = {
    ("bbody", "kT"): ("keV", "blackbody temperature kT"),
    ("bbody", "norm"): ("", "blackbody norm L39/D10^2 (L in 1e39 erg/s, D in 10 kpc)"),
    ("powerlaw", "PhoIndex"): ("", "power-law photon index"),
    ("powerlaw", "norm"): ("photon/(cm2 s keV)", "power-law norm at 1 keV"),
}
FLUX_UNIT = "erg/(cm2 s)"
COLUMN_UNITS = {
    "ra": ("deg", "sample right ascension (J2000)"),
    "dec": ("deg", "sample declination (J2000)"),
    "sep_arcsec": ("arcsec", "separation sample - 2RXS position"),
    "counts_src": ("count", "counts in the source region"),
    "counts_bkg": ("count", "counts in the background region"),
    "backscal_ratio": ("", "source BACKSCAL / background BACKSCAL"),
    "exposure_s": ("s", "exposure at the source position"),
    "noticed_channels": ("", "PI channels inside the fitted energy range"),
    "noticed_groups": ("", "grouped bins inside the fitted energy range"),
}


def band_label(lo: float, hi: float) -> str:
    """'0.5-2.0keV' for (0.5, 2): the band part of the flux column names."""
    return f"{float(lo)!r}-{float(hi)!r}keV"


def natural_key(text: str):
    """Sort key that orders embedded numbers by value (CARMENES-2 before CARMENES-10)."""
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", text)]


def model_parameters(model: str) -> tuple[str, ...]:
    if model not in MODELS:
        raise KeyError(f"unknown spectral model {model!r}; known models: {', '.join(MODELS)}")
    return tuple(MODELS[model]["parameters"])


def parameter_columns(model: str, par: str) -> list[str]:
    base = f"{model}_{par}"
    return [base, f"{base}_err-", f"{base}_err+", f"{base}_good_err"]


def flux_columns(model: str, lo: float, hi: float) -> list[str]:
    base = f"{model}_{band_label(lo, hi)}_flux"
    return [base, f"{base}_err-", f"{base}_err+"]


def fit_columns(models, bands) -> list[str]:
    """Per model: parameter value/err-/err+/good_err, then flux/err-/err+ per band."""
    columns = []
    for model in models:
        for par in model_parameters(model):
            columns += parameter_columns(model, par)
        for lo, hi in bands:
            columns += flux_columns(model, lo, hi)
    return columns


def notebook_columns(models=NOTEBOOK_MODELS, bands=NOTEBOOK_BANDS) -> list[str]:
    """The fit columns of the HEASARC RASS notebook's results table, named exactly as there.

    With the defaults: 22 columns (2 models x (2 parameters x 4 + 1 band x 3)); the notebook's
    other two columns (Karmn, Name) are catalog columns.
    """
    return fit_columns(models, bands)


def status_columns(model: str) -> list[str]:
    return [f"{model}_{key}" for key in ("status", "reason", "statistic", "dof")]


def result_columns(models, bands) -> list[str]:
    columns = list(SAMPLE_COLUMNS) + fit_columns(models, bands)
    for model in models:
        columns += status_columns(model)
    return columns + list(DIAGNOSTIC_COLUMNS)


def _number(value) -> float:
    """JSON number or null -> float, NaN for null."""
    return math.nan if value is None else float(value)


def _interval(entry: dict) -> tuple[float, float, float]:
    """(value, err-, err+) from a JSON parameter/flux entry; bounds take precedence."""
    value = _number(entry.get("value"))
    lower, upper = _number(entry.get("lower")), _number(entry.get("upper"))
    err_minus = value - lower if not math.isnan(lower) else _number(entry.get("err-"))
    err_plus = upper - value if not math.isnan(upper) else _number(entry.get("err+"))
    return value, err_minus, err_plus


def _flux_entry(fluxes: dict, lo: float, hi: float) -> dict:
    """The JSON flux entry for band [lo, hi] keV, matching band keys by value."""
    for key, entry in fluxes.items():
        match = re.fullmatch(r"([0-9.eE+]+)-([0-9.eE+]+)keV", key)
        if match and np.isclose(float(match[1]), lo) and np.isclose(float(match[2]), hi):
            return entry
    return {}


def _model_row(model: str, result: dict | None, bands) -> dict:
    row = {}
    if result is None:
        result = {"status": "missing", "reason": MISSING_REASON}
    parameters = result.get("parameters") or {}
    for par in model_parameters(model):
        entry = parameters.get(par) or {}
        value, err_minus, err_plus = _interval(entry)
        columns = parameter_columns(model, par)
        row.update(zip(columns[:3], (value, err_minus, err_plus), strict=True))
        row[columns[3]] = bool(entry.get("good_err", False))
    fluxes = result.get("fluxes") or {}
    for lo, hi in bands:
        row.update(
            zip(flux_columns(model, lo, hi), _interval(_flux_entry(fluxes, lo, hi)), strict=True)
        )
    status, reason, statistic, dof = status_columns(model)
    row[status] = str(result.get("status", ""))
    row[reason] = str(result.get("reason") or "")
    row[statistic] = _number(result.get("statistic"))
    row[dof] = _number(result.get("dof"))
    return row


def _diagnostic_row(fit: dict | None) -> dict:
    fit = fit or {}
    counts = fit.get("counts") or {}
    return {
        "counts_src": _number(counts.get("source")),
        "counts_bkg": _number(counts.get("background")),
        "backscal_ratio": _number(counts.get("backscal_ratio")),
        "exposure_s": _number(fit.get("exposure_s")),
        "noticed_channels": _number(fit.get("noticed_channels")),
        "noticed_groups": _number(fit.get("noticed_groups")),
        "fitter": str(fit.get("fitter") or ""),
        "fitter_version": str(fit.get("fitter_version") or ""),
        "backend": str(fit.get("backend") or ""),
    }


# Fit settings that must agree across sources; they become FITS keywords.
SHARED_SETTINGS = ("statistic", "energy_range_keV", "error_delta_stat")


def _read_fit_results(fit_json_paths, sample_index) -> tuple[dict, dict]:
    fit_by_source, settings, flux_confidence = {}, {}, set()
    for path in fit_json_paths:
        fit = read_json(path)
        source = fit.get("id_name")
        if source is None:
            raise ValueError(f"fit result {path} has no 'id_name'")
        if source not in sample_index:
            raise ValueError(f"fit result {path} is for {source!r}, which is not in the sample")
        if source in fit_by_source:
            raise ValueError(f"two fit results for {source!r}: {fit_by_source[source][0]}, {path}")
        fit_by_source[source] = (path, fit)
        for key in SHARED_SETTINGS:
            if key in fit and settings.setdefault(key, fit[key]) != fit[key]:
                raise ValueError(
                    f"fit result {path}: {key} = {fit[key]!r} differs from {settings[key]!r} "
                    "in the other results; one table needs one fit setup"
                )
        for model in (fit.get("models") or {}).values():
            for flux in (model.get("fluxes") or {}).values():
                if flux.get("confidence") is not None:
                    flux_confidence.add(float(flux["confidence"]))
    if len(flux_confidence) > 1:
        raise ValueError(f"flux confidence levels differ between fit results: {flux_confidence}")
    if flux_confidence:
        settings["flux_confidence"] = flux_confidence.pop()
    return {source: fit for source, (_, fit) in fit_by_source.items()}, settings


def read_sample(sample_csv: str | os.PathLike) -> pd.DataFrame:
    sample = pd.read_csv(sample_csv, dtype={"seq_id": str})
    needed = ("id_name",) + SAMPLE_COLUMNS
    absent = [column for column in needed if column not in sample.columns]
    if absent:
        raise ValueError(f"sample table {sample_csv} lacks column(s): {', '.join(absent)}")
    if sample["id_name"].duplicated().any():
        repeated = sorted(set(sample.loc[sample["id_name"].duplicated(), "id_name"]))
        raise ValueError(f"sample table {sample_csv} repeats id_name(s): {', '.join(repeated)}")
    return sample.set_index("id_name")


def build_results_table(sample_csv, fit_json_paths, models, flux_bands_keV, provenance=None):
    """One row per sample source (index ``id_name``, natural order) with its fit results.

    Sources without a fit JSON get status 'missing' for every model. The fit settings
    shared by all results (statistic, energy range, delta-stat, flux confidence) and
    ``provenance`` are kept in ``DataFrame.attrs`` for :func:`write_results`.
    """
    sample = read_sample(sample_csv)
    bands = [(float(lo), float(hi)) for lo, hi in flux_bands_keV]
    fit_by_source, settings = _read_fit_results(fit_json_paths, sample.index)
    rows = []
    for source in sorted(sample.index, key=natural_key):
        fit = fit_by_source.get(source)
        row = {"id_name": source, **sample.loc[source, list(SAMPLE_COLUMNS)].to_dict()}
        fitted = (fit or {}).get("models") or {}
        for model in models:
            if fit is not None and model not in fitted:
                result = {"status": "missing", "reason": f"model {model} not in the fit result"}
            else:
                result = fitted.get(model)
            row.update(_model_row(model, result, bands))
        row.update(_diagnostic_row(fit))
        rows.append(row)
    columns = result_columns(models, bands)
    table = pd.DataFrame(rows, columns=["id_name"] + columns).set_index("id_name")
    for column in columns:
        if column in STRING_COLUMNS or column.endswith(("_status", "_reason")):
            table[column] = table[column].fillna("").astype(str)
        elif column.endswith("_good_err"):
            table[column] = table[column].astype(bool)
        else:
            table[column] = pd.to_numeric(table[column], errors="raise").astype(float)
    table.attrs = {
        "models": list(models),
        "flux_bands_keV": bands,
        "settings": settings,
        "provenance": dict(provenance or {}),
    }
    return table


def _delta_stat_confidence(delta_stat: float) -> float:
    """Confidence (%) of a one-parameter interval at ``delta_stat`` (2.706 -> 90 %)."""
    from scipy.stats import chi2

    return round(100.0 * chi2.cdf(delta_stat, 1), 1)


def _column_description(column: str, models, bands, settings) -> tuple[str, str]:
    """(TUNIT, TCOMM) for a results column."""
    if column in COLUMN_UNITS:
        return COLUMN_UNITS[column]
    if column == "id_name":
        return "", "source identifier in the sample"
    delta = settings.get("error_delta_stat", 2.706)
    confidence = settings.get("flux_confidence", 68)
    for model in models:
        for par in model_parameters(model):
            unit, what = PARAMETER_DESCRIPTIONS.get((model, par), ("", f"{model} {par}"))
            base = f"{model}_{par}"
            interval = f"interval (delta-stat {delta:g})"
            comments = {
                base: f"{what}, best fit",
                f"{base}_err-": f"value - lower bound, {interval}",
                f"{base}_err+": f"upper bound - value, {interval}",
                f"{base}_good_err": "T if the interval search reported no problem",
            }
            if column in comments:
                return ("" if column.endswith("_good_err") else unit), comments[column]
        for lo, hi in bands:
            base = f"{model}_{band_label(lo, hi)}_flux"
            comments = {
                base: f"{model} energy flux {lo:g}-{hi:g} keV",
                f"{base}_err-": f"flux - lower bound, {confidence:g} % interval",
                f"{base}_err+": f"upper bound - flux, {confidence:g} % interval",
            }
            if column in comments:
                return FLUX_UNIT, comments[column]
        comments = {
            f"{model}_status": "ok, not_fitted, failed or missing",
            f"{model}_reason": "why the model was not fitted or failed",
            f"{model}_statistic": "fit statistic at the best fit",
            f"{model}_dof": "degrees of freedom of the fit",
        }
        if column in comments:
            return "", comments[column]
    return "", ""


def results_hdu(table: pd.DataFrame, provenance: dict | None = None):
    """The results as a FITS BinTable HDU (EXTNAME RESULTS) with units and descriptions."""
    from astropy.io import fits
    from astropy.table import Table

    models = table.attrs.get("models", [])
    bands = table.attrs.get("flux_bands_keV", [])
    settings = table.attrs.get("settings", {})
    provenance = provenance if provenance is not None else table.attrs.get("provenance", {})

    columns = Table()
    columns["id_name"] = np.array(table.index, dtype=str)
    for column in table.columns:
        values = table[column].to_numpy()
        if values.dtype == object:
            # fixed width, at least one character so that FITS accepts the column
            width = max(1, max((len(v) for v in values), default=1))
            values = values.astype(f"U{width}")
        columns[column] = values
    descriptions = {
        name: _column_description(name, models, bands, settings) for name in columns.colnames
    }
    for name, (unit, _) in descriptions.items():
        columns[name].unit = unit or None
    hdu = fits.table_to_hdu(columns)
    hdu.name = "RESULTS"
    header = hdu.header
    for number, name in enumerate(columns.colnames, start=1):
        comment = descriptions[name][1]
        if comment:  # astropy gathers these after the column cards on writing
            header[f"TCOMM{number}"] = comment
    header["NSOURCES"] = (len(table), "rows (sources) in this table")
    header["MODELS"] = (",".join(models), "spectral models fitted")
    header["FLUXBAND"] = (",".join(band_label(lo, hi) for lo, hi in bands), "flux bands")
    if "statistic" in settings:
        header["FITSTAT"] = (settings["statistic"], "fit statistic")
    if "energy_range_keV" in settings:
        lo, hi = settings["energy_range_keV"]
        header["E_MIN"] = (float(lo), "[keV] lower end of the fitted energy range")
        header["E_MAX"] = (float(hi), "[keV] upper end of the fitted energy range")
    if "error_delta_stat" in settings:
        delta = float(settings["error_delta_stat"])
        header["ERRDSTAT"] = (delta, "delta-stat of parameter intervals")
        header["ERRCONF"] = (_delta_stat_confidence(delta), "[%] confidence of parameter intervals")
    if "flux_confidence" in settings:
        header["FLUXCONF"] = (
            float(settings["flux_confidence"]),
            "[%] confidence of flux intervals",
        )
    stamp(header, **provenance)
    return hdu


def write_results(table: pd.DataFrame, csv_path, fits_path, provenance: dict | None = None) -> None:
    """Write the results as CSV (byte-identical for identical input) and as FITS."""
    from astropy.io import fits

    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=True, lineterminator="\n")
    provenance = provenance if provenance is not None else table.attrs.get("provenance", {})
    hdus = fits.HDUList([fits.PrimaryHDU(), results_hdu(table, provenance)])
    stamp(hdus[0].header, **provenance)
    write_fits(hdus, Path(fits_path))
