"""granularity auto (the default): batches of sources per skyfield, split so that every core
works, small skyfields gathered; the same per-source files, byte for byte, as per_source
(and, in test_workflow.py, per_skyfield)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from rassflow.photometry.forced import read_tables
from tests.workflow.conftest import SMALL
from tests.workflow.test_workflow import file_digests, planned_rules

pytestmark = pytest.mark.slow

TABLES = ("results/rass-spectral-results.csv", "results/rass-photometry.csv")


def manifests(results) -> dict[str, dict]:
    """{file name: content} of the batch manifests of a run."""
    return {p.name: json.loads(p.read_text()) for p in (results / "batches").rglob("*.json")}


def beside(demo_run, run_workflow, name, extra="", cores=2, replace=False):
    """A run of SMALL plus ``extra`` config (``replace``: of ``extra`` in place of SMALL) in
    its own directory beside demo_run."""
    workdir = demo_run / name
    workdir.mkdir(exist_ok=True)
    config = (extra if replace else SMALL + extra).replace(
        "results_dir: results", f"results_dir: {workdir}"
    )
    return workdir, run_workflow(workdir, config, cores=cores).stdout


def assert_same_files(results, other):
    for table in TABLES:
        assert (other / table).read_bytes() == (results / table).read_bytes(), table
    for products in ("sources", "fits"):
        expected, got = file_digests(results / products), file_digests(other / products)
        assert expected and got == expected, products


def test_default_is_auto_batches_of_the_fitted_sources(demo_run):
    """2 cores, 3 skyfields: the sources matched with 2RXS in batches (products, then fits),
    each in exactly one, and every covered member in exactly one photometry table."""
    results = demo_run / "results"
    found = manifests(results)
    names = sorted(found)
    assert names and all(
        re.fullmatch(r"RS\d{6}N00-(part\d+of\d+|to-RS\d{6}N00)-(products|fitted)\.json", n)
        for n in names
    ), names
    members = pd.read_csv(results / "sample" / "members.csv", dtype=str)
    covered = members[members["status"] == "covered"]
    fitted = sorted(covered.loc[covered["matched_2rxs"] == "True", "id_name"])
    for kind in ("products", "fitted"):
        ran = [s for n, m in found.items() if n.endswith(f"-{kind}.json") for s in m["sources"]]
        assert sorted(ran) == fitted, kind
    measured = read_tables(sorted((results / "photometry").rglob("*-photometry.fits")))
    assert sorted(measured["id_name"]) == sorted(covered["id_name"])
    assert not (results / "logs" / "fit_source").exists()  # no per-source jobs


def test_auto_split_for_more_cores_makes_the_same_files(demo_run, run_workflow):
    """With 8 cores for 3 skyfields the skyfields are split into batches, with no two jobs
    declaring the same output, and the files are the same, byte for byte; a second run
    with the same cores does nothing."""
    split, out = beside(demo_run, run_workflow, "split", cores=8)
    batches = [m["batch"] for n, m in manifests(split).items() if n.endswith("-products.json")]
    assert any(re.fullmatch(r"RS\d{6}N00-part[2-9]of[2-9]", b) for b in batches), batches
    assert len(batches) > 3 and "fit_source" not in out
    assert_same_files(demo_run / "results", split)
    assert "Nothing to be done" in run_workflow(split, None, "-n", cores=8).stdout


def test_per_source_makes_the_same_files_as_auto(demo_run, run_workflow):
    """Two jobs per source, each declaring that source's files."""
    per_source, out = beside(demo_run, run_workflow, "per_source", "granularity: per_source\n")
    assert "fit_source" in out and "make_batch_products" not in out
    assert not (per_source / "batches").exists()
    assert_same_files(demo_run / "results", per_source)


def test_auto_gathers_small_skyfields_and_makes_the_same_files(demo_run, run_workflow):
    """8 skyfields of about one member each, 1 core: auto gathers consecutive skyfields
    into batches (tag first-to-last), each skyfield in exactly one, with the same files as
    one batch per skyfield."""
    more_fields = "simulation:\n  seed: 7\n  n_skyfields: 8\n  n_stars: 8\n"
    config = SMALL.replace("simulation:\n  seed: 7\n  n_skyfields: 3\n  n_stars: 8\n", more_fields)
    assert config != SMALL
    gathered, _ = beside(demo_run, run_workflow, "gathered", config, cores=1, replace=True)
    found = {m["batch"]: m for n, m in manifests(gathered).items() if n.endswith("-products.json")}
    merged = [tag for tag in found if "-to-" in tag]
    assert merged, sorted(found)
    skyfields = [seq for m in found.values() for seq in m["skyfields"]]
    assert len(skyfields) == len(set(skyfields)) and len(found) < len(skyfields)
    for tag in merged:
        first, last = tag.split("-to-")
        assert found[tag]["skyfields"][0] == first and found[tag]["skyfields"][-1] == last
    per_skyfield, _ = beside(
        demo_run,
        run_workflow,
        "gathered-per-skyfield",
        config + "granularity: per_skyfield\n",
        replace=True,
    )
    assert_same_files(per_skyfield, gathered)


def test_fit_setting_change_reruns_only_the_fit_batches(demo_run, run_workflow):
    cfg = demo_run / "run.yaml"
    cfg.write_text(SMALL.replace("flux_samples: 30", "flux_samples: 40"))
    try:
        rules = planned_rules(run_workflow(demo_run, None, "-n").stdout)
    finally:
        cfg.write_text(SMALL)
    assert "fit_batch" in rules and "make_batch_products" not in rules, rules
    assert not {"make_regions", "extract_spectra", "make_images"} & set(rules), rules
