"""XSPEC-equivalent spectral models, as plain numpy functions on energy bins.

Both functions return photons cm^-2 s^-1 per bin for bins [lo, hi] in keV, exactly as
XSPEC's ``bbody`` and ``powerlaw`` do (fact sheet §6.1–6.2), so that the simulator, the
Sherpa fitter and flux calculations share one definition.
"""

from __future__ import annotations

import functools

import numpy as np

KEV_TO_ERG = 1.602192e-9  # the constant XSPEC uses for energy fluxes
BBODY_CONSTANT = 8.0525  # XSPEC bbody: norm = L39 / D10^2


def bbody_density(energy, kT, norm):
    """Photon flux density (photons/cm^2/s/keV) of XSPEC's bbody at ``energy`` keV."""
    energy = np.asarray(energy, dtype=float)
    x = energy / kT
    out = np.zeros_like(energy)
    small = x <= 1.0e-4
    mid = (~small) & (x <= 60.0)  # XSPEC returns 0 above E/kT = 60
    out[small] = norm * BBODY_CONSTANT * energy[small] * kT / kT**4
    out[mid] = norm * BBODY_CONSTANT * energy[mid] ** 2 / (kT**4 * np.expm1(x[mid]))
    return out


def bbody(lo, hi, kT, norm):
    """Photons/cm^2/s in each bin: XSPEC's two-point trapezoid per bin."""
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    return 0.5 * (bbody_density(lo, kT, norm) + bbody_density(hi, kT, norm)) * (hi - lo)


def powerlaw(lo, hi, gamma, norm):
    """Photons/cm^2/s in each bin: exact integral of norm * E^-gamma (norm at 1 keV)."""
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    if abs(1.0 - gamma) < 1.0e-10:
        return norm * np.log(hi / lo)
    index = 1.0 - gamma
    return norm * (hi**index - lo**index) / index


MODELS = {
    "bbody": {"function": bbody, "parameters": ("kT", "norm"), "units": ("keV", "")},
    "powerlaw": {"function": powerlaw, "parameters": ("PhoIndex", "norm"), "units": ("", "")},
}
"""Parameter names follow XSPEC (they become the results table's column names)."""


def photon_flux(model: str, params, lo, hi):
    return MODELS[model]["function"](lo, hi, *params)


@functools.lru_cache(maxsize=64)
def band_grid(e_lo: float, e_hi: float, n_bins: int = 2000):
    """(lo, hi) edges of ``n_bins`` log-spaced bins over [e_lo, e_hi] keV (read-only, cached:
    fluxes are evaluated at every step of a flux-profile search)."""
    edges = np.geomspace(e_lo, e_hi, n_bins + 1)
    edges.setflags(write=False)
    return edges[:-1], edges[1:]


def energy_flux(model: str, params, e_lo: float, e_hi: float) -> float:
    """Energy flux (erg/cm^2/s) in [e_lo, e_hi] keV, as XSPEC's calcFlux sums it:
    photons per bin times the bin's mean energy."""
    lo, hi = band_grid(e_lo, e_hi)
    photons = photon_flux(model, params, lo, hi)
    return float(np.sum(photons * 0.5 * (lo + hi)) * KEV_TO_ERG)


def norm_for_energy_flux(model: str, shape: float, flux: float, e_lo: float, e_hi: float) -> float:
    """The norm that gives ``flux`` erg/cm^2/s in [e_lo, e_hi] keV (models are linear in norm)."""
    return flux / energy_flux(model, (shape, 1.0), e_lo, e_hi)


# ---------------------------------------------------------------- the start of every fit

START_GRIDS = {
    "bbody": np.geomspace(0.03, 3.0, 25),  # kT (keV): 5 points per decade
    "powerlaw": np.linspace(-1.0, 6.0, 29),  # PhoIndex: steps of 0.25
}
"""The coarse scan that starts every fit, in both fitters: the statistic at each value of
the model's shape parameter (its first parameter) with the norm fitted, then the full fit
from the grid point with the lowest statistic. Every value is inside the parameter's soft
limits in both fitters (kT 0.01-100 keV, PhoIndex -2 to 9)."""


def shape_parameter(model: str) -> str:
    """The model's shape parameter (kT, PhoIndex): every parameter but the norm."""
    return MODELS[model]["parameters"][0]


def start_grid(model: str) -> tuple[str, np.ndarray]:
    """(shape parameter name, grid values) of the start scan of ``model``."""
    if model not in START_GRIDS:
        raise KeyError(f"no start grid for model {model!r}; known models: {', '.join(MODELS)}")
    return shape_parameter(model), START_GRIDS[model].copy()


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
def unit_energy_flux(model: str, shape: float, e_lo: float, e_hi: float) -> float:
    """Energy flux (erg/cm^2/s) in [e_lo, e_hi] keV of ``model`` with norm 1 (cached: a
    profile search evaluates the same shape many times)."""
    return energy_flux(model, (float(shape), 1.0), float(e_lo), float(e_hi))
