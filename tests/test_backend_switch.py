"""The backend switch in real Snakemake runs: resolved once at start, printed, stamped, and
the same file targets whichever tools make the products."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from astropy.io import fits

REPO = Path(__file__).resolve().parent.parent
FAKES = Path(__file__).parent / "fakes"
# one skyfield, batched: the cheapest complete run
SMALL = """\
results_dir: results
granularity: per_skyfield
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

pytestmark = pytest.mark.slow


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


def snakemake(workdir: Path, config: str, env: dict, *args, check=True):
    (workdir / "run.yaml").write_text(config)
    cmd = ["snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "run.yaml"), "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if check and proc.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def summary_outputs(proc) -> dict[str, str]:
    """Output file -> rule, from ``snakemake --summary``."""
    rows = [line.split("\t") for line in proc.stdout.splitlines()[1:] if "\t" in line]
    return {row[0]: row[2] for row in rows}


def per_source(products: str) -> str:
    return SMALL.replace("granularity: per_skyfield", "granularity: per_source") + (
        f"tools:\n  products: {products}\n"
    )


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    """A complete run with tools 'auto' where HEASoft is not initialised."""
    workdir = tmp_path_factory.mktemp("auto")
    proc = snakemake(workdir, SMALL, without_heasoft())
    return workdir, proc.stderr


def test_auto_without_heasoft_is_native_and_sherpa_everywhere(auto_run):
    workdir, log = auto_run
    results = workdir / "results"
    assert "rassflow tools: products native, fitter sherpa (" in log
    grouped = sorted(results.glob("sources/*/*-enALL-grp.fits"))
    assert grouped, "no grouped spectrum was made"
    for path in grouped:
        assert fits.getheader(path, "SPECTRUM")["RFBACKND"] == "native"
    (image,) = results.glob("skyfields/*/images/*-image.fits")
    assert fits.getheader(image)["RFBACKND"] == "native"
    for path in results.glob("sources/*/*-fit.json"):
        fit = json.loads(path.read_text())
        assert (fit["backend"], fit["fitter"]) == ("native", "sherpa"), path
    table = pd.read_csv(results / "results" / "rass-spectral-results.csv")
    assert set(table["backend"]) == {"native"} and set(table["fitter"]) == {"sherpa"}


def test_heasoft_and_native_plan_the_same_files(auto_run, tmp_path):
    """Per source, both backends plan the same targets, made by the same rules."""
    workdir, _ = auto_run  # its sample checkpoint has run, so every source's job is planned
    native = snakemake(workdir, per_source("native"), without_heasoft(), "--summary")
    heasoft = snakemake(workdir, per_source("heasoft"), with_fake_heasoft(tmp_path / "headas"),
                        "--summary")
    assert "rassflow tools: products heasoft, fitter xspec (" in heasoft.stderr
    assert "heasoft 6.99.1" in heasoft.stderr  # the stand-in's version, printed at start
    native_outputs, heasoft_outputs = summary_outputs(native), summary_outputs(heasoft)
    assert heasoft_outputs == native_outputs
    rules = set(native_outputs.values())
    assert {"make_images", "extract_spectra", "make_arf", "group_spectrum", "fit_spectrum"} <= rules
    assert sum(name.endswith("-fit.json") for name in native_outputs) == 3


def test_heasoft_asked_for_but_missing_fails_before_any_job(tmp_path):
    proc = snakemake(tmp_path, per_source("heasoft"), without_heasoft(), check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "WorkflowError" in output
    assert "products backend 'heasoft' needs HEASoft" in output
    assert "conda install -c https://heasarc.gsfc.nasa.gov/FTP/software/conda" in output
    assert "Job stats" not in output
    assert not (tmp_path / "results").exists()
