"""The on/off posterior of :class:`rassflow.photometry.bayes.OnOff` for many members at once.

The same posterior (Loredo 1992, sec. 5.2: N aperture counts, M background-region counts,
BACKSCAL ratio alpha, known contamination c, the background marginalised), the same summary
(mode, shortest interval as KBN's eq. 9, one-sided upper limit) and the same numerical
steps: each member's mixture terms are a row of a padded array, and the root finders run
element by element in arrays, every member taking the steps it would take alone. Brent's
method (Brent 1973, Algorithms for Minimization without Derivatives, ch. 4) is taken in the
form of scipy.optimize.brentq (its interpolation, extrapolation and bisection rules and its
stopping test), so that a member's iterates are the scalar ones; the numbers agree with
:class:`OnOff` to rounding.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from rassflow.photometry.bayes import _ONOFF_LOG_CUT, _Q_UNDERFLOW, _log_q, _logsumexp

__all__ = ["onoff_summary", "randomized_detection"]


def _brent(f, a, b, xtol, rtol, maxiter: int):
    """Roots of f(rows, x) = 0 in [a, b] for every element (arrays; f evaluated for the
    elements still iterating, ``rows`` their indices), as scipy.optimize.brentq finds them."""
    xpre, xcur = np.array(a, float), np.array(b, float)
    xtol = np.broadcast_to(np.asarray(xtol, float), xcur.shape)
    everyone = np.arange(len(xcur))
    fpre, fcur = f(everyone, xpre), f(everyone, xcur)
    if np.any(fpre * fcur > 0):
        raise ValueError("f(a) and f(b) must have different signs")
    result = np.where(fpre == 0, xpre, xcur)
    active = np.flatnonzero((fpre != 0) & (fcur != 0))
    xblk, fblk = np.zeros(len(xcur)), np.zeros(len(xcur))
    spre, scur = np.zeros(len(xcur)), np.zeros(len(xcur))
    for _ in range(maxiter):
        if active.size == 0:
            break
        k = active
        flip = fpre[k] * fcur[k] < 0
        xblk[k] = np.where(flip, xpre[k], xblk[k])
        fblk[k] = np.where(flip, fpre[k], fblk[k])
        spre[k] = np.where(flip, xcur[k] - xpre[k], spre[k])
        scur[k] = np.where(flip, xcur[k] - xpre[k], scur[k])
        swap = np.abs(fblk[k]) < np.abs(fcur[k])
        xp, xc, xb = xpre[k], xcur[k], xblk[k]
        fp, fc, fb = fpre[k], fcur[k], fblk[k]
        xpre[k], xcur[k], xblk[k] = (
            np.where(swap, xc, xp),
            np.where(swap, xb, xc),
            np.where(swap, xc, xb),
        )
        fpre[k], fcur[k], fblk[k] = (
            np.where(swap, fc, fp),
            np.where(swap, fb, fc),
            np.where(swap, fc, fb),
        )
        delta = (xtol[k] + rtol * np.abs(xcur[k])) / 2
        sbis = (xblk[k] - xcur[k]) / 2
        converged = (fcur[k] == 0) | (np.abs(sbis) < delta)
        result[k[converged]] = xcur[k[converged]]
        keep = ~converged
        k, delta, sbis = k[keep], delta[keep], sbis[keep]
        if k.size == 0:
            active = k
            break
        xp, xc, xb = xpre[k], xcur[k], xblk[k]
        fp, fc, fb = fpre[k], fcur[k], fblk[k]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            interpolated = -fc * (xc - xp) / (fc - fp)
            dpre = (fp - fc) / (xp - xc)
            dblk = (fb - fc) / (xb - xc)
            extrapolated = -fc * (fb * dblk - fp * dpre) / (dblk * dpre * (fb - fp))
        stry = np.where(xp == xb, interpolated, extrapolated)
        tried = (np.abs(spre[k]) > delta) & (np.abs(fc) < np.abs(fp))
        good = tried & (2 * np.abs(stry) < np.minimum(np.abs(spre[k]), 3 * np.abs(sbis) - delta))
        spre[k], scur[k] = np.where(good, scur[k], sbis), np.where(good, stry, sbis)
        xpre[k], fpre[k] = xc, fc
        xcur[k] = np.where(
            np.abs(scur[k]) > delta, xc + scur[k], xc + np.where(sbis > 0, delta, -delta)
        )
        fcur[k] = f(k, xcur[k])
        active = k
    result[active] = xcur[active]  # not converged in maxiter: the last estimate, as brentq
    return result


def _rowdot(a, b):
    return np.einsum("ij,ij->i", a, b)


class _Posteriors:
    """The mixtures of many members (rows); terms past a member's own are weightless."""

    def __init__(self, n, m, alpha, c):
        self.n, self.m, self.alpha, self.c = (np.asarray(v, float) for v in (n, m, alpha, c))
        self.rho = self.alpha / (1.0 + self.alpha)
        width = int(self.n.max(initial=0)) + 1
        i = np.broadcast_to(np.arange(width, dtype=float), (len(self.n), width))
        j = self.n[:, None] - i  # background counts N - i
        valid = j >= 0
        jj = np.where(valid, j, 0.0)
        m, rho = self.m[:, None], self.rho[:, None]
        with np.errstate(invalid="ignore"):
            log_w = (
                special.gammaln(m + jj + 1.0)
                - special.gammaln(jj + 1.0)
                - special.gammaln(m + 1.0)
                + special.xlogy(jj, rho)
                + (m + 1.0) * np.log1p(-rho)
            )
        log_w = np.where(valid, log_w, -np.inf)
        log_z_terms = np.where(valid, log_w + _log_q(i + 1.0, self.c[:, None]), -np.inf)
        keep = valid & (log_z_terms >= log_z_terms.max(axis=1, keepdims=True) - _ONOFF_LOG_CUT)
        # only the span of each member's kept terms is carried on (for N ~ 10^3 a few
        # hundred of the N + 1): column t of a row is term i = first + t
        first = np.argmax(keep, axis=1)
        last = width - 1 - np.argmax(keep[:, ::-1], axis=1)
        span = int((last - first).max(initial=0)) + 1
        columns = np.minimum(first[:, None] + np.arange(span), width - 1)
        inside = np.arange(span) <= (last - first)[:, None]
        keep = inside & np.take_along_axis(keep, columns, 1)
        i = (first[:, None] + np.arange(span)).astype(float)
        log_w = np.take_along_axis(log_w, columns, 1)
        log_z_terms = np.take_along_axis(log_z_terms, columns, 1)
        self.keep, self.i = keep, i
        self.log_w = np.where(keep, log_w, -np.inf)
        self.log_z = _logsumexp(np.where(keep, log_z_terms, -np.inf))
        self.gammaln = special.gammaln(i + 1.0)
        self.w_top = self.log_w.max(axis=1)
        self.z_shift = self.w_top - self.log_z
        self.p_c = special.gammainc(i + 1.0, self.c[:, None])
        self.sd = np.sqrt(self.n + self.alpha * (1.0 + self.alpha) * (self.m + 1.0)) + 1.0
        self.weights = np.exp(self.log_w - self.w_top[:, None])

    def terms(self, rows, s):
        u = np.asarray(s, float) + self.c[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = self.log_w[rows] + special.xlogy(self.i[rows], u[:, None]) - u[:, None]
            return terms - self.gammaln[rows], u

    def log_pdf(self, rows, s):
        terms, _ = self.terms(rows, s)
        top = np.max(terms, axis=-1)
        top = np.where(np.isfinite(top), top, 0.0)
        total = np.sum(np.exp(terms - top[:, None]), axis=-1)
        with np.errstate(divide="ignore"):
            return top + np.log(total) - self.log_z[rows]

    def log_pdf_slope(self, rows, s):
        terms, u = self.terms(rows, s)
        top = terms.max(axis=-1)
        weights = np.exp(terms - top[:, None])
        total = weights.sum(axis=-1)
        mean_i = _rowdot(weights, self.i[rows]) / total
        return top + np.log(total) - self.log_z[rows], mean_i / u - 1.0

    def sf(self, rows, s):
        u = np.asarray(s, float)[:, None] + self.c[rows][:, None]
        q = special.gammaincc(self.i[rows] + 1.0, u)
        direct = np.max(np.where(self.keep[rows], q, 0.0), axis=-1) > _Q_UNDERFLOW
        out = np.empty(len(rows))
        if direct.any():
            sums = _rowdot(q[direct], self.weights[rows[direct]])
            with np.errstate(divide="ignore"):
                out[direct] = np.minimum(np.exp(np.log(sums) + self.z_shift[rows[direct]]), 1.0)
        if (~direct).any():
            r = rows[~direct]
            terms = self.log_w[r] + _log_q(self.i[r] + 1.0, u[~direct])
            out[~direct] = np.exp(_logsumexp(terms) - self.log_z[r])
        return out

    def cdf(self, rows, s):
        u = np.asarray(s, float)[:, None] + self.c[rows][:, None]
        part = np.maximum(special.gammainc(self.i[rows] + 1.0, u) - self.p_c[rows], 0.0)
        return np.minimum(_rowdot(part, self.weights[rows]) * np.exp(self.z_shift[rows]), 1.0)

    def expected_i(self, rows, u):
        u = np.asarray(u, float)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = self.log_w[rows] + special.xlogy(self.i[rows], u) - u - self.gammaln[rows]
        weights = np.exp(terms - terms.max(axis=-1, keepdims=True))
        return _rowdot(weights, self.i[rows]) / weights.sum(axis=-1)

    # --- the summary, as OnOff.mode, quantile and interval ---------------------------------

    def mode(self):
        rows = np.arange(len(self.n))
        u0 = np.maximum(self.c, 1e-300)
        rising = self.expected_i(rows, u0) > u0
        out = np.zeros(len(self.n))
        if rising.any():
            r = rows[rising]
            u = _brent(
                lambda k, x: self.expected_i(r[k], x) - x,
                u0[r], self.n[r] + 1.0, 1e-12, 1e-14, 100,
            )  # fmt: skip
            out[r] = np.maximum(u - self.c[r], 0.0)
        return out

    def quantile(self, rows, q, mode):
        """s with F(s) = q for the members ``rows`` (q and mode per member)."""
        q = np.broadcast_to(np.asarray(q, float), rows.shape)
        tail = 1.0 - q
        sd = self.sd[rows]
        lo, hi = np.maximum(mode - 12.0 * sd, 0.0), mode + 12.0 * sd
        widen = np.flatnonzero(lo > 0.0)
        while widen.size:
            widen = widen[self.cdf(rows[widen], lo[widen]) > q[widen]]
            lo[widen] = np.maximum(lo[widen] - 12.0 * sd[widen], 0.0)
            widen = widen[lo[widen] > 0.0]
        widen = np.arange(len(rows))
        while widen.size:
            widen = widen[self.sf(rows[widen], hi[widen]) > tail[widen]]
            hi[widen] += 12.0 * sd[widen]
        upper = q > 0.5
        log_tail = np.log(tail)

        def f(k, x):
            with np.errstate(divide="ignore"):
                by_tail = np.log(self.sf(rows[k], x)) - log_tail[k]
            return np.where(upper[k], by_tail, self.cdf(rows[k], x) - q[k])

        return _brent(f, lo, hi, 1e-10 * sd, 1e-13, 500)

    def right_branch(self, rows, level, mode):
        """OnOff._right_branch for the members ``rows``."""
        left = mode.copy()
        step = np.sqrt(self.n[rows] + 1.0) + 1.0
        right = mode + step
        out = np.array(right)
        grow = np.arange(len(rows))
        while grow.size:
            grow = grow[self.log_pdf_slope(rows[grow], right[grow])[0] > level[grow]]
            left[grow], step[grow] = right[grow], 2.0 * step[grow]
            right[grow] = mode[grow] + step[grow]
        s = 0.5 * (left + right)
        active = np.arange(len(rows))
        for _ in range(100):
            if active.size == 0:
                break
            k = active
            value, slope = self.log_pdf_slope(rows[k], s[k])
            g = value - level[k]
            left[k] = np.where(g > 0, s[k], left[k])
            right[k] = np.where(g > 0, right[k], s[k])
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = np.where(slope < 0, s[k] - g / slope, np.nan)
            inside = (left[k] < newton) & (newton < right[k])
            s_new = np.where(inside, newton, 0.5 * (left[k] + right[k]))
            scale = 1e-12 * np.maximum(s[k], 1.0)
            stop = (np.abs(s_new - s[k]) <= scale) | (right[k] - left[k] <= scale)
            out[k[stop]] = s_new[stop]
            s[k] = s_new
            active = k[~stop]
        out[active] = s[active]
        return out

    def interval(self, confidence: float, ul, mode):
        everyone = np.arange(len(self.n))
        lo, hi = np.zeros(len(self.n)), np.array(ul, float)
        with np.errstate(divide="ignore"):
            at_zero = self.log_pdf(everyone, np.zeros(len(self.n)))
            interior = (mode > 0.0) & ~(at_zero >= self.log_pdf(everyone, ul))
        r = np.flatnonzero(interior)
        if r.size == 0:
            return lo, hi
        left = np.zeros(r.size)
        far = at_zero[r] < self.log_pdf(r, mode[r]) - 200.0
        if far.any():
            left[far] = self.quantile(r[far], 1e-15, mode[r][far])

        def excess(k, x):
            level = self.log_pdf(r[k], x)
            upper = self.right_branch(r[k], level, mode[r][k])
            return (self.sf(r[k], x) - self.sf(r[k], upper)) - confidence

        inside = excess(np.arange(r.size), left) > 0.0
        r, left = r[inside], left[inside]
        if r.size == 0:
            return lo, hi
        rows_mode = mode[r]

        def excess_inside(k, x):
            level = self.log_pdf(r[k], x)
            upper = self.right_branch(r[k], level, rows_mode[k])
            return (self.sf(r[k], x) - self.sf(r[k], upper)) - confidence

        sd = self.sd[r]
        lo[r] = _brent(excess_inside, left, rows_mode, 1e-10 * sd, 1e-13, 100)
        hi[r] = self.right_branch(r, self.log_pdf(r, lo[r]), rows_mode)
        return lo, hi


def _detection(n, m, alpha, c):
    """onoff_detection_probability: I_rho(N, M + 1) without contamination (arrays), the
    scalar function's sum otherwise."""
    from rassflow.photometry.bayes import onoff_detection_probability

    rho = alpha / (1.0 + alpha)
    with np.errstate(invalid="ignore"):
        out = np.where(n > 0, special.betainc(np.maximum(n, 1.0), m + 1.0, rho), 1.0)
    for k in np.flatnonzero((c != 0.0) & (n > 0)):
        out[k] = onoff_detection_probability(n[k], m[k], alpha[k], c[k])
    return out


def randomized_detection(n, m, alpha, c, u, p_at):
    """onoff_randomized_detection_probability for arrays: P(X > N) + U (P(X >= N) - P(X > N)),
    ``p_at`` the P(X >= N) of :func:`onoff_summary`; P(X > N) = I_rho(N + 1, M) without
    contamination (0 for M = 0), the scalar function's sum otherwise."""
    from rassflow.photometry.bayes import _onoff_tail

    n, m, alpha, c = (np.atleast_1d(np.asarray(v, float)) for v in (n, m, alpha, c))
    rho = alpha / (1.0 + alpha)
    above = np.where(m > 0, special.betainc(n + 1.0, np.where(m > 0, m, 1.0), rho), 0.0)
    for k in np.flatnonzero(c != 0.0):
        above[k] = _onoff_tail(n[k] + 1.0, m[k], rho[k], c[k])
    return above + np.asarray(u, float) * (np.asarray(p_at, float) - above)


def onoff_summary(n, m, alpha, c, confidence: float, ul_confidence: float, chunk: int = 4096):
    """(mode, lo, hi, upper limit, detection p-value) of the on/off posterior of each member,
    as OnOff(n, m, alpha, c).mode(), .interval(confidence), .quantile(ul_confidence) and
    onoff_detection_probability give them (confidences as fractions; c >= 0 as OnOff takes
    it). Members are taken in chunks of similar N, so that the padded terms stay few."""
    n, m, alpha, c = (np.atleast_1d(np.asarray(v, float)) for v in (n, m, alpha, c))
    if np.any(n < 0) or np.any(n != np.floor(n)) or np.any(m < 0) or np.any(c < 0):
        raise ValueError("n must be whole counts >= 0, m and c >= 0")
    if not np.all(alpha > 0):
        raise ValueError("alpha (BACKSCAL ratio) must be > 0")
    out = np.zeros((5, len(n)))
    order = np.argsort(n, kind="stable")
    sorted_n = n[order]
    start = 0
    while start < len(n):
        # at most ``chunk`` members whose N is within twice the first's (+16): few padded terms
        stop = min(start + chunk, int(np.searchsorted(sorted_n, 2 * sorted_n[start] + 16, "right")))
        rows, start = order[start:stop], stop
        posterior = _Posteriors(n[rows], m[rows], alpha[rows], c[rows])
        everyone = np.arange(len(rows))
        mode = posterior.mode()
        ul_interval = posterior.quantile(everyone, confidence, mode)
        lo, hi = posterior.interval(confidence, ul_interval, mode)
        out[0, rows], out[1, rows], out[2, rows] = mode, lo, hi
        out[3, rows] = posterior.quantile(everyone, ul_confidence, mode)
    out[4] = _detection(n, m, alpha, c)
    return tuple(out)
