"""Forced aperture photometry of one sample member from its source and background spectra.

Every covered member, detected by 2RXS or not, gets the same measurement from the spectra that
:mod:`rassflow.products.spectra` extracts (a source circle and a cleaned background annulus):

- counts in the 2RXS broad band, PI 11-235 = 0.1-2.4 keV (Boller et al. 2016, A&A 588, A103,
  sec. 2.4; :data:`rassflow.pspc.BROAD_BAND`): ``N`` in the source circle, ``N_bkg`` in the
  background region, and the background expected in the circle ``B = N_bkg * BACKSCAL_src /
  BACKSCAL_bkg`` (OGIP/92-007 BACKSCAL scaling; the plug-in estimate, ``bkg_expected``);
- the known contamination ``c``: when the background spectrum has a CONTAMINATION table
  (CHANNEL, COUNTS: counts expected in the circle from catalogued neighbours' PSF wings, net of
  the BACKSCAL-scaled neighbour counts in the background region; written by the neighbour
  model, not here), its COUNTS summed over the band's channels, recorded as
  ``contamination_counts`` (0.0 without the extension). ``net_counts = N - B - c``;
- the net source counts from the posterior with the background *measured*, not known: ``N ~
  Poisson(s + c + alpha beta)``, ``N_bkg ~ Poisson(beta)``, alpha the BACKSCAL ratio, uniform
  priors on s and beta, beta marginalised analytically (Loredo 1992, in Statistical Challenges
  in Modern Astronomy, sec. 5.2; :class:`rassflow.photometry.bayes.OnOff`). It is a mixture of
  the posteriors of Kraft, Burrows & Nousek (1991, ApJ 374, 344; "KBN", eq. 7) on the known
  background c, and tends to KBN's with background B + c when the background region is large
  (alpha -> 0 at fixed B). Point estimate the posterior mode, the shortest (equal-density)
  interval at ``confidence`` (as KBN eq. 9) and the one-sided upper limit at
  ``upper_limit_confidence``. For no background (and no contamination) the upper limit is
  Gehrels' (1986, ApJ 303, 336, eq. 9 / Table 1) Poisson upper limit, and for N = 0 it is
  ``-ln(1 - CL)`` whatever the background. Treating ``B`` as known instead (KBN with B = N_bkg
  alpha) under-covers: the notebook's annulus is about as large as the circle, so B is as
  noisy as the circle's own background, and an annulus with no counts (B = 0) makes any count
  an "infinitely significant" detection (on the simulated survey 4 % of empty positions were
  "detected" at 3 sigma, tests/photometry/test_simulated.py). A negative net contamination is
  taken off the background region's counts instead (N_bkg + c / alpha, at least 0);
- the detection probability: the background-only tail probability ``P(X >= N)`` averaged over
  the background's posterior (Cousins, Linnemann & Tucker 2008, NIM A 595, 480, "Z_Gamma"),
  which without contamination is the conditional binomial test of the two counts
  (Przyborowski & Wilenski 1940, Biometrika 31, 313; Cousins et al.'s "Z_Bi"), whose
  false-positive rate is at most its level for every background, and its one-sided
  Gaussian-equivalent significance. With few counts that p-value is discrete and the test
  fires less often than it promises (0.06 % of blank positions at 3 sigma, not 0.135 %), so
  ``detected`` (at ``detection_sigma``) uses by default (``detection_test: randomized``) the
  randomized p-value ``P(X > N) + U P(X = N)`` (``detection_p_randomized``; Stevens 1950,
  Biometrika 37, 117), the uniformly most powerful unbiased test given N + N_bkg (Lehmann &
  Romano 2005, Testing Statistical Hypotheses, 3rd ed., sec. 4.5), whose false-positive rate
  is exactly the promised one; U in (0, 1) is fixed by the member's id_name
  (:func:`rassflow.photometry.bayes.randomization_uniform`). ``detection_test: exact`` takes
  the conservative p-value instead;
- the deblending noise: the neighbours' counts are estimated from the counts around them,
  with the 1-sigma error ``deblending_sigma_counts`` (the CONTAMINATION table's VARIANCE
  summed over the band and, in quadrature, its PSFSHIFT: the estimate under the other PSF
  description less this one, summed over the band); the counts interval and upper limit are widened by it in
  quadrature (:func:`rassflow.products.contamination.widen_for_deblending`);
- the PSF systematic: the ARF's aperture correction uses PSFOFF; under the ROSAT GOF FAQ's
  description rates and fluxes would be (``psf_sys_lo``, ``psf_sys_hi``) times these
  (:func:`rassflow.products.responses.psf_systematic`), so the rate and flux intervals and
  upper limits extend to hold either (``psf_model``, ``bkg_inner_arcmin``,
  ``bkg_outer_arcmin`` record the description and the background annulus);
- the rate ``counts / (EXPOSURE * eef)``. EXPOSURE is the exposure map at the source, which for
  RASS already carries the scan's vignetting (fact sheet §11), so the on-axis area is the
  right effective area. ``eef`` is the fraction of a source's broad-band counts that the
  extraction keeps: the counts the ECF model predicts with the source's ARF over the counts it
  predicts with the on-axis area of the SPECRESP file (both folded through the RMF, OGIP
  CAL/GEN/92-002). When the ARF carries the survey-PSF correction
  (:func:`rassflow.products.responses.apply_psf_correction`, ``PSFCORR = T``: the encircled
  fraction of the circle minus the BACKSCAL-scaled fraction in the annulus, survey PSF of
  Boese 2000, A&AS 141, 507) this is that correction averaged over the model spectrum; for an
  uncorrected on-axis ARF it is 1. The ratio is taken whatever the ARF is, so a pcarf ARF
  (its own off-axis weighting) makes ``eef`` include that weighting too;
- 2RXS hardness ratios HR1 = (B - A) / (B + A), HR2 = (D - C) / (D + C) with A = PI 11-41,
  B = PI 52-201, C = PI 52-90, D = PI 91-201 (Boller et al. 2016) from each band's source
  counts and its known background, the scaled background counts plus the band's
  contamination (at least 0): posterior median and equal-tail interval of the Bayesian ratio
  (Park et al. 2006, ApJ 652, 610, with KBN's known-background posterior per band;
  :mod:`rassflow.photometry.hardness`);
- energy conversion factors (erg cm^-2 per count): the energy flux of the ECF model in each
  flux band over its broad-band count rate folded through the on-axis area and the RMF
  (:func:`rassflow.photometry.conversion.ecf`), i.e. per unit PSF-corrected broad-band rate.
  Fluxes, their interval and the flux upper limit are the rates times the ECF. eRASS1's
  upper-limit server converts with a power law of photon index 2 (Tubin-Arenas et al. 2024);
  for coronae Schmitt, Fleming & Giampapa (1995, ApJ 450, 392) give ECF = (5.30 HR1 + 8.31)
  1e-12 in 0.1-2.4 keV, which the folded thermal models reproduce to ~3-16 % (fact sheet §11).

Confidence levels come in percent (the config); ``bayes`` takes fractions. Numbers that are
undefined are None in the result (JSON null): every rate, flux and ECF when the model gives no
counts with the source's ARF (``eef`` = 0); ``detection_sigma`` when the p-value underflows to
0 (infinitely significant, ``detected`` is true) or is 1 (no counts: ``detected`` is false).

The RMF, the on-axis area on its energy grid and the ECF model's folded rates are read once per
(rmf, specresp) path (and file modification time) and kept; a call then costs the three small
FITS reads, the marginalised posterior (a few ms; ~0.15 s for 3e4 counts) and the two
hardness-ratio quadratures, about 10-30 ms.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy import special

from rassflow.files import spectrum_index
from rassflow.photometry import bayes
from rassflow.photometry.conversion import energy_flux, fit_model, fold_rate, read_response
from rassflow.photometry.hardness import hardness_ratio
from rassflow.products.contamination import (
    deblending_sigma,
    read_contamination_variance,
    widen_for_deblending,
)
from rassflow.products.responses import read_psf_record
from rassflow.pspc import BROAD_BAND, HR_BANDS

__all__ = ["DEFAULTS", "band_label", "clear_cache", "measure", "result_keys"]

DEFAULTS = {
    "confidence": 68.27,
    "detection_sigma": 3.0,
    "detection_test": "randomized",
    "upper_limit_confidence": 99.73,
    "ecf_model": {"model": "powerlaw", "shape": 2.0, "nh": 0.0},
}
"""The schema defaults of the ``photometry`` config section, used for missing keys."""

HARDNESS_RATIOS = {"hr1": ("A", "B"), "hr2": ("C", "D")}
"""(soft, hard) 2RXS bands of each hardness ratio (hard - soft) / (hard + soft)."""


def band_label(lo: float, hi: float) -> str:
    """'0.5-2.0keV' for (0.5, 2): the band part of the flux keys (as the results table)."""
    return f"{float(lo)!r}-{float(hi)!r}keV"


def result_keys(bands_keV) -> list[str]:
    """The keys of a :func:`measure` result, in a fixed order."""
    keys = [
        "id_name",
        "counts_src",
        "counts_bkg",
        "backscal_src",
        "backscal_bkg",
        "backscal_ratio",
        "bkg_expected",
        "contamination_counts",
        "exposure_s",
        "eef",
        "psf_corrected",
        "arf_method",
        "net_counts",
        "net_counts_mode",
        "net_counts_lo",
        "net_counts_hi",
        "counts_ul",
        "net_rate",
        "net_rate_lo",
        "net_rate_hi",
        "rate_ul",
        "deblending_sigma_counts",
        "psf_model",
        "psf_sys_lo",
        "psf_sys_hi",
        "bkg_inner_arcmin",
        "bkg_outer_arcmin",
        "detection_probability",
        "detection_sigma",
        "detection_p_randomized",
        "detected",
    ]
    for band in HR_BANDS:
        keys += [f"counts_src_{band}", f"counts_bkg_{band}"]
    for name in HARDNESS_RATIOS:
        keys += [name, f"{name}_lo", f"{name}_hi"]
    for lo, hi in bands_keV:
        label = band_label(lo, hi)
        keys += [
            f"ecf_{label}",
            f"flux_{label}",
            f"flux_{label}_lo",
            f"flux_{label}_hi",
            f"flux_ul_{label}",
        ]
    return keys + list(SETTING_KEYS)


SETTING_KEYS = (
    "broad_band_pi",
    "bands_keV",
    "confidence",
    "upper_limit_confidence",
    "detection_threshold_sigma",
    "detection_test",
    "ecf_model",
    "ecf_shape",
)
"""Keys of a photometry result shared by every member (a table's metadata, not columns)."""


# ---------------------------------------------------------------------------------------------
# file readers
# ---------------------------------------------------------------------------------------------


def _file_key(path) -> tuple[str, int, int]:
    """(resolved path, mtime_ns, size): the cache key of a calibration file."""
    path = Path(path).resolve()
    info = path.stat()
    return str(path), info.st_mtime_ns, info.st_size


def _read_spectrum(path):
    """(channels, counts, EXPOSURE s, BACKSCAL) of an OGIP type I spectrum (OGIP/92-007)."""
    with fits.open(path) as hdul:
        hdu = hdul[spectrum_index(hdul, path)]
        names = [name.upper() for name in hdu.columns.names]
        if "COUNTS" not in names:
            raise ValueError(f"{path}: the SPECTRUM extension has no COUNTS column")
        channels = np.asarray(hdu.data["CHANNEL"], dtype=int)
        counts = np.asarray(hdu.data["COUNTS"], dtype=float)
        header = hdu.header
        exposure = float(header.get("EXPOSURE", hdul[0].header.get("EXPOSURE", math.nan)))
        backscal = float(header.get("BACKSCAL", 1.0))
    if np.any(counts < 0) or np.any(counts != np.floor(counts)):
        raise ValueError(f"{path}: COUNTS must be non-negative whole numbers")
    return channels, counts, exposure, backscal


def _band_sum(channels, counts, pi_range) -> int:
    lo, hi = pi_range
    return int(counts[(channels >= lo) & (channels <= hi)].sum())


def _read_contamination(path):
    """(CHANNEL, COUNTS) of the background file's CONTAMINATION table
    (:mod:`rassflow.products.contamination`: per PI channel, the counts expected in the
    source circle from catalogued neighbours' PSF wings, net of the BACKSCAL-scaled
    neighbour counts in the background region), or None when it has none."""
    from rassflow.products.contamination import read_contamination

    try:
        table = read_contamination(path)
    except KeyError as exc:
        raise ValueError(f"{path}: the CONTAMINATION table needs CHANNEL and COUNTS") from exc
    if table is None:
        return None
    channels, counts, _ = table
    if not np.all(np.isfinite(counts)):
        raise ValueError(f"{path}: CONTAMINATION COUNTS must be finite")
    return channels, counts


def _deblending_sigma(background) -> float:
    """1-sigma deblending error (counts) of the broad band's contamination, 0 without one."""
    variance = read_contamination_variance(background)
    if variance is None:
        return 0.0
    channels, per_channel, psf_shift = variance
    return deblending_sigma(channels, per_channel, BROAD_BAND, psf_shift)


def _contamination_sum(contamination, pi_range) -> float:
    if contamination is None:
        return 0.0
    channels, counts = contamination
    lo, hi = pi_range
    return float(counts[(channels >= lo) & (channels <= hi)].sum())


def _read_arf(path):
    """(ENERG_LO, ENERG_HI, SPECRESP cm^2, PSFCORR, ARFMETH) of an OGIP ARF."""
    with fits.open(path) as hdul:
        if "SPECRESP" not in hdul:
            raise ValueError(f"{path}: no SPECRESP extension")
        hdu = hdul["SPECRESP"]
        lo = np.asarray(hdu.data["ENERG_LO"], dtype=float)
        hi = np.asarray(hdu.data["ENERG_HI"], dtype=float)
        area = np.asarray(hdu.data["SPECRESP"], dtype=float)
        corrected = bool(hdu.header.get("PSFCORR", False))
        method = hdu.header.get("ARFMETH")
    return lo, hi, area, corrected, (None if method is None else str(method))


@functools.lru_cache(maxsize=16)
def _calibration(rmf_key, specresp_key):
    """The RMF as a dense response and the SPECRESP file's on-axis area (theta index 0) on the
    RMF's energy grid, interpolated from bin midpoints as the ARFs are
    (:func:`rassflow.products.responses.make_arf`; zero outside the calibrated range)."""
    from rassflow.products.responses import read_specresp

    response = read_response(rmf_key[0])
    crf_mid, _theta, area = read_specresp(specresp_key[0])
    mid = 0.5 * (response.energ_lo + response.energ_hi)
    onaxis = np.interp(mid, crf_mid, area[0], left=0.0, right=0.0)
    return response, onaxis


def _model(model: str, shape: float, nh: float = 0.0):
    return fit_model(model, shape, nh)


@functools.lru_cache(maxsize=64)
def _onaxis_conversion(
    rmf_key, specresp_key, model: str, shape: float, bands: tuple, nh: float = 0.0
):
    """(on-axis broad-band rate of the unit-norm model, ECF of each band or None)."""
    response, onaxis = _calibration(rmf_key, specresp_key)
    flux = _model(model, shape, nh)
    rate = fold_rate(
        flux, response.energ_lo, response.energ_hi, onaxis, response.matrix,
        response.channels, BROAD_BAND,
    )  # fmt: skip
    ecfs = tuple(energy_flux(flux, lo, hi) / rate if rate > 0 else None for lo, hi in bands)
    return rate, ecfs


# ---------------------------------------------------------------------------------------------
# the measurement
# ---------------------------------------------------------------------------------------------


def _finite(value):
    """A JSON number: Python float, None for NaN/inf/None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _scaled(value, factor):
    return None if value is None or factor is None else _finite(value * factor)


def _settings(settings: dict) -> tuple[float, float, float, str, float, float]:
    merged = {**DEFAULTS, **(settings or {})}
    ecf_model = {**DEFAULTS["ecf_model"], **(merged.get("ecf_model") or {})}
    confidence = float(merged["confidence"])
    ul_confidence = float(merged["upper_limit_confidence"])
    for name, value in (("confidence", confidence), ("upper_limit_confidence", ul_confidence)):
        if not 0.0 < value < 100.0:
            raise ValueError(f"photometry.{name} must be in (0, 100) %, got {value!r}")
    return (
        confidence,
        ul_confidence,
        float(merged["detection_sigma"]),
        str(ecf_model["model"]),
        float(ecf_model["shape"]),
        float(ecf_model.get("nh", 0.0)),
    )


DETECTION_TESTS = ("randomized", "exact")


def _detection_test(settings: dict) -> str:
    """The ``photometry.detection_test`` of the settings: which p-value ``detected`` uses."""
    test = str({**DEFAULTS, **(settings or {})}["detection_test"])
    if test not in DETECTION_TESTS:
        raise ValueError(
            f"photometry.detection_test must be one of {DETECTION_TESTS}, got {test!r}"
        )
    return test


def _onoff(n: int, n_bkg: float, ratio: float, contamination: float, sigma: float, u: float):
    """(posterior, detection p-value, randomized p-value with uniform ``u``) for N
    source-circle counts, N_bkg background-region counts, BACKSCAL ratio and the neighbours'
    deblended counts with their 1-sigma error (:class:`rassflow.photometry.bayes.OnOff`; a
    negative contamination lowers the background,
    :func:`rassflow.photometry.bayes.deblended_background`)."""
    m, alpha, c = (float(v) for v in bayes.deblended_background(n_bkg, ratio, contamination, sigma))
    return (
        bayes.OnOff(n, m, alpha, c),
        bayes.onoff_detection_probability(n, m, alpha, c),
        bayes.onoff_randomized_detection_probability(n, m, alpha, c, u),
    )


def measure(spectrum, background, rmf, specresp, arf, settings: dict, bands_keV, source_id) -> dict:
    """Forced aperture photometry of one member (see the module docstring for the method).

    Parameters
    ----------
    spectrum, background : path
        OGIP spectra of the source circle and the background region (SPECTRUM extension with
        CHANNEL and COUNTS, EXPOSURE in s and BACKSCAL in its header).
    rmf : path
        The redistribution matrix (MATRIX + EBOUNDS, no effective area).
    specresp : path
        The SPECRESP calibration file (area x vignetting against off-axis angle; the on-axis
        area, theta index 0, is the reference area).
    arf : path
        The source's ARF on the RMF's energy grid (PSFCORR = T when it carries the survey-PSF
        correction).
    settings : dict
        The ``photometry`` config section: ``confidence`` (%), ``detection_sigma``,
        ``detection_test`` (randomized or exact), ``upper_limit_confidence`` (%), ``ecf_model`` {``model``, ``shape``, ``nh``}; missing keys take
        the schema defaults (:data:`DEFAULTS`).
    bands_keV : sequence of (lo, hi)
        Flux bands (keV), e.g. ``fit.flux_bands_keV``.
    source_id : str
        The member's id_name, recorded as ``id_name``.

    Returns
    -------
    dict
        JSON-ready (floats, ints, bools, strings, lists, None), keys :func:`result_keys`.
        Counts are broad-band (PI 11-235) unless the key names a 2RXS band (A-D).
    """
    confidence, ul_confidence, threshold, model, shape, nh = _settings(settings)
    test = _detection_test(settings)
    bands = tuple((float(lo), float(hi)) for lo, hi in bands_keV)
    for lo, hi in bands:
        if not 0.0 < lo < hi:
            raise ValueError(f"flux band ({lo}, {hi}) keV: need 0 < lo < hi")

    channels, counts, exposure, src_backscal = _read_spectrum(spectrum)
    bkg_channels, bkg_counts, _, bkg_backscal = _read_spectrum(background)
    if not (math.isfinite(exposure) and exposure > 0):
        raise ValueError(f"{spectrum}: EXPOSURE {exposure} s is not positive")
    if not (src_backscal > 0 and bkg_backscal > 0):
        raise ValueError(
            f"{spectrum}, {background}: BACKSCAL {src_backscal}, {bkg_backscal} must be positive"
        )
    ratio = src_backscal / bkg_backscal

    contamination = _read_contamination(background)
    n = _band_sum(channels, counts, BROAD_BAND)
    n_bkg = _band_sum(bkg_channels, bkg_counts, BROAD_BAND)
    b = n_bkg * ratio
    c = _contamination_sum(contamination, BROAD_BAND)

    # eef: counts predicted with the source's ARF / with the on-axis area (same model, RMF)
    rmf_key, specresp_key = _file_key(rmf), _file_key(specresp)
    response, _ = _calibration(rmf_key, specresp_key)
    onaxis_rate, ecfs = _onaxis_conversion(rmf_key, specresp_key, model, shape, bands, nh)
    a_lo, a_hi, area, psf_corrected, arf_method = _read_arf(arf)
    if a_lo.shape != response.energ_lo.shape or not (
        np.allclose(a_lo, response.energ_lo, rtol=1e-5)
        and np.allclose(a_hi, response.energ_hi, rtol=1e-5)
    ):
        raise ValueError(f"{arf}: ARF energy grid differs from the RMF's ({rmf})")
    arf_rate = fold_rate(
        _model(model, shape, nh), response.energ_lo, response.energ_hi, area, response.matrix,
        response.channels, BROAD_BAND,
    )  # fmt: skip
    eef = arf_rate / onaxis_rate if onaxis_rate > 0 else math.nan
    # counts -> PSF-corrected on-axis-equivalent rate (ct/s); None when undefined
    to_rate = 1.0 / (exposure * eef) if math.isfinite(eef) and eef > 0 else None

    # the background measured in the background region, marginalised (Loredo 1992), plus the
    # known contamination: posterior mode, shortest interval, one-sided upper limit, p-value
    deblend = _deblending_sigma(background)
    u = float(bayes.randomization_uniform([str(source_id)])[0])
    posterior, p_value, p_randomized = _onoff(n, n_bkg, ratio, c, deblend, u)
    mode = posterior.mode()
    s_lo, s_hi = posterior.interval(confidence / 100.0)
    s_ul = posterior.quantile(ul_confidence / 100.0)
    # the neighbours' counts are estimated, not known: their deblending noise widens the
    # interval and the upper limit (rassflow.products.contamination.widen_for_deblending),
    # unless it is already in the background's (a negative contamination, _onoff)
    if deblend > 0 and c >= 0:
        s_lo, s_hi = (float(v) for v in widen_for_deblending(mode, s_lo, s_hi, deblend, confidence))
        s_ul = float(widen_for_deblending(mode, s_ul, s_ul, deblend, 2 * ul_confidence - 100)[1])
    # the PSF systematic on rates and fluxes (rassflow.products.responses.psf_systematic)
    psf_record = read_psf_record(arf)
    psf_factors = psf_record["psf_systematic"] or (1.0, 1.0)
    rate_lo_factor = min(1.0, psf_factors[0])
    rate_hi_factor = max(1.0, psf_factors[1])
    sigma = bayes.detection_sigma(p_value)
    p_test = p_randomized if test == "randomized" else p_value
    detected = bool(p_test <= special.ndtr(-threshold))  # norm.sf(threshold)

    result = {
        "id_name": str(source_id),
        "counts_src": n,
        "counts_bkg": n_bkg,
        "backscal_src": src_backscal,
        "backscal_bkg": bkg_backscal,
        "backscal_ratio": ratio,
        "bkg_expected": b,
        "contamination_counts": float(c),
        "exposure_s": exposure,
        "eef": _finite(eef),
        "psf_corrected": psf_corrected,
        "arf_method": arf_method,
        "net_counts": n - b - c,
        "net_counts_mode": mode,
        "net_counts_lo": s_lo,
        "net_counts_hi": s_hi,
        "counts_ul": s_ul,
        "net_rate": _scaled(mode, to_rate),
        "net_rate_lo": _scaled(s_lo, None if to_rate is None else to_rate * rate_lo_factor),
        "net_rate_hi": _scaled(s_hi, None if to_rate is None else to_rate * rate_hi_factor),
        "rate_ul": _scaled(s_ul, None if to_rate is None else to_rate * rate_hi_factor),
        "deblending_sigma_counts": deblend,
        "psf_model": psf_record["psf_model"],
        "psf_sys_lo": psf_record["psf_systematic"] and psf_record["psf_systematic"][0],
        "psf_sys_hi": psf_record["psf_systematic"] and psf_record["psf_systematic"][1],
        "bkg_inner_arcmin": psf_record["background_arcmin"] and psf_record["background_arcmin"][0],
        "bkg_outer_arcmin": psf_record["background_arcmin"] and psf_record["background_arcmin"][1],
        "detection_probability": p_value,
        "detection_sigma": _finite(sigma),
        "detection_p_randomized": p_randomized,
        "detected": detected,
    }

    # 2RXS hardness ratios, Bayesian per band (Park et al. 2006 with KBN's posterior)
    band_counts = {}
    for band, pi_range in HR_BANDS.items():
        n_band = _band_sum(channels, counts, pi_range)
        n_bkg_band = _band_sum(bkg_channels, bkg_counts, pi_range)
        c_band = _contamination_sum(contamination, pi_range)
        band_counts[band] = (n_band, max(n_bkg_band * ratio + c_band, 0.0))
        result[f"counts_src_{band}"] = n_band
        result[f"counts_bkg_{band}"] = n_bkg_band
    for name, (soft, hard) in HARDNESS_RATIOS.items():
        hr, lo, hi = hardness_ratio(*band_counts[soft], *band_counts[hard], confidence / 100.0)
        result[name], result[f"{name}_lo"], result[f"{name}_hi"] = hr, lo, hi

    # fluxes: rate x ECF (energy flux per unit PSF-corrected on-axis broad-band rate)
    for (lo, hi), factor in zip(bands, ecfs, strict=True):
        label = band_label(lo, hi)
        result[f"ecf_{label}"] = _finite(factor)
        result[f"flux_{label}"] = _scaled(result["net_rate"], factor)
        result[f"flux_{label}_lo"] = _scaled(result["net_rate_lo"], factor)
        result[f"flux_{label}_hi"] = _scaled(result["net_rate_hi"], factor)
        result[f"flux_ul_{label}"] = _scaled(result["rate_ul"], factor)

    result.update(
        broad_band_pi=list(BROAD_BAND),
        bands_keV=[list(band) for band in bands],
        confidence=confidence,
        upper_limit_confidence=ul_confidence,
        detection_threshold_sigma=threshold,
        detection_test=test,
        ecf_model=model,
        ecf_shape=shape,
    )
    for key in (
        "net_counts",
        "net_counts_mode",
        "net_counts_lo",
        "net_counts_hi",
        "counts_ul",
        "detection_probability",
        "detection_p_randomized",
        "bkg_expected",
        "backscal_ratio",
    ):
        result[key] = _finite(result[key])
    return {key: result[key] for key in result_keys(bands)}


def clear_cache() -> None:
    """Forget the cached calibration reads (for tests that rewrite files in place)."""
    _calibration.cache_clear()
    _onaxis_conversion.cache_clear()
