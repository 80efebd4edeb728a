"""Kraft, Burrows & Nousek (1991) known-background posterior: the reference implementation the
tests check rassflow.photometry.bayes against.

KBN (1991, ApJ 374, 344; equation numbers as in the paper, whose eqs. 7, 8 and 9 astropy's
implementation transcribes as eqn7/eqn8/eqn9): ``N`` counts observed in an aperture whose
expected background ``B`` is known, uniform prior on the source counts ``s >= 0``::

    p(s | N, B) = (s + B)^N exp(-(s + B)) / (N! Q(N + 1, B)),
    F(s) = 1 - Q(N + 1, B + s) / Q(N + 1, B)

(``Q`` the regularized upper incomplete gamma function, DLMF 8.4.10). Its density, CDF, mode,
one-sided upper limit, shortest (equal-density) interval and the Poisson detection probability
on a known background live here; production uses only its quantile
(:func:`rassflow.photometry.bayes.posterior_quantile`, for hardness ratios) and the on/off
posterior, which tends to this one for a well-measured background. The functions broadcast over
numpy arrays; scalar inputs give Python ``float`` (or ``bool``) results.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from rassflow.photometry.bayes import (
    _as_float_array,
    _background,
    _confidence,
    _counts,
    _log_q,
    _out,
    _u_quantile,
)


def _log_density(u, n) -> np.ndarray:
    """log of the (unnormalised) posterior in u = s + B: N ln u - u (KBN eq. 7)."""
    return special.xlogy(n, u) - u


def posterior_pdf(s, n, b):
    """Posterior density p(s | N, B) of the source counts, KBN (1991) eqs. 7-8.

    ``p(s) = (s + B)^N e^-(s+B) / (N! Q(N + 1, B))`` with ``Q`` the regularized upper incomplete
    gamma function, which equals KBN's normalisation ``sum_{k<=N} B^k e^-B / k!``.
    """
    s = _as_float_array(s, "s")
    if np.any(s < 0):
        raise ValueError(f"s (source counts) must be >= 0, got {s!r}")
    n, b = _counts(n), _background(b)
    s, n, b = np.broadcast_arrays(s, n, b)
    u = s + b
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = _log_density(u, n) - special.gammaln(n + 1.0) - _log_q(n + 1.0, b)
    return _out(np.exp(logp))


def posterior_cdf(s, n, b):
    """Posterior probability that the source counts are <= ``s``.

    ``F(s) = 1 - Q(N + 1, B + s) / Q(N + 1, B)`` -- the integral of KBN (1991) eq. 7 from 0 to s,
    using ``int_B^{B+s} u^N e^-u / N! du = Q(N + 1, B) - Q(N + 1, B + s)`` (DLMF 8.2.4).
    """
    s = _as_float_array(s, "s")
    if np.any(s < 0):
        raise ValueError(f"s (source counts) must be >= 0, got {s!r}")
    n, b = _counts(n), _background(b)
    s, n, b = np.broadcast_arrays(s, n, b)
    a = n + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = _log_q(a, b + s) - _log_q(a, b)
    cdf = -np.expm1(np.minimum(log_ratio, 0.0))
    return _out(np.clip(cdf, 0.0, 1.0))


def posterior_mode(n, b):
    """Most probable source counts, ``max(N - B, 0)``: KBN's (1991) posterior (eq. 7) peaks at
    s = N - B, or at the s = 0 boundary when N <= B. This is KBN's point estimate."""
    n, b = _counts(n), _background(b)
    return _out(np.maximum(n - b, 0.0))


def upper_limit(n, b, confidence=0.9):
    """One-sided Bayesian upper limit on the source counts: ``int_0^UL p(s | N, B) ds = CL``.

    From KBN (1991) eq. 7 with the lower limit fixed at 0 (their eq. 9 with S_min = 0), i.e.
    ``Q(N + 1, B + UL) = (1 - CL) Q(N + 1, B)``, solved with the inverse regularized incomplete
    gamma function. For N = 0 this gives ``UL = -ln(1 - CL)`` whatever B is.
    """
    n, b, cl = _counts(n), _background(b), _confidence(confidence)
    n, b, cl = np.broadcast_arrays(n, b, cl)
    u = _u_quantile(n + 1.0, b, 1.0 - cl, cl)
    return _out(np.maximum(u - b, 0.0))


def _upper_branch(u_lo: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The u_hi > N with the same posterior density as u_lo < N: N ln u - u equal at both
    (KBN 1991 eq. 9, equal-density condition). With t = u / N, t e^-t is the same at both ends,
    so t_hi = -W_{-1}(-t_lo e^-t_lo) (Lambert W, lower branch), then one Newton polish on
    log1p(d) - d = const with d = t - 1 for accuracy near the branch point."""
    t_lo = u_lo / n
    z = -t_lo * np.exp(-t_lo)
    with np.errstate(invalid="ignore"):
        t_hi = -special.lambertw(np.maximum(z, -np.exp(-1.0)), k=-1).real
    d_lo = t_lo - 1.0
    d_hi = t_hi - 1.0
    target = np.log1p(d_lo) - d_lo
    for _ in range(2):
        g = np.log1p(d_hi) - d_hi - target
        dg = -d_hi / (1.0 + d_hi)
        step = np.where(dg != 0, g / np.where(dg != 0, dg, 1.0), 0.0)
        d_hi = np.maximum(d_hi - step, 0.0)
    return n * (1.0 + d_hi)


def credible_interval(n, b, confidence=0.6827):
    """KBN's shortest (highest-posterior-density) credible interval on the source counts.

    Returns ``(lo, hi)`` with ``int_lo^hi p(s | N, B) ds = CL`` and ``p(lo) = p(hi)`` (KBN 1991
    eq. 9 and the accompanying text: of all intervals with the required probability the one
    with equal density at both ends is the shortest). When the density at ``s = 0`` is at least
    the density at the one-sided limit -- always when N <= B, where the posterior decreases
    monotonically from 0 -- the interval is ``(0, upper_limit(n, b, confidence))``. The point
    estimate that goes with it is :func:`posterior_mode`, ``max(N - B, 0)``.

    Interior intervals are found by a safeguarded Newton iteration on the lower end u_lo = B + lo
    in (B, N) (bracketed, so it cannot fail), the upper end following from the equal-density
    condition via the Lambert W function (:func:`_upper_branch`).
    """
    n, b, cl = _counts(n), _background(b), _confidence(confidence)
    n, b, cl = np.broadcast_arrays(n, b, cl)
    a = n + 1.0
    hi = np.array(np.maximum(_u_quantile(a, b, 1.0 - cl, cl) - b, 0.0), dtype=float)
    lo = np.zeros_like(hi)

    # HPD touches 0 unless the mode N - B is positive and p(0) < p(UL)
    with np.errstate(divide="ignore"):
        interior = (n > b) & (_log_density(b, n) < _log_density(b + hi, n))
    if np.any(interior):
        ni, bi, ci = n[interior], b[interior], cl[interior]
        ai = ni + 1.0
        qb = special.gammaincc(ai, bi)  # >= ~1/2 here since B < N
        log_norm = -special.gammaln(ai)

        def coverage_excess(u_lo):
            u_hi = _upper_branch(u_lo, ni)
            return special.gammaincc(ai, u_lo) - special.gammaincc(ai, u_hi) - ci * qb, u_hi

        left = bi.copy()  # excess > 0 here (interior case)
        right = ni.copy()  # excess = -CL Q(a, B) < 0 at the mode
        # start from the Gaussian approximation N - z sqrt(N), kept inside the bracket
        z = -special.ndtri(0.5 * (1.0 - ci))
        u = np.clip(
            ni - z * np.sqrt(ni), left + 0.01 * (right - left), right - 0.01 * (right - left)
        )
        done = np.zeros(ni.shape, dtype=bool)
        for _ in range(200):
            g, u_hi = coverage_excess(u)
            done |= np.abs(g) <= 1e-15
            left = np.where(g > 0, u, left)
            right = np.where(g > 0, right, u)
            # dG/du_lo = f(u_lo) (du_hi/du_lo - 1), du_hi/du_lo = (N/u_lo - 1) / (N/u_hi - 1)
            f_lo = np.exp(_log_density(u, ni) + log_norm)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = (ni / u - 1.0) / (ni / u_hi - 1.0)
                newton = u - g / (f_lo * (ratio - 1.0))
            ok = np.isfinite(newton) & (newton >= left) & (newton <= right)
            done |= ok & (np.abs(newton - u) <= 1e-13 * np.maximum(u, 1.0))
            u = np.where(done, u, np.where(ok, newton, 0.5 * (left + right)))
            done |= right - left <= 4e-16 * np.maximum(right, 1.0)
            if np.all(done):
                break
        u_hi = _upper_branch(u, ni)
        lo[interior] = np.maximum(u - bi, 0.0)
        hi[interior] = u_hi - bi
    return _out(lo), _out(hi)


def detection_probability(n, b):
    """Probability that the background alone gives at least ``N`` counts (the p-value of the
    source detection), ``P(X >= N | B) = 1 - sum_{k<N} B^k e^-B / k! = P(N, B)`` with ``P`` the
    regularized lower incomplete gamma function (DLMF 8.4.10); 1 for N = 0. For B = 0 and
    N >= 1 it is 0.
    """
    n, b = _counts(n), _background(b)
    n, b = np.broadcast_arrays(n, b)
    with np.errstate(invalid="ignore"):
        p = np.where(n > 0, special.gammainc(np.maximum(n, 1.0), b), 1.0)
    return _out(p)


def is_detected(n, b, sigma_threshold=3.0):
    """True where the background-only p-value is at most the one-sided Gaussian tail at
    ``sigma_threshold``: ``detection_probability(n, b) <= norm.sf(sigma_threshold)``.

    Because counts are discrete the false-positive rate at s = 0 is at most ``norm.sf(threshold)``
    (the test is conservative), approaching it for large B.
    """
    thr = _as_float_array(sigma_threshold, "sigma_threshold")
    p = np.asarray(detection_probability(n, b))
    return _out(p <= special.ndtr(-thr))  # norm.sf(thr)
