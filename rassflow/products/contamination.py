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

The fractions a_ik(E) are the survey PSF (its encircled-energy table in rings of
RING_ARCMIN about source k, a mean surface density per ring) integrated over the region in
polar coordinates about the source: per ring, the area of the region in it is the integral
of r theta(r) dr, theta(r) the angle of the circle of radius r that lies in the region, which
for circles, the annulus less its exclusion circles and the field's edges is a sum of arcs
(:func:`_ring_areas`; whole circles in closed form). This is the continuous region, not its
pixels: against the PSF summed pixel by pixel the fractions differ by <= 5e-4 relative
(1.2e-3 in a sliver of an aperture the field edge leaves) and the deblended counts and their
variance by <= 1.5e-3, which is what a circle's pixels differ from its area (most for
circles centred on a pixel). The pixel counts n (the BACKSCAL ratios) are counted exactly,
row by row.

The PSF wing is a model: the survey PSF in use (PSFOFF, the survey PSF of Boese 2000 with
pcrpsf's scattering wing, or the mixture of it and the ROSAT GOF FAQ's description that the
run's own sources calibrate, :mod:`rassflow.calibration.psf_stack`); the same counts solved
with the fractions at the far end of the PSF's systematic range (the GOF FAQ's description
when none was calibrated) give another estimate, and their difference per channel
(``psf_shift``) is the wing model's systematic, one error common to all channels
(:func:`deblending_sigma` adds its band sum in quadrature).

The contamination goes into the background spectrum as an extra binary table
``CONTAMINATION`` (CHANNEL, COUNTS, VARIANCE, PSFSHIFT): expected counts in the source circle
from the neighbours, net of what the background subtraction already removes. XSPEC and Sherpa read
the SPECTRUM extension and ignore it; the photometry subtracts it, and both fitters add it
to the folded model as a fixed component in counts (:func:`fixed_counts`), so that the
fitted shape and flux are the target's own.
"""

from __future__ import annotations

import functools

import numpy as np

from rassflow import pspc
from rassflow.products.regions import SourceRegions, row_span, union_length

EXTNAME = "CONTAMINATION"
RING_ARCMIN = 0.02  # radial step of the PSF sums (1.2", finer than the PSF core)
ENERGIES_KEV = np.geomspace(0.08, 2.6, 14)  # the PSF varies slowly with energy
MAX_CONDITION = 100.0
"""Apertures that overlap so much that the system's condition number exceeds this cannot
tell the sources apart: such a neighbour is left unresolved (the target is then flagged)."""


TABLE_ARCMIN = 30
"""The ring table reaches the next multiple of this: the default regions with neighbours up
to 14' away need < 30', and one table per process serves every call (a table per whole
arcminute of reach made calls at varying reaches rebuild it, ~2 ms each); each call uses
the rings out to its own reach."""


def _ring_densities(reach_arcmin: float, model: str = "psfoff") -> tuple[np.ndarray, np.ndarray]:
    """Ring edges (arcmin) and the survey PSF's mean surface density in each ring (fraction
    of the source per arcmin^2) at ENERGIES_KEV: shape (n_energies, n_rings), out to at least
    ``reach_arcmin`` (a table per multiple of TABLE_ARCMIN, computed once per process)."""
    return _ring_table(TABLE_ARCMIN * int(np.ceil(reach_arcmin / TABLE_ARCMIN)), model)


@functools.lru_cache(maxsize=8)
def _ring_table(reach_arcmin: int, model: str = "psfoff") -> tuple[np.ndarray, np.ndarray]:
    from rassflow.calibration.psf import survey_eef

    edges = np.arange(0.0, reach_arcmin + RING_ARCMIN, RING_ARCMIN)
    eef = survey_eef(ENERGIES_KEV[:, None], edges[None, :], model=model)
    areas = np.pi * np.diff(edges**2)
    return edges, np.diff(eef, axis=1) / areas


# The PSF fractions are integrals in polar coordinates about each source centre c: the area of
# region R inside a ring is the integral of r theta_R(r) dr over the ring, theta_R(r) the angle
# of the circle of radius r about c that lies in R. A region is a disc to keep minus "holes"
# (the annulus's inner disc, the exclusion circles, the half-planes outside the field): on the
# circle each is one arc, so theta_R = (kept arc) - (kept arc within the union of the holes).
# theta_R has square-root kinks where the circle touches a disc's edge (r = |d -+ a|) or
# reaches a field edge, and a step where a disc is concentric with c (the annulus about the
# target). The radial grid is cut there as well as at the ring edges, and each piece is
# integrated by Gauss-Legendre: the kinks left inside pieces (where two holes' arcs start to
# overlap) cost O(h^1.5) in a few pieces. Against GAUSS_NODES = 8, 2 nodes move the
# fractions by < 4e-5 relative and the deblended counts by 1e-4 (1 node: 4e-4 and 8e-4).
GAUSS_NODES = 2
_GAUSS_T, _GAUSS_W = np.polynomial.legendre.leggauss(GAUSS_NODES)
_GAUSS_T, _GAUSS_W = 0.5 * (_GAUSS_T + 1.0), 0.5 * _GAUSS_W  # on [0, 1]


def _half_angle(r, d, a):
    """Half-width of the arc of a circle of radius r (about c) inside a disc of radius a at
    distance d from c (law of cosines); all or nothing when the two are concentric."""
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = (r * r + d * d - a * a) / (2.0 * r * d)
    cosine = np.where(r * d > 0, cosine, np.where(r <= a, -1.0, 1.0))
    return np.arccos(np.clip(cosine, -1.0, 1.0))


def _field_holes(field, keep_reach):
    """The half-planes outside the field that a region reaching ``keep_reach`` = (xmin, xmax,
    ymin, ymax) cuts into, as (edge, sign, axis): outside is sign * (coordinate - edge) > 0.
    The field's continuous edges lie half a pixel beyond its outer pixel centres."""
    (fx0, fx1), (fy0, fy1) = field
    x0, x1, y0, y1 = keep_reach
    candidates = (
        (fx0 - 0.5, -1.0, 0, x0 < fx0 - 0.5),
        (fx1 + 0.5, 1.0, 0, x1 > fx1 + 0.5),
        (fy0 - 0.5, -1.0, 1, y0 < fy0 - 0.5),
        (fy1 + 0.5, 1.0, 1, y1 > fy1 + 0.5),
    )
    return [(edge, sign, axis) for edge, sign, axis, cuts in candidates if cuts]


def _ring_areas(keep, holes, field_holes, centres, step, n_rings: int) -> np.ndarray:
    """Area (pixels^2) of each region inside each ring of width ``step`` about each centre:
    (regions, centres, rings), by the polar integral above. ``keep``: (regions, 3) discs
    (x, y, radius); ``holes``: (regions, n_holes, 3) discs cut out of them; ``field_holes``
    from :func:`_field_holes`, common to all regions; ``n_rings`` rings must reach past every
    region."""
    centres = np.asarray(centres, float)
    n_regions, n_centres = len(keep), len(centres)
    # every (region, centre) pair: its radial range and the radii where theta_R has a kink
    pair_region = np.repeat(np.arange(n_regions), n_centres)
    cx, cy = np.tile(centres[:, 0], n_regions), np.tile(centres[:, 1], n_regions)
    kx, ky, ka = keep[pair_region].T
    kd = np.hypot(kx - cx, ky - cy)
    first = np.floor(np.maximum(kd - ka, 0.0) / step).astype(int)
    last = np.ceil((kd + ka) / step).astype(int)
    n_edges = last - first + 1
    pair_of_edge = np.repeat(np.arange(len(kd)), n_edges)
    offset = np.arange(n_edges.sum()) - np.repeat(np.cumsum(n_edges) - n_edges, n_edges)
    radii = [(first[pair_of_edge] + offset) * step]
    pairs = [pair_of_edge]
    # each hole's distance (discs), radius and direction from each pair's centre
    hd, ha = np.zeros((len(kd), 0)), np.zeros((len(kd), 0))
    hole_direction = [np.zeros((len(kd), 0))]
    if holes.size:
        hx, hy, ha = np.moveaxis(holes[pair_region], -1, 0)
        hd = np.hypot(hx - cx[:, None], hy - cy[:, None])
        hole_direction = [np.arctan2(hy - cy[:, None], hx - cx[:, None])]
    inward = np.array([sign * (edge - (cx, cy)[axis]) for edge, sign, axis in field_holes]).T
    inward = inward.reshape(len(kd), len(field_holes))  # the centre's distance inside the edge
    hole_direction += [
        np.full((len(kd), 1), np.arctan2(s * a, s * (1 - a))) for _, s, a in field_holes
    ]
    hole_direction = np.concatenate(hole_direction, axis=1) - np.arctan2(ky - cy, kx - cx)[:, None]
    kinks = [kd - ka, kd + ka, *(hd - ha).T, *(hd + ha).T, *np.abs(inward).T]
    kinks = np.vstack(kinks)
    inside = (kinks > first * step) & (kinks < last * step)
    radii.append(kinks[inside])
    pairs.append(np.broadcast_to(np.arange(len(kd)), kinks.shape)[inside])
    radii, pairs = np.concatenate(radii), np.concatenate(pairs)
    order = np.lexsort((radii, pairs))
    radii, pairs = radii[order], pairs[order]
    piece = (pairs[1:] == pairs[:-1]) & (radii[1:] > radii[:-1])
    lo, width, pair = radii[:-1][piece], np.diff(radii)[piece], pairs[:-1][piece]
    ring = ((lo + 0.5 * width) / step).astype(int)

    # theta_R at the Gauss nodes of every piece
    r = (lo[:, None] + width[:, None] * _GAUSS_T).ravel()
    node_pair = np.repeat(pair, GAUSS_NODES)
    kept = 2.0 * _half_angle(r, kd[node_pair], ka[node_pair])
    if hole_direction.size:
        kept = _less_holes(kept, r, node_pair, hd, ha, inward, hole_direction)
    weights = (width[:, None] * _GAUSS_W).ravel() * r * kept
    index = node_pair * n_rings + np.repeat(ring, GAUSS_NODES)
    areas = np.bincount(index, weights, len(kd) * n_rings)
    return areas.reshape(n_regions, n_centres, n_rings)


def _less_holes(kept, r, node_pair, hd, ha, inward, direction):
    """The kept arcs' lengths ``kept`` at radii r (ordered by pair, then radius) less the
    holes' arcs: discs at distances hd of radii ha and half-planes whose edge lies ``inward``
    of the centre, (pairs, holes) each, ``direction`` (pairs, all holes) their arcs' centres
    from the kept arc's. A hole's arc is partial only at |d - a| < r < d + a (a disc) or
    r > |inward|, and whole below a - d or -inward: one run of each pair's radii, so only
    those (radius, hole) entries are evaluated, and only radii two holes cut into need the
    union of intervals."""
    n_holes = direction.shape[1]
    pair = np.repeat(np.arange(len(direction)), n_holes)  # of each (pair, hole), flattened
    first = np.concatenate([np.abs(hd - ha), np.abs(inward)], axis=1).ravel()
    last = np.concatenate([hd + ha, np.full_like(inward, np.inf)], axis=1).ravel()
    whole = np.concatenate([ha - hd, -inward], axis=1).ravel()
    distance = np.concatenate([hd, np.zeros_like(inward)], axis=1).ravel()
    radius = np.concatenate([ha, inward], axis=1).ravel()  # a half-plane's: its edge
    is_disc = np.arange(len(pair)) % n_holes < hd.shape[1]
    span = 2.0 * float(r.max()) + 1.0
    key = node_pair * span + r  # increasing

    def position(radii):  # each (pair, hole)'s first node at or beyond a radius
        return np.searchsorted(key, pair * span + np.clip(radii, 0.0, span))

    lo = position(first)
    counts = np.maximum(position(last) - lo, 0)
    # radii a hole covers whole: their pair's first node up to the hole's whole radius
    marks = np.bincount(position(0.0), minlength=len(r) + 1)
    inside_hole = np.cumsum(marks - np.bincount(position(whole), minlength=len(r) + 1))[:-1] > 0

    entry = np.repeat(np.arange(len(lo)), counts)
    node = np.arange(counts.sum()) + np.repeat(lo - (np.cumsum(counts) - counts), counts)
    at, d, a = r[node], distance[entry], radius[entry]
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.where(is_disc[entry], (at * at + d * d - a * a) / (2.0 * at * d), a / at)
    half = np.arccos(np.clip(cosine, -1.0, 1.0))
    # rotate each node's kept arc to [0, kept]; a hole's arc wraps into <= 2 intervals
    length = kept[node]
    start = np.mod(direction.ravel()[entry] + 0.5 * length - half, 2 * np.pi)
    end = start + 2.0 * half
    start, end, wrapped = np.minimum(start, length), np.minimum(end, length), end - 2 * np.pi
    wrapped = np.clip(wrapped, 0.0, length)
    overlap = np.clip(end - start, 0.0, None) + wrapped
    holes_at = np.bincount(node, minlength=len(r))
    covered = np.bincount(node, weights=overlap, minlength=len(r))
    several = np.flatnonzero(holes_at[node] > 1)  # entries whose arcs may overlap
    if several.size:
        order = several[np.argsort(node[several], kind="stable")]
        rows, row_start, per_row = np.unique(node[order], return_index=True, return_counts=True)
        row = np.repeat(np.arange(len(rows)), per_row)
        rank = np.arange(len(order)) - row_start[row]
        columns = int(per_row.max())
        wraps = bool(wrapped[order].any())  # else the second intervals are all empty
        starts = np.zeros((len(rows), (1 + wraps) * columns))
        ends = np.zeros_like(starts)
        starts[row, rank], ends[row, rank] = start[order], end[order]
        if wraps:
            ends[row, columns + rank] = wrapped[order]
        covered[rows] = union_length(starts, ends)
    return np.where(inside_hole, 0.0, kept - covered)


def _lens_area(r, d, a):
    """Area of the intersection of discs of radii r and a whose centres are d apart."""
    with np.errstate(divide="ignore", invalid="ignore"):
        cos_r = np.clip((d * d + r * r - a * a) / (2.0 * d * r), -1.0, 1.0)
        cos_a = np.clip((d * d + a * a - r * r) / (2.0 * d * a), -1.0, 1.0)
        kite = np.sqrt(np.clip((-d + r + a) * (d + r - a) * (d - r + a) * (d + r + a), 0.0, None))
        lens = r * r * np.arccos(cos_r) + a * a * np.arccos(cos_a) - 0.5 * kite
    lens = np.where(d <= np.abs(r - a), np.pi * np.minimum(r, a) ** 2, lens)
    return np.where(d >= r + a, 0.0, lens)


def _disc_ring_areas(keep, centres, step, n_rings: int) -> np.ndarray:
    """:func:`_ring_areas` of whole discs (no holes, inside the field), in closed form: the
    area in a ring is the difference of the lens areas at its edges."""
    centres = np.asarray(centres, float)
    n_regions, n_centres = len(keep), len(centres)
    kx, ky, ka = np.repeat(keep, n_centres, axis=0).T
    kd = np.hypot(kx - np.tile(centres[:, 0], n_regions), ky - np.tile(centres[:, 1], n_regions))
    first = np.floor(np.maximum(kd - ka, 0.0) / step).astype(int)
    n_edges = np.ceil((kd + ka) / step).astype(int) - first + 1
    pair = np.repeat(np.arange(len(kd)), n_edges)
    edge = first[pair] + np.arange(n_edges.sum()) - np.repeat(np.cumsum(n_edges) - n_edges, n_edges)
    within = _lens_area(edge * step, kd[pair], ka[pair])
    inner = np.flatnonzero(pair[1:] == pair[:-1])  # each ring's inner edge
    areas = np.zeros((len(kd), n_rings))
    areas[pair[inner], edge[inner]] = within[inner + 1] - within[inner]
    return areas.reshape(n_regions, n_centres, n_rings)


def _pixel_counts(regions: SourceRegions, apertures, field):
    """Integer sky pixels inside the field of each aperture (circles) and of the cleaned
    background region: the sets of ``lattice('src', *field)`` and ``regions.lattice('bkg',
    *field)`` (the BACKSCAL ratios stay exact), counted row by row, a disc's span less the
    union of the holes' spans. Returns (counts per aperture, background count)."""
    (fx0, fx1), (fy0, fy1) = field

    def spans(x, y, radius, rows):  # [first, end) of each row, inside the field
        first, last = row_span(x, (rows - y) ** 2, radius**2)
        first = np.maximum(first, fx0)
        end = np.maximum(np.minimum(last, fx1) + 1, first)
        return first, np.where((rows >= fy0) & (rows <= fy1), end, first)

    circles = np.array([(a.x, a.y, a.radius) for a in apertures])
    x, y, radius = circles[:, :1], circles[:, 1:2], circles[:, 2:]
    rows = np.floor(y - radius) + np.arange(2 * int(np.ceil(radius.max())) + 3)
    first, end = spans(x, y, radius, rows)
    in_apertures = (end - first).sum(axis=1)

    rows = np.arange(np.floor(regions.y - regions.outer), np.ceil(regions.y + regions.outer) + 1)
    first, end = spans(regions.x, regions.y, regions.outer, rows)
    holes = np.array([(regions.x, regions.y, regions.inner), *regions.exclusions], float)
    strict = (np.arange(len(holes)) == 0)[:, None]  # the inner disc is open: d >= inner is kept
    hole_first, hole_last = row_span(
        holes[:, :1], (rows - holes[:, 1:2]) ** 2, holes[:, 2:] ** 2, strict
    )
    starts, ends = np.clip(hole_first, first, end), np.clip(hole_last + 1, first, end)
    starts, ends = starts.T, ends.T
    covered = np.clip(ends - starts, 0.0, None).sum(axis=1)
    several = (ends > starts).sum(axis=1) > 1  # rows where the holes' spans may overlap
    covered[several] = union_length(starts[several], ends[several])
    in_background = (end - first).sum() - covered.sum()
    return in_apertures, int(in_background)


def _psf_fractions(
    regions: SourceRegions, apertures, centres, field, pixel_arcmin: float, models=("psfoff",)
):
    """a(E, i, k): the fraction of each source k's survey PSF (centres in pixels) inside each
    aperture i (circles, clipped to the field) and, as the last i, inside the cleaned
    background region, at ENERGIES_KEV: the ring table's densities times the region's area in
    each ring (:func:`_ring_areas`). One array per PSF description of ``models``, from the
    same ring areas."""
    # the farthest any region reaches from any centre, so that the ring table covers it
    discs = [(a.x, a.y, a.radius) for a in apertures] + [(regions.x, regions.y, regions.outer)]
    reach = max(np.hypot(x - cx, y - cy) + radius for x, y, radius in discs for cx, cy in centres)
    needed = reach * pixel_arcmin + 2 * RING_ARCMIN
    # the rings out to the reach only: the regions have no area beyond it
    n_rings = int(np.ceil(needed / RING_ARCMIN)) + 1
    tables = [_ring_densities(needed, m)[1][:, :n_rings] for m in models]
    n_rings = tables[0].shape[1]
    step = RING_ARCMIN / pixel_arcmin
    keep = np.array([(a.x, a.y, a.radius) for a in apertures])
    box = (
        (keep[:, 0] - keep[:, 2]).min(),
        (keep[:, 0] + keep[:, 2]).max(),
        (keep[:, 1] - keep[:, 2]).min(),
        (keep[:, 1] + keep[:, 2]).max(),
    )
    field_holes = _field_holes(field, box)
    if field_holes:
        no_holes = np.zeros((len(keep), 0, 3))
        in_apertures = _ring_areas(keep, no_holes, field_holes, centres, step, n_rings)
    else:
        in_apertures = _disc_ring_areas(keep, centres, step, n_rings)
    outer = regions.outer
    box = (regions.x - outer, regions.x + outer, regions.y - outer, regions.y + outer)
    holes = np.array([[(regions.x, regions.y, regions.inner), *regions.exclusions]], float)
    annulus = np.array([(regions.x, regions.y, outer)])
    in_background = _ring_areas(annulus, holes, _field_holes(field, box), centres, step, n_rings)
    areas = np.concatenate([in_apertures, in_background])  # (regions, sources, rings)
    # (energies, regions, sources) per description
    return [np.moveaxis(areas @ (d.T * pixel_arcmin**2), -1, 0) for d in tables]


def _aperture(regions: SourceRegions, x: float, y: float) -> SourceRegions:
    """A circle of the source circle's radius around (x, y) (annulus unused)."""
    return SourceRegions(x, y, regions.radius, 0.0, 0.0)


def neighbour_contamination(
    events, regions: SourceRegions, neighbours_pix, pixel_deg: float, psf: dict | None = None
):
    """Expected neighbour counts per PI channel inside the source circle, net of the
    background subtraction, and a summary.

    ``neighbours_pix``: (x, y) sky pixels of the catalogued neighbours; ``psf`` the survey
    PSF in use (:func:`rassflow.calibration.psf.analysis_psf`; None: PSFOFF). Returns
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
        info["variance"] = info["psf_shift"] = np.zeros(len(channels))
        return channels, np.zeros(len(channels)), info

    from rassflow.calibration.psf import analysis_psf, far_weight

    field = (events.axis_range("X"), events.axis_range("Y"))
    apertures = [regions] + [_aperture(regions, x, y) for x, y in centres[1:]]
    # the PSF in use and the far end of its systematic range (the other description when
    # none was calibrated)
    models = (analysis_psf(psf)["weight"], far_weight(psf))
    descriptions = _psf_fractions(regions, apertures, centres, field, pixel_deg * 60.0, models)
    in_apertures, n_bkg = _pixel_counts(regions, apertures, field)

    in_range = (events.pi >= ch_lo) & (events.pi <= ch_hi)
    # the events in the channel range, as floats once for the five or more region tests
    event_x, event_y = events.x[in_range].astype(float), events.y[in_range].astype(float)
    channel = events.pi[in_range] - ch_lo
    bkg_counts = _channel_counts(event_x, event_y, channel, regions, "bkg", len(channels))
    net, raw, scales = [], [], []
    for i, aperture in enumerate(apertures):
        scale = in_apertures[i] / n_bkg if n_bkg else 0.0
        counts = _channel_counts(event_x, event_y, channel, aperture, "src", len(channels))
        raw.append(counts)
        scales.append(scale)
        net.append(counts - scale * bkg_counts)
    net = np.array(net)  # (apertures, channels)
    # M_ik = a_ik - s_i a_bkg,k: (energies, apertures, sources), per PSF description
    matrix, other = (f[:, :-1] - np.array(scales)[:, None] * f[:, -1:] for f in descriptions)

    # a neighbour whose aperture cannot be told apart from the target's
    keep = np.ones(len(centres), bool)
    for k in range(1, len(centres)):
        pair = np.ix_([0, k], [0, k])
        keep[k] = np.linalg.cond(matrix[(slice(None), *pair)]).max() <= MAX_CONDITION
    info["unresolved"] = int((~keep[1:]).sum())
    if keep.sum() == 1:
        info["variance"] = info["psf_shift"] = np.zeros(len(channels))
        return channels, np.zeros(len(channels)), info
    used = np.flatnonzero(keep)
    energy = np.clip((channels + 0.5) * pspc.PI_ENERGY_KEV, ENERGIES_KEV[0], ENERGIES_KEV[-1])
    # the estimator is linear, counts = sum_i w_i net_i (w: the target's row of the matrix
    # times its inverse, neighbours' columns): its Poisson variance from the weights
    per_channel = _per_channel(matrix, used, energy)
    counts = _solved_counts(per_channel, net[used])
    weights = np.einsum("cj,cji->ci", per_channel[:, 0, 1:], np.linalg.inv(per_channel)[:, 1:, :])
    info["variance"] = deblending_variance(
        weights, np.array(raw)[used].T, np.array(scales)[used], bkg_counts
    )
    # the same estimate with the PSF at the far end of its systematic range (uncalibrated:
    # the other published description): how far the wing model moves it, common to all
    # channels
    info["psf_shift"] = _solved_counts(_per_channel(other, used, energy), net[used]) - counts
    return channels, counts, info


def _solved_counts(per_channel, net) -> np.ndarray:
    """The neighbours' counts in the target's circle per channel: the system solved for each
    source's total counts, the target's row of the matrix times the neighbours' totals."""
    totals = np.linalg.solve(per_channel, net.T[..., None])[..., 0]  # (channels, sources)
    return np.einsum("cj,cj->c", per_channel[:, 0, 1:], totals[:, 1:])


def _per_channel(matrix, used, energy) -> np.ndarray:
    """The matrix of the sources ``used`` at each channel's energy: (channels, used, used),
    interpolated in log energy between ENERGIES_KEV."""
    out = np.empty((len(energy), len(used), len(used)))
    for i, row in enumerate(used):
        for j, column in enumerate(used):
            out[:, i, j] = np.interp(np.log(energy), np.log(ENERGIES_KEV), matrix[:, row, column])
    return out


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


def deblending_sigma(channels, variance, pi_range, psf_shift=None) -> float:
    """The 1-sigma deblending error (counts) of the neighbours' counts in channels
    ``pi_range`` (inclusive): the VARIANCE column's sum (channels are independent counts)
    plus, with ``psf_shift`` (the PSFSHIFT column), the square of its sum over the band, in
    quadrature. The shift between the two published PSF descriptions is one error common to
    all channels; taken whole as 1 sigma, a 90 % interval holds the estimate under either
    (as the flux intervals' PSF systematic, rassflow.products.responses.psf_systematic)."""
    channels = np.asarray(channels)
    lo, hi = pi_range
    inside = (channels >= lo) & (channels <= hi)
    total = np.clip(np.asarray(variance, float)[inside], 0.0, None).sum()
    if psf_shift is not None:
        total += float(np.asarray(psf_shift, float)[inside].sum()) ** 2
    return float(np.sqrt(total))


def _channel_counts(x, y, channel, regions: SourceRegions, which, n_channels):
    """Counts per channel (0-based ``channel``) of the events (x, y) inside a region."""
    selected = regions.contains(x, y, which)
    return np.bincount(channel[selected], minlength=n_channels).astype(float)


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
    if info.get("psf_shift") is not None:
        columns.append(fits.Column("PSFSHIFT", "D", unit="count", array=info["psf_shift"]))
    hdu = fits.BinTableHDU.from_columns(columns, name=EXTNAME)
    h = hdu.header
    h["NNEIGHB"] = (info["neighbours"], "catalogued neighbours considered")
    h["NCONFUSE"] = (info["confused"], "neighbours inside the source circle")
    h["NUNRESOL"] = (info["unresolved"], "neighbours too close to separate")
    h["CONTAM"] = (float(np.round(counts.sum(), 6)), "[count] neighbour counts in src circle")
    if info.get("variance") is not None:
        sigma = float(np.sqrt(np.clip(info["variance"], 0.0, None).sum()))
        h["CONTAMSD"] = (round(sigma, 6), "[count] 1-sigma deblending error of CONTAM")
    if info.get("psf_shift") is not None:
        shift = float(np.round(np.sum(info["psf_shift"]), 6))
        h["CONTAMPS"] = (shift, "[count] CONTAM with the far-end PSF less CONTAM")
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


def read_contamination_variance(background_path):
    """(channels, variance count^2, PSF shift count or None) of a CONTAMINATION table --
    :func:`deblending_sigma`'s arguments before the band --, None without a table or
    without its VARIANCE column (files written before it existed)."""
    from astropy.io import fits

    with fits.open(background_path) as hdul:
        if EXTNAME not in hdul or "VARIANCE" not in hdul[EXTNAME].columns.names:
            return None
        data = hdul[EXTNAME].data
        shift = None
        if "PSFSHIFT" in hdul[EXTNAME].columns.names:
            shift = np.asarray(data["PSFSHIFT"], float)
        return np.asarray(data["CHANNEL"], int), np.asarray(data["VARIANCE"], float), shift


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
