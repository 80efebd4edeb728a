"""What a batch job imports before any work: each Python process of the workflow pays it."""

from __future__ import annotations

import json
import subprocess
import sys

# the modules of the batch scripts (workflow/scripts/make_batch_products.py,
# fit_batch.py), of the per-source one (run_source_stages.py) and of the stages they run
PRODUCT_JOB = (
    "rassflow.batch",
    "rassflow.chain",
    "rassflow.products.regions",
    "rassflow.products.spectra",
    "rassflow.products.responses",
    "rassflow.products.grouping",
    "rassflow.products.contamination",
    "rassflow.archive.skyfield",
)
FIT_JOB = ("rassflow.batch", "rassflow.fitting.sherpa", "rassflow.products.grouping")
# the forced photometry job (workflow/scripts/measure_photometry.py) reads its members with
# pandas; it needs no plotting, statistics module or network client
PHOTOMETRY_JOB = ("rassflow.photometry.forced",)
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


def test_photometry_job_imports_no_plotting_statistics_or_network():
    loaded = loaded_after("\n".join(f"import {m}" for m in PHOTOMETRY_JOB))
    heavy = set(HEAVY) - {"pandas"}
    assert not loaded & heavy, sorted(loaded & heavy)


def test_fit_job_skips_matplotlib_and_scipy_stats():
    loaded = loaded_after("\n".join(f"import {m}" for m in FIT_JOB))
    assert "sherpa.fit" in loaded
    # Sherpa's objects without its UI session (and its plotting), no scipy.optimize
    unused = {"sherpa.astro.ui", "sherpa.plot", "scipy.optimize"}
    assert not loaded & (set(HEAVY) | unused), sorted(loaded & (set(HEAVY) | unused))


def test_scipy_optimize_still_works_after_the_fitter_import():
    """scipy.optimize, hidden while Sherpa is imported, is importable afterwards; loaded
    first, it is not hidden and Sherpa wraps its optimisers as usual."""
    later = loaded_after(
        "import rassflow.fitting.sherpa\n"
        "import scipy.optimize\n"
        "assert abs(scipy.optimize.minimize_scalar(lambda x: (x - 1) ** 2).x - 1) < 1e-6"
    )
    assert "scipy.optimize" in later
    first = loaded_after(
        "import scipy.optimize\n"
        "import rassflow.fitting.sherpa\n"
        "import sherpa.optmethods\n"
        "assert 'Scipy_Minimize' in sherpa.optmethods.__all__"
    )
    assert "sherpa.optmethods.optscipy" in first


def test_interval_threshold_is_the_chi_square_quantile_without_scipy_stats():
    """delta_stat_for_confidence (every fit job calls it) gives chi2.ppf(p, 1) and loads
    no scipy.stats."""
    from scipy.stats import chi2

    from rassflow.fitting.models import delta_stat_for_confidence

    for percent in (1.0, 50.0, 68.0, 68.27, 90.0, 95.0, 99.0, 99.9):
        assert abs(delta_stat_for_confidence(percent) / chi2.ppf(percent / 100, 1) - 1) < 1e-12
    loaded = loaded_after(
        "from rassflow.fitting.models import delta_stat_for_confidence\n"
        "delta_stat_for_confidence(90.0)"
    )
    assert "scipy.stats" not in loaded
