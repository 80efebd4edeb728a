"""Benchmark: injection and recovery on a simulated survey of a few hundred sources.

The simulated sky has the survey PSF, a soft diffuse background and catalogued neighbours
near some targets; every target is analysed in-process with the workflow's own functions
(rassflow.batch, as tests/fitting/test_recovery.py) and fitted with its injected model at
90 % confidence. Prints, and writes as JSON, the fraction of 90 % intervals that contain the
truth (kT, Gamma, the 0.5-2 and 0.1-2.4 keV fluxes) and the median fitted/true flux of
sources with more than 100 counts, with and without a neighbour. A bound that was not found
never counts as covering.

    python benchmarks/recovery_coverage.py [--skyfields 60] [--stars 330] [--json out.json]
        [--rows rows.json]
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


def binomial_interval(k: int, n: int) -> str:
    """k/n with its 1-sigma binomial error, as text."""
    p = k / n if n else float("nan")
    return f"{p:.3f} +- {np.sqrt(p * (1 - p) / n) if n else float('nan'):.3f} ({k}/{n})"


def summarise(rows) -> dict:
    ok = fitted(rows)
    out = {"sources": len(rows), "fitted": len(ok)}
    for model, name in SHAPE.items():
        hits = [
            covers(r["fit"]["models"][model]["parameters"][name], r["truth"][name])
            for r in ok
            if r["truth"]["model"] == model
        ]
        out[f"coverage_{name}"] = [int(sum(hits)), len(hits)]
    for band in BANDS:
        hits = [
            covers(
                r["fit"]["models"][r["truth"]["model"]]["fluxes"][band], r["truth"][f"flux_{band}"]
            )
            for r in ok
        ]
        out[f"coverage_flux_{band}"] = [int(sum(hits)), len(hits)]
        for label, near in (("isolated", False), ("with_neighbour", True)):
            ratios = [
                r["fit"]["models"][r["truth"]["model"]]["fluxes"][band]["value"]
                / r["truth"][f"flux_{band}"]
                for r in ok
                if r["fit"]["counts"]["source"] > 100 and (r["neighbours"] > 0) == near
            ]
            out[f"median_flux_ratio_{band}_{label}"] = (
                [float(np.median(ratios)), len(ratios)] if ratios else [None, 0]
            )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skyfields", type=int, default=60)
    parser.add_argument("--stars", type=int, default=330)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--neighbour-fraction", type=float, default=0.3)
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
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        rows = recover(workdir, survey)
        elapsed = time.perf_counter() - start
    summary = {"survey": survey, "wall_s": round(elapsed, 1), **summarise(rows)}
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
