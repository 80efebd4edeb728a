"""CALDB look-up as HEASoft's quzcif does it, from a local CALDB or a remote one over HTTPS.

One selection for both: only the transport differs (a local root, or a base URL mirrored
into a cache directory). The index (``caldb.indx``, extension CIF, CIFVERSN 1992a) is read
the way CALDB tools write it (OGIP CAL/GEN/92-008):

- ``CAL_CBD`` holds up to 9 boundary strings of 70 characters. Files written with a TDIM
  (astropy, ``TFORM = '630A'``, ``TDIM = '(70,9)'``) read as an array of 9 strings; files
  written by cfitsio-based tools declare ``TFORM = '630A70'`` (substrings of 70) and read
  as one 630-character string. Both are split into 70-character boundaries here.
- A row is chosen by TELESCOP, INSTRUME, CAL_CNAM (case-insensitive), CAL_QUAL = 0, the
  boundary expression (``NAME.eq.VALUE`` joined by ``.and.``: a boundary equal to VALUE or a
  range containing it; a row without a boundary on NAME is not constrained by it) and, if a
  date is given, a validity start (CAL_VSD/CAL_VST) not after it. Of several, the latest
  validity start wins; on a tie the later row.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import date as Date
from datetime import datetime
from pathlib import Path

from rassflow.errors import DataError
from rassflow.files import atomic_path

BOUNDARY_WIDTH = 70  # characters per CAL_CBD boundary (CAL/GEN/92-008)
INDEX_FILE = "caldb.indx"
INSTRUMENT_DIRS = {"PSPCC": "pspc", "PSPCB": "pspc", "PSPC": "pspc", "HRI": "hri"}
CALDB_URL = "https://heasarc.gsfc.nasa.gov/FTP/caldb"
TELESCOP, INSTRUME = "ROSAT", "PSPCC"


class CaldbError(DataError, LookupError):
    """No usable calibration file; the message names the index and the query."""


# --- index rows -------------------------------------------------------------------------


def boundary_strings(value) -> list[str]:
    """The boundaries of one CAL_CBD cell, whichever way the index stores them."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):  # one 630A70 field
        parts = [value[i : i + BOUNDARY_WIDTH] for i in range(0, len(value), BOUNDARY_WIDTH)]
    else:  # an array of strings (TDIM)
        parts = [v.decode("ascii", "replace") if isinstance(v, bytes) else str(v) for v in value]
    return [part.strip() for part in parts if part.strip()]


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


def parse_expression(expr: str | None) -> list[tuple[str, object]]:
    """quzcif's boundary expression, e.g. 'pich.eq.256.and.detchans.eq.256' -> [(NAME, value)]."""
    if not expr or expr.strip() == "-":
        return []
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


def satisfies(boundaries: list[str], conditions: list[tuple[str, object]]) -> bool:
    """True if every condition holds for a row's boundaries."""
    parsed = [b for b in map(parse_boundary, boundaries) if b is not None]
    for name, value in conditions:
        for bname, lo, hi, _unit in parsed:
            if bname == name and (
                isinstance(value, float) != isinstance(lo, float) or not lo <= value <= hi
            ):
                return False
    return True


def validity_start(row: dict) -> datetime:
    """CAL_VSD/CAL_VST of an index row; old indexes write the date as dd/mm/yy."""
    day, time = row["CAL_VSD"], row["CAL_VST"] or "00:00:00"
    if "/" in day:
        return datetime.strptime(f"{day} {time}", "%d/%m/%y %H:%M:%S")
    return datetime.fromisoformat(f"{day}T{time}")


def _as_datetime(when) -> datetime:
    if isinstance(when, datetime):
        return when
    if isinstance(when, Date):
        return datetime(when.year, when.month, when.day)
    return datetime.fromisoformat(str(when).strip())


def read_index(path: str | os.PathLike) -> list[dict]:
    """The rows of a CALDB index as dicts of plain values, CAL_CBD as a list of boundaries."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        if "CIF" not in hdul:
            raise CaldbError(f"{path}: no CIF extension; not a CALDB index file")
        data = hdul["CIF"].data
        names = [n.upper() for n in data.columns.names]
        missing = sorted({"TELESCOP", "INSTRUME", "CAL_CNAM", "CAL_DIR", "CAL_FILE"} - set(names))
        if missing:
            raise CaldbError(f"{path}: CIF lacks column(s) {', '.join(missing)}")
        rows = []
        for record in data:
            row = {}
            for name in names:
                value = record[name]
                if name == "CAL_CBD":
                    row[name] = boundary_strings(value)
                elif isinstance(value, (str, bytes)):
                    row[name] = value.decode() if isinstance(value, bytes) else value
                    row[name] = row[name].strip()
                else:
                    row[name] = value.item() if hasattr(value, "item") else value
            row.setdefault("CAL_CBD", [])
            row.setdefault("CAL_QUAL", 0)
            row.setdefault("CAL_VST", "00:00:00")
            rows.append(row)
    return rows


def select_entry(
    rows: list[dict],
    codename: str,
    expr: str | None = None,
    telescop: str = TELESCOP,
    instrume: str = INSTRUME,
    date=None,
    index: str = "the CALDB index",
) -> dict:
    """The row quzcif picks (see the module docstring); CaldbError if none matches."""
    conditions = parse_expression(expr)
    limit = _as_datetime(date) if date is not None else None
    best, best_start = None, None
    for row in rows:
        if (
            row["TELESCOP"].upper() != telescop.upper()
            or row["INSTRUME"].upper() != instrume.upper()
            or row["CAL_CNAM"].upper() != codename.upper()
            or int(row["CAL_QUAL"]) != 0
            or not satisfies(row["CAL_CBD"], conditions)
        ):
            continue
        start = validity_start(row)
        if limit is not None and start > limit:
            continue
        if best_start is None or start >= best_start:
            best, best_start = row, start
    if best is None:
        query = f"telescop={telescop} instrume={instrume} codename={codename} expr={expr!r}"
        raise CaldbError(f"no calibration file in {index} matches {query}")
    return best


def index_relpath(telescop: str = TELESCOP, instrume: str = INSTRUME) -> str:
    """'data/rosat/pspc/caldb.indx': where a mission's index sits under a CALDB root."""
    instrument_dir = INSTRUMENT_DIRS.get(instrume.upper(), instrume.lower())
    return f"data/{telescop.lower()}/{instrument_dir}/{INDEX_FILE}"


# --- transports -------------------------------------------------------------------------


class LocalCaldb:
    """A CALDB tree on disk (``$CALDB``): ``root`` is the CALDB root or the index file."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def index(self, telescop: str, instrume: str) -> Path:
        if self.root.is_file():
            return self.root
        index = self.root / index_relpath(telescop, instrume)
        if not index.is_file():
            raise CaldbError(f"no CALDB index for {telescop}/{instrume}: {index} does not exist")
        return index

    def file(self, index: Path, entry: dict) -> Path:
        # the index sits in <root>/data/<mission>/<instrument>/; CAL_DIR is relative to <root>
        path = index.parents[3] / entry["CAL_DIR"] / entry["CAL_FILE"]
        if not path.is_file():
            raise CaldbError(f"{index} lists {path}, but the file is missing")
        return path


class RemoteCaldb:
    """A CALDB over HTTP(S) at ``url``, mirrored under ``mirror`` with the same relative paths
    and fetched once (downloads are atomic and retried, see :mod:`rassflow.download`)."""

    def __init__(self, url: str | None, mirror, attempts: int = 3, timeout: float = 60):
        self.url = (url or CALDB_URL).rstrip("/")
        self.mirror = Path(mirror)
        self.attempts, self.timeout = attempts, timeout

    def _fetch(self, relpath: str) -> Path:
        from rassflow.download import DownloadError, download, safe_name

        parts = [safe_name(part) for part in relpath.split("/") if part]
        target = self.mirror.joinpath(*parts)
        if not target.exists():
            url = f"{self.url}/{'/'.join(parts)}"
            try:
                download(url, target, self.attempts, self.timeout, check_fits=True)
            except DownloadError as exc:
                raise CaldbError(f"CALDB file {url}: {exc}") from exc
        return target

    def index(self, telescop: str, instrume: str) -> Path:
        return self._fetch(index_relpath(telescop, instrume))

    def file(self, index: Path, entry: dict) -> Path:
        return self._fetch(f"{entry['CAL_DIR']}/{entry['CAL_FILE']}")


def find_file(
    caldb, codename: str, expr: str | None = None, telescop=TELESCOP, instrume=INSTRUME, date=None
) -> Path:
    """The calibration file quzcif would return, from a LocalCaldb or a RemoteCaldb."""
    index = caldb.index(telescop, instrume)
    entry = select_entry(read_index(index), codename, expr, telescop, instrume, date, str(index))
    return caldb.file(index, entry)


def fetch_responses(caldb, rmf_expression: str, rmf_out, specresp_out) -> None:
    """Copy the PSPC-C RMF (MATRIX with ``rmf_expression``, as caldb.rmf_expression says) and
    the SPECRESP file into the workflow once; every spectrum then references these copies."""
    for codename, expr, out in (
        ("MATRIX", rmf_expression, rmf_out),
        ("SPECRESP", None, specresp_out),
    ):
        source = find_file(caldb, codename, expr)
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
