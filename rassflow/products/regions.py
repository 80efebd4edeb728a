"""Source circles and background annuli, in RA/Dec and in physical sky pixels.

The geometry lives here (not only in DS9 files), because astropy-regions cannot read
back DS9 files in the 'physical' frame (fact sheet §10). Physical coordinates are the
1-based sky pixels X/Y of the event file.

Catalogued neighbours (other 2RXS sources) are cut out of the background annulus with
circles of ``regions.exclusion_radius_arcmin``, written as DS9 exclusions
(``annulus(...)`` then ``-circle(...)`` lines), which extractor and funtools apply as DS9
does: a pixel counts if it is inside the annulus and inside none of the excluded circles.
Every number is rounded as the files write it, so the regions read back from a file are
the regions that made it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rassflow import pspc
from rassflow.files import write_text

DS9_HEADER = "# Region file format: DS9 version 4.1\n"


PRECISION = 4  # decimals of physical-pixel numbers in the region files


@dataclass(frozen=True)
class SourceRegions:
    """Circle and annulus around one source, in physical sky pixels (0.5"), and the circles
    (x, y, radius) cut out of the annulus around catalogued neighbours."""

    x: float
    y: float
    radius: float
    inner: float
    outer: float
    exclusions: tuple = ()

    def contains(self, x, y, which: str) -> np.ndarray:
        """Integer (X, Y) inside the source circle ('src') or the cleaned annulus ('bkg')."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        d2 = (x - self.x) ** 2 + (y - self.y) ** 2
        if which == "src":
            return d2 <= self.radius**2
        inside = (d2 >= self.inner**2) & (d2 <= self.outer**2)
        for ex, ey, er in self.exclusions:
            inside &= (x - ex) ** 2 + (y - ey) ** 2 > er**2
        return inside

    def lattice(self, which: str, xlim=(1, pspc.SKY_PIXELS), ylim=(1, pspc.SKY_PIXELS)):
        """Integer sky pixels inside a region and inside the field (for BACKSCAL and WMAP)."""
        reach = self.radius if which == "src" else self.outer
        x0 = max(int(np.floor(self.x - reach)), xlim[0])
        x1 = min(int(np.ceil(self.x + reach)), xlim[1])
        y0 = max(int(np.floor(self.y - reach)), ylim[0])
        y1 = min(int(np.ceil(self.y + reach)), ylim[1])
        xs, ys = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
        inside = self.contains(xs, ys, which)
        return xs[inside], ys[inside]


# Row-wise pixel counts (BACKSCAL of many regions, the deblending's pixel counts) need, per
# pixel row, the integer x interval inside a disc by the very predicate of contains(). A
# chord end farther than SURE_FRACTION from every integer, on a row where the circle is not
# tangent (|r2 - dy2| > SURE_GAP, a half chord > 0.01 pixel), is that interval's end in
# exact arithmetic with a margin ~20x wider than the predicate's float rounding (~4e-10 in
# squared pixels for r < 2000): the square root decides it; only the rest (~1e-5 of the
# rows) are settled by evaluating the predicate.
SURE_FRACTION = 1e-6
SURE_GAP = 1e-4


def row_span(centre, dy2, r2, strict=False):
    """Per element: the integer x interval [lo, hi] with (x - centre)**2 + dy2 <= r2 (< r2
    where ``strict``), the predicate of :meth:`SourceRegions.contains`; (1, 0) when empty.
    Arguments broadcast (``strict`` too: the annulus's inner disc is open)."""
    centre, dy2, r2, strict = np.broadcast_arrays(centre, dy2, r2, strict)
    gap = r2 - dy2
    half = np.sqrt(np.maximum(gap, 0.0))
    lo_edge, hi_edge = centre - half, centre + half
    lo, hi = np.ceil(lo_edge), np.floor(hi_edge)
    unsure = np.abs(gap) <= SURE_GAP
    unsure |= np.abs(lo_edge - np.rint(lo_edge)) <= SURE_FRACTION
    unsure |= np.abs(hi_edge - np.rint(hi_edge)) <= SURE_FRACTION
    unsure &= gap >= -SURE_GAP  # rows clearly outside the circle are empty
    empty = (lo > hi) | (gap < 0)
    lo, hi = np.where(empty, 1.0, lo), np.where(empty, 0.0, hi)
    if unsure.any():
        lo[unsure], hi[unsure] = _span_by_predicate(
            centre[unsure], dy2[unsure], r2[unsure], strict[unsure]
        )
    return lo, hi


def _span_by_predicate(centre, dy2, r2, strict):
    """:func:`row_span` by evaluating the predicate next to the square root's ends."""

    def inside(x):
        d2 = (x - centre) ** 2 + dy2
        return np.where(strict, d2 < r2, d2 <= r2)

    with np.errstate(invalid="ignore"):
        half = np.sqrt(np.maximum(r2 - dy2, 0.0))
    lo, hi = np.ceil(centre - half), np.floor(centre + half)
    # the rounded square root puts each end within a pixel of the true one (off only where
    # a pixel lies on the circle to rounding): one step out, then one step in, settles it
    lo = np.where(inside(lo - 1.0), lo - 1.0, lo)
    hi = np.where(inside(hi + 1.0), hi + 1.0, hi)
    lo = np.where(~inside(lo) & (lo <= hi), lo + 1.0, lo)
    hi = np.where(~inside(hi) & (lo <= hi), hi - 1.0, hi)
    empty = ~inside(lo) | (lo > hi)
    return np.where(empty, 1.0, lo), np.where(empty, 0.0, hi)


def union_length(starts, ends) -> np.ndarray:
    """Length of the union of intervals [start, end) along the last axis (at least one;
    empty ones have end <= start): taken by start (one complex sort keeps each end with its
    start), each interval adds what reaches past the ends of those before it."""
    ordered = np.sort(starts + 1j * ends, axis=-1)
    starts, ends = ordered.real, ordered.imag
    reached = np.maximum.accumulate(ends[..., :-1], axis=-1)
    first = np.clip(ends[..., 0] - starts[..., 0], 0.0, None)
    return first + np.clip(ends[..., 1:] - np.maximum(starts[..., 1:], reached), 0.0, None).sum(-1)


WING_REACH_ARCMIN = 6.0
"""How far beyond the background annulus a catalogued source still sends enough of its PSF
wing into it to be deblended. Survey PSF (PSFOFF, 1 keV), share of a source's counts in the
default 4'-8' annulus when it lies 2', 4', 6' and 8' beyond its edge: 7 %, 1.2 %, 0.33 %,
0.19 % (GOF FAQ: 5 %, 0.5 %, 0.03 %, 0); the annulus subtracts a twelfth of it from the
target as background. With 2' only (the exclusion circle's reach), the blank positions of
the catalog-scale benchmark whose nearest 2RXS source lay 10-12' away had a quarter of the
source-circle counts that their annuli predicted."""


def neighbour_reach_arcmin(regions: dict) -> float:
    """How far (arcmin) from a source another 2RXS source can reach into its background
    annulus: the annulus's outer radius plus the larger of the exclusion radius and
    :data:`WING_REACH_ARCMIN` (0 without exclusions: no neighbours). ``regions``: the
    ``regions`` config section. The catalogued sources within it are deblended
    (:mod:`rassflow.products.contamination`), and cut out of the annulus where their
    exclusion circle reaches into it (:func:`source_regions`)."""
    if regions["exclusion_radius_arcmin"] == 0:
        return 0.0
    outer = regions["source_radius_arcmin"] * regions["background_outer_factor"]
    return outer + max(regions["exclusion_radius_arcmin"], WING_REACH_ARCMIN)


def _rounded(value: float) -> float:
    return round(float(value), PRECISION)


def source_regions(
    wcs,
    ra_deg: float,
    dec_deg: float,
    radius_arcmin: float,
    inner_factor: float,
    outer_factor: float,
    pixel_deg: float,
    neighbours=(),
    exclusion_radius_arcmin: float = 0.0,
) -> SourceRegions:
    """Regions at (ra, dec) in the physical pixels of an event file's sky WCS (1-based).

    ``neighbours``: (ra, dec) of other catalogued sources; those whose exclusion circle
    reaches into the annulus are cut out of it."""
    x, y = wcs.all_world2pix([[ra_deg, dec_deg]], 1)[0]
    radius = radius_arcmin / 60.0 / pixel_deg
    inner, outer = radius * inner_factor, radius * outer_factor
    cut = exclusion_radius_arcmin / 60.0 / pixel_deg
    exclusions = []
    if neighbours and cut > 0:
        for nx, ny in wcs.all_world2pix(np.asarray(neighbours, float).reshape(-1, 2), 1):
            distance = np.hypot(nx - x, ny - y)
            if inner - cut < distance < outer + cut:
                exclusions.append((_rounded(nx), _rounded(ny), _rounded(cut)))
    return SourceRegions(
        _rounded(x),
        _rounded(y),
        _rounded(radius),
        _rounded(inner),
        _rounded(outer),
        tuple(exclusions),
    )


def write_region_files(
    regions: SourceRegions,
    ra_deg: float,
    dec_deg: float,
    radius_arcmin: float,
    inner_factor: float,
    outer_factor: float,
    paths: dict,
    wcs=None,
) -> None:
    """DS9 files: 'src'/'bkg' in fk5 (RA/Dec in deg, radii in arcsec), 'src_phys'/'bkg_phys'
    in physical sky pixels, the frame extractor filters events in. Exclusions are written in
    both frames (``wcs``, the event file's sky WCS, converts them to RA/Dec)."""
    radius = radius_arcmin * 60.0
    sky = f"{DS9_HEADER}fk5\n"
    write_text(f'{sky}circle({ra_deg:.7f},{dec_deg:.7f},{radius:.4f}")\n', paths["src"])
    sky_cuts = ""
    if regions.exclusions:
        pixel_arcsec = abs(float(wcs.wcs.cdelt[0])) * 3600.0
        for ex, ey, er in regions.exclusions:
            era, edec = wcs.all_pix2world([[ex, ey]], 1)[0]
            sky_cuts += f'-circle({era:.7f},{edec:.7f},{er * pixel_arcsec:.4f}")\n'
    write_text(
        f'{sky}annulus({ra_deg:.7f},{dec_deg:.7f},{radius * inner_factor:.4f}",'
        f'{radius * outer_factor:.4f}")\n{sky_cuts}',
        paths["bkg"],
    )
    physical = f"{DS9_HEADER}physical\n"
    write_text(
        f"{physical}circle({regions.x:.4f},{regions.y:.4f},{regions.radius:.4f})\n",
        paths["src_phys"],
    )
    cuts = "".join(f"-circle({ex:.4f},{ey:.4f},{er:.4f})\n" for ex, ey, er in regions.exclusions)
    write_text(
        f"{physical}annulus({regions.x:.4f},{regions.y:.4f},{regions.inner:.4f},"
        f"{regions.outer:.4f})\n{cuts}",
        paths["bkg_phys"],
    )


SHAPE = re.compile(r"^(-?)(circle|annulus)\(([^)]*)\)", re.IGNORECASE)


def _shapes(path) -> list[tuple[bool, str, list[float]]]:
    with open(path) as handle:
        found = []
        for line in handle:
            match = SHAPE.match(line.strip())
            if match:
                values = [float(v) for v in match.group(3).split(",")]
                found.append((match.group(1) == "-", match.group(2).lower(), values))
    return found


def read_physical_regions(src_path, bkg_path) -> SourceRegions:
    """Read back the physical-frame circle, annulus and exclusions that write_region_files
    wrote."""

    def first(shapes, name, path):
        for excluded, shape, values in shapes:
            if shape == name and not excluded:
                return values
        raise ValueError(f"{path}: no {name}(...) shape in physical coordinates")

    x, y, radius = first(_shapes(src_path), "circle", src_path)
    background = _shapes(bkg_path)
    bx, by, inner, outer = first(background, "annulus", bkg_path)
    if (bx, by) != (x, y):
        raise ValueError(f"{src_path} and {bkg_path}: circle and annulus centres differ")
    exclusions = tuple(
        tuple(values) for excluded, shape, values in background if excluded and shape == "circle"
    )
    return SourceRegions(x, y, radius, inner, outer, exclusions)
