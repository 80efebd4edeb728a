"""Injection and recovery: the analysis chain on a simulated survey recovers the truth.

The simulated sky has the survey PSF (about 65 % of a source inside 2'), a soft diffuse
background and catalogued neighbours in some annuli, so the fluxes come out right only if
the aperture correction and the exclusions are right. The chain runs in-process (the same
functions the workflow's jobs call, rassflow.batch) so that enough sources for a coverage
test fit in a CI budget. One variant folds the sources through the real PSPC-C response
while the analysis uses the mini CALDB, so that a response error would show.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.recovery import SHAPE, SURVEY, covers, fitted, flux_ratios, recover


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
    return recover(tmp_path_factory.mktemp("recovery"), SURVEY)


@pytest.fixture(scope="module")
def recovered_real_response(tmp_path_factory, reference_dir):
    survey = {
        **SURVEY,
        "seed": 77,
        "n_skyfields": 10,
        "n_stars": 40,
        "response_file": str(reference_dir / "pspcc_gain1_256.rsp"),
    }
    return recover(tmp_path_factory.mktemp("recovery-rsp"), survey)


def test_enough_sources_fitted(recovered):
    assert len(recovered) >= 55
    assert len(fitted(recovered)) >= 50


def isolated(rows):
    """Sources without a catalogued neighbour near enough to reach their annulus."""
    return [r for r in rows if r["neighbours"] == 0]


def shape_coverage(rows) -> list[bool]:
    covered = []
    for row in fitted(rows):
        model = row["truth"]["model"]
        name = SHAPE[model]
        covered.append(covers(row["fit"]["models"][model]["parameters"][name], row["truth"][name]))
    return covered


def test_ninety_percent_intervals_cover_the_truth(recovered):
    covered = shape_coverage(isolated(recovered))
    assert len(covered) >= 35
    fraction = float(np.mean(covered))
    assert 0.80 <= fraction <= 0.97, f"coverage {fraction:.2f} over {len(covered)} sources"


def test_bright_sources_give_the_whole_flux(recovered):
    """The aperture-corrected fluxes of bright isolated sources are unbiased (without the
    survey-PSF correction they would be ~0.5 of the truth)."""
    ratios = flux_ratios(isolated(recovered))
    assert len(ratios) >= 15
    median = float(np.median([r for r, _ in ratios]))
    assert 0.93 <= median <= 1.07, f"median fitted/true flux {median:.3f} over {len(ratios)}"


def test_shapes_of_sources_with_a_neighbour_are_the_targets(recovered):
    """With the neighbours' wings fitted as fixed counts, the kT / Gamma intervals of
    sources with a catalogued neighbour cover the target's own truth (fitted as the blend,
    ~55 % did on the coverage benchmark; 86-91 % do now: README)."""
    covered = shape_coverage([r for r in recovered if r["neighbours"] > 0])
    assert len(covered) >= 10
    fraction = float(np.mean(covered))
    assert fraction >= 0.7, f"coverage {fraction:.2f} over {len(covered)} sources"


def test_neighbours_in_the_annulus_are_cut_out(recovered):
    """Sources with a neighbour keep a usable background: fitted, and no flux lost to a
    neighbour subtracted as background nor gained from its wing inside the circle."""
    with_neighbour = [r for r in recovered if r["neighbours"] > 0]
    assert len(with_neighbour) >= 5
    assert len(fitted(with_neighbour)) >= len(with_neighbour) - 1
    ratios = [r for r, near in flux_ratios(recovered) if near]
    assert ratios and 0.93 <= float(np.median(ratios)) <= 1.07, ratios


def test_a_real_response_folded_in_is_recovered_with_the_mini_caldb(recovered_real_response):
    ratios = flux_ratios(recovered_real_response)
    assert len(ratios) >= 8
    median = float(np.median([r for r, _ in ratios]))
    assert 0.85 <= median <= 1.15, f"median fitted/true flux {median:.3f} over {len(ratios)}"


@pytest.fixture(scope="module")
def recovered_gof_sky(tmp_path_factory):
    """A sky drawn with the ROSAT GOF FAQ's PSF description, analysed with the defaults:
    the survey PSF calibrated on the sky's own sources. Returns (rows, calibration)."""
    import json

    workdir = tmp_path_factory.mktemp("recovery-gof")
    survey = {**SURVEY, "seed": 4711, "psf_model": "gof_faq"}
    rows = recover(workdir, survey)
    return rows, json.loads((workdir / "psf-calibration.json").read_text())


def test_a_sky_of_the_other_psf_description_is_calibrated_and_recovered(recovered_gof_sky):
    """The GOF FAQ's PSF keeps ~0.74 of a source in the 2' circle where PSFOFF keeps ~0.64,
    so with PSFOFF taken on trust bright fluxes came out ~1.13 x the truth. The stacked
    sources find the GOF FAQ's description (weight near 1), the aperture correction uses
    it, and the fluxes and their intervals hold the truth."""
    rows, calibration = recovered_gof_sky
    assert calibration["sources"] >= 20
    assert calibration["weight"] > 0.8 and calibration["high"] > 0.9
    ratios = [r for r, _ in flux_ratios(rows, band="0.1-2.4keV")]
    assert len(ratios) >= 15
    assert 0.95 <= float(np.median(ratios)) <= 1.05, np.median(ratios)
    ok = fitted(rows)
    hits = [
        covers(
            r["fit"]["models"][r["truth"]["model"]]["fluxes"]["0.1-2.4keV"],
            r["truth"]["flux_0.1-2.4keV"],
        )
        for r in ok
    ]
    assert len(hits) >= 50
    # the benchmark's 319 sources: 0.93
    assert float(np.mean(hits)) >= 0.8, f"{np.mean(hits):.2f} of {len(hits)}"
    psf = ok[0]["fit"]["systematics"]
    assert psf["psf_model"] == "calibrated" and psf["background_arcmin"] == [4.0, 8.0]
