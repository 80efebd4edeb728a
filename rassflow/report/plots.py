"""Figures: image cutouts, skyfield image grids, fitted spectra with residuals, parameter
histograms, measured against 2RXS count rates, the sample's fluxes or L_X with upper limits,
and browsable HTML renderings of the result tables.

Every figure is written atomically and closed; a source or image that cannot be shown
becomes an annotated empty panel rather than an error, so one bad input never stops a report.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.patheffects  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rassflow.catalog.sample import natural_key  # noqa: E402
from rassflow.files import atomic_path, is_unix_compressed  # noqa: E402
from rassflow.fitting.result import FitResult, ModelResult  # noqa: E402
from rassflow.status import marker_reason  # noqa: E402

MODEL_STYLES = {
    "bbody": ("Blackbody", "firebrick"),
    "powerlaw": ("Power law", "teal"),
    "tbabs*bbody": ("Absorbed blackbody (tbabs)", "darkorange"),
    "tbabs*powerlaw": ("Absorbed power law (tbabs)", "royalblue"),
    "phabs*bbody": ("Absorbed blackbody (phabs)", "chocolate"),
    "phabs*powerlaw": ("Absorbed power law (phabs)", "slateblue"),
}
ENERGY_TICKS_KEV = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0)
STATISTIC_LABELS = {"wstat": "W-stat", "cstat": "C-stat", "chi2": "chi2"}

# Histograms of these (model's column prefix, parameter, axis label) after the cuts; those
# of models that were not fitted are left out.
HISTOGRAM_PARAMETERS = (
    ("bbody", "kT", "Blackbody kT (keV)"),
    ("powerlaw", "PhoIndex", "Power-law photon index"),
    *(
        (f"{absorber}_{base}", par, f"{absorber}*{base} {label}")
        for absorber in ("tbabs", "phabs")
        for base, shape in (("bbody", ("kT", "kT (keV)")), ("powerlaw", ("PhoIndex", "PhoIndex")))
        for par, label in (("nH", "nH (10^22 cm^-2)"), shape)
    ),
)
DEFAULT_CUTS = {
    "status": "ok",
    "require_good_err": True,
    "require_positive_errors": True,  # the notebook keeps only err- > 0 and err+ > 0
    "max_relative_error": 1.0,  # (err- + err+) / 2 / |value|
    # the notebook drops photon indices near XSPEC's hard limit of 10 as failed fits
    "value_limits": {"bbody_kT": [0.0, None], "powerlaw_PhoIndex": [None, 9.5]},
}


def _save(fig, out_png) -> Path:
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(out_png)


def _note(ax, text: str) -> None:
    """An empty panel that says why it is empty."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=8, color="dimgrey")


def read_image(path: str | os.PathLike):
    """(data, WCS) of the first 2-D image in a FITS file, plain or unix-compressed (.Z)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    path = Path(path)
    if is_unix_compressed(path):
        import ncompress

        source = io.BytesIO(ncompress.decompress(path.read_bytes()))
    else:
        source = path
    with fits.open(source) as hdus:
        for hdu in hdus:
            if hdu.is_image and hdu.data is not None and hdu.data.ndim == 2:
                return np.asarray(hdu.data, dtype=float), WCS(hdu.header)
    raise ValueError(f"{path} holds no 2-D image")


def _image_norm(data, lower_percentile: float = 0.5, upper_percentile: float = 99.95):
    """Log stretch, log(1 + a x), between two percentiles of the finite pixels.

    RASS images are sparse counts: a linear min-max stretch shows the few bright sources
    and leaves the diffuse background and faint sources black. ``a`` puts the typical
    non-empty pixel (the median of the positive ones: one or two background counts) at
    about a tenth of the colour scale, so that single background counts, faint sources and
    bright cores (near the upper percentile) all show.
    """
    from astropy.visualization import ImageNormalize, LogStretch

    finite = data[np.isfinite(data)]
    if finite.size == 0 or finite.max() <= finite.min():
        low = float(finite.min()) if finite.size else 0.0
        return matplotlib.colors.Normalize(vmin=low, vmax=low + 1.0)
    low, high = (float(v) for v in np.percentile(finite, [lower_percentile, upper_percentile]))
    if high <= low:  # mostly empty pixels: stretch up to the brightest one
        high = float(finite.max())
    above = finite[finite > low]
    unit = float(np.median(above)) - low if above.size else high - low
    a = max((high - low) / max(unit, 1e-12), 2.0)
    return ImageNormalize(vmin=low, vmax=high, stretch=LogStretch(a), clip=True)


def colorbar_ticks(norm, max_ticks: int = 5, min_gap: float = 0.15) -> list[float]:
    """Tick values for the colour bar of a stretched image: round numbers (1, 2, 5 x 10^k, the
    lower limit and, on a scale of several counts, the whole count at the top) spread evenly
    along the bar, that is in the stretched coordinate ``norm(value)``, and at least
    ``min_gap`` of the bar apart, so that no two labels touch.

    A log stretch gives most of the bar to the faint end; ticks chosen evenly in counts
    (matplotlib's default) crowd into its top tenth, their labels over one another.
    """
    low, high = float(norm.vmin), float(norm.vmax)
    if not high > low:
        return [low]
    decade = math.floor(math.log10(max(abs(low), abs(high))))
    # whole counts once the scale reaches a few of them
    first = 0 if high - low >= 3 else decade - 4
    candidates = {low} | {
        m * 10.0**k
        for k in range(first, decade + 1)
        for m in (1, 2, 5)
        if low <= m * 10.0**k <= high
    }
    if high - low >= 3:
        candidates.add(float(math.floor(high)))  # the top of the bar, in whole counts
    if low < 0 < high:
        candidates.add(0.0)
    position = {value: float(norm(value)) for value in candidates}
    # from the two ends inwards: each time the round number farthest from every tick so far,
    # while it is at least min_gap from them
    ticks = [low]
    top = max(candidates)
    if position[top] - position[low] >= min_gap:
        ticks.append(top)
    while len(ticks) < max_ticks:
        free = [value for value in candidates if value not in ticks]
        if not free:
            break
        gap, value = max((min(abs(position[v] - position[t]) for t in ticks), v) for v in free)
        if gap < min_gap:
            break
        ticks.append(value)
    return sorted(ticks)


def read_regions(path) -> list:
    """The sky regions of a DS9 region file; [] for a failure marker or an unreadable file
    (a figure shows what it can)."""
    if path is None or not Path(path).is_file() or marker_reason(path) is not None:
        return []
    from regions import Regions

    try:
        return list(Regions.read(str(path), format="ds9"))
    except Exception:  # noqa: BLE001 - a broken region file only loses its overlay
        return []


def _draw_regions(ax, wcs, regions, source_colour="cyan", background_colour="lime") -> int:
    """Draw source and background regions on a WCSAxes; returns how many were drawn.

    Included shapes of the source file are solid, of the background file dashed; excluded
    shapes (DS9 ``-circle``, the neighbours cut out of the annulus) are red and dotted.
    """
    drawn = 0
    for kind, shapes in regions:
        for shape in shapes:
            try:
                pixel = shape.to_pixel(wcs)
            except Exception:  # noqa: BLE001 - a region off the image's projection
                continue
            include = shape.meta.get("include", True)
            colour = (source_colour if kind == "src" else background_colour) if include else "red"
            style = ("-" if kind == "src" else "--") if include else ":"
            ax.add_artist(pixel.as_artist(edgecolor=colour, facecolor="none", lw=1.0, ls=style))
            drawn += 1
    return drawn


def _grid(count: int, ncols: int | None = None) -> tuple[int, int]:
    ncols = ncols or max(1, math.ceil(math.sqrt(count)))
    return max(1, math.ceil(count / ncols)), ncols


def _page_path(out_png, page: int) -> Path:
    out_png = Path(out_png)
    return out_png if page == 0 else out_png.with_name(f"{out_png.stem}_page{page + 1}.png")


def plot_cutouts(
    sample_csv,
    image_paths: dict,
    out_png,
    half_size_arcmin: float = 3.0,
    max_per_page: int = 64,
    marker_radius_arcmin: float = 1.0,
    regions: dict | None = None,
) -> list[Path]:
    """A grid of image cutouts centred on every sample source.

    ``image_paths`` maps seq_id to the skyfield's image (e.g. the archive's _im1 file).
    ``regions`` maps id_name to its (source, background) DS9 fk5 region files, drawn as they
    were extracted (source circle solid, background annulus dashed, excluded neighbours red);
    a source without them gets a circle of ``marker_radius_arcmin`` at its position.
    More than ``max_per_page`` sources continue on ``{stem}_page2.png`` etc.; the written
    paths are returned.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D, NoOverlapError
    from astropy.visualization.wcsaxes import SphericalCircle

    sample = pd.read_csv(sample_csv, dtype={"seq_id": str}, low_memory=False)
    absent = [c for c in ("id_name", "ra", "dec", "seq_id") if c not in sample.columns]
    if absent:
        raise ValueError(f"sample table {sample_csv} lacks column(s): {', '.join(absent)}")
    sample = sample.sort_values("id_name", key=lambda names: names.map(natural_key))
    regions = regions or {}
    images = {}  # seq_id -> (data, wcs) or the reason it cannot be shown

    def image_for(seq_id):
        if seq_id not in images:
            path = image_paths.get(seq_id)
            if path is None or not Path(path).exists():
                images[seq_id] = f"no image for {seq_id}"
            else:
                try:
                    images[seq_id] = read_image(path)
                except (OSError, ValueError) as error:
                    images[seq_id] = f"unreadable image {Path(path).name}: {error}"
        return images[seq_id]

    rows = list(sample.itertuples(index=False))
    if not rows:
        fig, ax = plt.subplots(figsize=(4, 3))
        _note(ax, f"no sources in {Path(sample_csv).name}")
        return [_save(fig, out_png)]
    pages = [rows[i : i + max_per_page] for i in range(0, len(rows), max_per_page)]
    # every page has the first page's grid, so that panels have one size throughout
    _, ncols = _grid(min(len(rows), max_per_page))
    written = []
    for page_number, page in enumerate(pages):
        nrows = math.ceil(len(page) / ncols)
        # constrained layout reserves room for the suptitle above the first row's titles
        fig = plt.figure(figsize=(2.8 * ncols, 2.9 * nrows + 0.5), layout="constrained")
        for index, source in enumerate(page, start=1):
            image = image_for(source.seq_id)
            position = SkyCoord(source.ra * u.deg, source.dec * u.deg, frame="icrs")
            cutout = None
            if isinstance(image, str):
                reason = image
            else:
                data, wcs = image
                try:
                    cutout = Cutout2D(
                        data,
                        position,
                        2 * half_size_arcmin * u.arcmin,
                        wcs=wcs,
                        mode="partial",
                        fill_value=np.nan,
                    )
                except (NoOverlapError, ValueError):  # ValueError: no pixel (far side of a TAN)
                    reason = f"position outside the {source.seq_id} image"
            if cutout is None:
                ax = fig.add_subplot(nrows, ncols, index)
                _note(ax, reason)
            else:
                ax = fig.add_subplot(nrows, ncols, index, projection=cutout.wcs)
                # the cutout is a few pixels: stretch to its brightest pixel
                norm = _image_norm(cutout.data, 0.0, 100.0)
                ax.imshow(cutout.data, origin="lower", cmap="magma", norm=norm)
                src_reg, bkg_reg = regions.get(source.id_name, (None, None))
                shapes = [("src", read_regions(src_reg)), ("bkg", read_regions(bkg_reg))]
                if not _draw_regions(ax, cutout.wcs, shapes):
                    marker = SphericalCircle(
                        (position.ra, position.dec),
                        marker_radius_arcmin * u.arcmin,
                        edgecolor="cyan",
                        facecolor="none",
                        transform=ax.get_transform("icrs"),
                    )
                    ax.add_patch(marker)
                ax.set_xlim(-0.5, cutout.data.shape[1] - 0.5)
                ax.set_ylim(-0.5, cutout.data.shape[0] - 0.5)
                ax.coords[0].set_axislabel("RA", fontsize=7)
                ax.coords[1].set_axislabel("Dec", fontsize=7)
                for coord in ax.coords:
                    coord.set_ticklabel(size=6)
            ax.set_title(f"{source.id_name}\n{source.seq_id}", fontsize=8)
        what = (
            "source circle (solid), background region (dashed), excluded neighbours (red)"
            if regions
            else f"circles of {marker_radius_arcmin:g}' radius at the sample positions"
        )
        page_note = f", page {page_number + 1} of {len(pages)}" if len(pages) > 1 else ""
        title = f"{2 * half_size_arcmin:g}' x {2 * half_size_arcmin:g}' cutouts{page_note}: {what}"
        # wrapped to the figure's width (about 11 characters per inch at 9 pt)
        fig.suptitle(textwrap.fill(title, max(30, int(2.8 * ncols * 11))), fontsize=9)
        written.append(_save(fig, _page_path(out_png, page_number)))
    return written


def plot_image_grid(images, out_png, seq_id: str, regions=None) -> Path:
    """The images of one skyfield (image_grid_figure) as a PNG."""
    return _save(image_grid_figure(images, seq_id, regions), out_png)


def image_grid_figure(images, seq_id: str, regions=None):
    """The images of one skyfield: energy bands as rows, binnings as columns.

    ``images`` is a list of (band_lo_keV, band_hi_keV, binning, path); ``binning`` is in
    sky pixels (0.5" each), as for the extractor. ``regions``: (id_name, source region file,
    background region file) of the skyfield's sources, drawn at their true size (a 2' circle
    is a few pixels of a 6.4 deg field) and labelled with the id.
    """
    if not images:
        raise ValueError(f"no images given for skyfield {seq_id}")
    bands = sorted({(float(lo), float(hi)) for lo, hi, _, _ in images})
    binnings = sorted({int(binning) for _, _, binning, _ in images})
    paths = {((float(lo), float(hi)), int(b)): path for lo, hi, b, path in images}
    overlays = [
        (name, [("src", read_regions(src)), ("bkg", read_regions(bkg))])
        for name, src, bkg in (regions or [])
    ]
    nrows, ncols = len(bands), len(binnings)
    # constrained layout keeps each title clear of the row above's RA axis label
    fig = plt.figure(figsize=(4.6 * ncols, 4.4 * nrows + 0.4), layout="constrained")
    try:  # a missing image raises: close the figure first
        labels = {}  # the source labels of each image panel
        for row, band in enumerate(bands):
            for column, binning in enumerate(binnings):
                index = row * ncols + column + 1
                title = f"{band[0]:g}-{band[1]:g} keV, binning {binning}"
                path = paths.get((band, binning))
                if path is not None and not Path(path).exists():
                    raise FileNotFoundError(
                        f"image {path} of skyfield {seq_id} ({title}) is missing"
                    )
                failure = marker_reason(path) if path is not None else "not made"
                if failure is not None:  # the image could not be made: say why
                    ax = fig.add_subplot(nrows, ncols, index)
                    _note(ax, textwrap.fill(f"not made: {failure}", 50))
                    ax.set_title(title, fontsize=9)
                    continue
                data, wcs = read_image(path)
                ax = fig.add_subplot(nrows, ncols, index, projection=wcs)
                shown = ax.imshow(data, origin="lower", cmap="magma", norm=_image_norm(data))
                bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
                ticks = colorbar_ticks(shown.norm)
                bar.set_ticks(ticks, labels=[f"{value:g}" for value in ticks])
                bar.minorticks_off()
                bar.ax.tick_params(labelsize=8)
                bar.set_label("counts / pixel", fontsize=8)
                labels[ax] = []
                for name, shapes in overlays:
                    if _draw_regions(ax, wcs, shapes):
                        centre = shapes[0][1][0].center if shapes[0][1] else None
                        if centre is not None:
                            x, y = centre.to_pixel(wcs)
                            # labels of sources near the right or top edge go to their left or
                            # below, so that they stay on the image
                            left = x > 0.8 * data.shape[1]
                            below = y > 0.95 * data.shape[0]
                            label = ax.annotate(
                                name,
                                (x, y),
                                xytext=(-6 if left else 6, -6 if below else 6),
                                textcoords="offset points",
                                ha="right" if left else "left",
                                va="top" if below else "baseline",
                                color="cyan",
                                fontsize=6,
                                annotation_clip=True,
                            )
                            label.set_in_layout(False)  # the layout is the panels', not the labels'
                            labels[ax].append(label)
                ax.set_xlim(-0.5, data.shape[1] - 0.5)
                ax.set_ylim(-0.5, data.shape[0] - 0.5)
                pixel_arcsec = binning * 0.5
                ax.set_title(f'{title} ({pixel_arcsec:g}" pixels)', fontsize=9)
                # RA below and Dec on the left whatever the projection: near the poles WCSAxes
                # would put RA above, over the title, where the meridians crowd
                for coord, side, axis in ((ax.coords[0], "b", "RA"), (ax.coords[1], "l", "Dec")):
                    coord.set_axislabel(f"{axis} (J2000)", fontsize=8)
                    coord.set_axislabel_position(side)
                    coord.set_ticklabel_position(side)
                    coord.set_ticklabel(size=8, exclude_overlapping=True)
        suffix = " with the sources' extraction regions" if overlays else ""
        fig.suptitle(f"Skyfield {seq_id}{suffix}")
        _hide_crowded_labels(fig, labels)
    except BaseException:
        plt.close(fig)
        raise
    return fig


def _hide_crowded_labels(fig, labels: dict) -> None:
    """In a crowded field, hide each source label that would cover an earlier one or leave
    its panel (the source's circle stays), measured where the final layout puts them."""
    if not any(labels.values()):
        return
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    for ax, texts in labels.items():
        frame = ax.get_window_extent(renderer)
        shown = []
        for text in texts:
            box = text.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
            inside = inside and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in shown):
                shown.append(box)
            else:
                text.set_visible(False)


def _format_parameters(result: ModelResult) -> str:
    parts = []
    for name, entry in result.parameters.items():
        if entry.value is None:
            continue
        unit = f" {entry.unit}" if entry.unit else ""
        parts.append(f"{name}={entry.value:.4g}{unit}")
    return ", ".join(parts)


def _resolve(base: Path, name) -> Path | None:
    """A file named in an OGIP keyword (RESPFILE, BACKFILE), relative to the spectrum's
    directory as XSPEC resolves it; None for 'none' or an empty keyword."""
    name = str(name or "").strip()
    if not name or name.lower() == "none":
        return None
    path = Path(name)
    return path if path.is_absolute() else base.parent / path


def grouped_spectrum_points(grouped_path, energy_range_keV):
    """Every group of a grouped spectrum as the data panel of XSPEC's ``plot ldata`` shows
    it -- background-subtracted counts/s/keV with sqrt(N_src + s^2 N_bkg) errors -- and
    whether the fit noticed it (XSPEC ``ignore bad`` and ``ignore **-lo hi-**``:
    :func:`rassflow.products.grouping.in_fit_range` on each group's first E_MIN and last E_MAX).

    The channel energies come from the RMF that RESPFILE names, the background from BACKFILE.
    Returns a dict of arrays x, xerr, y, yerr, noticed; None when the files cannot be read (a
    failure marker, or a source whose grouping was skipped), so that the plot shows the
    noticed groups of the fit result only.
    """
    from astropy.io import fits

    from rassflow.products.grouping import in_fit_range, read_ebounds

    if grouped_path is None or energy_range_keV is None:
        return None
    grouped_path = Path(grouped_path)
    if not grouped_path.is_file() or marker_reason(grouped_path) is not None:
        return None
    try:
        with fits.open(grouped_path) as hdus:
            spectrum = hdus["SPECTRUM"]
            header, table = spectrum.header, spectrum.data
            counts = np.asarray(table["COUNTS"], dtype=float)
            grouping = np.asarray(table["GROUPING"], dtype=int)
            quality = np.asarray(table["QUALITY"], dtype=int)
            exposure = float(header["EXPOSURE"])
            backscal = float(header.get("BACKSCAL", 1.0))
            rmf = _resolve(grouped_path, header.get("RESPFILE"))
            background = _resolve(grouped_path, header.get("BACKFILE"))
        _, e_min, e_max = read_ebounds(rmf)
        if background is not None:
            with fits.open(background) as hdus:
                bkg_hdu = hdus["SPECTRUM"]
                bkg_counts = np.asarray(bkg_hdu.data["COUNTS"], dtype=float)
                bkg_scale = (backscal * exposure) / (
                    float(bkg_hdu.header.get("BACKSCAL", 1.0)) * float(bkg_hdu.header["EXPOSURE"])
                )
        else:
            bkg_counts, bkg_scale = np.zeros_like(counts), 0.0
    except (OSError, KeyError, ValueError, TypeError):
        return None
    if not (exposure > 0 and counts.size == e_min.size == bkg_counts.size):
        return None
    starts = np.flatnonzero(grouping != -1)
    if starts.size == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts])
    stops = np.concatenate([starts[1:] - 1, [counts.size - 1]])
    source = np.add.reduceat(counts, starts)
    bkg = np.add.reduceat(bkg_counts, starts)
    bad = np.add.reduceat((quality != 0).astype(int), starts) > 0
    lo, hi = e_min[starts], e_max[stops]
    width = (hi - lo) * exposure
    return {
        "x": 0.5 * (lo + hi),
        "xerr": 0.5 * (hi - lo),
        "y": (source - bkg_scale * bkg) / width,
        "yerr": np.sqrt(source + bkg_scale**2 * bkg) / width,
        "noticed": in_fit_range(lo, hi, energy_range_keV) & ~bad,
    }


def delchi(y, yerr, model):
    """(data - model) / error per group, as XSPEC's ``plot delchi`` (the residual panel of
    ``plot ldata delchi``); NaN where the error is zero or missing."""
    y, yerr, model = (np.asarray(v, dtype=float) for v in (y, yerr, model))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(yerr > 0, (y - model) / yerr, np.nan)


def plot_spectrum(fit, out_png, grouped=None) -> Path:
    """Data with error bars and each fitted model (from a fit JSON path, its dict or its
    FitResult) above a residual panel, (data - model)/sigma per model, as XSPEC's
    ``plot ldata delchi``.

    ``grouped``: the source's grouped spectrum; its groups that the fit ignored (outside the
    fit range, or QUALITY bad) are drawn faded, without residuals (no model was folded
    there). The legend gives each model's parameters and statistic/dof. Sources without a
    fitted model get a panel that states each model's status and reason.
    """
    if isinstance(fit, dict):
        fit = FitResult.from_json(fit)
    elif not isinstance(fit, FitResult):
        fit = FitResult.read(fit)
    models = fit.models
    statistic = STATISTIC_LABELS.get(fit.statistic, fit.statistic or "statistic")
    data = next((model.plot for model in models.values() if model.plot and model.plot.x), None)
    all_groups = grouped_spectrum_points(grouped, fit.energy_range_keV) if data else None

    fig, (ax, res) = plt.subplots(
        2,
        1,
        figsize=(7, 6),
        sharex=True,
        height_ratios=(3, 1.3),
        layout="constrained",
    )
    if all_groups is not None and (~all_groups["noticed"]).any():
        ignored = ~all_groups["noticed"]
        ax.errorbar(
            all_groups["x"][ignored],
            all_groups["y"][ignored],
            xerr=all_groups["xerr"][ignored],
            yerr=all_groups["yerr"][ignored],
            fmt=".",
            color="0.6",
            alpha=0.45,
            capsize=0,
            lw=0.6,
            label="ignored groups (outside the fit range or bad)",
        )
    if data is not None:
        ax.errorbar(
            data.x,
            data.y,
            xerr=data.xerr,
            yerr=data.yerr,
            fmt="k.",
            capsize=1.5,
            lw=0.8,
            label="RASS data (background subtracted)",
        )
    unfitted, residual_sets = [], []
    for name, result in models.items():
        curve = result.plot.model if result.plot else None
        x = (result.plot.x if result.plot else None) or (data.x if data else None)
        if result.status != "ok" or not curve or not x:
            unfitted.append(f"{name}: {result.status} {result.reason}")
            continue
        nice, colour = MODEL_STYLES.get(name, (name, None))
        value = math.nan if result.statistic is None else result.statistic
        fit_stat = f"{statistic}/dof = {value:.2f}/{result.dof}"
        label = f"{nice}: {_format_parameters(result)}\n{fit_stat}"
        ax.plot(x, curve, color=colour, label=label)
        observed = result.plot if result.plot.y else data
        residual = delchi(observed.y, observed.yerr, curve)
        shift = 1.0 + 0.012 * (len(residual_sets) - 0.5)  # models side by side, not on top
        residual_sets.append(name)
        res.errorbar(
            np.asarray(x, dtype=float) * shift,
            residual,
            xerr=observed.xerr,
            yerr=np.where(np.isfinite(residual), 1.0, np.nan),
            fmt="o",
            ms=2.5,
            color=colour,
            lw=0.6,
            alpha=0.8,
        )
    if not models:
        unfitted.append("no models in the fit result")
    if data is None:
        _note(ax, "no fitted model\n" + "\n".join(unfitted))
        _note(res, "no residuals")
    else:
        ax.set_xscale("log")
        # labelled ticks at a few round energies; every minor tick labelled would crowd
        res.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ENERGY_TICKS_KEV))
        res.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        res.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        res.set_xlabel("Energy (keV)")
        ax.set_ylabel("Rate (counts/s/keV)")
        res.set_ylabel("(data - model)/σ")
        res.axhline(0.0, color="0.3", lw=0.8)
        for level in (-2, 2):
            res.axhline(level, color="0.6", lw=0.6, ls=":")
        if fit.energy_range_keV:
            for edge in fit.energy_range_keV:
                for panel in (ax, res):
                    panel.axvline(edge, color="0.6", lw=0.6, ls="--")
        ax.legend(fontsize=7.5, loc="upper right")
        if unfitted:
            ax.text(0.02, 0.02, "\n".join(unfitted), transform=ax.transAxes, fontsize=8)
    details = []
    if fit.counts is not None:
        details.append(f"{fit.counts.source} src / {fit.counts.background} bkg counts")
    if fit.exposure_s is not None:
        details.append(f"exposure {fit.exposure_s:.0f} s")
    ax.set_title(f"{fit.id_name}" + (f" ({', '.join(details)})" if details else ""), fontsize=10)
    return _save(fig, out_png)


def plot_spectra(fit_json_paths, out_dir, grouped: dict | None = None) -> list[Path]:
    """One ``{id_name}.png`` per fit result in ``out_dir``; ``grouped`` maps id_name to the
    grouped spectrum whose ignored groups are shown."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in fit_json_paths:
        fit = FitResult.read(path)
        spectrum = (grouped or {}).get(fit.id_name)
        written.append(plot_spectrum(fit, out_dir / f"{fit.id_name}.png", spectrum))
    return written


def apply_cuts(results: pd.DataFrame, model: str, par: str, cuts: dict):
    """(steps, values): successive (cut, sources left) and the values of the sources that pass."""
    unknown = set(cuts) - set(DEFAULT_CUTS)
    if unknown:
        raise KeyError(f"unknown histogram cut(s): {', '.join(sorted(unknown))}")
    cuts = {**DEFAULT_CUTS, **cuts}
    column = f"{model}_{par}"
    for needed in (column, f"{column}_err-", f"{column}_err+", f"{model}_status"):
        if needed not in results.columns:
            raise KeyError(f"results table lacks column {needed!r}")
    value = results[column].astype(float)
    err_minus = results[f"{column}_err-"].astype(float)
    err_plus = results[f"{column}_err+"].astype(float)
    keep = np.isfinite(value.to_numpy())
    steps = [("sources", len(results)), ("with a value", int(keep.sum()))]
    if cuts["status"]:
        keep &= (results[f"{model}_status"] == cuts["status"]).to_numpy()
        steps.append((f"status {cuts['status']}", int(keep.sum())))
    if cuts["require_good_err"]:
        keep &= results[f"{column}_good_err"].astype(bool).to_numpy()
        steps.append(("good_err", int(keep.sum())))
    if cuts["require_positive_errors"]:
        keep &= ((err_minus > 0) & (err_plus > 0)).to_numpy()
        steps.append(("err-, err+ > 0", int(keep.sum())))
    if cuts["max_relative_error"] is not None:
        relative = (err_minus + err_plus) / 2 / value.abs()
        keep &= (relative <= cuts["max_relative_error"]).to_numpy()
        steps.append((f"rel. error <= {cuts['max_relative_error']:g}", int(keep.sum())))
    low, high = (cuts["value_limits"] or {}).get(column, (None, None))
    if low is not None:
        keep &= (value > low).to_numpy()
        steps.append((f"{par} > {low:g}", int(keep.sum())))
    if high is not None:
        keep &= (value < high).to_numpy()
        steps.append((f"{par} < {high:g}", int(keep.sum())))
    return steps, value[keep]


def plot_parameter_histograms(results_csv, out_png, cuts: dict | None = None) -> dict:
    """Histograms of blackbody kT and power-law photon index for sources passing ``cuts``.

    ``cuts`` overrides :data:`DEFAULT_CUTS`. Returns, per parameter column, the successive
    (cut, sources left) steps that the figure states.
    """
    results = pd.read_csv(results_csv, index_col="id_name")
    # only the models that were fitted (fit.models may leave one out)
    shown = [(m, p, label) for m, p, label in HISTOGRAM_PARAMETERS if f"{m}_{p}" in results]
    if not shown:
        raise ValueError(f"{results_csv}: no bbody kT or powerlaw PhoIndex column to plot")
    fig, axes = plt.subplots(1, len(shown), figsize=(6 * len(shown), 5))
    summary = {}
    for ax, (model, par, label) in zip(np.atleast_1d(axes), shown, strict=True):
        steps, values = apply_cuts(results, model, par, cuts or {})
        summary[f"{model}_{par}"] = steps
        if len(values):
            bins = np.histogram_bin_edges(values, bins="auto") if len(values) > 1 else 1
            ax.hist(values, bins=bins, histtype="stepfilled", fc="seagreen", ec="black")
        else:
            ax.text(0.5, 0.6, "no source passes the cuts", ha="center", transform=ax.transAxes)
        ax.set_xlabel(label)
        ax.set_ylabel("Number of sources")
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        text = "\n".join(f"{what}: {count}" for what, count in steps)
        box = {"facecolor": "white", "alpha": 0.85, "edgecolor": "grey"}
        ax.text(
            0.97, 0.97, text, ha="right", va="top", fontsize=8, transform=ax.transAxes, bbox=box
        )
        ax.set_title(f"{steps[-1][1]} of {steps[0][1]} sources after cuts", fontsize=10)
    fig.tight_layout()
    _save(fig, out_png)
    return summary


# ---------------------------------------------------------------------------------------------
# the sample: measured rates against 2RXS, fluxes or L_X with upper limits
# ---------------------------------------------------------------------------------------------

RXS_RATE_COLUMN = "rasscat_count_rate"  # 2RXS RATE (counts/s, 0.1-2.4 keV) as the match names it
RXS_RATE_ERROR_COLUMN = "rasscat_count_rate_error"


# log-axis labels at 1, 2 and 5 times a power of ten, as plain numbers (distances, exposures)
_ROUND_LABELS = matplotlib.ticker.FuncFormatter(
    lambda v, _: (
        f"{v:g}" if v > 0 and round(v / 10 ** math.floor(math.log10(v))) in (1, 2, 5) else ""
    )
)
MAX_LABELLED = 25  # a flux plot names its points up to this many


def _flags(column) -> np.ndarray:
    """A boolean column as the CSV writes it (True/False, empty for not measured)."""
    return column.astype(str).str.lower().isin(("true", "1", "1.0")).to_numpy(copy=True)


HALO = matplotlib.patheffects.withStroke(linewidth=2.5, foreground="white")


def _label_points(ax, xs, ys, names, colour="firebrick") -> None:
    for x, y, name in zip(xs, ys, names, strict=True):
        ax.annotate(
            name, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7, color=colour,
            path_effects=[HALO],  # readable over a density too
        )  # fmt: skip


def _upper_limit_arrows(ax, x, ul, **style) -> None:
    """Downward arrows from each upper limit, a third of a decade long on a log axis."""
    x, ul = np.asarray(x, dtype=float), np.asarray(ul, dtype=float)
    # matplotlib's uplims: the point is an upper limit, the arrow points down from it
    ax.errorbar(x, ul, yerr=ul * (1 - 10**-0.35), uplims=True, fmt="_", ms=9, lw=0.9, **style)


DENSE_POINTS = 3000  # above this many points a figure draws densities, not markers
DENSITY_GRID = 60  # hexagons across a density panel


def _density(ax, x, y, cmap="viridis"):
    """Detections as hexagons coloured by their number (log scale), on log axes."""
    cells = ax.hexbin(
        x, y, xscale="log", yscale="log", gridsize=DENSITY_GRID, bins="log", mincnt=1,
        cmap=cmap, linewidths=0.1,
    )  # fmt: skip
    bar = ax.figure.colorbar(cells, ax=ax, pad=0.01, fraction=0.05)
    bar.set_label(f"detections per cell ({len(x)} detected)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return cells


def _limit_distribution(ax, x, ul, colour="0.3", label="upper limits"):
    """Upper limits as their distribution along x: the median and the central 68 % and
    95 % of the limits in log-spaced x bins (bins with fewer than 10 limits left out).
    The ranges lie under a density, the median line over it."""
    x, ul = np.log10(np.asarray(x, float)), np.log10(np.asarray(ul, float))
    edges = np.linspace(x.min(), x.max() + 1e-9, 26) if x.max() > x.min() else None
    if edges is None:
        edges = np.array([x.min() - 0.1, x.min() + 0.1])
    which = np.clip(np.digitize(x, edges) - 1, 0, len(edges) - 2)
    frame = pd.DataFrame({"bin": which, "ul": ul})
    groups = frame.groupby("bin")["ul"]
    levels = groups.quantile([0.025, 0.16, 0.5, 0.84, 0.975]).unstack()
    levels = levels[groups.size() >= 10]
    if levels.empty:  # too few per bin: the limits themselves, small
        ax.scatter(10**x, 10**ul, s=2, color=colour, alpha=0.3, lw=0, label=label)
        return
    centre = 10 ** (0.5 * (edges[levels.index] + edges[levels.index + 1]))
    # shaded ranges under a density, their edges and the median drawn over it
    ax.fill_between(centre, 10 ** levels[0.025], 10 ** levels[0.975], color=colour, alpha=0.15,
                    lw=0, zorder=0.5)  # fmt: skip
    ax.fill_between(centre, 10 ** levels[0.16], 10 ** levels[0.84], color=colour, alpha=0.3,
                    lw=0, zorder=0.5)  # fmt: skip
    ranges = ((0.025, 0.975, ":", f"{label}: 95 % within"), (0.16, 0.84, "--", "68 % within"))
    for low, high, style, what in ranges:
        for level in (low, high):
            ax.plot(centre, 10 ** levels[level], color="k", lw=1.0, ls=style, zorder=3,
                    path_effects=[HALO], label=what if level == low else None)  # fmt: skip
    ax.plot(centre, 10 ** levels[0.5], color="k", lw=1.6, zorder=3, label="median limit",
            path_effects=[HALO])  # fmt: skip


def _spread(x, y, order, count: int, width_dex=0.9, height_dex=0.18) -> np.ndarray:
    """Up to ``count`` of the points ``order`` lists (first first) whose labels would not
    overlap one already chosen (a label ~``width_dex`` x ``height_dex`` on log axes)."""
    chosen: list[int] = []
    lx, ly = np.log10(x), np.log10(y)
    for k in order:
        if len(chosen) >= count:
            break
        if all(abs(lx[k] - lx[j]) > width_dex or abs(ly[k] - ly[j]) > height_dex for j in chosen):
            chosen.append(int(k))
    return np.array(chosen, dtype=int)


def _read_columns(csv_path, wanted) -> pd.DataFrame:
    """The columns of a CSV for which ``wanted(name)`` is true (a photometry table of 10^6
    members has ~80 columns; a figure needs a few)."""
    names = pd.read_csv(csv_path, nrows=0).columns
    return pd.read_csv(csv_path, usecols=[c for c in names if wanted(c)], dtype={"id_name": str})


def plot_rate_comparison(
    photometry_csv,
    sample_csv,
    out_png,
    rate_column: str = RXS_RATE_COLUMN,
    error_column: str = RXS_RATE_ERROR_COLUMN,
    outlier_factor: float = 2.0,
    outlier_sigma: float = 3.0,
) -> dict:
    """Each 2RXS-matched source's measured net count rate (the photometry table's
    ``net_rate``, PSF-corrected, 0.1-2.4 keV, with its KBN interval) against the 2RXS
    catalogue count rate of its match (the sample table's ``rate_column``, with
    ``error_column`` as 1 sigma), on a 1:1 line.

    Undetected sources are downward arrows at ``rate_ul``. Outliers, labelled with their id,
    differ from the catalogue by more than ``outlier_factor`` and by more than
    ``outlier_sigma`` combined sigmas (an upper limit: below the catalogue rate / factor),
    e.g. variable (flaring) stars or a wrong match. Above :data:`DENSE_POINTS` points the
    detections are a density (hexagons), the upper limits their median and 68 % / 95 %
    ranges along the 2RXS rate, the outliers small red points of which the
    :data:`MAX_LABELLED` furthest from 1:1 are labelled. Returns {"sources", "detected",
    "median_ratio", "outliers"}.
    """
    photometry = _read_columns(
        photometry_csv,
        lambda c: (
            c in ("id_name", "net_rate", "net_rate_lo", "net_rate_hi", "rate_ul")
            or c in ("detected", "status")
        ),
    )
    sample = _read_columns(sample_csv, lambda c: c in ("id_name", rate_column, error_column))
    for table, columns, path in (
        (
            photometry,
            ("id_name", "net_rate", "net_rate_lo", "net_rate_hi", "rate_ul"),
            photometry_csv,
        ),
        (sample, ("id_name", rate_column), sample_csv),
    ):
        absent = [c for c in columns if c not in table.columns]
        if absent:
            raise KeyError(f"{path} lacks column(s): {', '.join(absent)}")
    catalogue = sample[["id_name", rate_column]].copy()
    catalogue["rxs_err"] = sample[error_column] if error_column in sample else np.nan
    merged = photometry.merge(catalogue, on="id_name", how="inner")
    if "status" in merged:
        merged = merged[merged["status"] == "ok"]
    merged = merged[np.isfinite(merged[rate_column].astype(float)) & (merged[rate_column] > 0)]
    merged = merged.sort_values("id_name", key=lambda names: names.map(natural_key))
    detected = _flags(merged["detected"]) & (merged["net_rate"] > 0).to_numpy()
    rxs = merged[rate_column].to_numpy(float)
    rxs_err = np.nan_to_num(merged["rxs_err"].to_numpy(float))
    rate = merged["net_rate"].to_numpy(float)
    lo = np.clip(rate - merged["net_rate_lo"].to_numpy(float), 0, None)
    hi = np.clip(merged["net_rate_hi"].to_numpy(float) - rate, 0, None)
    ul = merged["rate_ul"].to_numpy(float)
    # one-sided sigma towards the catalogue value (KBN intervals are asymmetric)
    sigma_rate = np.where(rxs > rate, hi, lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rate / rxs
        significant = np.abs(rate - rxs) > outlier_sigma * np.hypot(sigma_rate, rxs_err)
    far = (ratio > outlier_factor) | (ratio < 1 / outlier_factor)
    outlier = np.where(detected, far & significant, ul < rxs / outlier_factor)
    names = merged["id_name"].to_numpy(str)

    fig, ax = plt.subplots(figsize=(6.5, 6), layout="constrained")
    summary = {
        "sources": int(len(merged)),
        "detected": int(detected.sum()),
        "median_ratio": float(np.median(ratio[detected])) if detected.any() else math.nan,
        "outliers": [str(n) for n in names[outlier]],
    }
    if len(merged) == 0:
        _note(ax, "no 2RXS-matched source with a measured rate")
        _save(fig, out_png)
        return summary
    n_detected, n_limits = int(detected.sum()), int((~detected).sum())
    if n_detected > DENSE_POINTS:
        _density(ax, rxs[detected], rate[detected])
    else:
        ax.errorbar(
            rxs[detected],
            rate[detected],
            xerr=rxs_err[detected],
            yerr=[lo[detected], hi[detected]],
            fmt="o",
            ms=4,
            color="teal",
            lw=0.8,
            label=f"detected ({n_detected})",
        )
    limits = ~detected & (ul > 0)
    if n_limits > DENSE_POINTS and limits.any():
        _limit_distribution(ax, rxs[limits], ul[limits], label=f"upper limits ({n_limits})")
    elif limits.any():
        _upper_limit_arrows(
            ax, rxs[limits], ul[limits], color="0.45", label=f"upper limits ({n_limits})"
        )
    y_shown = np.where(detected, rate, ul)
    labelled = np.flatnonzero(outlier)
    if len(merged) > DENSE_POINTS and outlier.any():
        # the furthest from 1:1 first, labels that would not overlap, marked over the density
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = np.abs(np.log10(np.where(detected, ratio, ul / rxs)))
        first = labelled[np.argsort(-np.nan_to_num(distance[labelled]), kind="stable")]
        labelled = _spread(rxs, np.where(y_shown > 0, y_shown, rxs), first, MAX_LABELLED)
        ax.scatter(rxs[labelled], y_shown[labelled], s=12, color="firebrick", lw=0, zorder=3,
                   label=f"outliers ({int(outlier.sum())}), {len(labelled)} labelled")  # fmt: skip
    _label_points(ax, rxs[labelled], y_shown[labelled], names[labelled])
    positive = np.concatenate([rxs, y_shown[y_shown > 0]])
    low, high = positive.min() / 3, positive.max() * 3
    line = np.array([low, high])
    ax.plot(line, line, color="k", lw=0.8, label="1:1")
    ax.plot(line, line * outlier_factor, color="k", lw=0.6, ls="--")
    ax.plot(
        line,
        line / outlier_factor,
        color="k",
        lw=0.6,
        ls="--",
        label=f"x {outlier_factor:g}, / {outlier_factor:g}",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    ax.set_xlabel("2RXS count rate (counts/s)")
    ax.set_ylabel("Measured net count rate, 0.1-2.4 keV (counts/s)")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(
        f"{summary['sources']} 2RXS sources: median measured/2RXS = "
        f"{summary['median_ratio']:.2f}, {len(summary['outliers'])} outlier(s)"
        + (f", {len(labelled)} labelled" if len(labelled) < outlier.sum() else " labelled"),
        fontsize=9,
    )
    _save(fig, out_png)
    return summary


def _flux_bands(columns) -> list[str]:
    """Band labels ('0.5-2.0keV') of the photometry table's ``flux_{band}`` columns."""
    return [
        c[len("flux_") :]
        for c in columns
        if c.startswith("flux_") and not c.startswith("flux_ul_") and not c.endswith(("_lo", "_hi"))
    ]


def _percent(value: float) -> str:
    """A percentage with the digits it needs: 50 %, 3.2 %, 0.068 % (not 0 %)."""
    if not math.isfinite(value):
        return "n/a"
    if value == 0 or value >= 10:
        return f"{value:.0f} %"
    return f"{value:.2g} %" if value < 1 else f"{value:.1f} %"


def plot_sample_fluxes(photometry_csv, out_png) -> dict:
    """The sample's X-ray luminosities against distance (when the photometry table has
    ``distance_pc`` and ``lx_{band}``), else its fluxes against exposure: detections with
    their KBN intervals, non-detections as downward arrows at the upper limit, one panel per
    flux band; the detected fraction is in the title. Above :data:`DENSE_POINTS` points the
    detections are a density (hexagons) and the upper limits their median and 68 % / 95 %
    ranges along the x axis, so that a sample of 10^6 members stays readable.

    Members not covered by the survey, failed ones and (for L_X) those without a distance are
    counted in the title, not drawn. Returns {band: {"measured", "detected", "shown",
    "quantity"}}.
    """
    table = _read_columns(
        photometry_csv,
        lambda c: (
            c in ("id_name", "status", "detected", "exposure_s", "distance_pc")
            or c.startswith(("flux_", "lx_"))
        ),
    )
    bands = _flux_bands(table.columns)
    if not bands:
        raise KeyError(f"{photometry_csv} has no flux_<band> columns")
    status = table["status"] if "status" in table else pd.Series("ok", index=table.index)
    measured = table[status == "ok"]
    detected_all = _flags(measured["detected"])
    fig, axes = plt.subplots(
        1, len(bands), figsize=(6.2 * len(bands), 5.2), layout="constrained", squeeze=False
    )
    summary = {}
    for ax, band in zip(axes[0], bands, strict=True):
        luminosity = f"lx_{band}" in table and "distance_pc" in table
        if luminosity:
            prefix, x_column = "lx", "distance_pc"
            ylabel = f"$L_X$, {band.replace('keV', ' keV')} (erg/s)"
            xlabel = "Distance (pc)"
        else:
            prefix, x_column = "flux", "exposure_s"
            ylabel = f"Energy flux, {band.replace('keV', ' keV')} (erg/cm²/s)"
            xlabel = "Exposure at the source (s)"
        value = measured[f"{prefix}_{band}"].to_numpy(float)
        lo = measured[f"{prefix}_{band}_lo"].to_numpy(float)
        hi = measured[f"{prefix}_{band}_hi"].to_numpy(float)
        ul = measured[f"{prefix}_ul_{band}"].to_numpy(float)
        x = measured[x_column].to_numpy(float)
        usable = np.isfinite(x) & (x > 0)
        detected = detected_all & usable & (value > 0)
        limits = ~detected_all & usable & np.isfinite(ul) & (ul > 0)
        summary[band] = {
            "quantity": "L_X" if luminosity else "flux",
            "measured": int(len(measured)),
            "detected": int(detected_all.sum()),
            "shown": int(detected.sum() + limits.sum()),
        }
        if not (detected.any() or limits.any()):
            _note(ax, f"no member with a {prefix} to show")
        else:
            n_detected, n_limits = int(detected.sum()), int(limits.sum())
            if n_detected > DENSE_POINTS:
                _density(ax, x[detected], value[detected])
            elif n_detected:
                ax.errorbar(
                    x[detected],
                    value[detected],
                    yerr=[
                        np.clip(value - lo, 0, None)[detected],
                        np.clip(hi - value, 0, None)[detected],
                    ],
                    fmt="o",
                    ms=4,
                    color="teal",
                    lw=0.8,
                    label=f"detected ({n_detected})",
                )
            if n_limits > DENSE_POINTS:
                _limit_distribution(ax, x[limits], ul[limits], label=f"upper limits ({n_limits})")
            elif n_limits:
                _upper_limit_arrows(
                    ax, x[limits], ul[limits], color="0.45", label=f"upper limits ({n_limits})"
                )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_major_formatter(_ROUND_LABELS)
            ax.xaxis.set_minor_formatter(_ROUND_LABELS)
            if n_detected + n_limits <= MAX_LABELLED:  # small samples: name them
                shown = detected | limits
                y = np.where(detected, value, ul)
                _label_points(
                    ax, x[shown], y[shown], measured["id_name"].to_numpy(str)[shown], "0.25"
                )
            ax.legend(fontsize=8, loc="best")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        n_measured = summary[band]["measured"]
        fraction = 100.0 * summary[band]["detected"] / n_measured if n_measured else math.nan
        left_out = []
        if (status == "not_covered").any():
            left_out.append(f"{int((status == 'not_covered').sum())} not covered")
        if (status == "failed").any():
            left_out.append(f"{int((status == 'failed').sum())} failed")
        if luminosity and (~usable).any():
            left_out.append(f"{int((~usable).sum())} without a distance")
        ax.set_title(
            f"{summary[band]['detected']} of {n_measured} members detected "
            f"({_percent(fraction)})" + (f"\nnot shown: {', '.join(left_out)}" if left_out else ""),
            fontsize=9,
        )
    _save(fig, out_png)
    return summary


# ---------------------------------------------------------------------------------------------
# result tables as HTML (a report shows a CSV only as a download)
# ---------------------------------------------------------------------------------------------

_TABLE_STYLE = """
body { font-family: sans-serif; font-size: 12px; margin: 8px; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 2px 6px; white-space: nowrap; text-align: right; }
th { background: #eee; position: sticky; top: 0; cursor: pointer; }
tbody tr:nth-child(even) { background: #f7f7f7; }
tbody th { text-align: left; position: sticky; left: 0; background: #fafafa; }
"""
# click a header to sort by it; type to filter rows (no network, no libraries)
_TABLE_SCRIPT = """
const table = document.querySelector("table.results");
const body = table.tBodies[0];
document.getElementById("filter").addEventListener("input", (event) => {
  const text = event.target.value.toLowerCase();
  for (const row of body.rows) {
    row.hidden = text && !row.textContent.toLowerCase().includes(text);
  }
});
table.tHead.querySelectorAll("th").forEach((cell, column) => {
  cell.addEventListener("click", () => {
    const ascending = cell.dataset.order !== "asc";
    cell.dataset.order = ascending ? "asc" : "desc";
    const key = (row) => row.cells[column].textContent;
    const rows = Array.from(body.rows).sort((a, b) => {
      const x = parseFloat(key(a)), y = parseFloat(key(b));
      const order = isNaN(x) || isNaN(y) ? key(a).localeCompare(key(b)) : x - y;
      return ascending ? order : -order;
    });
    rows.forEach((row) => body.appendChild(row));
  });
});
"""


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


MAX_HTML_ROWS = 1000  # a browsable page shows at most this many rows


def _downloads(csv_path) -> list[str]:
    """The file names of the whole table: the CSV and a FITS of the same stem beside it."""
    csv_path = Path(csv_path)
    names = [csv_path.name]
    if csv_path.with_suffix(".fits").is_file():
        names.append(csv_path.with_suffix(".fits").name)
    return names


def write_table_html(
    csv_path,
    out_html,
    title: str,
    index_column: str = "id_name",
    max_rows: int = MAX_HTML_ROWS,
    downloads=None,
) -> Path:
    """A CSV table as one self-contained, sortable and filterable HTML page: one ``<tbody>``
    row per table row, marked ``data-id`` with its ``index_column``; numbers to 4 significant
    digits (the CSV keeps full precision).

    A table longer than ``max_rows`` is previewed: its first ``max_rows`` rows (only they are
    read), with a note giving the total and the files that hold the whole table
    (``downloads``: names; default the CSV and a FITS of the same stem beside it), so that a
    table of 10^6 rows makes a page of a few hundred kB."""
    import html

    table = pd.read_csv(csv_path, dtype={index_column: str}, nrows=max_rows + 1)
    total = len(table)
    if total > max_rows:  # count the rest from one column, not the whole table
        total = len(pd.read_csv(csv_path, usecols=[0], dtype=str))
        table = table.iloc[:max_rows]
    columns = list(table.columns)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    rows = []
    for record in table.itertuples(index=False):
        values = [_cell(v) for v in record]
        key = values[columns.index(index_column)] if index_column in columns else ""
        cells = "".join(
            f"<th>{html.escape(v)}</th>" if c == index_column else f"<td>{html.escape(v)}</td>"
            for c, v in zip(columns, values, strict=True)
        )
        rows.append(f'<tr data-id="{html.escape(key, quote=True)}">{cells}</tr>')
    files = downloads if downloads is not None else _downloads(csv_path)
    named = " and ".join(f"<code>{html.escape(Path(name).name)}</code>" for name in files)
    if total > len(table):
        extent = (
            f'<p class="preview"><b>Preview: the first {len(table):,} of {total:,} rows.</b> '
            f"The whole table is in {named} (downloads in the same report category); "
            "sorting and filtering act on the preview only.</p>"
        )
    else:
        extent = ""
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_TABLE_STYLE}</style></head><body>"
        f"<h3>{html.escape(title)}</h3>{extent}"
        f"<p>{total} rows, {len(columns)} columns, from "
        f"<code>{html.escape(Path(csv_path).name)}</code> (the full-precision table is in "
        "the same report category). Click a column header to sort; "
        'filter: <input id="filter" type="search"></p>'
        f'<table class="results"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f"<script>{_TABLE_SCRIPT}</script></body></html>\n"
    )
    with atomic_path(out_html) as tmp:
        Path(tmp).write_text(page)
    return Path(out_html)


# ---------------------------------------------------------------------------------------------
# the survey PSF calibrated on the run's sources
# ---------------------------------------------------------------------------------------------


def plot_psf_calibration(calibration_json, out_png) -> dict:
    """The stacked radial profile of the calibration's sources (counts per arcmin^2 with
    Poisson errors) against what PSFOFF, the GOF FAQ's description and the fitted mixture
    predict (each source's share over its flat background at its best), with the ratio of
    data to the mixture below (rassflow.calibration.psf_stack). Returns the figure's
    numbers: the weight, its interval and the chi^2 of each model over the radial bins."""
    from rassflow.files import read_json

    calibration = read_json(calibration_json)
    profile = calibration["profile"]
    edges = np.asarray(profile["radius_edges_arcmin"], float)
    area = np.pi * np.diff(edges**2)  # arcmin^2
    middle = np.sqrt(0.5 * (edges[1:] ** 2 + edges[:-1] ** 2))
    counts = np.asarray(profile["counts"], float)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    shown = counts > 0
    error = np.sqrt(np.maximum(counts, 1.0))
    top.errorbar(
        middle[shown], counts[shown] / area[shown], error[shown] / area[shown], fmt="o",
        ms=3, color="black", label=f"{calibration['sources']} sources stacked",
    )  # fmt: skip
    lines = (
        ("model_psfoff", "PSFOFF (Hasinger et al.)", "tab:blue", "--"),
        ("model_gof_faq", "GOF FAQ", "tab:orange", ":"),
        ("model", f"mixture, w = {calibration['weight']:.3f}", "tab:red", "-"),
    )
    chi2 = {}
    for key, label, colour, style in lines:
        predicted = np.asarray(profile[key], float)
        wide = {"lw": 3, "alpha": 0.5, "zorder": 1} if key == "model" else {"zorder": 2}
        top.plot(middle, predicted / area, style, color=colour, label=label, **wide)
        chi2[key] = float(np.sum((counts - predicted) ** 2 / np.maximum(predicted, 1.0)))
    model = np.asarray(profile["model"], float)
    ratio_error = error / np.maximum(model, 1e-12)
    bottom.errorbar(
        middle[shown], counts[shown] / model[shown], ratio_error[shown], fmt="o", ms=3,
        color="black",
    )  # fmt: skip
    bottom.axhline(1.0, color="tab:red")
    top.set_xscale("log")
    top.set_yscale("log")
    top.set_ylabel("counts per arcmin$^2$ (PI 11-235)")
    bottom.set_xlabel("distance from the source (arcmin)")
    bottom.set_ylabel("data / mixture")
    top.legend(fontsize=8, loc="lower left")
    top.set_title(
        f"Survey PSF: GOF FAQ weight {calibration['weight']:.3f} "
        f"({100 * calibration['confidence']:.0f} %: {calibration['low']:.3f}-"
        f"{calibration['high']:.3f}), {calibration['counts']:,} events",
        fontsize=9,
    )
    text = "\n".join(
        f"chi2 {label.split(',')[0]}: {chi2[key]:.0f} / {len(counts)} bins"
        for key, label, _, _ in lines
    )
    box = {"facecolor": "white", "alpha": 0.85, "edgecolor": "grey"}
    top.text(0.97, 0.97, text, ha="right", va="top", fontsize=8, transform=top.transAxes, bbox=box)
    fig.tight_layout()
    _save(fig, out_png)
    return {
        "weight": calibration["weight"],
        "interval": [calibration["low"], calibration["high"]],
        "chi2": chi2,
    }
