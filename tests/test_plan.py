"""rassflow.plan: the batches, the paths and the plan of a run."""

from __future__ import annotations

import io

import pytest

from rassflow.config import validate
from rassflow.plan import (
    BATCHES_PER_JOB,
    MERGE_SOURCES,
    Layout,
    Plan,
    caldb_remote,
    neighbour_radius_arcsec,
    plan_batches,
    region_centre,
    sample_settings,
    source_wildcards,
)


def skyfields(*sizes: int) -> dict[str, list[dict]]:
    """{seq: rows} with ``sizes[i]`` members in the i-th skyfield."""
    return {
        f"RS93{i:04d}N00": [{"id_name": f"S{i}-{k}"} for k in range(n)]
        for i, n in enumerate(sizes, start=1)
    }


def assert_every_member_once(by_seq, batches):
    ran = [row["id_name"] for _, _, rows in batches for row in rows]
    assert ran == [row["id_name"] for seq in sorted(by_seq) for row in by_seq[seq]]
    assert len({(seq, tag) for seq, tag, _ in batches}) == len(batches)


def test_big_skyfields_alone_and_small_ones_gathered():
    by_seq = skyfields(40, 1, 2, 1, 30, 1)
    batches = plan_batches(by_seq, 2)  # 75 sources: at most 38 per batch, at least 10
    assert [(tag, len(rows)) for _, tag, rows in batches] == [
        ("RS930001N00-part1of2", 20),
        ("RS930001N00-part2of2", 20),
        ("RS930002N00-to-RS930004N00", 4),  # closed by the big skyfield after it
        ("RS930005N00-part1of1", 30),
        ("RS930006N00-part1of1", 1),
    ]
    assert batches[2][0] == "RS930002N00"  # a gathered batch sits under its first skyfield
    assert_every_member_once(by_seq, batches)


def test_gathering_stops_at_the_fewest_sources():
    by_seq = skyfields(*[3] * 40)  # 120 sources, 2 jobs: batches of at least 15
    batches = plan_batches(by_seq, 2)
    assert all(len(rows) == 15 for _, _, rows in batches)
    assert len(batches) == 8 == BATCHES_PER_JOB * 2
    assert_every_member_once(by_seq, batches)


def test_many_jobs_gather_at_most_merge_sources():
    by_seq = skyfields(*[1] * 1000)  # 1,000 one-member skyfields on 10 job slots
    batches = plan_batches(by_seq, 10)
    assert {len(rows) for _, _, rows in batches} == {MERGE_SOURCES}
    assert_every_member_once(by_seq, batches)


def test_more_jobs_than_sources_one_batch_per_skyfield():
    by_seq = skyfields(2, 2, 4)
    batches = plan_batches(by_seq, 2)  # 8 sources: at least 1, at most 4
    assert [tag for _, tag, _ in batches] == [
        "RS930001N00-part1of1",
        "RS930002N00-part1of1",
        "RS930003N00-part1of1",
    ]
    split = plan_batches(by_seq, 8)  # at most 1 per batch
    assert [tag for _, tag, _ in split][-4:] == [f"RS930003N00-part{k}of4" for k in range(1, 5)]
    assert_every_member_once(by_seq, split)


@pytest.mark.parametrize("jobs", [1, 3, 64])
def test_a_gathered_batch_never_exceeds_a_slice(jobs):
    by_seq = skyfields(*[5, 1, 7, 2, 2, 9, 1, 1, 3] * 7)
    total = sum(map(len, by_seq.values()))
    batches = plan_batches(by_seq, jobs)
    most = -(-total // jobs)
    assert all(len(rows) <= most for _, _, rows in batches)
    assert_every_member_once(by_seq, batches)


# --- the plan of a run from the checkpoint's tables ---


SAMPLE_CSV = """id_name,ra,dec,seq_id,rasscat_ra,rasscat_dec
S1,150.0,20.0,RS930001N00,150.001,20.001
S3,151.0,21.0,RS930002N00,151.002,21.0
"""
MEMBERS_CSV = """id_name,ra,dec,ra_rass,dec_rass,seq_id,status,matched_2rxs
S1,150.0,20.0,149.99,20.01,RS930001N00,covered,True
S2,150.5,20.5,150.5,20.5,RS930001N00,covered,False
S3,151.0,21.0,151.0,21.0,RS930002N00,covered,True
S4,10.0,-5.0,10.0,-5.0,,not_covered,False
"""
NEIGHBOURS_CSV = "id_name,ra,dec\nS1,150.02,20.0\nS1,149.98,20.0\n"


def run_plan(tmp_path, **settings) -> Plan:
    for name, text in (
        ("sample.csv", SAMPLE_CSV),
        ("members.csv", MEMBERS_CSV),
        ("neighbours.csv", NEIGHBOURS_CSV),
    ):
        (tmp_path / name).write_text(text)
    config = validate({"results_dir": "out", **settings})
    return Plan.from_tables(
        config, tmp_path / "sample.csv", tmp_path / "members.csv", tmp_path / "neighbours.csv", 2
    )


def test_paths_follow_the_notebook_names_at_the_rass_epoch_position(tmp_path):
    plan = run_plan(tmp_path)
    paths = plan.paths(plan.by_id["S1"])
    assert paths["spectrum"] == (
        "out/sources/RS930001N00/S1/rosat-pspc-seqidRS930001N00-nameS1-ra149.99000"
        "-dec20.01000-radius0.0333deg-enALL-spectrum.fits"
    )
    assert paths["fit"].startswith("out/fits/RS930001N00/rosat-pspc-seqidRS930001N00-nameS1-")
    assert set(paths) == set(Layout("out").product)
    assert plan.by_id["S1"]["neighbours"] == [(150.02, 20.0), (149.98, 20.0)]
    assert "S4" not in plan.by_id  # not covered: measured by no job


def test_region_centre_is_the_2rxs_position_or_the_member_at_the_rass_epoch():
    row = {"ra": "1", "dec": "2", "ra_rass": "1.5", "dec_rass": "2.5", "rasscat_ra": "3",
           "rasscat_dec": "4"}  # fmt: skip
    assert region_centre(row, "xray") == (3.0, 4.0)
    assert region_centre(row, "optical") == (1.5, 2.5)
    assert region_centre({"ra": "1", "dec": "2"}, "optical") == (1.0, 2.0)
    wildcards = source_wildcards({**row, "id_name": "X", "seq_id": "RS930001N00"},
                                 validate({}))  # fmt: skip
    assert wildcards["ra"] == "1.50000" and wildcards["rad"] == "0.0333"


@pytest.mark.parametrize("granularity", ["auto", "per_skyfield"])
def test_batches_declare_manifests_and_list_their_skyfields_files(tmp_path, granularity):
    plan = run_plan(tmp_path, granularity=granularity)
    assert sorted(plan.batches) == [
        ("RS930001N00", "RS930001N00-part1of1"),
        ("RS930002N00", "RS930002N00-part1of1"),
    ]
    matched = plan.matched_rows()
    assert [row["id_name"] for row in matched] == ["S1", "S3"]
    assert plan.declared("fit", matched) == [
        "out/batches/RS930001N00/RS930001N00-part1of1-fitted.json",
        "out/batches/RS930002N00/RS930002N00-part1of1-fitted.json",
    ]
    assert plan.declared("src", [plan.by_id["S1"]]) == [
        "out/batches/RS930001N00/RS930001N00-part1of1-products.json"
    ]
    sources = plan.batch_sources("RS930001N00", "RS930001N00-part1of1")
    assert [(s["id_name"], s["fit"], s["seq"]) for s in sources] == [("S1", True, "RS930001N00")]
    assert sources[0]["paths"] == plan.paths(plan.by_id["S1"])
    assert plan.batch_skyfield_files("RS930001N00", "RS930001N00-part1of1") == {
        "events": ["out/skyfields/RS930001N00/RS930001N00_bas.fits"],
        "expmap": ["out/skyfields/RS930001N00/RS930001N00_mex.fits"],
    }


def test_members_without_a_fit_get_products_only_when_asked(tmp_path):
    assert "S2" not in run_plan(tmp_path).by_id  # photometry.products: fitted
    every = run_plan(tmp_path, photometry={"products": "all"})
    assert sorted(every.by_id) == ["S1", "S2", "S3"]
    sources = every.batch_sources(*next(iter(every.batches)))
    assert [(s["id_name"], s["fit"]) for s in sources] == [("S1", True), ("S2", False)]


@pytest.mark.parametrize("granularity", ["auto", "per_skyfield", "per_source"])
def test_every_covered_member_is_in_one_photometry_batch(tmp_path, granularity):
    plan = run_plan(tmp_path, granularity=granularity)
    assert plan.covered == {"RS930001N00": 2, "RS930002N00": 1}
    slices = [s for batch in plan.photometry_batches for s in plan.photometry_slices(*batch)]
    assert sorted(slices) == [["RS930001N00", 0, 2], ["RS930002N00", 0, 1]]
    outputs = plan.photometry_outputs()
    assert len(outputs) == len(plan.photometry_batches)
    assert all(p.startswith("out/photometry/RS93000") and p.endswith("-photometry.fits")
               for p in outputs)  # fmt: skip
    seq, tag = next(iter(plan.photometry_batches))
    files = plan.photometry_files(seq, tag)
    assert files["members"][0] == f"out/sample/skyfields/{seq}-members.csv"
    assert len({len(v) for v in files.values()}) == 1


def test_photometry_batches_slice_a_big_skyfield_and_gather_small_ones():
    from rassflow.plan import _slices

    by_seq = {"RS930001N00": [("RS930001N00", i) for i in range(100)],
              "RS930002N00": [("RS930002N00", 0)], "RS930003N00": [("RS930003N00", 0)]}  # fmt: skip
    batches = [_slices(rows) for _, _, rows in plan_batches(by_seq, 2)]
    assert batches == [
        {"RS930001N00": (0, 50)},
        {"RS930001N00": (50, 100)},
        {"RS930002N00": (0, 1), "RS930003N00": (0, 1)},
    ]


def test_per_source_declares_the_files_themselves(tmp_path):
    plan = run_plan(tmp_path, granularity="per_source")
    assert plan.batches == {}
    assert plan.declared("fit", plan.matched_rows()) == plan.path_list("fit", "matched")


def test_skyfield_members_files_hold_region_centres_and_neighbours(tmp_path):
    import pandas as pd

    from rassflow.plan import write_skyfield_members

    members = pd.read_csv(io.StringIO(MEMBERS_CSV), dtype={"id_name": str, "seq_id": str})
    matched = pd.read_csv(io.StringIO(SAMPLE_CSV), dtype={"id_name": str, "seq_id": str})
    near = pd.read_csv(io.StringIO(NEIGHBOURS_CSV), dtype={"id_name": str})
    seqs = write_skyfield_members(members, matched, near, "sample", tmp_path / "a")
    assert seqs == ["RS930001N00", "RS930002N00"]
    first = pd.read_csv(tmp_path / "a" / "RS930001N00-members.csv")
    assert list(first["id_name"]) == ["S1", "S2"]
    assert (first["ra"].iloc[0], first["dec"].iloc[0]) == (149.99, 20.01)  # RASS epoch
    assert len(pd.read_csv(tmp_path / "a" / "RS930001N00-neighbours.csv")) == 2
    assert len(pd.read_csv(tmp_path / "a" / "RS930002N00-neighbours.csv")) == 0
    write_skyfield_members(members, matched, near, "xray", tmp_path / "b")
    xray = pd.read_csv(tmp_path / "b" / "RS930001N00-members.csv")
    assert (xray["ra"].iloc[0], xray["ra"].iloc[1]) == (150.001, 150.5)  # S2 has no 2RXS


def test_inputs_the_configuration_chooses():
    demo = validate({"sample": {"source": "simulated"}, "archive": {"source": "simulated"}})
    assert sample_settings(demo)["ra_column"] == "RAdeg"
    assert sample_settings(demo)["format"] == "auto"
    regions = demo["regions"]
    outer = regions["source_radius_arcmin"] * regions["background_outer_factor"]
    assert neighbour_radius_arcsec(demo) == pytest.approx(60 * (outer + 6))  # the PSF wing
    off = validate({"regions": {"exclusion_radius_arcmin": 0}})
    assert neighbour_radius_arcsec(off) == 0.0
    real = validate({"archive": {"source": "heasarc"}})
    assert caldb_remote(real, environ={}) and not caldb_remote(real, environ={"CALDB": "/c"})
    assert not caldb_remote(demo, environ={})
