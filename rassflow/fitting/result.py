"""The fit result of one source: what both fitters write and what the table and plots read.

One JSON file per source (``{id_name}-fit.json``), laid out as::

    {"id_name", "fitter", "fitter_version", "statistic"*, "energy_range_keV"*,
     "error_delta_stat"*, "counts": {} | {"source", "background", "backscal_ratio"},
     "exposure_s", "noticed_groups", "noticed_channels", "backend"*,
     "neighbours"*: {"count", "confused", "unresolved", "share"},
     "systematics"*: {"psf_model", "source_radius_arcmin", "background_arcmin",
                      "psf_factors", "deblending_sigma_counts", "deblending_inflation"},
     "models": {name: {"status", "reason", "statistic", "dof", "nfev",
                       "parameters": {par: {"value", "lower", "upper", "err-", "err+",
                                            "good_err", "flags", "unit"}},
                       "fluxes": {"{lo}-{hi}keV": {"value", "lower", "upper", "err-",
                                                   "err+", "confidence", "method",
                                                   "unit"}},
                       "plot": {} | {"x", "xerr", "y", "yerr", "model"},
                       "absorption"*: {"model", "abundances", "cross_sections",
                                       "reference", "library", "nh"}}}}

An absorbed model (``tbabs*bbody``, ...) has the parameter ``nH`` (10^22 cm^-2) first, as
XSPEC orders it, and two entries per band: ``{lo}-{hi}keV`` is the absorbed (observed)
flux, as XSPEC's calcFlux gives it, and ``{lo}-{hi}keV_unabsorbed`` the flux of its
additive model alone. Its ``absorption`` says what computed the absorption (XSPEC's
abundance table and cross-sections, the model library) and where nH came from ("free",
"fixed" or "column <name>"). A parameter held fixed has its value, null bounds and
``flags`` null (as a parameter that was not fitted), ``good_err`` false.

A flux's ``method`` says how its interval was found: "profile" (the profile likelihood of
log10 of the band flux, lower <= value <= upper whenever both are known) or "draws" (the
central range of fluxes of parameter draws from the covariance, as XSPEC's calcFlux err;
such a range need not contain the best fit). Files written before the key existed hold
draws: a missing ``method`` reads as "draws".

Keys marked * are left out when unknown (a source whose products could not be made has no
fit setup; the fitters leave ``backend`` to :func:`rassflow.fitting.run.fit_and_write`); every
other key is always there, null when unknown. Numbers are finite floats or null (JSON has
no NaN); counts, dof, nfev and group numbers are integers.

The dataclasses below are the only way results are built (``to_json``) and read
(``from_json``, ``FitResult.read``); reading checks every field and names the one that
does not match.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass

import numpy as np

STATUSES = ("ok", "not_fitted", "failed")
"""A model's status: fitted, too little data to fit, or the fit (or the products) failed."""
FLAGS_OK = "FFFFFFFFF"
"""XSPEC's 9-letter ``error`` status when the interval search reported no problem."""
FLUX_UNIT = "erg/cm2/s"


class FitResultError(ValueError):
    """A fit JSON does not match the fit-result layout; the message names the field."""


def json_number(value) -> float | None:
    """float, or None for a missing or non-finite number (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def json_list(values) -> list[float | None]:
    """A sequence of numbers as JSON numbers (non-finite ones null)."""
    return [json_number(value) for value in np.asarray(values, dtype=float)]


UNABSORBED = "_unabsorbed"  # suffix of the band key of an absorbed model's unabsorbed flux


def band_key(lo, hi, unabsorbed: bool = False) -> str:
    """'0.5-2.0keV' for the band (0.5, 2.0): the key of its flux in the fit JSON
    ('0.5-2.0keV_unabsorbed' for an absorbed model's flux without its absorption)."""
    return f"{lo}-{hi}keV" + (UNABSORBED if unabsorbed else "")


# ---------------------------------------------------------------- reading, with field paths


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def _expected(where: str, expected: str, value):
    raise FitResultError(f"{where}: expected {expected}, got {_kind(value)}")


def _number(value, where: str, nullable: bool = True) -> float | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        _expected(where, "a number or null" if nullable else "a number", value)
    if not math.isfinite(value):
        raise FitResultError(f"{where}: not a finite number: {value!r}")
    return float(value)


def _numbers(values, where: str, length: int | None = None) -> list[float | None]:
    if not isinstance(values, list) or (length is not None and len(values) != length):
        _expected(where, "a list of numbers" if length is None else f"a list of {length}", values)
    return [_number(value, f"{where}[{index}]") for index, value in enumerate(values)]


class _Fields:
    """One JSON object being read: typed access to its keys, errors naming the field."""

    def __init__(self, data, where: str, required, optional=()):
        if not isinstance(data, dict):
            _expected(where or "the result", "an object", data)
        self.data, self.where = data, where
        missing = [key for key in required if key not in data]
        if missing:
            raise FitResultError(f"{self.path(missing[0])}: missing")
        unknown = sorted(set(data) - set(required) - set(optional))
        if unknown:
            raise FitResultError(f"{self.path(unknown[0])}: unknown field")

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def number(self, key: str, nullable: bool = True) -> float | None:
        return _number(self.data[key], self.path(key), nullable)

    def integer(self, key: str, nullable: bool = True) -> int | None:
        value = self.data[key]
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            _expected(self.path(key), "an integer or null" if nullable else "an integer", value)
        return value

    def string(self, key: str, nullable: bool = False) -> str | None:
        value = self.data[key]
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            _expected(self.path(key), "a string or null" if nullable else "a string", value)
        return value

    def boolean(self, key: str) -> bool:
        if not isinstance(self.data[key], bool):
            _expected(self.path(key), "true or false", self.data[key])
        return self.data[key]

    def numbers(self, key: str, nullable: bool = False) -> list[float | None] | None:
        """A list of numbers or nulls (the plot arrays)."""
        if self.data[key] is None and nullable:
            return None
        return _numbers(self.data[key], self.path(key))

    def mapping(self, key: str, read) -> dict:
        """An object of named entries, each read by ``read(entry, where)``."""
        entries = self.data[key]
        if not isinstance(entries, dict):
            _expected(self.path(key), "an object", entries)
        return {name: read(entry, f"{self.path(key)}[{name}]") for name, entry in entries.items()}

    def empty_or(self, key: str, read):
        """None for {}, else the object read by ``read(entry, where)``."""
        entry = self.data[key]
        return None if entry == {} else read(entry, self.path(key))


def _without_none(data: dict, keys) -> dict:
    return {key: value for key, value in data.items() if key not in keys or value is not None}


# ---------------------------------------------------------------- the structure

INTERVAL_KEYS = ("value", "lower", "upper", "err-", "err+")


def _interval(value, lower, upper) -> dict:
    """value, bounds and err-/err+ (value - lower, upper - value); a missing bound is None."""
    return {
        "value": json_number(value),
        "lower": json_number(lower),
        "upper": json_number(upper),
        "err_minus": None if lower is None else json_number(value - lower),
        "err_plus": None if upper is None else json_number(upper - value),
    }


INTERVAL_ATTRIBUTES = ("value", "lower", "upper", "err_minus", "err_plus")


def _interval_json(result, *names) -> dict:
    """The JSON of a parameter or flux: its interval, then the attributes ``names`` (their
    JSON keys are their names)."""
    data = {
        key: getattr(result, name)
        for key, name in zip(INTERVAL_KEYS, INTERVAL_ATTRIBUTES, strict=True)
    }
    return data | {name: getattr(result, name) for name in names}


def _interval_fields(fields) -> dict:
    return {
        "value": fields.number("value"),
        "lower": fields.number("lower"),
        "upper": fields.number("upper"),
        "err_minus": fields.number("err-"),
        "err_plus": fields.number("err+"),
    }


@dataclass(frozen=True)
class ParameterResult:
    """A parameter's best value and its interval from XSPEC's ``error`` (or Sherpa's conf)."""

    value: float | None
    lower: float | None  # None: the bound was not found (search failed or refused)
    upper: float | None
    err_minus: float | None  # value - lower
    err_plus: float | None  # upper - value
    good_err: bool  # the search reported no problem (flags == FLAGS_OK)
    flags: str | None  # XSPEC's 9-letter error status; None when not fitted
    unit: str

    @classmethod
    def from_bounds(cls, value, lower, upper, flags: str, unit: str) -> ParameterResult:
        """The entry of a fitted parameter; a bound that was not found is None."""
        return cls(
            **_interval(value, lower, upper), good_err=flags == FLAGS_OK, flags=flags, unit=unit
        )

    @classmethod
    def unfitted(cls, unit: str) -> ParameterResult:
        return cls(None, None, None, None, None, good_err=False, flags=None, unit=unit)

    @classmethod
    def fixed(cls, value, unit: str) -> ParameterResult:
        """A parameter held at ``value`` in the fit: no interval, no error status."""
        return cls(json_number(value), None, None, None, None, False, None, unit)

    def to_json(self) -> dict:
        return _interval_json(self, "good_err", "flags", "unit")

    @classmethod
    def from_json(cls, data, where: str = "parameter") -> ParameterResult:
        fields = _Fields(data, where, (*INTERVAL_KEYS, "good_err", "flags", "unit"))
        return cls(
            **_interval_fields(fields),
            good_err=fields.boolean("good_err"),
            flags=fields.string("flags", nullable=True),
            unit=fields.string("unit"),
        )


FLUX_METHODS = ("profile", "draws")
"""How a flux interval was found (see the module docstring)."""
LEGACY_FLUX_METHOD = "draws"  # the method of fit JSON files without a ``method`` key


@dataclass(frozen=True)
class FluxResult:
    """An energy flux in one band with its ``confidence`` % interval, found by ``method``."""

    value: float | None
    lower: float | None  # None: the bound was not found (never counted as covering)
    upper: float | None
    err_minus: float | None  # value - lower
    err_plus: float | None  # upper - value
    confidence: float  # %
    unit: str = FLUX_UNIT
    method: str = LEGACY_FLUX_METHOD  # one of FLUX_METHODS

    @classmethod
    def from_bounds(
        cls,
        value,
        lower,
        upper,
        confidence,
        unit: str = FLUX_UNIT,
        method: str = LEGACY_FLUX_METHOD,
    ) -> FluxResult:
        """The flux entry; a range that could not be computed is None."""
        _check_flux_method(method, "method")
        return cls(
            **_interval(value, lower, upper), confidence=float(confidence), unit=unit, method=method
        )

    @classmethod
    def profile(cls, value, lower, upper, confidence, unit: str = FLUX_UNIT) -> FluxResult:
        """A profile-likelihood interval around the best-fit ``value``.

        A bound on the wrong side of the best fit is no bound of this fit (its search found
        a lower minimum elsewhere): it becomes None, so that lower <= value <= upper and
        err-, err+ >= 0 always hold.
        """
        value = json_number(value)
        lower, upper = json_number(lower), json_number(upper)
        if value is None or (lower is not None and lower > value):
            lower = None
        if value is None or (upper is not None and upper < value):
            upper = None
        return cls.from_bounds(value, lower, upper, confidence, unit, method="profile")

    def to_json(self) -> dict:
        return _interval_json(self, "confidence", "method", "unit")

    @classmethod
    def from_json(cls, data, where: str = "flux") -> FluxResult:
        fields = _Fields(data, where, (*INTERVAL_KEYS, "confidence", "unit"), ("method",))
        method = fields.string("method") if "method" in data else LEGACY_FLUX_METHOD
        _check_flux_method(method, fields.path("method"))
        result = cls(
            **_interval_fields(fields),
            confidence=fields.number("confidence", nullable=False),
            unit=fields.string("unit"),
            method=method,
        )
        if method == "profile":
            for bound, inside in (("lower", lambda b, v: b <= v), ("upper", lambda b, v: b >= v)):
                limit = getattr(result, bound)
                if (
                    limit is not None
                    and result.value is not None
                    and not inside(limit, result.value)
                ):
                    raise FitResultError(
                        f"{fields.path(bound)}: a profile bound on the wrong side of the value "
                        f"({limit!r} vs {result.value!r})"
                    )
        return result


def _check_flux_method(method, where: str) -> None:
    if method not in FLUX_METHODS:
        raise FitResultError(
            f"{where}: unknown flux method {method!r} (one of {', '.join(FLUX_METHODS)})"
        )


@dataclass(frozen=True)
class PlotData:
    """The noticed groups in keV, background-subtracted counts/s/keV and the folded model."""

    x: list[float | None]
    xerr: list[float | None]
    y: list[float | None]
    yerr: list[float | None]
    model: list[float | None] | None = None  # None when no model was fitted

    @classmethod
    def from_arrays(cls, x, xerr, y, yerr, model=None) -> PlotData:
        return cls(
            json_list(x),
            json_list(xerr),
            json_list(y),
            json_list(yerr),
            None if model is None else json_list(model),
        )

    def to_json(self) -> dict:
        return {"x": self.x, "xerr": self.xerr, "y": self.y, "yerr": self.yerr, "model": self.model}

    @classmethod
    def from_json(cls, data, where: str = "plot") -> PlotData:
        fields = _Fields(data, where, ("x", "xerr", "y", "yerr", "model"))
        plot = cls(
            x=fields.numbers("x"),
            xerr=fields.numbers("xerr"),
            y=fields.numbers("y"),
            yerr=fields.numbers("yerr"),
            model=fields.numbers("model", nullable=True),
        )
        arrays = {"xerr": plot.xerr, "y": plot.y, "yerr": plot.yerr, "model": plot.model}
        for key, values in arrays.items():
            if values is not None and len(values) != len(plot.x):
                raise FitResultError(
                    f"{fields.path(key)}: {len(values)} values for {len(plot.x)} x values"
                )
        return plot


@dataclass(frozen=True)
class CountsResult:
    """Counts in the source and background spectra and their BACKSCAL ratio."""

    source: int
    background: int
    backscal_ratio: float  # source BACKSCAL / background BACKSCAL

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "background": self.background,
            "backscal_ratio": self.backscal_ratio,
        }

    @classmethod
    def from_json(cls, data, where: str = "counts") -> CountsResult:
        fields = _Fields(data, where, ("source", "background", "backscal_ratio"))
        return cls(
            source=fields.integer("source", nullable=False),
            background=fields.integer("background", nullable=False),
            backscal_ratio=fields.number("backscal_ratio", nullable=False),
        )


@dataclass(frozen=True)
class ModelResult:
    """One model's fit: status, statistic, parameters, fluxes per band and plot data."""

    status: str  # one of STATUSES
    reason: str  # why the model was not fitted or failed; "" when ok
    statistic: float | None
    dof: int | None
    nfev: int | None  # function evaluations (None: not fitted, or PyXspec, which has none)
    parameters: dict[str, ParameterResult]
    fluxes: dict[str, FluxResult]  # by band_key
    plot: PlotData | None = None  # None: no data to show ({} in the JSON)
    absorption: dict | None = None  # absorbed models: what computed it (ABSORPTION_KEYS)

    @classmethod
    def ok(
        cls, statistic, dof: int, nfev: int | None, parameters, fluxes, plot, absorption=None
    ) -> ModelResult:
        """A fitted model."""
        return cls(
            "ok", "", json_number(statistic), int(dof), nfev, parameters, fluxes, plot, absorption
        )

    @classmethod
    def unfitted(
        cls, name: str, status: str, reason: str, plot: PlotData | None = None
    ) -> ModelResult:
        """A model that was not fitted: every number null, the parameters of ``name``."""
        from rassflow.fitting.models import MODELS

        parameters = {
            par: ParameterResult.unfitted(unit)
            for par, unit in zip(MODELS[name]["parameters"], MODELS[name]["units"], strict=True)
        }
        return cls(status, reason, None, None, None, parameters, {}, plot)

    def flux(self, lo: float, hi: float, unabsorbed: bool = False) -> FluxResult | None:
        """The flux in band [lo, hi] keV, matching band keys by value (0.5-2 = 0.5-2.0);
        ``unabsorbed``: an absorbed model's flux without the absorption."""
        suffix = re.escape(UNABSORBED) if unabsorbed else ""
        for key, entry in self.fluxes.items():
            match = re.fullmatch(r"([0-9.eE+]+)-([0-9.eE+]+)keV" + suffix, key)
            if match and np.isclose(float(match[1]), lo) and np.isclose(float(match[2]), hi):
                return entry
        return None

    def to_json(self) -> dict:
        return {
            "status": self.status,
            "reason": self.reason,
            "statistic": self.statistic,
            "dof": self.dof,
            "nfev": self.nfev,
            "parameters": {name: entry.to_json() for name, entry in self.parameters.items()},
            "fluxes": {band: entry.to_json() for band, entry in self.fluxes.items()},
            "plot": {} if self.plot is None else self.plot.to_json(),
        } | ({} if self.absorption is None else {"absorption": dict(self.absorption)})

    @classmethod
    def from_json(cls, data, where: str = "model") -> ModelResult:
        keys = ("status", "reason", "statistic", "dof", "nfev", "parameters", "fluxes", "plot")
        fields = _Fields(data, where, keys, ("absorption",))
        status = fields.string("status")
        if status not in STATUSES:
            raise FitResultError(
                f"{fields.path('status')}: unknown status {status!r} (one of {', '.join(STATUSES)})"
            )
        return cls(
            status=status,
            reason=fields.string("reason"),
            statistic=fields.number("statistic"),
            dof=fields.integer("dof"),
            nfev=fields.integer("nfev"),
            parameters=fields.mapping("parameters", ParameterResult.from_json),
            fluxes=fields.mapping("fluxes", FluxResult.from_json),
            plot=fields.empty_or("plot", PlotData.from_json),
            absorption=(
                _absorption(data["absorption"], fields.path("absorption"))
                if "absorption" in data
                else None
            ),
        )


ABSORPTION_KEYS = ("model", "abundances", "cross_sections", "reference", "library", "nh")
"""What an absorbed model's ``absorption`` records, every value a string."""


def _absorption(data, where: str) -> dict:
    fields = _Fields(data, where, ABSORPTION_KEYS)
    return {key: fields.string(key) for key in ABSORPTION_KEYS}


# Keys of the top level that are left out of the JSON when None.
_OMITTED_WHEN_NONE = (
    "statistic",
    "energy_range_keV",
    "error_delta_stat",
    "backend",
    "neighbours",
    "systematics",
)


@dataclass(frozen=True)
class NeighbourResult:
    """Catalogued neighbours whose PSF wings reach the source circle (the background file's
    CONTAMINATION table, rassflow.products.contamination) and their share of the source's
    net counts in the fit range (fitted as a fixed model component, so not in its fluxes)."""

    count: int  # neighbours deblended or left unresolved
    confused: int  # those whose position lies inside the source circle
    unresolved: int  # those too close to tell apart: their counts stay in the source's
    share: float  # neighbours' fraction of the net counts in the fit range

    def to_json(self) -> dict:
        return {
            "count": self.count,
            "confused": self.confused,
            "unresolved": self.unresolved,
            "share": self.share,
        }

    @classmethod
    def from_json(cls, data, where: str = "neighbours") -> NeighbourResult:
        fields = _Fields(data, where, ("count", "confused", "unresolved", "share"))
        return cls(
            count=fields.integer("count", nullable=False),
            confused=fields.integer("confused", nullable=False),
            unresolved=fields.integer("unresolved", nullable=False),
            share=fields.number("share", nullable=False),
        )


@dataclass(frozen=True)
class FitResult:
    """The fit of one source: what was fitted, the data summary and each model's result."""

    id_name: str
    fitter: str | None  # sherpa or xspec; None when no fitter was chosen
    fitter_version: str | None
    counts: CountsResult | None  # None: no spectra ({} in the JSON)
    exposure_s: float | None
    noticed_groups: int
    noticed_channels: int
    models: dict[str, ModelResult]
    statistic: str | None = None  # the fit setup, None when nothing was fitted
    energy_range_keV: tuple[float, float] | None = None
    error_delta_stat: float | None = None
    backend: str | None = None  # the tools that made the products (set when written)
    neighbours: NeighbourResult | None = None  # None: no catalogued neighbour reaches it
    # what the intervals carry besides statistics (rassflow.fitting.with_systematics)
    systematics: dict | None = None

    @classmethod
    def failed(
        cls, source_id: str, models, reason: str, backend: str, fitter: str | None = None
    ) -> FitResult:
        """A source whose products could not be made (or fitted): every model failed."""
        return cls(
            id_name=source_id,
            fitter=fitter,
            fitter_version=None,
            counts=None,
            exposure_s=None,
            noticed_groups=0,
            noticed_channels=0,
            models={name: ModelResult.unfitted(name, "failed", reason) for name in models},
            backend=backend,
        )

    def replace(self, **changes) -> FitResult:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        data = {
            "id_name": self.id_name,
            "fitter": self.fitter,
            "fitter_version": self.fitter_version,
            "statistic": self.statistic,
            "energy_range_keV": (
                None if self.energy_range_keV is None else list(self.energy_range_keV)
            ),
            "error_delta_stat": self.error_delta_stat,
            "counts": {} if self.counts is None else self.counts.to_json(),
            "exposure_s": self.exposure_s,
            "noticed_groups": self.noticed_groups,
            "noticed_channels": self.noticed_channels,
            "models": {name: model.to_json() for name, model in self.models.items()},
            "backend": self.backend,
            "neighbours": None if self.neighbours is None else self.neighbours.to_json(),
            "systematics": self.systematics,
        }
        return _without_none(data, _OMITTED_WHEN_NONE)

    @classmethod
    def from_json(cls, data, source: str = "fit result") -> FitResult:
        """The result in ``data``; FitResultError (a ValueError) naming ``source`` and the
        field when ``data`` does not match the layout."""
        try:
            return cls._from_json(data)
        except FitResultError as error:
            raise FitResultError(f"{source}: {error}") from None

    @classmethod
    def _from_json(cls, data) -> FitResult:
        required = (
            "id_name",
            "fitter",
            "fitter_version",
            "counts",
            "exposure_s",
            "noticed_groups",
            "noticed_channels",
            "models",
        )
        fields = _Fields(data, "", required, _OMITTED_WHEN_NONE)
        id_name = fields.string("id_name")
        if not id_name:
            raise FitResultError("id_name: empty")
        energy_range = None
        if "energy_range_keV" in data:
            lo, hi = _numbers(data["energy_range_keV"], "energy_range_keV", length=2)
            if lo is None or hi is None:
                _expected("energy_range_keV", "two numbers", data["energy_range_keV"])
            energy_range = (lo, hi)
        return cls(
            id_name=id_name,
            fitter=fields.string("fitter", nullable=True),
            fitter_version=fields.string("fitter_version", nullable=True),
            counts=fields.empty_or("counts", CountsResult.from_json),
            exposure_s=fields.number("exposure_s"),
            noticed_groups=fields.integer("noticed_groups", nullable=False),
            noticed_channels=fields.integer("noticed_channels", nullable=False),
            models=fields.mapping("models", ModelResult.from_json),
            statistic=fields.string("statistic") if "statistic" in data else None,
            energy_range_keV=energy_range,
            error_delta_stat=(
                fields.number("error_delta_stat", nullable=False)
                if "error_delta_stat" in data
                else None
            ),
            backend=fields.string("backend") if "backend" in data else None,
            neighbours=(
                NeighbourResult.from_json(data["neighbours"]) if "neighbours" in data else None
            ),
            systematics=_systematics(data["systematics"]) if "systematics" in data else None,
        )

    @classmethod
    def read(cls, path: str | os.PathLike) -> FitResult:
        """The fit result in the JSON file ``path``, checked field by field."""
        import json

        from rassflow.files import read_json

        try:
            data = read_json(path)
        except json.JSONDecodeError as error:
            raise FitResultError(f"fit result {path}: not valid JSON: {error}") from None
        return cls.from_json(data, source=f"fit result {path}")

    def write(self, path: str | os.PathLike) -> None:
        """Write the result as JSON (atomically, sorted keys) to ``path``."""
        from rassflow.files import write_json

        write_json(self.to_json(), path)


SYSTEMATICS_KEYS = (
    "psf_model",
    "source_radius_arcmin",
    "background_arcmin",
    "psf_factors",
    "deblending_sigma_counts",
    "deblending_inflation",
)


def _systematics(data) -> dict:
    """The ``systematics`` object: the PSF description and regions behind the aperture
    correction, the PSF systematic's factors (low, high) applied to the flux intervals, and
    the deblending error (counts, 1 sigma) and the factor it widened the intervals by."""
    fields = _Fields(data, "systematics", SYSTEMATICS_KEYS)
    out = {
        "psf_model": fields.string("psf_model", nullable=True),
        "source_radius_arcmin": fields.number("source_radius_arcmin"),
        "deblending_sigma_counts": fields.number("deblending_sigma_counts"),
        "deblending_inflation": fields.number("deblending_inflation"),
    }
    for key in ("background_arcmin", "psf_factors"):
        out[key] = None if data[key] is None else _numbers(data[key], fields.path(key), 2)
    return out


def failed_fit(
    source_id: str, models, reason: str, backend: str, fitter: str | None = None
) -> dict:
    """The fit JSON of a source whose products could not be made (or fitted)."""
    return FitResult.failed(source_id, models, reason, backend, fitter).to_json()
