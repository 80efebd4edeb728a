"""The on/off posterior of many members at once equals the scalar OnOff, member by member."""

import numpy as np
import pytest

from rassflow.photometry import bayes
from rassflow.photometry.onoff import onoff_summary


def _scalar(n, m, alpha, c, confidence, ul_confidence):
    posterior = bayes.OnOff(n, m, alpha, c)
    lo, hi = posterior.interval(confidence)
    return (
        posterior.mode(),
        lo,
        hi,
        posterior.quantile(ul_confidence),
        bayes.onoff_detection_probability(n, m, alpha, c),
    )


def test_summary_equals_the_scalar_posterior():
    """Faint and bright members, empty apertures and backgrounds, contamination, a source
    whose posterior at 0 lies 200 e-folds below its mode, Q(N + 1, B) underflowing."""
    rng = np.random.default_rng(21)
    size = 90
    lam = rng.choice([0.2, 3.0, 6.0, 40.0, 300.0], size)
    n = rng.poisson(lam).astype(float)
    m = rng.poisson(lam * rng.uniform(0.5, 2.0, size)).astype(float)
    alpha = rng.uniform(0.3, 1.2, size)
    c = np.where(rng.random(size) < 0.3, rng.uniform(0.0, 5.0, size), 0.0)
    n[:5], m[:5], c[:5] = [0, 40, 0, 3000, 2], [0, 0, 1000, 20, 3], [0, 0, 0, 0, 400]
    got = np.array(onoff_summary(n, m, alpha, c, 0.6827, 0.9973))
    for k in range(size):
        expected = _scalar(n[k], m[k], alpha[k], c[k], 0.6827, 0.9973)
        np.testing.assert_allclose(got[:, k], expected, rtol=1e-9, atol=0, err_msg=str(k))
    assert (got[1] > 0).sum() > 10  # intervals off zero are among them
    assert (got[1] == 0).sum() > 10


def test_summary_checks_its_inputs():
    with pytest.raises(ValueError, match="whole"):
        onoff_summary([1.5], [1.0], [1.0], [0.0], 0.68, 0.99)
    with pytest.raises(ValueError, match="alpha"):
        onoff_summary([1.0], [1.0], [0.0], [0.0], 0.68, 0.99)
