"""Source circles and background annuli, in RA/Dec and in physical sky pixels.

The geometry lives here (not only in DS9 files), because astropy-regions cannot read
back DS9 files in the 'physical' frame (fact sheet §10). Physical coordinates are the
1-based sky pixels X/Y of the event file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .io import write_text

DS9_HEADER = "# Region file format: DS9 version 4.1\n"


@dataclass(frozen=True)
class SourceRegions:
    """Circle and annulus around one source, in physical sky pixels (0.5")."""

    x: float
    y: float
    radius: float
    inner: float
    outer: float

    def contains(self, x, y, which: str) -> np.ndarray:
        """Integer (X, Y) inside the source circle ('src') or the annulus ('bkg')."""
        d2 = (np.asarray(x, float) - self.x) ** 2 + (np.asarray(y, float) - self.y) ** 2
        if which == "src":
            return d2 <= self.radius**2
        return (d2 >= self.inner**2) & (d2 <= self.outer**2)

    def lattice(self, which: str, xlim=(1, 46080), ylim=(1, 46080)):
        """Integer sky pixels inside a region and inside the field (for BACKSCAL and WMAP)."""
        reach = self.radius if which == "src" else self.outer
        x0 = max(int(np.floor(self.x - reach)), xlim[0])
        x1 = min(int(np.ceil(self.x + reach)), xlim[1])
        y0 = max(int(np.floor(self.y - reach)), ylim[0])
        y1 = min(int(np.ceil(self.y + reach)), ylim[1])
        xs, ys = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
        inside = self.contains(xs, ys, which)
        return xs[inside], ys[inside]


def source_regions(wcs, ra_deg: float, dec_deg: float, radius_arcmin: float,
                   inner_factor: float, outer_factor: float, pixel_deg: float) -> SourceRegions:
    """Regions at (ra, dec) in the physical pixels of an event file's sky WCS (1-based)."""
    x, y = wcs.all_world2pix([[ra_deg, dec_deg]], 1)[0]
    radius = radius_arcmin / 60.0 / pixel_deg
    return SourceRegions(float(x), float(y), radius, radius * inner_factor, radius * outer_factor)


def write_region_files(regions: SourceRegions, ra_deg: float, dec_deg: float, radius_arcmin: float,
                       inner_factor: float, outer_factor: float, paths: dict) -> None:
    """DS9 files: 'src'/'bkg' in fk5 (RA/Dec in deg, radii in arcsec), 'src_phys'/'bkg_phys'
    in physical sky pixels, the frame extractor filters events in."""
    radius = radius_arcmin * 60.0
    sky = f"{DS9_HEADER}fk5\n"
    write_text(f'{sky}circle({ra_deg:.7f},{dec_deg:.7f},{radius:.4f}")\n', paths["src"])
    write_text(
        f'{sky}annulus({ra_deg:.7f},{dec_deg:.7f},{radius * inner_factor:.4f}",'
        f'{radius * outer_factor:.4f}")\n',
        paths["bkg"],
    )
    physical = f"{DS9_HEADER}physical\n"
    write_text(f"{physical}circle({regions.x:.4f},{regions.y:.4f},{regions.radius:.4f})\n",
               paths["src_phys"])
    write_text(
        f"{physical}annulus({regions.x:.4f},{regions.y:.4f},{regions.inner:.4f},"
        f"{regions.outer:.4f})\n",
        paths["bkg_phys"],
    )


SHAPE = re.compile(r"^(circle|annulus)\(([^)]*)\)", re.IGNORECASE)


def read_physical_regions(src_path, bkg_path) -> SourceRegions:
    """Read back the physical-frame circle and annulus that write_region_files wrote."""

    def shape(path, name):
        with open(path) as handle:
            for line in handle:
                match = SHAPE.match(line.strip())
                if match and match.group(1).lower() == name:
                    return [float(v) for v in match.group(2).split(",")]
        raise ValueError(f"{path}: no {name}(...) shape in physical coordinates")

    x, y, radius = shape(src_path, "circle")
    bx, by, inner, outer = shape(bkg_path, "annulus")
    if (bx, by) != (x, y):
        raise ValueError(f"{src_path} and {bkg_path}: circle and annulus centres differ")
    return SourceRegions(x, y, radius, inner, outer)


def make_source_regions(events_path, ra_deg: float, dec_deg: float, settings: dict,
                        paths: dict) -> SourceRegions:
    """Regions of one source from its skyfield's event-file geometry, written as DS9 files."""
    from .archive import read_events

    events = read_events(events_path, geometry_only=True)  # the WCS is all regions need
    regions = source_regions(events.wcs(), ra_deg, dec_deg, settings["source_radius_arcmin"],
                             settings["background_inner_factor"],
                             settings["background_outer_factor"], events.pixel_scale_deg)
    write_region_files(regions, ra_deg, dec_deg, settings["source_radius_arcmin"],
                       settings["background_inner_factor"], settings["background_outer_factor"],
                       paths)
    return regions
