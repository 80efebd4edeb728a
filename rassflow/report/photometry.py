"""The photometry table: forced aperture photometry of every sample member, one row each.

Each row is a member of the members table (rassflow.archive.coverage.members_table) in natural
order of ``id_name``, with its row of the photometry batch tables
(:func:`rassflow.photometry.forced.measure_skyfields`, the numbers of
:func:`rassflow.photometry.aperture.measure`), joined on ``id_name`` with array operations --
broad-band (2RXS PI 11-235, 0.1-2.4 keV) counts, the PSF-corrected net rate with its KBN
(Kraft, Burrows & Nousek 1991) shortest interval and upper limit, detection, 2RXS hardness
ratios (Boller et al. 2016) and fluxes in every flux band (rate x ECF) -- and a ``status``:

- ``ok``: measured;
- ``not_covered``: the member lies outside the survey (no skyfield; every number NaN);
- ``failed``: the member is covered but its photometry batch table
  (:func:`rassflow.photometry.forced.measure_skyfields`) records a failure, or no batch table
  holds it; ``reason`` says why.

With a parallax (mas, d = 1000 / parallax) or else a distance (pc) column of the members table,
the table has ``distance_pc`` and L_X = 4 pi d^2 F (erg/s, 1 pc = 3.0857e18 cm) beside every
band flux: ``lx_{band}``, ``_lo``, ``_hi`` (the flux interval at the catalogue distance, whose
error is not included) and ``lx_ul_{band}``; a missing or non-positive parallax or distance
gives NaN.

The CSV is byte-stable (floats as ``%.10g``, fixed column order, ``\\n`` line ends: the bytes of
pandas' ``to_csv``, written faster); the FITS table (EXTNAME PHOTOMETRY) has a unit and a
description (TCOMMn) for every column and the shared measurement settings and provenance as
keywords. Neither is held whole in memory: the CSV is formatted and the FITS records made a
chunk of rows at a time. 10^6 members: the build takes ~9 CPU-s and 0.94 GB at its peak, the
CSV + FITS ~44 CPU-s (~35 of them the CSV) and 0.98 GB (benchmarks/photometry_table.py).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from rassflow.catalog.sample import natural_key, read_sample
from rassflow.files import atomic_path, stamp, write_fits_table
from rassflow.photometry.aperture import band_label, result_keys
from rassflow.pspc import BROAD_BAND, HR_BANDS
from rassflow.report import columns as colspec
from rassflow.report.columns import COUNT, DISTANCE_COLUMN, FLUX, LUMINOSITY, PARSEC_CM

__all__ = [
    "PARSEC_CM",
    "build_photometry_table",
    "column_description",
    "photometry_columns",
    "photometry_hdu",
    "photometry_header",
    "write_photometry",
]

CSV_FLOAT_FORMAT = "%.10g"
MEMBER_COLUMNS = ("id_name", "name", "ra", "dec", "ra_rass", "dec_rass", "seq_id", "matched_2rxs")
REQUIRED_COLUMNS = ("id_name", "name", "ra", "dec", "seq_id", "matched_2rxs", "status")
# the measurement keys of rassflow.photometry.aperture, less its intermediate ones
INTERMEDIATE_KEYS = (
    "id_name", "backscal_src", "backscal_bkg", "net_counts_mode", "net_counts_lo",
    "net_counts_hi", "counts_ul",
)  # fmt: skip
BOOL_COLUMNS = ("psf_corrected", "detected")
STRING_COLUMNS = ("id_name", "name", "seq_id", "arf_method", "psf_model", "status", "reason")
SHARED_SETTINGS = (
    "confidence",
    "upper_limit_confidence",
    "detection_threshold_sigma",
    "detection_test",
    "ecf_model",
    "ecf_shape",
    "broad_band_pi",
)
"""Settings recorded in every photometry JSON that must agree within one table."""
MEASURED_COLUMNS = tuple(
    k for k in result_keys(()) if k not in (*INTERMEDIATE_KEYS, *SHARED_SETTINGS, "bands_keV")
)
NO_TABLE_REASON = "in no photometry table (the member was not measured)"
NOT_COVERED_REASON = "outside the RASS coverage (no skyfield)"


def band_columns(lo: float, hi: float) -> list[str]:
    """The columns of one flux band, as :func:`rassflow.photometry.aperture.measure` names
    them: ecf, flux with its interval, flux upper limit."""
    label = band_label(lo, hi)
    return [
        f"ecf_{label}",
        f"flux_{label}",
        f"flux_{label}_lo",
        f"flux_{label}_hi",
        f"flux_ul_{label}",
    ]


def luminosity_columns(lo: float, hi: float) -> list[str]:
    label = band_label(lo, hi)
    return [f"lx_{label}", f"lx_{label}_lo", f"lx_{label}_hi", f"lx_ul_{label}"]


def photometry_columns(bands_keV, distances: bool = False, extra_columns=()) -> list[str]:
    """Every column of the table, in order."""
    bands = [(float(lo), float(hi)) for lo, hi in bands_keV]
    columns = list(MEMBER_COLUMNS) + list(MEASURED_COLUMNS)
    for lo, hi in bands:
        columns += band_columns(lo, hi)
    if distances:
        columns.append(DISTANCE_COLUMN)
        for lo, hi in bands:
            columns += luminosity_columns(lo, hi)
    return columns + ["status", "reason"] + list(extra_columns)


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


def _as_bool(value) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if isinstance(value, int | float | np.integer | np.floating):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "t", "1", "yes", "y"):
        return True
    if text in ("false", "f", "0", "no", "n", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _texts(series: pd.Series):
    """Text of each value, "" for a missing one (str(v) as a row-by-row conversion gives);
    a pandas str column stays one (Arrow's strings: 10^6 names as Python objects take
    ~60 MB more)."""
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("")
    values = series.to_numpy(dtype=object, copy=True)
    missing = pd.isna(values)
    if pd.api.types.infer_dtype(series, skipna=True) != "string":  # numbers as names: rare
        values = np.array([str(v) for v in values], dtype=object)
    values[missing] = ""
    return values


def _flags(series: pd.Series) -> np.ndarray:
    """:func:`_as_bool` of each value, evaluated once per distinct value."""
    if series.dtype == bool:
        return series.to_numpy(dtype=bool)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    lookup = np.array([_as_bool(v) for v in uniques] + [False], dtype=bool)
    return lookup[codes]  # code -1 (missing) picks the final False


def _floats(series: pd.Series) -> np.ndarray:
    """Float of each value: NaN for a missing value, text or boolean (as :func:`_number`)."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan)
    return np.array([_number(v) for v in series], dtype=float)


def _read_members(members_csv, extra_columns, distance_columns=()) -> pd.DataFrame:
    """The members table's columns that the photometry table uses (a catalogue's other
    columns can be most of the file)."""
    required = REQUIRED_COLUMNS + tuple(extra_columns)
    used = (*MEMBER_COLUMNS, *required, *distance_columns)
    members = read_sample(members_csv, required, columns=used)
    for column in ("id_name", "name", "seq_id", "status"):
        members[column] = _texts(members[column])
    try:
        members["matched_2rxs"] = _flags(members["matched_2rxs"])
    except ValueError as exc:
        raise ValueError(f"members table {members_csv}: matched_2rxs: {exc}") from exc
    unknown = sorted(set(pd.unique(members["status"])) - {"covered", "not_covered"})
    if unknown:
        raise ValueError(
            f"members table {members_csv}: status must be covered or not_covered, got "
            f"{', '.join(map(repr, unknown))}"
        )
    return members


def _distances(members: pd.DataFrame, parallax_column, distance_column, members_csv):
    """Distance (pc) per member: 1000 / parallax (mas) if ``parallax_column``, else the
    ``distance_column``; NaN where missing, not a number or not positive. None: no column."""
    if parallax_column:
        column, to_pc = parallax_column, lambda plx: 1000.0 / plx
    elif distance_column:
        column, to_pc = distance_column, lambda distance: distance
    else:
        return None
    if column not in members.columns:
        what = "parallax" if parallax_column else "distance"
        raise ValueError(f"members table {members_csv} lacks the {what} column {column!r}")
    values = pd.to_numeric(members[column], errors="coerce").astype(float)
    values = values.where(np.isfinite(values) & (values > 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return to_pc(values)


def _number(value) -> float:
    if value is None or isinstance(value, bool | str):
        return math.nan
    return float(value)


def _settings_of(meta, path) -> dict:
    """The shared settings a batch table records in its header (keys in any case)."""
    lowered = {str(key).lower(): value for key, value in meta.items()}
    return {key: lowered[key] for key in SHARED_SETTINGS if key in lowered}


def _read_batch(path, wanted: list[str]) -> tuple[dict, dict]:
    """({column: array}, settings) of one batch table (rassflow.photometry.forced.write_table):
    the ``wanted`` columns, masked counts as NaN, text as str (empty text is not masked)."""
    from astropy.table import Table

    table = Table.read(path, hdu="PHOTOMETRY", mask_invalid=False)
    absent = [c for c in wanted if c not in table.colnames]
    if absent:
        bands = [c[len("ecf_") :] for c in table.colnames if c.startswith("ecf_")]
        raise ValueError(
            f"photometry table {path} has no {', '.join(absent)}; it holds the flux bands "
            f"{', '.join(bands) or 'none'}"
        )
    columns = {}
    for name in wanted:
        column = table[name]
        if column.dtype.kind in "US":  # FITS text is ASCII: numpy's cast decodes it at once
            columns[name] = np.asarray(column).astype(str)
        elif column.dtype.kind == "b":
            columns[name] = np.asarray(column, dtype=bool)
        else:
            values = np.array(column, dtype=float)
            mask = getattr(column, "mask", None)
            if mask is not None:  # counts not measured
                values[np.asarray(mask, dtype=bool)] = np.nan
            columns[name] = values
    return columns, _settings_of(table.meta, path)


def _measured_columns(bands) -> list[str]:
    """The columns the batch tables give: the measurements and every band's fluxes."""
    measured = list(MEASURED_COLUMNS)
    for lo, hi in bands:
        measured += band_columns(lo, hi)
    return measured


def _unset(column: str, count: int) -> np.ndarray:
    if column in BOOL_COLUMNS:
        return np.zeros(count, dtype=bool)
    if column in STRING_COLUMNS:
        return np.full(count, "", dtype=object)
    return np.full(count, np.nan)


class _BatchRows:
    """The batch tables' rows put in their members' places, one table at a time (stacking
    every table first would hold all the rows twice over), and the first inconsistency of
    each kind, reported as the whole stack of rows would show it."""

    def __init__(self, members: pd.DataFrame, measured: list[str], tables: list[Path]):
        count = len(members)
        self.tables = tables
        self.ids = pd.Index(members["id_name"])
        # codes, not a Python str per member
        self.seq_code, seq_names = pd.factorize(members["seq_id"])
        self.seq_names = np.asarray(seq_names, dtype=object)
        self.covered = (members["status"] == "covered").to_numpy()
        self.values = {column: _unset(column, count) for column in measured}
        self.ok = np.zeros(count, dtype=bool)  # covered and measured
        self.reason = np.full(count, "", dtype=object)  # why a covered member failed
        self.table_of = np.full(count, -1)  # the first table that holds each member
        self.settings, self.setting_table = {}, {}
        self.absent, self.absent_count, self.twice, self.elsewhere = None, 0, None, None

    def add(self, number: int, path, columns: dict, settings: dict) -> None:
        for key, value in settings.items():
            known = self.settings.setdefault(key, value)
            self.setting_table.setdefault(key, path)
            if known != value:
                raise ValueError(
                    f"photometry table {path}: {key} = {value!r} differs from {known!r} in "
                    f"{self.setting_table[key]}; one table needs one photometry setup"
                )
        ids = columns["id_name"]
        rows = self.ids.get_indexer(ids.astype(str))
        held = rows >= 0
        if not held.all():
            self.absent_count += int((~held).sum())
            if self.absent is None:
                self.absent = (path, ids[np.flatnonzero(~held)[0]])
        local = np.flatnonzero(held)
        rows = rows[held]
        repeated = (self.table_of[rows] >= 0) | pd.Index(rows).duplicated()
        if repeated.any() and self.twice is None:
            k = int(np.flatnonzero(repeated)[0])
            earlier = self.table_of[rows[k]]
            self.twice = (ids[local[k]], self.tables[earlier] if earlier >= 0 else path, path)
        new = self.table_of[rows] < 0
        self.table_of[rows[new]] = number
        seq = columns["seq_id"].astype(object)[local]
        placed = self.seq_names[self.seq_code[rows]]
        moved = self.covered[rows] & (placed != seq)
        if moved.any() and self.elsewhere is None:
            k = int(np.flatnonzero(moved)[0])
            self.elsewhere = (path, ids[local[k]], seq[k], placed[k])
        status_ok = columns["status"][local] == "ok"
        take = self.covered[rows] & status_ok
        failed = self.covered[rows] & ~status_ok
        self.reason[rows[failed]] = columns["reason"][local[failed]].astype(object)
        self.ok[rows[take]] = True
        for column, values in self.values.items():
            taken = columns[column][local[take]]
            if column in STRING_COLUMNS:  # one str object per distinct value
                distinct, index = np.unique(taken, return_inverse=True)
                taken = distinct.astype(object)[index]
            values[rows[take]] = taken

    def check(self, members_csv) -> None:
        """ValueError for the first inconsistency: a row whose member the members table
        lacks, a member measured twice, or measured in another skyfield."""
        if self.absent is not None:
            path, name = self.absent
            more = self.absent_count - 1
            raise ValueError(
                f"photometry table {path} holds {name}"
                + (f" (and {more} more)" if more else "")
                + f", which the members table {members_csv} lacks"
            )
        if self.twice is not None:
            name, first, second = self.twice
            raise ValueError(f"{name} is measured twice: in {first} and in {second}")
        if self.elsewhere is not None:
            path, name, seq, placed = self.elsewhere
            raise ValueError(
                f"photometry table {path} measured {name} in {seq}, but the members table "
                f"{members_csv} places it in {placed}"
            )


def _read_batches(tables, bands, members: pd.DataFrame, members_csv) -> _BatchRows:
    """Every batch table's rows in their members' places (:class:`_BatchRows`); ValueError
    if two tables' settings differ or a row has no place."""
    measured = _measured_columns(bands)
    wanted = ["id_name", "seq_id", "status", "reason", *measured]
    batch = _BatchRows(members, measured, tables)
    for number, path in enumerate(tables):
        columns, settings = _read_batch(path, wanted)
        batch.add(number, path, columns, settings)
    batch.check(members_csv)
    return batch


NATURAL_PARTS = r"^(?P<text>[^0-9]*)(?P<digits>[0-9]{0,18})$"  # text, then an int64's digits


def natural_order(ids) -> np.ndarray:
    """Positions of ``ids`` (a Series or a sequence of str) sorted by
    :func:`rassflow.catalog.sample.natural_key`, ties in their order. Ids of ASCII text and
    at most one, trailing, number (``S-123``, ``2MASS``) sort as (text, has a number, number)
    with Arrow's string kernels, 10^6 ids in about a second; others by the key of each id,
    computed once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(ids, pd.Series):
        array = pa.array(ids.astype("str"))
        if isinstance(array, pa.ChunkedArray):  # a column of Arrow strings already
            array = array.combine_chunks()
    else:
        array = pa.array([str(v) for v in ids], type=pa.string())
    if len(array) and array.null_count == 0 and pc.all(pc.string_is_ascii(array)).as_py():
        parts = pc.extract_regex(array, NATURAL_PARTS)  # null where an id does not match
        if parts.null_count == 0:
            digits = parts.field("digits")
            has_number = pc.greater(pc.utf8_length(digits), 0)
            number = pc.cast(pc.if_else(has_number, digits, "0"), pa.int64())
            # ASCII: Arrow's byte order is Python's str order
            text = pc.rank(parts.field("text"), sort_keys="ascending", tiebreaker="dense")
            keys = (number, has_number, text)  # lexsort: the last key is the first one
            return np.lexsort([np.asarray(key.to_numpy(zero_copy_only=False)) for key in keys])
    keys = [natural_key(name) for name in array.to_pylist()]
    return np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=int)


def build_photometry_table(
    members_csv,
    tables,
    bands_keV,
    parallax_column=None,
    distance_column=None,
    extra_columns=(),
) -> pd.DataFrame:
    """One row per member of ``members_csv`` (natural order of id_name) with its photometry.

    ``tables``: the photometry batch tables (FITS, :func:`rassflow.photometry.forced.
    write_table`) that measured the covered members, each member at most once and in the
    skyfield the members table gives it; a member a table holds but the members table lacks
    is an error naming the table. A covered member in no table, or failed in its table, is
    ``failed`` with the reason; rows of ``not_covered`` members are not read. ``bands_keV``:
    the flux bands, each of which every table must hold. ``parallax_column`` (mas) or else
    ``distance_column`` (pc): the members-table column that gives L_X. ``extra_columns``:
    members-table columns copied to the end of the table as they are. The shared settings
    of the measurements (confidence levels, detection threshold, ECF model) are kept in
    ``DataFrame.attrs`` for :func:`write_photometry`; ValueError if they differ between
    tables.
    """
    extra_columns = tuple(extra_columns)
    clash = [c for c in extra_columns if c in photometry_columns(bands_keV, True)]
    if clash:
        raise ValueError(f"extra_columns {clash} are columns of the photometry table already")
    tables = [Path(path) for path in tables]
    distance_columns = [c for c in (parallax_column, distance_column) if c]
    members = _read_members(members_csv, extra_columns, distance_columns)
    bands = [(float(lo), float(hi)) for lo, hi in bands_keV]
    # the natural order of id_name, in which the batch rows are placed
    members = members.iloc[natural_order(members["id_name"])].reset_index(drop=True)
    batch = _read_batches(tables, bands, members, members_csv)
    distances = _distances(members, parallax_column, distance_column, members_csv)
    columns = photometry_columns(bands, distances is not None, extra_columns)

    count = len(members)
    covered, ok = batch.covered, batch.ok
    found = batch.table_of >= 0
    labels = np.array(["ok", "failed", "not_covered"], dtype=object)  # one str object each
    status = labels[np.where(ok, 0, np.where(covered, 1, 2))]
    reason = batch.reason
    reason[~covered] = NOT_COVERED_REASON
    reason[covered & ~found] = NO_TABLE_REASON

    data: dict = {}
    for column in MEMBER_COLUMNS:
        if column in ("id_name", "name", "seq_id"):
            data[column] = members[column].array  # str or object, as _texts left it
        elif column == "matched_2rxs":
            data[column] = members[column].to_numpy(dtype=bool)
        elif column in members.columns:
            data[column] = _floats(members[column])
        else:
            data[column] = np.full(count, np.nan)
    for column, values in batch.values.items():
        if column in BOOL_COLUMNS:
            values = pd.arrays.BooleanArray(values, mask=~ok)
        data[column] = values
    if distances is not None:
        distance = distances.to_numpy(dtype=float)
        data[DISTANCE_COLUMN] = distance
        factor = 4.0 * math.pi * (distance * PARSEC_CM) ** 2
        for lo, hi in bands:
            for flux, lx in zip(band_columns(lo, hi)[1:], luminosity_columns(lo, hi), strict=True):
                data[lx] = factor * data[flux]
    data["status"] = status
    data["reason"] = reason
    for column in extra_columns:
        data[column] = members[column].to_numpy()
    table = pd.DataFrame(data, columns=columns, copy=False)  # columns not copied into blocks
    table.attrs = {
        "flux_bands_keV": bands,
        "settings": batch.settings,
        "distance_source": colspec.distance_source(parallax_column, distance_column),
        "extra_columns": list(extra_columns),
    }
    return table


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------

COLUMN_DESCRIPTIONS = colspec.SAMPLE_POSITION | colspec.column_table(
    """
    id_name               |         | member identifier in the sample
    name                  |         | member name
    ra_rass               | deg     | right ascension at the RASS epoch (proper motion)
    dec_rass              | deg     | declination at the RASS epoch (proper motion)
    seq_id                |         | RASS skyfield measured (empty: not covered)
    matched_2rxs          |         | T if the member has a 2RXS counterpart
    counts_src            | count   | counts in the source circle, PI 11-235 (0.1-2.4 keV)
    counts_bkg            | count   | counts in the background region, PI 11-235
    backscal_ratio        |         | BACKSCAL source / BACKSCAL background
    bkg_expected          | count   | background expected in the circle, counts_bkg x backscal_ratio
    contamination_counts  | count   | neighbours' deblended counts in the circle, PI 11-235
    exposure_s            | s       | exposure map value at the source
    eef                   |         | fraction of the source counts kept: ARF / on-axis folded counts
    psf_corrected         |         | T if the ARF carries the survey-PSF correction (PSFCORR)
    arf_method            |         | ARF method (onaxis or pcarf)
    net_counts            | count   | counts_src - bkg_expected - contamination_counts
    net_rate              | count/s | posterior mode of the source counts / (exposure_s x eef)
    net_rate_lo           | count/s | lower end of the shortest rate interval (CONFLEV)
    net_rate_hi           | count/s | upper end of the shortest rate interval (CONFLEV)
    detection_probability |         | P(>= counts_src | background only), background marginalised
    detection_sigma       |         | Gaussian significance of detection_probability (NaN at 0 or 1)
    detection_p_randomized |        | P(> counts_src) + U P(= counts_src), U uniform from id_name
    detected              |         | T if the DETTEST p-value is <= norm.sf(DETSIGMA)
    rate_ul               | count/s | one-sided rate upper limit (ULCONF)
    deblending_sigma_counts | count | 1-sigma deblending error of contamination_counts (in the interval)
    psf_model             |         | PSF description of the aperture correction (psfoff)
    psf_sys_lo            |         | rate factor if the GOF FAQ PSF is true, lowest (in the interval)
    psf_sys_hi            |         | rate factor if the GOF FAQ PSF is true, highest (in the interval)
    bkg_inner_arcmin      | arcmin  | background annulus inner radius
    bkg_outer_arcmin      | arcmin  | background annulus outer radius
    hr1                   |         | 2RXS HR1 = (B-A)/(B+A), posterior median
    hr1_lo                |         | HR1 equal-tail interval, lower end
    hr1_hi                |         | HR1 equal-tail interval, upper end
    hr2                   |         | 2RXS HR2 = (D-C)/(D+C), posterior median
    hr2_lo                |         | HR2 equal-tail interval, lower end
    hr2_hi                |         | HR2 equal-tail interval, upper end
    status                |         | ok, not_covered or failed
    reason                |         | why the member was not measured
    """
)
COLUMN_DESCRIPTIONS[DISTANCE_COLUMN] = ("pc", "distance (1000/parallax or the catalogue's)")
for _band, (_lo, _hi) in HR_BANDS.items():
    COLUMN_DESCRIPTIONS[f"counts_src_{_band}"] = (
        COUNT,
        f"source counts, 2RXS band {_band} (PI {_lo}-{_hi})",
    )
    COLUMN_DESCRIPTIONS[f"counts_bkg_{_band}"] = (
        COUNT,
        f"background counts, 2RXS band {_band} (PI {_lo}-{_hi})",
    )


def column_description(column: str, bands_keV=(), extra_columns=()) -> tuple[str, str]:
    """(unit, description) of a table column."""
    if column in COLUMN_DESCRIPTIONS:
        return COLUMN_DESCRIPTIONS[column]
    for lo, hi in bands_keV:
        band = f"{float(lo):g}-{float(hi):g} keV"
        ecf, flux, flux_lo, flux_hi, flux_ul = band_columns(lo, hi)
        lx, lx_lo, lx_hi, lx_ul = luminosity_columns(lo, hi)
        descriptions = {
            ecf: ("erg/(cm2 count)", f"energy flux {band} per PSF-corrected broad-band count"),
            flux: (FLUX, f"energy flux {band}, net_rate x ECF"),
            flux_lo: (FLUX, f"energy flux {band}, lower end (net_rate_lo x ECF)"),
            flux_hi: (FLUX, f"energy flux {band}, upper end (net_rate_hi x ECF)"),
            flux_ul: (FLUX, f"energy flux {band}, upper limit (rate_ul x ECF)"),
            lx: (LUMINOSITY, f"luminosity {band}, 4 pi d^2 flux"),
            lx_lo: (LUMINOSITY, f"luminosity {band}, lower end"),
            lx_hi: (LUMINOSITY, f"luminosity {band}, upper end"),
            lx_ul: (LUMINOSITY, f"luminosity {band}, upper limit"),
        }
        if column in descriptions:
            return descriptions[column]
    if column in extra_columns:
        return "", f"members table column {column}"
    raise KeyError(f"no description for column {column!r}")


def _fits_column_values(series: pd.Series, column: str) -> np.ndarray:
    """One column of the table as the FITS table stores it: L, D or ASCII text."""
    if column in BOOL_COLUMNS:
        return series.fillna(False).to_numpy(dtype=bool)
    if series.dtype == bool:
        return series.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float)
    text = series.to_numpy(dtype=object, copy=True)
    text[pd.isna(text)] = ""
    # str of each, as wide as the longest; ASCII bytes, as FITS stores them (a quarter of
    # numpy's str: 10^6 reasons would take 200 MB)
    return np.array(text.tolist(), dtype=str).astype(bytes)


FITS_CHUNK_ROWS = 50_000  # records made at a time: ~40 MB at 80 columns


def _chunks(table, rows: int):
    for start in range(0, len(table), rows):
        yield table.iloc[start : start + rows]


def _fits_columns(table: pd.DataFrame, describe, chunk_rows: int) -> tuple[list, list[str]]:
    """The FITS columns of the table (L, D or ASCII text as wide as its longest value, with
    units) and their descriptions."""
    import astropy.units as u
    from astropy.io import fits

    columns, comments = [], []
    for name in table.columns:
        series = table[name]
        if name in BOOL_COLUMNS or series.dtype == bool:
            form = "L"
        elif pd.api.types.is_numeric_dtype(series):
            form = "D"
        else:
            form = f"{max(_text_width(series, name, chunk_rows), 1)}A"
        unit, comment = describe(name)
        unit = u.Unit(unit).to_string(format="fits") if unit else None
        columns.append(fits.Column(name=name, format=form, unit=unit))
        comments.append(comment)
    return columns, comments


def _text_width(series: pd.Series, name: str, chunk_rows: int) -> int:
    """Characters in the longest text of a column (:func:`_fits_column_values`)."""
    if isinstance(series.dtype, pd.StringDtype):  # str or missing: their lengths at once
        return int(series.str.len().max()) if series.notna().any() else 0
    # other values as str(v): converted a chunk at a time, for the width only
    parts = _chunks(series, chunk_rows)
    return max((_fits_column_values(part, name).dtype.itemsize for part in parts), default=0)


def _photometry_hdu(table: pd.DataFrame, provenance, rows: int, chunk_rows: int):
    """The PHOTOMETRY HDU of the table with all its cards and ``rows`` empty records."""
    from astropy.io import fits

    bands = table.attrs.get("flux_bands_keV", [])
    settings = table.attrs.get("settings", {})
    extra = table.attrs.get("extra_columns", [])
    describe = lambda name: column_description(name, bands, extra)  # noqa: E731
    # the cards of rassflow.report.columns.described_hdu
    columns, comments = _fits_columns(table, describe, chunk_rows)
    hdu = fits.BinTableHDU.from_columns(columns, nrows=rows)
    hdu.name = "PHOTOMETRY"
    header = hdu.header
    for number, comment in enumerate(comments, start=1):
        if comment:
            header[f"TCOMM{number}"] = comment
    status = table["status"] if "status" in table else pd.Series([], dtype=str)
    header["NMEMBERS"] = (len(table), "rows (sample members) in this table")
    header["NMEASURD"] = (int((status == "ok").sum()), "members measured (status ok)")
    header["NDETECT"] = (
        int(table["detected"].fillna(False).astype(bool).sum()) if "detected" in table else 0,
        "members detected",
    )
    header["BROADPI"] = (f"{BROAD_BAND[0]}-{BROAD_BAND[1]}", "2RXS broad band, PI channels")
    header["FLUXBAND"] = (",".join(band_label(lo, hi) for lo, hi in bands), "flux bands")
    if "confidence" in settings:
        header["CONFLEV"] = (float(settings["confidence"]), "[%] rate and HR interval level")
    if "upper_limit_confidence" in settings:
        header["ULCONF"] = (float(settings["upper_limit_confidence"]), "[%] upper limit level")
    if "detection_threshold_sigma" in settings:
        header["DETSIGMA"] = (
            float(settings["detection_threshold_sigma"]),
            "detection threshold (sigma)",
        )
    if "detection_test" in settings:
        header["DETTEST"] = (
            str(settings["detection_test"]),
            "detected by: randomized or exact p-value",
        )
    if "ecf_model" in settings:
        header["ECFMODEL"] = (str(settings["ecf_model"]), "spectral model of the ECF")
    if "ecf_shape" in settings:
        header["ECFSHAPE"] = (float(settings["ecf_shape"]), "kT (keV) or photon index of it")
    source = table.attrs.get("distance_source")
    if source:
        header["DISTSRC"] = (source, "where distance_pc comes from")
    header["METHOD"] = ("KBN 1991", "Kraft, Burrows & Nousek 1991, ApJ 374, 344")
    stamp(header, **(provenance or {}))
    return hdu


def photometry_hdu(table: pd.DataFrame, provenance: dict | None = None):
    """The table as a FITS BinTable HDU (EXTNAME PHOTOMETRY) with units and descriptions,
    every record in memory (:func:`write_photometry` writes the same bytes a chunk at a
    time)."""
    hdu = _photometry_hdu(table, provenance, len(table), FITS_CHUNK_ROWS)
    for name in table.columns:
        hdu.data[name] = _fits_column_values(table[name], name)
    return hdu


def photometry_header(table: pd.DataFrame, provenance=None, chunk_rows: int = FITS_CHUNK_ROWS):
    """The header of :func:`photometry_hdu`, made without its records."""
    header = _photometry_hdu(table, provenance, 0, chunk_rows).header
    header["NAXIS2"] = len(table)
    return header


def fits_records(table: pd.DataFrame, header, chunk_rows: int = FITS_CHUNK_ROWS):
    """The FITS records of the table under ``header`` (:func:`photometry_header`),
    ``chunk_rows`` at a time: big-endian numbers, L as T or F, ASCII text NUL-padded with
    its trailing blanks as NULs, as astropy writes them."""
    forms = [header[f"TFORM{k}"] for k in range(1, header["TFIELDS"] + 1)]
    numpy_forms = {"L": "u1", "D": ">f8"}
    dtype = np.dtype([(f"c{k}", numpy_forms.get(f, f"S{f[:-1]}")) for k, f in enumerate(forms)])
    for chunk in _chunks(table, chunk_rows):
        records = np.zeros(len(chunk), dtype=dtype)
        for k, name in enumerate(chunk.columns):
            values = _fits_column_values(chunk[name], name)
            if forms[k] == "L":
                records[f"c{k}"] = np.where(values, ord("T"), ord("F"))
            elif values.dtype.kind == "S":
                # trailing blanks become NULs (the fixed-width field pads), as astropy writes
                records[f"c{k}"] = np.char.rstrip(values, b" ")
            else:
                records[f"c{k}"] = values
        yield records


CSV_CHUNK_ROWS = 10_000  # rows formatted at a time: ~50 MB of cells and lines at 80 columns


CSV_SPECIAL = (",", '"', "\r", "\n")  # cells the csv module may quote (QUOTE_MINIMAL)


def _csv_cells(series: pd.Series) -> list[str]:
    """The cells of one column as ``DataFrame.to_csv(float_format=CSV_FLOAT_FORMAT)`` writes
    them: floats formatted (NaN empty), missing values empty, other values as the csv module
    writes them (repr of a float, str of anything else, quoted where needed)."""
    numpy_dtype = isinstance(series.dtype, np.dtype)  # not pandas' nullable ones
    if numpy_dtype and series.dtype.kind == "f":
        values = series.to_numpy()
        cells = list(map(CSV_FLOAT_FORMAT.__mod__, values.tolist()))
        for k in np.flatnonzero(np.isnan(values)).tolist():
            cells[k] = ""
        return cells
    if numpy_dtype and series.dtype.kind in "biu":
        return list(map(str, series.to_numpy().tolist()))  # Python numbers and bools
    values = series.to_numpy(dtype=object, copy=True)
    values[pd.isna(values)] = ""
    cells = [v if type(v) is str else repr(v) if isinstance(v, float) else str(v) for v in values]
    text = "".join(cells)  # one scan of the column: quoting is rare
    if any(special in text for special in CSV_SPECIAL):
        cells = [_csv_quoted(cell) for cell in cells]
    return cells


def _csv_quoted(cell: str) -> str:
    """The cell as the csv module writes it (its own rule for the rare cell to quote)."""
    if not any(special in cell for special in CSV_SPECIAL):
        return cell
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([cell, ""])
    return buffer.getvalue()[: -len(",\n")]


def write_csv(table: pd.DataFrame, path) -> None:
    """The table as CSV with the bytes of ``table.to_csv(path, index=False,
    float_format=CSV_FLOAT_FORMAT, lineterminator="\\n")`` (the csv module's minimal quoting
    and cells), formatting each column chunk with one map and joining the cells into lines
    instead of pandas' per-cell path: ~3 times faster than pandas 3.1. The float formatting
    (``%`` per cell) is most of its time."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerow([str(c) for c in table.columns])
        if not len(table.columns):
            return
        for start in range(0, len(table), CSV_CHUNK_ROWS):
            chunk = table.iloc[start : start + CSV_CHUNK_ROWS]
            columns = [_csv_cells(chunk[c]) for c in chunk.columns]
            if len(columns) == 1:  # a row of one empty cell is quoted, as the csv module does
                columns = [[cell or '""' for cell in columns[0]]]
            handle.write("\n".join(map(",".join, zip(*columns, strict=True))) + "\n")


def write_photometry(
    table: pd.DataFrame,
    csv_path,
    fits_path,
    provenance: dict | None = None,
    chunk_rows: int = FITS_CHUNK_ROWS,
):
    """Write the table as CSV (same table -> same bytes) and as FITS, each atomically, the
    FITS records ``chunk_rows`` at a time."""
    from astropy.io import fits

    with atomic_path(csv_path) as tmp:
        write_csv(table, tmp)
    primary = fits.PrimaryHDU()
    stamp(primary.header, **(provenance or {}))
    header = photometry_header(table, provenance, chunk_rows)
    records = fits_records(table, header, chunk_rows)
    write_fits_table(primary, header, records, Path(fits_path))
