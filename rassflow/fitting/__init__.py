"""Spectral fitting backends.

Each fitter module (sherpa, xspec; chosen through rassflow.backends.registry) turns a
grouped source spectrum, its background and its responses into one fit result
(:class:`rassflow.fitting.result.FitResult`, returned as its JSON-ready dict), with the same
signature. This package holds the settings both share; rassflow.fitting.run fits one source
and writes its result.
"""

from __future__ import annotations

import copy
import functools
import os


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
