"""Bayesian source counts in an aperture: the posteriors the forced photometry uses.

Aperture photometry (:mod:`rassflow.photometry.aperture`) measures the background in a second
region, so its source counts come from the on/off posterior (:class:`OnOff`): ``N`` counts in
the source aperture, ``M`` in a background region with ``1 / alpha`` times the aperture's
background (alpha = BACKSCAL_src / BACKSCAL_bkg) and a known contamination ``c`` in the
aperture, ``N ~ Poisson(s + c + alpha beta)``, ``M ~ Poisson(beta)``, uniform priors on
``s, beta >= 0`` and beta marginalised analytically (Loredo 1992, in Statistical Challenges in
Modern Astronomy, eds. Feigelson & Babu, sec. 5.2; derivation in the comment above
:class:`OnOff`). It gives the mode, the one-sided upper limit (a quantile) and the shortest
interval. The detection p-value (:func:`onoff_detection_probability`) is the background-only
tail probability averaged over the background's posterior (Cousins, Linnemann & Tucker 2008,
NIM A 595, 480, "Z_Gamma"); without contamination it is the conditional binomial test of the two
counts (Przyborowski & Wilenski 1940, Biometrika 31, 313), conservative at a few counts;
:func:`onoff_randomized_detection_probability` is its randomized version, exact in size
(Stevens 1950, Biometrika 37, 117), with the uniform of :func:`randomization_uniform`.
:func:`detection_sigma` turns a p-value into a one-sided Gaussian significance.

Hardness ratios (:mod:`rassflow.photometry.hardness`) take each band's background ``B`` as
known and use the posterior of Kraft, Burrows & Nousek (1991, ApJ 374, 344; "KBN", eqs. 7-8),
uniform prior on ``s >= 0``::

    p(s | N, B) = (s + B)^N exp(-(s + B)) / (N! Q(N + 1, B)),
    F(s) = 1 - Q(N + 1, B + s) / Q(N + 1, B)

with ``Q`` the regularized upper incomplete gamma function (KBN's normalisation
``sum_{k<=N} B^k e^-B / k!`` is ``Q(N + 1, B)``, DLMF 8.4.10). :func:`posterior_quantile` inverts
``F`` with scipy's inverse incomplete gamma functions, exact to double precision for N up to
10^5 and beyond; where ``Q(N + 1, B)`` underflows (``B`` hundreds of sigma above ``N``),
``log Q`` comes from its Legendre continued fraction and the quantile from a bracketed
root-finder. The on/off posterior is a mixture of KBN posteriors on the background ``c`` and
tends to KBN's with background ``B + c`` for a large background region (alpha -> 0 at fixed
alpha M = B). KBN's density, CDF, upper limit and shortest interval, against which both are
tested, are in tests/support/bayes_reference.py.

``n`` must be a non-negative integer count, backgrounds and contaminations non-negative and
finite; anything else raises ``ValueError``. :func:`posterior_quantile` and
:func:`detection_sigma` broadcast over numpy arrays and give Python floats for scalars;
:class:`OnOff` takes scalars.
"""

from __future__ import annotations

import numpy as np

# scipy.special and scipy.optimize only: scipy.stats costs a fit job ~0.5 s of imports
from scipy import optimize, special

__all__ = [
    "OnOff",
    "deblended_background",
    "detection_sigma",
    "onoff_detection_probability",
    "onoff_randomized_detection_probability",
    "posterior_quantile",
    "randomization_uniform",
]

# Below this Q(a, x) is taken from the continued fraction in log space instead of scipy.
_Q_UNDERFLOW = 1e-280
_TINY = 1e-300


# ---------------------------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------------------------


def _as_float_array(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return arr


def _nonnegative(value, name: str, what: str, whole: bool = False) -> np.ndarray:
    arr = _as_float_array(value, name)
    if np.any(arr < 0):
        raise ValueError(f"{name} ({what}) must be >= 0, got {value!r}")
    if whole and np.any(arr != np.floor(arr)):
        raise ValueError(f"{name} ({what}) must be whole numbers, got {value!r}")
    return arr


def _counts(n, name: str = "n") -> np.ndarray:
    return _nonnegative(n, name, "observed counts", whole=True)


def _background(b, name: str = "b") -> np.ndarray:
    return _nonnegative(b, name, "expected background counts")


def _confidence(confidence) -> np.ndarray:
    arr = _as_float_array(confidence, "confidence")
    if np.any((arr <= 0) | (arr >= 1)):
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    return arr


def _out(arr):
    """A 0-d result as a Python scalar, anything else as an array."""
    arr = np.asarray(arr)
    if arr.ndim == 0:
        return arr.item()
    return arr


# ---------------------------------------------------------------------------------------------
# incomplete gamma helpers
# ---------------------------------------------------------------------------------------------


def _log_q_continued_fraction(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log Q(a, x) from the Legendre continued fraction of Gamma(a, x) (DLMF 8.9.2), evaluated
    with the modified Lentz method (Press et al., Numerical Recipes, 3rd ed., sec. 6.2, ``gcf``).
    Converges quickly for x > a + 1, which is the only place it is used (where Q underflows)."""
    a = np.asarray(a, dtype=float)
    x = np.asarray(x, dtype=float)
    b = x + 1.0 - a
    c = np.full_like(b, 1.0 / _TINY)
    d = 1.0 / np.where(np.abs(b) < _TINY, _TINY, b)
    h = d.copy()
    for i in range(1, 2000):
        an = -i * (i - a)
        b = b + 2.0
        d = an * d + b
        d = np.where(np.abs(d) < _TINY, _TINY, d)
        c = b + an / c
        c = np.where(np.abs(c) < _TINY, _TINY, c)
        d = 1.0 / d
        delta = d * c
        h = h * delta
        if np.all(np.abs(delta - 1.0) < 1e-15):
            break
    return -x + special.xlogy(a, x) - special.gammaln(a) + np.log(h)


def _log_q(a, x) -> np.ndarray:
    """log of the regularized upper incomplete gamma function Q(a, x), safe against underflow."""
    a, x = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(x, dtype=float))
    q = special.gammaincc(a, x)
    with np.errstate(divide="ignore"):
        out = np.log(q)
    small = q < _Q_UNDERFLOW
    if np.any(small):
        out = np.array(out, dtype=float)
        out[small] = _log_q_continued_fraction(a[small], x[small])
    return out


# ---------------------------------------------------------------------------------------------
# KBN's posterior on a known background: quantiles
# ---------------------------------------------------------------------------------------------


def _u_quantile(a, b, tail, head=None) -> np.ndarray:
    """u = s + B at which the posterior upper tail ``1 - F(s)`` equals ``tail`` (0 < tail < 1);
    ``head`` = 1 - tail may be passed when it is known more precisely than ``1 - tail``.

    Solves ``Q(a, u) = tail * Q(a, B)`` with ``scipy.special.gammainccinv`` (or ``gammaincinv`` on
    the complement when the target is above 1/2, for accuracy); where ``Q(a, B)`` underflows it
    falls back to a bracketed root-finder on ``log Q``.
    """
    head = 1.0 - np.asarray(tail, float) if head is None else head
    a, b, tail, head = np.broadcast_arrays(
        np.asarray(a, float), np.asarray(b, float), np.asarray(tail, float), np.asarray(head, float)
    )
    # no counts (a = 1): Q(1, u) = exp(-u), so u = B - log(tail) in closed form -- most blank
    # positions' bands, and several times cheaper than the inverse of Q
    empty = a == 1.0
    u = np.empty(a.shape)
    with np.errstate(divide="ignore"):
        u[empty] = b[empty] + np.where(
            tail[empty] <= 0.5, -np.log(tail[empty]), -np.log1p(-head[empty])
        )
    qb = special.gammaincc(a, b)
    target = tail * qb
    # complement P(a, u) = P(a, B) + (1 - tail) Q(a, B), computed without cancellation
    complement = special.gammainc(a, b) + head * qb
    # each inverse only where it is used (they cost ~20-30 ns per element)
    low, high = ~empty & (target <= 0.5), ~empty & ~(target <= 0.5)
    with np.errstate(invalid="ignore", over="ignore"):
        u[low] = special.gammainccinv(a[low], target[low])
        u[high] = special.gammaincinv(a[high], np.minimum(complement[high], 1.0))
    u = np.where(empty, u, np.maximum(u, b))
    bad = ((qb < _Q_UNDERFLOW) | (target < _Q_UNDERFLOW) | ~np.isfinite(u)) & ~empty
    if np.any(bad):
        u = np.array(u, dtype=float)
        for i in np.flatnonzero(bad):
            u.flat[i] = _u_quantile_rootfind(a.flat[i], b.flat[i], tail.flat[i])
    return u


def _u_quantile_rootfind(a: float, b: float, tail: float) -> float:
    """Robust scalar fallback for :func:`_u_quantile`: brentq on log Q(a, u) - log Q(a, B)."""
    log_target = np.log(tail)
    log_qb = float(_log_q(a, b))

    def f(u):
        return float(_log_q(a, u)) - log_qb - log_target

    # the posterior tail is no heavier than that of Gamma(a) beyond its mode; step out until
    # the bracket holds the root
    step = max(1.0, np.sqrt(a))
    hi = b + step
    while f(hi) > 0:
        step *= 2.0
        hi = b + step
    return optimize.brentq(f, b, hi, xtol=1e-12, rtol=1e-15, maxiter=500)


def posterior_quantile(q, n, b):
    """The source counts ``s`` with KBN's posterior CDF ``F(s | N, B) = q``.

    ``Q(N + 1, B + s) = (1 - q) Q(N + 1, B)`` (KBN 1991 eq. 7 integrated, DLMF 8.2.4), solved
    with ``scipy.special.gammainccinv``. ``q`` must be in (0, 1).
    """
    q = _as_float_array(q, "q")
    if np.any((q <= 0) | (q >= 1)):
        raise ValueError(f"q must lie strictly between 0 and 1, got {q!r}")
    n, b = _counts(n), _background(b)
    q, n, b = np.broadcast_arrays(q, n, b)
    u = _u_quantile(n + 1.0, b, 1.0 - q, q)
    return _out(np.maximum(u - b, 0.0))


# ---------------------------------------------------------------------------------------------
# significance of a p-value
# ---------------------------------------------------------------------------------------------


def detection_sigma(p):
    """One-sided Gaussian-equivalent significance of a p-value: ``norm.isf(p)`` (so p =
    norm.sf(3) = 1.35e-3 is "3 sigma"). p = 0 gives +inf, p = 1 gives -inf."""
    p = _as_float_array(p, "p")
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    return _out(-special.ndtri(p))  # norm.isf(p)


# ---------------------------------------------------------------------------------------------
# a background measured in a second region ("on/off"), plus a known contamination
# ---------------------------------------------------------------------------------------------
#
# N counts in the source aperture, M in a background region whose background per count is
# 1/alpha times the aperture's (alpha = BACKSCAL_src / BACKSCAL_bkg), and a known expected
# contamination c >= 0 in the aperture:  N ~ Poisson(s + c + alpha beta),  M ~ Poisson(beta).
# With uniform priors on s >= 0 and beta >= 0 the background marginalises analytically
# (Loredo 1992, "The promise of Bayesian inference for astrophysics", in Statistical Challenges
# in Modern Astronomy, eds. Feigelson & Babu, Springer, p. 275, sec. 5.2, eqs. 5.12-5.13;
# there with c = 0). Expanding (s + c + alpha beta)^N binomially and integrating over beta,
#
#     p(s | N, M) = sum_{i=0}^{N} w_i g_i(s + c) / sum_i w_i Q(i + 1, c),   g_i(u) = u^i e^-u / i!
#
# with w_i = NB(N - i; M + 1, rho), rho = alpha / (1 + alpha): the negative-binomial
# prior-predictive probability that N - i of the aperture's counts are background (Loredo's
# C_i, normalised differently). Each term is KBN's posterior (KBN 1991 eq. 7) for i source counts
# on the known background c, so for alpha -> 0 at fixed alpha M = B the weights concentrate on
# N - i ~ Poisson(B) and the result tends to KBN's with background B + c. Every formula below is
# this mixture: its CDF is the weighted KBN CDFs, F(s) = sum_i w_i [Q(i+1, c) - Q(i+1, c+s)] /
# sum_i w_i Q(i+1, c) (DLMF 8.2.4 per term). With w_i unimodal in i, the coefficients of
# d/du sum_i w_i g_i(u) = e^-u sum_i (w_{i+1} - w_i) u^i / i! change sign once, so by Descartes'
# rule of signs the posterior has one mode: the shortest interval has equal density at both
# ends, or starts at s = 0 (as KBN's, their eq. 9 and text).
#
# The detection probability is the background-only tail probability averaged over the
# background's posterior Gamma(M + 1) (the "Z_Gamma" p-value of Cousins, Linnemann & Tucker 2008,
# NIM A 595, 480, sec. 4.3). For c = 0 it equals the conditional binomial test of the two Poisson
# counts (Przyborowski & Wilenski 1940, Biometrika 31, 313; Cousins et al.'s "Z_Bi", eq. 14),
# P(X >= N | X ~ Binomial(N + M, rho)) = I_rho(N, M + 1) (regularized incomplete beta,
# DLMF 8.17.5): a frequentist test whose false-positive rate is at most its nominal level for
# every background (exact given N + M, conservative because counts are discrete). With c > 0 the
# null distribution of N is that negative binomial convolved with Poisson(c).

_ONOFF_LOG_CUT = 46.0  # terms whose weight is below e^-46 ~ 1e-20 of the largest are dropped


def _logsumexp(x: np.ndarray) -> np.ndarray:
    """log sum exp over the last axis (scipy's logsumexp without its overhead)."""
    top = np.max(x, axis=-1)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return top + np.log(np.sum(np.exp(x - top[..., None]), axis=-1))


def _onoff_check(n, m, alpha, c):
    n = float(_counts(n))
    m = float(_background(m, "m"))
    c = float(_background(c, "c"))
    alpha = float(_as_float_array(alpha, "alpha"))
    if not alpha > 0:
        raise ValueError(f"alpha (BACKSCAL ratio) must be > 0, got {alpha!r}")
    return n, m, alpha, c


class OnOff:
    """The posterior of the source counts s for N aperture counts, M background-region counts
    (real M allowed: the posterior of beta is then Gamma(M + 1)), area ratio alpha and known
    contamination c (Loredo 1992 sec. 5.2; see the comment above). Scalars only."""

    def __init__(self, n, m, alpha, c=0.0):
        n, m, alpha, c = _onoff_check(n, m, alpha, c)
        self.n, self.m, self.alpha, self.c = n, m, alpha, c
        self.rho = alpha / (1.0 + alpha)
        j = np.arange(int(n), -1, -1, dtype=float)  # background counts N - i, i = 0..N
        i = n - j
        log_w = (
            special.gammaln(m + j + 1.0)
            - special.gammaln(j + 1.0)
            - special.gammaln(m + 1.0)
            + special.xlogy(j, self.rho)
            + (m + 1.0) * np.log1p(-self.rho)
        )
        # weights of the terms that still carry the Q(i + 1, c) normalisation
        log_z_terms = log_w + _log_q(i + 1.0, c)
        keep = log_z_terms >= log_z_terms.max() - _ONOFF_LOG_CUT
        self.i, self.log_w = i[keep], log_w[keep]
        self.log_z = float(_logsumexp(log_z_terms[keep]))
        self._log_qc = _log_q(self.i + 1.0, c)
        self._gammaln = special.gammaln(self.i + 1.0)
        self._mode = None
        self._w_top = float(self.log_w.max())
        self._z_shift = self._w_top - self.log_z
        self._p_c = special.gammainc(self.i + 1.0, c)
        self._sd = float(np.sqrt(n + alpha * (1.0 + alpha) * (m + 1.0))) + 1.0

    def _terms(self, s):
        u = np.asarray(s, dtype=float)[..., None] + self.c
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.log_w + special.xlogy(self.i, u) - u - self._gammaln, u[..., 0]

    def log_pdf(self, s):
        """log p(s | N, M) (s >= 0, scalar or array)."""
        terms, _ = self._terms(s)
        top = np.max(terms, axis=-1)
        top = np.where(np.isfinite(top), top, 0.0)
        total = np.sum(np.exp(terms - top[..., None]), axis=-1)
        with np.errstate(divide="ignore"):
            return top + np.log(total) - self.log_z

    def _log_pdf_slope(self, s: float) -> tuple[float, float]:
        """log p(s) and d log p / ds = E[i | u] / u - 1 (u = s + c)."""
        terms, u = self._terms(s)
        top = terms.max()
        weights = np.exp(terms - top)
        total = weights.sum()
        mean_i = float(np.dot(weights, self.i) / total)
        return float(top + np.log(total) - self.log_z), mean_i / float(u) - 1.0

    def sf(self, s):
        """Posterior P(source counts > s) = sum_i w_i Q(i + 1, c + s) / sum_i w_i Q(i + 1, c)."""
        u = np.asarray(s, dtype=float)[..., None] + self.c
        q = special.gammaincc(self.i + 1.0, u)
        if np.all(q.max(axis=-1) > _Q_UNDERFLOW):
            return np.minimum(
                np.exp(np.log(q @ np.exp(self.log_w - self._w_top)) + self._z_shift), 1.0
            )
        return np.exp(_logsumexp(self.log_w + _log_q(self.i + 1.0, u)) - self.log_z)

    def cdf(self, s):
        """Posterior P(source counts <= s), without cancellation where it is small."""
        u = np.asarray(s, dtype=float)[..., None] + self.c
        part = np.maximum(special.gammainc(self.i + 1.0, u) - self._p_c, 0.0)
        return np.minimum(part @ np.exp(self.log_w - self._w_top) * np.exp(self._z_shift), 1.0)

    def _expected_i(self, u: float) -> float:
        """E[i | u] under the mixture at u = s + c: the mode solves u = E[i | u]."""
        terms = self.log_w + special.xlogy(self.i, u) - u - self._gammaln
        weights = np.exp(terms - terms.max())
        return float(np.dot(weights, self.i) / np.sum(weights))

    def mode(self) -> float:
        """The most probable s (0 when the posterior decreases from s = 0)."""
        if self._mode is None:
            u0 = max(self.c, 1e-300)
            if self._expected_i(u0) <= u0:
                self._mode = 0.0
            else:
                u = optimize.brentq(
                    lambda x: self._expected_i(x) - x, u0, self.n + 1.0, xtol=1e-12, rtol=1e-14
                )
                self._mode = max(u - self.c, 0.0)
        return self._mode

    def quantile(self, q: float) -> float:
        """s with F(s) = q, 0 < q < 1 (bracketed root of the CDF, solved on the tail side
        for q > 1/2 for accuracy)."""
        if not 0.0 < q < 1.0:
            raise ValueError(f"q must lie strictly between 0 and 1, got {q!r}")
        tail = 1.0 - q
        centre = self.mode()
        lo, hi = max(centre - 12.0 * self._sd, 0.0), centre + 12.0 * self._sd
        while lo > 0.0 and self.cdf(lo) > q:
            lo = max(lo - 12.0 * self._sd, 0.0)
        while self.sf(hi) > tail:
            hi += 12.0 * self._sd
        if q > 0.5:
            log_tail = np.log(tail)

            def f(x):
                with np.errstate(divide="ignore"):
                    return float(np.log(self.sf(x))) - log_tail
        else:

            def f(x):
                return float(self.cdf(x)) - q

        return float(optimize.brentq(f, lo, hi, xtol=1e-10 * self._sd, rtol=1e-13, maxiter=500))

    def _right_branch(self, level: float, mode: float) -> float:
        """The s > mode with log density ``level``: safeguarded Newton steps (the density
        falls monotonically beyond the mode), bracketed by doubling."""
        left, step = mode, np.sqrt(self.n + 1.0) + 1.0
        right = mode + step
        while self._log_pdf_slope(right)[0] > level:
            left, step = right, 2.0 * step
            right = mode + step
        s = 0.5 * (left + right)
        for _ in range(100):
            value, slope = self._log_pdf_slope(s)
            g = value - level
            if g > 0:
                left = s
            else:
                right = s
            newton = s - g / slope if slope < 0 else np.nan
            s_new = newton if left < newton < right else 0.5 * (left + right)
            if abs(s_new - s) <= 1e-12 * max(s, 1.0) or right - left <= 1e-12 * max(s, 1.0):
                return float(s_new)
            s = s_new
        return float(s)

    def interval(self, confidence: float) -> tuple[float, float]:
        """The shortest interval holding ``confidence`` of the posterior (equal density at both
        ends, or starting at 0), as KBN's eq. 9 for their posterior."""
        ul = self.quantile(confidence)
        mode = self.mode()
        if mode <= 0.0 or float(self.log_pdf(0.0)) >= float(self.log_pdf(ul)):
            return 0.0, ul  # p(0) >= p(UL): the shortest interval touches 0

        def excess(lo):
            hi = self._right_branch(float(self.log_pdf(lo)), mode)
            return float(self.sf(lo) - self.sf(hi)) - confidence

        # the lower end lies below the (1 - CL) quantile; start the bracket where the density
        # is not vanishingly small, so that the equal-density upper end is finite
        left = 0.0
        if float(self.log_pdf(0.0)) < float(self.log_pdf(mode)) - 200.0:
            left = self.quantile(1e-15)
        if excess(left) <= 0.0:
            return 0.0, ul
        lo = optimize.brentq(excess, left, mode, xtol=1e-10 * self._sd, rtol=1e-13)
        return float(lo), self._right_branch(float(self.log_pdf(lo)), mode)


def deblended_background(n_bkg, alpha, c, sigma=0.0):
    """(M, alpha, c) of the on/off posterior (:class:`OnOff`) for N_bkg background-region
    counts, area ratio alpha and the neighbours' deblended net counts c in the circle, with
    1-sigma error ``sigma``. Arrays broadcast; returns float arrays.

    c >= 0 (neighbour light in the circle) stays a known contamination. A negative c (more
    neighbour light in the background region, alpha-scaled, than in the circle) lowers the
    background instead: its estimate in the circle is b = alpha N_bkg + c, with variance
    v = alpha^2 N_bkg + sigma^2 (the region's Poisson noise and the deblending's). It enters as
    the "effective" off counts of Cousins, Linnemann & Tucker (2008, NIM A 595, 480, sec. 4.1:
    a background b +- sqrt(v) is an off measurement with tau = b / v, N_off = b^2 / v), so that
    an uncertain neighbour correction widens the posterior and weakens the detection test
    instead of leaving a near-zero background taken as exact. b is kept at least sqrt(v)
    (a background estimated at or below zero is known only to within its error)."""
    m, alpha, c, sigma = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (n_bkg, alpha, c, sigma))
    )
    variance = alpha**2 * m + sigma**2
    negative = (c < 0) & (variance > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.maximum(alpha * m + c, np.sqrt(variance))
        m_eff = np.where(negative, b**2 / variance, m)
        alpha_eff = np.where(negative, variance / b, alpha)
    # no background counts and no deblending error: nothing is left to lower
    m_eff = np.where((c < 0) & ~negative, 0.0, m_eff)
    return m_eff, alpha_eff, np.where(c < 0, 0.0, c)


def onoff_detection_probability(n, m, alpha, c=0.0) -> float:
    """P(X >= N) under the background-only hypothesis, averaged over the background's posterior
    Gamma(M + 1) (Cousins, Linnemann & Tucker 2008, sec. 4.3, "Z_Gamma"); with c = 0 exactly the
    conditional binomial tail I_rho(N, M + 1), rho = alpha / (1 + alpha) (Przyborowski & Wilenski
    1940; Cousins et al. "Z_Bi"). With a known contamination c the null count is X = Y + K,
    Y negative binomial (M + 1, rho), K ~ Poisson(c): P(X >= N) = P(K >= N) +
    sum_{k<N} Pois(k; c) I_rho(N - k, M + 1). 1 for N = 0."""
    n, m, alpha, c = _onoff_check(n, m, alpha, c)
    if n == 0:
        return 1.0
    return _onoff_tail(n, m + 1.0, alpha / (1.0 + alpha), c)


def _onoff_tail(n: float, b: float, rho: float, c: float) -> float:
    """P(K >= n) + sum_{k<n} Pois(k; c) I_rho(n - k, b) for n >= 1, K ~ Poisson(c):
    b = M + 1 gives P(X >= N) (:func:`onoff_detection_probability`), n = N + 1 with b = M
    gives P(X > N) at the same totals (:func:`onoff_randomized_detection_probability`).
    I_rho(a, 0) = 0: with no background-region counts the aperture's background counts are
    all of its total."""
    if c == 0.0:
        return float(special.betainc(n, b, rho)) if b > 0 else 0.0
    k_max = int(min(n - 1, np.ceil(c + 40.0 * np.sqrt(c) + 40.0)))
    k = np.arange(0, k_max + 1, dtype=float)
    pois = np.exp(special.xlogy(k, c) - c - special.gammaln(k + 1.0))  # Poisson pmf
    p = float(np.sum(pois * special.betainc(n - k, b, rho))) if b > 0 else 0.0
    p += float(special.pdtrc(n - 1, c))  # P(K >= n), Poisson sf at n - 1
    return min(p, 1.0)


# The conditional test above is exact given N + M, but its p-value takes few values when the
# counts are few (~3 in a RASS circle), so at 3 sigma it fires at ~0.06 % instead of the
# 0.135 % that norm.sf(3) promises. Given the total t = N + M, N ~ Binomial(t, rho) under the
# null; the uniformly most powerful unbiased test of the ratio of two Poisson means conditions on
# t and, the binomial being discrete, randomizes at the boundary (Lehmann & Romano 2005,
# Testing Statistical Hypotheses, 3rd ed., sec. 4.5, with secs. 3.2 and 3.4 for the randomized
# tests of a discrete family). Its p-value is the randomized one of Stevens (1950, Biometrika
# 37, 117; Habiger & Pena 2011, J. Stat. Plann. Inference 141, 2090),
#
#     p_rand = P(X > N | t) + U P(X = N | t),   U ~ Uniform(0, 1) independent of the counts,
#
# exactly Uniform(0, 1) under the null given t, so p_rand <= norm.sf(k) fires at exactly
# norm.sf(k). P(X > N | t) = P(X >= N + 1 | t) = I_rho(N + 1, M) (the tail at N + 1 with the
# total held, i.e. M one less); with a contamination c, each term of the sum above in the same
# way. U comes from the member's id (:func:`randomization_uniform`), so that the numbers do not
# depend on the order in which members are measured or how they are batched.

_RANDOMIZATION_SALT = b"rassflow-detect"  # blake2b's salt: at most 16 bytes


def randomization_uniform(ids) -> np.ndarray:
    """The U of each member's randomized detection test, in (0, 1), from its ``id_name``:
    the first 53 bits of BLAKE2b (RFC 7693) of its UTF-8 bytes with a fixed salt, k / 2^53
    + 2^-54. The same id gives the same U in any run, batch or order; a hash's bits are
    uniform, so distinct ids give independent uniforms to double precision."""
    import hashlib

    ids = [ids] if isinstance(ids, str) else list(ids)
    words = np.fromiter(
        (
            int.from_bytes(
                hashlib.blake2b(str(i).encode(), digest_size=8, salt=_RANDOMIZATION_SALT).digest(),
                "big",
            )
            >> 11
            for i in ids
        ),
        dtype=np.uint64,
        count=len(ids),
    )
    return words.astype(float) * 2.0**-53 + 2.0**-54


def onoff_randomized_detection_probability(n, m, alpha, c=0.0, u=0.5) -> float:
    """The randomized detection p-value P(X > N) + U P(X = N) (Stevens 1950; the UMPU test of
    Lehmann & Romano 2005, sec. 4.5; see the comment above), with the null tails of
    :func:`onoff_detection_probability` at the same totals: with c = 0, I_rho(N + 1, M) +
    U (I_rho(N, M + 1) - I_rho(N + 1, M)), exactly Uniform(0, 1) under the null given N + M.
    ``u`` in (0, 1): the member's :func:`randomization_uniform`."""
    n, m, alpha, c = _onoff_check(n, m, alpha, c)
    p_at = onoff_detection_probability(n, m, alpha, c)
    p_above = _onoff_tail(n + 1.0, m, alpha / (1.0 + alpha), c)
    return p_above + float(u) * (p_at - p_above)
