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


# Candidate fields of a position: centres within this angle, found with a KD-tree of unit
# vectors; every test below (tangent-plane square, 1.5 half-widths for the maps) lies inside
# it (atan(sqrt(2) tan 3.2 deg) = 4.52 deg, atan(4.8 deg in radians) = 4.79 deg).
CANDIDATE_RADIUS_DEG = 5.0


def _unit_vectors(ra, dec) -> np.ndarray:
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


def _candidate_pairs(ra, dec, centre_ra, centre_dec) -> tuple[np.ndarray, np.ndarray]:
    """(member, field) index pairs with the field centre within CANDIDATE_RADIUS_DEG, sorted
    by field then member: O((members + fields) log fields), not members x fields."""
    from scipy.spatial import cKDTree

    if len(ra) == 0 or len(centre_ra) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    tree = cKDTree(_unit_vectors(centre_ra, centre_dec))
    chord = 2.0 * np.sin(np.radians(CANDIDATE_RADIUS_DEG) / 2.0)
    points = _unit_vectors(ra, dec)
    k = min(8, len(centre_ra))
    while True:  # the k nearest centres, k doubled until no position has k within reach
        distance, fields = tree.query(points, k=k, distance_upper_bound=chord)
        distance, fields = distance.reshape(len(ra), k), fields.reshape(len(ra), k)
        if k == len(centre_ra) or not np.isfinite(distance[:, -1]).any():
            break
        k = min(2 * k, len(centre_ra))
    found = np.isfinite(distance)
    members = np.broadcast_to(np.arange(len(ra))[:, None], found.shape)[found]
    fields = fields[found]
    order = np.lexsort((members, fields))
    return members[order], fields[order]


def _choose(members, fields, exposures, seqs: list[str], n_members: int) -> pd.DataFrame:
    """Per member: the skyfield with the most exposure (ties: the first sequence ID), the
    others that cover it (positive exposure; in the same order, ';'-joined) and that
    exposure; ('', '', 0.0) where none does. Inputs: the (member, field, exposure) pairs."""
    seq_array = np.asarray(seqs, dtype=object)
    covering = np.asarray(exposures, float) > 0
    members, fields = np.asarray(members, int)[covering], np.asarray(fields, int)[covering]
    values = np.asarray(exposures, float)[covering]
    rank = np.argsort(np.argsort(seq_array, kind="stable"), kind="stable")  # order of the IDs
    order = np.lexsort((rank[fields], -values, members))
    members, fields, values = members[order], fields[order], values[order]
    first = np.ones(len(members), bool)
    first[1:] = members[1:] != members[:-1]
    seq_id = np.full(n_members, "", dtype=object)
    exposure = np.zeros(n_members)
    seq_id[members[first]] = seq_array[fields[first]]
    exposure[members[first]] = values[first]
    others = np.full(n_members, "", dtype=object)
    rest = np.flatnonzero(~first)
    if len(rest):  # the covering skyfields after the first, member by member (contiguous)
        names = seq_array[fields[rest]].tolist()
        owner = members[rest]
        cuts = np.flatnonzero(owner[1:] != owner[:-1]) + 1
        starts, stops = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(rest)]])
        for member, a, b in zip(
            owner[starts].tolist(), starts.tolist(), stops.tolist(), strict=True
        ):
            others[member] = ";".join(names[a:b])
    return pd.DataFrame(
        {"seq_id": seq_id, "other_seq_ids": others, "field_exposure_s": exposure},
        columns=list(COVERAGE_COLUMNS),
    )


def local_coverage(members: pd.DataFrame, root, ra_column="ra", dec_column="dec") -> pd.DataFrame:
    """Coverage of each member by the skyfields of a local (or simulated) archive: each
    exposure map is read once, in turn, and looked up at the members near its centre (a
    KD-tree of the members)."""
    from scipy.spatial import cKDTree

    ra = members[ra_column].to_numpy(float)
    dec = members[dec_column].to_numpy(float)
    seqs = local_skyfields(root)
    tree = cKDTree(_unit_vectors(ra, dec)) if len(ra) else None
    chord = 2.0 * np.sin(np.radians(CANDIDATE_RADIUS_DEG) / 2.0)
    pair_member, pair_field, values = [], [], []
    for j, seq in enumerate(seqs):
        wcs, data = _read_exposure_map(root, seq)
        if tree is None:
            continue
        ra0, dec0 = wcs.wcs.crval
        near = np.sort(
            np.asarray(tree.query_ball_point(_unit_vectors([ra0], [dec0])[0], chord), int)
        )
        xi, eta = _tangent_offsets(ra0, dec0, ra[near], dec[near])
        near = near[np.hypot(xi, eta) < 1.5 * FIELD_HALF_WIDTH_DEG]
        pair_member.append(near)
        pair_field.append(np.full(len(near), j))
        values.append(_exposures_at(wcs, data, ra[near], dec[near]))
    if not pair_member:
        pair_member, pair_field, values = [np.zeros(0, int)], [np.zeros(0, int)], [np.zeros(0)]
    return _choose(
        np.concatenate(pair_member), np.concatenate(pair_field), np.concatenate(values), seqs,
        len(members),
    )  # fmt: skip


def field_list_coverage(
    members: pd.DataFrame, fields: pd.DataFrame, ra_column="ra", dec_column="dec"
) -> pd.DataFrame:
    """Coverage from a RASS field list (``seq_id``, ``ra``, ``dec``, ``exposure`` columns, as
    HEASARC's rassmaster table has them): inside a field's square, the largest exposure."""
    ra = members[ra_column].to_numpy(float)
    dec = members[dec_column].to_numpy(float)
    seqs = [str(s).strip().upper() for s in fields["seq_id"]]
    centres = fields[["ra", "dec", "exposure"]].to_numpy(float).reshape(-1, 3)
    pair_member, pair_field = _candidate_pairs(ra, dec, centres[:, 0], centres[:, 1])
    xi, eta = _tangent_offsets(
        centres[pair_field, 0], centres[pair_field, 1], ra[pair_member], dec[pair_member]
    )
    inside = (np.abs(xi) < FIELD_HALF_WIDTH_DEG) & (np.abs(eta) < FIELD_HALF_WIDTH_DEG)
    values = np.where(inside, np.maximum(centres[pair_field, 2], 1e-9), 0.0)
    return _choose(pair_member, pair_field, values, seqs, len(members))


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
    ids = out["id_name"].tolist()  # plain lists: iterating a Series is slow at 10^6 rows
    matched_seq = dict(zip(matched["id_name"].tolist(), matched["seq_id"].tolist(), strict=True))
    out["matched_2rxs"] = out["id_name"].isin(matched_seq)
    for column in ("ra_rass", "dec_rass", "epoch_rass"):
        if column in matched.columns:  # matched members: their skyfield's epoch
            refined = dict(zip(matched["id_name"].tolist(), matched[column].tolist(), strict=True))
            out[column] = [
                refined.get(i, v) for i, v in zip(ids, out[column].tolist(), strict=True)
            ]
    out["seq_id"] = [
        matched_seq.get(i, s) for i, s in zip(ids, out["seq_id"].tolist(), strict=True)
    ]
    out["status"] = np.where(out["seq_id"].astype(str) != "", "covered", "not_covered")
    keys = [natural_key(i) for i in ids]
    order = sorted(range(len(ids)), key=keys.__getitem__)  # stable, as sort_values(kind=stable)
    return out.iloc[order].reset_index(drop=True)
