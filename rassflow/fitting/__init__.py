"""Spectral fitting backends.

Each backend module turns a grouped source spectrum, its background and its responses into
one fit result (:class:`rassflow.fitting.result.FitResult`, returned as its JSON-ready
dict), with the same signature. Backends import their fitter only when used, so that
importing this package stays cheap.
"""

from __future__ import annotations

import copy
import functools
import os

from rassflow.backends import FITTERS


@functools.cache
def _schema_fit_defaults() -> dict:
    from rassflow.config import load_schema

    properties = load_schema()["properties"]["fit"]["properties"]
    missing = [key for key, spec in properties.items() if "default" not in spec]
    if missing:
        raise KeyError(f"config schema: fit.{missing[0]} has no default")
    return {key: spec["default"] for key, spec in properties.items()}


def fit_defaults() -> dict:
    """The fit settings shared by both fitters, with the defaults of the config schema's
    ``fit`` section (read once per process; the workflow passes that section)."""
    return copy.deepcopy(_schema_fit_defaults())


def resolve_fit_settings(settings: dict | None, defaults: dict) -> dict:
    """``settings`` over a fitter's ``defaults``; unknown keys and models are an error."""
    from rassflow.fitting.models import MODELS

    settings = dict(settings or {})
    defaults = {**defaults, "nh_origin": None}  # set per source by source_fit_settings
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise KeyError(f"unknown fit setting(s): {', '.join(unknown)}")
    resolved = {**defaults, **settings}
    for name in resolved["models"]:
        if name not in MODELS:
            raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    if resolved.get("flux_method", "profile") not in FLUX_METHODS:
        raise ValueError(
            f"unknown flux_method {resolved['flux_method']!r}; one of {', '.join(FLUX_METHODS)}"
        )
    return resolved


FLUX_METHODS = ("profile", "draws")

NH_START = 0.1  # 10^22 cm^-2: a free nH's value before its start scan (XSPEC's is 1)


def nh_setting(settings: dict) -> dict:
    """How the absorbed models treat nH, from the resolved fit settings: ``free`` (bool),
    ``value`` (10^22 cm^-2; None for a source whose column has no value), ``bounds`` (of a
    free nH) and ``origin`` ('free', 'fixed' or 'column <name>', for the provenance).

    ``nh`` is 'free' or a number (config fit.nh); ``nh_origin`` 'column <name>' says that
    the workflow put this source's value of the sample column there (None: no value)."""
    lo, hi = (float(value) for value in settings["nh_bounds"])
    origin = settings.get("nh_origin")
    nh = settings["nh"]
    if origin:
        value = None if nh is None or nh == "free" else float(nh)
        return {"free": False, "value": value, "bounds": (lo, hi), "origin": str(origin)}
    if nh == "free":
        return {"free": True, "value": min(max(NH_START, lo), hi), "bounds": (lo, hi),
                "origin": "free"}  # fmt: skip
    return {"free": False, "value": float(nh), "bounds": (lo, hi), "origin": "fixed"}


def absorption_record(model: str, settings: dict, library: str | None = None) -> dict | None:
    """The ``absorption`` entry of an absorbed model's fit result (None: not absorbed);
    ``library``: the XSPEC that computed it (default: xspectrampoline's model library)."""
    from rassflow.fitting.absorption import provenance
    from rassflow.fitting.models import absorber

    if not absorber(model):
        return None
    record = provenance(
        absorber(model), settings["abundances"], settings["cross_sections"], library
    )
    return {**record, "nh": nh_setting(settings)["origin"]}


def nh_from_sample(sample_csv, column: str, id_name: str) -> float | None:
    """The nH (10^22 cm^-2) of source ``id_name`` in the sample table's ``column``: None
    when it is missing, not a number, negative or not finite."""
    import math

    rows = _sample_rows(str(sample_csv), os.path.getmtime(sample_csv))
    if rows and column not in next(iter(rows.values())):
        raise KeyError(f"sample table {sample_csv} has no nH column {column!r}")
    if id_name not in rows:
        raise KeyError(f"source {id_name!r} is not in the sample table {sample_csv}")
    try:
        value = float(rows[id_name][column])
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


@functools.lru_cache(maxsize=2)
def _sample_rows(path: str, mtime: float) -> dict:
    """{id_name: row} of a sample CSV (csv, not pandas: fit jobs stay light)."""
    import csv

    with open(path, newline="") as handle:
        return {row["id_name"]: row for row in csv.DictReader(handle)}


def source_fit_settings(settings: dict, nh_column: str | None, nh_value) -> dict:
    """A source's fit settings: with ``nh_column`` set, nH is that source's value of the
    column (``nh_value``, None when it has none), held fixed, in place of ``fit.nh``."""
    if not nh_column:
        return dict(settings)
    return {**settings, "nh": nh_value, "nh_origin": f"column {nh_column}"}


def in_fit_range(e_lo, e_hi, energy_range_keV):
    """Boolean per bin [e_lo, e_hi] (keV): inside the fitted range [lo, hi) as XSPEC's
    ``ignore **-lo hi-**`` keeps a bin (fact sheet §4.4): E_lo >= lo and E_hi < hi, so a bin
    that straddles either limit is out.

    The one rule for both the fitters' noticed groups (first channel's E_MIN, last
    channel's E_MAX of each group) and the grouping, which marks a channel bad before
    grouping exactly when this rule would drop it as a group of its own.
    """
    import numpy as np

    lo, hi = energy_range_keV
    e_lo, e_hi = np.asarray(e_lo, dtype=float), np.asarray(e_hi, dtype=float)
    return (e_lo >= float(lo)) & (e_hi < float(hi))


def fit_source(spectrum, background, rmf, arf, settings, source_id, fitter: str = "sherpa"):
    """Fit ``source_id``'s spectrum with the named fitter backend (see its ``fit_source``).

    ``fitter`` is a resolved fitter name; 'auto' is resolved when the workflow starts.
    """
    if fitter == "sherpa":
        from rassflow.fitting.sherpa import fit_source as backend_fit
    elif fitter == "xspec":
        from rassflow.fitting.xspec import fit_source as backend_fit
    else:
        raise ValueError(
            f"unknown fitter {fitter!r}; known fitters: {', '.join(FITTERS)} "
            "('auto' is resolved when the workflow starts)"
        )
    return backend_fit(spectrum, background, rmf, arf, settings, source_id)


def fit_and_write(
    spectrum,
    background,
    rmf,
    arf,
    settings,
    source_id: str,
    out_path: str | os.PathLike,
    backend: str = "native",
    fitter: str = "sherpa",
) -> dict:
    """Fit one source and write the result as JSON (atomically) to ``out_path``.

    ``backend`` names the tools that made the spectra and responses; it is recorded in the
    result so that the results table can say where each row's products came from. The
    result is checked against the fit-result layout before it is written.
    """
    from rassflow.fitting.result import FitResult

    fitted = fit_source(spectrum, background, rmf, arf, settings, source_id, fitter=fitter)
    result = FitResult.from_json(fitted, source=f"{fitter} fit of {source_id}")
    result = with_neighbours(result.replace(backend=backend), spectrum, background, settings)
    result.write(out_path)
    return result.to_json()


def with_neighbours(result, spectrum, background, settings):
    """The fit result with a summary of the catalogued neighbours whose PSF wings add counts
    to the source circle (the background file's CONTAMINATION table,
    rassflow.products.contamination): how many, whether any lies inside the circle or is
    too close to separate, and their share of the net counts in the fit range. Both fitters
    already fitted those counts as a fixed model component, so the parameters and fluxes
    are the target's own. Unchanged without such a table."""
    from rassflow.fitting.result import NeighbourResult
    from rassflow.products.contamination import band_fraction, read_contamination

    table = read_contamination(background)
    if not result.models or table is None:
        return result
    share = band_fraction(spectrum, background, tuple(settings["energy_range_keV"]))
    _, _, summary = table
    neighbours = NeighbourResult(
        count=summary["neighbours"],
        confused=summary["confused"],
        unresolved=summary["unresolved"],
        share=round(share, 6),
    )
    return result.replace(neighbours=neighbours)
