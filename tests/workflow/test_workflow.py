"""End to end: real Snakemake runs of the workflow on a small simulated survey."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.workflow.conftest import SMALL

pytestmark = pytest.mark.slow


def planned_rules(output: str) -> dict[str, int]:
    """Rule -> job count from the job-stats table of a dry run."""
    table = output.split("Job stats:", 1)[-1]
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)
        if m.group(1) != "total"
    }


def test_run_writes_table_figures_and_products(demo_run, run_workflow):
    results = demo_run / "results"
    table = pd.read_csv(results / "results" / "rass-spectral-results.csv")
    truth = pd.read_csv(results / "simulated" / "truth.csv")
    assert len(table) >= 4
    assert set(table["id_name"]).issubset({f"CARMENES-{n}" for n in range(1, 9)})
    assert (table["bbody_status"] == "ok").sum() >= 3
    assert len(truth) > 0
    for name in ("cutouts/cutouts.png", "skyfield-images.png", "parameter-histograms.png"):
        assert (results / "figures" / name).stat().st_size > 1000
    assert len(list((results / "figures" / "spectra").glob("*.png"))) == len(table)
    assert (results / "caldb" / "pspcc_gain1_256.rmf").exists()
    # per-source products carry the notebook's file names and reference the one RMF
    grouped = sorted(
        results.glob(
            "sources/*/*/rosat-pspc-seqidRS*-name*-ra*-dec*-radius0.0333deg-enALL-grp.fits"
        )
    )
    assert len(grouped) == len(table)
    from astropy.io import fits

    header = fits.getheader(grouped[0], "SPECTRUM")
    rmf = (grouped[0].parent / header["RESPFILE"]).resolve()
    assert rmf == (results / "caldb" / "pspcc_gain1_256.rmf").resolve()
    assert header["RFBACKND"] == "native"
    assert not list((results / "sources").rglob("*.rmf"))  # referenced, never copied


def test_second_run_does_nothing(demo_run, run_workflow):
    out = run_workflow(demo_run, None, "-n").stdout
    assert "Nothing to be done" in out


def test_fit_setting_change_reruns_only_fits_and_what_follows(demo_run, run_workflow):
    cfg = demo_run / "run.yaml"
    cfg.write_text(SMALL.replace("flux_samples: 30", "flux_samples: 40"))
    try:
        rules = planned_rules(run_workflow(demo_run, None, "-n").stdout)
    finally:
        cfg.write_text(SMALL)
    # the fits re-run (per source, or in the batches that hold them) and what reads them;
    # nothing upstream of the fits does
    assert {"fit_source", "fit_batch"} & set(rules)
    assert {"make_results_table", "plot_spectra", "all"} <= set(rules)
    upstream = {
        "simulate_survey",
        "match_sample",
        "prepare_skyfield",
        "make_images",
        "make_source_products",
        "make_batch_products",
    }
    assert not upstream & set(rules), sorted(upstream & set(rules))


def test_html_report(demo_run, run_workflow):
    run_workflow(demo_run, None, "--report", demo_run / "report.html")
    assert (demo_run / "report.html").stat().st_size > 10000


def test_lint_has_no_findings(demo_run, run_workflow):
    out = run_workflow(demo_run, None, "--lint", check=False).stdout
    assert "Lints for" not in out, out


def file_digests(root):
    """{relative path: sha256} of every file under ``root`` (Snakemake's markers left out)."""
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and p.name != ".snakemake_timestamp"
    }


def test_per_skyfield_batches_give_the_same_results(demo_run, run_workflow):
    """granularity: per_skyfield makes the same files, byte for byte, with fewer jobs."""
    batched = demo_run / "batched"
    batched.mkdir(exist_ok=True)
    config = SMALL.replace("results_dir: results", f"results_dir: {demo_run / 'batched'}")
    out = run_workflow(batched, config + "granularity: per_skyfield\n").stdout
    assert "make_batch_products" in out and "fit_source" not in out
    for table in ("results/rass-spectral-results.csv", "results/rass-photometry.csv"):
        assert (batched / table).read_bytes() == (demo_run / "results" / table).read_bytes()
    for products in ("sources", "fits"):
        default = file_digests(demo_run / "results" / products)
        per_skyfield = file_digests(batched / products)
        assert default and default == per_skyfield, products
