"""A skyfield directory laid out as HEASARC's archive holds it, for the download tests."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from rassflow.files import compress_file

SEQ = "RS930204N00"
STEM = "rs930204n00"
SKYFIELD_DIR = f"FTP/rosat/data/pspc/processed_data/900000/{STEM}"
FAST = {"backoff": 0.01, "timeout": 10}  # retries without real back-off pauses


def small_fits(path, value: float, extname: str = "DATA") -> fits.HDUList:
    hdul = fits.HDUList(
        [fits.PrimaryHDU(), fits.ImageHDU(np.full((16, 16), value, np.float32), name=extname)]
    )
    hdul.writeto(path, overwrite=True)
    return hdul


def write_archive_tree(tmp_path):
    """``tmp_path/archive``: .Z files, an uncompressed _mex and extras in SEQ's directory."""
    root = tmp_path / "archive"
    directory = root / SKYFIELD_DIR
    directory.mkdir(parents=True)
    plain = tmp_path / "plain"
    plain.mkdir()
    for kind, value in (("bas", 1.0), ("im1", 3.0), ("bk1", 4.0)):
        small_fits(plain / f"{kind}.fits", value)
        compress_file(plain / f"{kind}.fits", directory / f"{STEM}_{kind}.fits.Z")
    small_fits(directory / f"{STEM}_mex.fits", 2.0)
    (directory / ".public_contents").write_text("listing\n")
    return root
