"""The small simulated-survey run that the workflow tests share (one Snakemake run)."""

from __future__ import annotations

import pytest

SMALL = """\
results_dir: results
sample: {source: simulated}
crossmatch: {source: simulated}
archive: {source: simulated}
simulation:
  seed: 7
  n_skyfields: 3
  n_stars: 8
  xray_fraction: 0.75
  n_unrelated_per_field: 1
images:
  binnings: [180, 270]
fit:
  flux_samples: 30
"""
"""The small simulated survey of the workflow tests: 3 skyfields, 8 stars."""


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, run_workflow):
    """A finished run of the workflow on SMALL; tests may add runs beside it, not change it."""
    workdir = tmp_path_factory.mktemp("workflow")
    run_workflow(workdir, SMALL)
    return workdir
