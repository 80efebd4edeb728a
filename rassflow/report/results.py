"""The results table: one row per source, fit parameters, fluxes and fit diagnostics.

Parameter intervals follow XSPEC's ``error 2.706``: ``err-`` = value - lower bound,
``err+`` = upper bound - value. Flux errors are built the same way from the flux bounds
at the confidence level the fit JSON records (68 %, as XSPEC's calcFlux). The notebook
stored the flux bounds themselves under ``_err-``/``_err+``; here both parameters and
fluxes use the same, documented, definition, and the bounds themselves are the ``_lo`` and
``_hi`` columns (NaN when not found). ``flux_method`` says how the flux intervals were
found (profile or draws, see rassflow.fitting.result).

With a parallax (mas) or distance (pc) column in the sample table, each band flux also
gets its luminosity L_X = 4 pi d^2 F (``_lx``, ``_lx_lo``, ``_lx_hi``, erg/s; the bounds are
those of the flux at the catalogue distance, without its error) and the table a
``distance_pc`` column; a missing or non-positive parallax or distance gives NaN.

An absorbed model's columns take the model with ``*`` replaced by ``_`` as their prefix
(``tbabs_bbody_nH``, ``tbabs_bbody_kT``, ...; nH in 10^22 cm^-2, a fixed nH with NaN
err-/err+ and good_err false). Each band has the absorbed (observed) flux ``..._flux`` and
the unabsorbed one ``..._unabsflux``, each with err-/err+ and bounds; its L_X is that of
the unabsorbed flux. The FITS header says what computed the absorption (ABUND, XSECT,
NHSRC, ABSLIB).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from rassflow.catalog.sample import natural_key, read_sample
from rassflow.files import atomic_path, stamp, write_fits
from rassflow.fitting.models import MODELS, absorber, base_model, column_prefix
from rassflow.fitting.result import FitResult, FluxResult, ModelResult, ParameterResult
from rassflow.report import columns as colspec
from rassflow.report.columns import DISTANCE_COLUMN, FLUX, LUMINOSITY, PARSEC_CM

SAMPLE_COLUMNS = ("name", "ra", "dec", "seq_id", "rasscat_name", "sep_arcsec")
"""The catalog's identifying columns, in table order (after the index id_name)."""
SAMPLE_DESCRIPTIONS = colspec.SAMPLE_POSITION | colspec.column_table(
    """
    name         |        | sample source name
    seq_id       |        | RASS sequence ID of the skyfield
    rasscat_name |        | matched 2RXS source name
    sep_arcsec   | arcsec | separation sample - 2RXS position
    """
)
DIAGNOSTIC_DESCRIPTIONS = colspec.column_table(
    """
    counts_src       | count | counts in the source region
    counts_bkg       | count | counts in the background region
    backscal_ratio   |       | source BACKSCAL / background BACKSCAL
    exposure_s       | s     | exposure at the source position
    noticed_channels |       | PI channels inside the fitted energy range
    noticed_groups   |       | grouped bins inside the fitted energy range
    neighbours       |       | catalogued 2RXS neighbours deblended from the source circle
    neighbour_share  |       | neighbours' fixed counts / net counts in the fit range
    confused         |       | a catalogued neighbour inside the source circle or unresolved
    flux_method      |       | how flux intervals were found: profile (likelihood) or draws
    fitter           |       | spectral fitter (sherpa or xspec)
    fitter_version   |       | version of the fitter
    backend          |       | tools that made the spectra and responses (native or heasoft)
    """
)
"""The fit diagnostics, in table order (the last columns)."""
DIAGNOSTIC_COLUMNS = tuple(DIAGNOSTIC_DESCRIPTIONS)
COLUMN_UNITS = {**SAMPLE_DESCRIPTIONS, **DIAGNOSTIC_DESCRIPTIONS}
STRING_COLUMNS = (
    "name", "seq_id", "rasscat_name", "flux_method", "fitter", "fitter_version", "backend"
)  # fmt: skip
NOTEBOOK_MODELS = ("bbody", "powerlaw")
NOTEBOOK_BANDS = ((0.5, 2.0),)
MISSING_REASON = "no fit result file for this source"
FLUX_UNIT, LUMINOSITY_UNIT = FLUX, LUMINOSITY
NH_UNIT = "10**22 cm-2"  # FITS form of XSPEC's 10^22 cm^-2

PARAMETER_DESCRIPTIONS = {
    ("bbody", "kT"): ("keV", "blackbody temperature kT"),
    ("bbody", "norm"): ("", "blackbody norm L39/D10^2 (L in 1e39 erg/s, D in 10 kpc)"),
    ("powerlaw", "PhoIndex"): ("", "power-law photon index"),
    ("powerlaw", "norm"): ("photon/(cm2 s keV)", "power-law norm at 1 keV"),
}


def band_label(lo: float, hi: float) -> str:
    """'0.5-2.0keV' for (0.5, 2): the band part of the flux column names."""
    return f"{float(lo)!r}-{float(hi)!r}keV"


def model_parameters(model: str) -> tuple[str, ...]:
    if model not in MODELS:
        raise KeyError(f"unknown spectral model {model!r}; known models: {', '.join(MODELS)}")
    return tuple(MODELS[model]["parameters"])


def parameter_columns(model: str, par: str) -> list[str]:
    """The notebook's columns of a parameter: value, err-, err+, good_err (the model's
    column prefix: 'tbabs_bbody_nH' for nH of tbabs*bbody)."""
    base = f"{column_prefix(model)}_{par}"
    return [base, f"{base}_err-", f"{base}_err+", f"{base}_good_err"]


def parameter_bound_columns(model: str, par: str) -> list[str]:
    """The bounds of a parameter's interval: _lo, _hi."""
    base = f"{column_prefix(model)}_{par}"
    return [f"{base}_lo", f"{base}_hi"]


def _flux_base(model: str, lo: float, hi: float, unabsorbed: bool) -> str:
    kind = "unabsflux" if unabsorbed else "flux"
    return f"{column_prefix(model)}_{band_label(lo, hi)}_{kind}"


def flux_columns(model: str, lo: float, hi: float, unabsorbed: bool = False) -> list[str]:
    """The notebook's columns of a band flux: value, err-, err+ (``unabsorbed``: an
    absorbed model's unabsorbed flux, ``..._unabsflux``)."""
    base = _flux_base(model, lo, hi, unabsorbed)
    return [base, f"{base}_err-", f"{base}_err+"]


def flux_bound_columns(model: str, lo: float, hi: float, unabsorbed: bool = False) -> list[str]:
    """The bounds of a band flux's interval: _lo, _hi."""
    base = _flux_base(model, lo, hi, unabsorbed)
    return [f"{base}_lo", f"{base}_hi"]


def luminosity_columns(model: str, lo: float, hi: float) -> list[str]:
    """L_X in a band and its bounds: _lx, _lx_lo, _lx_hi (of the unabsorbed flux for an
    absorbed model)."""
    base = f"{column_prefix(model)}_{band_label(lo, hi)}_lx"
    return [base, f"{base}_lo", f"{base}_hi"]


def flux_kinds(model: str) -> tuple[bool, ...]:
    """``unabsorbed`` of each flux of a band: absorbed models have both."""
    return (False, True) if absorber(model) else (False,)


def fit_columns(models, bands, luminosities: bool = False) -> list[str]:
    """Per model: each parameter's value/err-/err+/good_err and bounds, then per band the
    flux's value/err-/err+ and bounds (for an absorbed model the absorbed flux, then the
    unabsorbed one), and L_X with its bounds."""
    columns = []
    for model in models:
        for par in model_parameters(model):
            columns += parameter_columns(model, par) + parameter_bound_columns(model, par)
        for lo, hi in bands:
            for unabsorbed in flux_kinds(model):
                columns += flux_columns(model, lo, hi, unabsorbed)
                columns += flux_bound_columns(model, lo, hi, unabsorbed)
            if luminosities:
                columns += luminosity_columns(model, lo, hi)
    return columns


def notebook_columns(models=NOTEBOOK_MODELS, bands=NOTEBOOK_BANDS) -> list[str]:
    """The fit columns of the HEASARC RASS notebook's results table, named exactly as there.

    With the defaults: 22 columns (2 models x (2 parameters x 4 + 1 band x 3)); the notebook's
    other two columns (Karmn, Name) are catalog columns.
    """
    columns = []
    for model in models:
        for par in model_parameters(model):
            columns += parameter_columns(model, par)
        for lo, hi in bands:
            columns += flux_columns(model, lo, hi)
    return columns


def status_columns(model: str) -> list[str]:
    return [f"{column_prefix(model)}_{key}" for key in ("status", "reason", "statistic", "dof")]


def result_columns(models, bands, luminosities: bool = False) -> list[str]:
    """Every column of the table (after the index id_name), in order; ``luminosities``: the
    table has a distance (distance_pc, then L_X beside each flux)."""
    columns = list(SAMPLE_COLUMNS) + ([DISTANCE_COLUMN] if luminosities else [])
    columns += fit_columns(models, bands, luminosities)
    for model in models:
        columns += status_columns(model)
    return columns + list(DIAGNOSTIC_COLUMNS)


def _number(value) -> float:
    """JSON number or null -> float, NaN for null."""
    return math.nan if value is None else float(value)


def _interval(entry: ParameterResult | FluxResult | None) -> tuple[float, float, float]:
    """(value, err-, err+) of a parameter or flux; bounds take precedence over err-/err+."""
    if entry is None:
        return math.nan, math.nan, math.nan
    value = _number(entry.value)
    lower, upper = _number(entry.lower), _number(entry.upper)
    err_minus = value - lower if not math.isnan(lower) else _number(entry.err_minus)
    err_plus = upper - value if not math.isnan(upper) else _number(entry.err_plus)
    return value, err_minus, err_plus


def _bounds(entry: ParameterResult | FluxResult | None) -> tuple[float, float]:
    """(lower, upper) bound, NaN when not found."""
    if entry is None:
        return math.nan, math.nan
    return _number(entry.lower), _number(entry.upper)


def luminosity(flux, distance_pc):
    """L = 4 pi d^2 F (erg/s) for a flux in erg/cm^2/s and a distance in pc (NaN-safe)."""
    distance_cm = np.asarray(distance_pc, dtype=float) * PARSEC_CM
    return 4.0 * math.pi * distance_cm**2 * np.asarray(flux, dtype=float)


def _model_row(
    model: str, result: ModelResult | None, bands, missing_reason: str, distance_pc=None
) -> dict:
    """The columns of one model; ``result`` None: the model is missing, for that reason.
    ``distance_pc`` (a number, NaN when unknown): add L_X beside each flux."""
    row = {}
    parameters = result.parameters if result is not None else {}
    for par in model_parameters(model):
        entry = parameters.get(par)
        columns = parameter_columns(model, par)
        row.update(zip(columns[:3], _interval(entry), strict=True))
        row[columns[3]] = entry is not None and entry.good_err
        row.update(zip(parameter_bound_columns(model, par), _bounds(entry), strict=True))
    for lo, hi in bands:
        for unabsorbed in flux_kinds(model):  # L_X: of the last, the intrinsic flux
            flux = result.flux(lo, hi, unabsorbed) if result is not None else None
            row.update(zip(flux_columns(model, lo, hi, unabsorbed), _interval(flux), strict=True))
            bounds = _bounds(flux)
            row.update(zip(flux_bound_columns(model, lo, hi, unabsorbed), bounds, strict=True))
        if distance_pc is not None:
            value = _interval(flux)[0]
            row.update(
                zip(
                    luminosity_columns(model, lo, hi),
                    (float(luminosity(f, distance_pc)) for f in (value, *bounds)),
                    strict=True,
                )
            )
    status, reason, statistic, dof = status_columns(model)
    if result is None:
        row[status], row[reason] = "missing", missing_reason
        row[statistic] = row[dof] = math.nan
    else:
        row[status], row[reason] = result.status, result.reason
        row[statistic], row[dof] = _number(result.statistic), _number(result.dof)
    return row


def _flux_method(fit: FitResult | None) -> str:
    """The flux method of a source's fluxes ('' when it has none)."""
    if fit is None:
        return ""
    methods = {flux.method for model in fit.models.values() for flux in model.fluxes.values()}
    return ",".join(sorted(methods))


def _diagnostic_row(fit: FitResult | None) -> dict:
    counts = fit.counts if fit is not None else None
    neighbours = fit.neighbours if fit is not None else None
    return {
        "counts_src": _number(counts.source if counts else None),
        "counts_bkg": _number(counts.background if counts else None),
        "backscal_ratio": _number(counts.backscal_ratio if counts else None),
        "exposure_s": _number(fit.exposure_s if fit else None),
        "noticed_channels": _number(fit.noticed_channels if fit else None),
        "noticed_groups": _number(fit.noticed_groups if fit else None),
        "flux_method": _flux_method(fit),
        "neighbours": neighbours.count if neighbours else 0,
        "neighbour_share": neighbours.share if neighbours else 0.0,
        "confused": bool(neighbours and (neighbours.confused or neighbours.unresolved)),
        "fitter": (fit.fitter if fit else None) or "",
        "fitter_version": (fit.fitter_version if fit else None) or "",
        "backend": (fit.backend if fit else None) or "",
    }


# Fit settings that must agree across sources; they become FITS keywords.
SHARED_SETTINGS = ("statistic", "energy_range_keV", "error_delta_stat")


def _read_fit_results(fit_json_paths, sample_index) -> tuple[dict, dict]:
    fit_by_source, settings, flux_confidence = {}, {}, set()
    for path in fit_json_paths:
        fit = FitResult.read(path)
        source = fit.id_name
        if source not in sample_index:
            raise ValueError(f"fit result {path} is for {source!r}, which is not in the sample")
        if source in fit_by_source:
            raise ValueError(f"two fit results for {source!r}: {fit_by_source[source][0]}, {path}")
        fit_by_source[source] = (path, fit)
        for key in SHARED_SETTINGS:
            value = getattr(fit, key)
            if isinstance(value, tuple):
                value = list(value)
            if value is not None and settings.setdefault(key, value) != value:
                raise ValueError(
                    f"fit result {path}: {key} = {value!r} differs from {settings[key]!r} "
                    "in the other results; one table needs one fit setup"
                )
        for model in fit.models.values():
            flux_confidence.update(flux.confidence for flux in model.fluxes.values())
            if model.absorption:  # what computed the absorption: one setup per table
                record = {
                    key: value
                    for key, value in model.absorption.items()
                    if key not in ("model", "reference")  # those differ by absorber
                }
                known = settings.setdefault("absorption", record)
                if known != record:
                    raise ValueError(
                        f"fit result {path}: absorption {record} differs from {known} "
                        "in the other results; one table needs one fit setup"
                    )
    if len(flux_confidence) > 1:
        raise ValueError(f"flux confidence levels differ between fit results: {flux_confidence}")
    if flux_confidence:
        settings["flux_confidence"] = flux_confidence.pop()
    return {source: fit for source, (_, fit) in fit_by_source.items()}, settings


def sample_distances(sample: pd.DataFrame, parallax_column=None, distance_column=None):
    """Distance (pc) of each sample row: 1000 / parallax (mas) when ``parallax_column`` is
    given, else the ``distance_column`` (pc); NaN where the value is missing, not a number or
    not positive. None when neither column is given; a named column the sample lacks is an
    error (the sample table carries every catalogue column)."""
    column, to_pc = None, None
    if parallax_column:
        column, to_pc = parallax_column, lambda plx: 1000.0 / plx
    elif distance_column:
        column, to_pc = distance_column, lambda distance: distance
    if column is None:
        return None
    if column not in sample.columns:
        raise KeyError(
            f"sample table lacks the {'parallax' if parallax_column else 'distance'} column "
            f"{column!r} (columns: {', '.join(map(str, sample.columns))})"
        )
    values = pd.to_numeric(sample[column], errors="coerce").astype(float)
    values = values.where(values > 0)  # missing, non-positive: unknown distance
    return to_pc(values)


def build_results_table(
    sample_csv,
    fit_json_paths,
    models,
    flux_bands_keV,
    provenance=None,
    parallax_column=None,
    distance_column=None,
):
    """One row per sample source (index ``id_name``, natural order) with its fit results.

    Sources without a fit JSON get status 'missing' for every model. The fit settings
    shared by all results (statistic, energy range, delta-stat, flux confidence) and
    ``provenance`` are kept in ``DataFrame.attrs`` for :func:`write_results`. With
    ``parallax_column`` (mas) or else ``distance_column`` (pc) of the sample table, the
    table has ``distance_pc`` and L_X (erg/s) with its bounds beside every band flux.
    """
    sample = read_sample(sample_csv, ("id_name", *SAMPLE_COLUMNS)).set_index("id_name")
    distances = sample_distances(sample, parallax_column, distance_column)
    luminosities = distances is not None
    bands = [(float(lo), float(hi)) for lo, hi in flux_bands_keV]
    fit_by_source, settings = _read_fit_results(fit_json_paths, sample.index)
    rows = []
    for source in sorted(sample.index, key=natural_key):
        fit = fit_by_source.get(source)
        row = {"id_name": source, **sample.loc[source, list(SAMPLE_COLUMNS)].to_dict()}
        distance = float(distances.loc[source]) if luminosities else None
        if luminosities:
            row[DISTANCE_COLUMN] = distance
        for model in models:
            if fit is None:
                result, missing = None, MISSING_REASON
            else:
                result, missing = fit.models.get(model), f"model {model} not in the fit result"
            row.update(_model_row(model, result, bands, missing, distance))
        row.update(_diagnostic_row(fit))
        rows.append(row)
    columns = result_columns(models, bands, luminosities)
    table = pd.DataFrame(rows, columns=["id_name"] + columns).set_index("id_name")
    for column in columns:
        if column in STRING_COLUMNS or column.endswith(("_status", "_reason")):
            table[column] = table[column].fillna("").astype(str)
        elif column.endswith("_good_err"):
            table[column] = table[column].astype(bool)
        else:
            table[column] = pd.to_numeric(table[column], errors="raise").astype(float)
    methods = sorted({m for m in table["flux_method"] if m})
    if len(methods) == 1:
        settings["flux_method"] = methods[0]
    table.attrs = {
        "models": list(models),
        "flux_bands_keV": bands,
        "settings": settings,
        "provenance": dict(provenance or {}),
        "distance_source": colspec.distance_source(parallax_column, distance_column),
    }
    return table


def _delta_stat_confidence(delta_stat: float) -> float:
    """Confidence (%) of a one-parameter interval at ``delta_stat`` (2.706 -> 90 %)."""
    from scipy.stats import chi2

    return round(100.0 * chi2.cdf(delta_stat, 1), 1)


def _interval_comments(base: str, best: str, quantity: str, bound: str, interval: str) -> dict:
    """TCOMM of a parameter's or flux's columns: ``best`` for the value ``base``, err-/err+ as
    differences of ``quantity`` and its bounds, the bounds (``bound`` prefixes their name)."""
    return {
        base: best,
        f"{base}_err-": f"{quantity} - lower bound, {interval}",
        f"{base}_err+": f"upper bound - {quantity}, {interval}",
        f"{base}_lo": f"{bound}lower bound, {interval}; NaN if not found",
        f"{base}_hi": f"{bound}upper bound, {interval}; NaN if not found",
    }


def _column_description(column: str, models, bands, settings) -> tuple[str, str]:
    """(TUNIT, TCOMM) for a results column."""
    if column in COLUMN_UNITS:
        return COLUMN_UNITS[column]
    if column == "id_name":
        return "", "source identifier in the sample"
    if column == DISTANCE_COLUMN:
        return "pc", "distance of the sample star (1000/parallax or the catalogue's)"
    delta = settings.get("error_delta_stat", 2.706)
    confidence = settings.get("flux_confidence", 68)
    method = settings.get("flux_method")
    kind = {"profile": "profile-likelihood ", "draws": "covariance-draw "}.get(method, "")
    for model in models:
        prefix, base_name = column_prefix(model), base_model(model)
        for par in model_parameters(model):
            unit, what = PARAMETER_DESCRIPTIONS.get((base_name, par), ("", f"{model} {par}"))
            if par == "nH":
                unit, what = NH_UNIT, f"hydrogen column density of {absorber(model)} (1e22 cm-2)"
            base = f"{prefix}_{par}"
            interval = f"interval (delta-stat {delta:g})"
            comments = _interval_comments(base, f"{what}, best fit", "value", "", interval)
            comments[f"{base}_good_err"] = "T if the interval search reported no problem"
            if column in comments:
                return ("" if column.endswith("_good_err") else unit), comments[column]
        for lo, hi in bands:
            band = f"{lo:g}-{hi:g} keV"
            interval = f"{confidence:g} % {kind}interval"
            for unabsorbed in flux_kinds(model):
                base = _flux_base(model, lo, hi, unabsorbed)
                what = f"{model} energy flux {band}"
                if absorber(model):
                    what = f"{model} {'unabsorbed' if unabsorbed else 'absorbed'} flux {band}"
                comments = _interval_comments(base, what, "flux", "flux ", interval)
                if column in comments:
                    return FLUX_UNIT, comments[column]
            base = f"{prefix}_{band_label(lo, hi)}_lx"
            of = " (unabsorbed)" if absorber(model) else ""
            comments = {
                base: f"{model} luminosity {band}, 4 pi d^2 flux{of}",
                f"{base}_lo": f"L_X at the flux lower bound ({interval}, d fixed)",
                f"{base}_hi": f"L_X at the flux upper bound ({interval}, d fixed)",
            }
            if column in comments:
                return LUMINOSITY_UNIT, comments[column]
        comments = {
            f"{prefix}_status": "ok, not_fitted, failed or missing",
            f"{prefix}_reason": "why the model was not fitted or failed",
            f"{prefix}_statistic": "fit statistic at the best fit",
            f"{prefix}_dof": "degrees of freedom of the fit",
        }
        if column in comments:
            return "", comments[column]
    return "", ""


def results_hdu(table: pd.DataFrame, provenance: dict | None = None):
    """The results as a FITS BinTable HDU (EXTNAME RESULTS) with units and descriptions."""
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
    hdu = colspec.described_hdu(
        columns, lambda name: _column_description(name, models, bands, settings), "RESULTS"
    )
    header = hdu.header
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
    if "flux_method" in settings:
        header["FLUXMETH"] = (settings["flux_method"], "flux intervals: profile or draws")
    absorption = settings.get("absorption")
    if absorption:
        header["ABUND"] = (absorption["abundances"], "XSPEC abundance table of the absorption")
        header["XSECT"] = (absorption["cross_sections"], "XSPEC cross-sections of the absorption")
        header["NHSRC"] = (absorption["nh"], "nH of absorbed models: free, fixed or column")
        header["ABSLIB"] = (absorption["library"][:60], "absorption code")
    distance_source = table.attrs.get("distance_source")
    if distance_source:
        header["DISTSRC"] = (distance_source, "distance of L_X")
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
