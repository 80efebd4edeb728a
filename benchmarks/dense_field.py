"""Benchmark: peak memory and wall time of the batch jobs of one dense skyfield.

The requirement: a job's peak memory stays under 1 GB for a skyfield of 3 million events
with 300 sources (memory bounded by the skyfield, not the sample; the densest RASS fields,
near the ecliptic poles, hold ~10^6 events).

The dense skyfield comes from the project's own simulator, through the workflow's upstream
rules (simulate_survey, make_caldb, match_sample, prepare_skyfield, get_responses, run by
Snakemake as explicit file targets, config/demo.yaml with a one-skyfield survey): --sources
sample stars in one skyfield with an ecliptic-pole exposure (20-40 ks), fluxes of
5e-15..3e-13 erg/s/cm^2 (0.5-2 keV), the demo's neighbours, faint and dark members and
proper motions, and the diffuse background level chosen so that the ``_bas`` file holds
--events rows (a first simulation without background gives the source events and the
exposure map; the background then fills the rest, as a Poisson draw). The files are those
the workflow makes (``results/skyfields/{seq}/{seq}_bas.fits`` and ``_mex.fits``, the
CALDB's RMF and SPECRESP); they are kept and reused while the settings stay the same.

The per-source part then runs as one per_skyfield batch of workflow/rules/batch.smk, with
the sources (members covered by the skyfield, region centres, neighbours, product paths)
of the run's plan (rassflow.plan) and the settings of rassflow.chain.stage_settings
(tools resolved as the Snakefile does): rassflow.batch.make_batch_products for every
source, then rassflow.batch.measure_batch for the first --fit-sources of them, each in
its own child process that imports what a Snakemake script job imports. Peak memory is
the child's own high-water resident set size, VmHWM of /proc/self/status read by the child
as it ends (MB = 2^20 bytes; os.wait4's ru_maxrss would not do: Linux carries the parent's
peak at fork into the child's). Each stage
also runs for one fitted source alone, so that the peak of the skyfield (its event list)
and the growth with the number of sources can be told apart.

Prints the number of events and sources, per stage the peak RSS, wall time and how many
sources succeeded, and writes the numbers as JSON (--json, default WORKDIR/dense_field.json).

    python benchmarks/dense_field.py [--events 3000000] [--sources 300] [--fit-sources 300]
        [--workdir DIR] [--json PATH] [--fresh]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml
from batches import batch_sources, merged, timed

REPO = Path(__file__).resolve().parent.parent
LIMIT_MB = 1024.0
SEED = 20260324
FIELD = {
    "n_skyfields": 1,
    "n_unrelated_per_field": 0,
    # near the ecliptic poles, where the scans overlap
    "exposure_range_s": [20000.0, 40000.0],
    # faint enough that the events are mostly background at RASS-like levels
    "flux_range": [5.0e-15, 3.0e-13],
}
# One batch job: what workflow/scripts/make_batch_products.py and measure_batch.py run,
# after the imports of Snakemake's script preamble.
STAGE = """\
import json
import sys
import time

import snakemake.script  # noqa: F401 - as the preamble of a Snakemake script job

from rassflow.batch import make_batch_products, measure_batch
from rassflow.logs import logged

with open(sys.argv[1]) as handle:
    job = json.load(handle)
start = time.perf_counter()
with logged(job["log"]):
    if job["stage"] == "make_batch_products":
        skyfields = {job["seq"]: (job["events"], job["expmap"])}
        outcome = make_batch_products(
            skyfields, job["rmf"], job["specresp"], job["sources"], job["settings"]
        )
    else:
        outcome = measure_batch(job["rmf"], job["specresp"], job["sources"], job["settings"])
with open(job["result"], "w") as handle:
    inside = time.perf_counter() - start
    with open("/proc/self/status") as status:
        (hwm,) = [line.split()[1] for line in status if line.startswith("VmHWM:")]
    json.dump({"outcome": outcome, "inside_s": inside, "vmhwm_kb": int(hwm)}, handle)
"""


def snakemake(upstream: Path, *targets) -> list[str]:
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
        "--directory", str(upstream), "--configfile", str(upstream / "run.yaml"),
        "--cores", "1", *targets,
    ]  # fmt: skip


def background_rate_for(settings: dict, events: int, workdir: Path) -> dict:
    """The background level that gives the skyfield ``events`` rows: a simulation of the
    same survey without background gives the source (and out-of-GTI) events and the exposure
    map; the background's mean is linear in its level (rassflow.simulate.survey)."""
    import numpy as np
    from astropy.io import fits

    from rassflow.simulate import survey

    calibration = workdir / "calibration"
    shutil.rmtree(calibration, ignore_errors=True)
    paths = survey.simulate_survey(
        calibration, {**settings, "background_rate": 0.0, "compress": False}
    )
    with open(paths["truth_fields"]) as handle:
        field = next(csv.DictReader(handle))
    sources = int(field["n_events"])
    (mex,) = [p["mex"] for p in paths["skyfields"].values()]
    exposure_sum = float(np.sum(fits.getdata(mex), dtype=float))
    unit = survey.SkyModel(survey.with_defaults({**settings, "background_rate": 1.0}))
    per_rate = unit.background_rate_all * survey.MAP_PIXEL_ARCMIN2 * exposure_sum
    shutil.rmtree(calibration)
    if sources >= events:
        sys.exit(f"the sources alone make {sources} events, more than --events {events}")
    return {
        "background_rate": float(f"{(events - sources) / per_rate:.6g}"),
        "source_events": sources,
        "base_exposure_s": float(field["base_exposure_s"]),
    }


def make_field(args, workdir: Path, env) -> dict:
    """Simulate the dense skyfield and run the workflow's upstream steps (kept in
    WORKDIR/upstream and reused while the settings are the same)."""
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    simulation = {**demo["simulation"], **FIELD, "seed": args.seed, "n_stars": args.sources}
    upstream = workdir / "upstream"
    record = workdir / "field.json"
    wanted = {"simulation": simulation, "events": args.events}
    if not args.fresh and record.is_file():
        field = json.loads(record.read_text())
        if field["wanted"] == wanted and all(
            (upstream / p).is_file() for p in field["files"].values()
        ):
            print(f"dense skyfield: reusing {upstream}", flush=True)
            return field
    print(f"dense skyfield: calibrating the background for {args.events} events ...", flush=True)
    start = time.perf_counter()
    level = background_rate_for(simulation, args.events, workdir)
    config = {
        **demo,
        "results_dir": "results",
        "granularity": "per_skyfield",
        "simulation": {**simulation, "background_rate": level["background_rate"]},
    }
    shutil.rmtree(upstream, ignore_errors=True)
    upstream.mkdir(parents=True)
    (upstream / "run.yaml").write_text(yaml.safe_dump(config))
    print(
        f"dense skyfield: background {level['background_rate']:.4g} counts/s/arcmin^2 "
        f"(base exposure {level['base_exposure_s']:.0f} s); upstream steps in {upstream} ...",
        flush=True,
    )
    # the checkpoint first: the skyfields' jobs exist only once it has run
    timed(snakemake(upstream, "results/sample/sample.csv"), upstream, workdir / "sample.log", env)
    with open(upstream / "results" / "sample" / "members.csv") as handle:
        seqs = sorted({r["seq_id"] for r in csv.DictReader(handle) if r["status"] == "covered"})
    if len(seqs) != 1:
        sys.exit(f"expected the sources in one skyfield, got {seqs}")
    (seq,) = seqs
    files = {
        "events": f"results/skyfields/{seq}/{seq}_bas.fits",
        "expmap": f"results/skyfields/{seq}/{seq}_mex.fits",
        "rmf": "results/caldb/pspcc_gain1_256.rmf",
        "specresp": "results/caldb/pspcc_v1.spec_resp",
    }
    timed(snakemake(upstream, *files.values()), upstream, workdir / "upstream.log", env)
    field = {
        "wanted": wanted,
        "seq": seq,
        "files": files,
        **level,
        "setup_s": time.perf_counter() - start,
    }
    record.write_text(json.dumps(field, indent=2))
    return field


def stage_settings(upstream: Path) -> tuple[dict, dict]:
    """The validated config of the upstream run (config/config.yaml, then run.yaml over it,
    tools resolved) and the settings of every stage, as the Snakefile makes them; the
    runtime settings exported to the environment, as the Snakefile does for its jobs."""
    import rassflow.config
    import rassflow.tools
    from rassflow.chain import stage_settings as settings_of

    defaults = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = merged(defaults, yaml.safe_load((upstream / "run.yaml").read_text()))
    config = rassflow.config.validate(config)
    tools = rassflow.tools.resolve_tools(config["tools"]["products"], config["tools"]["fitter"])
    config["tools"].update(products=tools["products"], fitter=tools["fitter"])
    rassflow.config.export_runtime(config)
    return config, settings_of(config)


def count_events(path: Path) -> dict:
    """Rows of the STDEVT table, and those inside the GTIs (what the batch reads)."""
    from astropy.io import fits

    from rassflow.archive.skyfield import read_events

    with fits.open(path) as hdul:
        rows = int(hdul["STDEVT"].header["NAXIS2"])
    return {"rows": rows, "in_gti": len(read_events(path).x), "bytes": path.stat().st_size}


def run_stage(stage, name, job: dict, upstream: Path, workdir: Path, env) -> dict:
    """One batch job in its own process: its wall time, CPU time, peak RSS and outcome."""
    job_file = workdir / f"{name}-job.json"
    result = workdir / f"{name}-result.json"
    result.unlink(missing_ok=True)
    job = {**job, "stage": stage, "result": str(result), "log": str(workdir / f"{name}.log")}
    job_file.write_text(json.dumps(job))
    run = timed(
        [sys.executable, str(workdir / "stage.py"), str(job_file)],
        upstream,
        workdir / f"{name}-output.log",
        env,
    )
    done = json.loads(result.read_text())
    outcome = done["outcome"]
    if stage == "make_batch_products":
        failed = {s: r for s, r in outcome.items() if r is not None}
    else:
        failed = {
            s: {k: r for k, r in stages.items() if r is not None}
            for s, stages in outcome.items()
            if any(r is not None for r in stages.values())
        }
    return {
        **run,
        "inside_s": done["inside_s"],
        "peak_rss_mb": done["vmhwm_kb"] / 1024,
        "sources": len(outcome),
        "succeeded": len(outcome) - len(failed),
        "failed": failed,
    }


def fit_summary(upstream: Path, sources: list[dict]) -> dict:
    """Fit JSONs written, and with every model / at least one model of status ok."""
    written = every = some = 0
    for entry in sources:
        path = upstream / entry["paths"]["fit"]
        if not entry.get("fit", True) or not path.is_file():
            continue
        written += 1
        statuses = [m["status"] for m in json.loads(path.read_text())["models"].values()]
        every += all(s == "ok" for s in statuses)
        some += any(s == "ok" for s in statuses)
    return {"fit_jsons": written, "all_models_ok": every, "some_model_ok": some}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument(
        "--fit-sources", type=int, default=None, help="fit and measure only the first N"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="default: WORKDIR/dense_field.json")
    parser.add_argument("--fresh", action="store_true", help="simulate again, even if kept")
    args = parser.parse_args()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="rassflow-dense-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # the jobs import the library from this checkout, as the workflow's jobs do
    path = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(path)
    from rassflow.chain import MEASURE_STAGES, PRODUCT_STAGES

    report = {"load_average_start": os.getloadavg(), "limit_mb": LIMIT_MB}

    field = make_field(args, workdir, dict(os.environ))
    upstream = workdir / "upstream"
    config, settings = stage_settings(upstream)
    env = dict(os.environ)  # with the exported runtime settings
    files = {key: str(upstream / p) for key, p in field["files"].items()}
    events = count_events(Path(files["events"]))
    sources = batch_sources(config, str(upstream))[field["seq"]]
    fitted = [s for s in sources if s["fit"]]
    if not fitted:
        sys.exit("no source of the skyfield is matched with 2RXS (none to fit)")
    n_measure = len(sources) if args.fit_sources is None else min(args.fit_sources, len(sources))
    report["field"] = {
        "seq": field["seq"],
        "events_rows": events["rows"],
        "events_in_gti": events["in_gti"],
        "events_file_mb": events["bytes"] / 2**20,
        "source_events": field["source_events"],
        "background_rate": field["background_rate"],
        "base_exposure_s": field["base_exposure_s"],
        "sources": len(sources),
        "fitted_sources": len(fitted),
        "measured_sources": n_measure,
        "tools": {k: config["tools"][k] for k in ("products", "fitter")},
    }
    print(
        f"skyfield {field['seq']}: {events['rows']} events ({events['in_gti']} in GTIs, "
        f"{field['source_events']} from sources, {events['bytes'] / 2**20:.0f} MB file); "
        f"{len(sources)} sources ({len(fitted)} with spectral fits); "
        f"tools {config['tools']['products']} + {config['tools']['fitter']}",
        flush=True,
    )

    (workdir / "stage.py").write_text(STAGE)
    # as the params of the batch rules (workflow/rules/batch.smk) restrict them
    products = {s: settings[s] for s in PRODUCT_STAGES}
    measures = {s: settings[s] for s in MEASURE_STAGES}
    seq = field["seq"]
    # where the batches write (Layout.sources_dir, fits_dir): emptied before each run
    out = {
        "make_batch_products": f"results/sources/{seq}",
        "measure_batch": f"results/fits/{seq}",
    }
    shared = {"rmf": files["rmf"], "specresp": files["specresp"]}
    runs = [
        # (stage, name, sources): one source alone first, then the whole batch
        ("make_batch_products", "products-1", fitted[:1]),
        ("make_batch_products", "products", sources),
        ("measure_batch", "measure-1", fitted[:1]),
        ("measure_batch", "measure", sources[:n_measure]),
    ]
    report["runs"] = {}
    for stage, name, chosen in runs:
        directory = out[stage]
        shutil.rmtree(upstream / directory, ignore_errors=True)
        job = {**shared, "sources": chosen}
        if stage == "make_batch_products":
            job.update(seq=seq, events=files["events"], expmap=files["expmap"], settings=products)
        else:
            job["settings"] = measures
        print(f"{name}: {stage} of {len(chosen)} source(s) (load {os.getloadavg()[0]:.1f}) ...")
        result = run_stage(stage, name, job, upstream, workdir, env)
        if stage == "measure_batch":
            result.update(fit_summary(upstream, chosen))
        report["runs"][name] = {"stage": stage, **result}
    report["load_average_end"] = os.getloadavg()

    print()
    print(f"events:  {events['rows']} in the _bas file ({events['in_gti']} in GTIs)")
    print(f"sources: {len(sources)} ({len(fitted)} with spectral fits)")
    for name, run in report["runs"].items():
        print(
            f"{run['stage']}{'' if '-1' not in name else ' (1 source)'}: "
            f"peak RSS {run['peak_rss_mb']:.0f} MB, {run['wall_s']:.0f} s "
            f"({run['cpu_s']:.0f} s CPU); {run['succeeded']}/{run['sources']} sources succeeded"
            + (
                f"; fits: {run['fit_jsons']} JSONs, {run['all_models_ok']} with every model ok"
                if "fit_jsons" in run
                else ""
            )
        )
        for source, reason in list(run["failed"].items())[:5]:
            print(f"    failed: {source}: {reason}")
    full = [report["runs"]["products"], report["runs"]["measure"]]
    peak = max(run["peak_rss_mb"] for run in full)
    report["peak_rss_mb"] = peak
    report["within_limit"] = peak < LIMIT_MB
    print(
        f"largest job peak: {peak:.0f} MB, {'within' if peak < LIMIT_MB else 'OVER'} "
        f"the {LIMIT_MB:.0f} MB limit"
        + ("" if n_measure == len(sources) else f" (measure_batch of {n_measure} sources)")
    )
    start, end = report["load_average_start"], report["load_average_end"]
    print(f"load average (1 min): start {start[0]:.1f}, end {end[0]:.1f}")
    path = args.json or workdir / "dense_field.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
