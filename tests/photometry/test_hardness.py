"""Bayesian hardness ratios: closed form at B = 0, Gaussian bright limit, symmetry, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from rassflow.photometry.hardness import hardness_ratio, hardness_ratio_cdf
from tests.support import bayes_reference as kbn


def _beta_reference(n_soft, n_hard, confidence):
    """B = 0: S ~ Gamma(N_S + 1), H ~ Gamma(N_H + 1) a posteriori, so H / (S + H) ~
    Beta(N_H + 1, N_S + 1) and HR = 2 Beta - 1 (Park et al. 2006, sec. 3)."""
    tail = 0.5 * (1 - confidence)
    q = special.betaincinv(n_hard + 1, n_soft + 1, [0.5, tail, 1 - tail])
    return 2 * q - 1


@pytest.mark.parametrize("confidence", [0.6827, 0.9, 0.99])
@pytest.mark.parametrize(
    ("n_soft", "n_hard"),
    [(0, 0), (0, 7), (3, 7), (12, 2), (50, 40), (300, 1000), (1, 2000), (0, 100000)],
)
def test_exact_without_background(n_soft, n_hard, confidence):
    result = hardness_ratio(n_soft, 0.0, n_hard, 0.0, confidence)
    np.testing.assert_allclose(result, _beta_reference(n_soft, n_hard, confidence), atol=1e-8)


def test_cdf_matches_beta():
    h = np.linspace(-0.99, 0.99, 23)
    got = hardness_ratio_cdf(h, 4, 0.0, 9, 0.0)
    np.testing.assert_allclose(got, special.betainc(10, 5, 0.5 * (h + 1)), atol=1e-10)
    assert hardness_ratio_cdf(-1.0, 4, 0.0, 9, 0.0) == 0.0
    assert hardness_ratio_cdf(1.0, 4, 0.0, 9, 0.0) == 1.0


def test_cdf_against_brute_force_quadrature_with_background():
    """P(HR <= h) = P(H <= r S), r = (1 + h) / (1 - h): compare with a dense 2-d midpoint sum of
    the two KBN posteriors."""
    ns, bs, nh, bh = 3, 1.7, 6, 0.8
    s = np.linspace(0, 40, 4001)[:-1] + 0.005
    ps = kbn.posterior_pdf(s, ns, bs) * 0.01
    h = 0.3
    r = (1 + h) / (1 - h)
    brute = np.sum(ps * kbn.posterior_cdf(r * s, nh, bh))
    assert hardness_ratio_cdf(h, ns, bs, nh, bh) == pytest.approx(brute, abs=2e-5)


def test_bright_limit_matches_gaussian_propagation():
    """Many counts: HR posterior -> Gaussian with sigma from first-order error propagation,
    sigma_HR = 2 sqrt(H^2 var_S + S^2 var_H) / (H + S)^2, var = N (source + background)."""
    src_s, src_h, bkg_s, bkg_h = 5000.0, 12000.0, 20.0, 30.0
    hr, lo, hi = hardness_ratio(src_s + bkg_s, bkg_s, src_h + bkg_h, bkg_h, 0.6827)
    expected = (src_h - src_s) / (src_h + src_s)
    sigma = (
        2
        * np.hypot(src_h * np.sqrt(src_s + bkg_s), src_s * np.sqrt(src_h + bkg_h))
        / ((src_h + src_s) ** 2)
    )
    assert abs(hr - expected) < 0.05 * sigma
    assert 0.5 * (hi - lo) == pytest.approx(sigma, rel=0.02)
    assert (hr - lo) == pytest.approx(hi - hr, rel=0.05)


@pytest.mark.parametrize(("n", "b"), [(0, 0.0), (0, 4.0), (3, 1.0), (25, 10.0), (4000, 100.0)])
def test_symmetric_inputs(n, b):
    hr, lo, hi = hardness_ratio(n, b, n, b, 0.9)
    assert abs(hr) < 1e-9
    assert lo == pytest.approx(-hi, abs=1e-9)
    assert lo < 0 < hi


def test_no_counts_gives_flat_posterior():
    """N = 0 gives an Exp(1) posterior in each band whatever B is (memoryless), so HR is
    uniform on [-1, 1]: median 0, equal-tail interval (-CL, CL)."""
    for b_soft, b_hard in [(0.0, 0.0), (2.0, 7.0), (30.0, 0.5)]:
        for cl in (0.6827, 0.9):
            hr, lo, hi = hardness_ratio(0, b_soft, 0, b_hard, cl)
            assert hr == pytest.approx(0.0, abs=1e-6)
            assert (lo, hi) == (pytest.approx(-cl, abs=1e-4), pytest.approx(cl, abs=1e-4))


@pytest.mark.parametrize(
    "args", [(2, 0.5, 9, 1.0), (0, 1.0, 14, 2.0), (30, 3.0, 1, 4.0), (500, 20.0, 80, 5.0)]
)
def test_swapping_bands_flips_sign(args):
    n_s, b_s, n_h, b_h = args
    hr, lo, hi = hardness_ratio(n_s, b_s, n_h, b_h, 0.9)
    hr2, lo2, hi2 = hardness_ratio(n_h, b_h, n_s, b_s, 0.9)
    assert hr2 == pytest.approx(-hr, abs=1e-7)
    assert lo2 == pytest.approx(-hi, abs=1e-7)
    assert hi2 == pytest.approx(-lo, abs=1e-7)


def test_always_inside_unit_interval():
    counts = [0, 1, 3, 20, 200, 20000]
    backgrounds = [0.0, 0.7, 15.0]
    for n_s in counts:
        for n_h in counts:
            for b in backgrounds:
                for cl in (0.6827, 0.99):
                    hr, lo, hi = hardness_ratio(n_s, b, n_h, 2 * b, cl)
                    assert -1.0 <= lo <= hr <= hi <= 1.0
    # a hard source with no soft counts sits near +1: H / (S + H) ~ Beta(401, 1), so the
    # 5 % quantile is 0.05^(1/401) and HR = 2 * that - 1
    hr, lo, hi = hardness_ratio(0, 0.0, 400, 0.0, 0.9)
    assert lo == pytest.approx(2 * 0.05 ** (1 / 401) - 1, abs=1e-9)
    assert 0.98 < lo < hr < hi < 1.0


def test_broadcasting():
    hr, lo, hi = hardness_ratio([1, 2, 3], 0.5, [[4], [5]], 0.2)
    assert hr.shape == lo.shape == hi.shape == (2, 3)
    assert hr[1, 2] == hardness_ratio(3, 0.5, 5, 0.2)[0]
    assert isinstance(hardness_ratio(1, 0.0, 2, 0.0)[0], float)


def test_deterministic():
    first = hardness_ratio(4, 1.3, 11, 0.6, 0.9)
    for _ in range(3):
        assert hardness_ratio(4, 1.3, 11, 0.6, 0.9) == first
    np.testing.assert_array_equal(
        np.array(hardness_ratio([4, 7], 1.3, 11, 0.6, 0.9)),
        np.array(hardness_ratio([4, 7], 1.3, 11, 0.6, 0.9)),
    )


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((-1, 0.0, 3, 0.0), "n_soft"),
        ((1, -0.5, 3, 0.0), "b_soft"),
        ((1, 0.0, 2.5, 0.0), "n_hard"),
        ((1, 0.0, 3, np.nan), "b_hard"),
    ],
)
def test_invalid_input(args, match):
    with pytest.raises(ValueError, match=match):
        hardness_ratio(*args)
    with pytest.raises(ValueError, match="confidence"):
        hardness_ratio(1, 0.0, 3, 0.0, 1.2)
    with pytest.raises(ValueError, match="hr"):
        hardness_ratio_cdf(1.5, 1, 0.0, 3, 0.0)


def test_hardness_ratios_of_many_members_equal_the_scalar_function():
    """The array version runs the same quadrature and iteration member by member: faint and
    bright bands, no background, and a background so high that Q(N + 1, B) underflows."""
    from rassflow.photometry.hardness import hardness_ratio, hardness_ratios

    rng = np.random.default_rng(3)
    size = 60
    ns = rng.poisson(rng.choice([0.5, 3.0, 30.0, 300.0], size))
    nh = rng.poisson(rng.choice([0.5, 3.0, 30.0, 300.0], size))
    bs = rng.choice([0.0, 0.3, 2.5, 40.0], size) * rng.random(size)
    bh = rng.choice([0.0, 0.3, 2.5, 40.0], size) * rng.random(size)
    ns[:3], bs[:3] = 0, 1e4
    got = np.array(hardness_ratios(ns, bs, nh, bh, 0.9))
    for k in range(size):
        expected = hardness_ratio(int(ns[k]), bs[k], int(nh[k]), bh[k], 0.9)
        np.testing.assert_allclose(got[:, k], expected, rtol=1e-12, atol=1e-15)
    assert np.all(got[1] <= got[0]) and np.all(got[0] <= got[2])
