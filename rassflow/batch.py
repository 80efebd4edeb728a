"""Per-skyfield batches: rassflow.chain for every source of a skyfield, in one job.

For samples of many thousands of sources, one job per source and stage is more than a
scheduler (and Snakemake's planner) should see, and every job pays its imports. A batch
runs the very same stages, with the same inputs, outputs and failure markers, for each
source in turn, and reads the skyfield's event list once. One source's failure is
recorded in its own products (markers, then a failed fit JSON) and never stops the others.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rassflow.chain import (
    MEASURE_STAGES,
    PRODUCT_STAGES,
    Responses,
    Skyfield,
    Source,
    run,
    stages_for,
)

log = logging.getLogger(__name__)


def _sources(sources: list[dict]) -> list[Source]:
    return [
        Source(
            s["id_name"], s["ra"], s["dec"], s["paths"], tuple(map(tuple, s.get("neighbours", ())))
        )
        for s in sources
    ]


def make_skyfield_products(
    events_path, expmap_path, rmf, specresp, sources: list[dict], settings: dict, out_dir
) -> dict[str, str | None]:
    """Regions, spectra, ARF and (for fitted sources) grouped spectrum of every source of
    one skyfield.

    ``sources``: dicts with ``id_name``, ``ra``, ``dec`` (region centre, deg) and ``paths``
    (the per-source file names, inside ``out_dir``). ``settings``: per stage, as the
    per-source rules pass them. Returns {source: None or the reason it failed}.
    ``out_dir``: the job's declared directory, made even if empty (None: none declared).
    """
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    skyfield = Skyfield(events_path, expmap_path)
    responses = Responses(str(rmf), str(specresp))
    failures = {}
    for entry, source in zip(sources, _sources(sources), strict=True):
        reason = None
        for stage in stages_for(PRODUCT_STAGES, entry.get("fit", True)):
            reason = run(stage, skyfield, source, settings[stage], responses) or reason
        failures[source.id_name] = reason
    log.info("%d sources, %d failed", len(failures), sum(r is not None for r in failures.values()))
    return failures


def measure_skyfield(rmf, specresp, sources: list[dict], settings: dict, out_dir) -> dict:
    """Fit and measure every source of one skyfield: a photometry JSON per source and, for
    sources with ``"fit": True`` (those matched with 2RXS), a fit JSON, inside ``out_dir``
    (None: no declared directory). ``settings``: per stage (fit_spectrum,
    measure_photometry). Returns {source: {stage: None or the reason it failed}}."""
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    responses = Responses(str(rmf), str(specresp))
    outcome = {}
    for entry, source in zip(sources, _sources(sources), strict=True):
        outcome[source.id_name] = {
            stage: run(stage, None, source, settings[stage], responses)
            for stage in stages_for(MEASURE_STAGES, entry.get("fit", True))
        }
    return outcome


# --- Snakemake jobs -------------------------------------------------------------------------


def _is_part(job) -> bool:
    """A batch of granularity auto (wildcards part, parts): it declares a manifest JSON in
    place of the directories of per_skyfield."""
    return "parts" in job.wildcards.keys()


def write_manifest(path, job, outcome: dict) -> None:
    """The declared output of an auto batch: which sources it ran and why any failed."""
    from rassflow.files import write_json

    write_json(
        {
            "skyfield": job.wildcards.seq,
            "part": int(job.wildcards.part),
            "parts": int(job.wildcards.parts),
            "sources": outcome,
        },
        path,
    )


def _batch_job(job, output, run) -> dict:
    """Run a batch (``run(out_dir)``) for one Snakemake job: into the declared directory
    ``output`` (per_skyfield), or with a manifest JSON at ``output`` (an auto batch)."""
    part = _is_part(job)
    outcome = run(None if part else output)
    if part:
        write_manifest(output, job, outcome)
    return outcome


def products_job(job) -> dict:
    """:func:`make_skyfield_products` for one make_skyfield_products job."""
    inputs, params = job.input, job.params
    return _batch_job(
        job,
        job.output.products,
        lambda out: make_skyfield_products(
            inputs.events,
            inputs.expmap,
            inputs.rmf,
            inputs.specresp,
            params.sources,
            params.settings,
            out,
        ),
    )


def measure_job(job) -> dict:
    """:func:`measure_skyfield` for one fit_skyfield job."""
    inputs, params = job.input, job.params
    return _batch_job(
        job,
        job.output.fits,
        lambda out: measure_skyfield(
            inputs.rmf, inputs.specresp, params.sources, params.settings, out
        ),
    )


# --- planning -------------------------------------------------------------------------------

BATCH_JOBS_ENV = "RASSFLOW_BATCH_JOBS"


def batch_jobs_once(jobs) -> int:
    """How many batch jobs run at once (--cores, or --jobs on a cluster), fixed once per
    run: exported to the environment, so that jobs, which re-read the Snakefile on cluster
    nodes with their own --cores, see the same batches as the run that planned them."""
    import os

    exported = os.environ.get(BATCH_JOBS_ENV)
    if exported:
        return int(exported)
    jobs = jobs if isinstance(jobs, int) and 0 < jobs < 100_000 else 1
    os.environ[BATCH_JOBS_ENV] = str(jobs)
    return jobs
