"""Benchmark: the default workflow on a catalog-scale sample (a simulated survey plus N blank
positions), with --cores 2.

Simulates a survey (config/demo.yaml's kinds of stars: detected, faint and dark, catalogued
neighbours, proper motions; --n-unrelated 2RXS sources per field bring it to RASS density,
~100 per 6.4 deg field), adds --positions blank positions uniform over the skyfields'
footprints, each > 8' from every simulated X-ray source (true rate 0), and writes the sample
as Parquet (tests/support/catalog_scale.py). Then runs, timing each part:

1. the match checkpoint (``results/sample/sample.csv``);
2. a dry run of the whole workflow after it (Snakemake's planning);
3. the rest of the default workflow, ``--keep-going`` (a failing final-table job is
   reported, not fatal).

Prints and writes (--json): wall and CPU of each part and end to end; per rule, the jobs,
their CPU-s (sum) and peak memory (max_rss, max over jobs) from Snakemake's benchmark TSVs;
forced photometry positions per CPU-second (the measure_photometry jobs' CPU over the
positions measured); CPU-s per fitted source (fit_batch jobs); the files under results/
(logs/ and benchmarks/ left out) and, beyond the fitted sources' products, per skyfield;
and the science checks on the photometry batch tables: the blank positions' detection rate
(and which detection test the tables record: photometry.detection_test) against
norm.sf(photometry.detection_sigma) = 0.135 % with its binomial interval, the
fraction of undetected members whose rate_ul >= the true rate (target >= 97 %), the 68 %
interval coverage of the detected stars (target 60-76 %).

    python benchmarks/catalog_scale.py [--positions 1000000] [--n-skyfields 40]
        [--n-stars 160] [--n-unrelated 80] [--workdir DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from rassflow.runner import snakemake_command  # noqa: E402
from tests.support import catalog_scale as cs  # noqa: E402

JOB_HEADER = re.compile(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):\s*$")
FAILED = re.compile(r"^Error in rule (\w+):", re.MULTILINE)


def run(command, cwd, log) -> dict:
    """{wall_s, cpu_s, peak_rss_mb, returncode} of one command (output in ``log``); CPU is
    user+sys of the command and everything it waited for (os.wait4)."""
    start = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.Popen(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    return {
        "wall_s": time.perf_counter() - start,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "returncode": os.waitstatus_to_exitcode(status),
    }


def jobs_in(log) -> Counter:
    """{rule: jobs} that a Snakemake log lists (started, or planned in a dry run)."""
    return Counter(m.group(1) for line in open(log) if (m := JOB_HEADER.match(line)))


def prepare(workdir: Path, positions: int, settings: dict, seed: int, survey_from=None) -> dict:
    inputs = cs.write_inputs(workdir / "inputs", positions, settings, seed, survey_from)
    (workdir / "run.yaml").write_text(yaml.safe_dump(cs.run_config(inputs)))
    return inputs


def execute(workdir: Path, cores: int, plan_only: bool = False) -> dict:
    """The three timed parts of a run in ``workdir`` (run.yaml there), the first two only
    with ``plan_only``; exits if the checkpoint or the dry run fails."""
    config = [workdir / "run.yaml"]
    parts = {}
    parts["checkpoint"] = run(
        snakemake_command(workdir, config, "results/sample/sample.csv", cores=cores),
        workdir,
        workdir / "checkpoint.log",
    )
    if parts["checkpoint"]["returncode"]:
        sys.exit(f"the match checkpoint failed, see {workdir / 'checkpoint.log'}")
    parts["dry_run"] = run(
        snakemake_command(workdir, config, "--dry-run", cores=cores), workdir, workdir / "plan.log"
    )
    if parts["dry_run"]["returncode"]:
        sys.exit(f"the dry run failed, see {workdir / 'plan.log'}")
    parts["dry_run"]["jobs"] = dict(jobs_in(workdir / "plan.log"))
    if plan_only:
        return parts
    parts["workflow"] = run(
        snakemake_command(workdir, config, "--keep-going", cores=cores),
        workdir,
        workdir / "workflow.log",
    )
    text = (workdir / "workflow.log").read_text()
    parts["workflow"]["jobs"] = dict(jobs_in(workdir / "workflow.log"))
    parts["workflow"]["failed_rules"] = sorted(set(FAILED.findall(text)))
    return parts


def measure(workdir: Path, inputs: dict, parts: dict, settings: dict) -> dict:
    import pandas as pd

    from rassflow.photometry.forced import read_tables

    results = workdir / "results"
    covered = cs.covered_members(results)
    tables = cs.photometry_tables(results)
    table = read_tables(tables)
    ids = pd.Series([str(v).strip() for v in table["id_name"]])
    benchmarks = cs.job_benchmarks(results)
    photometry = benchmarks.get("measure_photometry", {"cpu_s": 0.0, "jobs": 0})
    fits = benchmarks.get("fit_batch", {"cpu_s": 0.0, "jobs": 0})
    fitted = len(list((results / "fits").rglob("*-fit.json")))
    skyfields = int(covered["seq_id"].nunique())
    truth = pd.read_csv(inputs["truth"])
    end_to_end = {
        key: parts["checkpoint"][key] + parts["workflow"][key] for key in ("wall_s", "cpu_s")
    }
    return {
        "sizes": {
            "skyfields_simulated": settings["n_skyfields"],
            "skyfields_covering": skyfields,
            "stars": inputs["stars"],
            "blank_positions": inputs["blanks"],
            "sample": inputs["stars"] + inputs["blanks"],
            "covered_members": len(covered),
            "fitted_sources": fitted,
            "xray_sources_simulated": int((truth["kind"] != "dark").sum()),
        },
        "timing": {**parts, "end_to_end": end_to_end},
        "photometry": {
            "tables": len(tables),
            "rows": len(table),
            "covered_once": bool(ids.is_unique and set(ids) == set(covered["id_name"])),
            "cpu_s": photometry["cpu_s"],
            "jobs": photometry["jobs"],
            "positions_per_cpu_s": len(table) / photometry["cpu_s"]
            if photometry["cpu_s"]
            else None,
        },
        "fits": {
            "fitted_sources": fitted,
            "cpu_s": fits["cpu_s"],
            "cpu_s_per_fitted_source": fits["cpu_s"] / fitted if fitted else None,
        },
        "rules": benchmarks,
        "files": cs.file_counts(results, skyfields),
        "science": cs.science(table, truth, inputs["first_blank"]),
    }


def show(report: dict) -> None:
    sizes, timing = report["sizes"], report["timing"]
    print(
        f"\n{sizes['sample']} sample positions ({sizes['stars']} stars, "
        f"{sizes['blank_positions']} blank), {sizes['covered_members']} covered in "
        f"{sizes['skyfields_covering']} skyfields, {sizes['fitted_sources']} fitted, "
        f"{sizes['xray_sources_simulated']} simulated X-ray sources"
    )
    for name in ("checkpoint", "dry_run", "workflow", "end_to_end"):
        part = timing[name]
        print(f"{name:>12}: {part['wall_s']:8.1f} s wall {part['cpu_s']:8.1f} s CPU")
    failed = timing["workflow"]["failed_rules"]
    print(f"failed rules: {', '.join(failed) if failed else 'none'}")
    print(f"{'rule':>24} {'jobs':>5} {'CPU s':>9} {'max MB':>8}")
    for rule, entry in sorted(report["rules"].items(), key=lambda kv: -kv[1]["cpu_s"]):
        print(f"{rule:>24} {entry['jobs']:5d} {entry['cpu_s']:9.1f} {entry['max_rss_mb']:8.0f}")
    ph, fits = report["photometry"], report["fits"]
    rate = ph["positions_per_cpu_s"]
    print(
        f"forced photometry: {ph['rows']} positions in {ph['tables']} tables, "
        f"{ph['cpu_s']:.1f} CPU-s: {rate:.0f} positions per CPU-second"
        if rate
        else "forced photometry: no CPU recorded"
    )
    print(f"every covered member in exactly one table: {ph['covered_once']}")
    if fits["cpu_s_per_fitted_source"] is not None:
        print(f"fits: {fits['cpu_s_per_fitted_source']:.2f} CPU-s per fitted source")
    files = report["files"]
    print(
        f"files under results/: {files['files']} ({files['fitted_products']} fitted sources' "
        f"products, {files['other_per_skyfield']:.1f} others per skyfield) {files['by_directory']}"
    )
    sc = report["science"]
    blank = sc["blank_detection"]
    lo, hi = blank["range_at_99_9"]
    print(
        f"blank positions detected ({blank['test']} test): {blank['detected']}/"
        f"{blank['positions']} = {100 * blank['rate']:.3f} % (95 %: "
        f"{100 * blank['interval_95'][0]:.3f}-{100 * blank['interval_95'][1]:.3f} %; promise "
        f"{100 * blank['promise']:.3f} %, {lo}-{hi} detections at 99.9 %; the exact test's own "
        f"rate at these counts {100 * blank['expected_discrete']:.3f} %, mean counts in the "
        f"circle {blank['blank_counts_src_mean']:.2f})"
    )
    ul = sc["upper_limits"]
    print(
        f"undetected with rate_ul >= true rate: {ul['holding']}/{ul['undetected']} = "
        f"{100 * ul['fraction']:.2f} % (stars {ul['stars_holding']}/{ul['stars_undetected']}; "
        "target >= 97 %)"
    )
    cov = sc["interval_coverage"]
    print(
        f"68 % intervals of detected stars covering the truth: {cov['covering']}/"
        f"{cov['detected_stars']} = {100 * cov['fraction']:.1f} % (target 60-76 %)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=1_000_000, help="blank positions")
    parser.add_argument("--n-skyfields", type=int, default=40)
    parser.add_argument("--n-stars", type=int, default=160)
    parser.add_argument("--n-unrelated", type=int, default=80, help="2RXS sources per field")
    parser.add_argument("--seed", type=int, default=20260324)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--json", type=Path, default=None, help="default: WORKDIR/catalog_scale.json"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="recompute the report of the finished run in --workdir (its parts' timings kept)",
    )
    parser.add_argument(
        "--plan-only",
        action="store_true",
        help="run the match checkpoint and the dry run only (their times and the job counts)",
    )
    parser.add_argument(
        "--survey-from",
        type=Path,
        default=None,
        help="link the simulated survey of an earlier run's inputs/ (same settings) instead of "
        "simulating it again",
    )
    args = parser.parse_args()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="rassflow-catalog-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    settings = cs.survey_settings(args.n_skyfields, args.n_stars, args.n_unrelated, args.seed)
    load_start = os.getloadavg()
    if args.report_only:
        previous = json.loads((workdir / "catalog_scale.json").read_text())
        parts = {k: v for k, v in previous["timing"].items() if k != "end_to_end"}
        simulation_s = previous["simulation_wall_s"]
        inputs = cs.inputs_of(workdir / "inputs")
    else:
        print(f"simulating in {workdir} ...", flush=True)
        start = time.perf_counter()
        inputs = prepare(workdir, args.positions, settings, args.seed, args.survey_from)
        simulation_s = time.perf_counter() - start
        print(f"simulated in {simulation_s:.0f} s; running the workflow ...", flush=True)
        parts = execute(workdir, args.cores, args.plan_only)
        # the timings first, so that --report-only can redo the checks if they fail
        (workdir / "catalog_scale.json").write_text(
            json.dumps({"timing": parts, "simulation_wall_s": simulation_s}, indent=2, default=str)
        )
        if args.plan_only:
            report = {
                "positions": args.positions,
                "timing": parts,
                "simulation_wall_s": simulation_s,
            }
            report["checkpoint_rule"] = cs.job_benchmarks(workdir / "results").get("match_sample")
            for name, part in parts.items():
                print(f"{name:>12}: {part['wall_s']:8.1f} s wall {part['cpu_s']:8.1f} s CPU")
            print(f"planned jobs: {parts['dry_run']['jobs']}")
            out = args.json or workdir / "catalog_scale_plan.json"
            out.write_text(json.dumps(report, indent=2, default=str))
            print(f"written: {out}")
            return
    report = measure(workdir, inputs, parts, settings)
    report["simulation_wall_s"] = simulation_s
    report["cores"] = args.cores
    report["load_average"] = {"start": load_start, "end": os.getloadavg()}
    show(report)
    start, end = report["load_average"]["start"], report["load_average"]["end"]
    print(f"load average (1, 5, 15 min): start {start[0]:.1f} {start[1]:.1f} {start[2]:.1f}, "
          f"end {end[0]:.1f} {end[1]:.1f} {end[2]:.1f}")  # fmt: skip
    out = args.json or workdir / "catalog_scale.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
