"""A mini calibration database (CALDB) for the PSPC-C, and the quzcif-style look-up into it.

The files are written from :mod:`rassflow.simulate.instrument` and laid out as the HEASARC CALDB is:

    <root>/data/rosat/pspc/caldb.indx                        CIF index (extension 'CIF')
    <root>/data/rosat/pspc/cpf/matrices/pspcc_gain1_256.rmf  redistribution matrix (MATRIX)
    <root>/data/rosat/pspc/cpf/pspcc_v1.spec_resp            spectral response (SPECRESP)

The RMF is a pure redistribution matrix (no effective area), like the real
pspcc_gain1_256.rmf, so spectra need an ARF (:mod:`rassflow.products.responses`).

SPECRESP file layout (what pcarf calls a "SPECTRAL RESPONSE" CRF file): the primary header
has CONTENT = 'SPECTRAL RESPONSE'; extension SPECRESP holds ONE row with the vector columns
ENERG_LO, ENERG_HI (n_energy, keV), THETA (n_theta, arcmin) and SPECRESP
(n_energy x n_theta, cm^2, TDIM '(n_energy,n_theta)', energy varying fastest), i.e. mirror
area x vignetting at each off-axis angle. In numpy a row's SPECRESP has shape
(n_theta, n_energy).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..files import stamp, write_fits
from . import instrument

TELESCOP = "ROSAT"
INSTRUME = "PSPCC"
FILTER = "NONE"
MISSION_DIR = "data/rosat/pspc"
RMF_DIR = f"{MISSION_DIR}/cpf/matrices"
RMF_FILE = "pspcc_gain1_256.rmf"
SPECRESP_DIR = f"{MISSION_DIR}/cpf"
SPECRESP_FILE = "pspcc_v1.spec_resp"
INDEX_FILE = "caldb.indx"

LO_THRES = 1.0e-6  # matrix elements below this are not stored
VALID_FROM = "1990-06-01"  # start of the PSPC-C validity, as the real CALDB entries
MJD_ZERO = datetime(1858, 11, 17)
CAL_DATE = "2026-01-01"  # date this mini CALDB's content was defined
N_BOUNDARIES = 9  # CAL_CBD holds 9 strings of 70 characters
INSTRUMENT_DIRS = {"PSPCC": "pspc", "PSPCB": "pspc", "PSPC": "pspc", "HRI": "hri"}

_TOOL = "rassflow.simulate.caldb"


def _identity(header, codename: str, boundaries=(), description: str = "") -> None:
    """Mission keywords plus the CALDB keywords (CCLS/CCNM/CBDn/CDES) of a calibration HDU."""
    header["TELESCOP"] = (TELESCOP, "mission/telescope name")
    header["INSTRUME"] = (INSTRUME, "instrument/detector name")
    header["FILTER"] = (FILTER, "filter in use")
    header["CCLS0001"] = ("CPF", "OGIP class of calibration file")
    header["CCNM0001"] = (codename, "OGIP codename of this calibration dataset")
    header["CDTP0001"] = ("DATA", "OGIP type of dataset")
    header["CVSD0001"] = (VALID_FROM, "dataset validity start date (UTC)")
    header["CVST0001"] = ("00:00:00", "dataset validity start time (UTC)")
    for number, boundary in enumerate(boundaries, start=1):
        header[f"CBD{number}0001"] = (boundary, "dataset parameter boundary")
    if description:
        header["CDES0001"] = (description, "description")


def _ogip(header, hduclas2: str, hduvers: str, hduclas3: str | None = None) -> None:
    header["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    header["HDUCLAS1"] = ("RESPONSE", "dataset relates to a response")
    header["HDUCLAS2"] = (hduclas2, "type of response data")
    if hduclas3:
        header["HDUCLAS3"] = (hduclas3, "redistribution only, no effective area")
    header["HDUVERS"] = (hduvers, "version of the format")


def _channel_keywords(header, column: int, n_channels: int, codename: str, description: str):
    """Channel keywords, CALDB identity and provenance of an RMF's MATRIX or EBOUNDS HDU;
    ``column`` is the number of the column that holds channel numbers."""
    header["CHANTYPE"] = ("PI", "channels are PI")
    header["DETCHANS"] = (n_channels, "total number of detector channels")
    header[f"TLMIN{column}"] = (1, "first channel number")
    header[f"TLMAX{column}"] = (n_channels, "last channel number")
    boundaries = (f"PICH(0-{n_channels})", f"DETCHANS({n_channels})")
    _identity(header, codename, boundaries, description)
    stamp(header, tool=_TOOL)


def _primary(content: str) -> fits.PrimaryHDU:
    primary = fits.PrimaryHDU()
    primary.header["CONTENT"] = (content, "file content")
    primary.header["TELESCOP"] = (TELESCOP, "mission/telescope name")
    primary.header["INSTRUME"] = (INSTRUME, "instrument/detector name")
    stamp(primary.header, tool=_TOOL)
    return primary


def write_rmf(path: str | os.PathLike) -> Path:
    """Write the PSPC-C redistribution matrix as an OGIP RMF (MATRIX + EBOUNDS).

    Each energy row stores one channel group: the channels from the first to the last whose
    probability exceeds LO_THRES (F_CHAN is 1-based, TLMIN4 = 1). The MATRIX column has the
    width of the widest group; shorter rows are zero-padded.
    """
    energ_lo, energ_hi = instrument.energy_grid()
    matrix = instrument.redistribution_matrix(energ_lo, energ_hi)
    channel, e_min, e_max = instrument.channel_bounds()
    n_energy, n_channels = matrix.shape

    significant = matrix > LO_THRES
    has_group = significant.any(axis=1)
    first = np.where(has_group, significant.argmax(axis=1), 0)
    last = np.where(has_group, n_channels - 1 - significant[:, ::-1].argmax(axis=1), -1)
    n_chan = (last - first + 1).astype(np.int16)
    width = int(n_chan.max())
    packed = np.zeros((n_energy, width), dtype=np.float32)
    for row in np.flatnonzero(has_group):
        packed[row, : n_chan[row]] = matrix[row, first[row] : last[row] + 1]
    f_chan = np.where(has_group, first + 1, 0).astype(np.int16)  # channels are 1-based

    matrix_hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=energ_lo),
            fits.Column("ENERG_HI", "E", unit="keV", array=energ_hi),
            fits.Column("N_GRP", "I", array=has_group.astype(np.int16)),
            fits.Column("F_CHAN", "I", array=f_chan),
            fits.Column("N_CHAN", "I", array=n_chan),
            fits.Column("MATRIX", f"{width}E", array=packed),
        ],
        name="MATRIX",
    )
    _ogip(matrix_hdu.header, "RSP_MATRIX", "1.3.0", hduclas3="REDIST")
    matrix_hdu.header["LO_THRES"] = (LO_THRES, "lower threshold for stored matrix elements")
    _channel_keywords(
        matrix_hdu.header, 4, n_channels, "MATRIX",
        f"PSPC-C redistribution matrix ({n_channels} PI channels)",
    )  # fmt: skip

    ebounds = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "I", array=channel),
            fits.Column("E_MIN", "E", unit="keV", array=e_min),
            fits.Column("E_MAX", "E", unit="keV", array=e_max),
        ],
        name="EBOUNDS",
    )
    _ogip(ebounds.header, "EBOUNDS", "1.2.0")
    _channel_keywords(
        ebounds.header, 1, n_channels, "EBOUNDS", "nominal energy bounds of the PSPC-C PI channels"
    )

    write_fits(fits.HDUList([_primary("RESPONSE MATRIX"), matrix_hdu, ebounds]), path)
    return Path(path)


def write_specresp(path: str | os.PathLike) -> Path:
    """Write the off-axis spectral response (on-axis area x vignetting) pcarf weights.

    Layout: see the module docstring (one row; SPECRESP is n_theta x n_energy in cm^2 on the
    RMF's energy grid and at ``instrument.OFFAXIS_ANGLES_ARCMIN``).
    """
    energ_lo, energ_hi = instrument.energy_grid()
    theta = np.asarray(instrument.OFFAXIS_ANGLES_ARCMIN, dtype=float)
    area = instrument.onaxis_area(0.5 * (energ_lo + energ_hi))
    specresp = instrument.vignetting(theta)[:, None] * area[None, :]  # (n_theta, n_energy)
    n_energy, n_theta = area.size, theta.size

    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", f"{n_energy}E", unit="keV", array=energ_lo[None, :]),
            fits.Column("ENERG_HI", f"{n_energy}E", unit="keV", array=energ_hi[None, :]),
            fits.Column("THETA", f"{n_theta}E", unit="arcmin", array=theta[None, :]),
            fits.Column(
                "SPECRESP",
                f"{n_energy * n_theta}E",
                unit="cm**2",
                dim=f"({n_energy},{n_theta})",
                array=specresp[None, :, :],
            ),
        ],
        name="SPECRESP",
    )
    header = table.header
    _ogip(header, "SPECRESP", "1.0.0")
    header["NTHETA"] = (n_theta, "number of off-axis angles")
    header["NENERGY"] = (n_energy, "number of energy bins")
    _identity(
        header,
        "SPECRESP",
        (f"THETA({theta[0]:g}-{theta[-1]:g})arcmin",),
        "PSPC-C mirror area x vignetting vs off-axis angle",
    )
    stamp(header, tool=_TOOL)
    write_fits(fits.HDUList([_primary("SPECTRAL RESPONSE"), table]), path)
    return Path(path)


def cif_entry(
    cal_dir: str,
    cal_file: str,
    codename: str,
    boundaries=(),
    description: str = "",
    extension: int = 1,
    valid_from: str = VALID_FROM,
    quality: int = 0,
    telescop: str = TELESCOP,
    instrume: str = INSTRUME,
) -> dict:
    """One row of a CALDB index (CIF); unused boundary slots are 'NONE'."""
    if len(boundaries) > N_BOUNDARIES:
        raise ValueError(f"{cal_file}: at most {N_BOUNDARIES} boundaries, got {len(boundaries)}")
    start = datetime.fromisoformat(valid_from)
    return {
        "TELESCOP": telescop,
        "INSTRUME": instrume,
        "DETNAM": "NONE",
        "FILTER": FILTER,
        "CAL_DEV": "ONLINE",
        "CAL_DIR": cal_dir,
        "CAL_FILE": cal_file,
        "CAL_CLAS": "CPF",
        "CAL_DTYP": "DATA",
        "CAL_CNAM": codename,
        "CAL_CBD": list(boundaries) + ["NONE"] * (N_BOUNDARIES - len(boundaries)),
        "CAL_XNO": extension,
        "CAL_VSD": start.strftime("%Y-%m-%d"),
        "CAL_VST": start.strftime("%H:%M:%S"),
        "REF_TIME": (start - MJD_ZERO).total_seconds() / 86400.0,  # MJD of the validity start
        "CAL_QUAL": quality,
        "CAL_DATE": CAL_DATE,
        "CAL_DESC": description,
    }


# (column, TFORM, unit) of a CIF, as HEASARC's caldb.indx files have them
_CIF_COLUMNS = (
    ("TELESCOP", "10A", None),
    ("INSTRUME", "10A", None),
    ("DETNAM", "20A", None),
    ("FILTER", "10A", None),
    ("CAL_DEV", "20A", None),
    ("CAL_DIR", "70A", None),
    ("CAL_FILE", "40A", None),
    ("CAL_CLAS", "3A", None),
    ("CAL_DTYP", "4A", None),
    ("CAL_CNAM", "20A", None),
    ("CAL_CBD", f"{70 * N_BOUNDARIES}A", None),
    ("CAL_XNO", "I", None),
    ("CAL_VSD", "10A", None),
    ("CAL_VST", "8A", None),
    ("REF_TIME", "D", "d"),
    ("CAL_QUAL", "I", None),
    ("CAL_DATE", "10A", None),
    ("CAL_DESC", "70A", None),
)


def write_cif(path: str | os.PathLike, entries: list[dict], cbd_form: str = "substrings") -> Path:
    """Write a CALDB index file (extension 'CIF', CIFVERSN 1992a) from :func:`cif_entry` rows.

    ``cbd_form``: how CAL_CBD is declared. 'substrings' as cfitsio-based CALDB tools write it
    (``TFORM = '630A70'``, one field of 9 substrings); 'tdim' as astropy writes a string
    array (``TFORM = '630A'``, ``TDIM = '(70,9)'``). Readers must accept both.
    """
    if cbd_form not in ("substrings", "tdim"):
        raise ValueError(f"cbd_form must be 'substrings' or 'tdim', got {cbd_form!r}")
    columns = []
    for name, tform, unit in _CIF_COLUMNS:
        values = [entry[name] for entry in entries]
        dim = None
        if name == "CAL_CBD" and cbd_form == "tdim":
            dim = f"(70,{N_BOUNDARIES})"
        elif name == "CAL_CBD":
            tform = f"{70 * N_BOUNDARIES}A70"
            values = ["".join(b.ljust(70) for b in boundaries) for boundaries in values]
        columns.append(fits.Column(name, tform, unit=unit, dim=dim, array=np.array(values)))
    cif = fits.BinTableHDU.from_columns(columns, name="CIF")
    cif.header["CIFVERSN"] = ("1992a", "version of the CIF format")
    stamp(cif.header, tool=_TOOL)
    write_fits(fits.HDUList([fits.PrimaryHDU(), cif]), path)
    return Path(path)


def write_caldb(root: str | os.PathLike) -> Path:
    """Write the mini CALDB (RMF, SPECRESP file, index) under ``root``; return the index path."""
    root = Path(root)
    write_rmf(root / RMF_DIR / RMF_FILE)
    write_specresp(root / SPECRESP_DIR / SPECRESP_FILE)
    n_channels = instrument.N_CHANNELS
    rmf_boundaries = (f"PICH(0-{n_channels})", f"DETCHANS({n_channels})")
    theta = instrument.OFFAXIS_ANGLES_ARCMIN
    entries = [
        cif_entry(RMF_DIR, RMF_FILE, "MATRIX", rmf_boundaries, "PSPC-C redistribution matrix"),
        cif_entry(
            RMF_DIR, RMF_FILE, "EBOUNDS", rmf_boundaries, "PSPC-C PI channel bounds", extension=2
        ),
        cif_entry(
            SPECRESP_DIR,
            SPECRESP_FILE,
            "SPECRESP",
            (f"THETA({theta[0]:g}-{theta[-1]:g})arcmin",),
            "PSPC-C mirror area x vignetting",
        ),
    ]
    return write_cif(root / MISSION_DIR / INDEX_FILE, entries)
