"""The survey PSF calibrated on stacked sources (rassflow.calibration.psf_stack).

The photons are scattered by the Monte-Carlo scan simulation (rassflow.simulate.scan_psf:
each photon its own off-axis angle, PSF component and jitter), not by the tabulated survey
EEF the fit uses, so the tests check that the stack tells the descriptions apart on photons
drawn the way the sky draws them.
"""

from __future__ import annotations

import numpy as np
import pytest

from rassflow.calibration import psf
from rassflow.calibration.psf_stack import (
    CONFIDENCE,
    fit_weight,
    stack_counts,
)
from rassflow.simulate.scan_psf import sample_offsets
from tests.support.events import synthetic_events

PIXEL_ARCSEC = 0.5
RADIUS_ARCMIN = 8.0


def stacked_sky(rng, draw, n_sources=30, counts=400, background_per_arcmin2=0.3):
    """An event list of ``n_sources`` sources on a grid 20' apart, each ``counts`` photons
    whose offsets ``draw(rng, energy)`` gives (arcsec), over a flat background; and the
    centres in sky pixels."""
    spacing = 20.0 * 60.0 / PIXEL_ARCSEC
    centres = np.array(
        [(5000.0 + spacing * (k % 6), 5000.0 + spacing * (k // 6)) for k in range(n_sources)]
    )
    xs, ys, pis = [], [], []
    for cx, cy in centres:
        energy = rng.uniform(0.15, 2.2, counts)
        dx, dy = draw(rng, energy)
        xs.append(np.round(cx + dx / PIXEL_ARCSEC))
        ys.append(np.round(cy + dy / PIXEL_ARCSEC))
        pis.append(np.round(energy / 0.0099))
        area = np.pi * RADIUS_ARCMIN**2
        n_bkg = rng.poisson(background_per_arcmin2 * area)
        r = RADIUS_ARCMIN * 60.0 / PIXEL_ARCSEC * np.sqrt(rng.random(n_bkg))
        phi = rng.uniform(0, 2 * np.pi, n_bkg)
        xs.append(np.round(cx + r * np.cos(phi)))
        ys.append(np.round(cy + r * np.sin(phi)))
        pis.append(rng.integers(11, 236, n_bkg))
    events = synthetic_events(np.concatenate(xs), np.concatenate(ys), np.concatenate(pis))
    return events, centres


def drawn_with(model):
    return lambda rng, energy: sample_offsets(rng, energy, model=model)


def half_and_half(rng, energy):
    """Each photon from PSFOFF or the GOF FAQ's description with equal odds: the mixture."""
    dx, dy = sample_offsets(rng, energy, model="psfoff")
    gx, gy = sample_offsets(rng, energy, model="gof_faq")
    pick = rng.random(energy.size) < 0.5
    return np.where(pick, gx, dx), np.where(pick, gy, dy)


@pytest.mark.parametrize(
    ("draw", "truth"),
    [(drawn_with("psfoff"), 0.0), (drawn_with("gof_faq"), 1.0), (half_and_half, 0.5)],
    ids=["psfoff", "gof_faq", "mixture"],
)
def test_the_stack_finds_the_description_that_drew_the_sky(draw, truth):
    rng = np.random.default_rng(7)
    events, centres = stacked_sky(rng, draw)
    counts = stack_counts(events, centres, RADIUS_ARCMIN)
    result = fit_weight(counts, RADIUS_ARCMIN)
    assert result["sources"] == 30
    assert result["counts"] == int(counts.sum())
    assert result["low"] <= result["weight"] <= result["high"]
    # 12,000 source photons: the weight to a few hundredths, the interval holding the truth
    # (or within 0.02 of it at an end of [0, 1], where a central interval cannot reach)
    assert abs(result["weight"] - truth) < 0.12
    assert result["high"] - result["low"] < 0.25
    assert result["low"] - 0.02 <= truth <= result["high"] + 0.02


def test_no_calibrators_leave_the_weight_open():
    """Without sources the posterior is the flat prior: weight 0.5, the central interval."""
    result = fit_weight(np.zeros((0, 5, 24)), RADIUS_ARCMIN)
    assert result["sources"] == 0
    assert result["weight"] == pytest.approx(0.5)
    tail = 0.5 * (1 - CONFIDENCE)
    assert result["low"] == pytest.approx(tail, abs=1e-6)
    assert result["high"] == pytest.approx(1 - tail, abs=1e-6)


def test_stack_counts_bins_events_by_radius_and_pi_group():
    """Every event inside the radius lands in one (group, radial bin) cell, none outside."""
    rng = np.random.default_rng(3)
    events, centres = stacked_sky(rng, drawn_with("psfoff"), n_sources=2, counts=300)
    counts = stack_counts(events, centres, RADIUS_ARCMIN)
    reach = RADIUS_ARCMIN * 60.0 / PIXEL_ARCSEC
    for k, (cx, cy) in enumerate(centres):
        r = np.hypot(events.x - cx, events.y - cy)
        in_band = (events.pi >= 11) & (events.pi <= 235)
        assert counts[k].sum() == np.count_nonzero((r < reach) & in_band)


def test_mixture_encircled_fractions_mix_the_descriptions():
    energy, radius = np.array([0.3, 1.0, 2.0]), np.array([0.5, 2.0, 6.0])
    psfoff = psf.survey_eef(energy, radius, model="psfoff")
    gof = psf.survey_eef(energy, radius, model="gof_faq")
    assert np.allclose(psf.survey_eef(energy, radius, model=0.3), 0.7 * psfoff + 0.3 * gof)
    assert np.array_equal(psf.survey_eef(energy, radius, model=0.0), psfoff)
    assert np.array_equal(psf.survey_eef(energy, radius, model=1.0), gof)
    with pytest.raises(ValueError, match="weight"):
        psf.survey_eef(energy, radius, model=1.2)


def test_the_systematic_spans_the_calibrations_interval():
    """psf_systematic: the kept fraction at the weight used over those at the interval's
    ends; uncalibrated, PSFOFF over the GOF FAQ's, as the two descriptions' spread."""
    from rassflow.products.responses import psf_kept_fraction, psf_systematic

    args = (2.0, 4.0, 8.0, 0.0625)
    fixed = psf_systematic(*args)
    assert fixed == psf_systematic(*args, psf=psf.FIXED_PSF["psfoff"])
    energy = np.geomspace(0.1, 2.4, 41)
    ratio = psf_kept_fraction(energy, *args) / psf_kept_fraction(energy, *args, model="gof_faq")
    assert fixed == pytest.approx((ratio.min(), ratio.max()))
    calibrated = {"description": "calibrated", "weight": 0.9, "low": 0.85, "high": 0.95}
    low, high = psf_systematic(*args, psf=calibrated)
    assert low < 1.0 < high  # the ends lie either side of the weight
    assert high - low < 0.2 * (1.0 - fixed[0])  # a tenth of the weights: a fifth or less


def test_pi_groups_that_disagree_widen_the_interval():
    """A sky whose PSF is PSFOFF below 0.9 keV and the GOF FAQ's above is no mixture: the
    PI groups' weights disagree, and the interval is widened by their scale factor so that
    it spans most of the two."""

    def split(rng, energy):
        dx, dy = sample_offsets(rng, energy, model="psfoff")
        gx, gy = sample_offsets(rng, energy, model="gof_faq")
        hard = energy > 0.9
        return np.where(hard, gx, dx), np.where(hard, gy, dy)

    rng = np.random.default_rng(9)
    events, centres = stacked_sky(rng, split)
    result = fit_weight(stack_counts(events, centres, RADIUS_ARCMIN), RADIUS_ARCMIN)
    weights = [w for w, _ in result["group_weights"].values()]
    assert min(weights) < 0.2 and max(weights) > 0.8
    assert result["scale_factor"] > 3
    assert result["high"] - result["low"] > 0.5
    # one description everywhere: the groups agree
    events, centres = stacked_sky(np.random.default_rng(9), drawn_with("gof_faq"))
    agreed = fit_weight(stack_counts(events, centres, RADIUS_ARCMIN), RADIUS_ARCMIN)
    assert agreed["scale_factor"] < 2


def test_a_skyfield_that_cannot_be_read_is_left_out_of_the_stack(tmp_path):
    """One bad event file must not stop the calibration every product depends on."""
    from rassflow.calibration.psf_stack import calibrate
    from rassflow.status import write_marker

    garbage = tmp_path / "RS930001N00_bas.fits"
    garbage.write_bytes(b"not a FITS file")
    marker = tmp_path / "RS930002N00_bas.fits"
    write_marker(marker, "prepare_skyfield: truncated", "RS930002N00")
    result = calibrate(
        {"RS930001N00": garbage, "RS930002N00": marker},
        {"RS930001N00": [("a", 10.0, 10.0)], "RS930002N00": [("b", 20.0, 20.0)]},
        RADIUS_ARCMIN,
        {},
    )
    assert result["skyfields_left_out"] == ["RS930001N00", "RS930002N00"]
    assert result["sources"] == 0 and result["calibrators"] == []
