"""Channel grouping of source spectra, as ``ftgrouppha grouptype=min`` does (fact sheet §4).

Only the source spectrum is grouped; the background takes the source grouping when fitted.

Grouping within the fit range (``energy_range_keV``): the channels the fitters would not
notice as groups of their own (``in_fit_range`` on the RMF's EBOUNDS:
E_MIN >= lo and E_MAX < hi) get QUALITY 5 and GROUPING 1, and the greedy grouping runs over
the channels inside only, from the first of them, so that no group straddles a limit. Its
trailing group that never reaches the minimum joins the group before it instead of being
marked bad, so that every count inside the range is in a noticed group (when the range
holds fewer counts than the minimum, its channels keep ftgrouppha's QUALITY 2).

QUALITY 5 is OGIP's "set bad by the user" (0 good, 1 bad by the software that made the
file, 2 dubious by software, 5 bad by the user): the range is the user's choice
(fit.energy_range_keV), not a defect of the data, and 5 keeps those channels apart from
the 2 of a group that failed its minimum. Both fitters ignore any QUALITY != 0 (XSPEC's
``ignore bad``, Sherpa's mask), so they notice the same groups either way.

The HEASoft backend gets the same GROUPING/QUALITY from ``ftgrouppha minchannel=..
maxchannel=..`` (the range's first and last channel: heasp's grouping then starts at
minchannel, leaves the channels outside as GROUPING 1, keeps their input QUALITY and marks
the failed trailing group QUALITY 2; it does not skip channels by an existing QUALITY
column) followed by :func:`restrict_to_range` with astropy.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from rassflow.files import spectrum_index, stamp, write_fits

QUALITY_BAD = 2  # OGIP: channel set bad by a tool (here: the trailing incomplete group)
QUALITY_OUTSIDE = 5  # OGIP: channel set bad by the user (outside the fit's energy range)


def in_fit_range(e_lo, e_hi, energy_range_keV):
    """Boolean per bin [e_lo, e_hi] (keV): inside the fitted range [lo, hi) as XSPEC's
    ``ignore **-lo hi-**`` keeps a bin (fact sheet §4.4): E_lo >= lo and E_hi < hi, so a bin
    that straddles either limit is out.

    The one rule for both the fitters' noticed groups (first channel's E_MIN, last
    channel's E_MAX of each group) and the grouping, which marks a channel bad before
    grouping exactly when this rule would drop it as a group of its own.
    """
    lo, hi = energy_range_keV
    e_lo, e_hi = np.asarray(e_lo, dtype=float), np.asarray(e_hi, dtype=float)
    return (e_lo >= float(lo)) & (e_hi < float(hi))


def read_ebounds(rmf_path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(CHANNEL, E_MIN, E_MAX) of a response's EBOUNDS extension (keV)."""
    with fits.open(rmf_path) as hdul:
        if "EBOUNDS" not in hdul:
            raise KeyError(f"{rmf_path}: no EBOUNDS extension")
        data = hdul["EBOUNDS"].data
        return (
            np.asarray(data["CHANNEL"], dtype=int),
            np.asarray(data["E_MIN"], dtype=float),
            np.asarray(data["E_MAX"], dtype=float),
        )


def channels_in_range(channels, rmf_path, energy_range_keV) -> np.ndarray:
    """Boolean per spectrum channel: inside the fit range as the fitters notice a group of
    that channel alone (in_fit_range on the RMF's EBOUNDS)."""

    channels = np.asarray(channels, dtype=int)
    ebounds_channel, e_min, e_max = read_ebounds(rmf_path)
    if not np.array_equal(ebounds_channel, channels):
        raise ValueError(
            f"{rmf_path}: EBOUNDS channels {ebounds_channel[:1]}..{ebounds_channel[-1:]} "
            f"({ebounds_channel.size}) differ from the spectrum's {channels[:1]}..{channels[-1:]}"
            f" ({channels.size})"
        )
    inside = in_fit_range(e_min, e_max, energy_range_keV)
    index = np.flatnonzero(inside)
    if index.size and index.size != index[-1] - index[0] + 1:
        raise ValueError(f"{rmf_path}: the channels inside {energy_range_keV} keV are not "
                         "contiguous (EBOUNDS not increasing)")  # fmt: skip
    return inside


def restrict_to_range(grouping, quality, inside) -> tuple[np.ndarray, np.ndarray]:
    """Min-count GROUPING/QUALITY made over the channels ``inside`` only (their first to
    last, as ftgrouppha minchannel/maxchannel), finished for the fit range: channels outside
    get GROUPING 1 and QUALITY 5; the failed trailing group inside (QUALITY 2 channels at
    the end of the range) joins the group before it, when there is one."""
    grouping = np.array(grouping, dtype=np.int16)
    quality = np.array(quality, dtype=np.int16)
    inside = np.asarray(inside, dtype=bool)
    grouping[~inside] = 1
    quality[~inside] = QUALITY_OUTSIDE
    index = np.flatnonzero(inside)
    if index.size:
        first, last = index[0], index[-1]
        start = last + 1
        while start > first and quality[start - 1] == QUALITY_BAD:
            start -= 1
        if first < start <= last:  # a complete group precedes the failed tail
            grouping[start : last + 1] = -1
            quality[start : last + 1] = 0
    return grouping, quality


def group_min_counts_in_range(counts, min_counts: int, inside) -> tuple[np.ndarray, np.ndarray]:
    """GROUPING and QUALITY as :func:`group_min_counts` over the channels ``inside`` only
    (see the module docstring); every channel outside gets QUALITY 5."""
    counts = np.asarray(counts)
    inside = np.asarray(inside, dtype=bool)
    if inside.shape != counts.shape:
        raise ValueError(f"{inside.size} range flags for {counts.size} channels")
    grouping = np.ones(counts.size, dtype=np.int16)
    quality = np.zeros(counts.size, dtype=np.int16)
    index = np.flatnonzero(inside)
    if index.size:
        first, last = index[0], index[-1] + 1
        grouping[first:last], quality[first:last] = group_min_counts(counts[first:last], min_counts)
    return restrict_to_range(grouping, quality, inside)


def with_grouping_columns(hdu, grouping, quality, header=None):
    """A copy of a SPECTRUM table with QUALITY and GROUPING columns (I) holding the given
    values: existing columns are replaced in place, so that column-numbered keywords
    (TLMINn) stay valid, and constant-value QUALITY/GROUPING keywords are dropped."""
    header = (hdu.header if header is None else header).copy()
    for key in ("GROUPING", "QUALITY"):  # constant-value keywords replaced by columns
        header.remove(key, ignore_missing=True)
    new_columns = {
        "QUALITY": fits.Column("QUALITY", "I", array=np.asarray(quality, dtype=np.int16)),
        "GROUPING": fits.Column("GROUPING", "I", array=np.asarray(grouping, dtype=np.int16)),
    }
    columns = [new_columns.pop(c.name.upper(), c) for c in hdu.columns]
    columns += list(new_columns.values())
    return fits.BinTableHDU.from_columns(columns, header=header)


def group_min_counts(counts, min_counts: int) -> tuple[np.ndarray, np.ndarray]:
    """GROUPING and QUALITY (int16) for groups of at least ``min_counts`` counts.

    Greedy from the first channel: a channel starts a group (GROUPING 1) and the following
    channels join it (GROUPING -1) until its counts reach ``min_counts``. The channels of a
    trailing group that never reaches it get QUALITY 2 and GROUPING 1 each.
    """
    counts = np.asarray(counts)
    if counts.ndim != 1:
        raise ValueError(f"counts must be one-dimensional, got shape {counts.shape}")
    if min_counts < 1:
        raise ValueError(f"min_counts must be >= 1, got {min_counts}")
    if np.any(counts < 0):
        raise ValueError("counts must not be negative")
    grouping = np.full(counts.size, -1, dtype=np.int16)
    quality = np.zeros(counts.size, dtype=np.int16)
    group_start, group_sum = None, 0
    for channel, value in enumerate(counts):
        if group_start is None:
            group_start, group_sum = channel, 0
            grouping[channel] = 1
        group_sum += value
        if group_sum >= min_counts:
            group_start = None
    if group_start is not None:  # the trailing group failed
        grouping[group_start:] = 1
        quality[group_start:] = QUALITY_BAD
    return grouping, quality


def group_spectrum(
    spectrum_path: str | os.PathLike,
    out_path: str | os.PathLike,
    min_counts: int,
    respfile: str,
    ancrfile: str,
    backfile: str,
    provenance: dict | None = None,
    energy_range_keV=None,
    rmf=None,
) -> Path:
    """Write a copy of an OGIP spectrum with GROUPING/QUALITY columns and response links.

    Every HDU is kept (the primary may hold the WMAP). RESPFILE, ANCRFILE and BACKFILE are
    written as given (e.g. paths relative to the output file, as XSPEC resolves them).
    ``energy_range_keV`` (with ``rmf``, the path of the RMF whose EBOUNDS define channel
    energies): group within the fit range (module docstring); None = ftgrouppha on the
    whole spectrum from channel 1, as the notebook.
    """
    if energy_range_keV is not None and rmf is None:
        raise ValueError("grouping within an energy range needs the RMF (its EBOUNDS)")
    with fits.open(spectrum_path) as hdul:
        index = spectrum_index(hdul, spectrum_path)
        spectrum = hdul[index]
        if "COUNTS" not in spectrum.columns.names:
            raise KeyError(f"{spectrum_path}: SPECTRUM has no COUNTS column")
        counts = spectrum.data["COUNTS"]
        if energy_range_keV is None:
            grouping, quality = group_min_counts(counts, min_counts)
        else:
            inside = channels_in_range(spectrum.data["CHANNEL"], rmf, energy_range_keV)
            grouping, quality = group_min_counts_in_range(counts, min_counts, inside)

        grouped = with_grouping_columns(spectrum, grouping, quality)
        header = grouped.header
        header["RESPFILE"] = (respfile, "redistribution matrix (RMF)")
        header["ANCRFILE"] = (ancrfile, "ancillary response file (ARF)")
        header["BACKFILE"] = (backfile, "background spectrum")
        header["GRPTYPE"] = ("MIN", "ftgrouppha grouptype: minimum counts per group")
        header["GRPSCAL"] = (int(min_counts), "minimum counts per group")
        if energy_range_keV is not None:
            mark_range(header, energy_range_keV)
        stamp(header, **(provenance or {"tool": "rassflow.products.grouping"}))

        out = fits.HDUList([hdu.copy() if i != index else grouped for i, hdu in enumerate(hdul)])
        write_fits(out, out_path)
    return Path(out_path)


def mark_range(header, energy_range_keV) -> None:
    """Keywords saying that the grouping ran within the fit range (QUALITY 5 outside)."""
    lo, hi = energy_range_keV
    header["GRPELO"] = (float(lo), "[keV] grouping range start; QUALITY 5 outside")
    header["GRPEHI"] = (float(hi), "[keV] grouping range end (exclusive)")
