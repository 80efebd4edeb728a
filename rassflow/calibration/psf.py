"""ROSAT PSPC point-spread function: pointed (on- and off-axis) and RASS survey-averaged.

Pointed PSF
-----------
The analytic PSPC + XMA model of Hasinger et al.: OGIP Calibration Memo CAL/ROS/92-001
(on-axis; Hasinger, Turner, George & Boese 1992, Legacy 2, 77; addendum CAL/ROS/92-001a,
Legacy 3, 46) extended off-axis in CAL/ROS/93-015 (Hasinger et al. 1994, Legacy 4). The
coefficients below are the ones of that off-axis model as coded in function ``PSFOFF``
(G. Hasinger Feb 1992; off-axis dependence and exponential fraction updated Apr 1993;
scattering fraction changed by R. Yusaf Jul 1993), which HEASoft's ``pcrpsf`` ftool calls
(pcrpsf help: "valid over 0.07-3.0 keV and all off-axis angles ... CAL/ROS/93-015"); the
same numbers are in the ROSAT User's Handbook (RUH) section 4.1.2. The surface brightness
is a sum of three terms (the memo: "their angular domains are reasonably well separated that
a simple addition is accurate enough"), with ``E`` in keV, the off-axis angle ``eps`` in
arcmin and the radius ``x`` in arcsec:

1. Gaussian, the PSPC's intrinsic resolution, with the mirror's off-axis blur and the
   attitude residual added in quadrature::

       sigma^2 = 108.7 E^-0.888 + 1.121 E^6      (detector)
               + 0.219 eps^2.848                 (XMA off-axis blur)
               + ATTITUDE_SIGMA_ARCSEC^2         (residual attitude error, see below)
       p1(x) = a1 / (2 pi sigma^2) exp(-x^2 / (2 sigma^2))

2. Exponential, from the finite penetration depth of the X-rays in the counter gas (the
   PSPC is focussed for 1 keV)::

       rc = sqrt(50.61 E^-1.472 + 6.80 E^5.62)
       p2(x) = a2 / (2 pi rc^2) exp(-x / rc)

3. Mirror scattering: a Lorentzian that breaks into a power law::

       b1 = 39.95 / E,  b2 = 861.9 / E,  alpha = 2.119 + 0.212 E
       p3(x) = n3 / (b1^2 + x^2)                        x <= b2
             = n3 / (b1^2 + b2^2) (x / b2)^-alpha      x >  b2

Fractions::

       a3 = 0.075 E^1.43                                   (92-001 had 0.059)
       a2 = min(10^(-1.635 + 0.639 E + 0.052 E^2) exp(-0.5 (eps / 12)^2), 1 - a3)
       a1 = 1 - a2 - a3

(``min`` is the memo's cure of the "exponential artefact" above 2 keV; the Gaussian decay of
``a2`` with ``eps`` models the Gaussian "eating up" the exponential off-axis.)

Departures from ``PSFOFF``, all deliberate:

- The scattering wing falls as ``x^-alpha`` with ``alpha ~ 2.2-2.5``; integrated to infinity
  it leaves 1.4 % (0.5 keV) to 2.6 % (1.5 keV) of the counts beyond 60'. The model is not calibrated
  that far out (CAL/ROS/92-001a compares to data out to ~10'; ``pcrpsf`` defaults to 10'),
  and any real analysis counts photons that far out as background. The scattering term is
  therefore truncated at ``TRUNCATION_RADIUS_ARCMIN`` = 60' and renormalised so that ``a3``
  is its fraction inside 60'. Encircled fractions are thus relative to the counts inside 60'.
- The normalisation of the scattering term uses the natural logarithm, as ``PSFOFF`` does
  (``LOG``); an IDL translation circulating with it uses ``alog10``, which is wrong (the
  integral of ``2 pi x / (b1^2 + x^2)`` is ``pi ln(1 + x^2 / b1^2)``).
- The energy is clamped to the model's range, ``ENERGY_RANGE_KEV`` = 0.07-3.0 keV (the
  ``PSFOFF`` / ``pcrpsf`` validity range); an ARF grid reaching 0.05 keV gets the 0.07 keV
  PSF there. Below 0.15-0.2 keV the PSPC has "ghost images" the model does not describe
  (CAL/ROS/92-001; 92-001a confirms the model above 0.19 keV).
- The attitude residual is folded into the Gaussian only. Blurring the other terms too (a
  true convolution) changes the encircled fraction, to first order in sigma^2, by
  ``pi sigma_att^2 r p'(r)``: for the exponential ``-(a2 sigma_att^2 / 2 rc^2) (r/rc)
  exp(-r/rc)``, at most -0.0065 (on-axis, 1.5 keV, r ~ rc ~ 10"), below 2e-3 beyond 1';
  for the scattering core ~1e-4. In the survey average it is below 1e-3 everywhere.

Survey PSF
----------
In scanning mode every source crosses the whole field of view, so the RASS PSF is the
pointed PSF averaged over off-axis angle, weighted by the time spent at each angle and by the
effective area there (Boese 2000, A&AS 141, 507, sect. 3.4). Over a survey the scans cover
the field uniformly, so the time at ``theta`` is proportional to ``theta`` (the annulus
area) for ``theta <= FOV_RADIUS_ARCMIN``, and the counts additionally to the vignetting::

    EEF_survey(E, r) = int_0^R EEF(E, r, theta) theta V(theta) dtheta
                       / int_0^R theta V(theta) dtheta,       R = FOV_RADIUS_ARCMIN

``survey_eef`` interpolates a table of this integral on an (energy, radius) grid, computed
once per vignetting function and PSF description and cached.

A second description: the ROSAT GOF FAQ's
-----------------------------------------
The ROSAT GOF FAQ "What does the PSF look like?" (pspc_psf_faq1, 2/15/94) gives a simpler
description: a Gaussian whose FWHM adds the detector's and the telescope's in quadrature,

    FWHM_det^2 = 409.65 / E + 69.28 E^2.88 + 66.29     (arcsec^2, E keV)
    FWHM_tel   = 0.29 eps^1.74                          (arcsec, eps arcmin)

without the exponential and the scattering wing (the constant 66.29 arcsec^2, FWHM 8.1",
carries the attitude residual; nothing is added for it). The FAQ prints "(in arcmin)" above
the telescope formula, but 0.29 eps^1.74 is in arcsec (0.3" on-axis, 53" at 20'). Averaged
over the survey as above (``model="gof_faq"``) it holds 73-74 % of a source inside 2'
at 0.2-2 keV against PSFOFF's 62-65 %, and 13 % (PSFOFF 14-16 %) in the 2.1'-3' annulus:
both descriptions are published, and the survey's own sources tell which holds: a run
calibrates the mixture ``(1 - w) PSFOFF + w GOF FAQ`` (``model=w``, :func:`mixture_weight`)
on its bright isolated sources (:mod:`rassflow.calibration.psf_stack`) and carries the
weight's interval as a systematic (``rassflow.products.responses.psf_systematic``); taken on
trust instead (``responses.psf: psfoff``), PSFOFF is used and the difference to the GOF FAQ's
is the systematic.
"""

from __future__ import annotations

import functools

import numpy as np

# Field-of-view radius of the PSPC in the survey: a source is seen out to ~57' off-axis
# (project fact sheet section 11; Boese 2000 sect. 3.4 averages the pointed PSF over it).
FOV_RADIUS_ARCMIN = 57.0
# The scattering wing is truncated (and renormalised) here; see the module docstring.
TRUNCATION_RADIUS_ARCMIN = 60.0
# Validity range of the analytic PSF (pcrpsf help, PSFOFF: 0.07-3 keV); energies are clamped.
ENERGY_RANGE_KEV = (0.07, 3.0)
# Residual attitude error per axis (arcsec). The ROSAT GOF PSF FAQ (pspc_psf_faq1) gives
# "residual blur due to the wobble not being completely removed by the attitude solution
# (approximately +/- 5 arcsec)"; read as a 5" rms radial error, i.e. 5 / sqrt(2) per axis.
# (The FAQ's own detector FWHM formula has a constant 66.29 arcsec^2 term, FWHM 8.1" = sigma
# 3.5", which is consistent.) Boese (2000, sect. 4) models the jitter but gives no number.
ATTITUDE_SIGMA_ARCSEC = 5.0 / np.sqrt(2.0)

# --- Hasinger et al. coefficients (CAL/ROS/93-015 as coded in PSFOFF; RUH sect. 4.1.2) ---
# Gaussian: sigma_det^2 = 108.7 E^-0.888 + 1.121 E^6 arcsec^2
DET_SIGMA2_COEFFS = (108.7, -0.888, 1.121, 6.0)
# XMA off-axis blur: sigma_tel^2 = 0.219 eps^2.848 arcsec^2, eps in arcmin (same value in
# PSFOFF, in E. Schlegel's psf_scal.f and in V. Kashyap's rosatpsf.pro / PROS prfrospspc;
# the GOF FAQ's rougher FWHM = 0.29 eps^1.74" is narrower by up to 1.5x at 20-40')
TEL_SIGMA2_COEFFS = (0.219, 2.848)
# Exponential e-folding angle: rc^2 = 50.61 E^-1.472 + 6.80 E^5.62 arcsec^2
EXP_RC2_COEFFS = (50.61, -1.472, 6.80, 5.62)
# Exponential fraction: 10^(c0 + c1 E + c2 E^2) x exp(-0.5 (eps / eps0)^2), eps0 = 12'
EXP_FRACTION_COEFFS = (-1.635, 0.639, 0.052)
EXP_FRACTION_EPS0_ARCMIN = 12.0
# Scattering fraction a3 = 0.075 E^1.43 (changed from 92-001's 0.059 in Jul 1993, PSFOFF)
SCAT_FRACTION_COEFFS = (0.075, 1.43)
# Lorentzian break angles b1 = 39.95 / E, b2 = 861.9 / E arcsec; slope 2.119 + 0.212 E
SCAT_BREAK1_ARCSEC_KEV = 39.95
SCAT_BREAK2_ARCSEC_KEV = 861.9
SCAT_SLOPE_COEFFS = (2.119, 0.212)

# Default vignetting: V(theta) = 1 - VIGNETTING_EDGE_LOSS (theta / FOV_RADIUS_ARCMIN)^2.
# An assumed approximation: no parametric PSPC vignetting was found in the public record (the
# RUH section "Vignetting" (2.3) says the pre-flight function, a double power law, agrees with
# the survey detector maps of Snowden et al. 1994, but the CALDB table is not in this
# project). The form keeps the documented loss of < 10 % inside 10' at all energies (RUH,
# XRT vignetting, Fig. 5.12) and assumes ~55 % of the on-axis area at the field edge; it is
# the form the offline demo's instrument model uses. The energy dependence is ignored.
VIGNETTING_EDGE_LOSS = 0.45

REFERENCES = (
    "Hasinger G., Turner T.J., George I.M., Boese G. 1992, OGIP Calibration Memo "
    "CAL/ROS/92-001, Legacy 2, 77 (PSPC on-axis PSF)",
    "Hasinger G., Boese G. 1992 (rev. 1995), OGIP Calibration Memo CAL/ROS/92-001a, "
    "Legacy 3, 46 (high signal-to-noise in-flight check)",
    "Hasinger G., Boese G., Predehl P., Turner T.J., Yusaf R., George I.M., Rohrbach G. 1994, "
    "OGIP Calibration Memo CAL/ROS/93-015, Legacy 4 (off-axis PSF)",
    "HEASoft ftools pcrpsf (R. Yusaf) and function PSFOFF (G. Hasinger 1992, updated 1993)",
    "ROSAT User's Handbook, sect. 4.1.2 (PSPC PSF), sect. 2.3 (vignetting)",
    "ROSAT GOF FAQ pspc_psf_faq1: PSF components, on-axis EEF 50 % 0.22', 90 % 0.45'",
    "Boese F.G. 2000, A&AS 141, 507: the ROSAT PSFs, survey PSF, attitude jitter",
)

# The PSF descriptions survey_eef knows: Hasinger et al. as PSFOFF codes it (the analysis's),
# and the ROSAT GOF FAQ's Gaussian (see the module docstring)
PSF_MODELS = ("psfoff", "gof_faq")
# GOF FAQ (pspc_psf_faq1): FWHM_det^2 = 409.65 / E + 69.28 E^2.88 + 66.29 arcsec^2
GOF_DET_FWHM2_COEFFS = (409.65, 69.28, 2.88, 66.29)
# GOF FAQ: FWHM_tel = 0.29 eps^1.74 arcsec, eps in arcmin
GOF_TEL_FWHM_COEFFS = (0.29, 1.74)
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))

_TABLE_N_ENERGY = 81  # log-spaced over ENERGY_RANGE_KEV
_TABLE_N_RADIUS = 481  # uniform in sqrt(r / TRUNCATION_RADIUS_ARCMIN)
_TABLE_N_THETA = 64  # Gauss-Legendre nodes over [0, FOV_RADIUS_ARCMIN]


def _clamp_energy(energy_keV):
    return np.clip(np.asarray(energy_keV, dtype=float), *ENERGY_RANGE_KEV)


def pointed_components(energy_keV, theta_arcmin=0.0):
    """The three components' fractions and shape parameters (angles in arcsec).

    Returns a dict of arrays broadcast over ``energy_keV`` and ``theta_arcmin``:
    ``a1, a2, a3`` (Gaussian, exponential, scattering fractions), ``sigma`` (Gaussian width
    including the off-axis blur and attitude residual), ``rc`` (exponential e-folding),
    ``b1, b2, alpha`` (scattering breaks and slope) and ``n3`` (scattering normalisation,
    per arcsec^2, with the wing truncated at ``TRUNCATION_RADIUS_ARCMIN``).
    """
    energy, theta = np.broadcast_arrays(_clamp_energy(energy_keV), np.asarray(theta_arcmin, float))
    theta = np.abs(theta)
    c0, c1, c2 = EXP_FRACTION_COEFFS
    a2 = 10.0 ** (c0 + c1 * energy + c2 * energy**2)
    a2 = a2 * np.exp(-0.5 * (theta / EXP_FRACTION_EPS0_ARCMIN) ** 2)
    a3 = SCAT_FRACTION_COEFFS[0] * energy ** SCAT_FRACTION_COEFFS[1]
    a2 = np.minimum(a2, 1.0 - a3)
    a1 = np.maximum(1.0 - a2 - a3, 0.0)  # 0 (not -1e-17) where a2 saturates

    d0, d1, d2, d3 = DET_SIGMA2_COEFFS
    sigma2 = d0 * energy**d1 + d2 * energy**d3
    sigma2 = sigma2 + TEL_SIGMA2_COEFFS[0] * theta ** TEL_SIGMA2_COEFFS[1]
    sigma2 = sigma2 + ATTITUDE_SIGMA_ARCSEC**2
    e0, e1, e2, e3 = EXP_RC2_COEFFS
    rc = np.sqrt(e0 * energy**e1 + e2 * energy**e3)

    b1 = SCAT_BREAK1_ARCSEC_KEV / energy
    b2 = SCAT_BREAK2_ARCSEC_KEV / energy
    alpha = SCAT_SLOPE_COEFFS[0] + SCAT_SLOPE_COEFFS[1] * energy
    n3 = a3 / _scattering_integral(TRUNCATION_RADIUS_ARCMIN * 60.0, b1, b2, alpha)
    return {
        "a1": a1,
        "a2": a2,
        "a3": a3,
        "sigma": np.sqrt(sigma2),
        "rc": rc,
        "b1": b1,
        "b2": b2,
        "alpha": alpha,
        "n3": n3,
    }


def _scattering_integral(x, b1, b2, alpha):
    """int_0^x 2 pi t s(t) dt for the unit-normalisation scattering profile s (x in arcsec)."""
    x_core = np.minimum(x, b2)
    core = np.pi * np.log1p((x_core / b1) ** 2)
    ratio = np.maximum(x, b2) / b2
    wing = 2.0 * np.pi * b2**2 / ((b1**2 + b2**2) * (alpha - 2.0)) * (1.0 - ratio ** (2.0 - alpha))
    return core + wing


def pointed_psf(energy_keV, radius_arcmin, theta_arcmin=0.0):
    """Normalised PSPC surface brightness (1/arcmin^2) of a pointed observation.

    ``energy_keV`` photon energy, ``radius_arcmin`` distance from the source,
    ``theta_arcmin`` off-axis angle of the source; all broadcast. The integral of
    ``2 pi r psf dr`` from 0 to ``TRUNCATION_RADIUS_ARCMIN`` is 1.
    """
    c = pointed_components(energy_keV, theta_arcmin)
    x = np.abs(np.asarray(radius_arcmin, dtype=float)) * 60.0
    gauss = c["a1"] / (2.0 * np.pi * c["sigma"] ** 2) * np.exp(-0.5 * (x / c["sigma"]) ** 2)
    expo = c["a2"] / (2.0 * np.pi * c["rc"] ** 2) * np.exp(-x / c["rc"])
    b1, b2, alpha = c["b1"], c["b2"], c["alpha"]
    core = 1.0 / (b1**2 + x**2)
    wing = 1.0 / (b1**2 + b2**2) * (np.maximum(x, b2) / b2) ** (-alpha)
    scat = c["n3"] * np.where(x <= b2, core, wing)
    scat = np.where(x <= TRUNCATION_RADIUS_ARCMIN * 60.0, scat, 0.0)
    return (gauss + expo + scat) * 3600.0  # per arcsec^2 -> per arcmin^2


def pointed_eef(energy_keV, radius_arcmin, theta_arcmin=0.0):
    """Fraction of a pointed source's counts inside ``radius_arcmin`` (arcmin).

    Closed-form integrals of the three components of ``pointed_psf``; broadcasts over
    ``energy_keV``, ``radius_arcmin`` and ``theta_arcmin`` (off-axis angle, arcmin).
    """
    c = pointed_components(energy_keV, theta_arcmin)
    x = np.abs(np.asarray(radius_arcmin, dtype=float)) * 60.0
    gauss = c["a1"] * -np.expm1(-0.5 * (x / c["sigma"]) ** 2)
    u = x / c["rc"]
    expo = c["a2"] * (1.0 - (1.0 + u) * np.exp(-u))
    x_scat = np.minimum(x, TRUNCATION_RADIUS_ARCMIN * 60.0)
    scat = c["n3"] * _scattering_integral(x_scat, c["b1"], c["b2"], c["alpha"])
    return gauss + expo + scat


def gof_sigma_arcsec(energy_keV, theta_arcmin=0.0):
    """Gaussian sigma (arcsec) of the ROSAT GOF FAQ's PSF description at ``energy_keV`` and
    off-axis angle ``theta_arcmin`` (broadcast): the detector and telescope FWHMs in
    quadrature, over 2 sqrt(2 ln 2)."""
    energy = _clamp_energy(energy_keV)
    theta = np.abs(np.asarray(theta_arcmin, dtype=float))
    d0, d1, d2, d3 = GOF_DET_FWHM2_COEFFS
    fwhm2 = d0 / energy + d1 * energy**d2 + d3
    fwhm2 = fwhm2 + (GOF_TEL_FWHM_COEFFS[0] * theta ** GOF_TEL_FWHM_COEFFS[1]) ** 2
    return np.sqrt(fwhm2) / FWHM_PER_SIGMA


def gof_pointed_eef(energy_keV, radius_arcmin, theta_arcmin=0.0):
    """Encircled fraction of the GOF FAQ's (Gaussian) pointed PSF inside ``radius_arcmin``."""
    sigma = gof_sigma_arcsec(energy_keV, theta_arcmin)
    x = np.abs(np.asarray(radius_arcmin, dtype=float)) * 60.0
    return -np.expm1(-0.5 * (x / sigma) ** 2)


def _check_model(model):
    """A description's name, or a number: the weight w of the mixture
    ``(1 - w) PSFOFF + w GOF FAQ`` (:func:`mixture_weight`)."""
    if isinstance(model, str):
        if model not in PSF_MODELS:
            raise ValueError(f"unknown PSF description {model!r}; choose one of {PSF_MODELS}")
        return model
    weight = float(model)
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"PSF mixture weight {model!r} must lie in [0, 1]")
    return weight


def mixture_weight(model) -> float:
    """The GOF FAQ's weight w in ``(1 - w) PSFOFF + w GOF FAQ`` for a description's name
    (psfoff 0, gof_faq 1) or a weight. Both are normalised surface brightnesses, so every
    mixture is one too, and its encircled fractions are the same mixture of theirs: the
    family that :mod:`rassflow.calibration.psf_stack` fits to a survey's own sources."""
    model = _check_model(model)
    return float(model) if not isinstance(model, str) else float(PSF_MODELS.index(model))


def vignetting(theta_arcmin):
    """Default energy-independent PSPC vignetting: effective area relative to on-axis.

    ``1 - VIGNETTING_EDGE_LOSS (theta / FOV_RADIUS_ARCMIN)^2``, floored at 0 (see the
    constant's comment for what it rests on).
    """
    theta = np.asarray(theta_arcmin, dtype=float)
    return np.clip(1.0 - VIGNETTING_EDGE_LOSS * (theta / FOV_RADIUS_ARCMIN) ** 2, 0.0, 1.0)


def survey_theta_weights(vignetting_fn=None, n_theta=_TABLE_N_THETA):
    """Quadrature nodes (arcmin) and normalised weights of the survey average over theta.

    The weight is ``theta x vignetting_fn(theta)`` on [0, FOV_RADIUS_ARCMIN] (Gauss-Legendre
    nodes); the weights sum to 1.
    """
    vig = vignetting if vignetting_fn is None else vignetting_fn
    nodes, weights = np.polynomial.legendre.leggauss(n_theta)
    theta = 0.5 * FOV_RADIUS_ARCMIN * (nodes + 1.0)
    w = 0.5 * FOV_RADIUS_ARCMIN * weights * theta * np.asarray(vig(theta), dtype=float)
    if np.any(w < 0) or not np.any(w > 0):
        raise ValueError("the vignetting function must be >= 0 and not identically 0")
    return theta, w / w.sum()


def _table_energies():
    lo, hi = np.log(ENERGY_RANGE_KEV[0]), np.log(ENERGY_RANGE_KEV[1])
    return np.linspace(lo, hi, _TABLE_N_ENERGY)


def _table_u():
    return np.linspace(0.0, 1.0, _TABLE_N_RADIUS)  # radius = TRUNCATION * u^2


def _survey_table(vignetting_fn, model="psfoff"):
    """EEF table (n_energy, n_radius); rows: log-spaced energies, columns: u = sqrt(r / R).
    A mixture weight (see :func:`mixture_weight`) mixes the two descriptions' tables."""
    weight = mixture_weight(model)
    if weight in (0.0, 1.0):
        return _description_table(vignetting_fn, PSF_MODELS[int(weight)])
    return _mixed_table(vignetting_fn, weight)


@functools.lru_cache(maxsize=8)
def _mixed_table(vignetting_fn, weight: float):
    table = (1.0 - weight) * _description_table(vignetting_fn, "psfoff")
    table = table + weight * _description_table(vignetting_fn, "gof_faq")
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=8)
def _description_table(vignetting_fn, model="psfoff"):
    pointed = {"psfoff": pointed_eef, "gof_faq": gof_pointed_eef}[model]
    log_e = _table_energies()
    radius = TRUNCATION_RADIUS_ARCMIN * _table_u() ** 2
    theta, w = survey_theta_weights(vignetting_fn)
    table = np.empty((log_e.size, radius.size))
    for i, energy in enumerate(np.exp(log_e)):
        eef = pointed(energy, radius[None, :], theta[:, None])  # (n_theta, n_radius)
        table[i] = w @ eef
    # exact by construction for PSFOFF (all components normalised inside 60'); the Gaussian
    # leaves < 1e-30 outside
    table[:, -1] = 1.0
    table.setflags(write=False)
    return table


def _energy_index(energy_keV):
    log_e = np.log(_clamp_energy(energy_keV))
    grid = _table_energies()
    pos = (log_e - grid[0]) / (grid[1] - grid[0])
    i = np.clip(np.floor(pos).astype(int), 0, grid.size - 2)
    return i, pos - i


def _survey_rows(energy_keV, vignetting_fn, model="psfoff"):
    """The table interpolated (linearly in log E) to each energy: shape energy.shape + (n_r,)."""
    table = _survey_table(vignetting_fn, model)
    i, f = _energy_index(energy_keV)
    return table[i] * (1.0 - f[..., None]) + table[i + 1] * f[..., None]


def survey_eef(energy_keV, radius_arcmin, vignetting_fn=None, model="psfoff"):
    """RASS survey encircled-energy fraction: counts inside ``radius_arcmin`` / counts inside 60'.

    ``energy_keV`` and ``radius_arcmin`` broadcast (e.g. a 700-energy ARF grid and one
    radius). ``vignetting_fn(theta_arcmin)`` replaces the default vignetting; the table is
    cached per function object, so pass the same object to reuse it. Bilinear interpolation
    of the cached table in (log E, sqrt(r)): ~1e-5 typical, <= 4e-4 absolute (near 2.8 keV,
    where the exponential fraction saturates). ``model``: the PSF description, ``psfoff``
    (Hasinger et al.) or ``gof_faq`` (the GOF FAQ's Gaussian), or the GOF FAQ's weight in a
    mixture of the two (:func:`mixture_weight`).
    """
    table = _survey_table(vignetting_fn, model)
    energy, radius = np.broadcast_arrays(
        np.asarray(energy_keV, float), np.abs(np.asarray(radius_arcmin, float))
    )
    i, f = _energy_index(energy)
    u = np.sqrt(np.minimum(radius, TRUNCATION_RADIUS_ARCMIN) / TRUNCATION_RADIUS_ARCMIN)
    pos = u * (_TABLE_N_RADIUS - 1)
    j = np.clip(np.floor(pos).astype(int), 0, _TABLE_N_RADIUS - 2)
    g = pos - j
    lower = table[i, j] * (1.0 - g) + table[i, j + 1] * g
    upper = table[i + 1, j] * (1.0 - g) + table[i + 1, j + 1] * g
    return lower * (1.0 - f) + upper * f


def survey_annulus_fraction(
    energy_keV, r_in_arcmin, r_out_arcmin, vignetting_fn=None, model="psfoff"
):
    """Fraction of a survey source's counts between ``r_in_arcmin`` and ``r_out_arcmin``."""
    outer = survey_eef(energy_keV, r_out_arcmin, vignetting_fn, model)
    inner = survey_eef(energy_keV, r_in_arcmin, vignetting_fn, model)
    return outer - inner


def survey_radius_for_eef(energy_keV, fraction, vignetting_fn=None, model="psfoff"):
    """Radius (arcmin) inside which the survey PSF holds ``fraction`` (0 < fraction < 1).

    E.g. ``fraction=0.75``, the aperture of the eRASS1 upper-limit server. The exact inverse
    of ``survey_eef`` (same interpolation), broadcast over ``energy_keV`` and ``fraction``.
    """
    energy, frac = np.broadcast_arrays(np.asarray(energy_keV, float), np.asarray(fraction, float))
    if np.any((frac <= 0.0) | (frac >= 1.0)):
        raise ValueError("fraction must lie strictly between 0 and 1")
    rows = _survey_rows(
        energy, vignetting_fn, model
    )  # (..., n_r), non-decreasing along the last axis
    flat = rows.reshape(-1, _TABLE_N_RADIUS)
    target = frac.reshape(-1)
    # first column whose EEF reaches the target (column 0 is 0 < target)
    j = np.argmax(flat >= target[:, None], axis=1) - 1
    j = np.clip(j, 0, _TABLE_N_RADIUS - 2)
    k = np.arange(flat.shape[0])
    lo, hi = flat[k, j], flat[k, j + 1]
    step = np.where(hi > lo, hi - lo, 1.0)
    u = (j + np.clip((target - lo) / step, 0.0, 1.0)) / (_TABLE_N_RADIUS - 1)
    return (TRUNCATION_RADIUS_ARCMIN * u**2).reshape(frac.shape)


# --- the PSF an analysis uses ----------------------------------------------------------------

# ``psf`` settings: the description (psfoff, gof_faq or calibrated), the GOF FAQ's weight in
# the mixture (mixture_weight) and the range of weights the PSF systematic spans. Without a
# calibration: PSFOFF, with the GOF FAQ's description as the other end of the systematic.
FIXED_PSF = {
    "psfoff": {"description": "psfoff", "weight": 0.0, "low": 0.0, "high": 1.0},
    "gof_faq": {"description": "gof_faq", "weight": 1.0, "low": 0.0, "high": 1.0},
}


def analysis_psf(psf: dict | None) -> dict:
    """The ``psf`` settings, PSFOFF's (:data:`FIXED_PSF`) when None (no calibration given)."""
    return dict(FIXED_PSF["psfoff"] if psf is None else psf)


def systematic_weights(psf: dict | None) -> tuple[float, ...]:
    """The ends of the weights the PSF systematic spans that differ from the weight used
    (uncalibrated: the other description only)."""
    psf = analysis_psf(psf)
    ends = (float(psf["low"]), float(psf["high"]))
    return tuple(end for end in ends if end != psf["weight"]) or (float(psf["weight"]),)


def far_weight(psf: dict | None) -> float:
    """The end of the systematic's range farthest from the weight used: the other
    description for a fixed one, the interval's farther end for a calibration."""
    psf = analysis_psf(psf)
    low, high, weight = float(psf["low"]), float(psf["high"]), float(psf["weight"])
    return high if high - weight >= weight - low else low
