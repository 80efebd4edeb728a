"""The simulator's Monte Carlo survey PSF against the calibration module's integrated one.

The two are independent implementations of the same published model (sampling vs
closed-form integration over off-axis angle), so agreement checks both.
"""

import ast
from pathlib import Path

import numpy as np
import pytest

from rassflow.calibration import psf
from rassflow.simulate import scan_psf

N_PHOTONS = 100_000


@pytest.mark.parametrize("energy", [0.3, 1.0, 1.5])
def test_sampled_eef_matches_survey_eef(energy):
    """1e5 photons: the binomial error of an EEF near 0.5-0.8 is ~0.0015, so 0.01 is ~7 sigma."""
    rng = np.random.default_rng(20240601 + int(energy * 10))
    dx, dy = scan_psf.sample_offsets(rng, np.full(N_PHOTONS, energy))
    radius = np.hypot(dx, dy) / 60.0
    for r in (1.0, 2.0, 3.0):
        sampled = np.mean(radius <= r)
        assert sampled == pytest.approx(float(psf.survey_eef(energy, r)), abs=0.01), r
    # and the sampler's annulus against the analytic one
    sampled_annulus = np.mean((radius > 2.1) & (radius <= 3.0))
    expected = float(psf.survey_annulus_fraction(energy, 2.1, 3.0))
    assert sampled_annulus == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("energy", [0.3, 1.0, 1.5, 2.0])
@pytest.mark.parametrize("theta", [0.0, 12.0, 40.0])
def test_sampled_pointed_psf_matches_pointed_eef(energy, theta):
    """Fixed off-axis angle: each component's sampler against its closed-form integral.

    Small radii test the Gaussian and the exponential (which matters on-axis above 1 keV),
    large ones the scattering wing; 40 000 photons give a binomial error <= 0.0025. The
    sampler blurs every photon with the attitude jitter, the calibration module only its
    Gaussian; the expected value adds the first-order difference for the exponential,
    ``-(a2 s^2 / 2 rc^2) (r / rc) exp(-r / rc)`` (up to 0.0065; second order < 0.0015).
    """
    rng = np.random.default_rng(int(1000 * energy + theta))
    dx, dy = scan_psf.sample_offsets(rng, np.full(40_000, energy), theta_arcmin=theta)
    radius = np.hypot(dx, dy) / 60.0
    c = psf.pointed_components(energy, theta)
    a2, rc = float(c["a2"]), float(c["rc"])
    for r in (0.1, 0.2, 0.35, 0.6, 1.0, 2.0, 5.0, 20.0):
        x = r * 60.0 / rc
        jitter = -a2 * psf.ATTITUDE_SIGMA_ARCSEC**2 / (2.0 * rc**2) * x * np.exp(-x)
        expected = float(psf.pointed_eef(energy, r, theta)) + jitter
        assert np.mean(radius <= r) == pytest.approx(expected, abs=0.01), r


def test_scan_theta_follows_area_times_vignetting():
    rng = np.random.default_rng(7)
    theta = scan_psf.sample_scan_theta(rng, 200_000)
    assert theta.min() >= 0.0 and theta.max() <= scan_psf.FOV_RADIUS_ARCMIN
    # CDF of theta V(theta) with V = 1 - c (theta / R)^2: (x^2/2 - c x^4/4) / (1/2 - c/4), x = t/R
    c = scan_psf.VIGNETTING_EDGE_LOSS
    for t in (10.0, 30.0, 45.0, 55.0):
        x = t / scan_psf.FOV_RADIUS_ARCMIN
        expected = (x**2 / 2 - c * x**4 / 4) / (0.5 - c / 4)
        assert np.mean(theta <= t) == pytest.approx(expected, abs=0.005)


def test_offsets_shape_determinism_and_energy_dependence():
    energies = np.repeat([0.2, 1.0, 2.0], 30_000).reshape(3, 30_000)
    dx1, dy1 = scan_psf.sample_offsets(np.random.default_rng(3), energies)
    dx2, dy2 = scan_psf.sample_offsets(np.random.default_rng(3), energies)
    assert dx1.shape == dy1.shape == energies.shape
    np.testing.assert_array_equal(dx1, dx2)
    np.testing.assert_array_equal(dy1, dy2)
    radius = np.hypot(dx1, dy1) / 60.0
    # mean offsets are near zero (no bias), the scattering wing reaches out to ~60'
    assert abs(np.mean(dx1)) < 2.0 and abs(np.mean(dy1)) < 2.0
    assert radius.max() <= scan_psf.SCATTER_TRUNCATION_ARCMIN + 0.1
    # the scattering fraction grows with energy: more photons beyond 5' at 2 keV
    beyond = (radius > 5.0).mean(axis=1)
    assert beyond[0] < beyond[1] < beyond[2]
    for row, energy in zip(radius, (0.2, 1.0, 2.0), strict=True):
        assert np.mean(row > 5.0) == pytest.approx(
            1.0 - float(psf.survey_eef(energy, 5.0)), abs=0.005
        )


def test_continuous_energies_follow_the_survey_psf():
    """Continuous photon energies (every photon its own) follow the survey PSF."""
    rng = np.random.default_rng(11)
    energy = rng.uniform(0.9, 1.1, 60_000)
    dx, dy = scan_psf.sample_offsets(rng, energy)
    radius = np.hypot(dx, dy) / 60.0
    expected = float(np.mean(psf.survey_eef(np.linspace(0.9, 1.1, 201), 2.0)))
    assert np.mean(radius <= 2.0) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("energy", [0.1, 0.5, 1.0, 2.0, 3.0])
def test_scattering_radii_follow_the_truncated_profile(energy):
    """The closed-form inverse CDF against a numerical integral of 2 pi r p(r) (scipy quad):
    1e5 draws, binomial errors < 0.0016."""
    from scipy.integrate import quad

    b1, b2 = 39.95 / energy, 861.9 / energy
    alpha = 2.119 + 0.212 * energy
    r_max = scan_psf.SCATTER_TRUNCATION_ARCMIN * 60.0

    def enclosed(r):
        def integrand(x):
            p = 1 / (b1**2 + x**2) if x <= b2 else (x / b2) ** -alpha / (b1**2 + b2**2)
            return 2 * np.pi * x * p

        return quad(integrand, 0.0, r, points=[b2] if b2 < r else None, limit=500)[0]

    radii = scan_psf._scattering_radii(np.random.default_rng(5), np.full(100_000, energy))
    assert radii.min() >= 0.0 and radii.max() <= r_max
    total = enclosed(r_max)
    for r in (20.0, 100.0, 500.0, 1500.0, 3000.0):
        assert np.mean(radii <= r) == pytest.approx(enclosed(r) / total, abs=0.006), r


def test_does_not_import_the_calibration_psf():
    """An independent implementation: its own imports are numpy and the standard library."""
    tree = ast.parse(Path(scan_psf.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported <= {"__future__", "numpy"}, imported


@pytest.mark.parametrize("energy", [0.3, 1.0, 2.0])
def test_gof_faq_sampler_matches_its_survey_eef(energy):
    """The GOF FAQ's Gaussian: sampled against the calibration module's survey integral of
    the same formula, and clearly narrower than PSFOFF inside 2' (~0.74 against ~0.63)."""
    rng = np.random.default_rng(4242 + int(energy * 10))
    dx, dy = scan_psf.sample_offsets(rng, np.full(N_PHOTONS, energy), model="gof_faq")
    radius = np.hypot(dx, dy) / 60.0
    for r in (0.5, 1.0, 2.0, 3.0, 6.0):
        expected = float(psf.survey_eef(energy, r, model="gof_faq"))
        assert np.mean(radius <= r) == pytest.approx(expected, abs=0.01), r
    assert (
        float(psf.survey_eef(energy, 2.0, model="gof_faq")) - float(psf.survey_eef(energy, 2.0))
        > 0.07
    )


def test_gof_faq_pointed_on_axis_fwhm():
    """On-axis, 1 keV: FWHM = sqrt(409.65 + 69.28 + 66.29) = 23.35" (the FAQ's ~25")."""
    rng = np.random.default_rng(3)
    dx, _ = scan_psf.sample_offsets(rng, np.full(200_000, 1.0), theta_arcmin=0.0, model="gof_faq")
    sigma = np.sqrt(409.65 + 69.28 + 66.29) / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    assert np.std(dx) == pytest.approx(sigma, rel=0.01)
    with pytest.raises(ValueError, match="PSF description"):
        scan_psf.sample_offsets(rng, np.ones(3), model="gaussian")
