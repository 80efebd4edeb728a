"""Monte Carlo photon offsets for the RASS (scanning-mode) PSPC point-spread function.

The simulator's own implementation of the published PSF, written independently of
``rassflow.calibration.psf`` and by a different method: that module integrates the pointed
PSF's closed-form encircled fractions over off-axis angle; this one samples. Per photon:

1. A scan position. During the survey the scans sweep every source uniformly across the
   field of view, so the source's place in the detector is a uniform random point of the
   FOV disk (radius ``FOV_RADIUS_ARCMIN``); the photon is detected with a probability equal
   to the vignetting there (rejection sampling). The off-axis angle ``theta`` thus follows
   ``theta x V(theta)``, the weighting of Boese (2000, A&AS 141, 507, sect. 3.4).
2. A PSF component, with the fractions of the pointed PSPC PSF at that ``theta``, and an
   offset drawn from it (Hasinger et al., OGIP memos CAL/ROS/92-001 on-axis and
   CAL/ROS/93-015 off-axis, the coefficients as coded in HEASoft ``pcrpsf``'s function
   ``PSFOFF`` and in the ROSAT User's Handbook sect. 4.1.2; ``E`` keV, ``theta`` arcmin,
   angles arcsec):

   - Gaussian (detector resolution + mirror off-axis blur in quadrature):
     ``sigma^2 = 108.7 E^-0.888 + 1.121 E^6 + 0.219 theta^2.848``; a 2-D normal deviate.
   - Exponential (X-ray penetration into the counter gas): surface brightness
     ``exp(-r / rc)``, ``rc = sqrt(50.61 E^-1.472 + 6.80 E^5.62)``; the radius then has the
     density ``r exp(-r / rc)``, a Gamma(2, rc) deviate, at a uniform azimuth.
   - Mirror scattering: ``1 / (b1^2 + r^2)`` up to ``b2``, then ``(r / b2)^-alpha``
     continuously, with ``b1 = 39.95 / E``, ``b2 = 861.9 / E``, ``alpha = 2.119 + 0.212 E``,
     truncated at ``SCATTER_TRUNCATION_ARCMIN``; the radius by the closed-form inverse of
     the enclosed fraction ``int 2 pi r p(r) dr``, at a uniform azimuth.

   Fractions: scattering ``a3 = 0.075 E^1.43``; exponential
   ``a2 = min(10^(-1.635 + 0.639 E + 0.052 E^2) exp(-(theta / 12)^2 / 2), 1 - a3)``;
   Gaussian ``a1 = 1 - a2 - a3``.
3. The attitude residual: a 2-D normal deviate of ``ATTITUDE_JITTER_SIGMA_ARCSEC`` per axis
   added to every photon (a true convolution; the calibration module folds it into the
   Gaussian only, which overestimates the pointed on-axis EEF near r ~ 10" by up to 0.0065
   at 1-2 keV and the survey EEF by less than 1e-3).

Energies are clamped to ``ENERGY_RANGE_KEV`` (the model's validity range), as in the
calibration module.

A second description, ``model="gof_faq"``: the ROSAT GOF FAQ's (pspc_psf_faq1, 2/15/94)
single Gaussian, ``FWHM^2 = 409.65 / E + 69.28 E^2.88 + 66.29 + (0.29 theta^1.74)^2``
arcsec^2 (detector and telescope FWHMs in quadrature; the constant term carries the
attitude residual, so no jitter is added), with no exponential and no scattering wing.
Step 1 (scan position) is the same; the photon's offset is one 2-D normal deviate.
"""

from __future__ import annotations

import numpy as np

# The survey field of view: sources are seen out to ~57' off-axis (project fact sheet sect. 11)
FOV_RADIUS_ARCMIN = 57.0
# The scattering wing is cut here (uncut, its x^-2.3 tail puts 1.4-2.6 % of the counts beyond 1 deg)
SCATTER_TRUNCATION_ARCMIN = 60.0
# Validity range of the Hasinger et al. PSF (pcrpsf help / PSFOFF: 0.07-3 keV)
ENERGY_RANGE_KEV = (0.07, 3.0)
# Attitude residual: "approximately +/- 5 arcsec" (ROSAT GOF FAQ pspc_psf_faq1), taken as a
# 5" rms radial error, 5 / sqrt(2) per axis
ATTITUDE_JITTER_SIGMA_ARCSEC = 5.0 / np.sqrt(2.0)
# Vignetting, energy-independent: V = 1 - 0.45 (theta / 57')^2 (an approximation: < 10 % loss
# inside 10', ~55 % of the on-axis area at the edge; the demo instrument model's form)
VIGNETTING_EDGE_LOSS = 0.45

# Hasinger et al. coefficients (CAL/ROS/93-015; PSFOFF; RUH sect. 4.1.2)
_SIG_DET = (108.7, -0.888, 1.121, 6.0)  # sigma_det^2 = 108.7 E^-0.888 + 1.121 E^6 [arcsec^2]
_SIG_MIRROR = (0.219, 2.848)  # sigma_mirror^2 = 0.219 theta^2.848 [arcsec^2, theta arcmin]
_EXP_RC = (50.61, -1.472, 6.80, 5.62)  # rc^2 = 50.61 E^-1.472 + 6.80 E^5.62 [arcsec^2]
_EXP_FRAC = (-1.635, 0.639, 0.052, 12.0)  # log10 coefficients; theta decay scale [arcmin]
_SCAT_FRAC = (0.075, 1.43)  # a3 = 0.075 E^1.43
_SCAT_SHAPE = (39.95, 861.9, 2.119, 0.212)  # b1 E, b2 E [arcsec keV]; alpha = 2.119 + 0.212 E
# ROSAT GOF FAQ pspc_psf_faq1: FWHM_det^2 = 409.65/E + 69.28 E^2.88 + 66.29 [arcsec^2];
# FWHM_tel = 0.29 theta^1.74 [arcsec, theta arcmin]
_GOF_DET_FWHM2 = (409.65, 69.28, 2.88, 66.29)
_GOF_TEL_FWHM = (0.29, 1.74)
PSF_MODELS = ("psfoff", "gof_faq")


def vignetting(theta_arcmin):
    """Effective area at off-axis angle ``theta_arcmin`` relative to on-axis (<= 1)."""
    theta = np.asarray(theta_arcmin, dtype=float)
    return np.clip(1.0 - VIGNETTING_EDGE_LOSS * (theta / FOV_RADIUS_ARCMIN) ** 2, 0.0, 1.0)


def sample_scan_theta(rng, n, vignetting_fn=vignetting):
    """Off-axis angles (arcmin) of ``n`` detected survey photons.

    A uniform point of the FOV disk per trial (uniform in the bounding square, kept inside
    the circle), accepted with probability ``vignetting_fn(theta)``; repeated until ``n``
    are accepted.
    """
    out = np.empty(0)
    while out.size < n:
        m = int(1.3 * 2.0 * (n - out.size)) + 64
        x, y = rng.uniform(-FOV_RADIUS_ARCMIN, FOV_RADIUS_ARCMIN, size=(2, m))
        theta = np.hypot(x, y)
        keep = (theta <= FOV_RADIUS_ARCMIN) & (rng.random(m) < vignetting_fn(theta))
        out = np.concatenate([out, theta[keep]])
    return out[:n]


def _scattering_radii(rng, energy_keV):
    """One scattering-component radius (arcsec) per photon energy, by the exact inverse CDF.

    With ``p(r) = 1 / (b1^2 + r^2)`` for ``r <= b2`` and ``(r / b2)^-alpha / (b1^2 + b2^2)``
    beyond, the enclosed ``int 2 pi r p dr`` is ``pi ln(1 + r^2 / b1^2)`` inside ``b2`` and
    adds ``2 pi b2^2 ((r / b2)^(2 - alpha) - 1) / ((2 - alpha)(b1^2 + b2^2))`` beyond; both
    invert in closed form, so every photon is drawn exactly and in one vectorised pass.
    """
    energy = np.asarray(energy_keV, dtype=float).ravel()
    if energy.size == 0:
        return np.empty(0)
    b1 = _SCAT_SHAPE[0] / energy
    b2 = _SCAT_SHAPE[1] / energy
    alpha = _SCAT_SHAPE[2] + _SCAT_SHAPE[3] * energy
    r_max = SCATTER_TRUNCATION_ARCMIN * 60.0
    knee = np.minimum(b2, r_max)
    inner = np.pi * np.log1p((knee / b1) ** 2)  # enclosed up to the knee (or the truncation)
    slope = 2.0 - alpha  # < 0 for every energy in range (alpha >= 2.13)
    outer_scale = 2.0 * np.pi * b2**2 / (slope * (b1**2 + b2**2))
    outer = np.where(b2 < r_max, outer_scale * ((r_max / b2) ** slope - 1.0), 0.0)
    target = rng.random(energy.size) * (inner + outer)
    in_core = target <= inner
    radius = np.empty(energy.size)
    radius[in_core] = b1[in_core] * np.sqrt(np.expm1(target[in_core] / np.pi))
    wing = ~in_core
    radius[wing] = b2[wing] * (1.0 + (target[wing] - inner[wing]) / outer_scale[wing]) ** (
        1.0 / slope[wing]
    )
    return np.minimum(radius, r_max)


def sample_offsets(
    rng, energy_keV_array, vignetting_fn=vignetting, theta_arcmin=None, model="psfoff"
):
    """Sky offsets (dx, dy) in arcsec of detected survey photons from their source.

    ``rng`` a ``numpy.random.Generator``; ``energy_keV_array`` one photon energy per photon.
    Each photon gets its own scan position (off-axis angle), PSF component and attitude
    jitter; see the module docstring. Returns two float arrays of the input's shape.
    ``theta_arcmin`` (broadcast to the energies) fixes the off-axis angles instead: the
    pointed-mode PSF at those angles (``vignetting_fn`` is then unused). ``model``: the
    PSF description, ``psfoff`` (Hasinger et al.) or ``gof_faq`` (the GOF FAQ's Gaussian).
    """
    if model not in PSF_MODELS:
        raise ValueError(f"unknown PSF description {model!r}; choose one of {PSF_MODELS}")
    energy_in = np.asarray(energy_keV_array, dtype=float)
    energy = np.clip(energy_in.ravel(), *ENERGY_RANGE_KEV)
    n = energy.size
    if theta_arcmin is None:
        theta = sample_scan_theta(rng, n, vignetting_fn)
    else:
        theta = np.abs(np.broadcast_to(np.asarray(theta_arcmin, float), energy_in.shape)).ravel()
    if model == "gof_faq":
        d0, d1, d2, d3 = _GOF_DET_FWHM2
        fwhm2 = (
            d0 / energy + d1 * energy**d2 + d3 + (_GOF_TEL_FWHM[0] * theta ** _GOF_TEL_FWHM[1]) ** 2
        )
        sigma = np.sqrt(fwhm2 / (8.0 * np.log(2.0)))
        dx = rng.normal(size=n) * sigma
        dy = rng.normal(size=n) * sigma
        return dx.reshape(energy_in.shape), dy.reshape(energy_in.shape)

    a3 = _SCAT_FRAC[0] * energy ** _SCAT_FRAC[1]
    c0, c1, c2, theta0 = _EXP_FRAC
    a2 = 10.0 ** (c0 + c1 * energy + c2 * energy**2) * np.exp(-0.5 * (theta / theta0) ** 2)
    a2 = np.minimum(a2, 1.0 - a3)
    a1 = 1.0 - a2 - a3

    pick = rng.random(n)
    is_gauss = pick < a1
    is_exp = ~is_gauss & (pick < a1 + a2)
    is_scat = ~(is_gauss | is_exp)

    dx = np.empty(n)
    dy = np.empty(n)

    s0, s1, s2, s3 = _SIG_DET
    sigma = np.sqrt(
        s0 * energy[is_gauss] ** s1
        + s2 * energy[is_gauss] ** s3
        + _SIG_MIRROR[0] * theta[is_gauss] ** _SIG_MIRROR[1]
    )
    dx[is_gauss] = rng.normal(size=sigma.size) * sigma
    dy[is_gauss] = rng.normal(size=sigma.size) * sigma

    r0, r1, r2, r3 = _EXP_RC
    rc = np.sqrt(r0 * energy[is_exp] ** r1 + r2 * energy[is_exp] ** r3)
    radius_exp = rng.gamma(2.0, rc)
    radius_scat = _scattering_radii(rng, energy[is_scat])

    for sel, radius in ((is_exp, radius_exp), (is_scat, radius_scat)):
        phi = rng.uniform(0.0, 2.0 * np.pi, size=radius.size)
        dx[sel] = radius * np.cos(phi)
        dy[sel] = radius * np.sin(phi)

    dx += rng.normal(0.0, ATTITUDE_JITTER_SIGMA_ARCSEC, n)
    dy += rng.normal(0.0, ATTITUDE_JITTER_SIGMA_ARCSEC, n)
    return dx.reshape(energy_in.shape), dy.reshape(energy_in.shape)
