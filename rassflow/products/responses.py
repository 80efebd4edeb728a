"""Ancillary response files (ARFs) for PSPC spectra, natively or as HEASoft's pcarf does.

Two methods, chosen in the config:

- ``onaxis``: the SPECRESP file's response at theta = 0.
- ``pcarf``: pcarf 2.1.3's WMAP weighting. Every WMAP pixel with value >= 1 contributes the
  response at its off-axis angle theta (linear in theta; beyond the last tabulated angle the
  last one), weighted by its value; the sum is divided by the sum of the rounded values.

Both then interpolate linearly from the SPECRESP file's bin midpoints to the RMF's bin
midpoints (zero outside the calibrated range), as pcarf regrids.

The pcarf optical axis (as pcarf's gt_wmap computes it; fact sheet §3.3): the axis is
(OPTAXISX, OPTAXISY) = (4119, 3929) in detector pixels of 2.595021e-4 deg, converted to WMAP
pixel indices as ``(axis - 1) * 2.595021e-4 / CDELT + 2 - first``, where CDELT is the WMAP
pixel size in deg (|CDELT1|, |CDELT2|) and ``first = (CRVAL1P + (binh - 1) / 2) / binh`` is
the binned index of the WMAP's first pixel (binh = CDELT1P, or WMREBIN). For an X/Y sky WMAP
of a RASS skyfield this is not the telescope axis (which scanned across the source), so the
result is pcarf-equivalent, not physical. Unless ``optical_axis`` is given, OPTAXISX/OPTAXISY
keywords in the WMAP header, if present and >= 0, are taken as the axis in WMAP pixels, as
pcarf does.

An empty WMAP (no pixel >= 1): pcarf aborts; here the ARF falls back to the on-axis response,
with ARFMETH = 'onaxis', ARFREQ = 'pcarf' and an ARFWARN keyword saying why, so a source
without counts does not stop the whole workflow.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

from rassflow.files import stamp, write_fits
from rassflow.pspc import DETECTOR_PIXEL_DEG, SKY_PIXEL_DEG

METHODS = ("onaxis", "pcarf")
DEFAULT_OPTICAL_AXIS = (4119.0, 3929.0)  # pcarf's OPTAXISX/OPTAXISY defaults, detector pixels
MIN_COUNTS = 1  # pcarf's MINCNTS


def read_rmf_grid(rmf_path: str | os.PathLike):
    """(ENERG_LO, ENERG_HI, header) of an RMF's matrix extension (keV)."""
    with fits.open(rmf_path) as hdul:
        for hdu in hdul[1:]:
            name = hdu.header.get("EXTNAME", "").upper()
            if name in ("MATRIX", "SPECRESP MATRIX") or hdu.header.get("HDUCLAS2") == "RSP_MATRIX":
                return (
                    np.array(hdu.data["ENERG_LO"]),
                    np.array(hdu.data["ENERG_HI"]),
                    hdu.header.copy(),
                )
    raise KeyError(f"{rmf_path}: no MATRIX / SPECRESP MATRIX extension")


def read_specresp(specresp_path: str | os.PathLike):
    """(energy midpoints keV, theta arcmin, response cm^2 of shape (n_theta, n_energy))."""
    with fits.open(specresp_path) as hdul:
        content = hdul[0].header.get("CONTENT", "")
        if content != "SPECTRAL RESPONSE":
            raise ValueError(f"{specresp_path}: CONTENT is {content!r}, not 'SPECTRAL RESPONSE'")
        if "SPECRESP" not in hdul:
            raise KeyError(f"{specresp_path}: no SPECRESP extension")
        row = hdul["SPECRESP"].data[0]
        mid = 0.5 * (np.asarray(row["ENERG_LO"], float) + np.asarray(row["ENERG_HI"], float))
        theta = np.asarray(row["THETA"], dtype=float)
        area = np.asarray(row["SPECRESP"], dtype=float).reshape(theta.size, mid.size)
    if np.any(np.diff(theta) <= 0):
        raise ValueError(f"{specresp_path}: THETA is not strictly increasing")
    return mid, theta, area


def theta_weights(theta_pixels, weights, theta_grid) -> np.ndarray:
    """Spread each pixel's weight over the two tabulated angles around its theta (linear in
    theta); pixels beyond the last angle use the last angle."""
    theta_pixels = np.asarray(theta_pixels, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if np.any(theta_pixels < theta_grid[0]):
        raise ValueError(f"off-axis angle below the first tabulated angle {theta_grid[0]} arcmin")
    out = np.zeros(theta_grid.size)
    below = np.searchsorted(theta_grid, theta_pixels, side="right") - 1
    beyond = below >= theta_grid.size - 1
    out[-1] += weights[beyond].sum()
    inside = ~beyond
    lower = below[inside]
    fraction = (theta_pixels[inside] - theta_grid[lower]) / (
        theta_grid[lower + 1] - theta_grid[lower]
    )
    np.add.at(out, lower, weights[inside] * (1.0 - fraction))
    np.add.at(out, lower + 1, weights[inside] * fraction)
    return out


def wmap_optical_axis(header, optical_axis=None) -> tuple[float, float]:
    """The optical axis in 1-based WMAP pixel indices, as pcarf's gt_wmap derives it."""
    if optical_axis is None and header.get("OPTAXISX", -1) >= 0 and header.get("OPTAXISY", -1) >= 0:
        return float(header["OPTAXISX"]), float(header["OPTAXISY"])
    axis = DEFAULT_OPTICAL_AXIS if optical_axis is None else optical_axis
    binning = _wmap_binning(header)
    pixel_deg = wmap_pixel_deg(header)
    result = []
    for number, (value, size) in enumerate(zip(axis, pixel_deg, strict=True), start=1):
        try:
            crval = header[f"CRVAL{number}P"] + (1 - header.get(f"CRPIX{number}P", 1)) * binning
        except KeyError as err:
            raise KeyError(f"WMAP header lacks CRVAL{number}P (physical WCS)") from err
        first = (crval + (binning - 1) / 2.0) / binning
        result.append((value - 1.0) * DETECTOR_PIXEL_DEG / size + 2.0 - first)
    return result[0], result[1]


def _wmap_binning(header) -> int:
    for key in ("CDELT1P", "WMREBIN"):
        if key in header:
            return int(header[key])
    raise KeyError("WMAP header has neither CDELT1P nor WMREBIN (the WMAP binning)")


def wmap_pixel_deg(header) -> tuple[float, float]:
    """|CDELT1|, |CDELT2| of the WMAP in deg, else RASS sky pixels times the WMAP binning."""
    return tuple(
        abs(float(header[key])) if key in header else SKY_PIXEL_DEG * _wmap_binning(header)
        for key in ("CDELT1", "CDELT2")
    )


def wmap_theta_weights(wmap, theta_grid, optical_axis=None):
    """(weights per tabulated angle, total rounded counts, axis in WMAP pixels) of a WMAP."""
    values = np.asarray(wmap.data, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"WMAP must be a 2-D image, got shape {values.shape}")
    axis_x, axis_y = wmap_optical_axis(wmap.header, optical_axis)
    size_x, size_y = (60.0 * size for size in wmap_pixel_deg(wmap.header))  # arcmin
    rows, cols = np.nonzero(values >= MIN_COUNTS)
    weights = values[rows, cols]
    theta = np.hypot((cols + 1 - axis_x) * size_x, (rows + 1 - axis_y) * size_y)
    total = int(np.floor(weights + 0.5).sum())  # Fortran NINT of positive values
    return theta_weights(theta, weights, theta_grid), total, (axis_x, axis_y)


def make_arf(
    rmf_path: str | os.PathLike,
    specresp_path: str | os.PathLike,
    out_path: str | os.PathLike,
    method: str = "onaxis",
    wmap=None,
    optical_axis=None,
    provenance: dict | None = None,
) -> Path:
    """Write an OGIP ARF on the RMF's energy grid from the SPECRESP file.

    ``wmap`` (method 'pcarf'): the spectrum's WMAP as an astropy image HDU, or the path of
    the spectrum whose primary HDU holds it. ``optical_axis``: (OPTAXISX, OPTAXISY) in
    detector pixels, pcarf's parameters (default 4119, 3929). ``provenance``: keyword
    arguments of :func:`rassflow.files.stamp`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown ARF method {method!r}; choose one of {METHODS}")
    energ_lo, energ_hi, rmf_header = read_rmf_grid(rmf_path)
    crf_mid, theta_grid, area = read_specresp(specresp_path)

    cards = [("ARFMETH", method, "how the ARF was computed (onaxis or pcarf)")]
    onaxis = theta_weights([theta_grid[0]], [1.0], theta_grid)
    if method == "onaxis":
        weights = onaxis
    else:
        if wmap is None:
            raise ValueError("ARF method 'pcarf' needs the spectrum's WMAP")
        if isinstance(wmap, str | os.PathLike):
            with fits.open(wmap) as hdul:
                wmap = hdul[0].copy()
        weights, total, (axis_x, axis_y) = wmap_theta_weights(wmap, theta_grid, optical_axis)
        if total >= 1:
            weights = weights / total
            cards += [
                ("WMAPCNTS", total, "sum of rounded WMAP values >= 1 (pcarf totcnts)"),
                ("OPTAXWX", axis_x, "optical axis X in WMAP pixels (1-based)"),
                ("OPTAXWY", axis_y, "optical axis Y in WMAP pixels (1-based)"),
            ]
        else:
            warning = "WMAP has no pixel >= 1: on-axis response used"
            warnings.warn(f"{out_path}: {warning}", stacklevel=2)
            weights = onaxis
            cards = [
                ("ARFMETH", "onaxis", "how the ARF was computed (onaxis or pcarf)"),
                ("ARFREQ", method, "ARF method requested"),
                ("ARFWARN", warning, "why not ARFREQ"),
            ]

    crf_arf = weights @ area  # cm^2 at the SPECRESP file's bin midpoints
    rmf_mid = 0.5 * (energ_lo.astype(float) + energ_hi.astype(float))
    specresp = np.interp(rmf_mid, crf_mid, crf_arf, left=0.0, right=0.0)

    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=energ_lo),
            fits.Column("ENERG_HI", "E", unit="keV", array=energ_hi),
            fits.Column("SPECRESP", "E", unit="cm**2", array=specresp),
        ],
        name="SPECRESP",
    )
    header = table.header
    header["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    header["HDUCLAS1"] = ("RESPONSE", "dataset relates to a response")
    header["HDUCLAS2"] = ("SPECRESP", "dataset is an ancillary response")
    header["HDUVERS"] = ("1.1.0", "version of the format")
    for key in ("TELESCOP", "INSTRUME", "DETNAM", "FILTER"):
        if key in rmf_header:
            header[key] = (rmf_header[key], rmf_header.comments[key])
    header["RESPFILE"] = (Path(rmf_path).name, "RMF whose energy grid this ARF uses")
    header["CRFFILE"] = (Path(specresp_path).name, "spectral response file used")
    for key, value, comment in cards:
        header[key] = (value, comment)

    primary = fits.PrimaryHDU()
    primary.header["CONTENT"] = ("ANCILLARY RESP", "SPECRESP extension")
    for key in ("TELESCOP", "INSTRUME"):
        if key in header:
            primary.header[key] = header[key]
    for hdr in (primary.header, header):
        stamp(hdr, **(provenance or {"tool": "rassflow.products.responses"}))
    write_fits(fits.HDUList([primary, table]), out_path)
    return Path(out_path)


# --- aperture correction for the RASS survey PSF -------------------------------------------


ANALYSIS_PSF = "psfoff"
"""The PSF description the aperture correction uses without a calibration
(:mod:`rassflow.calibration.psf`)."""
ALTERNATIVE_PSF = "gof_faq"
"""The other published description; without a calibration the spread between the two is
the PSF systematic."""
SYSTEMATIC_BAND_KEV = (0.1, 2.4)
"""Energies over which the PSF systematic's extremes are taken (the 2RXS broad band)."""


def psf_kept_fraction(
    energy_keV,
    radius_arcmin: float,
    inner_arcmin: float,
    outer_arcmin: float,
    backscal_ratio: float,
    annulus_kept: float = 1.0,
    model: str = ANALYSIS_PSF,
):
    """Fraction of a point source's photons that remain after background subtraction.

    The source circle holds EEF(E, r); the background region holds the annulus fraction
    times ``annulus_kept`` (the part of the annulus left after exclusions and field edges,
    assuming an azimuthally symmetric PSF), and is subtracted scaled by ``backscal_ratio``
    (BACKSCAL of the source over that of the background). Survey PSF: Boese (2000, A&A Suppl.
    141, 507), see :mod:`rassflow.calibration.psf`; ``model`` the PSF description."""
    from rassflow.calibration.psf import survey_annulus_fraction, survey_eef

    inside = survey_eef(energy_keV, radius_arcmin, model=model)
    in_background = (
        survey_annulus_fraction(energy_keV, inner_arcmin, outer_arcmin, model=model) * annulus_kept
    )
    return np.clip(inside - backscal_ratio * in_background, 0.0, 1.0)


def psf_systematic(
    radius_arcmin: float,
    inner_arcmin: float,
    outer_arcmin: float,
    backscal_ratio: float,
    annulus_kept: float = 1.0,
    band_keV=SYSTEMATIC_BAND_KEV,
    psf: dict | None = None,
) -> tuple[float, float]:
    """(low, high): the extremes over ``band_keV`` and over the ends of the PSF's systematic
    range of kept(used) / kept(end), the factor by which a flux or rate measured with the
    used PSF's aperture correction changes if the PSF at that end is the true one.
    ``psf``: :func:`rassflow.calibration.psf.analysis_psf`'s settings. Without a calibration
    (None) that is kept(PSFOFF) / kept(GOF FAQ): both descriptions are published and the
    data at hand were not asked, so an interval that holds either is
    [lower x min(1, low), upper x max(1, high)] (:func:`apply_psf_systematic`). Below 1 when
    the GOF FAQ's PSF keeps more of a source (the 2' circle: ~0.74 against ~0.64). With a
    calibration the ends are its interval's (:mod:`rassflow.calibration.psf_stack`)."""
    from rassflow.calibration.psf import analysis_psf, systematic_weights

    energy = np.geomspace(band_keV[0], band_keV[1], 41)
    args = (radius_arcmin, inner_arcmin, outer_arcmin, backscal_ratio, annulus_kept)
    used = psf_kept_fraction(energy, *args, model=analysis_psf(psf)["weight"])
    ratios = []
    for end in systematic_weights(psf):
        other = psf_kept_fraction(energy, *args, model=end)
        ratios.append(np.where(other > 0, used / np.where(other > 0, other, 1.0), 1.0))
    return float(np.min(ratios)), float(np.max(ratios))


def apply_psf_systematic(lower, upper, factors):
    """An interval (numbers, arrays or None) widened to hold the value under either PSF
    description: ``lower x min(1, low)``, ``upper x max(1, high)`` with ``factors`` =
    (low, high) of :func:`psf_systematic`. None bounds stay None."""
    low, high = factors
    lo = None if lower is None else np.multiply(lower, min(1.0, low))
    hi = None if upper is None else np.multiply(upper, max(1.0, high))
    return lo, hi


def read_psf_systematic(arf_path) -> tuple[float, float] | None:
    """(low, high) of an ARF's PSF systematic (PSFSYSLO, PSFSYSHI), None without them."""
    with fits.open(arf_path) as hdul:
        if "SPECRESP" not in hdul:
            return None
        header = hdul["SPECRESP"].header
        if "PSFSYSLO" not in header or "PSFSYSHI" not in header:
            return None
        return float(header["PSFSYSLO"]), float(header["PSFSYSHI"])


def read_psf_record(arf_path) -> dict:
    """What an ARF says about the PSF and the regions behind its aperture correction:
    ``{"psf_model", "source_radius_arcmin", "background_arcmin", "psf_systematic"}``
    (None where the ARF has no PSF correction)."""
    with fits.open(arf_path) as hdul:
        header = hdul["SPECRESP"].header if "SPECRESP" in hdul else {}
        corrected = bool(header.get("PSFCORR", False))
        record = {
            "psf_model": header.get("PSFDESC") if corrected else None,
            "source_radius_arcmin": header.get("PSFRAD") if corrected else None,
            "background_arcmin": (
                [header.get("PSFBKGIN"), header.get("PSFBKGOU")] if corrected else None
            ),
            "psf_systematic": None,
        }
        if corrected and "PSFSYSLO" in header and "PSFSYSHI" in header:
            record["psf_systematic"] = [float(header["PSFSYSLO"]), float(header["PSFSYSHI"])]
    return record


def apply_psf_correction(
    arf_path,
    spectrum_path,
    background_path,
    regions: dict,
    provenance: dict | None = None,
    psf: dict | None = None,
) -> Path:
    """Rewrite an ARF with SPECRESP times :func:`psf_kept_fraction` for this source's regions.

    ``regions``: the ``regions`` config section (radii); ``psf``: the survey PSF in use
    (:func:`rassflow.calibration.psf.analysis_psf`; None: PSFOFF). The BACKSCAL values and
    the background region's pixel count (NPIXSOU of its WMAP) come from the spectra. The
    header records the PSF description, the regions and the PSF systematic
    (:func:`psf_systematic`)."""
    from rassflow.calibration.psf import analysis_psf
    from rassflow.files import spectrum_index
    from rassflow.pspc import SKY_PIXEL_DEG

    psf = analysis_psf(psf)
    weight = psf["weight"]

    radius = regions["source_radius_arcmin"]
    inner = radius * regions["background_inner_factor"]
    outer = radius * regions["background_outer_factor"]
    with fits.open(spectrum_path) as src, fits.open(background_path) as bkg:
        src_backscal = float(src[spectrum_index(src, spectrum_path)].header["BACKSCAL"])
        bkg_backscal = float(bkg[spectrum_index(bkg, background_path)].header["BACKSCAL"])
        bkg_pixels = float(bkg[0].header.get("NPIXSOU", 0.0))
    annulus_pixels = np.pi * (outer**2 - inner**2) / (SKY_PIXEL_DEG * 60.0) ** 2
    kept = min(bkg_pixels / annulus_pixels, 1.0) if bkg_pixels > 0 else 1.0
    ratio = src_backscal / bkg_backscal if bkg_backscal > 0 else 0.0
    with fits.open(arf_path) as hdul:
        hdul = fits.HDUList([hdu.copy() for hdu in hdul])
    table = hdul["SPECRESP"]
    mid = 0.5 * (table.data["ENERG_LO"].astype(float) + table.data["ENERG_HI"].astype(float))
    fraction = psf_kept_fraction(mid, radius, inner, outer, ratio, kept, model=weight)
    table.data["SPECRESP"] = table.data["SPECRESP"] * fraction
    at_1kev = float(psf_kept_fraction(1.0, radius, inner, outer, ratio, kept, model=weight))
    other_1kev = float(
        psf_kept_fraction(1.0, radius, inner, outer, ratio, kept, model=ALTERNATIVE_PSF)
    )
    sys_lo, sys_hi = psf_systematic(radius, inner, outer, ratio, kept, psf=psf)
    header = table.header
    header["PSFCORR"] = (True, "SPECRESP has the survey-PSF aperture correction")
    header["PSFMODEL"] = ("RASS survey PSF", "Boese 2000; Hasinger et al. CAL/ROS/93-015")
    header["PSFDESC"] = (psf["description"], "PSF used: psfoff, gof_faq or calibrated")
    header["PSFWGOF"] = (round(weight, 6), "GOF FAQ weight: (1-w) PSFOFF + w GOF FAQ")
    header["PSFWLO"] = (round(psf["low"], 6), "lowest weight of the PSF systematic")
    header["PSFWHI"] = (round(psf["high"], 6), "highest weight of the PSF systematic")
    header["PSFRAD"] = (radius, "[arcmin] source circle radius")
    header["PSFBKGIN"] = (inner, "[arcmin] background annulus inner radius")
    header["PSFBKGOU"] = (outer, "[arcmin] background annulus outer radius")
    header["PSFBKGKP"] = (round(kept, 6), "annulus fraction kept (exclusions, edges)")
    header["PSFFRAC1"] = (round(at_1kev, 6), "photons kept after bkg subtraction at 1 keV")
    header["PSFALT"] = (ALTERNATIVE_PSF, "other PSF description (ROSAT GOF FAQ)")
    header["PSFALT1"] = (round(other_1kev, 6), "PSFFRAC1 under PSFALT")
    header["PSFSYSLO"] = (round(sys_lo, 6), "min kept(PSFWGOF)/kept(PSFWLO,HI) 0.1-2.4 keV")
    header["PSFSYSHI"] = (round(sys_hi, 6), "max kept(PSFWGOF)/kept(PSFWLO,HI) 0.1-2.4 keV")
    if provenance:
        for hdu in hdul:
            stamp(hdu.header, **provenance)
    write_fits(hdul, arf_path)
    return Path(arf_path)
