"""RASS skyfield files: find them in an archive tree, expand them once, read events.

The archive keeps each skyfield in ``rsNNNNNNn00/`` with ``_bas`` (events), ``_mex``
(exposure map) and ``_im1`` (image) files, mostly unix-compressed (``.Z``). Column
sets, TLMIN/TLMAX and WCS keywords are read from the files, never assumed.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rassflow.errors import DataError
from rassflow.files import decompress_to

SEQ_PATTERN = re.compile(r"^RS(\d{6})N00$")
FILE_KINDS = ("bas", "mex", "im1")


class ArchiveError(DataError, RuntimeError):
    """A skyfield file is missing or unusable; the message names the skyfield and file."""


def seq_id(skyfield_number) -> str:
    """RASS sequence ID of a skyfield: 'RS' + 6-digit number + 'N00'."""
    return f"RS{int(skyfield_number):06d}N00"


def skyfield_stem(seq: str) -> str:
    """'RS930204N00' -> 'rs930204n00' (archive directory and file names are lower case)."""
    if not SEQ_PATTERN.match(seq):
        raise ArchiveError(f"{seq!r} is not a RASS sequence ID (RS + 6 digits + N00)")
    return seq.lower()


def find_archive_file(root: str | Path, seq: str, kind: str) -> Path:
    """The archive file of one kind for a skyfield, compressed (.Z) or not."""
    stem = skyfield_stem(seq)
    directory = Path(root) / stem
    for name in (f"{stem}_{kind}.fits", f"{stem}_{kind}.fits.Z"):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise ArchiveError(
        f"skyfield {seq}: no {stem}_{kind}.fits or {stem}_{kind}.fits.Z in {directory}"
    )


def prepare_skyfield(root: str | Path, seq: str, targets: dict[str, str | Path]) -> None:
    """Expand a skyfield's archive files into the workflow's cache, once.

    ``targets`` maps a kind ('bas', 'mex', 'im1') to its uncompressed destination. Each
    file is checked to be readable FITS before it is renamed into place.
    """
    from astropy.io import fits

    for kind, target in targets.items():
        source = find_archive_file(root, seq, kind)
        decompress_to(source, target)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # astropy only warns about truncated files
                with fits.open(target, memmap=False) as hdul:
                    hdul.verify("silentfix")
                    _ = [hdu.data for hdu in hdul]  # every byte present, once per skyfield
        except Exception as exc:  # noqa: BLE001 - any read failure means unusable
            Path(target).unlink(missing_ok=True)
            raise ArchiveError(
                f"skyfield {seq}: {source} is not a readable FITS file: {exc}"
            ) from exc


@dataclass
class EventList:
    """Accepted events of one skyfield, inside its GTIs, with the sky-pixel geometry."""

    x: np.ndarray
    y: np.ndarray
    pi: np.ndarray
    time: np.ndarray
    header: object  # the STDEVT header
    primary_header: object
    gti: np.ndarray  # (n, 2) START, STOP in s
    path: str
    xy_columns: tuple[int, int]  # 1-based column numbers of X and Y in STDEVT

    def axis_range(self, axis: str) -> tuple[int, int]:
        """TLMIN/TLMAX of the X or Y column."""
        number = self.xy_columns[0 if axis == "X" else 1]
        try:
            return int(self.header[f"TLMIN{number}"]), int(self.header[f"TLMAX{number}"])
        except KeyError as exc:
            raise ArchiveError(f"{self.path}: STDEVT has no {exc.args[0]} for {axis}") from exc

    def pi_range(self) -> tuple[int, int]:
        number = self.pi_column
        return int(self.header.get(f"TLMIN{number}", 1)), int(
            self.header.get(f"TLMAX{number}", 256)
        )

    pi_column: int = 0

    def wcs(self):
        """The sky-pixel TAN WCS of X/Y (1-based FITS pixel convention)."""
        from astropy.wcs import WCS

        wcs = WCS(naxis=2)
        nx, ny = self.xy_columns
        h = self.header
        wcs.wcs.ctype = [h[f"TCTYP{nx}"], h[f"TCTYP{ny}"]]
        wcs.wcs.crval = [h[f"TCRVL{nx}"], h[f"TCRVL{ny}"]]
        wcs.wcs.crpix = [h[f"TCRPX{nx}"], h[f"TCRPX{ny}"]]
        wcs.wcs.cdelt = [h[f"TCDLT{nx}"], h[f"TCDLT{ny}"]]
        wcs.wcs.cunit = ["deg", "deg"]
        wcs.wcs.radesys = str(h.get("RADECSYS", h.get("RADESYS", "FK5"))).strip() or "FK5"
        wcs.wcs.equinox = float(h.get("EQUINOX", 2000.0))
        return wcs

    @property
    def pixel_scale_deg(self) -> float:
        return abs(float(self.header[f"TCDLT{self.xy_columns[0]}"]))


def read_events(path: str | Path, apply_gti: bool = True, geometry_only: bool = False) -> EventList:
    """Read STDEVT and STDGTI of a (decompressed) _bas file; keep events inside the GTIs.

    ``geometry_only`` reads the headers (WCS, TLMIN/TLMAX) and no event rows."""
    from astropy.io import fits

    path = Path(path)
    try:
        hdul = fits.open(path, memmap=False)
    except Exception as exc:  # noqa: BLE001
        raise ArchiveError(f"{path}: not a readable FITS events file ({exc})") from exc
    with hdul:
        names = [hdu.name for hdu in hdul]
        if "STDEVT" not in names:
            raise ArchiveError(f"{path}: no STDEVT extension (extensions: {', '.join(names)})")
        events = hdul["STDEVT"]
        columns = [c.upper() for c in events.columns.names]
        missing = [c for c in ("X", "Y", "PI") if c not in columns]
        if missing:
            raise ArchiveError(f"{path}: STDEVT lacks column(s) {', '.join(missing)}")
        try:
            data = events.data if not geometry_only else {c: np.zeros(0) for c in columns}
            x = np.asarray(data["X"], dtype=np.int64)
            y = np.asarray(data["Y"], dtype=np.int64)
            pi = np.asarray(data["PI"], dtype=np.int64)
            time = np.asarray(data["TIME"], dtype=float) if "TIME" in columns else np.zeros(len(x))
        except Exception as exc:  # noqa: BLE001 - truncated data
            raise ArchiveError(f"{path}: cannot read STDEVT rows ({exc})") from exc
        if "STDGTI" in names:
            gti_data = hdul["STDGTI"].data
            gti = np.column_stack([gti_data["START"], gti_data["STOP"]]).astype(float)
        else:
            gti = np.empty((0, 2))
        header = events.header.copy()
        primary = hdul[0].header.copy()
    if apply_gti and len(gti):
        keep = in_gti(time, gti)
        x, y, pi, time = x[keep], y[keep], pi[keep], time[keep]
    return EventList(
        x=x,
        y=y,
        pi=pi,
        time=time,
        header=header,
        primary_header=primary,
        gti=gti,
        path=str(path),
        xy_columns=(columns.index("X") + 1, columns.index("Y") + 1),
        pi_column=columns.index("PI") + 1,
    )


def in_gti(time: np.ndarray, gti: np.ndarray) -> np.ndarray:
    """True for times inside any [START, STOP) interval."""
    order = np.argsort(gti[:, 0])
    starts, stops = gti[order, 0], gti[order, 1]
    index = np.searchsorted(starts, time, side="right") - 1
    valid = index >= 0
    keep = np.zeros(len(time), dtype=bool)
    keep[valid] = time[valid] < stops[index[valid]]
    return keep


def exposure_at(expmap_path: str | Path, ra_deg: float, dec_deg: float) -> float:
    """Exposure-map value (s) at a position: nearest pixel, as XGA and the notebook do."""
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(expmap_path) as hdul:
        hdu = next((h for h in hdul if h.data is not None and h.data.ndim == 2), None)
        if hdu is None:
            raise ArchiveError(f"{expmap_path}: no 2-D exposure image")
        wcs = WCS(hdu.header)
        col, row = np.round(wcs.all_world2pix([[ra_deg, dec_deg]], 0)[0]).astype(int)
        ny, nx = hdu.data.shape
        if not (0 <= col < nx and 0 <= row < ny):
            return float("nan")
        return float(hdu.data[row, col])


def observation_epoch(events_path) -> float:
    """Julian year of a skyfield's observation: the exposure-weighted mean time of its good
    time intervals (STDGTI, seconds after MJDREFI + MJDREFF of the STDEVT header)."""
    from astropy.io import fits
    from astropy.time import Time

    with fits.open(events_path) as hdul:
        names = [hdu.name for hdu in hdul]
        if "STDGTI" not in names or "STDEVT" not in names:
            raise ArchiveError(f"{events_path}: needs STDGTI and STDEVT for the epoch")
        gti = hdul["STDGTI"].data
        header = hdul["STDEVT"].header
        start, stop = np.asarray(gti["START"], float), np.asarray(gti["STOP"], float)
        if "MJDREFI" in header:
            mjdref = float(header["MJDREFI"]) + float(header.get("MJDREFF", 0.0))
        else:
            mjdref = float(header["MJDREF"])
    length = np.clip(stop - start, 0.0, None)
    if length.sum() <= 0:
        raise ArchiveError(f"{events_path}: STDGTI has no positive interval")
    mean = float(np.sum(0.5 * (start + stop) * length) / length.sum())
    return float(Time(mjdref + mean / 86400.0, format="mjd", scale="utc").jyear)


def archive_epoch(root, seq: str) -> float:
    """:func:`observation_epoch` of a skyfield in an archive tree (its _bas file, .Z or not)."""
    import tempfile

    source = find_archive_file(root, seq, "bas")
    with tempfile.TemporaryDirectory(prefix="rassflow-epoch-") as tmp:
        return observation_epoch(decompress_to(source, Path(tmp) / "bas.fits"))
