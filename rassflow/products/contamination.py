"""Counts that catalogued neighbours put into a source's circle, by deblending apertures.

The RASS survey PSF holds only ~63 % of a source's counts inside 2' (Boese 2000, A&A Suppl.
141, 507; :mod:`rassflow.calibration.psf`), so a neighbour 2-4' away puts a sizeable part
of its wing into the target's circle. Cutting the neighbour out of the background annulus
(:mod:`rassflow.products.regions`) keeps it from being subtracted, but its wing inside the
circle would still be counted as the target's.

The wing is estimated as aperture photometry of blended sources is (e.g. the simultaneous
aperture solution of Stetson 1987, PASP 99, 191, in its linear form): each source k has
total counts F_k(E); region i holds the fraction a_ik(E) of source k, the sum of the PSF
over the region's pixels. The background-subtracted counts in the target's circle and in a
circle of the same radius around each neighbour,

    N_i - (n_i / n_bkg) B  =  sum_k (a_ik - (n_i / n_bkg) a_bkg,k) F_k ,

(n: pixels, B: counts of the cleaned background region) are solved for F per channel, and
the neighbours' expected net counts in the target's circle, sum_{k>0} M_0k F_k, are the
contamination. It is unbiased (a linear estimator) and carries the neighbours' Poisson
noise; it needs no spectral model of the neighbours.

The contamination goes into the background spectrum as an extra binary table
``CONTAMINATION`` (CHANNEL, COUNTS): expected counts in the source circle from the
neighbours, net of what the background subtraction already removes. XSPEC and Sherpa read
the SPECTRUM extension and ignore it; the photometry subtracts it, and both fitters add it
to the folded model as a fixed component in counts (:func:`fixed_counts`), so that the
fitted shape and flux are the target's own.
"""

from __future__ import annotations

import functools

import numpy as np

from rassflow import pspc
from rassflow.products.regions import SourceRegions

EXTNAME = "CONTAMINATION"
RING_ARCMIN = 0.02  # radial step of the PSF sums (1.2", finer than the PSF core)
ENERGIES_KEV = np.geomspace(0.08, 2.6, 14)  # the PSF varies slowly with energy
MAX_CONDITION = 100.0
"""Apertures that overlap so much that the system's condition number exceeds this cannot
tell the sources apart: such a neighbour is left unresolved (the target is then flagged)."""


def _ring_densities(reach_arcmin: float) -> tuple[np.ndarray, np.ndarray]:
    """Ring edges (arcmin) and the survey PSF's mean surface density in each ring (fraction
    of the source per arcmin^2) at ENERGIES_KEV: shape (n_energies, n_rings), out to at least
    ``reach_arcmin`` (the table of the next whole arcminute, computed once per process)."""
    return _ring_table(int(np.ceil(reach_arcmin)))


@functools.lru_cache(maxsize=8)
def _ring_table(reach_arcmin: int) -> tuple[np.ndarray, np.ndarray]:
    from rassflow.calibration.psf import survey_eef

    edges = np.arange(0.0, reach_arcmin + RING_ARCMIN, RING_ARCMIN)
    eef = survey_eef(ENERGIES_KEV[:, None], edges[None, :])
    areas = np.pi * np.diff(edges**2)
    return edges, np.diff(eef, axis=1) / areas


# The PSF sums run over a region's pixels in blocks: a block of BLOCK_PIXELS^2 pixels wholly
# inside the region and farther than NEAR_ARCMIN from every source centre counts as its
# centre with weight BLOCK_PIXELS^2 (the PSF varies by < 1e-4 across 4" that far out); blocks
# cut by the region's edges or near a centre keep their single pixels. The pixel counts (the
# BACKSCAL ratios) stay exact, and an annulus costs ~10^4 points instead of ~2 x 10^6.
BLOCK_PIXELS = 8
NEAR_ARCMIN = 1.5


def _span_distances(x0, x1, y0, y1, cx, cy):
    """Nearest and farthest distance from (cx, cy) to the integer points of the blocks
    [x0, x1] x [y0, y1] (inclusive; arrays)."""
    dx_near = np.maximum(np.maximum(x0 - cx, cx - x1), 0.0)
    dy_near = np.maximum(np.maximum(y0 - cy, cy - y1), 0.0)
    dx_far = np.maximum(np.abs(x0 - cx), np.abs(x1 - cx))
    dy_far = np.maximum(np.abs(y0 - cy), np.abs(y1 - cy))
    return np.hypot(dx_near, dy_near), np.hypot(dx_far, dy_far)


def _blocks_inside(regions: SourceRegions, which: str, x0, x1, y0, y1):
    """(all inside, all outside) for each block, from the same inequalities as
    SourceRegions.contains applied to its nearest and farthest integer points."""
    near, far = _span_distances(x0, x1, y0, y1, regions.x, regions.y)
    if which == "src":
        return far <= regions.radius, near > regions.radius
    inside = (near >= regions.inner) & (far <= regions.outer)
    outside = (far < regions.inner) | (near > regions.outer)
    for ex, ey, er in regions.exclusions:
        ex_near, ex_far = _span_distances(x0, x1, y0, y1, ex, ey)
        inside &= ex_near > er
        outside |= ex_far <= er
    return inside, outside


def _weighted_pixels(regions: SourceRegions, which: str, field, centres, near_pix: float):
    """(x, y, weight) of a region's integer sky pixels inside the field, the same set as
    ``regions.lattice(which, *field)``, with whole blocks far from every centre merged into
    one weighted point (see BLOCK_PIXELS)."""
    (fx0, fx1), (fy0, fy1) = field
    reach = regions.radius if which == "src" else regions.outer
    x0 = max(int(np.floor(regions.x - reach)), fx0)
    x1 = min(int(np.ceil(regions.x + reach)), fx1)
    y0 = max(int(np.floor(regions.y - reach)), fy0)
    y1 = min(int(np.ceil(regions.y + reach)), fy1)
    if x1 < x0 or y1 < y0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    size = BLOCK_PIXELS
    bx, by = np.meshgrid(np.arange(x0, x1 + 1, size), np.arange(y0, y1 + 1, size))
    bx, by = bx.ravel().astype(float), by.ravel().astype(float)
    ex, ey = np.minimum(bx + size - 1, x1), np.minimum(by + size - 1, y1)
    inside, outside = _blocks_inside(regions, which, bx, ex, by, ey)
    whole = inside & (ex - bx == size - 1) & (ey - by == size - 1)
    for cx, cy in centres:
        whole &= _span_distances(bx, ex, by, ey, cx, cy)[0] > near_pix
    split = ~whole & ~outside
    oy, ox = np.divmod(np.arange(size * size, dtype=float), size)
    px, py = (bx[split, None] + ox).ravel(), (by[split, None] + oy).ravel()
    keep = (px <= np.repeat(ex[split], size * size)) & (py <= np.repeat(ey[split], size * size))
    px, py = px[keep], py[keep]
    keep = regions.contains(px, py, which)
    half = 0.5 * (size - 1)
    x = np.concatenate([bx[whole] + half, px[keep]])
    y = np.concatenate([by[whole] + half, py[keep]])
    weight = np.concatenate([np.full(int(whole.sum()), size * size, float), np.ones(keep.sum())])
    return x, y, weight


def _psf_fractions(points, centres, step_pix, densities, pixel_area_arcmin2) -> np.ndarray:
    """a(E, k): the fraction of each source k (centre in pixels) inside a set of weighted
    pixels (x, y, weight) from :func:`_weighted_pixels`; rings of ``step_pix`` pixels."""
    px, py, weight = points
    out = np.zeros((len(ENERGIES_KEV), len(centres)))
    n_rings = densities.shape[1]
    for k, (cx, cy) in enumerate(centres):
        ring = (np.hypot(px - cx, py - cy) / step_pix).astype(int)
        per_ring = np.bincount(ring, weights=weight, minlength=n_rings)
        out[:, k] = densities @ per_ring * pixel_area_arcmin2
    return out


def _aperture(regions: SourceRegions, x: float, y: float) -> SourceRegions:
    """A circle of the source circle's radius around (x, y) (annulus unused)."""
    return SourceRegions(x, y, regions.radius, 0.0, 0.0)


def neighbour_contamination(events, regions: SourceRegions, neighbours_pix, pixel_deg: float):
    """Expected neighbour counts per PI channel inside the source circle, net of the
    background subtraction, and a summary.

    ``neighbours_pix``: (x, y) sky pixels of the catalogued neighbours. Returns
    (channels, counts, info) with info ``{"neighbours", "confused", "unresolved"}``:
    neighbours used, those whose position lies inside the source circle, and those too
    close to separate (their counts stay in the target's). Channels as the spectra's.
    """
    from rassflow.products.spectra import channel_range

    ch_lo, ch_hi = channel_range(events)
    channels = np.arange(ch_lo, ch_hi + 1)
    centres = [(regions.x, regions.y)] + [(float(x), float(y)) for x, y in neighbours_pix]
    info = {
        "neighbours": len(centres) - 1,
        "confused": sum(
            np.hypot(x - regions.x, y - regions.y) <= regions.radius for x, y in centres[1:]
        ),
        "unresolved": 0,
    }
    if len(centres) == 1:
        info["variance"] = np.zeros(len(channels))
        return channels, np.zeros(len(channels)), info

    field = (events.axis_range("X"), events.axis_range("Y"))
    apertures = [regions] + [_aperture(regions, x, y) for x, y in centres[1:]]
    pixel_arcmin = pixel_deg * 60.0
    near = NEAR_ARCMIN / pixel_arcmin
    pixels = [_weighted_pixels(a, "src", field, centres, near) for a in apertures]
    background = _weighted_pixels(regions, "bkg", field, centres, near)
    n_bkg = background[2].sum()
    # the farthest any region reaches from any centre, so that the ring table covers it
    reach = max(
        np.hypot(a.x - cx, a.y - cy) + (a.radius if a is not regions else a.outer)
        for a in apertures
        for cx, cy in centres
    )
    edges, densities = _ring_densities(reach * pixel_arcmin + 2 * RING_ARCMIN)
    step = RING_ARCMIN / pixel_arcmin
    area = pixel_arcmin**2
    in_bkg = _psf_fractions(background, centres, step, densities, area)

    in_range = (events.pi >= ch_lo) & (events.pi <= ch_hi)
    bkg_counts = _channel_counts(events, regions, "bkg", in_range, ch_lo, len(channels))
    net, matrix, raw, scales = [], [], [], []
    for aperture, points in zip(apertures, pixels, strict=True):
        scale = points[2].sum() / n_bkg if n_bkg else 0.0
        counts = _channel_counts(events, aperture, "src", in_range, ch_lo, len(channels))
        raw.append(counts)
        scales.append(scale)
        net.append(counts - scale * bkg_counts)
        matrix.append(_psf_fractions(points, centres, step, densities, area) - scale * in_bkg)
    net = np.array(net)  # (apertures, channels)
    matrix = np.stack(matrix, axis=1)  # (energies, apertures, sources)

    # a neighbour whose aperture cannot be told apart from the target's
    keep = np.ones(len(centres), bool)
    for k in range(1, len(centres)):
        pair = np.ix_([0, k], [0, k])
        keep[k] = max(np.linalg.cond(m[pair]) for m in matrix) <= MAX_CONDITION
    info["unresolved"] = int((~keep[1:]).sum())
    if keep.sum() == 1:
        info["variance"] = np.zeros(len(channels))
        return channels, np.zeros(len(channels)), info
    used = np.flatnonzero(keep)
    energy = np.clip((channels + 0.5) * pspc.PI_ENERGY_KEV, ENERGIES_KEV[0], ENERGIES_KEV[-1])
    per_channel = np.empty((len(channels), len(used), len(used)))
    for i, row in enumerate(used):
        for j, column in enumerate(used):
            per_channel[:, i, j] = np.interp(
                np.log(energy), np.log(ENERGIES_KEV), matrix[:, row, column]
            )
    totals = np.linalg.solve(per_channel, net[used].T[..., None])[..., 0]  # (channels, sources)
    counts = np.einsum("cj,cj->c", per_channel[:, 0, 1:], totals[:, 1:])
    # the estimator is linear, counts = sum_i w_i net_i: its Poisson variance
    weights = np.einsum("cj,cji->ci", per_channel[:, 0, 1:], np.linalg.inv(per_channel)[:, 1:, :])
    info["variance"] = deblending_variance(
        weights, np.array(raw)[used].T, np.array(scales)[used], bkg_counts
    )
    return channels, counts, info


def deblending_variance(weights, aperture_counts, scales, background_counts):
    """Poisson variance of the deblended neighbour counts ``c = sum_i w_i (N_i - s_i B)``.

    ``weights`` w (..., apertures): the linear estimator's weight of each aperture's net
    counts, aperture 0 the target's; ``aperture_counts`` N (..., apertures) the counts in
    each aperture; ``scales`` s (apertures,) the aperture-to-background pixel ratios;
    ``background_counts`` B (...) the counts of the cleaned background region. Leading axes
    (channels, sources) broadcast. Counts estimate their own Poisson means. The target's
    own aperture (i = 0) is left out of the first sum: a fit or a posterior of the target's
    counts already carries N_0's noise. Returns count^2, same leading shape."""
    w = np.asarray(weights, dtype=float)
    n = np.asarray(aperture_counts, dtype=float)
    s = np.asarray(scales, dtype=float)
    b = np.asarray(background_counts, dtype=float)
    return (w[..., 1:] ** 2 * n[..., 1:]).sum(axis=-1) + (w * s).sum(axis=-1) ** 2 * b


def widen_for_deblending(value, lower, upper, sigma, confidence: float):
    """An interval widened by the deblending noise: each bound moves away from ``value``
    so that its distance is ``sqrt(d^2 + (z sigma)^2)``, with ``d`` the distance of the
    statistical bound and ``z`` the two-sided Gaussian quantile of ``confidence`` (%):
    independent errors add in quadrature (Gaussian approximation of the neighbours' Poisson
    noise, which is the sum of many small terms). Arrays broadcast; NaN bounds (not found)
    stay NaN; a lower bound is not pushed below 0 when the statistical one was >= 0 (counts,
    rates and fluxes). Returns (lower, upper) as float arrays.

    ``sigma``: the 1-sigma deblending error of the quantity, e.g. the square root of the
    band sum of the CONTAMINATION table's VARIANCE for counts (:func:`deblending_sigma`),
    times the counts-to-rate or counts-to-flux factor for those."""
    from scipy.special import ndtri

    z = float(ndtri(0.5 + 0.5 * float(confidence) / 100.0))
    value = np.asarray(value, dtype=float)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    extra = (z * np.asarray(sigma, dtype=float)) ** 2
    new_lower = value - np.sqrt((value - lower) ** 2 + extra)
    new_lower = np.where(lower >= 0, np.maximum(new_lower, 0.0), new_lower)
    new_upper = value + np.sqrt((upper - value) ** 2 + extra)
    return new_lower, new_upper


def deblending_sigma(channels, variance, pi_range) -> float:
    """The 1-sigma deblending error (counts) of the neighbours' counts in channels
    ``pi_range`` (inclusive): the root of the VARIANCE column's sum (channels are
    independent counts)."""
    channels = np.asarray(channels)
    lo, hi = pi_range
    inside = (channels >= lo) & (channels <= hi)
    return float(np.sqrt(np.clip(np.asarray(variance, float)[inside], 0.0, None).sum()))


def _channel_counts(events, regions: SourceRegions, which, in_range, ch_lo, n_channels):
    selected = regions.contains(events.x, events.y, which) & in_range
    return np.bincount(events.pi[selected] - ch_lo, minlength=n_channels).astype(float)


def contamination_hdu(channels, counts, info: dict):
    """The CONTAMINATION binary table written into the background spectrum file: CHANNEL,
    COUNTS and, when ``info`` has it, VARIANCE (count^2, :func:`deblending_variance`)."""
    from astropy.io import fits

    columns = [
        fits.Column("CHANNEL", "J", array=channels),
        fits.Column("COUNTS", "D", unit="count", array=counts),
    ]
    if info.get("variance") is not None:
        columns.append(fits.Column("VARIANCE", "D", unit="count**2", array=info["variance"]))
    hdu = fits.BinTableHDU.from_columns(columns, name=EXTNAME)
    h = hdu.header
    h["NNEIGHB"] = (info["neighbours"], "catalogued neighbours considered")
    h["NCONFUSE"] = (info["confused"], "neighbours inside the source circle")
    h["NUNRESOL"] = (info["unresolved"], "neighbours too close to separate")
    h["CONTAM"] = (float(np.round(counts.sum(), 6)), "[count] neighbour counts in src circle")
    if info.get("variance") is not None:
        sigma = float(np.sqrt(np.clip(info["variance"], 0.0, None).sum()))
        h["CONTAMSD"] = (round(sigma, 6), "[count] 1-sigma deblending error of CONTAM")
    h["COMMENT"] = "Expected counts in the source circle from catalogued neighbours' PSF"
    h["COMMENT"] = "wings, net of the background subtraction (aperture deblending)."
    return hdu


def read_contamination(background_path) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """(channels, counts, header summary) of a background file's CONTAMINATION table, or
    None when it has none (no catalogued neighbour near the source)."""
    from astropy.io import fits

    with fits.open(background_path) as hdul:
        if EXTNAME not in hdul:
            return None
        hdu = hdul[EXTNAME]
        summary = {
            "neighbours": int(hdu.header.get("NNEIGHB", 0)),
            "confused": int(hdu.header.get("NCONFUSE", 0)),
            "unresolved": int(hdu.header.get("NUNRESOL", 0)),
        }
        return (
            np.asarray(hdu.data["CHANNEL"], int),
            np.asarray(hdu.data["COUNTS"], float),
            summary,
        )


def read_contamination_variance(background_path) -> tuple[np.ndarray, np.ndarray] | None:
    """(channels, variance count^2) of a CONTAMINATION table, None without a table or
    without its VARIANCE column (files written before it existed)."""
    from astropy.io import fits

    with fits.open(background_path) as hdul:
        if EXTNAME not in hdul or "VARIANCE" not in hdul[EXTNAME].columns.names:
            return None
        data = hdul[EXTNAME].data
        return np.asarray(data["CHANNEL"], int), np.asarray(data["VARIANCE"], float)


def band_fraction(spectrum_path, background_path, band_keV) -> float:
    """The neighbours' share of the background-subtracted counts of a source in an energy
    band (PI channels of :func:`rassflow.pspc.pi_limits`): 0 without a CONTAMINATION table,
    clipped to [-1, 1]. Negative when a neighbour's wing in the background region (outside
    its exclusion circle) made the background subtraction remove too much."""
    from astropy.io import fits

    from rassflow.files import spectrum_index

    table = read_contamination(background_path)
    if table is None:
        return 0.0
    channels, counts, _ = table
    lo, hi = pspc.pi_limits(*band_keV)

    def spectrum(path):
        with fits.open(path) as hdul:
            hdu = hdul[spectrum_index(hdul, path)]
            pairs = zip(hdu.data["CHANNEL"], hdu.data["COUNTS"], strict=True)
            return {int(c): float(n) for c, n in pairs}, float(hdu.header["BACKSCAL"])

    source, src_backscal = spectrum(spectrum_path)
    background, bkg_backscal = spectrum(background_path)
    ratio = src_backscal / bkg_backscal if bkg_backscal > 0 else 0.0
    band = range(lo, hi + 1)
    net = sum(source.get(c, 0.0) for c in band) - ratio * sum(background.get(c, 0.0) for c in band)
    contaminating = float(counts[(channels >= lo) & (channels <= hi)].sum())
    if net <= 0:
        return 0.0
    return float(np.clip(contaminating / net, -1.0, 1.0))


def fixed_counts(background_path, channels, grouping=None) -> np.ndarray | None:
    """The neighbours' counts per channel of a spectrum (its CHANNEL column ``channels``)
    as a fixed additive component of a fit, or None without a CONTAMINATION table.

    A Poisson likelihood needs a non-negative model in every channel, but the table is net
    of the background subtraction (negative where a neighbour's wing in the background
    region outweighs its wing in the circle) and noisy per channel. So it is summed over
    the spectrum's groups (GROUPING, 1 starts a group; None: one group per channel), a
    negative group sum becomes 0, and a positive one is shared among the group's channels
    in proportion to their positive entries. Both fitters use this, so they fit the same
    model."""
    table = read_contamination(background_path)
    if table is None:
        return None
    table_channels, table_counts, _ = table
    channels = np.asarray(channels, int)
    per_channel = np.zeros(channels.size)
    position = {int(c): i for i, c in enumerate(channels)}
    for channel, value in zip(table_channels, table_counts, strict=True):
        if int(channel) in position:
            per_channel[position[int(channel)]] += float(value)
    grouping = np.ones(channels.size, int) if grouping is None else np.asarray(grouping, int)
    starts = np.flatnonzero(grouping != -1)
    if starts.size == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts])
    group_sums = np.add.reduceat(per_channel, starts)
    positive = np.clip(per_channel, 0.0, None)
    positive_sums = np.add.reduceat(positive, starts)
    share = np.zeros_like(group_sums)  # per group: its sum over its positive entries
    np.divide(group_sums, positive_sums, out=share, where=(group_sums > 0) & (positive_sums > 0))
    return positive * np.repeat(share, np.diff(np.append(starts, channels.size)))
