"""Benchmark: how long Snakemake takes to plan the workflow for large samples.

For synthetic matched samples of 1,000, 10,000 and 135,000 sources spread over the 1,378
RASS skyfields, writes the sample checkpoint's table directly (no event data needed) and
times `snakemake -n` of the whole workflow, printing the number of jobs and the seconds.

    python benchmarks/scale_dry_run.py [--sizes 1000 10000 135000] [--timeout 1200]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rassflow.catalog.crossmatch import seq_id
from rassflow.catalog.sample import natural_key
from rassflow.runner import run_command

REPO = Path(__file__).resolve().parent.parent
RASS_SKYFIELDS = 1378
FIRST_SKYFIELD = 930001  # RS930001N00 ... RS931378N00
CONFIG = """\
results_dir: results
sample: {{source: file, file: {inputs}/sample.csv}}
crossmatch: {{source: file, file: {inputs}/rass2rxs.csv}}
archive: {{source: local, root: {inputs}/archive}}
caldb: {{root: {inputs}/caldb}}
granularity: {granularity}
"""


def synthetic_sample(n_sources, n_skyfields, seed=1378):
    """A matched sample as the match_sample checkpoint writes it, sorted by id_name."""
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0.0, 360.0, n_sources)  # deg
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n_sources)))  # deg, uniform on the sky
    offset = rng.uniform(0.0, 8.0, n_sources) / 3600.0  # deg, inside the 8" match radius
    skyfield = FIRST_SKYFIELD + rng.integers(0, n_skyfields, n_sources)
    ids = [f"CARMENES-{i}" for i in range(1, n_sources + 1)]
    table = pd.DataFrame({
        "id_name": ids,
        "name": [f"Star {i}" for i in range(1, n_sources + 1)],
        "ra": ra.round(6),
        "dec": dec.round(6),
        "rasscat_name": [f"2RXS J{i:06d}" for i in range(1, n_sources + 1)],
        "rasscat_ra": ra.round(6),
        "rasscat_dec": (dec + offset).round(6),
        "rasscat_skyfield_number": skyfield,
        "sep_arcsec": (offset * 3600.0).round(4),
        "seq_id": [seq_id(n) for n in skyfield],
    })  # fmt: skip
    order = sorted(range(n_sources), key=lambda i: natural_key(ids[i]))
    return table.iloc[order].reset_index(drop=True)


def prepare(workdir, n_sources, n_skyfields, granularity):
    """Config, dummy checkpoint inputs and, newer than them, the checkpoint's output."""
    inputs = workdir / "inputs"
    for directory in (inputs / "archive", inputs / "caldb"):
        directory.mkdir(parents=True, exist_ok=True)
    for name in ("sample.csv", "rass2rxs.csv"):
        (inputs / name).write_text("placeholder: the checkpoint's output is already there\n")
    (workdir / "bench.yaml").write_text(CONFIG.format(inputs=inputs, granularity=granularity))
    sample = workdir / "results" / "sample" / "sample.csv"
    sample.parent.mkdir(parents=True, exist_ok=True)
    table = synthetic_sample(n_sources, n_skyfields)
    table.to_csv(sample, index=False)
    # the checkpoint's other outputs: every member covered and matched, no neighbours
    members = table[["id_name", "name", "ra", "dec", "seq_id"]].assign(
        matched_2rxs=True, status="covered"
    )
    members.to_csv(sample.parent / "members.csv", index=False)
    (sample.parent / "neighbours.csv").write_text("id_name,ra,dec\n")
    newer = time.time() + 1.0  # s: newer than the inputs even on coarse file-system clocks
    for name in ("sample.csv", "members.csv", "neighbours.csv"):
        os.utime(sample.parent / name, (newer, newer))
    return table["seq_id"].nunique()


def dry_run(workdir, snakefile, timeout):
    """Seconds and number of jobs of `snakemake -n`, or None for both after the timeout."""
    args = [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile),
        "--workflow-profile", "none", "--configfile", "bench.yaml", "--cores", "1",
        "-n", "--quiet", "rules",
    ]  # fmt: skip
    start = time.perf_counter()
    try:
        proc = run_command(args, cwd=workdir, timeout=timeout)
    except TimeoutError:
        return None, None
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"snakemake -n in {workdir} failed:\n{proc.stdout[-3000:]}")
    total = re.search(r"^total\s+(\d+)", proc.stdout, re.MULTILINE)
    if total is None:
        raise RuntimeError(
            f"no job count in the output of snakemake -n in {workdir}:\n{proc.stdout}"
        )
    return seconds, int(total.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[1000, 10000, 135000],
        help="numbers of sources (default: 1000 10000 135000)",
    )
    parser.add_argument(
        "--skyfields",
        type=int,
        default=RASS_SKYFIELDS,
        help="skyfields the sources are drawn from (default: all 1378)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1200.0,
        help="s per size before the dry run is killed (default: 1200)",
    )
    parser.add_argument(
        "--snakefile",
        type=Path,
        default=REPO / "workflow" / "Snakefile",
        help="workflow to plan (default: this repository's workflow/Snakefile)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the run directories here (default: a temporary directory)",
    )
    parser.add_argument(
        "--granularity",
        nargs="+",
        choices=["auto", "per_source", "per_skyfield"],
        default=["auto", "per_skyfield", "per_source"],
        help="job granularities to plan (default: all three)",
    )
    args = parser.parse_args()
    base = args.workdir or Path(tempfile.mkdtemp(prefix="rassflow-scale-"))
    header = f"{'granularity':>12} {'sources':>8} {'skyfields':>9} {'jobs':>8} {'seconds':>9}"
    print(header, flush=True)
    for granularity in args.granularity:
        for n_sources in args.sizes:
            workdir = base / f"{granularity}-n{n_sources}"
            n_fields = prepare(workdir, n_sources, args.skyfields, granularity)
            seconds, jobs = dry_run(workdir, args.snakefile.resolve(), args.timeout)
            row = f"{granularity:>12} {n_sources:>8} {n_fields:>9}"
            if seconds is None:
                print(f"{row} {'-':>8} timed out after {args.timeout:.0f} s", flush=True)
            else:
                print(f"{row} {jobs:>8} {seconds:>9.1f}", flush=True)
    print(f"run directories: {base}")


if __name__ == "__main__":
    main()
