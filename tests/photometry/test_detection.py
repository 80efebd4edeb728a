"""The detection test on blank sky: the randomized p-value P(X > N) + U P(X = N) (Stevens
1950, Biometrika 37, 117; the UMPU test of the ratio of two Poisson means given N + M, Lehmann
& Romano 2005, Testing Statistical Hypotheses, 3rd ed., sec. 4.5) is Uniform(0, 1) when there
is no source, so its flag fires at exactly norm.sf(detection_sigma); the exact conditional test
(Przyborowski & Wilenski 1940), discrete at a few counts, fires less often. U comes from the
member's id, so the numbers do not depend on the order or batching of the members.

Null data: per member a background mean b in the circle, N ~ Poisson(b), M ~ Poisson(b /
alpha), no contamination; counts as few as RASS circles hold (~0.5-6).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from rassflow.config import validate
from rassflow.photometry import bayes
from rassflow.photometry.forced import posterior_columns
from rassflow.photometry.onoff import _detection, randomized_detection

DRAWS = 200_000


def null_counts(size: int, seed: int):
    rng = np.random.default_rng(seed)
    alpha = rng.uniform(0.3, 1.5, size)
    b = rng.uniform(0.5, 6.0, size)
    n = rng.poisson(b).astype(float)
    m = rng.poisson(b / alpha).astype(float)
    return n, m, alpha


@pytest.fixture(scope="module")
def null():
    n, m, alpha = null_counts(DRAWS, seed=11)
    ids = [f"X-{i}" for i in range(DRAWS)]
    c = np.zeros(DRAWS)
    exact = _detection(n, m, alpha, c)
    randomized = randomized_detection(n, m, alpha, c, bayes.randomization_uniform(ids), exact)
    return exact, randomized


def test_randomized_flag_fires_at_the_promised_rate(null):
    exact, randomized = null
    level = special.ndtr(-2.0)  # 2 sigma: 2.3 %, a rate 2e5 draws measure to 1.5 %
    lo, hi = stats.binom.ppf([0.0005, 0.9995], DRAWS, level)
    fired = int((randomized <= level).sum())
    assert lo <= fired <= hi
    # the exact test is well below: its p-values take few values at these counts
    assert int((exact <= level).sum()) < lo


def test_randomized_p_value_is_uniform(null):
    _, randomized = null
    assert stats.kstest(randomized, "uniform").pvalue > 1e-3
    # the exact one is not (it is at least uniform: P(p <= a) <= a)
    exact, _ = null
    assert stats.kstest(exact, "uniform").pvalue < 1e-6


def test_randomized_lies_between_the_tails():
    n, m, alpha = null_counts(2000, seed=5)
    c = np.where(np.arange(2000) % 3 == 0, 0.8, 0.0)
    m[:50] = 0.0  # no background-region counts: P(X > N) = P(K > N)
    u = bayes.randomization_uniform([f"Y-{i}" for i in range(2000)])
    exact = _detection(n, m, alpha, c)
    at_zero = randomized_detection(n, m, alpha, c, np.zeros(2000), exact)
    at_one = randomized_detection(n, m, alpha, c, np.ones(2000), exact)
    assert np.all(at_zero <= exact) and np.allclose(at_one, exact, rtol=1e-14, atol=0)
    assert np.all(at_zero[:50][c[:50] == 0] == 0.0)
    # each member's scalar p-value, the same numbers
    got = randomized_detection(n, m, alpha, c, u, exact)
    for k in range(0, 2000, 37):
        one = bayes.onoff_randomized_detection_probability(n[k], m[k], alpha[k], c[k], u[k])
        assert got[k] == one


def test_uniforms_are_fixed_by_the_ids():
    ids = [f"X-{i}" for i in range(5000)]
    u = bayes.randomization_uniform(ids)
    assert np.all((u > 0) & (u < 1)) and len(np.unique(u)) == len(ids)
    assert np.array_equal(u, bayes.randomization_uniform(ids))
    assert bayes.randomization_uniform("X-7")[0] == u[7]
    order = np.random.default_rng(2).permutation(len(ids))
    assert np.array_equal(bayes.randomization_uniform([ids[k] for k in order]), u[order])
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def _columns(ids, n, m, alpha, settings):
    zeros = np.zeros(len(n))
    bands = {band: (zeros, zeros, zeros) for band in ("A", "B", "C", "D")}
    return posterior_columns(ids, n, m, alpha, zeros, bands, np.ones(len(n)), settings)


def test_columns_do_not_depend_on_order_or_batches():
    n, m, alpha = null_counts(400, seed=7)
    ids = [f"X-{i}" for i in range(400)]
    settings = validate({})["photometry"]
    assert settings["detection_test"] == "randomized"
    whole = _columns(ids, n, m, alpha, settings)
    order = np.random.default_rng(3).permutation(400)
    shuffled = _columns([ids[k] for k in order], n[order], m[order], alpha[order], settings)
    parts = (slice(0, 150), slice(150, 400))
    halves = [_columns(ids[s], n[s], m[s], alpha[s], settings) for s in parts]
    for key in ("detection_probability", "detection_p_randomized", "detected"):
        assert np.array_equal(shuffled[key], whole[key][order])
        assert np.array_equal(np.concatenate([h[key] for h in halves]), whole[key])


def test_the_config_chooses_the_test():
    n, m, alpha = null_counts(3000, seed=9)
    ids = [f"X-{i}" for i in range(3000)]
    level = special.ndtr(-2.0)
    randomized = _columns(ids, n, m, alpha, {"detection_sigma": 2.0})
    exact = _columns(ids, n, m, alpha, {"detection_sigma": 2.0, "detection_test": "exact"})
    # exact: the flag of the conservative p-value, as before the randomized test
    assert np.array_equal(exact["detected"], exact["detection_probability"] <= level)
    assert np.array_equal(randomized["detected"], randomized["detection_p_randomized"] <= level)
    assert not np.array_equal(randomized["detected"], exact["detected"])
    # the exact p-value and its significance are the same columns either way
    for key in ("detection_probability", "detection_sigma", "detection_p_randomized"):
        assert np.array_equal(randomized[key], exact[key], equal_nan=True)
    with pytest.raises(ValueError, match="detection_test"):
        _columns(ids[:3], n[:3], m[:3], alpha[:3], {"detection_test": "mid-p"})
