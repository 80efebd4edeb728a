"""Figures: image cutouts, skyfield image grids, fitted spectra, parameter histograms.

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
}
STATISTIC_LABELS = {"wstat": "W-stat", "cstat": "C-stat", "chi2": "chi2"}

# Histograms of these (model, parameter, axis label) after the cuts.
HISTOGRAM_PARAMETERS = (
    ("bbody", "kT", "Blackbody kT (keV)"),
    ("powerlaw", "PhoIndex", "Power-law photon index"),
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


def _image_norm(data):
    """asinh stretch over the finite pixels (RASS images are sparse counts)."""
    from astropy.visualization import AsinhStretch, ImageNormalize, MinMaxInterval

    finite = data[np.isfinite(data)]
    if finite.size == 0 or finite.max() <= finite.min():
        low = float(finite.min()) if finite.size else 0.0
        return matplotlib.colors.Normalize(vmin=low, vmax=low + 1.0)
    return ImageNormalize(finite, interval=MinMaxInterval(), stretch=AsinhStretch(0.05))


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
) -> list[Path]:
    """A grid of image cutouts centred on every sample source.

    ``image_paths`` maps seq_id to the skyfield's image (e.g. the archive's _im1 file).
    More than ``max_per_page`` sources continue on ``{stem}_page2.png`` etc.; the written
    paths are returned.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D, NoOverlapError
    from astropy.visualization.wcsaxes import SphericalCircle

    sample = pd.read_csv(sample_csv, dtype={"seq_id": str})
    absent = [c for c in ("id_name", "ra", "dec", "seq_id") if c not in sample.columns]
    if absent:
        raise ValueError(f"sample table {sample_csv} lacks column(s): {', '.join(absent)}")
    sample = sample.sort_values("id_name", key=lambda names: names.map(natural_key))
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
    written = []
    for page_number, page in enumerate(pages):
        nrows, ncols = _grid(len(page))
        fig = plt.figure(figsize=(2.8 * ncols, 2.9 * nrows))
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
                ax.imshow(cutout.data, origin="lower", cmap="magma", norm=_image_norm(cutout.data))
                marker = SphericalCircle(
                    (position.ra, position.dec),
                    marker_radius_arcmin * u.arcmin,
                    edgecolor="cyan",
                    facecolor="none",
                    transform=ax.get_transform("icrs"),
                )
                ax.add_patch(marker)
                ax.coords[0].set_axislabel("RA", fontsize=7)
                ax.coords[1].set_axislabel("Dec", fontsize=7)
                for coord in ax.coords:
                    coord.set_ticklabel(size=6)
            ax.set_title(f"{source.id_name}\n{source.seq_id}", fontsize=8)
        fig.suptitle(
            f"{2 * half_size_arcmin:g}' x {2 * half_size_arcmin:g}' cutouts, "
            f"circles of {marker_radius_arcmin:g}' radius at the sample positions",
            fontsize=9,
        )
        fig.tight_layout()
        written.append(_save(fig, _page_path(out_png, page_number)))
    return written


def plot_image_grid(images, out_png, seq_id: str) -> Path:
    """The images of one skyfield: energy bands as rows, binnings as columns.

    ``images`` is a list of (band_lo_keV, band_hi_keV, binning, path); ``binning`` is in
    sky pixels (0.5" each), as for the extractor.
    """
    if not images:
        raise ValueError(f"no images given for skyfield {seq_id}")
    bands = sorted({(float(lo), float(hi)) for lo, hi, _, _ in images})
    binnings = sorted({int(binning) for _, _, binning, _ in images})
    paths = {((float(lo), float(hi)), int(b)): path for lo, hi, b, path in images}
    nrows, ncols = len(bands), len(binnings)
    fig = plt.figure(figsize=(4.2 * ncols, 4.0 * nrows))
    for row, band in enumerate(bands):
        for column, binning in enumerate(binnings):
            index = row * ncols + column + 1
            title = f"{band[0]:g}-{band[1]:g} keV, binning {binning}"
            path = paths.get((band, binning))
            if path is not None and not Path(path).exists():
                raise FileNotFoundError(f"image {path} of skyfield {seq_id} ({title}) is missing")
            failure = marker_reason(path) if path is not None else "not made"
            if failure is not None:  # the image could not be made: say why
                ax = fig.add_subplot(nrows, ncols, index)
                _note(ax, textwrap.fill(f"not made: {failure}", 50))
                ax.set_title(title, fontsize=9)
                continue
            data, wcs = read_image(path)
            ax = fig.add_subplot(nrows, ncols, index, projection=wcs)
            shown = ax.imshow(data, origin="lower", cmap="magma", norm=_image_norm(data))
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="counts / pixel")
            pixel_arcsec = binning * 0.5
            ax.set_title(f'{title} ({pixel_arcsec:g}" pixels)', fontsize=9)
            ax.coords[0].set_axislabel("RA (J2000)", fontsize=8)
            ax.coords[1].set_axislabel("Dec (J2000)", fontsize=8)
    fig.suptitle(f"Skyfield {seq_id}")
    fig.tight_layout()
    return _save(fig, out_png)


def _format_parameters(result: ModelResult) -> str:
    parts = []
    for name, entry in result.parameters.items():
        if entry.value is None:
            continue
        unit = f" {entry.unit}" if entry.unit else ""
        parts.append(f"{name}={entry.value:.4g}{unit}")
    return ", ".join(parts)


def plot_spectrum(fit, out_png) -> Path:
    """Data with error bars and each fitted model (from a fit JSON path, its dict or its
    FitResult).

    Sources without a fitted model get a panel that states each model's status and reason.
    """
    if isinstance(fit, dict):
        fit = FitResult.from_json(fit)
    elif not isinstance(fit, FitResult):
        fit = FitResult.read(fit)
    models = fit.models
    statistic = STATISTIC_LABELS.get(fit.statistic, fit.statistic or "statistic")
    data = next((model.plot for model in models.values() if model.plot and model.plot.x), None)

    fig, ax = plt.subplots(figsize=(7, 5))
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
    unfitted = []
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
    if not models:
        unfitted.append("no models in the fit result")
    if data is None:
        _note(ax, "no fitted model\n" + "\n".join(unfitted))
    else:
        ax.set_xscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.set_xlabel("Energy (keV)")
        ax.set_ylabel("Rate (counts/s/keV)")
        ax.legend(fontsize=8, loc="upper right")
        if unfitted:
            ax.text(0.02, 0.02, "\n".join(unfitted), transform=ax.transAxes, fontsize=8)
    details = []
    if fit.counts is not None:
        details.append(f"{fit.counts.source} src / {fit.counts.background} bkg counts")
    if fit.exposure_s is not None:
        details.append(f"exposure {fit.exposure_s:.0f} s")
    ax.set_title(f"{fit.id_name}" + (f" ({', '.join(details)})" if details else ""), fontsize=10)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_spectra(fit_json_paths, out_dir) -> list[Path]:
    """One ``{id_name}.png`` per fit result in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in fit_json_paths:
        fit = FitResult.read(path)
        written.append(plot_spectrum(fit, out_dir / f"{fit.id_name}.png"))
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
        text = "\n".join(f"{what}: {count}" for what, count in steps)
        box = {"facecolor": "white", "alpha": 0.85, "edgecolor": "grey"}
        ax.text(
            0.97, 0.97, text, ha="right", va="top", fontsize=8, transform=ax.transAxes, bbox=box
        )
        ax.set_title(f"{steps[-1][1]} of {steps[0][1]} sources after cuts", fontsize=10)
    fig.tight_layout()
    _save(fig, out_png)
    return summary
