"""The sample catalog from VizieR, fetched once and cached as a file.

The table is made ready for a TAP upload: HEASARC's TAP service lower-cases column
names and cannot compute on sexagesimal strings, so case-only duplicates are renamed
and sexagesimal RA/Dec columns dropped (VizieR's computed ``_RAJ2000``/``_DEJ2000`` in
degrees remain).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

DEFAULT_CATALOG = "J/A+A/577/A128"
SEXAGESIMAL_UNITS = {"h:m:s", "d:m:s", '"h:m:s"', '"d:m:s"'}
SEXAGESIMAL_NAMES = {"RAJ2000", "DEJ2000", "RAB1950", "DEB1950", "RA_ICRS", "DE_ICRS"}


class VizierError(RuntimeError):
    """The catalog could not be fetched or cached; the message names catalog and server."""


def unique_lowercase_names(names) -> list[str]:
    """Rename columns whose lower-cased names collide: later ones get ``_2``, ``_3``, ...

    The first column of each lower-cased name keeps its name; the k-th column with the
    same lower-cased name becomes ``<name>_k`` (k counted from 2, skipping any suffix
    that would itself collide). E.g. ``e_pEWa, E_pEWa`` -> ``e_pEWa, E_pEWa_2``.
    """
    taken = {str(name).lower() for name in names}
    seen: dict[str, int] = {}
    result = []
    for name in map(str, names):
        key = name.lower()
        count = seen.get(key, 0) + 1
        seen[key] = count
        if count == 1:
            result.append(name)
            continue
        suffix = count
        while f"{key}_{suffix}" in taken:
            suffix += 1
        new = f"{name}_{suffix}"
        taken.add(new.lower())
        result.append(new)
    return result


def is_sexagesimal(column) -> bool:
    """A string column holding sexagesimal angles (by its unit or its VizieR name)."""
    if column.dtype.kind not in "USO":
        return False
    unit = str(column.unit).strip() if column.unit is not None else ""
    return unit in SEXAGESIMAL_UNITS or column.name in SEXAGESIMAL_NAMES


def prepare_for_upload(table) -> pd.DataFrame:
    """An astropy Table from VizieR -> DataFrame without sexagesimal columns, unique names."""
    table = table.copy(copy_data=False)
    table.remove_columns([name for name in table.colnames if is_sexagesimal(table[name])])
    table.rename_columns(list(table.colnames), unique_lowercase_names(table.colnames))
    frame = table.to_pandas()
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    return frame


def write_cache(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """CSV for a ``.csv`` path, FITS binary table otherwise (written atomically)."""
    from rassflow.files import atomic_path, write_fits

    path = Path(path)
    if path.suffix.lower() == ".csv":
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
        return
    from astropy.io import fits
    from astropy.table import Table

    hdu = fits.table_to_hdu(Table.from_pandas(frame))
    hdu.name = "CATALOG"
    write_fits(fits.HDUList([fits.PrimaryHDU(), hdu]), path)


def fetch_vizier_sample(
    catalog: str = DEFAULT_CATALOG,
    table: int | str = 0,
    cache_path: str | os.PathLike = "resources/sample_vizier.csv",
    vizier_server: str | None = None,
) -> pd.DataFrame:
    """The catalog table ``table`` (index or name) of a VizieR catalog, all rows and columns.

    Read from ``cache_path`` when it exists; otherwise fetched with astroquery (plus the
    computed ``_RAJ2000``/``_DEJ2000`` in degrees), prepared by :func:`prepare_for_upload`
    and written there. ``vizier_server`` is a host name (default: astroquery's).
    """
    from rassflow.catalog.sample import read_table

    cache_path = Path(cache_path)
    if cache_path.exists():
        return read_table(cache_path)
    from astroquery.vizier import Vizier

    options = {"row_limit": -1, "columns": ["**", "_RAJ2000", "_DEJ2000"]}
    if vizier_server:
        options["vizier_server"] = vizier_server
    client = Vizier(**options)
    server = client.VIZIER_SERVER
    try:
        tables = client.get_catalogs(catalog)
    except Exception as exc:  # noqa: BLE001 - network and parse errors alike
        raise VizierError(f"cannot fetch VizieR catalog {catalog} from {server}: {exc}") from exc
    try:
        chosen = tables[table]
    except (IndexError, KeyError, TypeError) as exc:
        available = ", ".join(tables.keys()) or "none"
        raise VizierError(
            f"VizieR catalog {catalog} from {server} has no table {table!r} (tables: {available})"
        ) from exc
    frame = prepare_for_upload(chosen)
    write_cache(frame, cache_path)
    return read_table(cache_path)
