"""HEASARC services: 2RXS cross-match over TAP, skyfield links and files, CALDB files.

Every function takes the service's base URL, so the same code runs against HEASARC and
against a local server. astroquery's ``Heasarc`` object binds ``conf.VO_URL`` when the
module is imported, so a client for another base URL is a fresh ``HeasarcClass`` with its
``VO_URL`` set.
"""

from __future__ import annotations

import html
import os
import re
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd

from .archive import FILE_KINDS, skyfield_stem
from .catalog import RXS_PREFIX, natural_key, seq_id
from .download import DownloadError, NotFoundError, download, safe_name

VO_URL = "https://heasarc.gsfc.nasa.gov/xamin/vo"
TAP_URL = f"{VO_URL}/tap"
ARCHIVE_URLS = {
    "heasarc": "https://heasarc.gsfc.nasa.gov",
    "aws": "https://nasa-heasarc.s3.amazonaws.com",
}
ARCHIVE_PATH = "rosat/data/pspc/processed_data"
CALDB_URL = "https://heasarc.gsfc.nasa.gov/FTP/caldb"
UPLOAD_NAME = "carm"
UPLOAD_ALIAS = "carm"
RXS_ALIAS = "rasscat"
TAP_ROW_CAP = 100000  # rows HEASARC TAP returns at most per request (astroquery #3387)
ROW_COLUMN = "__row"  # HEASARC's row number in every table; not catalog data


class HeasarcError(RuntimeError):
    """A HEASARC query or download failed; the message names the query, skyfield or URL."""


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


def tap_crossmatch(
    sample: pd.DataFrame,
    radius_arcsec: float,
    table: str = "rass2rxs",
    chunk_size: int = 5000,
    tap_url: str | None = None,
) -> pd.DataFrame:
    """Match a prepared sample (``id_name``, ``ra``, ``dec`` in deg) with 2RXS on HEASARC TAP.

    Only ``id_name``, ``ra`` and ``dec`` are uploaded, ``chunk_size`` rows per request
    (the service caps the rows it returns; a capped answer raises). The answer keeps the
    service's ``rasscat_`` column names and is shaped as :func:`rassflow.catalog.crossmatch`
    returns it: the sample's columns, the nearest 2RXS source's ``rasscat_*`` columns
    (without the service's ``rasscat___row``), ``sep_arcsec`` and ``seq_id``.
    """
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
    matches = pd.concat(answers, ignore_index=True) if answers else pd.DataFrame()
    return normalise_matches(sample, matches, radius_arcsec)


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
    return out.sort_values("id_name", key=natural_key).reset_index(drop=True)


def _decoded_frame(table) -> pd.DataFrame:
    frame = table.to_pandas()
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    return frame


# --- skyfield links and files --------------------------------------------------------------


def _heasarc_client(tap_url: str | None):
    """An astroquery HEASARC client whose TAP and datalink URLs derive from ``tap_url``."""
    from astroquery.heasarc import HeasarcClass

    client = HeasarcClass()
    client.VO_URL = (tap_url or TAP_URL).rstrip("/").removesuffix("/tap")
    return client


def skyfield_links(seq_ids, tap_url: str | None = None):
    """rassmaster rows of the skyfields and their datalinks (astroquery ``locate_data``).

    Returns astroquery's table (ID, access_url, sciserver, aws, content_length,
    error_message) with a ``seq_id`` column taken from each access_url's directory name.
    """
    seq_ids = [str(s).strip().upper() for s in seq_ids]
    for seq in seq_ids:
        skyfield_stem(seq)  # raises for anything but RS + 6 digits + N00
    client = _heasarc_client(tap_url)
    quoted = ", ".join(f"'{seq}'" for seq in seq_ids)
    query = f"SELECT * FROM rassmaster WHERE seq_id IN ({quoted})"
    try:
        rows = client.query_tap(query).to_table()
    except Exception as exc:  # noqa: BLE001
        raise HeasarcError(f"rassmaster query at {client.VO_URL}/tap failed: {exc}") from exc
    found = {str(s).strip().upper() for s in rows["seq_id"]} if len(rows) else set()
    absent = [seq for seq in seq_ids if seq not in found]
    if absent:
        raise HeasarcError(f"rassmaster at {client.VO_URL}/tap has no row for {', '.join(absent)}")
    try:
        links = client.locate_data(rows, "rassmaster")
    except Exception as exc:  # noqa: BLE001
        raise HeasarcError(
            f"datalink at {client.VO_URL}/datalink/rassmaster failed: {exc}"
        ) from exc
    links["seq_id"] = [
        Path(urllib.parse.urlparse(str(url)).path.rstrip("/")).name.upper() if url else ""
        for url in links["access_url"]
    ]
    return links


def skyfield_directory(seq: str, host: str = "heasarc", base_url: str | None = None) -> str:
    """URL of a skyfield's archive directory (with a trailing '/') in the known layout."""
    stem = skyfield_stem(seq)
    group = int(stem[2:8]) // 100000 * 100000  # 930204 -> 900000
    base = (base_url or _archive_url(host)).rstrip("/")
    if host == "aws":
        return f"{base}/{ARCHIVE_PATH}/{group}/{stem}/"
    return f"{base}/FTP/{ARCHIVE_PATH}/{group}/{stem}/"


def _archive_url(host: str) -> str:
    if host not in ARCHIVE_URLS:
        raise ValueError(f"host must be one of {', '.join(ARCHIVE_URLS)}, got {host!r}")
    return ARCHIVE_URLS[host]


def list_directory(directory_url: str, host: str = "heasarc", timeout: float = 60) -> list[str]:
    """File names in an archive directory: an HTML index (heasarc) or an S3 listing (aws).

    Entries that are not plain file names (parent links, sub-directories, absolute or
    '..' paths) are left out.
    """
    import requests

    if host == "aws":
        parts = urllib.parse.urlsplit(directory_url)
        prefix = parts.path.lstrip("/")
        url = urllib.parse.urlunsplit(
            (
                parts.scheme,
                parts.netloc,
                "/",
                urllib.parse.urlencode({"list-type": "2", "prefix": prefix}),
                "",
            )
        )
    else:
        prefix, url = "", directory_url
    response = requests.get(url, timeout=timeout)
    if response.status_code == 404:
        raise NotFoundError(f"{url}: 404 Not Found", url, 404)
    if response.status_code >= 400:
        raise DownloadError(
            f"{url}: HTTP {response.status_code} {response.reason}", url, response.status_code
        )
    if host == "aws":
        entries = [
            html.unescape(key)[len(prefix) :]
            for key in re.findall(r"<Key>([^<]*)</Key>", response.text)
        ]
    else:
        entries = [
            urllib.parse.unquote(html.unescape(href))
            for href in re.findall(r'href\s*=\s*"([^"?#]*)"', response.text, re.I)
        ]
    names = []
    for entry in entries:
        try:
            names.append(safe_name(entry.removeprefix("./")))
        except ValueError:
            continue
    return names


def pick_skyfield_files(seq: str, names, kinds=FILE_KINDS) -> dict[str, str]:
    """For each kind the listed file ``<stem>_<kind>.fits`` or, failing that, ``.fits.Z``."""
    stem = skyfield_stem(seq)
    available = set(names)
    chosen, missing = {}, []
    for kind in kinds:
        options = [f"{stem}_{kind}.fits", f"{stem}_{kind}.fits.Z"]
        name = next((n for n in options if n in available), None)
        if name is None:
            missing.append(" or ".join(options))
        else:
            chosen[kind] = name
    if missing:
        raise HeasarcError(
            f"skyfield {seq}: the archive directory lists no {'; no '.join(missing)}"
        )
    return chosen


def download_skyfield(
    seq: str,
    dest_dir: str | os.PathLike,
    kinds=FILE_KINDS,
    host: str = "heasarc",
    attempts: int = 3,
    timeout: float = 60,
    base_url: str | None = None,
    directory_url: str | None = None,
    backoff: float = 1.0,
) -> dict[str, Path]:
    """Download a skyfield's files into ``dest_dir/<stem>/``, as :mod:`rassflow.archive` reads.

    The directory is ``directory_url`` (e.g. a datalink access_url) or the known layout
    under ``base_url`` for ``host``; its listing decides between ``.fits`` and ``.fits.Z``.
    Files already present are kept. Returns {kind: path}.
    """
    stem = skyfield_stem(seq)
    directory = directory_url or skyfield_directory(seq, host, base_url)
    directory = directory if directory.endswith("/") else directory + "/"
    try:
        names = list_directory(directory, host, timeout)
    except (DownloadError, OSError) as exc:
        raise HeasarcError(f"skyfield {seq}: cannot list {directory}: {exc}") from exc
    wanted = pick_skyfield_files(seq, names, kinds)
    local = Path(dest_dir) / stem
    paths = {}
    for kind, name in wanted.items():
        target = local / safe_name(name)
        url = urllib.parse.urljoin(directory, urllib.parse.quote(name))
        if not target.exists():
            try:
                download(url, target, attempts=attempts, timeout=timeout, backoff=backoff)
            except DownloadError as exc:
                raise HeasarcError(f"skyfield {seq}: {exc}") from exc
        paths[kind] = target
    return paths


# --- CALDB ---------------------------------------------------------------------------------


def select_caldb_entry(
    index_path: str | os.PathLike,
    codename: str,
    expr: str | None = None,
    telescop: str = "ROSAT",
    instrume: str = "PSPCC",
) -> tuple[str, str]:
    """(CAL_DIR, CAL_FILE) of the index row quzcif would pick (no date restriction).

    Rows must match TELESCOP, INSTRUME, CAL_CNAM (case-insensitive), CAL_QUAL 0 and the
    boundary expression (``NAME.eq.VALUE`` terms joined by ``.and.``: a boundary value
    equal to VALUE or a range containing it; a row without that boundary is not
    constrained). Of several, the latest validity start (REF_TIME) wins.
    """
    from astropy.io import fits

    from .caldb import parse_boundary, parse_expression

    conditions = parse_expression(expr) if expr else []
    query = f"telescop={telescop} instrume={instrume} codename={codename} expr={expr!r}"
    best, best_time = None, -np.inf
    with fits.open(index_path) as hdul:
        if "CIF" not in hdul:
            raise HeasarcError(f"{index_path}: no CIF extension")
        for row in hdul["CIF"].data:
            if (
                row["TELESCOP"].strip().upper() != telescop.upper()
                or row["INSTRUME"].strip().upper() != instrume.upper()
                or row["CAL_CNAM"].strip().upper() != codename.upper()
                or int(row["CAL_QUAL"]) != 0
            ):
                continue
            boundaries = [b for b in map(parse_boundary, row["CAL_CBD"]) if b is not None]
            if not all(_boundary_holds(boundaries, name, value) for name, value in conditions):
                continue
            if float(row["REF_TIME"]) >= best_time:
                best, best_time = row, float(row["REF_TIME"])
        if best is None:
            raise HeasarcError(f"no calibration file in {index_path} matches {query}")
        return best["CAL_DIR"].strip(), best["CAL_FILE"].strip()


def _boundary_holds(boundaries, name: str, value) -> bool:
    for bname, lo, hi, _unit in boundaries:
        if bname == name and (
            isinstance(value, float) != isinstance(lo, float) or not lo <= value <= hi
        ):
            return False
    return True


def fetch_caldb_file(
    base_url: str | None,
    codename: str,
    expr: str | None,
    cache_dir: str | os.PathLike,
    telescop: str = "ROSAT",
    instrume: str = "PSPCC",
    attempts: int = 3,
    timeout: float = 60,
) -> Path:
    """A calibration file from a remote CALDB, mirrored under ``cache_dir`` and fetched once.

    The index ``{base_url}/data/<mission>/<instrument>/caldb.indx`` is downloaded to the
    same relative path in ``cache_dir``; the selected row's CAL_DIR/CAL_FILE likewise.
    E.g. codename 'MATRIX' with expr 'pich.eq.256', or 'SPECRESP'.
    """
    from .caldb import INSTRUMENT_DIRS

    base = (base_url or CALDB_URL).rstrip("/")
    cache_dir = Path(cache_dir)
    mission = [
        safe_name(telescop.lower()),
        safe_name(INSTRUMENT_DIRS.get(instrume.upper(), instrume.lower())),
    ]
    index_rel = "/".join(["data", *mission, "caldb.indx"])
    index = cache_dir / index_rel
    _fetch_once(f"{base}/{index_rel}", index, attempts, timeout)
    cal_dir, cal_file = select_caldb_entry(index, codename, expr, telescop, instrume)
    parts = [safe_name(p) for p in cal_dir.split("/") if p] + [safe_name(cal_file)]
    target = cache_dir.joinpath(*parts)
    _fetch_once(f"{base}/{'/'.join(parts)}", target, attempts, timeout)
    return target


def _fetch_once(url: str, target: Path, attempts: int, timeout: float) -> None:
    if target.exists():
        return
    try:
        download(url, target, attempts=attempts, timeout=timeout, check_fits=True)
    except DownloadError as exc:
        raise HeasarcError(f"CALDB file {url}: {exc}") from exc


def fetch_remote_responses(
    base_url: str | None,
    rmf_expression: str,
    mirror_dir: str | os.PathLike,
    rmf_out: str | os.PathLike,
    specresp_out: str | os.PathLike,
    attempts: int = 3,
    timeout: float = 60,
) -> None:
    """The PSPC-C RMF (MATRIX with ``rmf_expression``) and SPECRESP file from a remote CALDB,
    mirrored under ``mirror_dir`` and copied to ``rmf_out`` and ``specresp_out``, as
    :func:`rassflow.caldb.fetch_responses` does from a local CALDB."""
    import shutil

    from .io import atomic_path

    for codename, expr, out in (
        ("MATRIX", rmf_expression, rmf_out),
        ("SPECRESP", None, specresp_out),
    ):
        source = fetch_caldb_file(
            base_url, codename, expr, mirror_dir, attempts=attempts, timeout=timeout
        )
        with atomic_path(out) as tmp:
            shutil.copyfile(source, tmp)
