"""rassflow.catalog.crossmatch: the sample matched with 2RXS locally and on a local TAP server."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from rassflow.archive.heasarc import HeasarcError
from rassflow.catalog.crossmatch import (
    NEIGHBOUR_COLUMNS,
    build_sample,
    crossmatch,
    match_sample,
    tap_crossmatch,
)
from rassflow.catalog.sample import CatalogError, prepare_sample
from tests.support.servers import HeasarcApp, LocalServer

SAMPLE_COLUMNS = dict(
    id_column="No", name_column="Name", ra_column="RAdeg", dec_column="DEdeg", id_prefix="CARMENES-"
)
COLUMNS = {"name": "name", "ra": "ra", "dec": "dec", "skyfield": "skyfield_number"}


def rxs_table() -> Table:
    """2RXS-like sources: 8 isolated ones, a close pair (0.5' apart) and faint neighbours."""
    rng = np.random.default_rng(3)
    ra = np.concatenate([np.linspace(10, 80, 8), [120.0, 120.0 + 4 / 3600], [200.0]])
    dec = np.concatenate([np.linspace(-60, 60, 8), [5.0, 5.0], [-30.0]])
    return Table(
        {
            "name": [f"2RXS J{i:06d}" for i in range(len(ra))],
            "ra": ra,
            "dec": dec,
            "skyfield_number": np.array([930204 + i for i in range(len(ra))], dtype=np.int64),
            "count_rate": rng.uniform(0.01, 1.0, len(ra)),
        }
    )


def sample_frame(rxs: Table) -> pd.DataFrame:
    """Stars: 5 within a few arcsec of 2RXS sources, one between the close pair, 3 far away."""
    offsets = np.array([1.0, 2.5, 3.0, 6.0, 7.5]) / 3600
    ra = list(rxs["ra"][:5] + offsets)
    dec = list(rxs["dec"][:5])
    ra += [120.0 + 3 / 3600, 300.0, 150.0, 250.0]  # nearer the second of the pair
    dec += [5.0, 10.0, -10.0, 45.0]
    frame = pd.DataFrame(
        {
            "Karmn": [f"J{i:02d}" for i in range(1, len(ra) + 1)],
            "Name": [f"Star {i}" for i in range(len(ra))],
            "RA_deg": ra,
            "DE_deg": dec,
            "Vmag": np.arange(len(ra), dtype=float),
        }
    )
    return prepare_sample(frame, "Karmn", "Name", "RA_deg", "DE_deg", "CARMENES-")


def test_tap_crossmatch_equals_local_crossmatch():
    rxs = rxs_table()
    sample = sample_frame(rxs)
    columns = {"name": "name", "ra": "ra", "dec": "dec", "skyfield": "skyfield_number"}
    local = crossmatch(sample, rxs.to_pandas(), 8.0, columns)
    app = HeasarcApp({"rass2rxs": rxs}, max_rows=4)
    with LocalServer(app) as server:
        remote = tap_crossmatch(sample, 8.0, chunk_size=3, tap_url=f"{server.url}/tap")
        assert server.hits["/tap/sync"] == 3
    assert len(local) == 6
    assert local.loc[local["id_name"] == "CARMENES-J06", "rasscat_name"].item() == "2RXS J000009"
    pd.testing.assert_frame_equal(remote, local)


@pytest.mark.filterwarnings("ignore::pyvo.dal.exceptions.DALOverflowWarning")
def test_tap_crossmatch_refuses_capped_answer():
    rxs = rxs_table()
    sample = sample_frame(rxs)
    with LocalServer(HeasarcApp({"rass2rxs": rxs}, max_rows=4)) as server:
        with pytest.raises(HeasarcError, match="capped.*smaller chunk_size"):
            tap_crossmatch(sample, 8.0, chunk_size=9, tap_url=f"{server.url}/tap")
        with pytest.raises(HeasarcError, match="no table rass3rxs"):
            tap_crossmatch(sample, 8.0, table="rass3rxs", tap_url=f"{server.url}/tap")


@pytest.mark.parametrize("fmt", ["csv", "fits", "votable", "parquet"])
def test_crossmatch_keeps_nearest_within_radius(tmp_path, fmt):
    sample = Table(
        {
            "No": [1, 2, 10],
            "Name": ["GJ 1", "GJ 2", "GJ 10"],
            "RAdeg": [10.0, 20.0, 30.0],
            "DEdeg": [5.0, -5.0, 0.0],
        }
    )
    suffix = {"csv": "csv", "fits": "fits", "votable": "xml", "parquet": "parquet"}[fmt]
    path = tmp_path / f"sample.{suffix}"
    formats = {"csv": "ascii.csv", "fits": "fits", "votable": "votable", "parquet": "parquet"}
    sample.write(path, format=formats[fmt])
    arcsec = 1 / 3600
    rxs = Table(
        {
            "name": ["2RXS A", "2RXS B", "2RXS C", "2RXS D"],
            "ra": [10.0 + 3 * arcsec, 10.0 + 7 * arcsec, 20.0 + 9 * arcsec, 30.0],
            "dec": [5.0, 5.0, -5.0, 0.0 - 7.9 * arcsec],
            "skyfield_number": [930001, 930001, 930002, 930003],
            "count_rate": [0.1, 0.2, 0.3, 0.4],
        }
    )
    rxs.write(tmp_path / "rxs.fits")
    table = build_sample(
        path,
        {**SAMPLE_COLUMNS, "format": "auto"},
        tmp_path / "rxs.fits",
        {
            "radius_arcsec": 8.0,
            "columns": {"name": "name", "ra": "ra", "dec": "dec", "skyfield": "skyfield_number"},
        },
    )
    assert list(table["id_name"]) == ["CARMENES-1", "CARMENES-10"]  # natural order, GJ 2 at 9"
    assert list(table["rasscat_name"]) == ["2RXS A", "2RXS D"]
    assert list(table["seq_id"]) == ["RS930001N00", "RS930003N00"]
    assert table["sep_arcsec"].iloc[0] == pytest.approx(3 * 0.99619, rel=1e-3)  # cos(5 deg)


def test_a_missing_2rxs_column_is_named():
    rxs = rxs_table()
    with pytest.raises(CatalogError, match=r"'dec' \(crossmatch\.columns\.dec\) not found"):
        crossmatch(sample_frame(rxs), rxs.to_pandas().drop(columns="dec"), 8.0, COLUMNS)


def test_match_sample_finds_the_same_neighbours_locally_and_on_tap():
    """Star J06 sits between the close pair: the nearer source is its counterpart, the other
    its one neighbour; no other star has a 2RXS source within 8" besides its own."""
    rxs = rxs_table()
    sample = sample_frame(rxs)
    settings = {"radius_arcsec": 8.0, "table": "rass2rxs", "columns": COLUMNS}
    matched, near = match_sample(sample, settings, rxs.to_pandas(), 8.0)
    with LocalServer(HeasarcApp({"rass2rxs": rxs})) as server:
        remote, remote_near = match_sample(sample, settings, None, 8.0, tap_url=f"{server.url}/tap")
        assert server.hits["/tap/sync"] == 1  # one chunk, matches and neighbours together
    pd.testing.assert_frame_equal(remote, matched)
    pd.testing.assert_frame_equal(remote_near, near)
    assert list(near.columns) == list(NEIGHBOUR_COLUMNS)
    assert near[["id_name", "neighbour"]].to_numpy().tolist() == [["CARMENES-J06", "2RXS J000008"]]
    assert near["sep_arcsec"].item() == pytest.approx(3 * np.cos(np.radians(5.0)), abs=1e-3)
    # a neighbour radius below that separation leaves none
    _, none = match_sample(sample, settings, rxs.to_pandas(), 2.0)
    assert none.empty and list(none.columns) == list(NEIGHBOUR_COLUMNS)


def test_an_empty_sample_matches_nothing_and_asks_no_query():
    rxs = rxs_table()
    empty = sample_frame(rxs).iloc[0:0]
    local = crossmatch(empty, rxs.to_pandas(), 8.0, COLUMNS)
    with LocalServer(HeasarcApp({"rass2rxs": rxs})) as server:
        remote = tap_crossmatch(empty, 8.0, tap_url=f"{server.url}/tap")
        assert server.hits["/tap/sync"] == 0
    assert len(local) == len(remote) == 0
    assert {"id_name", "rasscat_ra", "sep_arcsec", "seq_id"} <= set(remote.columns)
