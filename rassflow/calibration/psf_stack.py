"""The survey PSF measured on the run's own sources: which published description holds.

Two published descriptions of the RASS survey PSF differ by ~10 % of a source inside the
2' circle (:mod:`rassflow.calibration.psf`: PSFOFF, Hasinger et al. CAL/ROS/93-015, and the
ROSAT GOF FAQ's Gaussian), so an aperture correction that takes one on trust is ~15 % off if
the other holds. The survey itself can tell: the radial profiles of its bright isolated
sources, stacked. Boese (2000, A&AS 141, 507, sect. 4) calibrated the survey PSF the same
way, from stacked RASS sources.

The family fitted is the mixture ``(1 - w) PSFOFF + w GOF FAQ`` (both normalised surface
brightnesses, so every mixture is one, :func:`rassflow.calibration.psf.mixture_weight`).
For each calibrator the events within ``radius`` (the background annulus's outer radius,
where the kept fraction is defined) are binned in radius and in PI groups; in each PI group
the radial distribution is ``s P_w(r | E) / EEF_w(radius | E) + (1 - s) A(r) / A(radius)``
(source share ``s``, flat background over the disc's area ``A``), a conditional likelihood
of where each event falls given its PI (Cash 1979, ApJ 228, 939). ``s`` is maximised for
each calibrator and group (the likelihood is concave in it), leaving the profile likelihood
of ``w``; with a flat prior on [0, 1] its posterior gives the weight (posterior mean: the
kept fraction is linear in ``w``, so this is its posterior mean too) and a central
interval. Without calibrators the posterior is flat: weight 0.5, the interval nearly [0, 1].

Each PI group's PSF is taken at its nominal energy (PI x 9.9 eV, the notebook's
conversion); the PSPC's energy resolution mixes neighbouring groups, which the smooth energy
dependence of both descriptions makes a small effect.
"""

from __future__ import annotations

import logging

import numpy as np

from rassflow import pspc

log = logging.getLogger(__name__)

# PI groups of the 2RXS broad band (11-235): the energy dependence of both descriptions
# is smooth, five groups follow it
PI_GROUPS = ((11, 29), (30, 51), (52, 89), (90, 139), (140, 235))
RADIAL_BINS = 24  # edges at radius x (k / RADIAL_BINS)^2: fine in the core, wide outside
WEIGHT_GRID = np.linspace(0.0, 1.0, 201)
CONFIDENCE = 0.90  # of the weight's interval (its ends bound the PSF systematic)
# calibrators: matched, no catalogued neighbour, at least this many broad-band events
# inside the stack radius, the disc inside the field
DEFAULT_MIN_COUNTS = 50
DEFAULT_MAX_SOURCES = 500
METHOD = "stacked profiles of bright isolated matched sources"


def group_energies_keV() -> np.ndarray:
    """Nominal energy (keV) of each PI group: its mid channel x 9.9 eV."""
    return np.array([0.5 * (lo + hi) * pspc.PI_ENERGY_KEV for lo, hi in PI_GROUPS])


def radial_edges(radius_arcmin: float) -> np.ndarray:
    return radius_arcmin * (np.arange(RADIAL_BINS + 1) / RADIAL_BINS) ** 2


def stack_counts(events, centres_pix, radius_arcmin: float) -> np.ndarray:
    """Counts (n_sources, n_groups, RADIAL_BINS) of ``events`` (an EventList) around each
    centre (sky pixels, 1-based) by PI group and radial bin, out to ``radius_arcmin``."""
    scale = events.pixel_scale_deg * 60.0  # arcmin per sky pixel
    edges = radial_edges(radius_arcmin)
    group_of = np.full(257, -1)
    for g, (lo, hi) in enumerate(PI_GROUPS):
        group_of[lo : hi + 1] = g
    order = np.argsort(events.x, kind="stable")
    xs, ys, pis = events.x[order], events.y[order], events.pi[order]
    reach = radius_arcmin / scale
    out = np.zeros((len(centres_pix), len(PI_GROUPS), RADIAL_BINS))
    for k, (cx, cy) in enumerate(np.asarray(centres_pix, float).reshape(-1, 2)):
        lo, hi = np.searchsorted(xs, [cx - reach, cx + reach + 1])
        r = np.hypot(xs[lo:hi] - cx, ys[lo:hi] - cy) * scale
        group = group_of[np.clip(pis[lo:hi], 0, 256)]
        use = (r < radius_arcmin) & (group >= 0)
        bins = np.searchsorted(edges, r[use], side="right") - 1
        np.add.at(out[k], (group[use], bins), 1.0)
    return out


def _cell_shares(radius_arcmin: float):
    """(PSFOFF, GOF FAQ) radial-bin shares (n_groups, n_bins), each group's row normalised
    inside the stack radius, and the flat background's (n_bins,)."""
    from rassflow.calibration.psf import survey_eef

    edges = radial_edges(radius_arcmin)
    energy = group_energies_keV()[:, None]
    shares = []
    for model in ("psfoff", "gof_faq"):
        eef = survey_eef(energy, edges[None, :], model=model)
        cells = np.diff(eef, axis=1)
        shares.append(cells / cells.sum(axis=1, keepdims=True))
    area = np.diff(edges**2) / edges[-1] ** 2
    return shares[0], shares[1], area


def _best_share(counts, source, background, iterations: int = 60, share: bool = False):
    """max over s in [0, 1] of sum_k n_k log(s a_k + (1 - s) b_k), for every leading index:
    ``counts`` (..., n_bins), ``source`` a (..., n_bins), ``background`` b (n_bins,); with
    ``share`` also the s that reaches it. Bisection on the derivative, which falls with s
    (the log-likelihood is concave)."""
    diff = source - background

    def slope(s):
        return np.sum(counts * diff / (s[..., None] * diff + background), axis=-1)

    lo = np.zeros(counts.shape[:-1])
    hi = np.ones(counts.shape[:-1])
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        rising = slope(mid) > 0
        lo, hi = np.where(rising, mid, lo), np.where(rising, hi, mid)
    s = 0.5 * (lo + hi)
    model = s[..., None] * diff + background
    best = np.sum(np.where(counts > 0, counts * np.log(np.where(counts > 0, model, 1.0)), 0.0), -1)
    return (best, s) if share else best


def _profile(data, group, psfoff, gof, area, edges, weights: dict) -> dict:
    """The stacked radial profile (counts per radial bin, summed over sources and PI groups)
    and what each mixture weight of ``weights`` ({label: w}) predicts for it, each cell's
    source share at its best: for the figure of :func:`rassflow.report.plots.plot_psf_calibration`."""
    out = {
        "radius_edges_arcmin": [round(float(e), 6) for e in edges],
        "counts": [float(v) for v in data.sum(axis=0)] if len(data) else [0.0] * len(area),
    }
    for label, w in weights.items():
        source = (1.0 - w) * psfoff[group] + w * gof[group]
        predicted = np.zeros(len(area))
        if len(data):
            _, s = _best_share(data, source, area, share=True)
            cells = s[:, None] * (source - area) + area
            predicted = (data.sum(axis=1)[:, None] * cells).sum(axis=0)
        out[label] = [round(float(v), 4) for v in predicted]
    return out


def _posterior(loglike):
    """(mean, low, high, sd) of the posterior exp(loglike) on WEIGHT_GRID (flat prior), its
    central CONFIDENCE interval by the trapezoid rule."""
    posterior = np.exp(loglike - loglike.max())
    step = WEIGHT_GRID[1] - WEIGHT_GRID[0]
    mass = 0.5 * (posterior[1:] + posterior[:-1]) * step
    mass = mass / mass.sum()
    cdf = np.concatenate([[0.0], np.cumsum(mass)])
    tail = 0.5 * (1.0 - CONFIDENCE)
    low, high = np.interp([tail, 1.0 - tail], cdf, WEIGHT_GRID)
    middle = 0.5 * (WEIGHT_GRID[1:] + WEIGHT_GRID[:-1])
    mean = float(np.sum(middle * mass))
    sd = float(np.sqrt(np.sum((middle - mean) ** 2 * mass)))
    return mean, float(low), float(high), sd


def fit_weight(counts, radius_arcmin: float) -> dict:
    """The mixture weight from stacked counts (n_sources, n_groups, n_bins) of
    :func:`stack_counts`: ``weight`` (posterior mean), ``low``/``high`` (the central
    :data:`CONFIDENCE` interval), ``mode``, ``sources``, ``counts``, the log-likelihood
    over :data:`WEIGHT_GRID` relative to its maximum, and each PI group's own weight.

    The PI groups measure the same weight if the survey PSF is a mixture of the two at every
    energy. When their weights scatter more than their errors allow, the interval is widened
    about the weight by the scale factor S = sqrt(chi^2 / (groups - 1)), as the Particle
    Data Group scales the error of inconsistent measurements (Review of Particle Physics,
    Introduction, "Averaging procedures")."""
    counts = np.asarray(counts, float).reshape(-1, len(PI_GROUPS), RADIAL_BINS)
    psfoff, gof, area = _cell_shares(radius_arcmin)
    by_group = np.zeros((WEIGHT_GRID.size, len(PI_GROUPS)))
    used = counts.sum(axis=-1) > 0  # (source, group) cells with events
    data = counts[used]  # (n_cells, n_bins)
    group = np.nonzero(used)[1]
    if len(data):
        for i, w in enumerate(WEIGHT_GRID):
            source = (1.0 - w) * psfoff[group] + w * gof[group]
            by_group[i] = np.bincount(
                group, _best_share(data, source, area), minlength=len(PI_GROUPS)
            )
    loglike = by_group.sum(axis=1)
    loglike -= loglike.max()
    mean, low, high, _ = _posterior(loglike)
    measured = [g for g in range(len(PI_GROUPS)) if used[:, g].any()]
    groups = {g: _posterior(by_group[:, g]) for g in measured}
    scale = 1.0
    if len(groups) > 1:
        chi2 = sum((m - mean) ** 2 / max(sd, 1e-6) ** 2 for m, _, _, sd in groups.values())
        scale = max(1.0, float(np.sqrt(chi2 / (len(groups) - 1))))
    low = max(0.0, mean - scale * (mean - low))
    high = min(1.0, mean + scale * (high - mean))
    weights = {"model_psfoff": 0.0, "model_gof_faq": 1.0, "model": mean}
    profile = _profile(data, group, psfoff, gof, area, radial_edges(radius_arcmin), weights)
    return {
        "weight": round(mean, 6),
        "low": round(low, 6),
        "high": round(high, 6),
        "mode": float(WEIGHT_GRID[int(np.argmax(loglike))]),
        "confidence": CONFIDENCE,
        "scale_factor": round(scale, 4),
        "group_weights": {
            f"PI {PI_GROUPS[g][0]}-{PI_GROUPS[g][1]}": [round(m, 4), round(sd, 4)]
            for g, (m, _, _, sd) in groups.items()
        },
        "sources": int(len(counts)),
        "counts": int(counts.sum()),
        "loglike": [round(float(v), 4) for v in loglike],
        "profile": profile,
    }


def stack_radius_arcmin(regions: dict) -> float:
    """The background region's outer radius (``regions`` config section): the kept
    fraction depends on the PSF out to there."""
    return regions["source_radius_arcmin"] * regions["background_outer_factor"]


def calibrate_job(job) -> dict:
    """One calibrate_psf job: ``input.events`` the skyfields of ``params.calibrators``
    ({seq: [[id_name, ra, dec], ...]}) in its order; ``params.regions``, ``params.settings``
    (responses.psf_calibration), ``params.provenance``."""
    params = job.params
    candidates = dict(params.calibrators)
    skyfields = dict(zip(candidates, job.input.events, strict=True))
    result = calibrate(
        skyfields, candidates, stack_radius_arcmin(params.regions), dict(params.settings)
    )
    write_calibration(result, job.output[0], dict(params.provenance))
    return result


def calibrate(skyfields: dict, candidates: dict, radius_arcmin: float, settings: dict) -> dict:
    """The mixture weight from the candidates of :func:`rassflow.plan.psf_calibrators`
    ({seq: [[id_name, ra, dec], ...]}) in ``skyfields``
    ({seq: events path}). Each candidate's disc must lie inside its field and hold at least
    ``settings["min_counts"]`` broad-band events; the ``max_sources`` with most events are
    stacked. Returns :func:`fit_weight`'s dict plus the calibrators' ids."""
    from rassflow.archive.skyfield import read_events
    from rassflow.errors import DATA_ERRORS
    from rassflow.status import marker_reason

    min_counts = settings.get("min_counts", DEFAULT_MIN_COUNTS)
    max_sources = settings.get("max_sources", DEFAULT_MAX_SOURCES)
    names, stacks, skipped = [], [], []
    for seq in sorted(candidates):
        if seq not in skyfields:
            continue
        # a skyfield whose files failed stays out of the stack; the others calibrate
        reason = marker_reason(skyfields[seq])
        try:
            if reason is not None:
                raise ValueError(reason)
            events = read_events(skyfields[seq])
        except DATA_ERRORS as exc:
            log.warning("survey PSF: skyfield %s left out of the stack (%s)", seq, exc)
            skipped.append(seq)
            continue
        rows = candidates[seq]
        pixels = events.wcs().all_world2pix(np.array([[r[1], r[2]] for r in rows]), 1)
        reach = radius_arcmin / (events.pixel_scale_deg * 60.0)
        (x_lo, x_hi), (y_lo, y_hi) = events.axis_range("X"), events.axis_range("Y")
        inside = (
            (pixels[:, 0] - reach >= x_lo)
            & (pixels[:, 0] + reach <= x_hi)
            & (pixels[:, 1] - reach >= y_lo)
            & (pixels[:, 1] + reach <= y_hi)
        )
        if not inside.any():
            continue
        counts = stack_counts(events, pixels[inside], radius_arcmin)
        bright = counts.sum(axis=(1, 2)) >= min_counts
        names += [rows[k][0] for k in np.flatnonzero(inside)[bright]]
        stacks.append(counts[bright])
    counts = np.concatenate(stacks) if stacks else np.zeros((0, len(PI_GROUPS), RADIAL_BINS))
    order = np.argsort(-counts.sum(axis=(1, 2)), kind="stable")[:max_sources]
    result = fit_weight(counts[order], radius_arcmin)
    result["calibrators"] = [names[k] for k in order]
    result["skyfields_left_out"] = skipped
    result["radius_arcmin"] = radius_arcmin
    result["method"] = METHOD
    log.info(
        "survey PSF: GOF FAQ weight %.3f (%d %% interval %.3f-%.3f) from %d sources, %d counts",
        result["weight"],
        round(100 * CONFIDENCE),
        result["low"],
        result["high"],
        result["sources"],
        result["counts"],
    )
    return result


def psf_setting(calibration) -> dict:
    """The ``psf`` setting of the products (:func:`rassflow.calibration.psf.analysis_psf`)
    from a calibration, its file or the dict of :func:`calibrate`: description
    ``calibrated``, the weight and its interval."""
    if not isinstance(calibration, dict):
        calibration = read_calibration(calibration)
    return {
        "description": "calibrated",
        "weight": float(calibration["weight"]),
        "low": float(calibration["low"]),
        "high": float(calibration["high"]),
    }


def write_calibration(result: dict, path, provenance: dict | None = None) -> None:
    from rassflow.files import write_json

    write_json({**result, "provenance": provenance or {}}, path)


def read_calibration(path) -> dict:
    from rassflow.files import read_json

    return read_json(path)
