"""Figures: each writes a real, non-blank PNG, also for degenerate inputs."""

from __future__ import annotations

import json

import matplotlib.image
import matplotlib.ticker
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from rassflow.files import compress_file
from rassflow.fitting.models import MODELS
from rassflow.fitting.result import (
    FLAGS_OK,
    CountsResult,
    FitResult,
    ModelResult,
    ParameterResult,
    PlotData,
)
from rassflow.report.plots import (
    _image_norm,
    apply_cuts,
    colorbar_ticks,
    delchi,
    grouped_spectrum_points,
    image_grid_figure,
    plot_cutouts,
    plot_image_grid,
    plot_parameter_histograms,
    plot_rate_comparison,
    plot_sample_fluxes,
    plot_spectra,
    plot_spectrum,
    write_table_html,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_real_png(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels[..., :3].var() > 0


def write_image(path, ra, dec, pixel_arcsec=45.0, size=64, seed=0):
    """A RASS-like counts image, north up, centred on (ra, dec)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
    wcs.wcs.cdelt = [-pixel_arcsec / 3600, pixel_arcsec / 3600]
    data = np.random.default_rng(seed).poisson(0.3, (size, size)).astype(np.int16)
    data[size // 2 - 1 : size // 2 + 2, size // 2 - 1 : size // 2 + 2] += 20  # a source
    fits.PrimaryHDU(data, header=wcs.to_header()).writeto(path)
    return path


@pytest.fixture
def sample_csv(tmp_path):
    path = tmp_path / "sample.csv"
    pd.DataFrame(
        {
            "id_name": ["CARMENES-10", "CARMENES-2", "CARMENES-3", "CARMENES-4"],
            "ra": [10.0, 10.02, 200.0, 50.0],
            "dec": [20.0, 20.01, -30.0, 5.0],
            "seq_id": ["RS930001N00", "RS930001N00", "RS930001N00", "RS930002N00"],
        }
    ).to_csv(path, index=False)
    return path


def test_cutouts_with_off_image_and_missing_image(sample_csv, tmp_path):
    image = write_image(tmp_path / "rs930001n00_im1.fits", 10.0, 20.0)
    compressed = compress_file(image, tmp_path / "rs930001n00_im1.fits.Z")
    out = tmp_path / "figs" / "cutouts.png"
    written = plot_cutouts(
        sample_csv,
        {"RS930001N00": compressed, "RS930002N00": tmp_path / "absent_im1.fits"},
        out,
    )
    assert written == [out]
    assert_real_png(out)


def test_cutouts_continue_on_further_pages(sample_csv, tmp_path):
    image = write_image(tmp_path / "im1.fits", 10.0, 20.0)
    out = tmp_path / "cutouts.png"
    written = plot_cutouts(sample_csv, {"RS930001N00": image}, out, max_per_page=3)
    assert written == [out, tmp_path / "cutouts_page2.png"]
    for path in written:
        assert_real_png(path)


def test_image_grid_bands_by_binnings(tmp_path):
    images = []
    for row, (lo, hi) in enumerate([(0.1, 0.4), (0.5, 2.0)]):
        for binning, pixel_arcsec in ((90, 45.0), (120, 60.0)):
            path = tmp_path / f"img_{lo}_{hi}_{binning}.fits"
            write_image(path, 10.0, 20.0, pixel_arcsec, seed=row + binning)
            images.append((lo, hi, binning, path))
    out = tmp_path / "grid.png"
    plot_image_grid(images, out, "RS930001N00")
    assert_real_png(out)
    with pytest.raises(FileNotFoundError, match="RS930001N00"):
        plot_image_grid([(0.1, 2.4, 90, tmp_path / "nothing.fits")], out, "RS930001N00")


def stretched_norms():
    """Log-stretch norms of RASS-like images: sparse to rich backgrounds, faint to bright
    sources."""
    rng = np.random.default_rng(3)
    for background, peak in ((0.02, 5), (0.05, 30), (0.3, 50), (2.0, 400), (0.0, 3)):
        data = rng.poisson(background, (256, 256)).astype(float)
        data[120:124, 120:124] += peak
        yield _image_norm(data)


@pytest.mark.parametrize("norm", list(stretched_norms()))
def test_colour_bar_ticks_spread_along_the_stretch(norm):
    ticks = colorbar_ticks(norm)
    positions = np.array([float(norm(value)) for value in ticks])
    assert ticks[0] == norm.vmin and 3 <= len(ticks) <= 5, ticks
    assert np.diff(positions).min() >= 0.15, (ticks, positions)
    assert positions[-1] > 0.75, (ticks, positions)  # the bright end is labelled
    for value in ticks[1:]:  # round numbers, or the whole count at the top
        mantissa = value / 10 ** np.floor(np.log10(value))
        assert np.isclose(mantissa, [1, 2, 5]).any() or value == np.floor(norm.vmax), ticks
    # what the ticks replace: matplotlib's, even in counts, crowd into the top of the bar
    default = matplotlib.ticker.MaxNLocator().tick_values(norm.vmin, norm.vmax)
    default = [v for v in default if norm.vmin <= v <= norm.vmax]
    if norm.vmax - norm.vmin > 10:
        assert np.diff([float(norm(v)) for v in default]).min() < 0.15


@pytest.mark.parametrize("dec", [20.0, 84.0])
def test_image_grid_labels_do_not_overlap(tmp_path, dec):
    """Colour-bar tick labels clear of each other; each panel's title above everything else of
    its panel (tick and axis labels) and clear of every other panel and colour bar."""
    import matplotlib.pyplot as plt

    images = []
    for lo, hi in ((0.1, 0.4), (0.5, 2.0)):
        for binning, pixel_arcsec in ((180, 90.0), (270, 135.0)):
            path = tmp_path / f"img-{lo}-{binning}.fits"
            write_image(path, 290.0, dec, pixel_arcsec, size=200, seed=binning)
            with fits.open(path, mode="update") as hdus:  # a bright source: a long colour scale
                hdus[0].data[95:105, 95:105] += 40
            images.append((lo, hi, binning, path))
    fig = image_grid_figure(images, "RS930001N00")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        panels = [ax for ax in fig.axes if hasattr(ax, "coords")]
        bars = [ax for ax in fig.axes if ax not in panels]
        assert len(panels) == len(bars) == 4
        for bar in bars:
            labels = [label for label in bar.get_yticklabels() if label.get_text()]
            boxes = sorted(
                (label.get_window_extent(renderer) for label in labels), key=lambda b: b.y0
            )
            assert len(boxes) >= 3
            for lower, upper in zip(boxes, boxes[1:], strict=False):
                assert lower.y1 <= upper.y0, [label.get_text() for label in labels]
        for ax in panels:
            title = ax.title.get_window_extent(renderer)
            ax.title.set_visible(False)
            rest = ax.get_tightbbox(renderer)
            ax.title.set_visible(True)
            assert title.y0 >= rest.y1, f"{ax.title.get_text()}: a label reaches into the title"
            for other in panels + bars:
                if other is not ax:
                    assert not title.overlaps(other.get_tightbbox(renderer)), ax.title.get_text()
    finally:
        plt.close(fig)


def fit_result(id_name, statuses=("ok", "ok")):
    x = np.geomspace(0.15, 1.9, 12)
    data = (x, 0.05 * x, 3 * np.exp(-x / 0.3), 0.3 + 0 * x)
    models = {}
    for name, status in zip(("bbody", "powerlaw"), statuses, strict=True):
        if status == "ok":
            shape, norm = MODELS[name]["parameters"]
            shape_unit = MODELS[name]["units"][0]
            parameters = {
                shape: ParameterResult.from_bounds(0.11, None, None, FLAGS_OK, shape_unit),
                norm: ParameterResult.from_bounds(2e-5, None, None, FLAGS_OK, ""),
            }
            plot = PlotData.from_arrays(*data, model=3 * np.exp(-x / 0.31))
            models[name] = ModelResult.ok(12.3, 10, None, parameters, {}, plot)
        else:
            reason = "2 groups noticed, need more than 2"
            models[name] = ModelResult.unfitted(name, status, reason)
    return FitResult(
        id_name=id_name,
        fitter="sherpa",
        fitter_version="4.19.0",
        statistic="wstat",
        counts=CountsResult(source=40, background=12, backscal_ratio=0.9),
        exposure_s=350.0,
        noticed_groups=12,
        noticed_channels=30,
        models=models,
    )


def test_spectrum_with_models_and_without(tmp_path):
    path = tmp_path / "CARMENES-2.json"
    fit_result("CARMENES-2").write(path)
    plot_spectrum(path, tmp_path / "fitted.png")
    assert_real_png(tmp_path / "fitted.png")
    plot_spectrum(fit_result("CARMENES-7", ("not_fitted", "not_fitted")), tmp_path / "none.png")
    assert_real_png(tmp_path / "none.png")
    plot_spectrum(fit_result("CARMENES-8", ("ok", "failed")).to_json(), tmp_path / "one.png")
    assert_real_png(tmp_path / "one.png")


def test_spectra_one_png_per_source(tmp_path):
    paths = []
    for id_name in ("CARMENES-2", "CARMENES-10"):
        path = tmp_path / f"{id_name}.json"
        fit_result(id_name).write(path)
        paths.append(path)
    written = plot_spectra(paths, tmp_path / "spectra")
    assert sorted(p.name for p in written) == ["CARMENES-10.png", "CARMENES-2.png"]
    for path in written:
        assert_real_png(path)


def test_spectra_reject_an_invalid_fit_result(tmp_path):
    data = fit_result("CARMENES-2").to_json()
    del data["id_name"]
    path = tmp_path / "CARMENES-2.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"CARMENES-2\.json: id_name: missing"):
        plot_spectra([path], tmp_path / "spectra")


@pytest.fixture
def results_csv(tmp_path):
    rng = np.random.default_rng(3)
    n = 30
    kt = rng.uniform(0.08, 0.3, n)
    index = rng.uniform(1.5, 4.0, n)
    table = pd.DataFrame(
        {
            "id_name": [f"CARMENES-{i}" for i in range(n)],
            "bbody_kT": kt,
            "bbody_kT_err-": 0.2 * kt,
            "bbody_kT_err+": 0.2 * kt,
            "bbody_kT_good_err": [i % 5 != 0 for i in range(n)],  # 6 flagged
            "bbody_status": ["ok"] * (n - 2) + ["failed", "missing"],
            "powerlaw_PhoIndex": index,
            "powerlaw_PhoIndex_err-": 0.3 * index,
            "powerlaw_PhoIndex_err+": 2.5 * index,  # relative error 1.4 for all but 4
            "powerlaw_PhoIndex_good_err": True,
            "powerlaw_status": "ok",
        }
    )
    table.loc[:3, "powerlaw_PhoIndex_err+"] = 0.3 * index[:4]
    path = tmp_path / "results.csv"
    table.to_csv(path, index=False)
    return path


def test_parameter_histograms_state_the_cuts(results_csv, tmp_path):
    out = tmp_path / "hist.png"
    summary = plot_parameter_histograms(results_csv, out, {"max_relative_error": 1.0})
    assert_real_png(out)
    kt_steps = dict(summary["bbody_kT"])
    assert kt_steps["sources"] == 30
    assert kt_steps["status ok"] == 28
    assert kt_steps["good_err"] == 22  # rows 0, 5, ..., 25 are flagged
    assert summary["bbody_kT"][-1][1] == 22
    assert summary["powerlaw_PhoIndex"][-1][1] == 4


def test_histograms_when_nothing_passes(results_csv, tmp_path):
    out = tmp_path / "empty.png"
    summary = plot_parameter_histograms(results_csv, out, {"status": "not_a_status"})
    assert_real_png(out)
    assert all(steps[-1][1] == 0 for steps in summary.values())


def test_unknown_cut_is_an_error(results_csv):
    with pytest.raises(KeyError, match="max_chi2"):
        apply_cuts(pd.read_csv(results_csv), "bbody", "kT", {"max_chi2": 2})


def test_histograms_with_one_model_only(tmp_path):
    import pandas as pd

    from rassflow.report.plots import plot_parameter_histograms

    table = pd.DataFrame(
        {
            "id_name": ["S1", "S2"],
            "bbody_kT": [0.1, 0.2],
            "bbody_kT_err-": [0.01, 0.02],
            "bbody_kT_err+": [0.01, 0.02],
            "bbody_kT_good_err": [True, True],
            "bbody_status": ["ok", "ok"],
        }
    )
    table.to_csv(tmp_path / "results.csv", index=False)
    summary = plot_parameter_histograms(tmp_path / "results.csv", tmp_path / "h.png")
    assert list(summary) == ["bbody_kT"]
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"


def write_regions(directory, name, ra, dec, neighbour=None):
    """DS9 fk5 source and background region files as rassflow.products.regions writes them."""
    src = directory / f"{name}-src.reg"
    bkg = directory / f"{name}-bkg.reg"
    head = "# Region file format: DS9 version 4.1\nfk5\n"
    src.write_text(head + f'circle({ra},{dec},120.0000")\n')
    cut = f'-circle({neighbour[0]},{neighbour[1]},120.0000")\n' if neighbour else ""
    bkg.write_text(head + f'annulus({ra},{dec},126.0000",180.0000")\n' + cut)
    return src, bkg


def test_crowded_source_labels_are_thinned_not_stacked(tmp_path):
    """In a dense field each shown label is clear of every other and inside its panel; the
    circles of the sources whose labels are left out are still drawn."""
    import matplotlib.pyplot as plt

    path = write_image(tmp_path / "img.fits", 10.0, 20.0, 45.0, size=128)
    rng = np.random.default_rng(5)
    regions = []
    for i in range(40):  # 40 sources in the inner 0.4 deg of a 1.6 deg image
        ra, dec = 10.0 + rng.uniform(-0.2, 0.2), 20.0 + rng.uniform(-0.2, 0.2)
        regions.append((f"CARMENES-{i}", *write_regions(tmp_path, f"S{i}", ra, dec)))
    regions.append(("EDGE-1", *write_regions(tmp_path, "E1", 10.0, 20.79)))  # at the top edge
    fig = image_grid_figure([(0.5, 2.0, 90, path)], "RS930001N00", regions)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        (ax,) = [ax for ax in fig.axes if hasattr(ax, "coords")]
        frame = ax.get_window_extent(renderer)
        texts = [text for text in ax.texts if text.get_text().startswith(("CARMENES", "EDGE"))]
        assert len(texts) == 41
        shown = [text.get_window_extent(renderer) for text in texts if text.get_visible()]
        assert 3 <= len(shown) < 41
        for i, box in enumerate(shown):
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1
            assert frame.y0 <= box.y0 and box.y1 <= frame.y1
            assert not any(box.overlaps(other) for other in shown[i + 1 :])
        assert any(t.get_text() == "EDGE-1" and t.get_visible() for t in texts)  # turned inward
        assert len(ax.patches) + len(ax.artists) >= 2 * 41  # every circle and annulus drawn
    finally:
        plt.close(fig)


def test_image_norm_shows_single_counts():
    """A log stretch from percentiles: one background count is visible, not black."""
    data = np.zeros((100, 100))
    data[::7, ::5] = 1.0  # sparse background counts
    data[48:53, 48:53] = 400.0  # a bright source, 25 pixels
    norm = _image_norm(data)
    assert 0.05 < float(norm(1.0)) < 0.5
    assert float(norm(400.0)) == pytest.approx(1.0)
    # a lone bright pixel lies above the upper percentile: it saturates, the rest shows
    data[48:53, 48:53] = 0.0
    data[10, 10] = 400.0
    assert float(_image_norm(data)(1.0)) > 0.05


def test_cutouts_draw_regions_and_paginate(sample_csv, tmp_path):
    image = write_image(tmp_path / "im1.fits", 10.0, 20.0)
    regions = {"CARMENES-10": write_regions(tmp_path, "CARMENES-10", 10.0, 20.0, (10.03, 20.0))}
    out = tmp_path / "cutouts.png"
    written = plot_cutouts(sample_csv, {"RS930001N00": image}, out, max_per_page=2, regions=regions)
    assert written == [out, tmp_path / "cutouts_page2.png"]
    for path in written:
        assert_real_png(path)
    # both pages have the first page's panel width (one grid throughout)
    widths = {matplotlib.image.imread(path).shape[1] for path in written}
    assert len(widths) == 1


def test_image_grid_with_regions(tmp_path):
    path = write_image(tmp_path / "img.fits", 10.0, 20.0, 45.0)
    src, bkg = write_regions(tmp_path, "S1", 10.0, 20.0)
    out = tmp_path / "grid.png"
    plot_image_grid([(0.5, 2.0, 90, path)], out, "RS930001N00", [("S1", src, bkg)])
    assert_real_png(out)


def test_delchi_is_data_minus_model_over_error():
    assert delchi([3.0, 1.0, 2.0], [1.0, 0.5, 0.0], [1.0, 2.0, 2.0])[:2].tolist() == [2.0, -2.0]
    assert np.isnan(delchi([2.0], [0.0], [1.0])[0])


def write_grouped(tmp_path, exposure=100.0):
    """A grouped spectrum with RESPFILE and BACKFILE, a background and an RMF EBOUNDS."""
    n = 20
    edges = np.linspace(0.05, 2.5, n + 1)
    ebounds = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "J", array=np.arange(1, n + 1)),
            fits.Column("E_MIN", "E", array=edges[:-1]),
            fits.Column("E_MAX", "E", array=edges[1:]),
        ],
        name="EBOUNDS",
    )
    fits.HDUList([fits.PrimaryHDU(), ebounds]).writeto(tmp_path / "resp.rmf")
    counts = np.full(n, 4)
    grouping = np.ones(n, dtype=np.int16)
    grouping[5:8] = [1, -1, -1]  # one group of three channels
    quality = np.zeros(n, dtype=np.int16)
    quality[-1] = 2  # a bad trailing group
    header = fits.Header({"EXPOSURE": exposure, "BACKSCAL": 1.0, "RESPFILE": "resp.rmf"})
    header["BACKFILE"] = "bkg.pha"
    columns = [
        fits.Column("CHANNEL", "J", array=np.arange(1, n + 1)),
        fits.Column("COUNTS", "J", array=counts),
        fits.Column("QUALITY", "I", array=quality),
        fits.Column("GROUPING", "I", array=grouping),
    ]
    spectrum = fits.BinTableHDU.from_columns(columns, header=header, name="SPECTRUM")
    fits.HDUList([fits.PrimaryHDU(), spectrum]).writeto(tmp_path / "grp.fits")
    bkg_header = fits.Header({"EXPOSURE": exposure, "BACKSCAL": 4.0})
    background = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "J", array=np.arange(1, n + 1)),
            fits.Column("COUNTS", "J", array=np.full(n, 8)),
        ],
        header=bkg_header,
        name="SPECTRUM",
    )
    fits.HDUList([fits.PrimaryHDU(), background]).writeto(tmp_path / "bkg.pha")
    return tmp_path / "grp.fits", edges


def test_grouped_spectrum_points_mark_ignored_groups(tmp_path):
    grouped, edges = write_grouped(tmp_path)
    points = grouped_spectrum_points(grouped, (0.11, 2.02))
    assert len(points["x"]) == 18  # 20 channels, one group of three
    width = edges[1] - edges[0]
    # (4 - 8/4) net counts over 100 s and one channel's width; error sqrt(4 + 8/16)
    assert points["y"][0] == pytest.approx(2.0 / (100 * width))
    assert points["yerr"][0] == pytest.approx(np.sqrt(4.5) / (100 * width))
    lo, hi = points["x"] - points["xerr"], points["x"] + points["xerr"]
    inside = (lo >= 0.11 - 1e-6) & (hi < 2.02)
    inside[-1] = False  # QUALITY 2
    assert points["noticed"].tolist() == inside.tolist()
    assert grouped_spectrum_points(tmp_path / "absent.fits", (0.11, 2.02)) is None


def test_spectrum_with_ignored_groups(tmp_path):
    grouped, _ = write_grouped(tmp_path)
    fit = fit_result("CARMENES-2")
    fit = FitResult.from_json({**fit.to_json(), "energy_range_keV": [0.11, 2.02]})
    plot_spectrum(fit, tmp_path / "spec.png", grouped)
    assert_real_png(tmp_path / "spec.png")
    written = plot_spectra([], tmp_path / "none", {"CARMENES-2": grouped})
    assert written == []


@pytest.fixture
def photometry_tables(tmp_path):
    ids = [f"S{i}" for i in range(1, 7)]
    photometry = pd.DataFrame(
        {
            "id_name": ids + ["S7"],
            "net_rate": [1.0, 0.5, 0.1, 2.0, 0.0, 0.3, np.nan],
            "net_rate_lo": [0.9, 0.45, 0.08, 1.9, 0.0, 0.25, np.nan],
            "net_rate_hi": [1.1, 0.55, 0.12, 2.1, 0.01, 0.35, np.nan],
            "rate_ul": [1.2, 0.6, 0.14, 2.2, 0.02, 0.4, np.nan],
            "detected": [True, True, True, True, False, True, np.nan],
            "exposure_s": [300.0, 400, 500, 250, 350, 450, np.nan],
            "flux_0.5-2.0keV": [1e-12, 5e-13, 1e-13, 2e-12, 0.0, 3e-13, np.nan],
            "flux_0.5-2.0keV_lo": [9e-13, 4e-13, 8e-14, 1.9e-12, 0.0, 2e-13, np.nan],
            "flux_0.5-2.0keV_hi": [1.1e-12, 6e-13, 1.2e-13, 2.1e-12, 1e-14, 4e-13, np.nan],
            "flux_ul_0.5-2.0keV": [1.2e-12, 6e-13, 1.4e-13, 2.2e-12, 2e-14, 4e-13, np.nan],
            "status": ["ok"] * 6 + ["not_covered"],
        }
    )
    sample = pd.DataFrame(
        {
            "id_name": ["S1", "S2", "S3", "S4", "S5"],
            "rasscat_count_rate": [1.05, 0.5, 0.4, 2.0, 0.5],  # S3: 4x brighter; S5: not seen
            "rasscat_count_rate_error": [0.05, 0.05, 0.02, 0.1, 0.05],
        }
    )
    photometry.to_csv(tmp_path / "photometry.csv", index=False)
    sample.to_csv(tmp_path / "sample.csv", index=False)
    return tmp_path / "photometry.csv", tmp_path / "sample.csv"


def test_rate_comparison_labels_outliers(photometry_tables, tmp_path):
    photometry, sample = photometry_tables
    summary = plot_rate_comparison(photometry, sample, tmp_path / "rates.png")
    assert_real_png(tmp_path / "rates.png")
    assert summary["sources"] == 5 and summary["detected"] == 4
    assert summary["outliers"] == ["S3", "S5"]


def test_sample_fluxes_with_upper_limits(photometry_tables, tmp_path):
    photometry, _ = photometry_tables
    summary = plot_sample_fluxes(photometry, tmp_path / "fluxes.png")
    assert_real_png(tmp_path / "fluxes.png")
    assert summary == {"0.5-2.0keV": {"quantity": "flux", "measured": 6, "detected": 5, "shown": 6}}
    table = pd.read_csv(photometry)
    table["distance_pc"] = [5.0, 10, 20, np.nan, 8, 12, np.nan]
    for suffix in ("", "_lo", "_hi"):
        table[f"lx_0.5-2.0keV{suffix}"] = table[f"flux_0.5-2.0keV{suffix}"] * 1e38
    table["lx_ul_0.5-2.0keV"] = table["flux_ul_0.5-2.0keV"] * 1e38
    table.to_csv(tmp_path / "with_lx.csv", index=False)
    summary = plot_sample_fluxes(tmp_path / "with_lx.csv", tmp_path / "lx.png")
    assert_real_png(tmp_path / "lx.png")
    assert summary["0.5-2.0keV"]["quantity"] == "L_X"
    assert summary["0.5-2.0keV"]["shown"] == 5  # S4 has no distance


def test_table_html_one_row_per_source(results_csv, tmp_path):
    out = write_table_html(results_csv, tmp_path / "table.html", "Results <test>")
    page = out.read_text()
    assert page.count("<tr data-id=") == 30
    assert '<tr data-id="CARMENES-7">' in page
    assert "Results &lt;test&gt;" in page


LARGE = 200_000  # rows of the large synthetic tables (a catalog-scale sample)


@pytest.fixture(scope="module")
def large_tables(tmp_path_factory):
    """A synthetic photometry table of LARGE members within 100 pc (a tenth X-ray emitters,
    the rest blank: upper limits) and the 2RXS rates of half of them, and a results-like
    CSV beside its FITS."""
    tmp = tmp_path_factory.mktemp("large")
    rng = np.random.default_rng(7)
    n = LARGE
    exposure = 10 ** rng.uniform(2.0, 3.0, n)  # s
    true_rate = np.where(rng.random(n) < 0.1, 10 ** rng.normal(-1.5, 0.7, n), 0.0)  # ct/s
    background = 0.5  # expected counts in the circle
    counts = rng.poisson((true_rate * exposure) + background)
    net = (counts - background) / exposure
    error = np.sqrt(counts + 1.0) / exposure
    detected = counts >= 6  # ~3 sigma above 0.5 background counts
    ul = (counts + 3.0 * np.sqrt(counts + 1.0) + 1.0) / exposure
    ecf = 1e-11  # erg/cm2 per count
    distance = 100.0 * rng.random(n) ** (1 / 3)  # pc, uniform in volume
    to_lx = 4 * np.pi * (distance * 3.0857e18) ** 2
    ids = [f"S-{k}" for k in range(1, n + 1)]
    table = pd.DataFrame(
        {
            "id_name": ids,
            "net_rate": net,
            "net_rate_lo": net - error,
            "net_rate_hi": net + error,
            "rate_ul": ul,
            "detected": detected,
            "exposure_s": exposure,
            "flux_0.5-2.0keV": net * ecf,
            "flux_0.5-2.0keV_lo": (net - error) * ecf,
            "flux_0.5-2.0keV_hi": (net + error) * ecf,
            "flux_ul_0.5-2.0keV": ul * ecf,
            "distance_pc": distance,
            "lx_0.5-2.0keV": net * ecf * to_lx,
            "lx_0.5-2.0keV_lo": (net - error) * ecf * to_lx,
            "lx_0.5-2.0keV_hi": (net + error) * ecf * to_lx,
            "lx_ul_0.5-2.0keV": ul * ecf * to_lx,
            "status": np.where(rng.random(n) < 0.02, "not_covered", "ok"),
        }
    )
    table.to_csv(tmp / "photometry.csv", index=False)
    # every emitter has a 2RXS match; 5 % of the blank positions a wrong or faded one
    matched = (true_rate > 0) | (rng.random(n) < 0.05)
    rxs = np.where(true_rate > 0, true_rate, 10 ** rng.normal(-1.5, 0.5, n))
    sample = pd.DataFrame(
        {
            "id_name": np.array(ids)[matched],
            "rasscat_count_rate": (rxs * 10 ** rng.normal(0.0, 0.1, n))[matched],
            "rasscat_count_rate_error": (0.1 * rxs)[matched],
        }
    )
    sample.to_csv(tmp / "sample.csv", index=False)
    (tmp / "photometry.fits").write_bytes(b"")  # the download the page names
    return tmp / "photometry.csv", tmp / "sample.csv"


def test_rate_comparison_of_a_large_sample_is_a_density(large_tables, tmp_path):
    photometry, sample = large_tables
    out = tmp_path / "rates.png"
    summary = plot_rate_comparison(photometry, sample, out)
    assert_real_png(out)
    assert 0.1 * LARGE < summary["sources"] < 0.2 * LARGE
    assert summary["detected"] > 3000 and summary["sources"] - summary["detected"] > 3000
    assert len(summary["outliers"]) > 25  # more than are labelled


def test_sample_fluxes_of_a_large_sample_is_a_density(large_tables, tmp_path):
    photometry, _ = large_tables
    summary = plot_sample_fluxes(photometry, tmp_path / "lx.png")
    assert_real_png(tmp_path / "lx.png")
    band = summary["0.5-2.0keV"]
    assert band["quantity"] == "L_X" and band["measured"] > 0.95 * LARGE
    assert band["detected"] > 3000 and band["shown"] > band["detected"] + 3000


def test_table_html_of_a_large_table_is_a_bounded_preview(large_tables, tmp_path):
    photometry, _ = large_tables
    out = write_table_html(photometry, tmp_path / "photometry.html", "Photometry")
    page = out.read_text()
    assert page.count("<tr data-id=") == 1000
    assert '<tr data-id="S-1000">' in page and '<tr data-id="S-1001">' not in page
    assert "the first 1,000 of 200,000 rows" in page
    assert "<code>photometry.csv</code> and <code>photometry.fits</code>" in page
    assert out.stat().st_size < 1_000_000  # bytes


def test_table_html_preview_length_is_a_parameter(results_csv, tmp_path):
    out = write_table_html(results_csv, tmp_path / "table.html", "Results", max_rows=10)
    page = out.read_text()
    assert page.count("<tr data-id=") == 10
    assert "the first 10 of 30 rows" in page
    assert f"<code>{results_csv.name}</code> (downloads" in page
    whole = write_table_html(results_csv, tmp_path / "whole.html", "Results", max_rows=30)
    assert "Preview" not in whole.read_text() and whole.read_text().count("<tr data-id=") == 30


def test_psf_calibration_figure_shows_the_profile_and_the_models(tmp_path):
    """The stacked profile of a sky drawn with the GOF FAQ's PSF: the figure is written, and
    its numbers say the fitted mixture and that description match the profile far better
    than PSFOFF."""
    from rassflow.calibration.psf_stack import fit_weight, stack_counts, write_calibration
    from rassflow.report.plots import plot_psf_calibration
    from tests.calibration.test_psf_stack import RADIUS_ARCMIN, drawn_with, stacked_sky

    events, centres = stacked_sky(np.random.default_rng(9), drawn_with("gof_faq"))
    calibration = fit_weight(stack_counts(events, centres, RADIUS_ARCMIN), RADIUS_ARCMIN)
    profile = calibration["profile"]
    assert sum(profile["counts"]) == calibration["counts"]
    for key in ("model", "model_psfoff", "model_gof_faq"):  # each cell's counts are kept
        assert sum(profile[key]) == pytest.approx(calibration["counts"], rel=1e-6)
    write_calibration(calibration, tmp_path / "psf-calibration.json")
    out = tmp_path / "psf-calibration.png"
    shown = plot_psf_calibration(tmp_path / "psf-calibration.json", out)
    assert out.stat().st_size > 20_000
    chi2 = shown["chi2"]
    assert chi2["model"] < 2 * len(profile["counts"])
    assert chi2["model_psfoff"] > 5 * chi2["model"]
    assert chi2["model_gof_faq"] < 2 * chi2["model"] + 10
