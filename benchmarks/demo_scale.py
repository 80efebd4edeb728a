"""Benchmark: the demo workflow at the notebook's scale (83 sources in 79 skyfields).

Prints the dry-run time, the number of jobs, the wall time of the real run, the summed
time inside jobs (from every rule's benchmark file) and the peak memory of the run.

    python benchmarks/demo_scale.py [--workdir DIR] [--cores 2]
"""

from __future__ import annotations

import argparse
import csv
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

from rassflow.runner import run_command

REPO = Path(__file__).resolve().parent.parent
CONFIG = """\
results_dir: results
sample: {source: simulated}
crossmatch: {source: simulated}
archive: {source: simulated}
simulation:
  seed: 79
  n_skyfields: 79
  n_stars: 86
  xray_fraction: 1.0
  n_unrelated_per_field: 1
"""


def run(args, cwd):
    start = time.perf_counter()
    proc = run_command(args, cwd=cwd, timeout=7200)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}")
    return elapsed, proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rassflow-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "bench.yaml").write_text(CONFIG)
    base = [
        "snakemake",
        "--snakefile",
        str(REPO / "workflow" / "Snakefile"),
        "--configfile",
        "bench.yaml",
        "--cores",
        str(args.cores),
    ]
    # the sample is a checkpoint: a dry run plans the whole DAG only once it exists
    run(base + ["--until", "match_sample"], workdir)
    dry, out = run(base + ["-n", "--quiet", "rules"], workdir)
    jobs = re.search(r"^total\s+(\d+)", out, re.MULTILINE)
    wall, _ = run(base, workdir)
    inside = 0.0
    for tsv in (workdir / "results" / "benchmarks").rglob("*.tsv"):
        with open(tsv) as handle:
            inside += float(next(csv.DictReader(handle, delimiter="\t"))["s"])
    sample = (workdir / "results" / "sample" / "sample.csv").read_text().splitlines()
    skyfields = {line.split(",")[-1] for line in sample[1:]}
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"sources matched:         {len(sample) - 1} in {len(skyfields)} skyfields")
    print(f"dry-run time (s):        {dry:.1f}")
    print(f"jobs after the sample:   {jobs.group(1) if jobs else 'unknown'}")
    print(f"wall time (s):           {wall:.1f} on {args.cores} cores")
    print(f"summed time in jobs (s): {inside:.1f}")
    print(f"peak job memory (MiB):   {peak:.0f}")
    print(f"work directory:          {workdir}")


if __name__ == "__main__":
    main()
