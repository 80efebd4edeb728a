"""The cross-match of the sample with 2RXS: locally from a catalog file, or on HEASARC's TAP.

Both return the same table: the sample's columns, the nearest 2RXS source's columns with the
``rasscat_`` prefix the TAP service uses, ``sep_arcsec`` and the skyfield's ``seq_id``. Every
HEASARC function takes the service's URL, so the same code runs against a local server.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rassflow.archive.skyfield import seq_id
from rassflow.catalog.sample import (
    RXS_PREFIX,
    CatalogError,
    natural_key,
    prepare_sample,
    read_table,
)
from rassflow.download import HeasarcError

VO_URL = "https://heasarc.gsfc.nasa.gov/xamin/vo"
TAP_URL = f"{VO_URL}/tap"
UPLOAD_NAME = "carm"
UPLOAD_ALIAS = "carm"
RXS_ALIAS = "rasscat"
TAP_ROW_CAP = 100000  # rows HEASARC TAP returns at most per request (astroquery #3387)
ROW_COLUMN = "__row"  # HEASARC's row number in every table; not catalog data


def crossmatch(
    sample: pd.DataFrame, rxs: pd.DataFrame, radius_arcsec: float, columns: dict
) -> pd.DataFrame:
    """Match every sample position with the nearest 2RXS source within ``radius_arcsec``.

    2RXS columns are kept with the ``rasscat_`` prefix the HEASARC TAP service uses;
    ``sep_arcsec`` and ``seq_id`` are added. Unmatched sample rows are dropped.
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    for key in ("name", "ra", "dec", "skyfield"):
        if columns[key] not in rxs.columns:
            raise CatalogError(
                f"2RXS table: column {columns[key]!r} (crossmatch.columns.{key}) not found"
            )
    stars = SkyCoord(sample["ra"].to_numpy() * u.deg, sample["dec"].to_numpy() * u.deg)
    xray = SkyCoord(
        rxs[columns["ra"]].to_numpy(float) * u.deg, rxs[columns["dec"]].to_numpy(float) * u.deg
    )
    index, separation, _ = stars.match_to_catalog_sky(xray)
    separation = separation.to_value(u.arcsec)
    matched = separation <= radius_arcsec
    left = sample.loc[matched].reset_index(drop=True)
    right = rxs.iloc[index[matched]].reset_index(drop=True)
    right = right.rename(
        columns={
            columns[k]: v
            for k, v in (
                ("name", "name"),
                ("ra", "ra"),
                ("dec", "dec"),
                ("skyfield", "skyfield_number"),
            )
        }
    )
    right.columns = [RXS_PREFIX + str(c) for c in right.columns]
    out = pd.concat([left, right], axis=1)
    out["sep_arcsec"] = np.round(separation[matched], 4)
    out["seq_id"] = [seq_id(n) for n in out[RXS_PREFIX + "skyfield_number"]]
    return out.sort_values("id_name", key=lambda ids: ids.map(natural_key)).reset_index(drop=True)


def read_prepared_sample(sample_path, sample_cfg: dict) -> pd.DataFrame:
    """The sample catalog with clean ids and positions (see :func:`prepare_sample`)."""
    frame = read_table(sample_path, sample_cfg.get("format", "auto"))
    return prepare_sample(
        frame,
        sample_cfg["id_column"],
        sample_cfg["name_column"],
        sample_cfg["ra_column"],
        sample_cfg["dec_column"],
        sample_cfg["id_prefix"],
        source=str(sample_path),
    )


def build_sample(sample_path, sample_cfg: dict, rxs_path, crossmatch_cfg: dict) -> pd.DataFrame:
    """Read the sample and the 2RXS table and return the matched sample table."""
    sample = read_prepared_sample(sample_path, sample_cfg)
    rxs = read_table(rxs_path)
    return crossmatch(sample, rxs, crossmatch_cfg["radius_arcsec"], crossmatch_cfg["columns"])


# --- 2RXS cross-match over TAP ------------------------------------------------------------


def crossmatch_adql(table: str, radius_arcsec: float) -> str:
    """Every 2RXS source inside a circle of ``radius_arcsec`` around each uploaded position."""
    alias, rxs = UPLOAD_ALIAS, RXS_ALIAS
    return (
        f"SELECT {alias}.id_name, {alias}.ra, {alias}.dec, {rxs}.* "
        f"FROM tap_upload.{UPLOAD_NAME} AS {alias}, {table} AS {rxs} "
        f"WHERE CONTAINS(POINT('ICRS', {rxs}.ra, {rxs}.dec), "
        f"CIRCLE('ICRS', {alias}.ra, {alias}.dec, {radius_arcsec / 3600.0!r})) = 1"
    )


def tap_crossmatch(sample: pd.DataFrame, radius_arcsec: float, **service) -> pd.DataFrame:
    """Match a prepared sample (``id_name``, ``ra``, ``dec`` in deg) with 2RXS on HEASARC TAP.

    The answer keeps the service's ``rasscat_`` column names and is shaped as
    :func:`crossmatch` returns it: the sample's columns, the nearest 2RXS source's
    ``rasscat_*`` columns (without the service's ``rasscat___row``), ``sep_arcsec`` and
    ``seq_id``. ``service``: ``table``, ``chunk_size``, ``tap_url`` as :func:`tap_pairs` takes.
    """
    pairs = tap_pairs(sample, radius_arcsec, **service)
    return normalise_matches(sample, pairs, radius_arcsec)


def tap_pairs(
    sample: pd.DataFrame,
    radius_arcsec: float,
    table: str = "rass2rxs",
    chunk_size: int = 5000,
    tap_url: str | None = None,
) -> pd.DataFrame:
    """Every (sample source, 2RXS source) pair closer than ``radius_arcsec``, as the TAP
    service answers (``carm_*`` and ``rasscat_*`` columns).

    Only ``id_name``, ``ra`` and ``dec`` are uploaded, ``chunk_size`` rows per request
    (the service caps the rows it returns; a capped answer raises)."""
    import pyvo
    from astropy.table import Table

    tap_url = tap_url or TAP_URL
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    missing = [c for c in ("id_name", "ra", "dec") if c not in sample.columns]
    if missing:
        raise HeasarcError(f"sample lacks column(s) {', '.join(missing)} for the TAP upload")
    service = pyvo.dal.TAPService(tap_url)
    query = crossmatch_adql(table, radius_arcsec)
    answers = []
    for start in range(0, len(sample), chunk_size):
        chunk = sample.iloc[start : start + chunk_size]
        upload = Table(
            {
                "id_name": chunk["id_name"].astype(str).to_numpy(),
                "ra": chunk["ra"].to_numpy(float),
                "dec": chunk["dec"].to_numpy(float),
            }
        )
        rows = f"sample rows {start + 1}-{start + len(chunk)}"
        try:
            result = service.run_sync(query, uploads={UPLOAD_NAME: upload})
        except Exception as exc:  # noqa: BLE001 - pyvo raises several DAL error types
            raise HeasarcError(f"TAP cross-match at {tap_url} failed for {rows}: {exc}") from exc
        # the status may not say so when the service's own row cap cut the answer
        if str(result.query_status).upper() == "OVERFLOW" or len(result) >= TAP_ROW_CAP:
            raise HeasarcError(
                f"TAP cross-match at {tap_url}: the answer for {rows} was capped at "
                f"{len(result)} rows; use a smaller chunk_size (now {chunk_size})"
            )
        answers.append(_decoded_frame(result.to_table()))
    return pd.concat(answers, ignore_index=True) if answers else pd.DataFrame()


def normalise_matches(
    sample: pd.DataFrame, matches: pd.DataFrame, radius_arcsec: float
) -> pd.DataFrame:
    """TAP rows (``carm_*`` + ``rasscat_*``) -> one row per sample source, nearest match."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    rxs_columns = [
        c for c in matches.columns if c.startswith(RXS_PREFIX) and c != RXS_PREFIX + ROW_COLUMN
    ]
    needed = [
        f"{UPLOAD_ALIAS}_id_name",
        f"{UPLOAD_ALIAS}_ra",
        f"{UPLOAD_ALIAS}_dec",
        f"{RXS_PREFIX}ra",
        f"{RXS_PREFIX}dec",
        f"{RXS_PREFIX}skyfield_number",
    ]
    if len(matches.columns) == 0:  # an empty sample: nothing was asked
        matches = pd.DataFrame(columns=needed)
        rxs_columns = needed[3:]
    absent = [c for c in needed if c not in matches.columns]
    if absent:
        raise HeasarcError(f"TAP answer lacks column(s) {', '.join(absent)}")
    star = SkyCoord(
        matches[needed[1]].to_numpy(float) * u.deg, matches[needed[2]].to_numpy(float) * u.deg
    )
    xray = SkyCoord(
        matches[needed[3]].to_numpy(float) * u.deg, matches[needed[4]].to_numpy(float) * u.deg
    )
    separation = star.separation(xray).to_value(u.arcsec)
    matches = matches.assign(_sep=separation)
    matches = matches[matches["_sep"] <= radius_arcsec]
    nearest = matches.sort_values("_sep", kind="stable").drop_duplicates(needed[0])
    nearest = nearest.set_index(needed[0])
    left = sample[sample["id_name"].astype(str).isin(nearest.index)].reset_index(drop=True)
    right = nearest.loc[left["id_name"].astype(str)].reset_index(drop=True)
    out = pd.concat([left, right[rxs_columns]], axis=1)
    out["sep_arcsec"] = np.round(right["_sep"].to_numpy(float), 4)
    out["seq_id"] = [seq_id(n) for n in out[f"{RXS_PREFIX}skyfield_number"]]
    return out.sort_values("id_name", key=lambda ids: ids.map(natural_key)).reset_index(drop=True)


def _decoded_frame(table) -> pd.DataFrame:
    frame = table.to_pandas()
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    return frame


# --- neighbours: the other 2RXS sources near each sample source ---------------------------

NEIGHBOUR_COLUMNS = ("id_name", "neighbour", "ra", "dec", "sep_arcsec")


def local_pairs(sample: pd.DataFrame, rxs: pd.DataFrame, radius_arcsec: float, columns: dict):
    """Every (sample source, 2RXS source) pair closer than ``radius_arcsec``, in the shape of
    the TAP answer (``carm_id_name``, ``rasscat_name``, ``rasscat_ra``, ``rasscat_dec``)."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    stars = SkyCoord(sample["ra"].to_numpy(float) * u.deg, sample["dec"].to_numpy(float) * u.deg)
    xray = SkyCoord(
        rxs[columns["ra"]].to_numpy(float) * u.deg, rxs[columns["dec"]].to_numpy(float) * u.deg
    )
    star_index, xray_index, _, _ = xray.search_around_sky(stars, radius_arcsec * u.arcsec)
    return pd.DataFrame(
        {
            f"{UPLOAD_ALIAS}_id_name": sample["id_name"].to_numpy()[star_index],
            f"{UPLOAD_ALIAS}_ra": sample["ra"].to_numpy(float)[star_index],
            f"{UPLOAD_ALIAS}_dec": sample["dec"].to_numpy(float)[star_index],
            f"{RXS_PREFIX}name": rxs[columns["name"]].astype(str).to_numpy()[xray_index],
            f"{RXS_PREFIX}ra": rxs[columns["ra"]].to_numpy(float)[xray_index],
            f"{RXS_PREFIX}dec": rxs[columns["dec"]].to_numpy(float)[xray_index],
        }
    )


def neighbours(pairs: pd.DataFrame, matched: pd.DataFrame, radius_arcsec: float) -> pd.DataFrame:
    """The 2RXS sources within ``radius_arcsec`` of each sample source other than its own
    counterpart (``matched``'s ``rasscat_name``), nearest first."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    if len(pairs) == 0:
        return pd.DataFrame(columns=NEIGHBOUR_COLUMNS)
    ids = pairs[f"{UPLOAD_ALIAS}_id_name"].astype(str).to_numpy()
    star = SkyCoord(
        pairs[f"{UPLOAD_ALIAS}_ra"].to_numpy(float) * u.deg,
        pairs[f"{UPLOAD_ALIAS}_dec"].to_numpy(float) * u.deg,
    )
    xray = SkyCoord(
        pairs[f"{RXS_PREFIX}ra"].to_numpy(float) * u.deg,
        pairs[f"{RXS_PREFIX}dec"].to_numpy(float) * u.deg,
    )
    table = pd.DataFrame(
        {
            "id_name": ids,
            "neighbour": pairs[f"{RXS_PREFIX}name"].astype(str).str.strip().to_numpy(),
            "ra": pairs[f"{RXS_PREFIX}ra"].to_numpy(float),
            "dec": pairs[f"{RXS_PREFIX}dec"].to_numpy(float),
            "sep_arcsec": np.round(star.separation(xray).to_value(u.arcsec), 4),
        }
    )
    counterpart = dict(
        zip(
            matched["id_name"].astype(str),
            matched[f"{RXS_PREFIX}name"].astype(str).str.strip(),
            strict=True,
        )
    )
    own = table["neighbour"].to_numpy() == table["id_name"].map(counterpart).to_numpy()
    table = table[~own & (table["sep_arcsec"] <= radius_arcsec)]
    table = table.sort_values(
        ["id_name", "sep_arcsec"],
        kind="stable",
        key=lambda c: c.map(natural_key) if c.name == "id_name" else c,
    )
    return table.reset_index(drop=True)


def match_sample(
    stars: pd.DataFrame,
    settings: dict,
    rxs: pd.DataFrame | None,
    neighbour_radius_arcsec: float,
    chunk_size: int = 5000,
    tap_url: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The matched sample and the neighbour table of a prepared sample, from a local 2RXS
    table (``rxs``) or, when ``rxs`` is None, from HEASARC's TAP service (one query per chunk
    at the larger of the two radii). ``settings``: the crossmatch config section."""
    radius = settings["radius_arcsec"]
    search = max(radius, neighbour_radius_arcsec)
    moving = "ra_rass" in stars.columns  # with proper motions: match at the RASS epoch
    query = stars.assign(ra=stars["ra_rass"], dec=stars["dec_rass"]) if moving else stars
    if rxs is None:
        pairs = tap_pairs(query, search, settings["table"], chunk_size, tap_url)
        matched = normalise_matches(query, pairs, radius)
    else:
        matched = crossmatch(query, rxs, radius, settings["columns"])
        pairs = local_pairs(query, rxs, search, settings["columns"])
    if moving:  # the tables keep the catalog positions beside the RASS-epoch ones
        catalog = stars.set_index("id_name")
        matched["ra"] = matched["id_name"].map(catalog["ra"]).to_numpy(float)
        matched["dec"] = matched["id_name"].map(catalog["dec"]).to_numpy(float)
    return matched, neighbours(pairs, matched, neighbour_radius_arcsec)
