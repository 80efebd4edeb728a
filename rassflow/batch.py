"""Batches: rassflow.chain for every source of a batch (a skyfield, a few small ones, or a
slice of a big one: rassflow.plan), in one job.

For samples of many thousands of sources, one job per source and stage is more than a
scheduler (and Snakemake's planner) should see, and every job pays its imports. A batch
runs the very same stages, with the same inputs, outputs and failure markers, for each
source in turn, and reads each skyfield's event list once. One source's failure is
recorded in its own products (markers, then a failed fit JSON) and never stops the others.
"""

from __future__ import annotations

import logging

from rassflow.chain import (
    MEASURE_STAGES,
    PRODUCT_STAGES,
    Responses,
    Skyfield,
    Source,
    run,
    stages_for,
    with_psf,
)

log = logging.getLogger(__name__)


def _sources(sources: list[dict]) -> list[Source]:
    return [
        Source(
            s["id_name"], s["ra"], s["dec"], s["paths"], tuple(map(tuple, s.get("neighbours", ())))
        )
        for s in sources
    ]


def make_batch_products(
    skyfields: dict, rmf, specresp, sources: list[dict], settings: dict
) -> dict[str, str | None]:
    """Regions, spectra, ARF and (for fitted sources) grouped spectrum of every source of a
    batch.

    ``skyfields`` maps a skyfield (``seq``) to its (event list, exposure map); ``sources``
    are dicts with ``id_name``, ``seq``, ``ra``, ``dec`` (region centre, deg), ``paths``
    (the per-source file names), ``neighbours`` and ``fit``, as rassflow.plan.Plan's
    batch_sources makes them, skyfield after skyfield, so that one event list at a time is
    held in memory. ``settings``: per stage (rassflow.chain.stage_settings). Returns
    {source: None or the reason it failed}.
    """
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


def fit_batch(rmf, specresp, sources: list[dict], settings: dict) -> dict:
    """Fit every source of a batch that has ``"fit": True`` (those matched with 2RXS): a
    fit JSON each. ``settings``: per stage (fit_spectrum). Returns {source: {stage: None or
    the reason it failed}} for the sources fitted."""
    responses = Responses(str(rmf), str(specresp))
    outcome = {}
    for entry, source in zip(sources, _sources(sources), strict=True):
        stages = stages_for(MEASURE_STAGES, entry.get("fit", True))
        if stages:
            outcome[source.id_name] = {
                stage: run(stage, None, source, settings[stage], responses) for stage in stages
            }
    return outcome


# --- Snakemake jobs -------------------------------------------------------------------------


def _skyfields(sources: list[dict]) -> list[str]:
    """The skyfields of a batch's sources, in their order."""
    return list(dict.fromkeys(entry["seq"] for entry in sources))


def write_manifest(path, job, outcome: dict) -> None:
    """The declared output of a batch job: its skyfields, which sources it ran and why any
    failed."""
    from rassflow.files import write_json

    skyfields = _skyfields(job.params.sources)
    write_json({"batch": job.wildcards.batch, "skyfields": skyfields, "sources": outcome}, path)


def products_job(job) -> dict:
    """:func:`make_batch_products` for one make_batch_products job: ``input.events`` and
    ``input.expmap`` list the files of the skyfields of ``params.sources``, in their order."""
    inputs, params = job.input, job.params  # unpack()ed lists stay lists, also of one file
    files = zip(inputs.events, inputs.expmap, strict=True)
    skyfields = dict(zip(_skyfields(params.sources), files, strict=True))
    settings = with_psf(params.settings, dict(inputs.items()).get("psf"))
    outcome = make_batch_products(skyfields, inputs.rmf, inputs.specresp, params.sources, settings)
    write_manifest(job.output.products, job, outcome)
    return outcome


def fit_job(job) -> dict:
    """:func:`fit_batch` for one fit_batch job."""
    inputs, params = job.input, job.params
    outcome = fit_batch(inputs.rmf, inputs.specresp, params.sources, params.settings)
    write_manifest(job.output.fitted, job, outcome)
    return outcome
