"""Faults in real Snakemake runs: bad archive files, zero exposure, SIGKILL and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from rassflow.runner import run_command, snakemake_command

CONFIG = """\
results_dir: results
sample: {source: simulated}
crossmatch: {source: simulated}
archive: {source: simulated}
simulation:
  seed: 31
  n_skyfields: 3
  n_stars: 9
  xray_fraction: 1.0
  n_unrelated_per_field: 0
fit:
  flux_samples: 30
"""
TABLE = "results/results/rass-spectral-results.csv"
GRANULARITIES = ("auto", "per_source", "per_skyfield")

pytestmark = pytest.mark.slow


def command(workdir, *args):
    return snakemake_command(workdir, [workdir / "config.yaml"], *args)


def run(workdir, *args, check=True):
    proc = run_command(command(workdir, *args))
    if check and proc.returncode:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-8000:]}")
    return proc


def workdir_with_config(tmp_path_factory, name):
    workdir = tmp_path_factory.mktemp(name)
    (workdir / "config.yaml").write_text(CONFIG)
    return workdir


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run from scratch."""
    workdir = workdir_with_config(tmp_path_factory, "reference")
    run(workdir)
    return workdir


def break_skyfields(workdir):
    """Truncate one skyfield's event file and zero another's exposure map, in the simulated
    archive of a run that has matched its sample; return (sample, truncated, zero_exposure)."""
    run(workdir, "--until", "match_sample")
    sample = pd.read_csv(workdir / "results" / "sample" / "sample.csv")
    seqs = sorted(sample["seq_id"].unique())
    assert len(seqs) >= 3
    archive = workdir / "results" / "simulated" / "archive"
    truncated, zero_exposure = seqs[0], seqs[1]
    events = archive / truncated.lower() / f"{truncated.lower()}_bas.fits.Z"
    events.write_bytes(events.read_bytes()[: events.stat().st_size // 3])
    with fits.open(
        archive / zero_exposure.lower() / f"{zero_exposure.lower()}_mex.fits", mode="update"
    ) as hdul:
        hdul[0].data[:] = 0.0
    return sample, truncated, zero_exposure


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory):
    """The same faulty survey analysed in each granularity; a few sources have too few
    counts for a fit (min_counts 12)."""
    runs = {}
    for granularity in GRANULARITIES:
        workdir = tmp_path_factory.mktemp(f"faults-{granularity}")
        (workdir / "config.yaml").write_text(
            CONFIG + f"granularity: {granularity}\ngrouping: {{min_counts: 12}}\n"
        )
        sample, truncated, zero_exposure = break_skyfields(workdir)
        proc = run(workdir)  # finishes: bad data are reported, not fatal
        runs[granularity] = (workdir, sample, truncated, zero_exposure, proc)
    return runs


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_bad_skyfield_files_are_reported_per_source_and_the_rest_is_fitted(fault_runs, granularity):
    workdir, sample, truncated, zero_exposure, proc = fault_runs[granularity]
    table = pd.read_csv(workdir / TABLE).set_index("id_name")
    assert set(table.index) == set(sample["id_name"])
    for _, source in sample.iterrows():
        row = table.loc[source["id_name"]]
        if source["seq_id"] == truncated:
            assert row["bbody_status"] == "failed"
            assert truncated in row["bbody_reason"] or truncated.lower() in row["bbody_reason"]
        elif source["seq_id"] == zero_exposure:
            assert row["bbody_status"] == "failed"
            assert "not positive" in row["bbody_reason"]
            assert source["id_name"] in row["bbody_reason"]
        else:
            assert row["bbody_status"] in ("ok", "not_fitted")
    assert (table["bbody_status"] == "ok").sum() >= 1
    assert (table["bbody_status"] == "not_fitted").sum() >= 1, "no source with too few groups"
    # nothing was written with a zero EXPOSURE
    for spectrum in (workdir / "results" / "sources").rglob("*-enALL-spectrum.fits"):
        header = fits.getheader(spectrum, 0)
        assert header.get("RFSTATUS") == "FAILED" or header["EXPOSURE"] > 0
    assert "Exiting because a job execution failed" not in proc.stdout


def test_faults_give_the_same_table_in_every_granularity(fault_runs):
    """Failed and not-fitted rows included, byte for byte; and every product the same."""
    tables = [(fault_runs[g][0] / TABLE).read_bytes() for g in GRANULARITIES]
    assert tables[0] == tables[1] == tables[2]
    for products in ("sources", "fits"):
        digests = []
        for granularity in GRANULARITIES:
            root = fault_runs[granularity][0] / "results" / products
            digests.append({
                str(p.relative_to(root)): p.read_bytes()
                for p in root.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp"
            })  # fmt: skip
        assert digests[0] and digests[0] == digests[1] == digests[2], products


def kill_when(workdir, pattern, timeout=600):
    """Start a run and SIGKILL its whole process group once ``pattern`` files appear."""
    proc = subprocess.Popen(
        command(workdir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if list((workdir / "results").glob(pattern)):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
                return True
            time.sleep(0.05)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def test_sigkill_and_restart_give_the_same_table(tmp_path_factory, reference):
    workdir = workdir_with_config(tmp_path_factory, "killed")
    kills = 0
    for pattern in (
        "sources/*/*/*-enALL-spectrum.fits",
        "fits/*/*-fit.json",
        "logs/make_results_table.log",
    ):
        kills += kill_when(workdir, pattern)
        run(workdir, "--unlock")
    assert kills >= 2, "the run finished before it could be killed"
    run(workdir)
    # both runs started from scratch: same table byte for byte (determinism), and the same
    # FITS table values
    assert (workdir / TABLE).read_bytes() == (reference / TABLE).read_bytes()
    table_fits = "results/results/rass-spectral-results.fits"
    resumed, uninterrupted = (
        fits.getdata(workdir / table_fits),
        fits.getdata(reference / table_fits),
    )
    for name in uninterrupted.names:
        a, b = np.asarray(resumed[name]), np.asarray(uninterrupted[name])
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
    # every product under its final name is complete
    for product in (workdir / "results" / "sources").rglob("*.fits"):
        with fits.open(product, checksum=True) as hdul:
            for hdu in hdul:
                _ = hdu.data
