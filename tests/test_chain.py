"""rassflow.chain: the stages of one source, what each reads and writes, and how a failure
passes from stage to stage as markers."""

from __future__ import annotations

import pytest

from rassflow.chain import (
    FIT_ONLY_STAGES,
    SOURCE_JOB_OUTPUTS,
    SOURCE_JOB_STAGES,
    STAGE_OUTPUTS,
    STAGES,
    Skyfield,
    Source,
    run,
    stage_settings,
    stages_for,
)
from rassflow.config import validate
from rassflow.plan import Layout
from rassflow.status import marker_reason


def test_a_source_without_a_fit_skips_grouping_and_fitting_only():
    assert stages_for(STAGES, True) == STAGES
    assert stages_for(STAGES, False) == tuple(s for s in STAGES if s not in FIT_ONLY_STAGES)


def test_the_two_per_source_jobs_run_every_stage_once_and_declare_its_outputs():
    ran = [stage for stages in SOURCE_JOB_STAGES.values() for stage in stages]
    assert sorted(ran) == sorted(STAGES)
    for job, stages in SOURCE_JOB_STAGES.items():
        assert SOURCE_JOB_OUTPUTS[job] == tuple(k for s in stages for k in STAGE_OUTPUTS[s])
    # every output is a per-source path the plan names
    assert {k for keys in STAGE_OUTPUTS.values() for k in keys} == set(Layout("r").product)


def test_stage_settings_hash_only_what_a_stage_depends_on():
    base = validate({"tools": {"products": "native", "fitter": "sherpa"}})
    changed = validate(
        {"tools": {"products": "native", "fitter": "sherpa"}, "fit": {"flux_samples": 70}}
    )
    a, b = stage_settings(base), stage_settings(changed)
    for stage in ("extract_spectra", "make_arf"):
        assert a[stage]["provenance"] == b[stage]["provenance"], stage
    assert a["fit_spectrum"] != b["fit_spectrum"]


@pytest.mark.parametrize("missing", ["events"])
def test_a_failed_stage_leaves_markers_that_later_stages_pass_on(tmp_path, missing):
    paths = Layout(str(tmp_path)).source_paths(
        {"seq": "RS930001N00", "src": "S1", "ra": "150.00000", "dec": "20.00000", "rad": "0.0333"}
    )
    settings = stage_settings(validate({"tools": {"products": "native", "fitter": "sherpa"}}))
    source = Source("S1", 150.0, 20.0, paths)
    skyfield = Skyfield(tmp_path / "absent_bas.fits", tmp_path / "absent_mex.fits")
    reason = run("make_regions", skyfield, source, settings["make_regions"])
    assert reason.startswith("make_regions") and "absent_bas.fits" in reason
    recorded = [marker_reason(paths[key]) for key in STAGE_OUTPUTS["make_regions"]]
    assert all(text and text.startswith("make_regions") for text in recorded), recorded
    # the next stage does not run: it passes the recorded reason on to its own outputs
    passed = run("extract_spectra", skyfield, source, settings["extract_spectra"])
    assert passed == marker_reason(paths["src_phys"])
    # FITS markers keep the reason as far as a header card holds it
    assert passed.startswith(marker_reason(paths["background"])[:60])
