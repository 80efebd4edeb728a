"""rassflow.products.regions: source circles, background annuli with neighbours cut out, and
their DS9 files in fk5 and in physical sky pixels, read back."""

import numpy as np
import pytest
from regions import Regions

from rassflow.archive.skyfield import read_events
from rassflow.products.regions import (
    SourceRegions,
    read_physical_regions,
    source_regions,
    write_region_files,
)
from tests.support.fits import write_events

RA, DEC = 150.0, 20.0


@pytest.fixture
def events(tmp_path):
    return read_events(write_events(tmp_path / "ev.fits", [1], [1], [1], [1.0]))


def regions_for(events, ra=RA, dec=DEC, **neighbours):
    return source_regions(
        events.wcs(), ra, dec, 2.0, 1.05, 1.5, events.pixel_scale_deg, **neighbours
    )


def offset(events, dx_pixels, dy_pixels=0.0):
    """(RA, Dec) of the sky pixel dx, dy away from the field centre (23040.5, 23040.5)."""
    ra, dec = events.wcs().all_pix2world([[23040.5 + dx_pixels, 23040.5 + dy_pixels]], 1)[0]
    return float(ra), float(dec)


def test_region_centre_and_radius_in_physical_pixels(events):
    regions = regions_for(events)
    assert (regions.x, regions.y) == pytest.approx((23040.5, 23040.5))
    assert regions.radius == pytest.approx(240.0, rel=1e-6)  # 2' of 0.5" pixels
    assert regions.outer / regions.radius == pytest.approx(1.5)


def test_region_files_round_trip(events, tmp_path):
    regions = regions_for(events, 150.01, 20.02)
    paths = {k: tmp_path / f"{k}.reg" for k in ("src", "bkg", "src_phys", "bkg_phys")}
    write_region_files(regions, 150.01, 20.02, 2.0, 1.05, 1.5, paths)
    back = read_physical_regions(paths["src_phys"], paths["bkg_phys"])
    assert back.x == pytest.approx(regions.x, abs=1e-4)
    assert back.outer == pytest.approx(regions.outer, abs=1e-4)
    # the sky files parse as DS9 with the intended geometry

    circle = Regions.read(paths["src"], format="ds9")[0]
    annulus = Regions.read(paths["bkg"], format="ds9")[0]
    assert circle.center.ra.deg == pytest.approx(150.01)
    assert circle.radius.to_value("arcsec") == pytest.approx(120.0)
    assert annulus.outer_radius.to_value("arcsec") == pytest.approx(180.0)
    assert "physical" in paths["bkg_phys"].read_text()


def test_only_neighbours_whose_circle_reaches_the_annulus_are_cut(events):
    # radius 240 sky pixels: annulus 252-360, exclusion radius 2' = 240 pixels
    reach = {
        "inside the source circle": 5.0,  # 5 < 252 - 240: its circle misses the annulus
        "just reaching in": 20.0,
        "in the annulus": 300.0,
        "just outside": 590.0,  # < 360 + 240
        "too far": 610.0,
    }
    neighbours = [offset(events, dx) for dx in reach.values()]
    regions = regions_for(events, neighbours=neighbours, exclusion_radius_arcmin=2.0)
    cut_x = [round(ex - regions.x) for ex, _, _ in regions.exclusions]
    assert cut_x == [20, 300, 590]
    assert {er for _, _, er in regions.exclusions} == {240.0}
    # without an exclusion radius nothing is cut
    assert regions_for(events, neighbours=neighbours).exclusions == ()


def test_contains_and_lattice_leave_out_the_excluded_pixels():
    regions = SourceRegions(100.5, 100.5, 20.0, 21.0, 30.0, ((125.5, 100.5, 4.0),))
    xs, ys = np.meshgrid(np.arange(1, 201), np.arange(1, 201))
    d2 = (xs - 100.5) ** 2 + (ys - 100.5) ** 2
    cut = (xs - 125.5) ** 2 + (ys - 100.5) ** 2 <= 16.0
    annulus = (d2 >= 21.0**2) & (d2 <= 30.0**2)
    inside = regions.contains(xs, ys, "bkg")
    np.testing.assert_array_equal(inside, annulus & ~cut)
    assert cut[annulus].sum() > 30  # the neighbour removes a real part of the annulus
    lx, ly = regions.lattice("bkg")
    assert sorted(zip(lx, ly, strict=True)) == sorted(zip(xs[inside], ys[inside], strict=True))
    sx, _ = regions.lattice("src")
    assert len(sx) == np.count_nonzero(d2 <= 400.0)
    # clipped at a field edge: only pixels with X >= 90 count
    clipped, _ = regions.lattice("bkg", xlim=(90, 46080))
    assert len(clipped) == np.count_nonzero(inside & (xs >= 90))


def test_exclusions_are_written_in_both_frames_and_read_back(events, tmp_path):
    neighbour = offset(events, 300.0, 40.0)
    regions = regions_for(events, neighbours=[neighbour], exclusion_radius_arcmin=2.0)
    paths = {k: tmp_path / f"{k}.reg" for k in ("src", "bkg", "src_phys", "bkg_phys")}
    write_region_files(regions, RA, DEC, 2.0, 1.05, 1.5, paths, wcs=events.wcs())
    assert read_physical_regions(paths["src_phys"], paths["bkg_phys"]) == regions
    lines = paths["bkg_phys"].read_text().splitlines()
    assert lines[1:] == [
        "physical",
        "annulus(23040.5000,23040.5000,252.0000,360.0000)",
        "-circle(23340.5000,23080.5000,240.0000)",
    ]
    annulus, cut = Regions.read(paths["bkg"], format="ds9")
    assert annulus.meta["include"] and not cut.meta["include"]
    assert (annulus.inner_radius.to_value("arcsec"), annulus.outer_radius.to_value("arcsec")) == (
        pytest.approx(126.0),
        pytest.approx(180.0),
    )
    assert cut.center.ra.deg == pytest.approx(neighbour[0], abs=1e-7)
    assert cut.center.dec.deg == pytest.approx(neighbour[1], abs=1e-7)
    assert cut.radius.to_value("arcsec") == pytest.approx(120.0)
    assert len(Regions.read(paths["src"], format="ds9")) == 1


def test_reading_back_refuses_files_that_do_not_belong_together(tmp_path):
    header = "# Region file format: DS9 version 4.1\nphysical\n"
    src, bkg, empty = tmp_path / "src.reg", tmp_path / "bkg.reg", tmp_path / "empty.reg"
    src.write_text(header + "circle(100.0000,100.0000,240.0000)\n")
    bkg.write_text(header + "annulus(101.0000,100.0000,252.0000,360.0000)\n")
    empty.write_text(header)
    with pytest.raises(ValueError, match="centres differ"):
        read_physical_regions(src, bkg)
    with pytest.raises(ValueError, match=r"empty.reg: no annulus\(...\)"):
        read_physical_regions(src, empty)
    with pytest.raises(ValueError, match=r"empty.reg: no circle\(...\)"):
        read_physical_regions(empty, bkg)


@pytest.mark.parametrize("strict", [False, True])
def test_row_spans_are_the_pixels_contains_keeps(strict):
    """regions.row_span (the square root where it is sure, the predicate elsewhere) against
    every pixel of the rows tested one by one, with centres and radii that put pixels
    exactly on the circle (integer and half-integer centres, radius 5 with its 3-4-5
    points, radii whose square is a sum of two squares) and random 4-decimal ones."""
    from rassflow.products.regions import row_span

    rng = np.random.default_rng(3)
    centres = [(100.0, 200.0), (100.5, 200.5), (100.0, 200.5)]
    centres += [tuple(np.round(rng.uniform(50, 60, 2), 4)) for _ in range(4)]
    for cx, cy in centres:
        for radius in (5.0, 25.0, 240.0, 480.0, 0.4, float(np.round(rng.uniform(1, 300), 4))):
            rows = np.floor(cy - radius) - 1 + np.arange(2 * int(np.ceil(radius)) + 4)
            dy2 = (rows - cy) ** 2
            lo, hi = row_span(cx, dy2, radius**2, strict)
            xs = np.arange(np.floor(cx - radius) - 2, np.ceil(cx + radius) + 3)
            d2 = (xs[None, :] - cx) ** 2 + dy2[:, None]
            inside = d2 < radius**2 if strict else d2 <= radius**2
            for row, keep in enumerate(inside):
                if keep.any():
                    assert (lo[row], hi[row]) == (xs[keep].min(), xs[keep].max())
                    assert keep.sum() == hi[row] - lo[row] + 1  # one interval per row
                else:
                    assert (lo[row], hi[row]) == (1.0, 0.0)
