"""Spectral fitting backends.

Each backend module turns a grouped source spectrum, its background and its responses into
one JSON-ready dict of fit results, with the same signature and result schema. Backends
import their fitter only when used, so that importing this package stays cheap.
"""

from __future__ import annotations

import os

FITTERS = ("sherpa", "xspec")

FIT_DEFAULTS = {
    "models": ["bbody", "powerlaw"],
    "energy_range_keV": [0.11, 2.02],
    "min_noticed_channels": 2,
    "error_delta_stat": 2.706,
    "flux_bands_keV": [[0.5, 2.0]],
    "flux_confidence": 68,
    "flux_samples": 100,
    "max_iterations": 500,
    "seed": 1,
    # XSPEC's 'error' refuses to search above a reduced statistic of 2 (Sherpa's default is 3)
    "max_rstat": 2.0,
}
"""Fit settings shared by both fitters (the workflow passes its ``fit`` config section)."""


def resolve_fit_settings(settings: dict | None, defaults: dict) -> dict:
    """``settings`` over a fitter's ``defaults``; unknown keys and models are an error."""
    from ..models import MODELS

    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise KeyError(f"unknown fit setting(s): {', '.join(unknown)}")
    resolved = {**defaults, **settings}
    for name in resolved["models"]:
        if name not in MODELS:
            raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return resolved


def json_number(value):
    """float, or None for a missing or non-finite number (JSON has no NaN)."""
    import math

    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def parameter_entry(value, lower, upper, flags: str, unit: str, flags_ok: str = "FFFFFFFFF"):
    """A parameter's entry in the fit JSON; a bound that was not found is None."""
    return {
        "value": json_number(value),
        "lower": json_number(lower),
        "upper": json_number(upper),
        "err-": None if lower is None else json_number(value - lower),
        "err+": None if upper is None else json_number(upper - value),
        "good_err": flags == flags_ok,
        "flags": flags,
        "unit": unit,
    }


def unfitted_model(name: str, status: str, reason: str, plot: dict | None = None) -> dict:
    """A model's entry in the fit JSON when it was not fitted: every number null."""
    from ..models import MODELS

    return {
        "status": status,
        "reason": reason,
        "statistic": None,
        "dof": None,
        "nfev": None,
        "parameters": {
            par: {"value": None, "lower": None, "upper": None, "err-": None, "err+": None,
                  "good_err": False, "flags": None, "unit": unit}
            for par, unit in zip(MODELS[name]["parameters"], MODELS[name]["units"], strict=True)
        },
        "fluxes": {},
        "plot": plot or {},
    }


def fit_source(spectrum, background, rmf, arf, settings, source_id, fitter: str = "sherpa"):
    """Fit ``source_id``'s spectrum with the named fitter backend (see its ``fit_source``)."""
    if fitter == "auto":
        from ..backends import resolve_tools

        fitter = resolve_tools(products="native", fitter="auto")["fitter"]
    if fitter == "sherpa":
        from .sherpa import fit_source as backend_fit
    elif fitter == "xspec":
        from .xspec import fit_source as backend_fit
    else:
        raise ValueError(f"unknown fitter {fitter!r}; known fitters: auto, {', '.join(FITTERS)}")
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
    result so that the results table can say where each row's products came from.
    """
    from ..io import write_json

    result = fit_source(spectrum, background, rmf, arf, settings, source_id, fitter=fitter)
    result["backend"] = backend
    write_json(result, out_path)
    return result
