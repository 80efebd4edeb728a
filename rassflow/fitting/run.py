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
    result = with_systematics(result, spectrum, background, arf, settings)
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


def with_systematics(result, spectrum, background, arf, settings):
    """The fit result with the two errors the statistic does not see in its intervals.

    - Deblending: the neighbours' counts are a fixed model component, but they are
      estimated from the counts around the neighbours (the CONTAMINATION table's VARIANCE)
      with a model of their PSF wing (its PSFSHIFT: the estimate under the other PSF
      description less this one; rassflow.products.contamination.deblending_sigma). Their
      1-sigma error ``sigma_c`` over the fit range
      is like extra noise on the net counts, whose own statistical variance is about
      ``N_src + alpha^2 N_bkg``; every parameter and flux interval is widened on each side
      by ``sqrt(1 + sigma_c^2 / (N_src + alpha^2 N_bkg))``, the quadrature sum
      (``deblending_inflation``).
    - PSF: the aperture correction uses PSFOFF; under the ROSAT GOF FAQ's description the
      fluxes would be ``psf_factors`` (low, high) times these (the ARF's PSFSYSLO/HI,
      rassflow.products.responses.psf_systematic). The flux intervals become
      [lower x min(1, low), upper x max(1, high)], so that they hold the flux under either
      description; the best values stay PSFOFF's.

    Both are recorded in ``systematics`` with the PSF description and the regions the ARF
    was made for. Unchanged when nothing was fitted, or when the ARF has no PSF correction
    and no neighbour was deblended."""
    import dataclasses

    import numpy as np

    from rassflow.fitting.result import FluxResult, ParameterResult
    from rassflow.products.contamination import deblending_sigma, read_contamination_variance
    from rassflow.products.responses import apply_psf_systematic, read_psf_record

    if not any(model.status == "ok" for model in result.models.values()):
        return result
    record = read_psf_record(arf)
    factors = record["psf_systematic"]
    sigma_c, inflation = 0.0, 1.0
    variance = read_contamination_variance(background)
    if record["psf_model"] is None and variance is None:
        return result  # an ARF without the PSF correction and no neighbours: nothing to add
    if variance is not None:
        from rassflow.pspc import pi_limits

        limits = pi_limits(*settings["energy_range_keV"])
        channels, per_channel, psf_shift = variance
        sigma_c = deblending_sigma(channels, per_channel, limits, psf_shift)
        n_src, n_bkg, ratio = _band_counts(spectrum, background, limits)
        stat_var = n_src + ratio**2 * n_bkg
        inflation = float(np.sqrt(1.0 + sigma_c**2 / stat_var)) if stat_var > 0 else 1.0

    def widen(value, lower, upper):
        if value is None:
            return lower, upper
        lower = None if lower is None else value - (value - lower) * inflation
        upper = None if upper is None else value + (upper - value) * inflation
        return lower, upper

    models = {}
    for name, model in result.models.items():
        if model.status != "ok":
            models[name] = model
            continue
        parameters = {}
        for par, entry in model.parameters.items():
            lower, upper = widen(entry.value, entry.lower, entry.upper)
            parameters[par] = ParameterResult.from_bounds(
                entry.value, lower, upper, entry.flags, entry.unit
            )
        fluxes = {}
        for band, entry in model.fluxes.items():
            lower, upper = widen(entry.value, entry.lower, entry.upper)
            if lower is not None and entry.lower is not None and entry.lower >= 0:
                lower = max(lower, 0.0)  # a flux interval stays non-negative
            if factors is not None:
                lower, upper = apply_psf_systematic(lower, upper, factors)
            fluxes[band] = FluxResult.from_bounds(
                entry.value,
                None if lower is None else float(lower),
                None if upper is None else float(upper),
                entry.confidence,
                entry.unit,
                entry.method,
            )
        models[name] = dataclasses.replace(model, parameters=parameters, fluxes=fluxes)
    systematics = {
        "psf_model": record["psf_model"],
        "source_radius_arcmin": record["source_radius_arcmin"],
        "background_arcmin": record["background_arcmin"],
        "psf_factors": factors,
        "deblending_sigma_counts": round(sigma_c, 6),
        "deblending_inflation": round(inflation, 6),
    }
    return result.replace(models=models, systematics=systematics)


def _band_counts(spectrum, background, pi_range):
    """(source counts, background counts, BACKSCAL ratio) in PI channels ``pi_range``."""
    from astropy.io import fits

    from rassflow.files import spectrum_index

    def read(path):
        with fits.open(path) as hdul:
            hdu = hdul[spectrum_index(hdul, path)]
            channel = hdu.data["CHANNEL"]
            inside = (channel >= pi_range[0]) & (channel <= pi_range[1])
            return float(hdu.data["COUNTS"][inside].sum()), float(hdu.header["BACKSCAL"])

    n_src, src_scal = read(spectrum)
    n_bkg, bkg_scal = read(background)
    return n_src, n_bkg, (src_scal / bkg_scal if bkg_scal > 0 else 0.0)
