import pandas as pd
import pytest

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
