"""A mini calibration database (CALDB) for the PSPC-C, and the quzcif-style look-up into it.

The files are written from :mod:`rassflow.response` and laid out as the HEASARC CALDB is:

    <root>/data/rosat/pspc/caldb.indx                        CIF index (extension 'CIF')
    <root>/data/rosat/pspc/cpf/matrices/pspcc_gain1_256.rmf  redistribution matrix (MATRIX)
    <root>/data/rosat/pspc/cpf/pspcc_v1.spec_resp            spectral response (SPECRESP)

The RMF is a pure redistribution matrix (no effective area), like the real
pspcc_gain1_256.rmf, so spectra need an ARF (:mod:`rassflow.arf`).

SPECRESP file layout (what pcarf calls a "SPECTRAL RESPONSE" CRF file): the primary header
has CONTENT = 'SPECTRAL RESPONSE'; extension SPECRESP holds ONE row with the vector columns
ENERG_LO, ENERG_HI (n_energy, keV), THETA (n_theta, arcmin) and SPECRESP
(n_energy x n_theta, cm^2, TDIM '(n_energy,n_theta)', energy varying fastest), i.e. mirror
area x vignetting at each off-axis angle. In numpy a row's SPECRESP has shape
(n_theta, n_energy).
"""

from __future__ import annotations

import os
import re
from datetime import date as Date
from datetime import datetime
from pathlib import Path

import numpy as np
from astropy.io import fits

from . import response
from .io import stamp, write_fits

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

_TOOL = "rassflow.caldb"


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
    energ_lo, energ_hi = response.energy_grid()
    matrix = response.redistribution_matrix(energ_lo, energ_hi)
    channel, e_min, e_max = response.channel_bounds()
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
    header = matrix_hdu.header
    _ogip(header, "RSP_MATRIX", "1.3.0", hduclas3="REDIST")
    header["CHANTYPE"] = ("PI", "channels are PI")
    header["DETCHANS"] = (n_channels, "total number of detector channels")
    header["LO_THRES"] = (LO_THRES, "lower threshold for stored matrix elements")
    header["TLMIN4"] = (1, "first channel number")
    header["TLMAX4"] = (n_channels, "last channel number")
    _identity(
        header,
        "MATRIX",
        (f"PICH(0-{n_channels})", f"DETCHANS({n_channels})"),
        f"PSPC-C redistribution matrix ({n_channels} PI channels)",
    )
    stamp(header, tool=_TOOL)

    ebounds = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "I", array=channel),
            fits.Column("E_MIN", "E", unit="keV", array=e_min),
            fits.Column("E_MAX", "E", unit="keV", array=e_max),
        ],
        name="EBOUNDS",
    )
    header = ebounds.header
    _ogip(header, "EBOUNDS", "1.2.0")
    header["CHANTYPE"] = ("PI", "channels are PI")
    header["DETCHANS"] = (n_channels, "total number of detector channels")
    header["TLMIN1"] = (1, "first channel number")
    header["TLMAX1"] = (n_channels, "last channel number")
    _identity(
        header,
        "EBOUNDS",
        (f"PICH(0-{n_channels})", f"DETCHANS({n_channels})"),
        "nominal energy bounds of the PSPC-C PI channels",
    )
    stamp(header, tool=_TOOL)

    write_fits(fits.HDUList([_primary("RESPONSE MATRIX"), matrix_hdu, ebounds]), path)
    return Path(path)


def write_specresp(path: str | os.PathLike) -> Path:
    """Write the off-axis spectral response (on-axis area x vignetting) pcarf weights.

    Layout: see the module docstring (one row; SPECRESP is n_theta x n_energy in cm^2 on the
    RMF's energy grid and at ``response.OFFAXIS_ANGLES_ARCMIN``).
    """
    energ_lo, energ_hi = response.energy_grid()
    theta = np.asarray(response.OFFAXIS_ANGLES_ARCMIN, dtype=float)
    area = response.onaxis_area(0.5 * (energ_lo + energ_hi))
    specresp = response.vignetting(theta)[:, None] * area[None, :]  # (n_theta, n_energy)
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


def write_cif(path: str | os.PathLike, entries: list[dict]) -> Path:
    """Write a CALDB index file (extension 'CIF', CIFVERSN 1992a) from :func:`cif_entry` rows."""
    columns = []
    for name, tform, unit in _CIF_COLUMNS:
        values = [entry[name] for entry in entries]
        dim = f"(70,{N_BOUNDARIES})" if name == "CAL_CBD" else None
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
    n_channels = response.N_CHANNELS
    rmf_boundaries = (f"PICH(0-{n_channels})", f"DETCHANS({n_channels})")
    theta = response.OFFAXIS_ANGLES_ARCMIN
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


def caldb_index(
    root: str | os.PathLike, telescop: str = TELESCOP, instrume: str = INSTRUME
) -> Path:
    """The index file for a mission/instrument: ``root`` is the CALDB root or the index itself."""
    root = Path(root)
    if root.is_file():
        return root
    instrument_dir = INSTRUMENT_DIRS.get(instrume.upper(), instrume.lower())
    index = root / "data" / telescop.lower() / instrument_dir / INDEX_FILE
    if not index.is_file():
        raise FileNotFoundError(f"no CALDB index for {telescop}/{instrume}: {index} does not exist")
    return index


_BOUNDARY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*(\S*)\s*$")
_RANGE = re.compile(r"^\s*([-+]?[^-+]+?)\s*-\s*([-+]?.+?)\s*$")


def parse_boundary(text: str) -> tuple[str, object, object, str] | None:
    """'PICH(0-256)' -> ('PICH', 0.0, 256.0, ''); 'THETA(0)arcmin' -> ('THETA', 0.0, 0.0,
    'arcmin'). Non-numeric values compare as upper-case strings. 'NONE' or blank -> None."""
    text = text.strip()
    if not text or text.upper() == "NONE":
        return None
    match = _BOUNDARY.match(text)
    if not match:
        raise ValueError(f"cannot parse CALDB boundary {text!r} (expected NAME(value)unit)")
    name, value, unit = match.groups()
    bounds = _RANGE.match(value)
    lo, hi = bounds.groups() if bounds else (value, value)
    try:
        return name.upper(), float(lo), float(hi), unit
    except ValueError:
        return name.upper(), value.strip().upper(), value.strip().upper(), unit


def parse_expression(expr: str) -> list[tuple[str, object]]:
    """quzcif's boundary expression, e.g. 'pich.eq.256.and.detchans.eq.256' -> [(NAME, value)].

    Only '.eq.' comparisons joined by '.and.' are supported.
    """
    conditions = []
    for term in re.split(r"\.and\.", expr.strip(), flags=re.IGNORECASE):
        parts = re.split(r"\.eq\.", term.strip(), flags=re.IGNORECASE)
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ValueError(
                f"cannot parse CALDB expression term {term!r} in {expr!r} "
                "(supported: NAME.eq.VALUE joined by .and.)"
            )
        name, value = parts[0].strip().upper(), parts[1].strip()
        try:
            conditions.append((name, float(value)))
        except ValueError:
            conditions.append((name, value.upper()))
    return conditions


def _satisfies(boundaries: list[str], conditions: list[tuple[str, object]]) -> bool:
    """True if every condition holds; a dataset with no boundary on a parameter is not
    constrained by it, as in the CALDB's own selection."""
    parsed = [b for b in (parse_boundary(text) for text in boundaries) if b is not None]
    for name, value in conditions:
        for bname, lo, hi, _unit in parsed:
            if bname != name:
                continue
            if isinstance(value, float) != isinstance(lo, float):
                return False
            if not (lo <= value <= hi):
                return False
    return True


def _as_datetime(when) -> datetime:
    if isinstance(when, datetime):
        return when
    if isinstance(when, Date):
        return datetime(when.year, when.month, when.day)
    return datetime.fromisoformat(str(when).strip())


def _validity_start(row) -> datetime:
    """CAL_VSD/CAL_VST of an index row; old indexes write the date as dd/mm/yy."""
    day, time = row["CAL_VSD"].strip(), row["CAL_VST"].strip() or "00:00:00"
    if "/" in day:
        return datetime.strptime(f"{day} {time}", "%d/%m/%y %H:%M:%S")
    return datetime.fromisoformat(f"{day}T{time}")


def query_caldb(
    root: str | os.PathLike,
    telescop: str,
    instrume: str,
    codename: str,
    expr: str | None = None,
    date=None,
) -> Path:
    """Find a calibration file as ``quzcif`` does; return its path.

    Rows are selected by TELESCOP, INSTRUME, CAL_CNAM (case-insensitive), CAL_QUAL == 0,
    the boundary expression ``expr`` (e.g. ``"pich.eq.256"``: a boundary value equal to 256
    or a range containing it) and, when ``date`` (ISO string, date or datetime) is given,
    a validity start CAL_VSD/CAL_VST not after it. Of several matches the latest validity
    start wins (the later index row on a tie).
    """
    index = caldb_index(root, telescop, instrume)
    caldb_root = index.parents[3]  # the index sits in <root>/data/<mission>/<instrument>/
    conditions = parse_expression(expr) if expr else []
    limit = _as_datetime(date) if date is not None else None
    query = f"telescop={telescop} instrume={instrume} codename={codename} expr={expr!r}"
    if date is not None:
        query += f" date={date}"

    with fits.open(index) as hdul:
        if "CIF" not in hdul:
            raise KeyError(f"{index}: no CIF extension")
        rows = hdul["CIF"].data
        best, best_start = None, None
        for row in rows:
            if (
                row["TELESCOP"].strip().upper() != telescop.upper()
                or row["INSTRUME"].strip().upper() != instrume.upper()
                or row["CAL_CNAM"].strip().upper() != codename.upper()
                or int(row["CAL_QUAL"]) != 0
                or not _satisfies(list(row["CAL_CBD"]), conditions)
            ):
                continue
            start = _validity_start(row)
            if limit is not None and start > limit:
                continue
            if best_start is None or start >= best_start:
                best, best_start = row, start
        if best is None:
            raise LookupError(f"no calibration file in {index} matches {query}")
        path = caldb_root / best["CAL_DIR"].strip() / best["CAL_FILE"].strip()
    if not path.is_file():
        raise FileNotFoundError(f"{index} lists {path} for {query}, but the file is missing")
    return path


def fetch_responses(root, rmf_expression: str, rmf_out, specresp_out) -> None:
    """Copy the PSPC-C RMF (quzcif MATRIX with ``rmf_expression``) and the SPECRESP file
    from a local CALDB into the workflow, once; every spectrum then references these copies."""
    import shutil

    from .io import atomic_path

    for codename, expr, out in (("MATRIX", rmf_expression, rmf_out),
                                ("SPECRESP", None, specresp_out)):
        source = query_caldb(root, "ROSAT", "PSPCC", codename, expr)
        with atomic_path(out) as tmp:
            shutil.copyfile(source, tmp)


def resolve_root(configured, simulated_root, demo: bool):
    """The CALDB root: the configured one, else $CALDB as HEASoft uses it (except for the
    simulated demo, whose responses must match its simulator), else the simulated CALDB."""
    if configured:
        return str(configured)
    if os.environ.get("CALDB") and not demo:
        return os.environ["CALDB"]
    return str(simulated_root)
