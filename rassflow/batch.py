"""Batches: rassflow.chain for every source of a skyfield (or of a few small ones, or of a
slice of a big one), in one job.

For samples of many thousands of sources, one job per source and stage is more than a
scheduler (and Snakemake's planner) should see, and every job pays its imports. A batch
runs the very same stages, with the same inputs, outputs and failure markers, for each
source in turn, and reads each skyfield's event list once. One source's failure is
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
    return make_batch_products(
        {"": (events_path, expmap_path)},
        rmf,
        specresp,
        [{**entry, "seq": ""} for entry in sources],
        settings,
        out_dir,
    )


def make_batch_products(
    skyfields: dict, rmf, specresp, sources: list[dict], settings: dict, out_dir
) -> dict[str, str | None]:
    """:func:`make_skyfield_products` for sources of one or more skyfields: ``skyfields``
    maps a skyfield (``seq``) to its (event list, exposure map) and every source names its
    ``seq``. The sources come skyfield after skyfield, so that one event list at a time is
    held in memory."""
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    responses = Responses(str(rmf), str(specresp))
    failures, skyfield, current = {}, None, None
    for entry, source in zip(sources, _sources(sources), strict=True):
        if entry["seq"] != current:
            current = entry["seq"]
            skyfield = Skyfield(*skyfields[current])  # the previous one's events are freed
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


def _is_manifest_batch(job) -> bool:
    """A batch of granularity auto (wildcard batch): it declares a manifest JSON in place of
    the directories of per_skyfield."""
    return "batch" in job.wildcards.keys()


def _skyfields(sources: list[dict]) -> list[str]:
    """The skyfields of a batch's sources, in their order."""
    return list(dict.fromkeys(entry["seq"] for entry in sources))


def write_manifest(path, job, outcome: dict) -> None:
    """The declared output of an auto batch: its skyfields, which sources it ran and why
    any failed."""
    from rassflow.files import write_json

    skyfields = _skyfields(job.params.sources)
    write_json({"batch": job.wildcards.batch, "skyfields": skyfields, "sources": outcome}, path)


def _batch_job(job, output, run) -> dict:
    """Run a batch (``run(out_dir)``) for one Snakemake job: into the declared directory
    ``output`` (per_skyfield), or with a manifest JSON at ``output`` (an auto batch)."""
    manifest = _is_manifest_batch(job)
    outcome = run(None if manifest else output)
    if manifest:
        write_manifest(output, job, outcome)
    return outcome


def products_job(job) -> dict:
    """:func:`make_batch_products` for one make_skyfield_products job: ``input.events`` and
    ``input.expmap`` list the files of the skyfields of ``params.sources``, in their order."""
    inputs, params = job.input, job.params  # unpack()ed lists stay lists, also of one file
    files = zip(inputs.events, inputs.expmap, strict=True)
    skyfields = dict(zip(_skyfields(params.sources), files, strict=True))
    return _batch_job(
        job,
        job.output.products,
        lambda out: make_batch_products(
            skyfields, inputs.rmf, inputs.specresp, params.sources, params.settings, out
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


# how many batches granularity auto aims at per job slot (for load balance), and the
# fewest sources a batch of several small skyfields gathers before it closes (a job starts
# in 0.7-1.6 s, which a batch should spend on more than one or two sources)
BATCHES_PER_JOB = 4
MERGE_SOURCES = 25


def plan_batches(by_seq: dict, batch_jobs: int) -> list[tuple[str, str, list]]:
    """The batches of granularity auto: [(seq, tag, rows)], rows the members of ``by_seq``
    ({skyfield: rows}, each skyfield's rows in order) that the batch runs, in skyfield
    order; ``seq`` is the batch's first skyfield and ``tag`` its name.

    - A skyfield with more than 1/``batch_jobs`` of all sources is cut into that many
      consecutive slices (tag ``{seq}-part{k}of{n}``), so that all cores work on a sample
      in few skyfields.
    - Consecutive small skyfields are gathered until a batch holds at least
      min(total / (BATCHES_PER_JOB x batch_jobs), MERGE_SOURCES) sources (and at most the
      slice size), tag ``{first}-to-{last}``; a skyfield alone is ``{seq}-part1of1``.
    """
    total = sum(len(rows) for rows in by_seq.values())
    jobs = max(1, batch_jobs)
    most = max(1, -(-total // jobs))  # sources per batch, at most
    least = max(1, min(most, MERGE_SOURCES, -(-total // (BATCHES_PER_JOB * jobs))))
    batches, group = [], []  # group: the small skyfields gathered so far

    def close():
        if group:
            first, last = group[0], group[-1]
            tag = f"{first}-part1of1" if first == last else f"{first}-to-{last}"
            batches.append((first, tag, [row for seq in group for row in by_seq[seq]]))
            group.clear()

    def gathered():
        return sum(len(by_seq[seq]) for seq in group)

    for seq in sorted(by_seq):
        rows = by_seq[seq]
        if len(rows) >= least:
            close()
            parts = -(-len(rows) // most)
            for part in range(1, parts + 1):
                piece = rows[(part - 1) * len(rows) // parts : part * len(rows) // parts]
                batches.append((seq, f"{seq}-part{part}of{parts}", piece))
            continue
        if gathered() + len(rows) > most:
            close()
        group.append(seq)
        if gathered() >= least:
            close()
    close()
    return batches
