"""What a batch job imports before any work: each Python process of the workflow pays it."""

from __future__ import annotations

import json
import subprocess
import sys

# the modules of the batch scripts (workflow/scripts/make_skyfield_products.py,
# fit_skyfield.py), of the per-source one (run_source_stages.py: the products job also
# measures photometry) and of the stages they run
PRODUCT_JOB = (
    "rassflow.batch",
    "rassflow.chain",
    "rassflow.photometry.aperture",
    "rassflow.products.regions",
    "rassflow.products.spectra",
    "rassflow.products.responses",
    "rassflow.products.grouping",
    "rassflow.products.contamination",
    "rassflow.archive.skyfield",
)
FIT_JOB = (
    "rassflow.batch",
    "rassflow.fitting.sherpa",
    "rassflow.photometry.aperture",
    "rassflow.products.grouping",
)
HEAVY = ("matplotlib", "scipy.stats", "pandas", "astroquery", "pyvo", "requests")


def loaded_after(statements: str) -> set[str]:
    """The modules loaded in a fresh interpreter after ``statements``."""
    code = f"import json, sys\n{statements}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_product_job_imports_no_plotting_statistics_tables_or_network():
    loaded = loaded_after("\n".join(f"import {m}" for m in PRODUCT_JOB))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_fit_job_skips_matplotlib_and_scipy_stats():
    loaded = loaded_after("\n".join(f"import {m}" for m in FIT_JOB))
    assert "sherpa.astro.ui.utils" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_sherpa_plotting_still_works_after_the_fitter_import():
    """The skipped plot backends are importable afterwards, and with matplotlib loaded
    first the fitter import skips nothing."""
    later = loaded_after(
        "import rassflow.fitting.sherpa\n"
        "import sherpa.plot, sherpa.plot.pylab_backend\n"
        "sherpa.plot.set_backend('pylab')\n"
        "assert type(sherpa.plot.backend).__name__ == 'PylabBackend', sherpa.plot.backend"
    )
    assert "matplotlib" in later
    first = loaded_after("import matplotlib\nimport rassflow.fitting.sherpa")
    assert "sherpa.plot.pylab_backend" in first
