"""Forced aperture photometry of many positions in one skyfield at once.

:func:`forced_photometry` measures every position of a skyfield with array operations on the
skyfield's event list and exposure map, read once, and returns one table row per position
with the numbers that the per-member chain (regions, spectra and ARF files, then
:func:`rassflow.photometry.aperture.measure`) writes into each photometry JSON. The method
is that module's; this one reproduces the chain's intermediate products without writing them:

- regions: :func:`rassflow.products.regions.source_regions` (centre, radii and exclusion
  circles rounded to 4 decimals of a sky pixel, as the physical region files hold them);
- counts: events with integer sky X/Y inside the circle or the cleaned annulus
  (:meth:`SourceRegions.contains`) and PI inside the spectra's channel range
  (:func:`rassflow.products.spectra.channel_range`), summed over the 2RXS bands
  (Boller et al. 2016, A&A 588, A103, sec. 2.4). Events are sorted by a grid of cells one
  annulus radius wide, so that each position looks at the events of at most 3 x 3 cells;
- BACKSCAL = integer sky pixels of the region inside the field / field pixels, as extractor
  computes it (fact sheet sec. 2.3; :func:`rassflow.products.spectra.extract_spectrum`),
  counted row by row with the very predicate of :meth:`SourceRegions.contains`;
- EXPOSURE: the exposure map's nearest pixel (:func:`rassflow.archive.skyfield.exposure_at`),
  rounded to 5 decimals as the spectrum header holds it;
- eef: the on-axis ARF times the survey-PSF kept fraction
  (:func:`rassflow.products.responses.psf_kept_fraction`; Boese 2000, A&AS 141, 507), each
  stored in single precision as the ARF file's SPECRESP column is, folded through the RMF
  (OGIP CAL/GEN/92-002) and divided by the on-axis folded rate;
- contamination: :func:`rassflow.products.contamination.neighbour_contamination` for each
  position with catalogued neighbours, on the events near it only;
- the posterior quantities from :func:`posterior_columns`, the one place that turns the
  counts into rates, limits, detection and hardness ratios.

Only the native ``onaxis`` ARF is reproduced (pcarf weights each source's WMAP).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from rassflow import pspc
from rassflow.errors import DATA_ERRORS
from rassflow.photometry import aperture
from rassflow.photometry.aperture import HARDNESS_RATIOS, SETTING_KEYS, band_label, result_keys
from rassflow.photometry.bayes import deblended_background
from rassflow.plan import forced_settings  # noqa: F401 - the settings forced_photometry takes
from rassflow.products.contamination import deblending_sigma, widen_for_deblending
from rassflow.products.regions import row_span, union_length

__all__ = [
    "SETTING_KEYS",
    "TABLE_UNITS",
    "forced_photometry",
    "forced_settings",
    "posterior_columns",
    "posterior_inputs",
    "table_columns",
]

log = logging.getLogger(__name__)
BANDS = {"broad": pspc.BROAD_BAND, **pspc.HR_BANDS}
TABLE_UNITS = {
    "counts_src": "count",
    "counts_bkg": "count",
    "bkg_expected": "count",
    "contamination_counts": "count",
    "exposure_s": "s",
    "net_counts": "count",
    "net_counts_mode": "count",
    "net_counts_lo": "count",
    "net_counts_hi": "count",
    "counts_ul": "count",
    "net_rate": "count/s",
    "net_rate_lo": "count/s",
    "net_rate_hi": "count/s",
    "rate_ul": "count/s",
    **{f"counts_{which}_{band}": "count" for band in pspc.HR_BANDS for which in ("src", "bkg")},
}
COUNT_COLUMNS = ("counts_src", "counts_bkg") + tuple(
    f"counts_{which}_{band}" for band in pspc.HR_BANDS for which in ("src", "bkg")
)
TEXT_COLUMNS = ("id_name", "arf_method", "psf_model", "status", "reason")
FLAG_COLUMNS = ("psf_corrected", "detected")
MAX_PAIRS = 200_000  # (position, event) pairs per chunk: cache-sized temporaries
MAX_ROWS = 50_000  # (position, pixel row) elements per chunk of the BACKSCAL count: cache-sized


def table_columns(bands_keV) -> list[str]:
    """The columns of a :func:`forced_photometry` table, in order: the photometry JSON's
    keys less :data:`SETTING_KEYS`, then ``status`` (ok or failed) and ``reason``."""
    return [k for k in result_keys(bands_keV) if k not in SETTING_KEYS] + ["status", "reason"]


# ---------------------------------------------------------------------------------------------
# geometry: regions, lattice pixels, counts
# ---------------------------------------------------------------------------------------------


def _round4(values) -> np.ndarray:
    """Python's round(v, 4) (correctly rounded, as the region files are written)."""
    return np.array([round(v, 4) for v in np.asarray(values, float).tolist()], dtype=float)


def _header_float(value: float) -> float:
    """A float as read back from a FITS header card: astropy writes repr(value), its
    mantissa cut to fit 20 characters (astropy.io.fits.card._format_float)."""
    text = repr(float(value)).replace("e", "E")
    if len(text) > 20:
        exponent = text.find("E")
        text = text[:20] if exponent < 0 else text[: 20 - (len(text) - exponent)] + text[exponent:]
    return float(text)


class _Regions:
    """The regions of every position: centres (rounded), squared radii, exclusion circles
    (padded to the same number per position: centre 0, squared radius -1 keeps every pixel)."""

    def __init__(self, wcs, ra, dec, regions: dict, pixel_deg: float, neighbours):
        pixels = wcs.all_world2pix(np.column_stack([ra, dec]), 1) if len(ra) else np.zeros((0, 2))
        raw_x, raw_y = pixels[:, 0], pixels[:, 1]
        radius = regions["source_radius_arcmin"] / 60.0 / pixel_deg
        inner = radius * regions["background_inner_factor"]
        outer = radius * regions["background_outer_factor"]
        cut = regions.get("exclusion_radius_arcmin", 0.0) / 60.0 / pixel_deg
        self.n = len(ra)
        self.x, self.y = _round4(raw_x), _round4(raw_y)
        self.radius, self.inner, self.outer = (round(float(v), 4) for v in (radius, inner, outer))
        self.r2, self.i2, self.o2 = (v**2 for v in (self.radius, self.inner, self.outer))
        # neighbours in sky pixels (one all_world2pix for all of them), as the chain converts
        counts = np.array([len(n) for n in neighbours], dtype=int)
        flat = [tuple(p) for n in neighbours for p in n]
        start = np.concatenate([[0], np.cumsum(counts)])
        npix = wcs.all_world2pix(np.asarray(flat, float).reshape(-1, 2), 1) if flat else None
        self.neighbour_pixels = [
            npix[start[k] : start[k + 1]] if counts[k] else None for k in range(self.n)
        ]
        exclusions = [[] for _ in range(self.n)]
        if flat and cut > 0:
            owner = np.repeat(np.arange(self.n), counts)
            distance = np.hypot(npix[:, 0] - raw_x[owner], npix[:, 1] - raw_y[owner])
            reach = (distance > inner - cut) & (distance < outer + cut)
            for k in np.flatnonzero(reach):
                exclusions[owner[k]].append(
                    (round(float(npix[k, 0]), 4), round(float(npix[k, 1]), 4))
                )
        self.exclusions = [
            tuple((ex, ey, round(float(cut), 4)) for ex, ey in found) for found in exclusions
        ]
        width = max((len(e) for e in self.exclusions), default=0)
        self.ex = np.zeros((self.n, width))
        self.ey = np.zeros((self.n, width))
        self.er2 = np.full((self.n, width), -1.0)
        for k, found in enumerate(self.exclusions):
            for j, (ex, ey, er) in enumerate(found):
                self.ex[k, j], self.ey[k, j], self.er2[k, j] = ex, ey, er**2

    def source_regions(self, k: int):
        from rassflow.products.regions import SourceRegions

        return SourceRegions(
            float(self.x[k]), float(self.y[k]), self.radius, self.inner, self.outer,
            self.exclusions[k],
        )  # fmt: skip


def _length(lo, hi):
    return np.maximum(hi - lo + 1.0, 0.0)


def _lattice_counts(regions: _Regions, field) -> tuple[np.ndarray, np.ndarray]:
    """Integer sky pixels of each circle and cleaned annulus inside the field (what
    SourceRegions.lattice returns), counted row by row."""
    everyone = np.arange(regions.n)
    n_src = _disc_pixels(regions, everyone, regions.radius, regions.r2, False, field)
    # an annulus without exclusion circles: the outer disc less the inner one (the inner
    # disc's rows lie inside the outer's, also where the field clips them)
    with_cuts = (regions.er2 >= 0).any(axis=1)
    plain = np.flatnonzero(~with_cuts)
    n_bkg = np.zeros(regions.n, int)
    n_bkg[plain] = _disc_pixels(regions, plain, regions.outer, regions.o2, False, field)
    n_bkg[plain] -= _disc_pixels(regions, plain, regions.inner, regions.i2, True, field)
    # with exclusion circles: a span per circle and row (only these positions pay for it)
    cut = np.flatnonzero(with_cuts)
    rows = 2 * math.ceil(regions.outer) + 3
    step = max(1, MAX_ROWS // rows)
    for start in range(0, len(cut), step):
        part = cut[start : start + step]
        n_bkg[part] = _annulus_rows(regions, part, rows, field)
    return n_src, n_bkg


def _row_grid(regions: _Regions, part, reach: float, rows: int, field):
    """(x0, x1, y, valid) of the pixel rows of positions ``part`` within ``reach``, clipped
    to the field: x limits (n, 1), row y (n, rows) and which rows lie inside."""
    (xmin, xmax), (ymin, ymax) = field
    cx, cy = regions.x[part, None], regions.y[part, None]
    x0 = np.maximum(np.floor(cx - reach), xmin)
    x1 = np.minimum(np.ceil(cx + reach), xmax)
    y0 = np.maximum(np.floor(cy - reach), ymin)
    y1 = np.minimum(np.ceil(cy + reach), ymax)
    y = y0 + np.arange(rows)[None, :]
    return x0, x1, y, y <= y1


def _disc_pixels(regions: _Regions, group, reach: float, r2: float, strict: bool, field):
    """Integer pixels of the disc of radius ``reach`` (``r2`` its square; boundary excluded
    when ``strict``) about each position of ``group`` inside the field."""
    out = np.zeros(len(group), int)
    if reach <= 0 and strict:
        return out
    rows = 2 * math.ceil(reach) + 3
    step = max(1, MAX_ROWS // rows)
    for start in range(0, len(group), step):
        part = group[start : start + step]
        x0, x1, y, valid = _row_grid(regions, part, reach, rows, field)
        lo, hi = row_span(regions.x[part, None], (y - regions.y[part, None]) ** 2, r2, strict)
        count = _length(np.maximum(lo, x0), np.minimum(hi, x1))
        out[start : start + len(part)] = np.where(valid, count, 0.0).sum(axis=1).astype(int)
    return out


def _annulus_rows(regions: _Regions, part, rows: int, field):
    """Pixels of the cleaned annulus (less its exclusion circles) of positions ``part``
    inside the field, summed over their pixel rows."""
    x0, x1, y, valid = _row_grid(regions, part, regions.outer, rows, field)
    cx = regions.x[part, None]
    dy2 = (y - regions.y[part, None]) ** 2
    olo, ohi = row_span(cx, dy2, regions.o2, strict=False)
    ilo, ihi = row_span(cx, dy2, regions.i2, strict=True)
    hole = ilo <= ihi
    pieces = [
        (olo, np.where(hole, np.minimum(ohi, ilo - 1.0), ohi)),
        (np.where(hole, np.maximum(olo, ihi + 1.0), 1.0), np.where(hole, ohi, 0.0)),
    ]
    ex, ey, er2 = (a[part][:, None, :] for a in (regions.ex, regions.ey, regions.er2))
    elo, ehi = row_span(ex, (y[..., None] - ey) ** 2, er2, strict=False)
    total = np.zeros(dy2.shape)
    for lo, hi in pieces:
        lo, hi = np.maximum(lo, x0), np.minimum(hi, x1)
        total += _length(lo, hi) - union_length(
            np.maximum(elo, lo[..., None]), np.minimum(ehi, hi[..., None]) + 1.0
        )
    return np.where(valid, total, 0.0).sum(axis=1).astype(int)


class _EventIndex:
    """Events sorted by cells of ``cell`` sky pixels (row-major), for box look-ups."""

    def __init__(self, x, y, pi, field, cell: int):
        (self.xmin, xmax), (self.ymin, ymax) = field
        self.cell = cell
        self.ncx = (xmax - self.xmin) // cell + 1
        self.ncy = (ymax - self.ymin) // cell + 1
        cx = np.clip((x - self.xmin) // cell, 0, self.ncx - 1)
        cy = np.clip((y - self.ymin) // cell, 0, self.ncy - 1)
        key = cy * self.ncx + cx
        self.order = np.argsort(key, kind="stable")
        self.x, self.y = x[self.order].astype(float), y[self.order].astype(float)
        self.pi = pi[self.order]
        self.starts = np.searchsorted(key[self.order], np.arange(self.ncx * self.ncy + 1))

    def box(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """Indices (into the event list) of the events with x0 <= x < x1, y0 <= y <= y1,
        from the cells that the box touches."""
        c0, c1 = (int(np.clip((v - self.xmin) // self.cell, 0, self.ncx - 1)) for v in (x0, x1))
        r0, r1 = (int(np.clip((v - self.ymin) // self.cell, 0, self.ncy - 1)) for v in (y0, y1))
        rows = np.arange(r0, r1 + 1) * self.ncx
        found = np.concatenate(
            [np.arange(self.starts[r + c0], self.starts[r + c1 + 1]) for r in rows]
        )
        x, y = self.x[found], self.y[found]
        return self.order[found[(x >= x0) & (x < x1) & (y >= y0) & (y <= y1)]]

    def slices(self, cx, cy, reach):
        """(position, first, stop) of the event slices in each position's box of cells."""
        c0 = np.clip((np.floor(cx - reach) - self.xmin) // self.cell, 0, self.ncx - 1)
        c1 = np.clip((np.ceil(cx + reach) - self.xmin) // self.cell, 0, self.ncx - 1)
        r0 = np.clip((np.floor(cy - reach) - self.ymin) // self.cell, 0, self.ncy - 1)
        r1 = np.clip((np.ceil(cy + reach) - self.ymin) // self.cell, 0, self.ncy - 1)
        span = int((r1 - r0).max(initial=0)) + 1
        owner = np.repeat(np.arange(len(cx)), span)
        row = (r0[:, None] + np.arange(span)[None, :]).ravel()
        keep = row <= np.repeat(r1, span)
        owner, row = owner[keep], row[keep].astype(int)
        first = self.starts[row * self.ncx + c0[owner].astype(int)]
        stop = self.starts[row * self.ncx + c1[owner].astype(int) + 1]
        return owner, first, stop


def _pairs(owner, first, stop):
    """(position, event) index pairs of the slices."""
    lengths = stop - first
    total = int(lengths.sum())
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(owner, lengths), np.arange(total) - offsets + np.repeat(first, lengths)


def _band_counts(index: _EventIndex, regions: _Regions, channels) -> dict:
    """Counts of each band (BANDS, limited to the spectra's channels) in the circle and the
    cleaned annulus of every position: {(which, band): int array}."""
    ch_lo, ch_hi = channels
    out = {(w, b): np.zeros(regions.n, int) for w in ("src", "bkg") for b in BANDS}
    owner, first, stop = index.slices(regions.x, regions.y, regions.outer)
    ends = np.cumsum(stop - first)
    start = 0
    while start < len(owner):
        # whole positions per chunk: cut at a slice whose owner differs from the next one's
        cut = int(np.searchsorted(ends, (ends[start - 1] if start else 0) + MAX_PAIRS))
        cut = max(cut, start + 1)
        while cut < len(owner) and owner[cut] == owner[cut - 1]:
            cut += 1
        pos, ev = _pairs(owner[start:cut], first[start:cut], stop[start:cut])
        start = cut
        cx, cy = regions.x[pos], regions.y[pos]
        d2 = (index.x[ev] - cx) ** 2 + (index.y[ev] - cy) ** 2
        in_src = d2 <= regions.r2
        in_bkg = (d2 >= regions.i2) & (d2 <= regions.o2)
        for j in range(regions.ex.shape[1]):
            in_bkg &= (index.x[ev] - regions.ex[pos, j]) ** 2 + (
                index.y[ev] - regions.ey[pos, j]
            ) ** 2 > regions.er2[pos, j]
        pi = index.pi[ev]
        for band, (lo, hi) in BANDS.items():
            in_band = (pi >= max(lo, ch_lo)) & (pi <= min(hi, ch_hi))
            for which, inside in (("src", in_src), ("bkg", in_bkg)):
                selected = pos[in_band & inside]
                out[(which, band)] += np.bincount(selected, minlength=regions.n)
    return out


# ---------------------------------------------------------------------------------------------
# exposure, eef, contamination
# ---------------------------------------------------------------------------------------------


def _exposures(expmap_path, ra, dec) -> np.ndarray:
    """Exposure map (s) at each position, nearest pixel; NaN outside the map."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from rassflow.archive.skyfield import ArchiveError

    with fits.open(expmap_path) as hdul:
        hdu = next((h for h in hdul if h.data is not None and h.data.ndim == 2), None)
        if hdu is None:
            raise ArchiveError(f"{expmap_path}: no 2-D exposure image")
        data = np.asarray(hdu.data)
        wcs = WCS(hdu.header)
    out = np.full(len(ra), np.nan)
    if len(ra):
        col, row = np.round(wcs.all_world2pix(np.column_stack([ra, dec]), 0)).astype(int).T
        ny, nx = data.shape
        inside = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
        out[inside] = data[row[inside], col[inside]].astype(float)
    return out


def _eef(
    rmf, specresp, regions_cfg: dict, model, shape, nh, ratio, npix_bkg, psf_correction, psf=None
):
    """The eef of each position (see the module docstring): the ARF as make_arf and
    apply_psf_correction write it (survey PSF ``psf``), folded as aperture.measure folds it."""
    from rassflow.calibration.psf import analysis_psf, survey_annulus_fraction, survey_eef
    from rassflow.photometry.conversion import fold_rate
    from rassflow.products.responses import read_rmf_grid, read_specresp, theta_weights

    rmf_key, specresp_key = aperture._file_key(rmf), aperture._file_key(specresp)
    response, _ = aperture._calibration(rmf_key, specresp_key)
    onaxis_rate, _ = aperture._onaxis_conversion(rmf_key, specresp_key, model, shape, (), nh)
    # the on-axis ARF on the RMF grid, single precision as written (make_arf)
    energ_lo, energ_hi, _ = read_rmf_grid(rmf)
    crf_mid, theta_grid, area = read_specresp(specresp)
    crf_arf = theta_weights([theta_grid[0]], [1.0], theta_grid) @ area
    rmf_mid = 0.5 * (energ_lo.astype(float) + energ_hi.astype(float))
    arf = np.interp(rmf_mid, crf_mid, crf_arf, left=0.0, right=0.0).astype(np.float32)
    flux = aperture._model(model, shape, nh)
    if not psf_correction:
        rate = fold_rate(
            flux, response.energ_lo, response.energ_hi, arf.astype(float), response.matrix,
            response.channels, pspc.BROAD_BAND,
        )  # fmt: skip
        eef = rate / onaxis_rate if onaxis_rate > 0 else math.nan
        return np.full(len(ratio), eef)
    # apply_psf_correction: SPECRESP x psf_kept_fraction, stored in single precision
    radius = regions_cfg["source_radius_arcmin"]
    inner = radius * regions_cfg["background_inner_factor"]
    outer = radius * regions_cfg["background_outer_factor"]
    mid = 0.5 * (
        energ_lo.astype(np.float32).astype(float) + energ_hi.astype(np.float32).astype(float)
    )
    weight = analysis_psf(psf)["weight"]
    inside = survey_eef(mid, radius, model=weight)
    annulus = survey_annulus_fraction(mid, inner, outer, model=weight)
    annulus_pixels = np.pi * (outer**2 - inner**2) / (pspc.SKY_PIXEL_DEG * 60.0) ** 2
    kept = np.where(npix_bkg > 0, np.minimum(npix_bkg / annulus_pixels, 1.0), 1.0)
    photons = np.asarray(flux(response.energ_lo, response.energ_hi), float)
    selected = (response.channels >= pspc.BROAD_BAND[0]) & (response.channels <= pspc.BROAD_BAND[1])
    # counts per photon in the broad band, by energy (the RMF's channels summed once)
    weights = photons * response.matrix[:, selected].sum(axis=1)
    out = np.empty(len(ratio))
    step = 4096
    for start in range(0, len(ratio), step):
        part = slice(start, start + step)
        fraction = np.clip(inside - ratio[part, None] * (annulus * kept[part, None]), 0.0, 1.0)
        area_m = (arf * fraction).astype(np.float32).astype(float)
        out[part] = area_m @ weights
    return out / onaxis_rate if onaxis_rate > 0 else np.full(len(ratio), math.nan)


def _psf_systematic(regions_cfg: dict, ratio, npix_bkg, psf=None) -> np.ndarray:
    """(2, n): PSFSYSLO and PSFSYSHI as each member's ARF header holds them
    (:func:`rassflow.products.responses.psf_systematic` with the same operations, rounded to
    6 decimals as the cards are written)."""
    from rassflow.calibration.psf import (
        analysis_psf,
        survey_annulus_fraction,
        survey_eef,
        systematic_weights,
    )
    from rassflow.products.responses import SYSTEMATIC_BAND_KEV

    radius = regions_cfg["source_radius_arcmin"]
    inner = radius * regions_cfg["background_inner_factor"]
    outer = radius * regions_cfg["background_outer_factor"]
    annulus_pixels = np.pi * (outer**2 - inner**2) / (pspc.SKY_PIXEL_DEG * 60.0) ** 2
    kept = np.where(npix_bkg > 0, np.minimum(npix_bkg / annulus_pixels, 1.0), 1.0)
    energy = np.geomspace(SYSTEMATIC_BAND_KEV[0], SYSTEMATIC_BAND_KEV[1], 41)
    fractions = []
    for model in (analysis_psf(psf)["weight"], *systematic_weights(psf)):
        inside = survey_eef(energy, radius, model=model)
        annulus = survey_annulus_fraction(energy, inner, outer, model=model)
        fractions.append(np.clip(inside - ratio[:, None] * (annulus * kept[:, None]), 0.0, 1.0))
    used, *ends = fractions
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = np.stack(
            [np.where(other > 0, used / np.where(other > 0, other, 1.0), 1.0) for other in ends]
        )
    low = [round(float(v), 6) for v in quotient.min(axis=(0, 2)).tolist()]
    high = [round(float(v), 6) for v in quotient.max(axis=(0, 2)).tolist()]
    return np.array([low, high])


def _contamination(events, index: _EventIndex, regions: _Regions, k: int, psf=None):
    """(channels, counts, info) of the neighbours' deblended counts in position k's circle
    (:func:`rassflow.products.contamination.neighbour_contamination`), from the events near
    its apertures only (the same numbers as on the whole list)."""
    from rassflow.archive.skyfield import EventList
    from rassflow.products.contamination import neighbour_contamination

    source = regions.source_regions(k)
    pixels = regions.neighbour_pixels[k]
    margin = regions.radius + 2.0
    xs = np.concatenate([[source.x - source.outer - 2.0], pixels[:, 0] - margin])
    xe = np.concatenate([[source.x + source.outer + 2.0], pixels[:, 0] + margin])
    ys = np.concatenate([[source.y - source.outer - 2.0], pixels[:, 1] - margin])
    ye = np.concatenate([[source.y + source.outer + 2.0], pixels[:, 1] + margin])
    near = index.box(xs.min(), xe.max(), ys.min(), ye.max())
    subset = EventList(
        x=events.x[near], y=events.y[near], pi=events.pi[near], time=events.time[near],
        header=events.header, primary_header=events.primary_header, gti=events.gti,
        path=events.path, xy_columns=events.xy_columns, pi_column=events.pi_column,
    )  # fmt: skip
    return neighbour_contamination(subset, source, pixels, events.pixel_scale_deg, psf)


# ---------------------------------------------------------------------------------------------
# the posterior
# ---------------------------------------------------------------------------------------------


def posterior_inputs(n, n_bkg, ratio, contamination, sigma=0.0):
    """(N, M, alpha, c) of each member's on/off posterior (:class:`bayes.OnOff`), the one
    place where the measured counts become the posterior's inputs: a negative net
    contamination (more neighbour light in the background region, BACKSCAL-scaled, than in
    the circle) lowers the background instead, with the deblending error ``sigma`` in its
    variance (:func:`rassflow.photometry.bayes.deblended_background`, as
    :func:`rassflow.photometry.aperture._onoff` uses it)."""
    n = np.asarray(n, float)
    return (n, *deblended_background(n_bkg, ratio, contamination, sigma))


def posterior_columns(
    ids, n, n_bkg, ratio, contamination, bands: dict, to_rate, settings: dict, deblend=None,
    psf_factors=None,
) -> dict:  # fmt: skip
    """Rates, limits, detection, hardness ratios and fluxes of measured positions: the
    posterior part of :func:`rassflow.photometry.aperture.measure`, for arrays.

    ``ids``: the members' id_name, which fix the uniforms of the randomized detection test
    (:func:`rassflow.photometry.bayes.randomization_uniform`);
    ``n``, ``n_bkg``: broad-band counts in the circle and the background region;
    ``ratio``: BACKSCAL ratio; ``contamination``: the neighbours' broad-band counts;
    ``bands``: {band: (n_src, n_bkg, contamination)} of the 2RXS bands A-D; ``to_rate``:
    1 / (EXPOSURE x eef) (NaN: undefined). ``settings``: the ``photometry`` section.
    ``deblend``: the 1-sigma deblending error of the neighbours' counts, which widens the
    counts interval and upper limit in quadrature
    (:func:`rassflow.products.contamination.widen_for_deblending`); ``psf_factors`` (2, n):
    the PSF systematic (low, high; NaN: none), which widens the rate interval and limit
    (:func:`rassflow.products.responses.apply_psf_systematic`).
    Returns {column: array}, NaN where the JSON has null.
    """
    from scipy import special

    from rassflow.photometry.bayes import randomization_uniform
    from rassflow.photometry.hardness import hardness_ratios
    from rassflow.photometry.onoff import onoff_summary, randomized_detection

    confidence, ul_confidence, threshold, model, shape, _ = aperture._settings(settings)
    test = aperture._detection_test(settings)
    names = ("net_counts_mode", "net_counts_lo", "net_counts_hi", "counts_ul")
    deblend = np.zeros(len(np.atleast_1d(n))) if deblend is None else np.asarray(deblend, float)
    inputs = posterior_inputs(n, n_bkg, ratio, contamination, deblend)
    summary = onoff_summary(*inputs, confidence / 100.0, ul_confidence / 100.0)
    out = dict(zip((*names, "detection_probability"), summary, strict=True))
    out["detection_p_randomized"] = randomized_detection(
        *inputs, randomization_uniform(ids), out["detection_probability"]
    )
    # the deblending noise widens the interval, unless the background already carries it
    wide = (deblend > 0) & (np.asarray(contamination, float) >= 0)
    if np.any(wide):
        mode = out["net_counts_mode"][wide]
        lo, hi = widen_for_deblending(
            mode, out["net_counts_lo"][wide], out["net_counts_hi"][wide], deblend[wide],
            confidence,
        )  # fmt: skip
        ul = out["counts_ul"][wide]
        _, ul = widen_for_deblending(mode, ul, ul, deblend[wide], 2 * ul_confidence - 100)
        for key, value in (("net_counts_lo", lo), ("net_counts_hi", hi), ("counts_ul", ul)):
            out[key] = np.array(out[key], dtype=float)
            out[key][wide] = value
    p_value = out["detection_probability"]
    with np.errstate(divide="ignore"):
        sigma = -special.ndtri(p_value)
    out["detection_sigma"] = np.where(np.isfinite(sigma), sigma, np.nan)
    p_test = out["detection_p_randomized"] if test == "randomized" else p_value
    out["detected"] = p_test <= special.ndtr(-threshold)
    low = high = np.ones(len(np.atleast_1d(n)))
    if psf_factors is not None:
        factors = np.asarray(psf_factors, float)
        low = np.where(np.isfinite(factors[0]), np.minimum(1.0, factors[0]), 1.0)
        high = np.where(np.isfinite(factors[1]), np.maximum(1.0, factors[1]), 1.0)
    rate_keys = ("net_rate", "net_rate_lo", "net_rate_hi", "rate_ul")
    for key, name, factor in zip(rate_keys, names, (1.0, low, high, high), strict=True):
        out[key] = out[name] * (
            to_rate * factor
        )  # as aperture.measure: rate x (1/exposure/eef x factor)
    known = {}
    for band, (_, n_bkg_band, c_band) in bands.items():
        known[band] = np.maximum(n_bkg_band * ratio + c_band, 0.0)
    for name, (soft, hard) in HARDNESS_RATIOS.items():
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = hardness_ratios(
            bands[soft][0], known[soft], bands[hard][0], known[hard], confidence / 100.0
        )
    return out


# ---------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------


def _members(members):
    """(id_name list, ra, dec) of a members table (astropy Table, DataFrame or dict)."""
    ids = [str(v) for v in list(members["id_name"])]
    ra = np.asarray(members["ra"], dtype=float)
    dec = np.asarray(members["dec"], dtype=float)
    return ids, ra, dec


def _neighbour_lists(ids, neighbours):
    """Per position the (ra, dec) of its catalogued neighbours, from {id_name: [(ra, dec)]}
    or a table with id_name, ra, dec rows (in its row order)."""
    if neighbours is None:
        return [[] for _ in ids]
    if not isinstance(neighbours, dict):
        near: dict = {}
        for name, ra, dec in zip(
            list(neighbours["id_name"]), list(neighbours["ra"]), list(neighbours["dec"]),
            strict=True,
        ):  # fmt: skip
            near.setdefault(str(name), []).append((float(ra), float(dec)))
        neighbours = near
    return [[tuple(map(float, p)) for p in neighbours.get(name, ())] for name in ids]


def forced_photometry(events, expmap, rmf, specresp, members, settings: dict, neighbours=None):
    """Forced aperture photometry of every position in ``members`` in one skyfield.

    Parameters
    ----------
    events : path or :class:`rassflow.archive.skyfield.EventList`
        The skyfield's (decompressed) event file, read once.
    expmap : path
        Its exposure map.
    rmf, specresp : path
        The PSPC-C RMF and SPECRESP file of the run.
    members : table
        Columns ``id_name``, ``ra``, ``dec`` (deg, at the RASS epoch: the region centres).
    settings : dict
        :func:`forced_settings` of the config: ``regions``, ``photometry``, ``bands_keV``,
        ``arf_method`` (only ``onaxis``), ``psf_correction``; optional ``psf`` (the survey
        PSF, :func:`rassflow.calibration.psf.analysis_psf`) and ``provenance``
        (keyword arguments of :func:`rassflow.files.provenance_cards`).
    neighbours : dict or table, optional
        Catalogued 2RXS neighbours of each position: {id_name: [(ra, dec), ...]} or rows
        ``id_name``, ``ra``, ``dec``; cut out of the annulus and deblended.

    Returns
    -------
    astropy.table.Table
        One row per position, in the order of ``members``, columns :func:`table_columns`
        with units; NaN where the photometry JSON has null, and for failed positions
        (``status`` failed, ``reason`` the chain's failure reason). The shared settings
        (:data:`SETTING_KEYS`) and provenance are in ``meta``.
    """

    from rassflow.archive.skyfield import EventList, read_events
    from rassflow.calibration.psf import analysis_psf
    from rassflow.products.spectra import channel_range, field_pixels

    psf = analysis_psf(settings.get("psf"))  # the survey PSF: eef, deblending, systematic
    if settings.get("arf_method", "onaxis") != "onaxis":
        raise ValueError(
            f"forced photometry reproduces the onaxis ARF only, not {settings['arf_method']!r}"
        )
    confidence, ul_confidence, threshold, model, shape, nh = aperture._settings(
        settings["photometry"]
    )
    bands_keV = tuple((float(lo), float(hi)) for lo, hi in settings["bands_keV"])
    if not isinstance(events, EventList):
        events = read_events(events)
    ids, ra, dec = _members(members)
    count = len(ids)
    near = _neighbour_lists(ids, neighbours)
    field = (events.axis_range("X"), events.axis_range("Y"))
    channels = channel_range(events)

    regions = _Regions(events.wcs(), ra, dec, settings["regions"], events.pixel_scale_deg, near)
    npix_src, npix_bkg = _lattice_counts(regions, field)
    index = _EventIndex(events.x, events.y, events.pi, field, max(1, math.ceil(regions.outer)))
    counts = _band_counts(index, regions, channels)
    exposure = _exposures(expmap, ra, dec)

    # failures, with the chain's reasons (extract_spectra checks exposure, then each region)
    reasons = [""] * count
    for k in range(count):
        if not (np.isfinite(exposure[k]) and exposure[k] > 0):
            reasons[k] = (
                f"extract_spectra: source {ids[k]}: exposure map value {float(exposure[k])} at "
                "the source position is not positive; the source cannot be fitted"
            )
        elif npix_src[k] == 0 or npix_bkg[k] == 0:
            which = "src" if npix_src[k] == 0 else "bkg"
            reasons[k] = f"extract_spectra: {which} region lies outside the skyfield {events.path}"
    ok = np.array([not r for r in reasons], dtype=bool)

    # what the spectra's headers hold
    field_npix = field_pixels(events)
    backscal_src = np.array([_header_float(v / field_npix) for v in npix_src.tolist()])
    backscal_bkg = np.array([_header_float(v / field_npix) for v in npix_bkg.tolist()])
    exposure_s = np.array([round(float(v), 5) if ok[k] else np.nan for k, v in enumerate(exposure)])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ok, backscal_src / np.where(backscal_bkg > 0, backscal_bkg, 1.0), np.nan)

    # the neighbours' deblended counts per band (0 without neighbours, as without the table)
    contamination = {band: np.zeros(count) for band in BANDS}
    deblend = np.zeros(count)  # the deblending's 1-sigma error, broad-band counts
    with_neighbours = [k for k in range(count) if ok[k] and regions.neighbour_pixels[k] is not None]
    if with_neighbours:
        for k in with_neighbours:
            found, per_channel, info = _contamination(events, index, regions, k, psf)
            for band, (lo, hi) in BANDS.items():
                contamination[band][k] = float(per_channel[(found >= lo) & (found <= hi)].sum())
            if info.get("variance") is not None:
                deblend[k] = deblending_sigma(
                    found, info["variance"], pspc.BROAD_BAND, info.get("psf_shift")
                )

    eef = np.full(count, np.nan)
    if ok.any():
        eef[ok] = _eef(
            rmf, specresp, settings["regions"], model, shape, nh, ratio[ok],
            npix_bkg[ok].astype(float), settings.get("psf_correction", True), psf,
        )  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        to_rate = np.where(np.isfinite(eef) & (eef > 0), 1.0 / (exposure_s * eef), np.nan)
    # what the ARF header records of the PSF: the description, the annulus, the systematic
    psf_correction = bool(settings.get("psf_correction", True))
    regions_cfg = settings["regions"]
    inner = regions_cfg["source_radius_arcmin"] * regions_cfg["background_inner_factor"]
    outer = regions_cfg["source_radius_arcmin"] * regions_cfg["background_outer_factor"]
    psf_factors = np.full((2, count), np.nan)
    if psf_correction and ok.any():
        psf_factors[:, ok] = _psf_systematic(
            regions_cfg, ratio[ok], npix_bkg[ok].astype(float), psf
        )

    n = counts[("src", "broad")]
    n_bkg = counts[("bkg", "broad")]
    columns = {
        "id_name": ids,
        "counts_src": n,
        "counts_bkg": n_bkg,
        "backscal_src": backscal_src,
        "backscal_bkg": backscal_bkg,
        "backscal_ratio": ratio,
        "bkg_expected": n_bkg * ratio,
        "contamination_counts": contamination["broad"],
        "exposure_s": exposure_s,
        "eef": eef,
        "psf_corrected": np.full(count, psf_correction),
        "arf_method": ["onaxis"] * count,
        "deblending_sigma_counts": deblend,
        "psf_model": [psf["description"] if psf_correction else ""] * count,
        "psf_sys_lo": psf_factors[0],
        "psf_sys_hi": psf_factors[1],
        "bkg_inner_arcmin": np.full(count, inner if psf_correction else np.nan),
        "bkg_outer_arcmin": np.full(count, outer if psf_correction else np.nan),
    }
    columns["net_counts"] = n - columns["bkg_expected"] - contamination["broad"]
    measured = {}
    if ok.any():
        sel = np.flatnonzero(ok)
        bands = {
            band: (counts[("src", band)][sel], counts[("bkg", band)][sel], contamination[band][sel])
            for band in pspc.HR_BANDS
        }
        measured = posterior_columns(
            [ids[k] for k in sel], n[sel], n_bkg[sel], ratio[sel], contamination["broad"][sel],
            bands, to_rate[sel], settings["photometry"], deblend[sel], psf_factors[:, sel],
        )  # fmt: skip
    for key in (
        "net_counts_mode", "net_counts_lo", "net_counts_hi", "counts_ul", "net_rate",
        "net_rate_lo", "net_rate_hi", "rate_ul", "detection_probability", "detection_sigma",
        "detection_p_randomized", "hr1", "hr1_lo", "hr1_hi", "hr2", "hr2_lo", "hr2_hi",
    ):  # fmt: skip
        columns[key] = np.full(count, np.nan)
        if measured:
            columns[key][ok] = measured[key]
    columns["detected"] = np.zeros(count, bool)
    if measured:
        columns["detected"][ok] = measured["detected"]
    for band in pspc.HR_BANDS:
        columns[f"counts_src_{band}"] = counts[("src", band)]
        columns[f"counts_bkg_{band}"] = counts[("bkg", band)]
    rmf_key, specresp_key = aperture._file_key(rmf), aperture._file_key(specresp)
    _, ecfs = aperture._onaxis_conversion(rmf_key, specresp_key, model, shape, bands_keV, nh)
    for (lo, hi), factor in zip(bands_keV, ecfs, strict=True):
        label = band_label(lo, hi)
        factor = math.nan if factor is None or not math.isfinite(factor) else factor
        columns[f"ecf_{label}"] = np.where(ok, factor, np.nan)
        columns[f"flux_{label}"] = columns["net_rate"] * factor
        columns[f"flux_{label}_lo"] = columns["net_rate_lo"] * factor
        columns[f"flux_{label}_hi"] = columns["net_rate_hi"] * factor
        columns[f"flux_ul_{label}"] = columns["rate_ul"] * factor
    columns["status"] = np.where(ok, "ok", "failed") if count else np.zeros(0, str)
    columns["reason"] = reasons

    return _assemble(columns, ok, settings, str(Path(events.path).name))


def _assemble(columns: dict, ok, settings: dict, events_name: str):
    """The table of :func:`forced_photometry` from its columns and the measured mask, the
    shared settings and the provenance in its metadata."""
    from astropy.table import MaskedColumn, Table

    from rassflow.files import provenance_cards

    confidence, ul_confidence, threshold, model, shape, _ = aperture._settings(
        settings["photometry"]
    )
    bands_keV = tuple((float(lo), float(hi)) for lo, hi in settings["bands_keV"])
    meta = {
        "broad_band_pi": list(pspc.BROAD_BAND),
        "bands_keV": [list(band) for band in bands_keV],
        "confidence": confidence,
        "upper_limit_confidence": ul_confidence,
        "detection_threshold_sigma": threshold,
        "detection_test": aperture._detection_test(settings["photometry"]),
        "ecf_model": model,
        "ecf_shape": shape,
        "events": events_name,
    }
    provenance = settings.get("provenance", {})
    table = Table()
    for name in table_columns(bands_keV):
        values = columns[name]
        if name in COUNT_COLUMNS:  # whole numbers, masked where nothing was measured
            table[name] = MaskedColumn(np.asarray(values, dtype=np.int64), mask=~ok)
        elif name in TEXT_COLUMNS or name in FLAG_COLUMNS:
            table[name] = np.asarray(values, dtype=bool if name in FLAG_COLUMNS else str)
        else:
            table[name] = np.where(ok, np.asarray(values, dtype=float), np.nan)
        unit = TABLE_UNITS.get(name)
        if unit is None and name.startswith("flux_"):
            unit = "erg/(cm2 s)"
        if unit is None and name.startswith("ecf_"):
            unit = "erg/(cm2 count)"
        if unit:
            table[name].unit = unit
    table.meta.update(meta)
    for key, value, _ in provenance_cards(**provenance):
        table.meta[key] = value
    return table


def failed_table(members, settings: dict, reason: str, events_name: str = ""):
    """The rows of members that could not be measured (their skyfield's files are
    unreadable): status failed with ``reason``, nothing measured."""
    ids, _, _ = _members(members)
    bands_keV = tuple((float(lo), float(hi)) for lo, hi in settings["bands_keV"])
    count = len(ids)
    columns = {name: np.zeros(count) for name in table_columns(bands_keV)}
    columns.update({name: [""] * count for name in TEXT_COLUMNS})
    columns.update({name: np.zeros(count, bool) for name in FLAG_COLUMNS})
    columns.update(id_name=ids, status=["failed"] * count, reason=[reason] * count)
    return _assemble(columns, np.zeros(count, bool), settings, events_name)


# ---------------------------------------------------------------------------------------------
# a photometry batch: slices of one or more skyfields' members, one table
# ---------------------------------------------------------------------------------------------


def measure_skyfields(skyfields: list, rmf, specresp, settings: dict):
    """:func:`forced_photometry` of a batch: ``skyfields`` lists (seq, events, expmap,
    members_csv, neighbours_csv, start, stop) per skyfield, the rows start:stop of its
    members file (rassflow.plan.write_skyfield_members: id_name and region centre ra, dec)
    measured; one skyfield's events in memory at a time. Returns the rows of all, in order,
    with ``seq_id``."""
    import pandas as pd
    from astropy.table import vstack

    tables = []
    for seq, events, expmap, members_csv, neighbours_csv, start, stop in skyfields:
        members = pd.read_csv(members_csv, dtype={"id_name": str}).iloc[int(start) : int(stop)]
        near = pd.read_csv(neighbours_csv, dtype={"id_name": str})
        near = near[near["id_name"].isin(set(members["id_name"]))]
        try:
            table = forced_photometry(events, expmap, rmf, specresp, members, settings, near)
        except DATA_ERRORS as exc:  # one bad skyfield fails its own members, not the batch
            reason = f"measure_photometry: skyfield {seq}: {type(exc).__name__}: {exc}"
            log.warning("%s", reason)
            table = failed_table(members, settings, reason, Path(events).name)
        table.add_column(str(seq), name="seq_id", index=1)
        tables.append(table)
    if not tables:
        raise ValueError("a photometry batch needs at least one skyfield")
    out = vstack(tables, metadata_conflicts="silent")
    # the settings are the same for every skyfield (one config): vstack would join lists
    out.meta = {key: value for key, value in tables[0].meta.items() if key != "events"}
    return out


def write_table(table, path) -> None:
    """A photometry batch's table as FITS (EXTNAME PHOTOMETRY, units), written atomically."""
    from astropy.io import fits

    from rassflow.files import write_fits

    hdu = fits.table_to_hdu(table)
    hdu.name = "PHOTOMETRY"
    write_fits(fits.HDUList([fits.PrimaryHDU(), hdu]), path)


def read_tables(paths):
    """The rows of photometry batch tables, in order, as one astropy Table."""
    from astropy.table import Table, vstack

    return vstack(
        [Table.read(path, hdu="PHOTOMETRY") for path in paths], metadata_conflicts="silent"
    )


def measure_photometry_job(job) -> None:
    """One measure_photometry job: ``input.events``, ``expmap``, ``members`` and
    ``neighbours`` list the batch's skyfields' files in the order of ``params.slices``
    ([skyfield, start, stop]); ``params.settings``: :func:`forced_settings` with provenance."""
    from rassflow.calibration.psf_stack import psf_setting

    inputs, params = job.input, job.params
    settings = dict(params.settings)
    calibration = dict(inputs.items()).get("psf")
    if calibration:  # the survey PSF calibrated on the run's sources
        settings["psf"] = psf_setting(calibration)
    files = zip(inputs.events, inputs.expmap, inputs.members, inputs.neighbours, strict=True)
    skyfields = [
        (seq, *paths, start, stop)
        for paths, (seq, start, stop) in zip(files, params.slices, strict=True)
    ]
    table = measure_skyfields(skyfields, inputs.rmf, inputs.specresp, settings)
    write_table(table, job.output.table)
