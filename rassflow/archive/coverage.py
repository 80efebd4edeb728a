"""Which skyfield covers each sample member, for the forced photometry of every member.

A member is measured in the skyfield with the most exposure at its position; the others
that cover it are recorded. Members matched with 2RXS keep their 2RXS skyfield (as the
spectral analysis does). Coverage comes from the archive itself:

- a local or simulated archive: each skyfield's exposure map (``_mex``) at the position
  (nearest pixel, as the spectra take EXPOSURE); a member is covered where it is positive;
- HEASARC: the RASS field list (``rassmaster`` over TAP: field centres and exposures), a
  member being covered when it lies inside a field's 6.4 x 6.4 deg tangent-plane square;
  of several, the field with the largest exposure.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from rassflow import pspc
from rassflow.archive.skyfield import ArchiveError, find_archive_file
from rassflow.files import decompress_to

FIELD_HALF_WIDTH_DEG = pspc.SKY_PIXELS * pspc.SKY_PIXEL_DEG / 2.0  # 3.2 deg
SKYFIELD_DIR = re.compile(r"^rs(\d{6})n00$")
COVERAGE_COLUMNS = ("seq_id", "other_seq_ids", "field_exposure_s")


def local_skyfields(root) -> list[str]:
    """Sequence IDs of the skyfield directories (rsNNNNNNn00) of an archive tree."""
    root = Path(root)
    if not root.is_dir():
        raise ArchiveError(f"archive root {root} is not a directory")
    return sorted(
        f"RS{m.group(1)}N00"
        for p in root.iterdir()
        if p.is_dir() and (m := SKYFIELD_DIR.match(p.name))
    )


def _read_exposure_map(root, seq: str):
    from astropy.io import fits
    from astropy.wcs import WCS

    source = find_archive_file(root, seq, "mex")
    with tempfile.TemporaryDirectory(prefix="rassflow-mex-") as tmp:
        path = decompress_to(source, Path(tmp) / "mex.fits")
        with fits.open(path) as hdul:
            hdu = next((h for h in hdul if h.data is not None and h.data.ndim == 2), None)
            if hdu is None:
                raise ArchiveError(f"skyfield {seq}: {source} has no 2-D exposure image")
            return WCS(hdu.header), np.asarray(hdu.data, dtype=float)


def _exposures_at(wcs, data, ra, dec) -> np.ndarray:
    """Exposure (s) at each position, nearest pixel; 0 outside the map."""
    col, row = np.round(wcs.all_world2pix(np.column_stack([ra, dec]), 0)).astype(int).T
    ny, nx = data.shape
    inside = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
    out = np.zeros(len(ra))
    out[inside] = data[row[inside], col[inside]]
    return np.where(np.isfinite(out), out, 0.0)


def _tangent_offsets(ra0, dec0, ra, dec):
    """Gnomonic (xi, eta) in deg of positions about a field centre; NaN behind it."""
    ra0, dec0, ra, dec = map(np.radians, (ra0, dec0, ra, dec))
    cos_c = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.cos(dec) * np.sin(ra - ra0) / cos_c
        eta = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cos_c
    behind = cos_c <= 0
    return np.where(behind, np.nan, np.degrees(xi)), np.where(behind, np.nan, np.degrees(eta))


def _choose(exposures: np.ndarray, seqs: list[str]) -> pd.DataFrame:
    """Per member (rows of ``exposures``, one column per skyfield): the skyfield with the
    most exposure, the others that cover it, and that exposure."""
    rows = []
    for values in exposures:
        covering = [(value, seq) for value, seq in zip(values, seqs, strict=True) if value > 0]
        covering.sort(key=lambda item: (-item[0], item[1]))
        if covering:
            rows.append((covering[0][1], ";".join(s for _, s in covering[1:]), covering[0][0]))
        else:
            rows.append(("", "", 0.0))
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


def local_coverage(members: pd.DataFrame, root, ra_column="ra", dec_column="dec") -> pd.DataFrame:
    """Coverage of each member by the skyfields of a local (or simulated) archive."""
    ra = members[ra_column].to_numpy(float)
    dec = members[dec_column].to_numpy(float)
    seqs = local_skyfields(root)
    exposures = np.zeros((len(members), len(seqs)))
    for j, seq in enumerate(seqs):
        wcs, data = _read_exposure_map(root, seq)
        ra0, dec0 = wcs.wcs.crval
        xi, eta = _tangent_offsets(ra0, dec0, ra, dec)
        near = np.flatnonzero(np.hypot(xi, eta) < 1.5 * FIELD_HALF_WIDTH_DEG)
        if len(near):
            exposures[near, j] = _exposures_at(wcs, data, ra[near], dec[near])
    return _choose(exposures, seqs)


def field_list_coverage(
    members: pd.DataFrame, fields: pd.DataFrame, ra_column="ra", dec_column="dec"
) -> pd.DataFrame:
    """Coverage from a RASS field list (``seq_id``, ``ra``, ``dec``, ``exposure`` columns, as
    HEASARC's rassmaster table has them): inside a field's square, the largest exposure."""
    ra = members[ra_column].to_numpy(float)
    dec = members[dec_column].to_numpy(float)
    seqs = [str(s).strip().upper() for s in fields["seq_id"]]
    exposures = np.zeros((len(members), len(seqs)))
    for j, (ra0, dec0, exposure) in enumerate(fields[["ra", "dec", "exposure"]].to_numpy(float)):
        xi, eta = _tangent_offsets(ra0, dec0, ra, dec)
        inside = (np.abs(xi) < FIELD_HALF_WIDTH_DEG) & (np.abs(eta) < FIELD_HALF_WIDTH_DEG)
        exposures[inside, j] = max(exposure, 1e-9)
    return _choose(exposures, seqs)


def rassmaster_fields(tap_url: str | None = None) -> pd.DataFrame:
    """The RASS skyfields of HEASARC's rassmaster table over TAP (seq_id, ra, dec, exposure)."""
    import pyvo

    from rassflow.catalog.crossmatch import TAP_URL
    from rassflow.download import HeasarcError

    url = tap_url or TAP_URL
    query = "SELECT seq_id, ra, dec, exposure FROM rassmaster"
    try:
        table = pyvo.dal.TAPService(url).run_sync(query).to_table()
    except Exception as exc:  # noqa: BLE001 - pyvo raises several DAL error types
        raise HeasarcError(f"rassmaster query at {url} failed: {exc}") from exc
    frame = table.to_pandas()
    frame["seq_id"] = [v.decode() if isinstance(v, bytes) else str(v) for v in frame["seq_id"]]
    return frame


def members_table(
    stars: pd.DataFrame,
    matched: pd.DataFrame,
    coverage: pd.DataFrame,
    ra_column: str = "ra",
    dec_column: str = "dec",
) -> pd.DataFrame:
    """Every sample member with its skyfield: the 2RXS one when matched, else the covering
    one with the most exposure; ``status`` covered or not_covered."""
    from rassflow.catalog.sample import natural_key

    out = stars.reset_index(drop=True).copy()
    out = pd.concat([out, coverage.reset_index(drop=True)], axis=1)
    matched_seq = dict(zip(matched["id_name"], matched["seq_id"], strict=True))
    out["matched_2rxs"] = out["id_name"].isin(matched_seq)
    for column in ("ra_rass", "dec_rass", "epoch_rass"):
        if column in matched.columns:  # matched members: their skyfield's epoch
            refined = dict(zip(matched["id_name"], matched[column], strict=True))
            out[column] = [
                refined.get(i, v) for i, v in zip(out["id_name"], out[column], strict=True)
            ]
    out["seq_id"] = [
        matched_seq.get(i, s) for i, s in zip(out["id_name"], out["seq_id"], strict=True)
    ]
    out["status"] = np.where(out["seq_id"].astype(str) != "", "covered", "not_covered")
    out = out.sort_values("id_name", key=lambda ids: ids.map(natural_key), kind="stable")
    return out.reset_index(drop=True)
