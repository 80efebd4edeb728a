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
