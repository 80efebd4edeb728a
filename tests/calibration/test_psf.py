"""The PSPC pointed and RASS survey PSF of rassflow.calibration.psf."""

import ast
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad

from rassflow.calibration import psf

ENERGIES = (0.2, 0.5, 1.0, 1.5, 2.0)
ARF_GRID = np.linspace(0.05, 3.0, 700)  # an ARF-like energy grid, reaching below the model


@pytest.mark.parametrize("energy", [0.1, 0.3, 1.0, 2.0, 2.8])
@pytest.mark.parametrize("theta", [0.0, 15.0, 45.0])
def test_profile_integrates_to_the_closed_form_eef(energy, theta):
    """2 pi r psf(r) integrated numerically equals pointed_eef: checks both against each other."""
    b2 = 861.9 / energy / 60.0  # the scattering break, arcmin
    for radius in (0.3, 1.0, 3.0, 60.0):
        points = [p for p in (0.05, 0.3, 1.0, 5.0, b2) if p < radius]
        numeric, _ = quad(
            lambda r: 2.0 * np.pi * r * psf.pointed_psf(energy, r, theta),
            0.0,
            radius,
            points=points or None,
            limit=400,
            epsabs=1e-10,
        )
        assert numeric == pytest.approx(float(psf.pointed_eef(energy, radius, theta)), abs=2e-6)
    assert float(psf.pointed_eef(energy, 60.0, theta)) == pytest.approx(1.0, abs=1e-9)


def test_components_fractions_and_quadrature_blur():
    energy = np.geomspace(0.07, 3.0, 40)[:, None]
    theta = np.linspace(0.0, 57.0, 20)[None, :]
    c = psf.pointed_components(energy, theta)
    total = c["a1"] + c["a2"] + c["a3"]
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    for key in ("a1", "a2", "a3"):
        assert np.all(c[key] >= 0.0)
    # the off-axis blur adds in quadrature: 0.219 theta^2.848 arcsec^2 (CAL/ROS/93-015)
    on = psf.pointed_components(energy, 0.0)
    blur2 = np.broadcast_to(0.219 * theta**2.848, total.shape)
    np.testing.assert_allclose(c["sigma"] ** 2 - on["sigma"] ** 2, blur2, rtol=1e-9, atol=1e-9)
    # at 1 keV on-axis the Gaussian is 10.5" (detector) with 3.5" attitude: FWHM ~26"
    one = psf.pointed_components(1.0, 0.0)
    assert float(one["sigma"]) * 2.3548 == pytest.approx(26.0, abs=0.5)


def test_eef_monotonic_and_reaches_one_at_60_arcmin():
    radius = np.linspace(0.0, 60.0, 3001)
    for energy in (0.1, 0.3, 1.0, 2.0, 3.0):
        for theta in (0.0, 30.0, 57.0):
            eef = psf.pointed_eef(energy, radius, theta)
            assert np.all(np.diff(eef) >= -1e-15)
            assert eef[0] == 0.0
            assert abs(eef[-1] - 1.0) < 1e-3
        survey = psf.survey_eef(energy, radius)
        assert np.all(np.diff(survey) >= -1e-15)
        assert survey[0] == 0.0
        assert abs(survey[-1] - 1.0) < 1e-3
    # the un-truncated wing would leave 2 % beyond 60' at 1 keV: truncation is what gives 1
    assert float(psf.survey_eef(1.0, 30.0)) < 0.995


@pytest.mark.parametrize("energy", ENERGIES)
def test_survey_eef_2arcmin_and_annulus(energy):
    """Survey EEF(2') and the 2.1'-3' annulus fraction.

    Measured with this model: EEF(2') 0.654, 0.653, 0.641, 0.629, 0.619 and annulus
    0.160, 0.155, 0.150, 0.145, 0.141 at 0.2, 0.5, 1.0, 1.5, 2.0 keV. The fact sheet's rough
    estimate (70-90 % inside 2', 4-13 % in the annulus; not a published number) is not
    reproduced: 43 % of the theta x V(theta) weight lies beyond 40' off-axis, where the
    memo's mirror blur (sigma = sqrt(0.219) theta^1.424" >= 1.5') leaves < 60 % inside 2'.
    With the GOF FAQ's rougher blur, FWHM = 0.29 a^1.74", the same average gives 0.67-0.72,
    and dropping the area factor theta gives 0.73-0.79: either may be where that estimate
    came from. The bands below hold the model's values with room for the vignetting
    uncertainty (no vignetting: 0.59-0.61; a 60 % edge loss: 0.64-0.67) and fail for a wrong
    weighting (theta^2: 0.54-0.56; no theta: 0.73-0.79) or a mirror blur off by sqrt(2) in
    sigma (0.49-0.50 or 0.74-0.80).
    """
    eef2 = float(psf.survey_eef(energy, 2.0))
    annulus = float(psf.survey_annulus_fraction(energy, 2.1, 3.0))
    assert 0.58 <= eef2 <= 0.70
    assert 0.12 <= annulus <= 0.18
    assert annulus == pytest.approx(
        float(psf.survey_eef(energy, 3.0)) - float(psf.survey_eef(energy, 2.1)), abs=1e-12
    )


def test_survey_weighting_matters():
    """The weighting must be theta (area) x vignetting: alternatives give distinguishable EEFs."""
    default = float(psf.survey_eef(1.0, 2.0))

    def flat(theta):
        return np.ones_like(theta)

    no_vignetting = float(psf.survey_eef(1.0, 2.0, flat))
    assert no_vignetting < default - 0.02  # more weight at large theta -> broader
    # theta^2 weighting (a wrong, "volume" weight) is much broader still, no area factor
    # (uniform in theta) much sharper
    theta, w = psf.survey_theta_weights(lambda t: t * psf.vignetting(t))
    assert float(w @ psf.pointed_eef(1.0, 2.0, theta)) < default - 0.07
    theta, w = psf.survey_theta_weights(lambda t: psf.vignetting(t) / np.maximum(t, 1e-9))
    assert float(w @ psf.pointed_eef(1.0, 2.0, theta)) > default + 0.1


def test_onaxis_eef_near_gof_faq_values_at_1kev():
    """GOF FAQ (pspc_psf_faq1): on-axis 50 % within 0.22', 90 % within 0.45', 95 % within 1.55'.

    The FAQ names no energy; the model meets it best at 1.0-1.1 keV, the energy the PSPC is
    focused for (largest deviation 0.028 at 1.0 keV, > 0.1 at 0.6 and 1.6 keV). Tolerance
    0.04 in EEF: the FAQ's radii are rounded to 0.01' on a slope of ~1.7 per arcmin (+/-0.01),
    its own detector FWHM formula (23.3" at 1 keV) is 6 % narrower than the memo's 24.7"
    (~0.02 at 0.22'), and our Gaussian includes the 3.5" attitude residual (~0.03 at 0.22').
    """
    radii = np.array([0.22, 0.45, 1.55])
    faq = np.array([0.50, 0.90, 0.95])
    assert np.all(np.abs(psf.pointed_eef(1.0, radii, 0.0) - faq) <= 0.04)
    for energy in (0.6, 1.6):  # far from the focus energy the FAQ values do not hold
        assert np.max(np.abs(psf.pointed_eef(energy, radii, 0.0) - faq)) > 0.1


@pytest.mark.parametrize("energy", ENERGIES)
def test_survey_broader_than_onaxis(energy):
    radius = np.array([0.25, 0.5, 1.0, 2.0, 3.0, 5.0])
    onaxis = psf.pointed_eef(energy, radius, 0.0)
    survey = psf.survey_eef(energy, radius)
    assert np.all(survey < onaxis)
    # the half-count radius grows > 2.5 times (on-axis 0.23-0.56', survey 1.3-1.5')
    r50_survey = float(psf.survey_radius_for_eef(energy, 0.5))
    grid = np.linspace(0.0, 5.0, 50001)
    r50_onaxis = grid[np.searchsorted(psf.pointed_eef(energy, grid, 0.0), 0.5)]
    assert r50_survey > 2.5 * r50_onaxis


def test_radius_for_eef_inverts_survey_eef():
    fractions = np.array([0.1, 0.5, 0.75, 0.9, 0.99])
    for energy in (0.1, 0.3, 1.0, 2.0, 2.9):
        radius = psf.survey_radius_for_eef(energy, fractions)
        assert np.all(np.diff(radius) > 0)
        np.testing.assert_allclose(psf.survey_eef(energy, radius), fractions, atol=1e-9)
    r75 = psf.survey_radius_for_eef(np.array(ENERGIES), 0.75)
    assert np.all((r75 > 2.3) & (r75 < 2.9))  # 2.45' at 0.2 keV to 2.76' at 2 keV
    with pytest.raises(ValueError):
        psf.survey_radius_for_eef(1.0, 1.0)
    with pytest.raises(ValueError):
        psf.survey_radius_for_eef(1.0, 0.0)


def test_table_agrees_with_direct_theta_integration():
    """The cached, interpolated table against a brute-force trapezoid average over theta."""
    theta = np.linspace(0.0, psf.FOV_RADIUS_ARCMIN, 2281)
    weight = theta * psf.vignetting(theta)
    trapezoid = np.full(theta.size, np.diff(theta)[0])
    trapezoid[[0, -1]] *= 0.5
    weight = weight * trapezoid / np.sum(weight * trapezoid)
    for energy in (0.08, 0.25, 0.7, 1.3, 2.2):
        for radius in (0.2, 0.8, 2.0, 4.0, 12.0):
            direct = float(weight @ psf.pointed_eef(energy, radius, theta))
            assert float(psf.survey_eef(energy, radius)) == pytest.approx(direct, abs=5e-4)


def test_vectorised_arf_grid_matches_scalar_calls_and_is_fast():
    psf.survey_eef(1.0, 2.0)  # build the cached table
    start = time.perf_counter()
    eef = psf.survey_eef(ARF_GRID, 2.0)
    annulus = psf.survey_annulus_fraction(ARF_GRID, 2.1, 3.0)
    r75 = psf.survey_radius_for_eef(ARF_GRID, 0.75)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.1
    assert eef.shape == annulus.shape == r75.shape == ARF_GRID.shape
    scalar = np.array([float(psf.survey_eef(e, 2.0)) for e in ARF_GRID])
    np.testing.assert_allclose(eef, scalar, rtol=0, atol=1e-14)
    scalar_r75 = np.array([float(psf.survey_radius_for_eef(e, 0.75)) for e in ARF_GRID])
    np.testing.assert_allclose(r75, scalar_r75, rtol=0, atol=1e-12)
    # outer product: energies x radii
    grid = psf.survey_eef(ARF_GRID[:, None], np.array([1.0, 2.0, 3.0]))
    assert grid.shape == (700, 3)
    np.testing.assert_allclose(grid[:, 1], eef, atol=1e-14)
    # below the model's 0.07 keV the PSF is the 0.07 keV one
    assert float(psf.survey_eef(0.05, 2.0)) == float(psf.survey_eef(0.07, 2.0))


def test_custom_vignetting_gets_its_own_table():
    def steep(theta):
        return np.clip(1.0 - 0.6 * (theta / 57.0) ** 2, 0.0, 1.0)

    default = float(psf.survey_eef(0.5, 2.0))
    steeper = float(psf.survey_eef(0.5, 2.0, steep))
    assert steeper > default + 0.01  # less weight at large off-axis angles -> sharper
    assert float(psf.survey_eef(0.5, 2.0)) == default  # default table untouched
    with pytest.raises(ValueError):
        psf.survey_eef(0.5, 2.0, lambda t: -np.ones_like(t))


def test_imports_only_numpy_and_scipy():
    """Production code: nothing from rassflow.simulate (or anything else but numpy/scipy)."""
    tree = ast.parse(Path(psf.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or "").split(".")[0])
    assert imported <= {"__future__", "functools", "numpy", "scipy"}, imported


def test_gof_faq_description_is_a_survey_averaged_gaussian():
    """model='gof_faq': the FAQ's FWHMs in quadrature, averaged over the scan like PSFOFF.
    On-axis at 1 keV the 50 % radius is 1.1774 sigma = 0.19' (the FAQ quotes 0.22' for
    the full PSF); the survey table agrees with a direct theta integration."""
    sigma = float(psf.gof_sigma_arcsec(1.0, 0.0))
    assert sigma == pytest.approx(np.sqrt(409.65 + 69.28 + 66.29) / 2.35482, rel=1e-4)
    assert float(psf.gof_pointed_eef(1.0, 1.1774 * sigma / 60.0)) == pytest.approx(0.5, abs=1e-3)
    theta, w = psf.survey_theta_weights()
    for energy in (0.2, 1.0, 2.0):
        for r in (0.5, 2.0, 4.0):
            direct = float(w @ psf.gof_pointed_eef(energy, r, theta))
            tabled = float(psf.survey_eef(energy, r, model="gof_faq"))
            assert tabled == pytest.approx(direct, abs=5e-4)
    # narrower than PSFOFF's survey PSF inside 2', almost no wing beyond 6'
    assert float(psf.survey_eef(1.0, 2.0, model="gof_faq")) == pytest.approx(0.739, abs=0.005)
    assert float(psf.survey_eef(1.0, 2.0)) == pytest.approx(0.641, abs=0.005)
    assert 1.0 - float(psf.survey_eef(1.0, 6.0, model="gof_faq")) < 0.005
    with pytest.raises(ValueError, match="PSF description"):
        psf.survey_eef(1.0, 2.0, model="king")
