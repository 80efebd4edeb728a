"""Fit one source with the fitter the run resolved, and write its result."""

from __future__ import annotations

import os


def fit_and_write(
    spectrum,
    background,
    rmf,
    arf,
    settings,
    source_id: str,
    out_path: str | os.PathLike,
    backend: str = "native",
    fitter: str = "sherpa",
) -> dict:
    """Fit one source and write the result as JSON (atomically) to ``out_path``.

    ``backend`` names the tools that made the spectra and responses; it is recorded in the
    result so that the results table can say where each row's products came from. The
    result is checked against the fit-result layout before it is written.
    """
    from rassflow.backends.registry import fit_source
    from rassflow.fitting.result import FitResult

    fitted = fit_source(fitter, spectrum, background, rmf, arf, settings, source_id)
    result = FitResult.from_json(fitted, source=f"{fitter} fit of {source_id}")
    result = with_neighbours(result.replace(backend=backend), spectrum, background, settings)
    result.write(out_path)
    return result.to_json()


def with_neighbours(result, spectrum, background, settings):
    """The fit result with a summary of the catalogued neighbours whose PSF wings add counts
    to the source circle (the background file's CONTAMINATION table,
    rassflow.products.contamination): how many, whether any lies inside the circle or is
    too close to separate, and their share of the net counts in the fit range. Both fitters
    already fitted those counts as a fixed model component, so the parameters and fluxes
    are the target's own. Unchanged without such a table."""
    from rassflow.fitting.result import NeighbourResult
    from rassflow.products.contamination import band_fraction, read_contamination

    table = read_contamination(background)
    if not result.models or table is None:
        return result
    share = band_fraction(spectrum, background, tuple(settings["energy_range_keV"]))
    _, _, summary = table
    neighbours = NeighbourResult(
        count=summary["neighbours"],
        confused=summary["confused"],
        unresolved=summary["unresolved"],
        share=round(share, 6),
    )
    return result.replace(neighbours=neighbours)
