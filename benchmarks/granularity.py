"""Benchmark: the per-source stages in each granularity against an in-process loop.

On one simulated survey (config/demo.yaml; its size set by --n-skyfields/--n-stars), the
shared upstream steps (simulation, match checkpoint, skyfield files, images, CALDB
responses) run once with the workflow, as explicit file targets (the skyfields' jobs exist
only once the checkpoint has run, so ``--until`` rules cannot reach them); copies of that
directory (mtimes and Snakemake's metadata kept) then time only the per-source part:

- ``loop``: one Python process running rassflow.batch.make_batch_products and
  measure_batch per skyfield, on the same files, with the same sources, region centres,
  neighbours, settings and product paths as the workflow's batches;
- each granularity: ``snakemake --until`` its per-source rules (regions ... fits and
  photometry), nothing else. Each run is checked: every source's fit and photometry JSON
  made, no other job run (no upstream step again, no table or figure).

Prints and writes (--json) wall time, CPU time (user+sys of the process and everything it
waited for, from os.wait4), the number of jobs, the peak memory per job (max_rss of
Snakemake's benchmark files; the loop's own peak) and the ratios to the loop; then the time
of a no-op re-run of the whole workflow in the default granularity, and whether the
granularities (and the loop) made the same per-source files and tables.

    python benchmarks/granularity.py [--n-skyfields 40 --n-stars 110] [--cores 2]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml
from batches import merged, timed

REPO = Path(__file__).resolve().parent.parent
PER_SOURCE_RULES = {
    "per_source": ["make_source_products", "fit_source"],
    "batch": ["make_batch_products", "measure_batch"],
}
# the rules of the shared upstream steps (workflow/rules/{survey,sample,skyfield,images,
# caldb}.smk): they run once, in the upstream directory, and never in a copy
UPSTREAM_RULES = {
    "simulate_survey",
    "make_caldb",
    "fetch_sample",
    "match_sample",
    "download_skyfield",
    "prepare_skyfield",
    "make_images",
    "get_responses",
}
# the final tables, as rassflow.plan.Layout names them under results_dir
TABLES = (
    "results/rass-spectral-results.csv",
    "results/rass-spectral-results.fits",
    "results/rass-photometry.csv",
    "results/rass-photometry.fits",
)
# The loop does what the batch jobs do (workflow/rules/batch.smk, rassflow.plan): the config as
# the Snakefile completes it (tools resolved, runtime settings exported) and the sources of
# each per_skyfield batch (benchmarks/batches.py), skyfields in sorted order.
LOOP = """\
import json
import time

import rassflow.config
import rassflow.tools
from batches import batch_sources
from rassflow.batch import make_batch_products, measure_batch
from rassflow.chain import MEASURE_STAGES, PRODUCT_STAGES, stage_settings

with open("loop-config.json") as handle:
    config = rassflow.config.validate(json.load(handle))
tools = rassflow.tools.resolve_tools(config["tools"]["products"], config["tools"]["fitter"])
config["tools"].update(products=tools["products"], fitter=tools["fitter"])
rassflow.config.export_runtime(config)
settings = stage_settings(config)
products = {s: settings[s] for s in PRODUCT_STAGES}
measures = {s: settings[s] for s in MEASURE_STAGES}
R = config["results_dir"]
rmf, specresp = f"{R}/caldb/pspcc_gain1_256.rmf", f"{R}/caldb/pspcc_v1.spec_resp"

start = time.perf_counter()
failed = {"products": 0, "measure": 0}
by_seq = batch_sources(config)
for seq, sources in by_seq.items():
    sky = f"{R}/skyfields/{seq}/{seq}"
    skyfield = {seq: (f"{sky}_bas.fits", f"{sky}_mex.fits")}
    outcome = make_batch_products(skyfield, rmf, specresp, sources, products)
    failed["products"] += sum(reason is not None for reason in outcome.values())
    outcome = measure_batch(rmf, specresp, sources, measures)
    failed["measure"] += sum(
        any(reason is not None for reason in stages.values()) for stages in outcome.values()
    )
print(
    sum(map(len, by_seq.values())), "sources in", len(by_seq), "skyfields;",
    "failed:", failed, f"; {time.perf_counter() - start:.1f} s"
)
"""


def load():
    return os.getloadavg()[0]


def snakemake(workdir, *args, cores):
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(workdir / "run.yaml"),
        "--cores", str(cores), *args,
    ]  # fmt: skip


def jobs_run(log) -> Counter:
    """{rule: jobs} that a Snakemake run started, from its log."""
    pattern = re.compile(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):\s*$")
    return Counter(m.group(1) for line in open(log) if (m := pattern.match(line)))


def planned_outputs(log, rules) -> list[str]:
    """The outputs of the jobs of these rules in a Snakemake dry run's log."""
    header = re.compile(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):\s*$")
    outputs, rule = [], None
    for line in open(log):
        if m := header.match(line):
            rule = m.group(1)
        elif rule in rules and line.strip().startswith("output:"):
            outputs += line.split(":", 1)[1].strip().split(", ")
    return outputs


def job_benchmarks(workdir, rules):
    """max_rss (MB) of every job of these rules, from Snakemake's benchmark files."""
    rss = []
    for rule in rules:
        for tsv in (workdir / "results" / "benchmarks" / rule).rglob("*.tsv"):
            with open(tsv) as handle:
                row = next(csv.DictReader(handle, delimiter="\t"))
            rss.append(float(row["max_rss"]) if row["max_rss"] not in ("", "NA", "-") else 0.0)
    return rss


def upstream_targets(config: dict, covered: list[str]) -> list[str]:
    """The files of the shared steps after the checkpoint: every covered skyfield's files and
    images (rules/archive.smk, images.smk, IMAGE of common.smk) and the CALDB responses."""
    from rassflow.config import validate

    config = validate(config)
    R = config["results_dir"]
    targets = [f"{R}/caldb/pspcc_gain1_256.rmf", f"{R}/caldb/pspcc_v1.spec_resp"]
    for seq in covered:
        targets += [f"{R}/skyfields/{seq}/{seq}_{kind}.fits" for kind in ("bas", "mex", "im1")]
        targets += [
            f"{R}/skyfields/{seq}/images/rosat-pspc-seqid{seq}-en{lo}-{hi}keV-bin{b}-image.fits"
            for lo, hi in config["images"]["bands_keV"]
            for b in config["images"]["binnings"]
        ]
    return targets


def digests(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root`` (Snakemake's markers left out)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".snakemake_timestamp"
    }


def json_differences(a, b, where="") -> list[str]:
    """The key paths at which two parsed JSON documents differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for key in sorted(set(a) | set(b), key=str)
            for d in (
                json_differences(a[key], b[key], f"{where}.{key}")
                if key in a and key in b
                else [f"{where}.{key} (only in one)"]
            )
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in json_differences(x, y, f"{where}[{i}]")
        ]
    return [] if a == b else [where or "(top)"]


def compare(one: Path, other: Path, parts: list[str]) -> dict:
    """Which files under results/ ``parts`` (directories or files) of two runs differ, are
    missing from one of them, and, for JSON files, at which keys."""
    found = {"compared": 0, "differ": {}, "only_in_one": []}
    for part in parts:
        a, b = one / "results" / part, other / "results" / part
        if a.is_dir() or b.is_dir():
            da, db = digests(a), digests(b)
        else:
            da = {"": hashlib.sha256(a.read_bytes()).hexdigest()} if a.exists() else {}
            db = {"": hashlib.sha256(b.read_bytes()).hexdigest()} if b.exists() else {}
        found["only_in_one"] += [str(Path(part, n)) for n in sorted(set(da) ^ set(db))]
        for name in sorted(set(da) & set(db)):
            found["compared"] += 1
            if da[name] != db[name]:
                path = Path(part, name)
                keys = None
                if path.suffix == ".json":
                    keys = json_differences(
                        json.loads((a / name).read_text()), json.loads((b / name).read_text())
                    )
                found["differ"][str(path)] = keys
    found["identical"] = not found["differ"] and not found["only_in_one"]
    return found


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
    base = (args.workdir or Path(tempfile.mkdtemp(prefix="rassflow-granularity-"))).resolve()
    base.mkdir(parents=True, exist_ok=True)
    config = {**demo, "results_dir": "results"}
    config["simulation"] = {
        **demo["simulation"],
        "n_skyfields": args.n_skyfields,
        "n_stars": args.n_stars,
    }
    # the config the workflow sees: config/config.yaml, then run.yaml over it
    defaults = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    full = merged(defaults, {**config, "granularity": "auto"})
    # the loop imports the library from this checkout, as the workflow's jobs do, and batches
    path = [
        str(REPO),
        str(REPO / "benchmarks"),
        *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    report = {"load_average_start": os.getloadavg(), "runs": {}}

    upstream = base / "upstream"
    if upstream.exists():
        shutil.rmtree(upstream)
    upstream.mkdir()
    (upstream / "run.yaml").write_text(yaml.safe_dump({**config, "granularity": "auto"}))
    print(f"upstream steps in {upstream} (load {load():.1f}) ...", flush=True)
    # the checkpoint first; the skyfields' jobs exist only once it has run
    first = timed(
        snakemake(upstream, "results/sample/sample.csv", cores=args.cores),
        upstream,
        base / "upstream-sample.log",
    )
    members = list(csv.DictReader(open(upstream / "results" / "sample" / "members.csv")))
    covered = [row for row in members if row["status"] == "covered"]
    seqs = sorted({row["seq_id"] for row in covered})
    n_sources, n_fields = len(covered), len(seqs)
    n_fitted = sum(row["matched_2rxs"] == "True" for row in covered)
    second = timed(
        snakemake(upstream, *upstream_targets(full, seqs), cores=args.cores),
        upstream,
        base / "upstream.log",
    )
    ran = jobs_run(base / "upstream-sample.log") + jobs_run(base / "upstream.log")
    if set(ran) - UPSTREAM_RULES:
        sys.exit(f"upstream step ran {sorted(set(ran) - UPSTREAM_RULES)}")
    report["survey"] = {
        "skyfields": n_fields,
        "sources": n_sources,
        "fitted": n_fitted,
        "cores": args.cores,
    }
    report["upstream"] = {
        "wall_s": first["wall_s"] + second["wall_s"],
        "cpu_s": first["cpu_s"] + second["cpu_s"],
        "jobs": dict(ran),
    }

    def copy(name, granularity=None):
        target = base / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(upstream, target, symlinks=True)  # mtimes kept (copy2)
        if granularity:
            (target / "run.yaml").write_text(yaml.safe_dump({**config, "granularity": granularity}))
        return target

    def made_jsons(workdir):
        fits = workdir / "results" / "fits"
        return len(list(fits.rglob("*-fit.json"))), len(list(fits.rglob("*-photometry.json")))

    def check_made(name, workdir):
        fit, photometry = made_jsons(workdir)
        if (fit, photometry) != (n_fitted, n_sources):
            sys.exit(
                f"{name}: {fit} fit and {photometry} photometry JSONs, "
                f"expected {n_fitted} and {n_sources}"
            )

    loop = copy("loop")
    (loop / "loop.py").write_text(LOOP)
    (loop / "loop-config.json").write_text(json.dumps(full))
    before = load()
    print(f"loop in {loop} (load {before:.1f}) ...", flush=True)
    run = timed([sys.executable, "loop.py"], loop, base / "loop.log", env=env)
    check_made("loop", loop)
    report["runs"]["loop"] = {
        **run,
        "jobs": 1,
        "max_rss_mb_per_job": run["peak_rss_mb"],
        "load_before": before,
    }
    for granularity in args.granularity:
        workdir = copy(granularity, granularity)
        rules = PER_SOURCE_RULES["per_source" if granularity == "per_source" else "batch"]
        before = load()
        print(f"{granularity} in {workdir} (load {before:.1f}) ...", flush=True)
        log = base / f"{granularity}.log"
        # The per-source part as explicit targets: what the per-source jobs of a dry
        # run of the whole workflow write. (--until with these rules finds nothing to do,
        # or with both batch rules stops at Snakemake's "BUG: Out of jobs ready to be
        # started" (issue 823), since it picks its jobs from the DAG before the checkpoint's
        # jobs are added; --omit-from the tables and figures omits the batches too.)
        plan = base / f"{granularity}-plan.log"
        timed(snakemake(workdir, "--dry-run", cores=args.cores), workdir, plan)
        planned = jobs_run(plan)
        if set(planned) & UPSTREAM_RULES:
            sys.exit(f"{granularity}: would re-run {dict(planned)}, see {plan}")
        targets = planned_outputs(plan, rules)
        run = timed(snakemake(workdir, *targets, cores=args.cores), workdir, log)
        ran = jobs_run(log)
        if set(ran) - set(rules):
            sys.exit(f"{granularity}: ran {sorted(set(ran) - set(rules))} besides {rules}")
        check_made(granularity, workdir)
        rss = job_benchmarks(workdir, rules)
        report["runs"][granularity] = {
            **run,
            "jobs": sum(ran.values()),
            "jobs_by_rule": dict(ran),
            "max_rss_mb_per_job": max(rss, default=0.0),
            "mean_max_rss_mb": sum(rss) / len(rss) if rss else 0.0,
            "load_before": before,
        }
    loop_run = report["runs"]["loop"]
    for run in report["runs"].values():
        run["wall_ratio"] = run["wall_s"] / loop_run["wall_s"]
        run["cpu_ratio"] = run["cpu_s"] / loop_run["cpu_s"]

    # finish the default granularity's run (for the no-op re-run), and the tables of the
    # others (to compare them)
    default = "auto" if "auto" in args.granularity else args.granularity[0]
    print(f"finishing the runs (load {load():.1f}) ...", flush=True)
    finish = {}
    for granularity in args.granularity:
        workdir = base / granularity
        log = base / f"{granularity}-rest.log"
        targets = [] if granularity == default else [f"results/{t}" for t in TABLES]
        finish[granularity] = timed(snakemake(workdir, *targets, cores=args.cores), workdir, log)
        ran = jobs_run(log)
        if set(ran) & (UPSTREAM_RULES | set(sum(PER_SOURCE_RULES.values(), []))):
            sys.exit(f"{granularity}: finishing re-ran {dict(ran)}, see {log}")
        finish[granularity]["jobs"] = dict(ran)
    report["finish"] = finish
    workdir = base / default
    noop = timed(snakemake(workdir, cores=args.cores), workdir, base / "noop.log")
    nothing = "Nothing to be done" in (base / "noop.log").read_text()
    report["noop_rerun"] = {
        "granularity": default,
        **noop,
        "jobs": dict(jobs_run(base / "noop.log")),
        "nothing_to_be_done": nothing,
    }

    # the same files, whichever ran them
    reference = args.granularity[0]
    agreement = {}
    for name in args.granularity[1:]:
        agreement[f"{reference} vs {name}"] = compare(
            base / reference, base / name, ["fits", "sources", *TABLES]
        )
    agreement[f"{reference} vs loop"] = compare(base / reference, loop, ["fits", "sources"])
    report["agreement"] = agreement
    report["load_average_end"] = os.getloadavg()

    up = report["upstream"]
    print(
        f"\n{n_sources} sources ({n_fitted} fitted) in {n_fields} skyfields, {args.cores} cores "
        f"(upstream steps once: {up['wall_s']:.0f} s wall, {up['cpu_s']:.0f} s CPU)"
    )
    print(f"{'run':>13} {'wall s':>8} {'CPU s':>8} {'jobs':>5} {'max MB/job':>10} "
          f"{'wall/loop':>9} {'CPU/loop':>8} {'load':>5}")  # fmt: skip
    for name, run in report["runs"].items():
        print(
            f"{name:>13} {run['wall_s']:8.1f} {run['cpu_s']:8.1f} {run['jobs']:5d} "
            f"{run['max_rss_mb_per_job']:10.0f} "
            f"{run['wall_ratio']:9.2f} {run['cpu_ratio']:8.2f} {run['load_before']:5.1f}"
        )
    print(
        f"no-op re-run ({default}): {noop['wall_s']:.1f} s wall, {noop['cpu_s']:.1f} s CPU"
        + ("" if nothing else " (NOT a no-op: see noop.log)")
    )
    for pair, found in agreement.items():
        verdict = "identical" if found["identical"] else "DIFFER"
        print(f"products {pair}: {verdict} ({found['compared']} files compared)")
        for path, keys in list(found["differ"].items())[:20]:
            print(f"    differs: {path}" + (f" at {', '.join(keys[:5])}" if keys else ""))
        for path in found["only_in_one"][:20]:
            print(f"    only in one: {path}")
    start, end = report["load_average_start"], report["load_average_end"]
    print(f"load average (1, 5, 15 min): start {start[0]:.1f} {start[1]:.1f} {start[2]:.1f}, "
          f"end {end[0]:.1f} {end[1]:.1f} {end[2]:.1f}")  # fmt: skip
    out = args.json or base / "granularity.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
