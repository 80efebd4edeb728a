"""Channel grouping of source spectra, as ``ftgrouppha grouptype=min`` does (fact sheet §4).

Only the source spectrum is grouped; the background takes the source grouping when fitted.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from .io import stamp, write_fits

QUALITY_BAD = 2  # OGIP: channel set bad by a tool (here: the trailing incomplete group)


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


def _spectrum_index(hdul, path) -> int:
    for index, hdu in enumerate(hdul):
        header = hdu.header
        if header.get("EXTNAME", "").upper() == "SPECTRUM" or header.get("HDUCLAS1") == "SPECTRUM":
            if isinstance(hdu, fits.BinTableHDU):
                return index
    raise KeyError(f"{path}: no SPECTRUM extension")


def group_spectrum(
    spectrum_path: str | os.PathLike,
    out_path: str | os.PathLike,
    min_counts: int,
    respfile: str,
    ancrfile: str,
    backfile: str,
    provenance: dict | None = None,
) -> Path:
    """Write a copy of an OGIP spectrum with GROUPING/QUALITY columns and response links.

    Every HDU is kept (the primary may hold the WMAP). RESPFILE, ANCRFILE and BACKFILE are
    written as given (e.g. paths relative to the output file, as XSPEC resolves them).
    """
    with fits.open(spectrum_path) as hdul:
        index = _spectrum_index(hdul, spectrum_path)
        spectrum = hdul[index]
        if "COUNTS" not in spectrum.columns.names:
            raise KeyError(f"{spectrum_path}: SPECTRUM has no COUNTS column")
        grouping, quality = group_min_counts(spectrum.data["COUNTS"], min_counts)

        header = spectrum.header.copy()
        for key in ("GROUPING", "QUALITY"):  # constant-value keywords replaced by columns
            header.remove(key, ignore_missing=True)
        # replace existing columns in place so column-numbered keywords (TLMINn) stay valid
        new_columns = {
            "QUALITY": fits.Column("QUALITY", "I", array=quality),
            "GROUPING": fits.Column("GROUPING", "I", array=grouping),
        }
        columns = [new_columns.pop(c.name.upper(), c) for c in spectrum.columns]
        columns += list(new_columns.values())
        grouped = fits.BinTableHDU.from_columns(columns, header=header)
        header = grouped.header
        header["RESPFILE"] = (respfile, "redistribution matrix file (RMF)")
        header["ANCRFILE"] = (ancrfile, "ancillary response file (ARF)")
        header["BACKFILE"] = (backfile, "background spectrum")
        header["GRPTYPE"] = ("MIN", "ftgrouppha grouptype: minimum counts per group")
        header["GRPSCAL"] = (int(min_counts), "minimum counts per group")
        stamp(header, **(provenance or {"tool": "rassflow.grouping"}))

        out = fits.HDUList([hdu.copy() if i != index else grouped for i, hdu in enumerate(hdul)])
        write_fits(out, out_path)
    return Path(out_path)
