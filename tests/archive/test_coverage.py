"""Which skyfield measures each sample member: local exposure maps and HEASARC's field list."""

import numpy as np
import pandas as pd
from astropy.table import Table

from rassflow.archive.coverage import (
    field_list_coverage,
    local_coverage,
    members_table,
    rassmaster_fields,
)
from rassflow.files import compress_file
from tests.support.fits import write_expmap
from tests.support.servers import HeasarcApp, LocalServer


def archive_with_two_fields(tmp_path):
    """Two overlapping skyfields (centres 4 deg apart), the second with more exposure."""
    root = tmp_path / "archive"
    for number, centre, value in (
        ("930001", (150.0, 20.0), 300.0),
        ("930002", (154.0, 20.0), 500.0),
    ):
        directory = root / f"rs{number}n00"
        directory.mkdir(parents=True)
        plain = write_expmap(tmp_path / f"{number}_mex.fits", value=value, centre=centre)
        compress_file(plain, directory / f"rs{number}n00_mex.fits.Z")
    return root


def test_local_coverage_picks_the_most_exposure_and_records_the_others(tmp_path):
    root = archive_with_two_fields(tmp_path)
    members = pd.DataFrame(
        {"id_name": ["A", "B", "C"], "ra": [149.0, 152.1, 170.0], "dec": [20.5, 20.0, -30.0]}
    )
    coverage = local_coverage(members, root)
    assert list(coverage["seq_id"]) == ["RS930001N00", "RS930002N00", ""]
    assert list(coverage["other_seq_ids"]) == ["", "RS930001N00", ""]
    assert list(coverage["field_exposure_s"]) == [300.0, 500.0, 0.0]


def test_members_keep_their_2rxs_skyfield_and_the_rest_are_flagged(tmp_path):
    root = archive_with_two_fields(tmp_path)
    stars = pd.DataFrame(
        {
            "id_name": ["S2", "S10", "S1"],
            "name": ["b", "c", "a"],
            "ra": [152.1, 170.0, 152.0],
            "dec": [20.0, -30.0, 20.1],
        }
    )
    matched = pd.DataFrame({"id_name": ["S1"], "seq_id": ["RS930001N00"]})
    members = members_table(stars, matched, local_coverage(stars, root))
    assert list(members["id_name"]) == ["S1", "S2", "S10"]  # natural order
    assert list(members["seq_id"]) == ["RS930001N00", "RS930002N00", ""]
    assert list(members["matched_2rxs"]) == [True, False, False]
    assert list(members["status"]) == ["covered", "covered", "not_covered"]


def test_rassmaster_coverage_over_tap():
    fields = Table(
        {
            "seq_id": ["RS930001N00", "RS930002N00"],
            "ra": [150.0, 154.0],
            "dec": [20.0, 20.0],
            "exposure": [300.0, 500.0],
            "instrument": ["PSPC", "PSPC"],
        }
    )
    with LocalServer(HeasarcApp({"rassmaster": fields})) as server:
        listed = rassmaster_fields(f"{server.url}/tap")
    assert list(listed["seq_id"]) == ["RS930001N00", "RS930002N00"]
    members = pd.DataFrame({"ra": [149.0, 152.1, 170.0], "dec": [20.5, 20.0, -30.0]})
    coverage = field_list_coverage(members, listed)
    assert list(coverage["seq_id"]) == ["RS930001N00", "RS930002N00", ""]
    assert np.allclose(coverage["field_exposure_s"], [300.0, 500.0, 0.0])
