"""XSPEC-equivalent spectral models, as plain numpy functions on energy bins.

Both functions return photons cm^-2 s^-1 per bin for bins [lo, hi] in keV, exactly as
XSPEC's ``bbody`` and ``powerlaw`` do (fact sheet §6.1–6.2), so that the simulator, the
Sherpa fitter and flux calculations share one definition. The absorbed models
(``tbabs*bbody``, ``phabs*powerlaw``, ...) multiply them by XSPEC's own absorption code
(rassflow.fitting.absorption); tests/fitting/test_xspec_models.py checks every model
against XSPEC's functions.
"""

from __future__ import annotations

import functools

import numpy as np

KEV_TO_ERG = 1.602192e-9  # the constant XSPEC uses for energy fluxes
BBODY_CONSTANT = 8.0525  # XSPEC bbody: norm = L39 / D10^2


def bbody_density(energy, kT, norm):
    """Photon flux density (photons/cm^2/s/keV) of XSPEC's bbody at ``energy`` keV.

    XSPEC's branches (E/kT <= 1e-4, <= 60, above: 0) are computed on the whole array and
    chosen with np.where: the same operations per element as on the chosen elements alone,
    at a fraction of the cost of boolean indexing in a fit's every model evaluation. E/kT
    enters expm1 clipped to [1e-4, 61], which changes only elements of the other branches
    and keeps expm1 finite and non-zero."""
    energy = np.asarray(energy, dtype=float)
    x = energy / kT
    scale = norm * BBODY_CONSTANT
    denominator = kT**4 * np.expm1(np.clip(x, 1.0e-4, 61.0))
    out = np.where(x <= 60.0, scale * energy**2 / denominator, 0.0)
    small = x <= 1.0e-4
    if small.any():
        out = np.where(small, scale * energy * kT / kT**4, out)
    return out


def bbody(lo, hi, kT, norm):
    """Photons/cm^2/s in each bin: XSPEC's two-point trapezoid per bin (the density once
    per edge when the bins are contiguous, hi[i] == lo[i + 1], as response and flux grids
    are)."""
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    if lo.size > 1 and np.array_equal(lo[1:], hi[:-1]):
        density = bbody_density(np.append(lo, hi[-1]), kT, norm)
        return 0.5 * (density[:-1] + density[1:]) * (hi - lo)
    return 0.5 * (bbody_density(lo, kT, norm) + bbody_density(hi, kT, norm)) * (hi - lo)


def powerlaw(lo, hi, gamma, norm):
    """Photons/cm^2/s in each bin: exact integral of norm * E^-gamma (norm at 1 keV)."""
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    if abs(1.0 - gamma) < 1.0e-10:
        return norm * np.log(hi / lo)
    index = 1.0 - gamma
    return norm * (hi**index - lo**index) / index


BASE_MODELS = {
    "bbody": {"function": bbody, "parameters": ("kT", "norm"), "units": ("keV", "")},
    "powerlaw": {"function": powerlaw, "parameters": ("PhoIndex", "norm"), "units": ("", "")},
}
ABSORBERS = ("tbabs", "phabs")


def _absorbed(absorber: str, base: str) -> dict:
    from rassflow.fitting.absorption import NH_UNIT

    spec = BASE_MODELS[base]
    return {
        "function": functools.partial(absorbed, absorber, base),
        "parameters": ("nH", *spec["parameters"]),
        "units": (NH_UNIT, *spec["units"]),
        "absorber": absorber,
        "base": base,
    }


def absorbed(absorber: str, base: str, lo, hi, nh, shape, norm, abundances="wilm", xsect="vern"):
    """Photons/cm^2/s in each bin of XSPEC's ``absorber*base``: the absorber's transmission
    per bin (XSPEC's own code, rassflow.fitting.absorption) times the additive model, as
    XSPEC multiplies components on one energy grid."""
    from rassflow.fitting.absorption import transmission

    photons = BASE_MODELS[base]["function"](lo, hi, shape, norm)
    return transmission(absorber, lo, hi, nh, abundances, xsect) * photons


MODELS = {
    **BASE_MODELS,
    **{f"{a}*{b}": _absorbed(a, b) for a in ABSORBERS for b in BASE_MODELS},
}
"""Parameter names follow XSPEC (they become the results table's column names). The
absorbed models are XSPEC expressions, their parameters in XSPEC's order (nH first)."""


def base_model(model: str) -> str:
    """The additive model of ``model`` ('bbody' for 'tbabs*bbody')."""
    return MODELS[model].get("base", model)


def absorber(model: str) -> str | None:
    """The absorption of ``model`` ('tbabs', 'phabs') or None."""
    return MODELS[model].get("absorber")


def column_prefix(model: str) -> str:
    """The prefix of a model's results columns: 'tbabs_bbody' for 'tbabs*bbody'."""
    return model.replace("*", "_")


def split_parameters(model: str, params) -> tuple[float | None, float, float]:
    """(nH or None, shape, norm) of ``params`` in the model's parameter order."""
    params = [float(value) for value in params]
    if absorber(model):
        return params[0], params[1], params[2]
    return None, params[0], params[1]


def photon_flux(model: str, params, lo, hi, unabsorbed: bool = False, absorption=None):
    """Photons/cm^2/s per bin [lo, hi] keV of ``model`` with ``params`` (its parameter
    order); ``unabsorbed``: without the absorption. ``absorption``: {abundances,
    cross_sections} of XSPEC's absorber (default wilm, vern)."""
    nh, shape, norm = split_parameters(model, params)
    base = BASE_MODELS[base_model(model)]["function"]
    if nh is None or unabsorbed:
        return base(lo, hi, shape, norm)
    settings = absorption or {}
    return absorbed(
        absorber(model), base_model(model), lo, hi, nh, shape, norm,
        settings.get("abundances", "wilm"), settings.get("cross_sections", "vern"),
    )  # fmt: skip


@functools.lru_cache(maxsize=64)
def band_grid(e_lo: float, e_hi: float, n_bins: int = 2000):
    """(lo, hi) edges of ``n_bins`` log-spaced bins over [e_lo, e_hi] keV (read-only, cached:
    fluxes are evaluated at every step of a flux-profile search)."""
    edges = np.geomspace(e_lo, e_hi, n_bins + 1)
    edges.setflags(write=False)
    return edges[:-1], edges[1:]


def energy_flux(
    model: str, params, e_lo: float, e_hi: float, unabsorbed: bool = False, absorption=None
) -> float:
    """Energy flux (erg/cm^2/s) in [e_lo, e_hi] keV, as XSPEC's calcFlux sums it:
    photons per bin times the bin's mean energy; absorbed (as observed) unless
    ``unabsorbed``."""
    lo, hi = band_grid(e_lo, e_hi)
    photons = photon_flux(model, params, lo, hi, unabsorbed, absorption)
    return float(np.sum(photons * 0.5 * (lo + hi)) * KEV_TO_ERG)


def norm_for_energy_flux(model: str, shape: float, flux: float, e_lo: float, e_hi: float) -> float:
    """The norm that gives ``flux`` erg/cm^2/s in [e_lo, e_hi] keV (models are linear in
    norm; an absorbed model's unabsorbed flux)."""
    return flux / energy_flux(base_model(model), (shape, 1.0), e_lo, e_hi)


# ---------------------------------------------------------------- the start of every fit

START_GRIDS = {
    "bbody": np.geomspace(0.03, 3.0, 25),  # kT (keV): 5 points per decade
    "powerlaw": np.linspace(-1.0, 6.0, 29),  # PhoIndex: steps of 0.25
}
"""The coarse scan that starts every fit, in both fitters: the statistic at each value of
the model's shape parameter (its first parameter) with the norm fitted, then the full fit
from the grid point with the lowest statistic. Every value is inside the parameter's soft
limits in both fitters (kT 0.01-100 keV, PhoIndex -2 to 9)."""


NH_START_GRID = np.array([0.0, 0.03, 0.3, 3.0])
"""nH (10^22 cm^-2) of the start scan of an absorbed model whose nH is free: the shape
grid is scanned at each of these (those inside the nH bounds)."""


def shape_parameter(model: str) -> str:
    """The model's shape parameter (kT, PhoIndex): the additive model's parameter that is
    not the norm."""
    return BASE_MODELS[base_model(model)]["parameters"][0]


def start_points(model: str, nh_bounds=None) -> tuple[tuple[str, ...], np.ndarray]:
    """(parameter names, values: one row per point) of the start scan of ``model``: the
    shape grid, and for an absorbed model with free nH (``nh_bounds`` (lo, hi) given) the
    shape grid at each nH of NH_START_GRID inside the bounds, nH the outer loop."""
    name, grid = start_grid(model)
    if nh_bounds is None or not absorber(model):
        return (name,), grid[:, None]
    lo, hi = (float(value) for value in nh_bounds)
    nhs = [value for value in NH_START_GRID if lo <= value <= hi] or [lo]
    points = np.array([(nh, value) for nh in nhs for value in grid])
    return ("nH", name), points


def start_grid(model: str) -> tuple[str, np.ndarray]:
    """(shape parameter name, grid values) of the start scan of ``model``."""
    if model not in MODELS:
        raise KeyError(f"no start grid for model {model!r}; known models: {', '.join(MODELS)}")
    return shape_parameter(model), START_GRIDS[base_model(model)].copy()


def best_grid_point(statistics) -> int:
    """Index of the lowest finite statistic of a scan (the first of equal ones); ValueError
    when no grid point could be fitted."""
    statistics = np.asarray(statistics, dtype=float)
    finite = np.isfinite(statistics)
    if not finite.any():
        raise ValueError("the start scan fitted no grid point (every statistic is non-finite)")
    return int(np.argmin(np.where(finite, statistics, np.inf)))


# ---------------------------------------------------------------- fluxes as parameters


def delta_stat_for_confidence(confidence_percent: float) -> float:
    """The statistic rise that bounds a one-parameter interval of ``confidence_percent`` %
    (Wilks: chi-square with one degree of freedom; 68 % -> 0.989, 90 % -> 2.706). A
    chi-square variable of one degree of freedom is the square of a standard normal one,
    so its p-quantile is ndtri((1 + p) / 2) squared (scipy.special: scipy.stats would cost
    a fit job ~0.5 s of imports)."""
    from scipy.special import ndtri

    if not 0.0 < confidence_percent < 100.0:
        raise ValueError(f"confidence must be in (0, 100) %, got {confidence_percent}")
    return float(ndtri(0.5 + confidence_percent / 200.0) ** 2)


@functools.lru_cache(maxsize=4096)
def unit_energy_flux(
    model: str, shape: float, e_lo: float, e_hi: float, nh=None, abundances="wilm", xsect="vern"
) -> float:
    """Energy flux (erg/cm^2/s) in [e_lo, e_hi] keV of ``model`` with norm 1, through a
    column ``nh`` of the model's absorber (None: unabsorbed) (cached: a profile search
    evaluates the same shape many times)."""
    base = base_model(model)
    if nh is None:
        return energy_flux(base, (float(shape), 1.0), float(e_lo), float(e_hi))
    absorption = {"abundances": abundances, "cross_sections": xsect}
    params = (float(nh), float(shape), 1.0)
    return energy_flux(model, params, float(e_lo), float(e_hi), absorption=absorption)
