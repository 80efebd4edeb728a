"""The backend switch in real Snakemake runs: resolved once at start, printed, stamped, and
the same file targets whichever tools make the products."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from rassflow.backends import heasoft
from rassflow.batch import make_batch_products
from rassflow.simulate.caldb import write_rmf
from tests.support import FAKES
from tests.support.fits import write_events, write_expmap

# one skyfield, batched: the cheapest complete run
SMALL = """\
results_dir: results
granularity: per_skyfield
sample: {source: simulated}
crossmatch: {source: simulated}
archive: {source: simulated}
simulation:
  seed: 7
  n_skyfields: 1
  n_stars: 3
  xray_fraction: 1.0
  n_unrelated_per_field: 0
images:
  bands_keV: [[0.5, 2.0]]
  binnings: [270]
fit:
  flux_samples: 10
"""

TARGETS = (
    "results/results/rass-spectral-results.csv",
    "results/skyfields/RS930001N00/images/rosat-pspc-seqidRS930001N00-en0.5-2.0keV-bin270-image.fits",
)


def without_heasoft() -> dict:
    """This process's environment with HEASoft uninitialised (so never usable)."""
    env = dict(os.environ)
    env.pop("HEADAS", None)
    return env


def with_fake_heasoft(headas: Path) -> dict:
    """The stand-in heasoftpy and PyXspec importable and HEADAS set."""
    (headas / "syspfiles").mkdir(parents=True, exist_ok=True)
    env = without_heasoft()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FAKES), env.get("PYTHONPATH")]))
    env["HEADAS"] = str(headas)
    return env


def summary_outputs(proc) -> dict[str, str]:
    """Output file -> rule, from ``snakemake --summary``."""
    rows = [line.split("\t") for line in proc.stdout.splitlines()[1:] if "\t" in line]
    return {row[0]: row[2] for row in rows}


def per_source(products: str) -> str:
    return SMALL.replace("granularity: per_skyfield", "granularity: per_source") + (
        f"tools:\n  products: {products}\n"
    )


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory, run_workflow):
    """A complete run with tools 'auto' where HEASoft is not initialised."""
    workdir = tmp_path_factory.mktemp("auto")
    proc = run_workflow(workdir, SMALL, *TARGETS, env=without_heasoft())  # no figures: costly
    return workdir, proc.stdout


@pytest.mark.slow
def test_auto_without_heasoft_is_native_and_sherpa_everywhere(auto_run):
    workdir, log = auto_run
    results = workdir / "results"
    assert "rassflow tools: products native, fitter sherpa (" in log
    grouped = sorted(results.glob("sources/*/*/*-enALL-grp.fits"))
    assert grouped, "no grouped spectrum was made"
    for path in grouped:
        assert fits.getheader(path, "SPECTRUM")["RFBACKND"] == "native"
    (image,) = results.glob("skyfields/*/images/*-image.fits")
    assert fits.getheader(image)["RFBACKND"] == "native"
    for path in results.glob("fits/*/*-fit.json"):
        fit = json.loads(path.read_text())
        assert (fit["backend"], fit["fitter"]) == ("native", "sherpa"), path
    table = pd.read_csv(results / "results" / "rass-spectral-results.csv")
    assert set(table["backend"]) == {"native"} and set(table["fitter"]) == {"sherpa"}


@pytest.mark.slow
def test_heasoft_and_native_plan_the_same_files(auto_run, tmp_path, run_workflow):
    """Per source, both backends plan the same targets, made by the same rules."""
    workdir, _ = auto_run  # its sample checkpoint has run, so every source's job is planned
    native = run_workflow(workdir, per_source("native"), "--summary", env=without_heasoft())
    heasoft = run_workflow(
        workdir, per_source("heasoft"), "--summary", env=with_fake_heasoft(tmp_path / "headas")
    )
    assert "rassflow tools: products heasoft, fitter xspec (" in heasoft.stdout
    assert "heasoft 6.99.1" in heasoft.stdout  # the stand-in's version, printed at start
    native_outputs, heasoft_outputs = summary_outputs(native), summary_outputs(heasoft)
    assert heasoft_outputs == native_outputs
    rules = set(native_outputs.values())
    assert {"make_images", "make_source_products", "fit_source"} <= rules
    assert sum(name.endswith("-fit.json") for name in native_outputs) == 3


@pytest.mark.slow
def test_heasoft_asked_for_but_missing_fails_before_any_job(tmp_path, run_workflow):
    proc = run_workflow(tmp_path, per_source("heasoft"), env=without_heasoft(), check=False)
    assert proc.returncode != 0
    output = proc.stdout
    assert "WorkflowError" in output
    assert "products backend 'heasoft' needs HEASoft" in output
    assert "conda install -c https://heasarc.gsfc.nasa.gov/FTP/software/conda" in output
    assert "Job stats" not in output
    assert not (tmp_path / "results").exists()


@pytest.fixture
def fake_heasoftpy(tmp_path, monkeypatch):
    """The heasoftpy stand-in, imported fresh, with HEASoft initialised."""
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.setenv("HEADAS", str(tmp_path / "headas"))
    monkeypatch.delenv("PFILES", raising=False)
    (tmp_path / "headas" / "syspfiles").mkdir(parents=True)
    sys.modules.pop("heasoftpy", None)
    sys.modules.pop("heasoftpy.utils", None)
    heasoft.heasoft_versions.cache_clear()
    yield importlib.import_module("heasoftpy")
    heasoft.heasoft_versions.cache_clear()
    sys.modules.pop("heasoftpy", None)
    sys.modules.pop("heasoftpy.utils", None)


def test_skyfield_batch_runs_the_heasoft_tasks(fake_heasoftpy, tmp_path, monkeypatch):
    """granularity per_skyfield: extractor, pcarf and ftgrouppha make the per-source files."""
    rng = np.random.default_rng(5)
    x, y = rng.uniform(22000, 24000, (2, 2000)).astype(int)
    events = write_events(
        tmp_path / "rs930001n00_bas.fits",
        x,
        y,
        rng.integers(10, 250, 2000),
        rng.uniform(0, 1000, 2000),
    )
    expmap = write_expmap(tmp_path / "rs930001n00_mex.fits", value=400.0)
    keys = ("src", "bkg", "src_phys", "bkg_phys", "spectrum", "background", "arf", "grouped")
    paths = {key: str(tmp_path / "src" / f"s1-{key}.fits") for key in keys}
    provenance = {"backend": "heasoft", "tool": "rassflow", "config_hash": "abc"}
    regions = {
        "source_radius_arcmin": 2.0,
        "background_inner_factor": 1.05,
        "background_outer_factor": 1.5,
    }
    settings = {
        "make_regions": {**regions, "exclusion_radius_arcmin": 2.0},
        "extract_spectra": {"backend": "heasoft", "wmap_binning": 90, "provenance": provenance},
        "make_arf": {
            "backend": "heasoft",
            "method": "pcarf",
            "psf_correction": False,
            "regions": regions,
            "provenance": provenance,
        },
        "group_spectrum": {
            "backend": "heasoft",
            "min_counts": 3,
            "energy_range_keV": None,
            "provenance": provenance,
        },
    }
    monkeypatch.setenv("RASSFLOW_RUNTIME", '{"tools.chatter": 2}')
    rmf = write_rmf(tmp_path / "caldb" / "pspcc_gain1_256.rmf")
    sources = [{"id_name": "S1", "seq": "RS930204N00", "ra": 150.0, "dec": 20.0, "paths": paths}]
    skyfields = {"RS930204N00": (events, expmap)}
    failures = make_batch_products(skyfields, rmf, tmp_path / "unused.spec_resp", sources, settings)
    assert failures == {"S1": None}, failures
    tasks = [call["task"] for call in fake_heasoftpy.calls if call["task"] != "fversion"]
    assert tasks == ["extractor", "extractor", "pcarf", "ftgrouppha"]
    assert all(
        call["params"]["chatter"] == 2
        for call in fake_heasoftpy.calls
        if call["task"] in ("extractor", "pcarf", "ftgrouppha")
    )
    for key, tool in (("spectrum", "extractor"), ("arf", "pcarf"), ("grouped", "ftgrouppha")):
        header = fits.getheader(paths[key])
        assert header["RFBACKND"] == "heasoft" and header["RFTOOL"].startswith(tool), key
    grouped = fits.getheader(paths["grouped"], "SPECTRUM")
    assert grouped["RESPFILE"] == os.path.relpath(rmf, tmp_path / "src")
    assert grouped["EXPOSURE"] == 400.0
