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


def _every_pair_coverage(members, fields):
    """The coverage by testing every member against every field (the reference)."""
    from rassflow.archive.coverage import FIELD_HALF_WIDTH_DEG, _tangent_offsets

    rows = []
    for ra, dec in members[["ra", "dec"]].to_numpy(float):
        covering = []
        for seq, ra0, dec0, exposure in fields[["seq_id", "ra", "dec", "exposure"]].to_numpy():
            xi, eta = _tangent_offsets(float(ra0), float(dec0), ra, dec)
            if abs(xi) < FIELD_HALF_WIDTH_DEG and abs(eta) < FIELD_HALF_WIDTH_DEG:
                covering.append((max(float(exposure), 1e-9), seq))
        covering.sort(key=lambda item: (-item[0], item[1]))
        if covering:
            rest = ";".join(seq for _, seq in covering[1:])
            rows.append((covering[0][1], rest, covering[0][0]))
        else:
            rows.append(("", "", 0.0))
    return pd.DataFrame(rows, columns=["seq_id", "other_seq_ids", "field_exposure_s"])


def test_field_list_coverage_equals_testing_every_field():
    """Dense overlapping fields (ties in exposure included), the poles and RA 0/360: the
    KD-tree's candidates give what testing every field gives."""
    rng = np.random.default_rng(7)
    n_fields = 300
    fields = pd.DataFrame(
        {
            "seq_id": [f"RS93{k:04d}N00" for k in rng.permutation(n_fields)],
            "ra": rng.uniform(0.0, 360.0, n_fields),
            "dec": np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n_fields))),
            "exposure": rng.choice([0.0, 200.0, 350.0, 500.0], n_fields),
        }
    )
    fields.loc[:4, ["ra", "dec"]] = [[359.0, 0.0], [1.0, 0.5], [0.0, 89.0], [180.0, 88.0], [2, -1]]
    ra = np.concatenate([rng.uniform(0.0, 360.0, 400), [0.2, 359.9, 10.0, 100.0]])
    dec = np.concatenate([np.degrees(np.arcsin(rng.uniform(-1, 1, 400))), [0.1, 0.2, 89.9, 88.5]])
    members = pd.DataFrame({"ra": ra, "dec": dec})
    got = field_list_coverage(members, fields)
    expected = _every_pair_coverage(members, fields)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert (got["other_seq_ids"] != "").sum() > 10 and (got["seq_id"] == "").sum() > 10
