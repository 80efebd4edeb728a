"""Forced aperture photometry: hand-computed counts, KBN/Gehrels limits, eef, HR, ECF.

Reference values
----------------
* Kraft, Burrows & Nousek (1991, ApJ 374, 344) Table 1 (90 %, shortest intervals): B = 0:
  N = 0 -> (0.00, 2.30), N = 1 -> (0.08, 3.93), N = 5 -> (2.13, 9.72); B = 2.0: N = 5 ->
  (0.22, 7.49), N = 7 -> (1.48, 10.35) (two decimals, rounded; the transcription in
  tests/photometry/test_bayes.py).
* Gehrels (1986, ApJ 303, 336) Table 1, one-sided 84.13 % upper limits: 1.841, 3.300, 8.382 for
  N = 0, 1, 5 (with B = 0 the flat-prior upper limit is the classical one).
* N = 0: the upper limit is -ln(1 - CL) counts (KBN eq. 9 with N = 0), for any B.
* Energy conversion: a power law Gamma = 2 integrated analytically and folded by hand through
  the instrument model that the mini CALDB is written from (rassflow.simulate.instrument).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from astropy.io import fits
from scipy import optimize, special

from rassflow.photometry import aperture, bayes
from rassflow.photometry.aperture import measure
from rassflow.photometry.conversion import KEV_TO_ERG
from rassflow.products.responses import apply_psf_correction, make_arf
from rassflow.simulate import caldb, instrument
from tests.support.photometry import EXPOSURE, SETTINGS, write_spectrum

BANDS = [(0.1, 2.4), (0.5, 2.0)]
NO_BACKGROUND = 1e-9
"""BACKSCAL ratio of a background region 10^9 times the circle with no counts in it: the
background is then known to be zero (its prior-predictive expectation in the circle is 1e-9)."""


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """The mini CALDB's RMF and SPECRESP file and an on-axis ARF made from them."""
    root = tmp_path_factory.mktemp("caldb")
    rmf = caldb.write_rmf(root / "pspcc_gain1_256.rmf")
    specresp = caldb.write_specresp(root / "pspcc_v1.spec_resp")
    arf = make_arf(rmf, specresp, root / "onaxis.arf")
    return rmf, specresp, arf


def run(
    tmp_path,
    calibration,
    src=None,
    bkg=None,
    settings=None,
    arf=None,
    ratio=0.25,
    exposure=EXPOSURE,
    contamination=None,
):
    rmf, specresp, onaxis = calibration
    spectrum = write_spectrum(tmp_path / "src.pi", src, exposure, 1e-4)
    # the chain writes the neighbours' expected counts into the background file
    background = write_spectrum(
        tmp_path / "bkg.pi", bkg, exposure, 1e-4 / ratio, contamination=contamination
    )
    return measure(
        spectrum,
        background,
        rmf,
        specresp,
        arf or onaxis,
        {**SETTINGS, **(settings or {})},
        BANDS,
        "GJ 1",
    )


def hpd_reference(n, b, cl):
    """Shortest interval of p(s) ∝ (s + b)^n e^-(s+b), s >= 0, by a plain root search (an
    implementation independent of rassflow.photometry.bayes)."""
    a = n + 1.0
    qb = special.gammaincc(a, b)

    def upper(u_lo):  # the u > n with the same density as u_lo < n
        f = lambda u: n * math.log(u) - u - (n * math.log(u_lo) - u_lo)  # noqa: E731
        return optimize.brentq(f, n, n + 2000.0, xtol=1e-14)

    def tail_limit():
        return optimize.brentq(
            lambda u: special.gammaincc(a, u) - (1 - cl) * qb, b, b + 200.0, xtol=1e-14
        )

    ul = tail_limit()
    if n <= b or (b > 0 and n * math.log(b) - b >= n * math.log(ul) - ul) or (b == 0 and n == 0):
        return 0.0, ul - b
    lo_edge = max(b, 1e-12)

    def excess(u_lo):
        return (special.gammaincc(a, u_lo) - special.gammaincc(a, upper(u_lo))) - cl * qb

    u_lo = optimize.brentq(excess, lo_edge, n - 1e-9, xtol=1e-14)
    return u_lo - b, upper(u_lo) - b


# ---------------------------------------------------------------------------------------------
# counts and limits
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "kbn90", "gehrels"),
    [(0, (0.00, 2.30), 1.841), (1, (0.08, 3.93), 3.300), (5, (2.13, 9.72), 8.382)],
)
def test_no_background_matches_kbn_and_gehrels(tmp_path, calibration, n, kbn90, gehrels):
    result = run(
        tmp_path,
        calibration,
        src={100: n},
        settings={"confidence": 90.0, "upper_limit_confidence": 84.13},
        ratio=NO_BACKGROUND,
    )
    assert result["counts_src"] == n and result["counts_bkg"] == 0
    assert result["bkg_expected"] == 0.0 and result["contamination_counts"] == 0.0
    assert result["eef"] == pytest.approx(1.0, abs=1e-6)
    counts = EXPOSURE * result["eef"]
    lo, hi = result["net_rate_lo"] * counts, result["net_rate_hi"] * counts
    assert lo == pytest.approx(kbn90[0], abs=0.0065)
    assert hi == pytest.approx(kbn90[1], abs=0.0065)
    assert result["net_rate"] * counts == pytest.approx(n, abs=1e-6)  # posterior mode N - B
    assert result["rate_ul"] * counts == pytest.approx(gehrels, rel=1e-3)
    # at 68.27 % the interval is the shortest one computed independently
    result = run(tmp_path, calibration, src={100: n}, ratio=NO_BACKGROUND)
    expected = hpd_reference(n, 0.0, 0.6827)
    got = (result["net_rate_lo"] * counts, result["net_rate_hi"] * counts)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-7)
    if n == 0:
        assert got == pytest.approx((0.0, -math.log(1 - 0.6827)))
    else:
        # P(>= 1 count | no background) = ratio (N = 1), ratio^N in general: never by chance
        assert result["detected"] and result["detection_probability"] < 1e-8


@pytest.mark.parametrize(("n", "kbn90"), [(5, (0.22, 7.49)), (7, (1.48, 10.35))])
def test_known_background(tmp_path, calibration, n, kbn90):
    """A known background: the CONTAMINATION extension's expected counts (2.0 in PI 11-235)
    with no measured background. Counts and contamination outside PI 11-235 are not counted."""
    src = {60: n, 5: 3, 240: 4}
    contamination = {60: 1.25, 150: 0.75, 5: 9.0, 240: 7.0}
    result = run(
        tmp_path,
        calibration,
        src=src,
        contamination=contamination,
        ratio=NO_BACKGROUND,
        settings={"confidence": 90.0},
    )
    assert (result["counts_src"], result["counts_bkg"]) == (n, 0)
    assert result["contamination_counts"] == pytest.approx(2.0)
    assert result["bkg_expected"] == 0.0
    assert result["net_counts"] == pytest.approx(n - 2.0)
    assert result["exposure_s"] == EXPOSURE
    rate_unit = 1.0 / (EXPOSURE * result["eef"])
    assert result["net_rate"] == pytest.approx((n - 2.0) * rate_unit, rel=1e-7)  # KBN mode
    assert result["net_rate_lo"] / rate_unit == pytest.approx(kbn90[0], abs=0.0065)
    assert result["net_rate_hi"] / rate_unit == pytest.approx(kbn90[1], abs=0.0065)
    # the background-only probability of >= N counts, summed by hand
    p = 1.0 - sum(math.exp(-2.0) * 2.0**k / math.factorial(k) for k in range(n))
    assert result["detection_probability"] == pytest.approx(p, rel=1e-7)
    assert result["detection_sigma"] == pytest.approx(-special.ndtri(p), rel=1e-6)
    assert result["detected"] is bool(p <= special.ndtr(-3.0))
    # 99.73 % upper limit: Q(N + 1, B + UL) = (1 - CL) Q(N + 1, B), solved independently
    ul = optimize.brentq(
        lambda s: special.gammaincc(n + 1, 2.0 + s) - 0.0027 * special.gammaincc(n + 1, 2.0),
        0.0,
        100.0,
        xtol=1e-13,
    )
    assert result["rate_ul"] / rate_unit == pytest.approx(ul, rel=1e-7)
    # the 68.27 % interval, independently
    result = run(tmp_path, calibration, src=src, contamination=contamination, ratio=NO_BACKGROUND)
    np.testing.assert_allclose(
        (result["net_rate_lo"] / rate_unit, result["net_rate_hi"] / rate_unit),
        hpd_reference(n, 2.0, 0.6827),
        rtol=1e-7,
        atol=1e-7,
    )


def test_well_measured_background_is_kbn(tmp_path, calibration, n=7, kbn90=(1.48, 10.35)):
    """2 million background counts in a region 10^6 times the circle: B = 2.000 +- 0.0014, so the
    marginalised posterior is KBN's for B = 2 (Table 1) to ~1e-3."""
    result = run(
        tmp_path,
        calibration,
        src={60: n},
        bkg={100: 2_000_000},
        ratio=1e-6,
        settings={"confidence": 90.0},
    )
    assert result["bkg_expected"] == pytest.approx(2.0)
    rate_unit = 1.0 / (EXPOSURE * result["eef"])
    assert result["net_rate_lo"] / rate_unit == pytest.approx(kbn90[0], abs=0.0065)
    assert result["net_rate_hi"] / rate_unit == pytest.approx(kbn90[1], abs=0.0065)
    assert result["net_rate"] / rate_unit == pytest.approx(5.0, abs=2e-3)


def onoff_reference(n, m, ratio, c=0.0):
    """Posterior density and CDF of s for N counts in the circle, M in a background region
    1/ratio times larger and a known contamination c, uniform priors on s and the background:
    the integral over the background by 80-point generalized Gauss-Laguerre quadrature (weight
    beta^M e^-beta), the CDF by adaptive quadrature over s. Independent of rassflow's closed
    form (Loredo 1992 sec. 5.2)."""
    from scipy import integrate, stats

    beta, weights = special.roots_genlaguerre(80, m)

    def unnormalised(s):
        return float(weights @ stats.poisson.pmf(n, s + c + ratio * beta))

    top = n + 40.0 * math.sqrt(n + 1.0) + 40.0
    norm = integrate.quad(unnormalised, 0.0, top, epsabs=0, epsrel=1e-12, limit=200)[0]

    def cdf(s):
        return integrate.quad(unnormalised, 0.0, s, epsabs=0, epsrel=1e-12, limit=200)[0] / norm

    return (lambda s: unnormalised(s) / norm), cdf


@pytest.mark.parametrize(("n", "contamination"), [(5, None), (7, None), (9, {60: 1.5})])
def test_measured_background(tmp_path, calibration, n, contamination):
    """The background measured in the annulus (8 counts, BACKSCAL ratio 1/4: B = 2 +- 0.7) is
    marginalised: rates from the posterior integrated numerically over the background, the
    p-value the conditional binomial test (Przyborowski & Wilenski 1940) or, with a known
    contamination c, the Poisson(c)-convolved one, both summed independently here."""
    from scipy import stats

    src = {60: n, 5: 3, 240: 4}
    bkg = {30: 3, 150: 5, 2: 10, 250: 7}
    result = run(tmp_path, calibration, src=src, bkg=bkg, ratio=0.25, contamination=contamination)
    c = result["contamination_counts"]
    assert c == (0.0 if contamination is None else 1.5)
    assert (result["counts_src"], result["counts_bkg"]) == (n, 8)
    assert result["backscal_ratio"] == pytest.approx(0.25)
    assert result["bkg_expected"] == pytest.approx(2.0)
    assert result["net_counts"] == pytest.approx(n - 2.0 - c)
    rate_unit = 1.0 / (EXPOSURE * result["eef"])
    pdf, cdf = onoff_reference(n, 8, 0.25, c)
    # the posterior mode, the shortest 68.27 % interval and the 99.73 % upper limit
    mode = optimize.minimize_scalar(
        lambda s: -pdf(s), bounds=(0.0, n), method="bounded", options={"xatol": 1e-9}
    ).x
    assert result["net_rate"] / rate_unit == pytest.approx(mode, abs=1e-6)
    lo, hi = result["net_rate_lo"] / rate_unit, result["net_rate_hi"] / rate_unit
    assert cdf(hi) - cdf(lo) == pytest.approx(0.6827, abs=1e-8)
    if lo > 0:
        assert pdf(lo) == pytest.approx(pdf(hi), rel=1e-7)
    else:
        assert pdf(0.0) >= pdf(hi)
    assert cdf(result["rate_ul"] / rate_unit) == pytest.approx(0.9973, abs=1e-9)
    # the background-only p-value: N ~ NegBin(M + 1, 1/5) (+ Poisson(c)), summed by hand
    null = stats.nbinom.pmf(np.arange(n), 9, 0.8)
    if c:
        null = np.convolve(null, stats.poisson.pmf(np.arange(n), c))[:n]
    p = 1.0 - null.sum()
    if not c:
        assert p == pytest.approx(stats.binom.sf(n - 1, n + 8, 0.2), rel=1e-12)
    assert result["detection_probability"] == pytest.approx(p, rel=1e-9)
    # the randomized p-value P(X > N) + U P(X = N), at the same totals: given the background
    # counts N - k + M, those of the circle are Binomial(N - k + M, 1/5); U from the id
    k = np.arange(n + 1)
    weight = stats.poisson.pmf(k, c) if c else (k == 0).astype(float)
    above = (stats.poisson.sf(n, c) if c else 0.0) + np.sum(
        weight * stats.binom.sf(n - k, n - k + 8, 0.2)
    )
    u = bayes.randomization_uniform(["GJ 1"])[0]
    p_rand = above + u * (p - above)
    assert result["detection_p_randomized"] == pytest.approx(p_rand, rel=1e-9)
    assert result["detected"] is bool(p_rand <= special.ndtr(-3.0))
    exact = run(tmp_path, calibration, src=src, bkg=bkg, contamination=contamination,
                settings={"detection_test": "exact"})  # fmt: skip
    assert exact["detection_test"] == "exact"
    assert exact["detected"] is bool(p <= special.ndtr(-3.0))
    assert exact["detection_p_randomized"] == result["detection_p_randomized"]


def test_bright_source_is_detected(tmp_path, calibration):
    result = run(tmp_path, calibration, src={80: 30}, bkg={80: 8}, ratio=0.25)
    assert result["detected"] is True
    assert result["detection_sigma"] > 5
    # the mode of the marginalised posterior sits near N - B = 28
    assert result["net_rate"] == pytest.approx(28.0 / EXPOSURE, rel=0.02)


@pytest.mark.parametrize("bkg", [None, {70: 12}])
def test_zero_counts(tmp_path, calibration, bkg):
    result = run(tmp_path, calibration, src=None, bkg=bkg, ratio=0.25)
    json.dumps(result, allow_nan=False)  # JSON-ready, no NaN or inf
    assert result["counts_src"] == 0
    assert result["bkg_expected"] == pytest.approx(0.0 if bkg is None else 3.0)
    assert result["net_rate"] == 0.0 and result["net_rate_lo"] == 0.0
    exposure_eef = EXPOSURE * result["eef"]
    assert result["net_rate_hi"] == pytest.approx(-math.log(1 - 0.6827) / exposure_eef)
    # the 99.73 % upper limit is -ln(1 - CL) / (exposure eef) whatever the background
    assert result["rate_ul"] == pytest.approx(-math.log(1 - 0.9973) / exposure_eef, rel=1e-10)
    assert result["detected"] is False
    assert result["detection_probability"] == 1.0 and result["detection_sigma"] is None
    # no counts in any band: the hardness-ratio posterior is flat on [-1, 1]
    for name in ("hr1", "hr2"):
        assert result[name] == pytest.approx(0.0, abs=1e-8)
        assert (result[f"{name}_lo"], result[f"{name}_hi"]) == pytest.approx(
            (-0.6827, 0.6827), abs=1e-6
        )
    for lo, hi in BANDS:
        label = aperture.band_label(lo, hi)
        assert result[f"flux_{label}"] == 0.0
        assert result[f"flux_ul_{label}"] == pytest.approx(
            result["rate_ul"] * result[f"ecf_{label}"]
        )


def test_keys_are_the_documented_ones(tmp_path, calibration):
    result = run(tmp_path, calibration, src={100: 3})
    assert list(result) == aperture.result_keys(BANDS)
    assert result["contamination_counts"] == 0.0  # no CONTAMINATION extension
    for key in (
        "flux_0.1-2.4keV",
        "flux_0.5-2.0keV_lo",
        "flux_ul_0.5-2.0keV",
        "ecf_0.1-2.4keV",
        "hr1_hi",
        "hr2_lo",
        "rate_ul",
        "net_rate_hi",
        "eef",
        "detected",
    ):
        assert key in result
    assert result["id_name"] == "GJ 1"
    assert (result["confidence"], result["upper_limit_confidence"]) == (68.27, 99.73)
    assert (result["ecf_model"], result["ecf_shape"]) == ("powerlaw", 2.0)
    assert result["broad_band_pi"] == [11, 235]


def test_bad_inputs_are_refused(tmp_path, calibration):
    with pytest.raises(ValueError, match="EXPOSURE"):
        run(tmp_path, calibration, src={100: 3}, exposure=0.0)
    with pytest.raises(ValueError, match="confidence"):
        run(tmp_path, calibration, src={100: 3}, settings={"confidence": 0.0})
    with pytest.raises(ValueError, match="ECF model"):
        run(tmp_path, calibration, settings={"ecf_model": {"model": "apec", "shape": 1.0}})


# ---------------------------------------------------------------------------------------------
# eef: the PSF correction carried by the ARF
# ---------------------------------------------------------------------------------------------


def _hand_fold(area, gamma=2.0):
    """Broad-band (PI 11-235) count rate of a unit power law through ``area`` x the instrument's
    redistribution, computed without any FITS file or rassflow.photometry code."""
    energ_lo, energ_hi = instrument.energy_grid()
    photons = (energ_lo ** (1 - gamma) - energ_hi ** (1 - gamma)) / (gamma - 1)
    matrix = instrument.redistribution_matrix(energ_lo, energ_hi)
    broad = matrix[:, 10:235].sum(axis=1)  # channels 11..235 (column k = channel k + 1)
    return float(np.sum(photons * area * broad))


def _scaled_arf(source, target, factor, psfcorr=True):
    with fits.open(source) as hdul:
        hdul = fits.HDUList([hdu.copy() for hdu in hdul])
    table = hdul["SPECRESP"]
    mid = 0.5 * (table.data["ENERG_LO"] + table.data["ENERG_HI"])
    table.data["SPECRESP"] = table.data["SPECRESP"] * factor(mid)
    if psfcorr:
        table.header["PSFCORR"] = True
    hdul.writeto(target, overwrite=True)
    return target, mid


def test_eef_is_one_for_an_uncorrected_onaxis_arf(tmp_path, calibration):
    result = run(tmp_path, calibration, src={100: 9})
    assert result["eef"] == pytest.approx(1.0, abs=1e-6)
    assert result["psf_corrected"] is False and result["arf_method"] == "onaxis"


def test_eef_is_the_arf_over_onaxis_count_ratio(tmp_path, calibration):
    _, _, onaxis = calibration
    factor = lambda e: 0.92 - 0.12 * e  # noqa: E731 - kept fraction falling with energy
    arf, mid = _scaled_arf(onaxis, tmp_path / "corrected.arf", factor)
    area = instrument.onaxis_area(mid)
    expected = _hand_fold(area * factor(mid)) / _hand_fold(area)
    assert 0.8 < expected < 0.9
    plain = run(tmp_path, calibration, src={100: 9})
    corrected = run(tmp_path, calibration, src={100: 9}, arf=arf)
    assert corrected["psf_corrected"] is True
    assert corrected["eef"] == pytest.approx(expected, rel=1e-5)
    # rates, limits and fluxes are divided by eef; counts are not
    assert corrected["counts_src"] == plain["counts_src"]
    for key in (
        "net_rate",
        "net_rate_lo",
        "net_rate_hi",
        "rate_ul",
        "flux_0.1-2.4keV",
        "flux_ul_0.5-2.0keV",
    ):
        assert corrected[key] == pytest.approx(plain[key] / expected, rel=1e-5)
    # the ECF is per unit PSF-corrected rate: the same with either ARF
    assert corrected["ecf_0.1-2.4keV"] == plain["ecf_0.1-2.4keV"]


@pytest.mark.filterwarnings("ignore:Card is too long")
def test_eef_of_the_survey_psf_correction(tmp_path, calibration):
    """The real correction (apply_psf_correction) on a spectrum pair: eef equals the ratio of
    the folded counts with the two ARFs, and is a plausible kept fraction."""
    rmf, specresp, _ = calibration
    regions = {
        "source_radius_arcmin": 2.0,
        "background_inner_factor": 1.05,
        "background_outer_factor": 1.5,
    }
    annulus_pixels = math.pi * (3.0**2 - 2.1**2) / (1.388889e-4 * 60) ** 2
    src = write_spectrum(tmp_path / "s.pi", {100: 9}, backscal=1e-4)
    bkg = write_spectrum(tmp_path / "b.pi", {100: 4}, backscal=1.1475e-4, npix=annulus_pixels)
    arf = make_arf(rmf, specresp, tmp_path / "psf.arf")
    apply_psf_correction(arf, src, bkg, regions)
    with fits.open(arf) as hdul:
        assert hdul["SPECRESP"].header["PSFCORR"] is True
        corrected = np.asarray(hdul["SPECRESP"].data["SPECRESP"], float)
    energ_lo, energ_hi = instrument.energy_grid()
    area = instrument.onaxis_area(0.5 * (energ_lo + energ_hi))
    expected = _hand_fold(corrected) / _hand_fold(area)
    result = measure(src, bkg, rmf, specresp, arf, SETTINGS, BANDS, "GJ 2")
    assert result["eef"] == pytest.approx(expected, rel=1e-5)
    assert 0.5 < result["eef"] < 0.97


# ---------------------------------------------------------------------------------------------
# hardness ratios
# ---------------------------------------------------------------------------------------------


def test_hardness_ratio_signs(tmp_path, calibration):
    soft = run(tmp_path, calibration, src={20: 15, 35: 10}, bkg={30: 4})  # band A only
    hard = run(tmp_path, calibration, src={120: 15, 180: 10}, bkg={30: 4})  # band D only
    medium = run(tmp_path, calibration, src={60: 20, 80: 5})  # band C only
    assert soft["counts_src_A"] == 25 and soft["counts_src_B"] == 0
    assert soft["hr1"] < -0.8 and soft["hr1_hi"] < 0
    assert hard["hr1"] > 0.8 and hard["hr1_lo"] > 0
    assert hard["hr2"] > 0.8 and hard["hr2_lo"] > 0  # all of B is in D
    assert medium["hr2"] < -0.8 and medium["hr1"] > 0.8
    for r in (soft, hard, medium):
        for name in ("hr1", "hr2"):
            assert -1 <= r[f"{name}_lo"] <= r[name] <= r[f"{name}_hi"] <= 1


def test_hardness_ratio_uses_the_scaled_background(tmp_path, calibration):
    from rassflow.photometry.hardness import hardness_ratio

    result = run(tmp_path, calibration, src={30: 6, 100: 9}, bkg={30: 8, 100: 4}, ratio=0.25)
    expected = hardness_ratio(6, 2.0, 9, 1.0, 0.6827)
    assert (result["hr1"], result["hr1_lo"], result["hr1_hi"]) == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------
# energy conversion
# ---------------------------------------------------------------------------------------------


def test_ecf_of_a_gamma_2_power_law(tmp_path, calibration):
    result = run(tmp_path, calibration, src={100: 40}, bkg={100: 8})
    energ_lo, energ_hi = instrument.energy_grid()
    rate = _hand_fold(instrument.onaxis_area(0.5 * (energ_lo + energ_hi)))
    for lo, hi in BANDS:
        label = aperture.band_label(lo, hi)
        flux = math.log(hi / lo) * KEV_TO_ERG  # int E * E^-2 dE, erg cm^-2 s^-1 per unit norm
        assert result[f"ecf_{label}"] == pytest.approx(flux / rate, rel=0.01)
        assert result[f"flux_{label}"] == pytest.approx(result["net_rate"] * flux / rate, rel=0.01)
        assert result[f"flux_{label}_lo"] == pytest.approx(
            result["net_rate_lo"] * result[f"ecf_{label}"]
        )
    # order of magnitude of a soft source in RASS: ~1e-11 erg/cm2 per count in 0.1-2.4 keV
    assert 3e-12 < result["ecf_0.1-2.4keV"] < 3e-11


def test_ecf_depends_on_the_model(tmp_path, calibration):
    hot = run(
        tmp_path,
        calibration,
        src={100: 5},
        settings={"ecf_model": {"model": "bbody", "shape": 1.0}},
    )
    cool = run(
        tmp_path,
        calibration,
        src={100: 5},
        settings={"ecf_model": {"model": "bbody", "shape": 0.1}},
    )
    assert hot["ecf_model"] == "bbody" and hot["ecf_shape"] == 1.0
    assert hot["ecf_0.5-2.0keV"] > cool["ecf_0.5-2.0keV"]


# ---------------------------------------------------------------------------------------------
# real products, cache and speed
# ---------------------------------------------------------------------------------------------


def test_measures_extracted_spectra(tmp_path, calibration):
    """Spectra made by the product chain (events -> extract_spectra) are read as written."""
    from rassflow.archive.skyfield import read_events
    from rassflow.chain import Skyfield, Source, extract_spectra
    from rassflow.products.regions import source_regions, write_region_files
    from tests.support.fits import write_events, write_expmap

    rmf, specresp, onaxis = calibration
    # 6 events at the source (2 outside the broad band), 3 in the annulus (r = 2.5')
    x = [23040] * 6 + [23040 + 300] * 3
    pi = [20, 60, 100, 150, 5, 250, 100, 100, 30]
    ev = write_events(tmp_path / "ev.fits", x, [23040] * 9, pi, [1.0] * 9)
    mex = write_expmap(tmp_path / "mex.fits", value=321.0)
    events = read_events(ev)
    regions = source_regions(events.wcs(), 150.0, 20.0, 2.0, 1.05, 1.5, events.pixel_scale_deg)
    paths = {k: tmp_path / f"{k}.reg" for k in ("src", "bkg", "src_phys", "bkg_phys")}
    write_region_files(regions, 150.0, 20.0, 2.0, 1.05, 1.5, paths)
    paths.update(spectrum=tmp_path / "src.fits", background=tmp_path / "bkg.fits")
    settings = {
        "backend": "native",
        "wmap_binning": 90,
        "provenance": {"backend": "native", "tool": "test", "config_hash": "0"},
    }
    extract_spectra(Skyfield(ev, mex), Source("S1", 150.0, 20.0, paths), settings)
    result = measure(
        paths["spectrum"], paths["background"], rmf, specresp, onaxis, SETTINGS, BANDS, "S1"
    )
    with fits.open(paths["spectrum"]) as src, fits.open(paths["background"]) as bkg:
        ratio = src["SPECTRUM"].header["BACKSCAL"] / bkg["SPECTRUM"].header["BACKSCAL"]
    assert (result["counts_src"], result["counts_bkg"]) == (4, 3)
    assert result["exposure_s"] == 321.0
    assert result["backscal_ratio"] == pytest.approx(ratio)
    assert result["bkg_expected"] == pytest.approx(3 * ratio)
    assert (result["counts_src_A"], result["counts_src_B"]) == (1, 3)
    assert (result["counts_bkg_A"], result["counts_bkg_B"]) == (1, 2)


def test_calibration_is_read_once_per_path(tmp_path, calibration, monkeypatch):
    aperture.clear_cache()
    calls = []
    original = aperture.read_response
    monkeypatch.setattr(aperture, "read_response", lambda *a: calls.append(a) or original(*a))
    for n in (1, 2, 3):
        run(tmp_path, calibration, src={100: n})
    assert len(calls) == 1


def test_contamination_enters_every_band(tmp_path, calibration):
    """Known neighbour counts are background: in the broad band (KBN / marginalised posterior,
    net counts, p-value) and in each hardness-ratio band, channel by channel."""
    from rassflow.photometry.hardness import hardness_ratio

    src = {30: 6, 100: 9}
    bkg = {30: 8, 100: 4}
    # 1.5 counts in band A (PI 11-41), 0.5 in band B and D (PI 52-201), 3.0 outside PI 11-235
    contamination = {20: 1.0, 35: 0.5, 120: 0.5, 240: 3.0}
    plain = run(tmp_path, calibration, src=src, bkg=bkg, ratio=0.25)
    result = run(tmp_path, calibration, src=src, bkg=bkg, ratio=0.25, contamination=contamination)
    assert plain["contamination_counts"] == 0.0
    assert result["contamination_counts"] == pytest.approx(2.0)
    assert result["counts_src"] == plain["counts_src"] == 15
    assert result["counts_bkg_A"] == plain["counts_bkg_A"] == 8  # the measured counts as read
    assert result["bkg_expected"] == plain["bkg_expected"] == pytest.approx(3.0)
    assert result["net_counts"] == pytest.approx(15 - 3.0 - 2.0)
    assert result["net_rate"] < plain["net_rate"] and result["rate_ul"] < plain["rate_ul"]
    assert result["detection_probability"] > plain["detection_probability"]
    hr1 = hardness_ratio(6, 2.0 + 1.5, 9, 1.0 + 0.5, 0.6827)
    assert (result["hr1"], result["hr1_lo"], result["hr1_hi"]) == pytest.approx(hr1)
    hr2 = hardness_ratio(0, 0.0, 9, 1.0 + 0.5, 0.6827)  # C (PI 52-90) has none, D has 0.5
    assert (result["hr2"], result["hr2_lo"], result["hr2_hi"]) == pytest.approx(hr2)


def test_negative_contamination_lowers_the_background(tmp_path, calibration):
    """A negative net contamination (more neighbour light in the background region, scaled,
    than in the circle) is taken off the measured background: -0.5 counts at BACKSCAL ratio
    1/4 leave b = 8/4 - 0.5 = 1.5 background counts in the circle, with the region's Poisson
    variance 8/16 = 0.5: Cousins et al.'s (2008) off measurement N_off = b^2/v = 4.5 at
    tau = b/v = 3 (no VARIANCE column: no deblending error)."""
    from rassflow.photometry import bayes

    src, bkg = {60: 7}, {100: 8}
    result = run(tmp_path, calibration, src=src, bkg=bkg, ratio=0.25, contamination={60: -0.5})
    assert result["contamination_counts"] == pytest.approx(-0.5)
    assert result["net_counts"] == pytest.approx(7 - 2.0 + 0.5)
    posterior = bayes.OnOff(7, 4.5, 1.0 / 3.0)
    assert result["detection_probability"] == pytest.approx(
        bayes.onoff_detection_probability(7, 4.5, 1.0 / 3.0), rel=1e-9
    )
    lo, hi = posterior.interval(0.6827)
    to_rate = result["net_rate_hi"] / hi
    assert result["net_rate_lo"] == pytest.approx(lo * to_rate, rel=1e-9)
    assert result["rate_ul"] == pytest.approx(posterior.quantile(0.9973) * to_rate, rel=1e-9)
    # the old reading (6 background counts taken as measured) claims a stronger detection
    fewer = run(tmp_path, calibration, src=src, bkg={100: 6}, ratio=0.25)
    assert result["detection_probability"] > fewer["detection_probability"]


def test_malformed_contamination_is_refused(tmp_path, calibration):
    from tests.support.photometry import contamination_hdu

    rmf, specresp, onaxis = calibration
    spectrum = write_spectrum(tmp_path / "s.pi", {60: 4})
    background = write_spectrum(tmp_path / "b.pi", {60: 4}, backscal=4e-4)
    with fits.open(background) as hdul:
        bad = fits.HDUList([hdu.copy() for hdu in hdul])
    extension = contamination_hdu([60], [1.0])
    extension.columns.change_name("COUNTS", "RATE")
    bad.append(fits.BinTableHDU.from_columns(extension.columns, name="CONTAMINATION"))
    bad.writeto(background, overwrite=True)
    with pytest.raises(ValueError, match="CONTAMINATION"):
        measure(spectrum, background, rmf, specresp, onaxis, SETTINGS, BANDS, "X")


@pytest.mark.filterwarnings("ignore:Card is too long")
def test_deblending_noise_and_psf_systematic_widen_the_rates(tmp_path, calibration):
    """A CONTAMINATION table with VARIANCE widens the counts interval in quadrature
    (contamination.widen_for_deblending); a PSF-corrected ARF's PSFSYSLO lowers the rate's
    lower end; both are recorded."""
    from rassflow.products.contamination import contamination_hdu, widen_for_deblending

    rmf, specresp, _ = calibration
    src = write_spectrum(tmp_path / "s.pi", {100: 40, 60: 30}, backscal=1e-4)
    bkg = write_spectrum(tmp_path / "b.pi", {100: 4}, backscal=1e-3)
    plain = measure(src, bkg, rmf, specresp, calibration[2], SETTINGS, BANDS, "GJ 3")
    assert plain["deblending_sigma_counts"] == 0.0 and plain["psf_model"] is None

    variance = np.zeros(256)
    variance[10:235] = 0.1  # PI 11-235: 22.5 counts^2
    info = {"neighbours": 1, "confused": 0, "unresolved": 0, "variance": variance}
    with fits.open(bkg) as hdul:
        table = contamination_hdu(np.arange(1, 257), np.zeros(256), info)
        fits.HDUList([hdu.copy() for hdu in hdul] + [table]).writeto(tmp_path / "bc.pi")
    noisy = measure(src, tmp_path / "bc.pi", rmf, specresp, calibration[2], SETTINGS, BANDS, "x")
    assert noisy["deblending_sigma_counts"] == pytest.approx(np.sqrt(22.5))
    lo, hi = widen_for_deblending(
        plain["net_counts_mode"],
        plain["net_counts_lo"],
        plain["net_counts_hi"],
        np.sqrt(22.5),
        SETTINGS["confidence"],
    )
    assert (noisy["net_counts_lo"], noisy["net_counts_hi"]) == pytest.approx((lo, hi))
    assert noisy["counts_ul"] > plain["counts_ul"]

    regions = {
        "source_radius_arcmin": 2.0,
        "background_inner_factor": 2.0,
        "background_outer_factor": 4.0,
    }
    arf = make_arf(rmf, specresp, tmp_path / "psf.arf")
    apply_psf_correction(arf, src, bkg, regions)
    corrected = measure(src, bkg, rmf, specresp, arf, SETTINGS, BANDS, "GJ 3")
    assert corrected["psf_model"] == "psfoff"
    assert (corrected["bkg_inner_arcmin"], corrected["bkg_outer_arcmin"]) == (4.0, 8.0)
    low = corrected["psf_sys_lo"]
    assert 0.75 < low < corrected["psf_sys_hi"] < 0.95
    to_rate = corrected["net_rate"] / corrected["net_counts_mode"]
    assert corrected["net_rate_lo"] == pytest.approx(corrected["net_counts_lo"] * to_rate * low)
    assert corrected["net_rate_hi"] == pytest.approx(corrected["net_counts_hi"] * to_rate)
