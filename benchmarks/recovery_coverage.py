"""Benchmark: injection and recovery on a simulated survey of a few hundred sources.

The simulated sky has the survey PSF, a soft diffuse background and catalogued neighbours
near some targets; every target is analysed in-process with the workflow's own functions
(rassflow.batch, as tests/fitting/test_recovery.py) and fitted with its injected model at
90 % confidence. Prints, and writes as JSON, the fraction of 90 % intervals that contain the
truth (kT, Gamma, the 0.5-2 and 0.1-2.4 keV fluxes) and the median fitted/true flux of
sources with more than 100 counts, with and without a neighbour. A bound that was not found
never counts as covering.

    python benchmarks/recovery_coverage.py [--skyfields 60] [--stars 330] [--json out.json]
        [--rows rows.json] [--psf-model psfoff|gof_faq] [--regions notebook]
        [--analysis-psf calibrated|psfoff|gof_faq]

``--psf-model`` chooses the PSF description that draws the sky; ``--analysis-psf`` the
survey PSF of the analysis (default: calibrated on the sky's own bright isolated sources,
as the workflow does; its weight is printed); ``--regions notebook`` analyses with the
notebook's 2.1'-3' annulus instead of the default background region.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.recovery import SHAPE, SURVEY, covers, fitted, recover  # noqa: E402

BANDS = ("0.5-2.0keV", "0.1-2.4keV")
# the notebook's background annulus, 1.05-1.5 x the 2' circle
NOTEBOOK_REGIONS = {"background_inner_factor": 1.05, "background_outer_factor": 1.5}


def binomial_interval(k: int, n: int) -> str:
    """k/n with its 1-sigma binomial error, as text."""
    p = k / n if n else float("nan")
    return f"{p:.3f} +- {np.sqrt(p * (1 - p) / n) if n else float('nan'):.3f} ({k}/{n})"


def _groups(rows):
    return (
        ("all", rows),
        ("isolated", [r for r in rows if r["neighbours"] == 0]),
        ("with_neighbour", [r for r in rows if r["neighbours"] > 0]),
    )


def summarise(rows) -> dict:
    """Coverage of kT, Gamma and both fluxes for all targets, isolated ones and those with a
    neighbour; median fitted/true fluxes and blackbody kT above 100 counts."""
    ok = fitted(rows)
    out = {"sources": len(rows), "fitted": len(ok)}
    for label, group in _groups(ok):
        suffix = "" if label == "all" else f"_{label}"
        for model, name in SHAPE.items():
            hits = [
                covers(r["fit"]["models"][model]["parameters"][name], r["truth"][name])
                for r in group
                if r["truth"]["model"] == model
            ]
            out[f"coverage_{name}{suffix}"] = [int(sum(hits)), len(hits)]
        for band in BANDS:
            hits = [
                covers(
                    r["fit"]["models"][r["truth"]["model"]]["fluxes"][band],
                    r["truth"][f"flux_{band}"],
                )
                for r in group
            ]
            out[f"coverage_flux_{band}{suffix}"] = [int(sum(hits)), len(hits)]
    for label, group in _groups(ok)[1:]:
        bright = [r for r in group if r["fit"]["counts"]["source"] > 100]
        for band in BANDS:
            ratios = [
                r["fit"]["models"][r["truth"]["model"]]["fluxes"][band]["value"]
                / r["truth"][f"flux_{band}"]
                for r in bright
            ]
            out[f"median_flux_ratio_{band}_{label}"] = (
                [float(np.median(ratios)), len(ratios)] if ratios else [None, 0]
            )
        kt = [
            r["fit"]["models"]["bbody"]["parameters"]["kT"]["value"] / r["truth"]["kT"]
            for r in bright
            if r["truth"]["model"] == "bbody"
        ]
        out[f"median_kT_ratio_bbody_{label}"] = [float(np.median(kt)), len(kt)] if kt else [None, 0]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skyfields", type=int, default=60)
    parser.add_argument("--stars", type=int, default=330)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--neighbour-fraction", type=float, default=0.3)
    parser.add_argument("--psf-model", choices=("psfoff", "gof_faq"), default="psfoff")
    parser.add_argument("--regions", choices=("default", "notebook"), default="default")
    parser.add_argument(
        "--analysis-psf", choices=("calibrated", "psfoff", "gof_faq"), default="calibrated"
    )
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--rows", type=Path, help="write every source's truth and fit (JSON)")
    args = parser.parse_args(argv)
    survey = {
        **SURVEY,
        "seed": args.seed,
        "n_skyfields": args.skyfields,
        "n_stars": args.stars,
        "neighbour_fraction": args.neighbour_fraction,
        "psf_model": args.psf_model,
    }
    analysis = {"regions": NOTEBOOK_REGIONS} if args.regions == "notebook" else {}
    analysis["responses"] = {"psf": args.analysis_psf}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        rows = recover(workdir, survey, analysis)
        elapsed = time.perf_counter() - start
        calibration = workdir / "psf-calibration.json"
        psf = json.loads(calibration.read_text()) if calibration.exists() else None
    summary = {
        "survey": survey,
        "analysis": analysis,
        "wall_s": round(elapsed, 1),
        "psf_calibration": psf and {k: psf[k] for k in ("weight", "low", "high", "sources")},
        **summarise(rows),
    }
    for key, value in summary.items():
        if key.startswith("coverage_"):
            print(f"{key:40s} {binomial_interval(*value)}")
        elif key.startswith("median_"):
            median, n = value
            print(f"{key:40s} {'-' if median is None else f'{median:.3f}'} ({n} sources)")
        else:
            print(f"{key:40s} {value}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    if args.rows:
        dumped = [{**row, "truth": dict(row["truth"])} for row in rows]
        args.rows.write_text(json.dumps(dumped, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
