"""Energy conversion factors: fold a photon spectrum through an OGIP response.

A model is a callable ``photon_flux(lo, hi)`` returning photons cm^-2 s^-1 in each energy bin
[lo, hi] (keV) -- the bin-integrated form XSPEC models use. Folding (OGIP memo CAL/GEN/92-002,
George et al. 1992, "The calibration requirements for spectral analysis")::

    C_j = sum_i F_i A_i R_ij        F_i photons cm^-2 s^-1 in energy bin i,
                                    A_i effective area (cm^2, ARF SPECRESP),
                                    R_ij redistribution probability (RMF MATRIX)

gives counts s^-1 per channel; a count rate in a channel range sums C_j over it (inclusive, e.g.
the 2RXS broad band PI 11-235; Boller et al. 2016). An RSP file (``HDUCLAS3 = 'FULL'``, such as
the ROSAT PSPC-C ``pspcc_gain1_256.rsp``) already holds A_i R_ij in its matrix: pass area = 1.

The energy flux in a band is ``sum_i F_i (lo_i + hi_i) / 2`` times 1 keV = 1.602192e-9 erg
(bin-centre energy times photons per bin, as XSPEC's ``flux`` command computes it; the same keV
to erg factor appears in HEASoft's Fortran flux converters). The energy
conversion factor ECF = energy flux / count rate is in erg cm^-2 per count.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy.io import fits

__all__ = [
    "KEV_TO_ERG",
    "Response",
    "ecf",
    "energy_flux",
    "fit_model",
    "fold_rate",
    "read_response",
]

KEV_TO_ERG = 1.602192e-9
"""erg per keV for energy fluxes: the value given for XSPEC in this project's brief, also found in
HEASoft-era Fortran flux converters (CODATA 2018 gives 1.602177e-9, 1e-5 lower)."""


class Response(NamedTuple):
    """A dense response: ``matrix[i, j]`` is the response of channel ``channels[j]`` to a photon
    in energy bin ``[energ_lo[i], energ_hi[i]]`` (keV); ``area`` (cm^2) is the ARF (ones for an
    RSP whose matrix already includes the area)."""

    energ_lo: np.ndarray
    energ_hi: np.ndarray
    area: np.ndarray
    matrix: np.ndarray
    channels: np.ndarray


def _photons(photon_flux, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    phot = np.asarray(photon_flux(lo, hi), dtype=float)
    if phot.shape != lo.shape:
        raise ValueError(
            f"photon_flux(lo, hi) must return one value per energy bin (shape {lo.shape}), "
            f"got shape {phot.shape}"
        )
    if not np.all(np.isfinite(phot)):
        raise ValueError("photon_flux(lo, hi) returned non-finite values")
    return phot


def fit_model(model: str, shape: float, nh: float = 0.0):
    """``photon_flux(lo, hi)`` of a fit model (rassflow.fitting.models: bbody, powerlaw,
    tbabs*bbody, ...) with norm 1: ``shape`` is kT (keV) or the photon index, ``nh`` the
    column (10^22 cm^-2) of an absorbed model, whose absorption is XSPEC's own code with
    Wilms abundances (wilm) and Verner cross-sections (vern; rassflow.fitting.absorption).
    An ECF of an absorbed model converts counts to the absorbed (observed) flux."""
    import functools

    from rassflow.fitting.models import MODELS, absorber, photon_flux

    if model not in MODELS:
        raise ValueError(f"unknown ECF model {model!r}; known models: {', '.join(MODELS)}")
    if not nh >= 0:
        raise ValueError(f"nH must be >= 0 (10^22 cm^-2), got {nh!r}")
    params = (float(nh), float(shape), 1.0) if absorber(model) else (float(shape), 1.0)
    return functools.partial(photon_flux, model, params)


def fold_rate(photon_flux, energ_lo, energ_hi, area_cm2, matrix, channels, channel_range):
    """Count rate (counts s^-1) of a model in an inclusive channel range.

    ``sum_{j in range} sum_i F_i A_i R_ij`` (OGIP CAL/GEN/92-002), with F_i =
    ``photon_flux(energ_lo, energ_hi)`` in photons cm^-2 s^-1 per bin, ``area_cm2`` a scalar or
    one value per energy bin, ``matrix`` of shape (n_energy, n_channel), ``channels`` the channel
    numbers of the matrix columns and ``channel_range = (first, last)`` inclusive.
    """
    energ_lo = np.asarray(energ_lo, dtype=float)
    energ_hi = np.asarray(energ_hi, dtype=float)
    matrix = np.asarray(matrix, dtype=float)
    channels = np.asarray(channels)
    if energ_lo.ndim != 1 or energ_lo.shape != energ_hi.shape:
        raise ValueError("energ_lo and energ_hi must be 1-d arrays of the same length")
    if np.any(energ_hi < energ_lo):
        # zero-width bins are legal: the ROSAT PSPC RSPs repeat an energy at each absorption
        # edge, and a bin-integrated model gives no photons there
        raise ValueError("every energy bin needs energ_hi >= energ_lo")
    if matrix.shape != (energ_lo.size, channels.size):
        raise ValueError(
            f"matrix has shape {matrix.shape}, expected (n_energy, n_channel) = "
            f"({energ_lo.size}, {channels.size})"
        )
    area = np.broadcast_to(np.asarray(area_cm2, dtype=float), energ_lo.shape)
    first, last = channel_range
    if first > last:
        raise ValueError(
            f"channel_range must be (first, last) with first <= last, got {channel_range!r}"
        )
    selected = (channels >= first) & (channels <= last)
    if not np.any(selected):
        raise ValueError(
            f"no channel of the response lies in {channel_range!r} "
            f"(channels {channels.min()}..{channels.max()})"
        )
    counts = (_photons(photon_flux, energ_lo, energ_hi) * area) @ matrix
    return float(counts[selected].sum())


def energy_flux(photon_flux, e_lo, e_hi, n_bins=2000):
    """Energy flux (erg cm^-2 s^-1) of a model between ``e_lo`` and ``e_hi`` keV.

    ``sum_i F_i (lo_i + hi_i) / 2 * 1.602192e-9`` over ``n_bins`` logarithmic bins spanning the
    band, photons per bin times the bin-centre energy (the way XSPEC's ``flux`` computes it).
    """
    if not (np.isfinite(e_lo) and np.isfinite(e_hi) and 0 < e_lo < e_hi):
        raise ValueError(f"need 0 < e_lo < e_hi (keV), got {e_lo!r}, {e_hi!r}")
    edges = np.geomspace(float(e_lo), float(e_hi), int(n_bins) + 1)
    lo, hi = edges[:-1], edges[1:]
    return float(np.sum(_photons(photon_flux, lo, hi) * 0.5 * (lo + hi)) * KEV_TO_ERG)


def ecf(
    photon_flux,
    band_keV,
    energ_lo,
    energ_hi,
    area_cm2,
    matrix,
    channels,
    channel_range,
    n_bins=2000,
):
    """Energy conversion factor: flux in ``band_keV = (e_lo, e_hi)`` per unit count rate in
    ``channel_range``, in erg cm^-2 per count (multiply a count rate by it to get a flux).

    ``energy_flux(photon_flux, *band_keV) / fold_rate(photon_flux, ...)``; the normalisation of
    the model cancels.
    """
    rate = fold_rate(photon_flux, energ_lo, energ_hi, area_cm2, matrix, channels, channel_range)
    if rate <= 0:
        raise ValueError("the model gives no counts in the channel range; the ECF is undefined")
    e_lo, e_hi = band_keV
    return energy_flux(photon_flux, e_lo, e_hi, n_bins=n_bins) / rate


# ---------------------------------------------------------------------------------------------
# OGIP reader
# ---------------------------------------------------------------------------------------------


def _matrix_hdu(hdul: fits.HDUList):
    for hdu in hdul[1:]:
        name = str(hdu.header.get("EXTNAME", "")).strip().upper()
        clas2 = str(hdu.header.get("HDUCLAS2", "")).strip().upper()
        if name in ("MATRIX", "SPECRESP MATRIX") or clas2 == "RSP_MATRIX":
            return hdu
    raise ValueError("no MATRIX (or SPECRESP MATRIX) extension in the response file")


def _column_tlmin(hdu, column: str, default: int = 1) -> int:
    names = [c.upper() for c in hdu.columns.names]
    k = names.index(column.upper()) + 1
    return int(hdu.header.get(f"TLMIN{k}", default))


def read_response(rmf_path, arf_path=None) -> Response:
    """Read an OGIP RMF (or RSP) and optional ARF into a dense :class:`Response`.

    The RMF's MATRIX (or SPECRESP MATRIX) extension is decoded per OGIP CAL/GEN/92-002:
    for each energy row, ``N_GRP`` channel groups start at ``F_CHAN`` and span ``N_CHAN``
    channels, their ``MATRIX`` elements stored one after the other. ``F_CHAN``/``N_CHAN``/
    ``MATRIX`` may be scalars, fixed-length or variable-length arrays. Channel numbers start at
    ``TLMIN`` of the F_CHAN column (0 or 1; 1 when absent, the OGIP default), and the matrix has
    ``DETCHANS`` columns. ``channels`` comes from EBOUNDS (checked against TLMIN/DETCHANS).

    The area is the ARF's SPECRESP column (cm^2), which must be on the RMF's energy grid;
    without an ARF (an RSP, whose matrix already includes the area) it is 1.
    """
    rmf_path = Path(rmf_path)
    with fits.open(rmf_path) as hdul:
        hdu = _matrix_hdu(hdul)
        data = hdu.data
        energ_lo = np.asarray(data["ENERG_LO"], dtype=float)
        energ_hi = np.asarray(data["ENERG_HI"], dtype=float)
        tlmin = _column_tlmin(hdu, "F_CHAN")
        ebounds = next(
            (h for h in hdul[1:] if str(h.header.get("EXTNAME", "")).strip() == "EBOUNDS"), None
        )
        detchans = hdu.header.get("DETCHANS")
        if detchans is None:
            if ebounds is None:
                raise ValueError(f"{rmf_path}: no DETCHANS keyword and no EBOUNDS extension")
            detchans = len(ebounds.data)
        detchans = int(detchans)
        matrix = np.zeros((energ_lo.size, detchans))
        n_grp = np.asarray(data["N_GRP"]).astype(int)
        f_chan_col, n_chan_col, matrix_col = data["F_CHAN"], data["N_CHAN"], data["MATRIX"]
        for i in range(energ_lo.size):
            ngrp = int(n_grp[i])
            if ngrp == 0:
                continue
            f_chan = np.atleast_1d(np.asarray(f_chan_col[i])).astype(int)[:ngrp]
            n_chan = np.atleast_1d(np.asarray(n_chan_col[i])).astype(int)[:ngrp]
            values = np.atleast_1d(np.asarray(matrix_col[i], dtype=float)).ravel()
            if f_chan.size < ngrp or n_chan.size < ngrp:
                raise ValueError(f"{rmf_path}: row {i} has N_GRP = {ngrp} but fewer groups")
            pos = 0
            for first, count in zip(f_chan, n_chan, strict=True):
                start = first - tlmin
                if start < 0 or start + count > detchans or pos + count > values.size:
                    raise ValueError(
                        f"{rmf_path}: row {i} group (F_CHAN={first}, N_CHAN={count}) does not fit "
                        f"{detchans} channels from TLMIN = {tlmin} / {values.size} matrix values"
                    )
                matrix[i, start : start + count] = values[pos : pos + count]
                pos += count
        channels = np.arange(tlmin, tlmin + detchans)
        if ebounds is not None and "CHANNEL" in [c.upper() for c in ebounds.columns.names]:
            eb_channels = np.asarray(ebounds.data["CHANNEL"]).astype(int)
            if eb_channels.size != detchans or np.any(eb_channels != channels):
                raise ValueError(
                    f"{rmf_path}: EBOUNDS channels {eb_channels[:1]}..{eb_channels[-1:]} "
                    f"({eb_channels.size}) disagree with TLMIN = {tlmin}, DETCHANS = {detchans}"
                )
    if arf_path is None:
        area = np.ones_like(energ_lo)
    else:
        with fits.open(arf_path) as arf:
            if "SPECRESP" not in arf:
                raise ValueError(f"{arf_path}: no SPECRESP extension")
            spec = arf["SPECRESP"].data
            a_lo = np.asarray(spec["ENERG_LO"], dtype=float)
            a_hi = np.asarray(spec["ENERG_HI"], dtype=float)
            area = np.asarray(spec["SPECRESP"], dtype=float)
        if a_lo.shape != energ_lo.shape or not (
            np.allclose(a_lo, energ_lo, rtol=1e-5) and np.allclose(a_hi, energ_hi, rtol=1e-5)
        ):
            raise ValueError(f"{arf_path}: ARF energy grid differs from the RMF's ({rmf_path})")
    return Response(energ_lo, energ_hi, area, matrix, channels)
