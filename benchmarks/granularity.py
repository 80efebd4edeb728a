"""Benchmark: the per-source stages in each granularity against an in-process loop.

On one simulated survey (config/demo.yaml; its size set by --n-skyfields/--n-stars), the
shared upstream steps (simulation, match, skyfield files, images, CALDB responses) run once
with the workflow; copies of that directory then time only the per-source part:

- ``loop``: one Python process running rassflow.batch.make_skyfield_products and
  measure_skyfield per skyfield (as tests/support/recovery.py does), on the same files;
- each granularity: ``snakemake --until`` its per-source rules (regions ... fits and
  photometry), nothing else.

Prints and writes (--json) wall time, CPU time (user+sys of the process and everything it
waited for, from resource.getrusage), the number of jobs, the peak memory per job (max_rss
of Snakemake's benchmark files) and the ratios to the loop; then the time of a no-op re-run
of the whole workflow in the default granularity.

    python benchmarks/granularity.py [--n-skyfields 12 --n-stars 54] [--cores 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PER_SOURCE_RULES = {
    "per_source": [
        "make_regions",
        "extract_spectra",
        "make_arf",
        "group_spectrum",
        "fit_spectrum",
        "measure_photometry",
    ],
    "batch": ["make_skyfield_products", "fit_skyfield"],
}
LOOP = """\
import sys, time
import pandas as pd
from rassflow.batch import make_skyfield_products, measure_skyfield
from rassflow.chain import MEASURE_STAGES, PRODUCT_STAGES, stage_settings
from rassflow.config import validate
import yaml

config = yaml.safe_load(open("run.yaml"))
config.setdefault("tools", {}).update(products="native", fitter="sherpa")
config = validate(config)
settings = stage_settings(config)
results = "results"
members = pd.read_csv(f"{results}/sample/members.csv", dtype={"id_name": str, "seq_id": str})
members = members[members["status"] == "covered"]
near = {}
for _, n in pd.read_csv(f"{results}/sample/neighbours.csv").iterrows():
    near.setdefault(n["id_name"], []).append((float(n["ra"]), float(n["dec"])))
out = "loop"
keys = ("src", "bkg", "src_phys", "bkg_phys", "spectrum", "background", "arf", "grouped")
for seq, group in members.groupby("seq_id", sort=True):
    sources = []
    for _, row in group.iterrows():
        moved = "ra_rass" in row and row["ra_rass"] == row["ra_rass"]
        ra, dec = (row["ra_rass"], row["dec_rass"]) if moved else (row["ra"], row["dec"])
        stem = f"{out}/sources/{seq}/{row['id_name']}/{row['id_name']}"
        paths = {key: f"{stem}-{key}.fits" for key in keys}
        paths["fit"] = f"{out}/fits/{seq}/{row['id_name']}-fit.json"
        paths["photometry"] = f"{out}/fits/{seq}/{row['id_name']}-photometry.json"
        sources.append({"id_name": row["id_name"], "ra": float(ra), "dec": float(dec),
                        "paths": paths, "neighbours": near.get(row["id_name"], []),
                        "fit": bool(row["matched_2rxs"])})
    sky = f"{results}/skyfields/{seq}/{seq}"
    rmf, specresp = f"{results}/caldb/pspcc_gain1_256.rmf", f"{results}/caldb/pspcc_v1.spec_resp"
    make_skyfield_products(f"{sky}_bas.fits", f"{sky}_mex.fits", rmf, specresp, sources,
                           {s: settings[s] for s in PRODUCT_STAGES}, None)
    measure_skyfield(rmf, specresp, sources, {s: settings[s] for s in MEASURE_STAGES}, None)
print(len(members), "sources")
"""


def timed(command, cwd, log):
    """(wall s, CPU s of the command and all it waited for) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.run(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"{' '.join(map(str, command))} failed, see {log}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def snakemake(workdir, *args, cores):
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(workdir / "run.yaml"),
        "--cores", str(cores), *args,
    ]  # fmt: skip


def job_benchmarks(workdir, rules):
    """max_rss (MB) of every job of these rules, from Snakemake's benchmark files."""
    rss = []
    for rule in rules:
        for tsv in (workdir / "results" / "benchmarks" / rule).rglob("*.tsv"):
            with open(tsv) as handle:
                row = next(csv.DictReader(handle, delimiter="\t"))
            rss.append(float(row["max_rss"]) if row["max_rss"] not in ("", "NA") else 0.0)
    return rss


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    parser.add_argument("--n-skyfields", type=int, default=demo["simulation"]["n_skyfields"])
    parser.add_argument("--n-stars", type=int, default=demo["simulation"]["n_stars"])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--granularity",
        nargs="+",
        choices=["auto", "per_skyfield", "per_source"],
        default=["auto", "per_skyfield", "per_source"],
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="default: WORKDIR/granularity.json")
    args = parser.parse_args()
    base = args.workdir or Path(tempfile.mkdtemp(prefix="rassflow-granularity-"))
    base.mkdir(parents=True, exist_ok=True)
    config = {**demo, "results_dir": "results"}
    config["simulation"] = {
        **demo["simulation"],
        "n_skyfields": args.n_skyfields,
        "n_stars": args.n_stars,
    }
    upstream = base / "upstream"
    upstream.mkdir(exist_ok=True)
    (upstream / "run.yaml").write_text(yaml.safe_dump({**config, "granularity": "auto"}))
    print(f"upstream steps in {upstream} ...", flush=True)
    wall, cpu = timed(
        snakemake(
            upstream, "--until", "prepare_skyfield", "get_responses", "make_images",
            cores=args.cores,
        ),
        upstream,
        base / "upstream.log",
    )  # fmt: skip
    members = list(csv.DictReader(open(upstream / "results" / "sample" / "members.csv")))
    n_sources = sum(row["status"] == "covered" for row in members)
    n_fields = len({row["seq_id"] for row in members if row["status"] == "covered"})
    report = {
        "survey": {"skyfields": n_fields, "sources": n_sources, "cores": args.cores},
        "upstream": {"wall_s": wall, "cpu_s": cpu},
        "runs": {},
    }

    def copy(name, granularity=None):
        target = base / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(upstream, target, symlinks=True)  # mtimes kept
        if granularity:
            (target / "run.yaml").write_text(yaml.safe_dump({**config, "granularity": granularity}))
        return target

    loop = copy("loop")
    (loop / "loop.py").write_text(LOOP)
    wall, cpu = timed([sys.executable, "loop.py"], loop, base / "loop.log")
    report["runs"]["loop"] = {"wall_s": wall, "cpu_s": cpu, "jobs": 1}
    for granularity in args.granularity:
        workdir = copy(granularity, granularity)
        rules = PER_SOURCE_RULES["per_source" if granularity == "per_source" else "batch"]
        print(f"{granularity} in {workdir} ...", flush=True)
        wall, cpu = timed(
            snakemake(workdir, "--until", *rules, cores=args.cores),
            workdir,
            base / f"{granularity}.log",
        )
        rss = job_benchmarks(workdir, rules)
        report["runs"][granularity] = {
            "wall_s": wall,
            "cpu_s": cpu,
            "jobs": len(rss),
            "max_rss_mb_per_job": max(rss, default=0.0),
            "mean_max_rss_mb": sum(rss) / len(rss) if rss else 0.0,
        }
    loop_run = report["runs"]["loop"]
    for run in report["runs"].values():
        run["wall_ratio"] = run["wall_s"] / loop_run["wall_s"]
        run["cpu_ratio"] = run["cpu_s"] / loop_run["cpu_s"]
    default = "auto" if "auto" in args.granularity else args.granularity[0]
    workdir = base / default
    timed(snakemake(workdir, cores=args.cores), workdir, base / "rest.log")  # finish the run
    wall, cpu = timed(snakemake(workdir, cores=args.cores), workdir, base / "noop.log")
    report["noop_rerun"] = {"granularity": default, "wall_s": wall, "cpu_s": cpu}
    report["load_average"] = os.getloadavg()

    print(
        f"\n{n_sources} sources in {n_fields} skyfields, {args.cores} cores "
        f"(upstream steps once: {report['upstream']['wall_s']:.0f} s)"
    )
    print(f"{'run':>13} {'wall s':>8} {'CPU s':>8} {'jobs':>5} {'max MB/job':>10} "
          f"{'wall/loop':>9} {'CPU/loop':>8}")  # fmt: skip
    for name, run in report["runs"].items():
        print(
            f"{name:>13} {run['wall_s']:8.1f} {run['cpu_s']:8.1f} {run['jobs']:5d} "
            f"{run.get('max_rss_mb_per_job', float('nan')):10.0f} "
            f"{run['wall_ratio']:9.2f} {run['cpu_ratio']:8.2f}"
        )
    print(
        f"no-op re-run ({default}): {wall:.1f} s wall, {cpu:.1f} s CPU; "
        f"load average {report['load_average'][0]:.1f}"
    )
    out = args.json or base / "granularity.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
