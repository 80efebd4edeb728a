"""rassflow.batch: the per-source chain for every source of a batch, several skyfields in
one job, one bad skyfield failing only its own sources."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from rassflow.batch import fit_batch, make_batch_products
from rassflow.calibration.caldb import LocalCaldb, fetch_responses
from rassflow.chain import MEASURE_STAGES, PRODUCT_STAGES, stage_settings
from rassflow.config import validate
from rassflow.plan import Layout, source_wildcards
from rassflow.simulate.caldb import write_caldb
from rassflow.status import marker_reason
from tests.support.fits import write_events, write_expmap


@pytest.fixture(scope="module")
def responses(tmp_path_factory):
    root = tmp_path_factory.mktemp("caldb")
    write_caldb(root / "caldb")
    rmf, specresp = root / "rmf.fits", root / "specresp.fits"
    fetch_responses(LocalCaldb(root / "caldb"), "pich.eq.256", rmf, specresp)
    return str(rmf), str(specresp)


def skyfield(directory, seed, centre):
    """A skyfield with a bright source at its centre over a flat background."""
    rng = np.random.default_rng(seed)
    n_bkg, n_src = 3000, 400
    x = np.concatenate([rng.uniform(20000, 26000, n_bkg), rng.normal(23040.5, 30, n_src)])
    y = np.concatenate([rng.uniform(20000, 26000, n_bkg), rng.normal(23040.5, 30, n_src)])
    pi = rng.integers(11, 200, n_bkg + n_src)
    time = rng.uniform(0, 1000, n_bkg + n_src)
    events = write_events(
        directory / "bas.fits", x.astype(int), y.astype(int), pi, time, centre=centre
    )
    return str(events), str(write_expmap(directory / "mex.fits", 400.0, centre))


def test_two_skyfields_in_one_batch_and_a_bad_one_fails_only_its_sources(tmp_path, responses):
    config = validate(
        {"tools": {"products": "native", "fitter": "sherpa"}, "fit": {"flux_samples": 20}}
    )
    config["results_dir"] = str(tmp_path / "results")
    settings = stage_settings(config)
    layout = Layout(config["results_dir"])
    fields = {}
    for seq, seed, centre in (("RS930001N00", 1, (150.0, 20.0)), ("RS930002N00", 2, (160.0, 25.0))):
        (tmp_path / seq).mkdir()
        fields[seq] = skyfield(tmp_path / seq, seed, centre)
    bad = "RS930003N00"
    (tmp_path / bad).mkdir()
    fields[bad] = (str(tmp_path / bad / "bas.fits"), str(tmp_path / bad / "mex.fits"))
    (tmp_path / bad / "bas.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)

    members = [  # (id, skyfield, ra, dec, fitted)
        ("A1", "RS930001N00", 150.0, 20.0, True),
        ("A2", "RS930001N00", 150.05, 20.03, False),
        ("B1", "RS930002N00", 160.0, 25.0, True),
        ("C1", bad, 170.0, 30.0, True),
    ]
    sources = []
    for src, seq, ra, dec, fit in members:
        row = {"id_name": src, "seq_id": seq, "ra": ra, "dec": dec}
        paths = layout.source_paths(source_wildcards(row, config))
        sources.append(
            {"id_name": src, "seq": seq, "ra": ra, "dec": dec, "paths": paths, "fit": fit}
        )

    products = make_batch_products(
        fields, *responses, sources, {s: settings[s] for s in PRODUCT_STAGES}
    )
    assert products["A1"] is None and products["A2"] is None and products["B1"] is None
    assert products["C1"].startswith("make_regions") and "bas.fits" in products["C1"]
    by_id = {s["id_name"]: s["paths"] for s in sources}
    assert not marker_reason(by_id["B1"]["grouped"])
    assert not os.path.exists(by_id["A2"]["grouped"])  # no grouping when not fitted
    assert marker_reason(by_id["C1"]["spectrum"]) == products["C1"]

    measured = fit_batch(*responses, sources, {s: settings[s] for s in MEASURE_STAGES})
    assert "A2" not in measured  # no fit for a member not matched with 2RXS
    assert measured["A1"] == {"fit_spectrum": None}
    fit = json.loads(open(by_id["B1"]["fit"]).read())
    assert fit["models"]["bbody"]["status"] == "ok"
    failed = json.loads(open(by_id["C1"]["fit"]).read())
    assert all(m["status"] == "failed" for m in failed["models"].values())
    assert measured["C1"]["fit_spectrum"] == products["C1"]
