import pandas as pd
import pytest
from astropy.table import Table

from rassflow.catalog.crossmatch import build_sample
from rassflow.catalog.sample import CatalogError, clean_id, prepare_sample, read_table, table_rows

COLS = dict(
    id_column="No", name_column="Name", ra_column="RAdeg", dec_column="DEdeg", id_prefix="CARMENES-"
)


def test_clean_id_is_file_name_safe():
    assert clean_id("CARMENES-", 123) == "CARMENES-123"
    assert clean_id("CARMENES-", 12.0) == "CARMENES-12"
    assert clean_id("", "GJ 2/a 'b'") == "GJ_2_a_b"
    assert clean_id("", "Gliese Ä1") == "Gliese_A1"


def test_prepare_sample_rejects_bad_positions_naming_the_row():
    frame = pd.DataFrame(
        {
            "No": [1, 2, 3],
            "Name": ["a", "b", "c"],
            "RAdeg": [10.0, "x", 370.0],
            "DEdeg": [0.0, 1.0, 2.0],
        }
    )
    with pytest.raises(CatalogError, match=r"row 2 .*row 3"):
        prepare_sample(frame, **COLS)


def test_prepare_sample_rejects_colliding_ids():
    frame = pd.DataFrame(
        {"No": ["a b", "a/b"], "Name": ["x", "y"], "RAdeg": [1.0, 2.0], "DEdeg": [0.0, 0.0]}
    )
    with pytest.raises(CatalogError, match="collide: CARMENES-a_b"):
        prepare_sample(frame, **COLS)


def test_missing_column_is_named():
    frame = pd.DataFrame({"No": [1], "Name": ["x"], "RA": [1.0], "DEdeg": [0.0]})
    with pytest.raises(CatalogError, match="'RAdeg' not found"):
        prepare_sample(frame, **COLS)


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
        {**COLS, "format": "auto"},
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


def test_read_table_names_missing_file(tmp_path):
    with pytest.raises(CatalogError, match="nope.csv does not exist"):
        read_table(tmp_path / "nope.csv")


def test_table_rows_are_the_records_with_plain_values():
    table = pd.DataFrame(
        {"id_name": ["a", "b"], "n": [1, 2], "ra": [0.5, float("nan")], "ok": [True, False]}
    )
    rows = table_rows(table)
    expected = table.to_dict("records")
    assert len(rows) == 2 and rows[0] == expected[0]
    assert rows[1]["ra"] != rows[1]["ra"] and expected[1]["ra"] != expected[1]["ra"]  # NaN
    assert [type(v) for v in rows[0].values()] == [str, int, float, bool]
    assert table_rows(table.iloc[0:0]) == []
