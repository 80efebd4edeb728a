"""Bayesian hardness ratios for low counts (after Park et al. 2006, ApJ 652, 610, "BEHR").

``HR = (H - S) / (H + S)`` for the source intensities S (soft band) and H (hard band), e.g. the
2RXS HR1 with S = band A (PI 11-41) and H = band B (PI 52-201) (Boller et al. 2016). As in BEHR
(Park et al. 2006: independent Poisson counts in the two bands, each source intensity with a
non-informative prior, the posterior of a hardness ratio obtained by transforming the joint
posterior of the two intensities), each band's source counts have the posterior of Kraft,
Burrows & Nousek (1991) for a *known* expected background -- uniform prior on s >= 0:

    p(s | N, B) ∝ (s + B)^N e^-(s+B)                       (KBN 1991 eq. 7)

(BEHR also marginalises over an uncertain background measured in a separate region; here the
background in the aperture is taken as known, as in KBN and the HILIGT/ESA upper-limit server.)
Because S and H are independent, the posterior CDF of the hardness ratio is a one-dimensional
integral. With ``r = (1 + h) / (1 - h)``, HR <= h is the event H <= r S, so

    P(HR <= h) = int_0^1 F_H(r F_S^-1(q)) dq = 1 - int_0^1 F_S(F_H^-1(q) / r) dq,

evaluated by quadrature in the probability q = Phi(z), trapezoidal in z (fixed nodes:
deterministic, no random numbers), integrating over the band whose posterior is relatively
narrower so that the integrand stays smooth. Quantiles of HR follow from a bracketed Newton
iteration in ``y = ln(H / S)`` (HR = tanh(y / 2)).

With zero background in both bands the posterior has a closed form -- S and H are then
independent Gamma(N + 1) variables, so ``H / (S + H) ~ Beta(N_H + 1, N_S + 1)`` -- which the
tests use as the reference (the quadrature reproduces it to ~1e-13).

Point estimate: the posterior **median**, with the **equal-tail** interval. Both are invariant
under monotone re-parametrisation -- the same answer whether one works with HR, the ratio S/H
or the colour log10(S/H) (Park et al. 2006 discuss all three) -- and stay well defined when a band
has no counts and the posterior piles up against HR = +-1, where the mode sits on the boundary
and an HPD interval degenerates into a one-sided one. The median always lies inside the interval.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .bayes import (
    _as_float_array,
    _background,
    _confidence,
    _counts,
    _log_q,
    _u_quantile,
    posterior_quantile,
)

__all__ = ["hardness_ratio", "hardness_ratio_cdf"]

# Quadrature in q = Phi(z) (standard normal CDF), trapezoidal in z: nodes cluster at both ends of
# (0, 1), which resolves the endpoint singularities of the integrand in the tails (for instance
# 1 - (1 - q)^r with r << 1), and the trapezoidal rule converges geometrically for a smooth
# integrand on the real line with a Gaussian weight.
# A step of 0.25 (67 nodes) gives the HR quantiles of a step of 0.125 to 6e-14 (6,000 members
# of 0-200 counts); 0.375 would differ by 4e-10.
_Z_STEP = 0.25
_Z_NODES = np.arange(-8.25, 8.25 + 0.5 * _Z_STEP, _Z_STEP)
_TAIL_NODES = special.ndtr(-_Z_NODES)  # 1 - q, exact also where q rounds to 1
_HEAD_NODES = special.ndtr(_Z_NODES)  # q, exact also where 1 - q rounds to 1
_Q_WEIGHTS = np.exp(-0.5 * _Z_NODES**2)
_Q_WEIGHTS /= _Q_WEIGHTS.sum()
_EPS = 1e-12  # tail probability that brackets the HR quantiles


class _Band:
    """The KBN posterior of one band's source counts: CDF, density and quantile nodes."""

    def __init__(self, n: float, b: float):
        self.n, self.b, self.a = float(n), float(b), float(n) + 1.0
        self.log_qb = float(_log_q(self.a, self.b))
        self.qb = float(np.exp(self.log_qb))
        self.log_norm = -float(special.gammaln(self.a)) - self.log_qb
        self.nodes = np.maximum(
            _u_quantile(self.a, self.b, _TAIL_NODES, _HEAD_NODES) - self.b, 1e-300
        )
        lo, mid, hi = posterior_quantile([_EPS, 0.5, 1.0 - _EPS], n, b)
        self.lo, self.median, self.hi = max(lo, 1e-300), max(mid, 1e-300), max(hi, 1e-300)
        # relative spread, to choose which band to integrate over
        q16, q84 = posterior_quantile([0.158655, 0.841345], n, b)
        self.spread = (q84 - q16) / max(mid, 1e-300)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """F(x) = 1 - Q(a, B + x) / Q(a, B)  (KBN 1991 eq. 7 integrated)."""
        if self.qb > 1e-280:
            return 1.0 - special.gammaincc(self.a, self.b + x) / self.qb
        return -np.expm1(np.minimum(_log_q(self.a, self.b + x) - self.log_qb, 0.0))

    def pdf(self, x: np.ndarray) -> np.ndarray:
        u = self.b + x
        return np.exp(special.xlogy(self.n, u) - u + self.log_norm)


def _cdf_and_slope(y: np.ndarray, soft: _Band, hard: _Band):
    """P(ln(H/S) <= y) and its derivative in y, for an array of y."""
    y = np.asarray(y, dtype=float)[..., None]
    if hard.spread >= soft.spread:
        # integrate over the (narrower) soft band: P(H <= e^y S) = E_S[F_H(e^y S)]
        x = np.exp(y) * soft.nodes
        g = hard.cdf(x) @ _Q_WEIGHTS
        dg = (hard.pdf(x) * x) @ _Q_WEIGHTS
    else:
        # integrate over the (narrower) hard band: P(S >= e^-y H) = 1 - E_H[F_S(e^-y H)]
        x = np.exp(-y) * hard.nodes
        g = 1.0 - soft.cdf(x) @ _Q_WEIGHTS
        dg = (soft.pdf(x) * x) @ _Q_WEIGHTS
    return np.clip(g, 0.0, 1.0), dg


def _log_ratio_quantiles(p: np.ndarray, soft: _Band, hard: _Band) -> np.ndarray:
    """y = ln(H/S) at posterior probabilities p (vector), by safeguarded Newton iteration.

    The bracket [ln(H_eps / S_(1-eps)), ln(H_(1-eps) / S_eps)] holds every quantile with
    2 eps < p < 1 - 2 eps, since P(H <= r S) <= P(H <= H_eps) + P(S >= S_(1-eps)) there."""
    p = np.asarray(p, dtype=float)
    left = np.full_like(p, np.log(hard.lo) - np.log(soft.hi))
    right = np.full_like(p, np.log(hard.hi) - np.log(soft.lo))
    y = np.full_like(p, np.log(hard.median) - np.log(soft.median))
    y = np.clip(y, left, right)
    done = np.zeros(p.shape, dtype=bool)
    for _ in range(200):
        g, dg = _cdf_and_slope(y, soft, hard)
        excess = g - p
        done |= np.abs(excess) <= 1e-14
        left = np.where(excess < 0, y, left)
        right = np.where(excess < 0, right, y)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = y - excess / dg
        ok = np.isfinite(newton) & (newton >= left) & (newton <= right)
        done |= ok & (np.abs(newton - y) < 1e-12)
        y = np.where(done, y, np.where(ok, newton, 0.5 * (left + right)))
        done |= right - left < 1e-12
        if np.all(done):
            break
    return y


def _single(n_soft, b_soft, n_hard, b_hard, confidence):
    if n_soft == 0 and n_hard == 0:  # both intensities Exp(1): HR uniform on [-1, 1]
        return 0.0, -float(confidence), float(confidence)
    soft, hard = _Band(n_soft, b_soft), _Band(n_hard, b_hard)
    tail = 0.5 * (1.0 - confidence)
    y = _log_ratio_quantiles(np.array([0.5, tail, 1.0 - tail]), soft, hard)
    hr, lo, hi = np.tanh(0.5 * y)
    return float(hr), float(min(lo, hr)), float(max(hi, hr))


def hardness_ratio(n_soft, b_soft, n_hard, b_hard, confidence=0.6827):
    """Bayesian hardness ratio HR = (H - S) / (H + S) with its equal-tail credible interval.

    Parameters
    ----------
    n_soft, n_hard : int or array
        Counts observed in the source aperture in the soft and hard band (same exposure).
    b_soft, b_hard : float or array
        Expected background counts in the aperture in each band (known; may be 0).
    confidence : float
        Posterior probability of the interval, e.g. 0.6827 for "1 sigma".

    Returns
    -------
    (hr, lo, hi)
        The posterior median of HR and the equal-tail interval, each inside [-1, 1]. With no
        counts in either band the HR posterior is flat on [-1, 1] (both intensities are Exp(1)
        a posteriori), so the interval is (-confidence, +confidence) around 0.

    Arrays broadcast; each element costs a few milliseconds. The method is the transformation
    of the two bands' independent posteriors (Park et al. 2006, ApJ 652, 610), computed
    by deterministic quadrature (see the module docstring).
    """
    ns, nh = _counts(n_soft, "n_soft"), _counts(n_hard, "n_hard")
    bs, bh = _background(b_soft, "b_soft"), _background(b_hard, "b_hard")
    cl = _confidence(confidence)
    if np.any(cl > 1.0 - 8.0 * _EPS):
        raise ValueError(f"confidence must be below {1.0 - 8.0 * _EPS}, got {confidence!r}")
    ns, bs, nh, bh, cl = np.broadcast_arrays(ns, bs, nh, bh, cl)
    out = np.empty((3,) + ns.shape)
    for idx in np.ndindex(ns.shape):
        out[(slice(None),) + idx] = _single(ns[idx], bs[idx], nh[idx], bh[idx], cl[idx])
    if ns.ndim == 0:
        return float(out[0]), float(out[1]), float(out[2])
    return out[0], out[1], out[2]


def hardness_ratio_cdf(hr, n_soft, b_soft, n_hard, b_hard):
    """Posterior probability P(HR <= hr) for scalar counts/backgrounds and an array of hr in
    [-1, 1] (the quadrature described in the module docstring)."""
    h = _as_float_array(hr, "hr")
    if np.any(np.abs(h) > 1):
        raise ValueError(f"hr must lie in [-1, 1], got {hr!r}")
    for name, value in (
        ("n_soft", n_soft),
        ("b_soft", b_soft),
        ("n_hard", n_hard),
        ("b_hard", b_hard),
    ):
        if np.ndim(value) != 0:
            raise ValueError(f"{name} must be a scalar here, got {value!r}")
    soft = _Band(float(_counts(n_soft, "n_soft")), float(_background(b_soft, "b_soft")))
    hard = _Band(float(_counts(n_hard, "n_hard")), float(_background(b_hard, "b_hard")))
    with np.errstate(divide="ignore"):
        y = 2.0 * np.arctanh(h)
    g, _ = _cdf_and_slope(np.where(np.isfinite(y), y, 0.0), soft, hard)
    g = np.where(h <= -1.0, 0.0, np.where(h >= 1.0, 1.0, g))
    if g.ndim == 0:
        return float(g)
    return g


# ---------------------------------------------------------------------------------------------
# many members at once: the same quadrature and iteration, element by element in arrays
# ---------------------------------------------------------------------------------------------


class _Bands:
    """:class:`_Band` for a vector of (n, b): the same numbers, computed in arrays."""

    def __init__(self, n: np.ndarray, b: np.ndarray):
        self.n, self.b = np.asarray(n, float), np.asarray(b, float)
        self.a = self.n + 1.0
        self.log_qb = _log_q(self.a, self.b)
        self.qb = np.exp(self.log_qb)
        self.log_norm = -special.gammaln(self.a) - self.log_qb
        self.nodes = np.full((len(self.n), len(_TAIL_NODES)), np.nan)
        q = np.array([_EPS, 0.5, 1.0 - _EPS, 0.158655, 0.841345])
        quantiles = posterior_quantile(q[None, :], self.n[:, None], self.b[:, None])
        quantiles = np.asarray(quantiles, float).reshape(len(self.n), len(q))
        self.lo, self.median, self.hi = (np.maximum(quantiles[:, k], 1e-300) for k in range(3))
        self.spread = (quantiles[:, 4] - quantiles[:, 3]) / np.maximum(quantiles[:, 1], 1e-300)

    def set_nodes(self, rows: np.ndarray) -> None:
        """The quadrature nodes of the members ``rows``: only those whose quadrature runs over
        this band need them (see _cdf_and_slope_many)."""
        a, b = self.a[rows, None], self.b[rows, None]
        self.nodes[rows] = np.maximum(_u_quantile(a, b, _TAIL_NODES, _HEAD_NODES) - b, 1e-300)

    def cdf(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """F(x) of the members ``rows`` (x: rows x ... x nodes)."""
        shape = (-1,) + (1,) * (x.ndim - 1)
        a, b = self.a[rows].reshape(shape), self.b[rows].reshape(shape)
        qb, log_qb = self.qb[rows].reshape(shape), self.log_qb[rows].reshape(shape)
        direct = 1.0 - special.gammaincc(a, b + x) / np.where(qb > 1e-280, qb, 1.0)
        small = qb.ravel() <= 1e-280
        if np.any(small):
            u = b[small] + x[small]
            direct[small] = -np.expm1(np.minimum(_log_q(a[small], u) - log_qb[small], 0.0))
        return direct

    def pdf(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        shape = (-1,) + (1,) * (x.ndim - 1)
        u = self.b[rows].reshape(shape) + x
        n, log_norm = self.n[rows].reshape(shape), self.log_norm[rows].reshape(shape)
        return np.exp(special.xlogy(n, u) - u + log_norm)


def _cdf_and_slope_many(y: np.ndarray, soft: _Bands, hard: _Bands, rows: np.ndarray):
    """:func:`_cdf_and_slope` for members ``rows``, y of shape (len(rows), k)."""
    g, dg = np.empty(y.shape), np.empty(y.shape)
    over_soft = hard.spread[rows] >= soft.spread[rows]
    for branch in (True, False):
        pick = over_soft == branch
        if not np.any(pick):
            continue
        members, yy = rows[pick], y[pick][..., None]
        if branch:  # integrate over the soft band: P(H <= e^y S) = E_S[F_H(e^y S)]
            x = np.exp(yy) * soft.nodes[members][:, None, :]
            g[pick] = hard.cdf(x, members) @ _Q_WEIGHTS
            dg[pick] = (hard.pdf(x, members) * x) @ _Q_WEIGHTS
        else:  # over the hard band: P(S >= e^-y H) = 1 - E_H[F_S(e^-y H)]
            x = np.exp(-yy) * hard.nodes[members][:, None, :]
            g[pick] = 1.0 - soft.cdf(x, members) @ _Q_WEIGHTS
            dg[pick] = (soft.pdf(x, members) * x) @ _Q_WEIGHTS
    return np.clip(g, 0.0, 1.0), dg


def hardness_ratios(n_soft, b_soft, n_hard, b_hard, confidence=0.6827, chunk=512):
    """:func:`hardness_ratio` of many members at once (1-d arrays, one confidence): the same
    posterior median and equal-tail interval, from the same quadrature and safeguarded
    Newton iteration run element by element in arrays (each member stops where it would
    alone), so the results equal the scalar function's to rounding. Returns (hr, lo, hi)."""
    ns, nh = _counts(n_soft, "n_soft"), _counts(n_hard, "n_hard")
    bs, bh = _background(b_soft, "b_soft"), _background(b_hard, "b_hard")
    ns, bs, nh, bh = (np.atleast_1d(v).astype(float) for v in np.broadcast_arrays(ns, bs, nh, bh))
    cl = float(_confidence(confidence))
    if cl > 1.0 - 8.0 * _EPS:
        raise ValueError(f"confidence must be below {1.0 - 8.0 * _EPS}, got {confidence!r}")
    if ns.size > chunk:  # bounded temporaries: (members, 3, nodes) arrays per step
        parts = [
            hardness_ratios(*(v[k : k + chunk] for v in (ns, bs, nh, bh)), cl, chunk)
            for k in range(0, ns.size, chunk)
        ]
        return tuple(np.concatenate([part[q] for part in parts]) for q in range(3))
    if ns.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    # no counts in either band: both intensities are Exp(1) a posteriori whatever the
    # backgrounds, so HR is uniform on [-1, 1] (as _single); most blank positions' HR2
    empty = (ns == 0) & (nh == 0)
    if empty.any():
        hr, lo, hi = np.zeros(ns.size), np.full(ns.size, -cl), np.full(ns.size, cl)
        if not empty.all():
            rest = ~empty
            hr[rest], lo[rest], hi[rest] = hardness_ratios(
                ns[rest], bs[rest], nh[rest], bh[rest], cl, chunk
            )
        return hr, lo, hi
    soft, hard = _Bands(ns, bs), _Bands(nh, bh)
    over_soft = hard.spread >= soft.spread  # the band each member's quadrature runs over
    soft.set_nodes(np.flatnonzero(over_soft))
    hard.set_nodes(np.flatnonzero(~over_soft))
    tail = 0.5 * (1.0 - cl)
    p = np.broadcast_to(np.array([0.5, tail, 1.0 - tail]), (ns.size, 3))
    left = np.repeat((np.log(hard.lo) - np.log(soft.hi))[:, None], 3, axis=1)
    right = np.repeat((np.log(hard.hi) - np.log(soft.lo))[:, None], 3, axis=1)
    y = np.clip(np.repeat((np.log(hard.median) - np.log(soft.median))[:, None], 3, 1), left, right)
    done = np.zeros(p.shape, dtype=bool)
    active = np.arange(ns.size)
    for _ in range(200):  # as _log_ratio_quantiles; a member stops when its three are done
        g, dg = _cdf_and_slope_many(y[active], soft, hard, active)
        yy, ll, rr, dd = y[active], left[active], right[active], done[active]
        excess = g - p[active]
        dd |= np.abs(excess) <= 1e-14
        ll = np.where(excess < 0, yy, ll)
        rr = np.where(excess < 0, rr, yy)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = yy - excess / dg
        ok = np.isfinite(newton) & (newton >= ll) & (newton <= rr)
        dd |= ok & (np.abs(newton - yy) < 1e-12)
        yy = np.where(dd, yy, np.where(ok, newton, 0.5 * (ll + rr)))
        dd |= rr - ll < 1e-12
        y[active], left[active], right[active], done[active] = yy, ll, rr, dd
        active = active[~dd.all(axis=1)]
        if active.size == 0:
            break
    hr, lo, hi = np.tanh(0.5 * y).T
    return hr, np.minimum(lo, hr), np.maximum(hi, hr)
