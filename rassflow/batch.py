"""Per-skyfield batches: every source of a skyfield in one job, from one event-file read.

For samples of many thousands of sources, one job per source and stage is more than a
scheduler (and Snakemake's planner) should see, and every job pays its imports. These
functions make exactly the per-source products of the per-source rules, with the same
file names, by calling the same library functions. One source's failure is recorded in
the batch manifest (and later in its fit JSON) and never stops the others.
"""

from __future__ import annotations

import logging

from .io import read_json, write_fits, write_json

log = logging.getLogger(__name__)
DATA_ERRORS = (ValueError, RuntimeError, OSError, KeyError)
FIT_MANIFEST_SUFFIX = "-fits-manifest.json"


def extract_skyfield(seq: str, events_path, expmap_path, rmf, specresp, sources: list[dict],
                     settings: dict, manifest_path) -> dict:
    """Regions, spectra, ARF and grouped spectrum for every source of one skyfield.

    ``sources``: dicts with ``id_name``, ``ra``, ``dec`` (region centre, deg) and ``paths``
    (the per-source file names). ``settings``: the config sections ``regions``,
    ``spectra``, ``responses``, ``grouping`` and ``provenance`` dicts per tool.
    """
    import os

    from .archive import exposure_at, read_events
    from .arf import make_arf
    from .grouping import group_spectrum
    from .regions import source_regions, write_region_files
    from .spectra import SpectrumError, extract_spectrum

    events = read_events(events_path)
    reg = settings["regions"]
    entries = []
    for source in sources:
        name, ra, dec, paths = source["id_name"], source["ra"], source["dec"], source["paths"]
        try:
            regions = source_regions(events.wcs(), ra, dec, reg["source_radius_arcmin"],
                                     reg["background_inner_factor"],
                                     reg["background_outer_factor"], events.pixel_scale_deg)
            write_region_files(regions, ra, dec, reg["source_radius_arcmin"],
                               reg["background_inner_factor"], reg["background_outer_factor"],
                               {k: paths[k] for k in ("src", "bkg", "src_phys", "bkg_phys")})
            exposure = exposure_at(expmap_path, ra, dec)
            for which, key in (("src", "spectrum"), ("bkg", "background")):
                write_fits(extract_spectrum(events, regions, which,
                                            settings["spectra"]["wmap_binning"], exposure, name,
                                            settings["provenance"]["spectra"]), paths[key])
            make_arf(rmf, specresp, paths["arf"], method=settings["responses"]["arf_method"],
                     wmap=paths["spectrum"] if settings["responses"]["arf_method"] == "pcarf"
                     else None, provenance=settings["provenance"]["arf"])
            here = os.path.dirname(paths["grouped"])
            group_spectrum(paths["spectrum"], paths["grouped"], settings["grouping"]["min_counts"],
                           respfile=os.path.relpath(rmf, here),
                           ancrfile=os.path.relpath(paths["arf"], here),
                           backfile=os.path.relpath(paths["background"], here),
                           provenance=settings["provenance"]["grouping"])
            entries.append({"id_name": name, "status": "ok", "reason": "", "paths": paths})
        except (SpectrumError, *DATA_ERRORS) as exc:
            log.error("skyfield %s, source %s: %s", seq, name, exc)
            entries.append({"id_name": name, "status": "failed", "reason": str(exc),
                            "paths": paths})
    manifest = {"seq_id": seq, "stage": "spectra", "sources": entries}
    write_json(manifest, manifest_path)
    return manifest


def failed_fit(source_id: str, models, reason: str, backend: str) -> dict:
    """The fit JSON of a source whose products could not be made."""
    return {
        "id_name": source_id, "backend": backend, "fitter": None, "fitter_version": None,
        "counts": {}, "exposure_s": None, "noticed_groups": 0, "noticed_channels": 0,
        "models": {m: {"status": "failed", "reason": reason, "statistic": None, "dof": None,
                       "parameters": {}, "fluxes": {}, "plot": {}} for m in models},
    }


def fit_skyfield(spectra_manifest, rmf, settings: dict, manifest_path, backend: str = "native",
                 fitter: str = "sherpa") -> dict:
    """Fit every source listed in a skyfield's spectra manifest; one JSON per source."""
    from .fitting import fit_and_write

    spectra = read_json(spectra_manifest)
    fits = []
    for entry in spectra["sources"]:
        name, paths = entry["id_name"], entry["paths"]
        if entry["status"] == "ok":
            try:
                fit_and_write(paths["grouped"], paths["background"], rmf, paths["arf"], settings,
                              name, paths["fit"], backend=backend, fitter=fitter)
            except DATA_ERRORS as exc:
                log.error("source %s: fit failed: %s", name, exc)
                write_json(failed_fit(name, settings["models"], f"fit failed: {exc}", backend),
                           paths["fit"])
        else:
            write_json(failed_fit(name, settings["models"], entry["reason"], backend), paths["fit"])
        fits.append(paths["fit"])
    manifest = {"seq_id": spectra["seq_id"], "stage": "fits", "fits": fits}
    write_json(manifest, manifest_path)
    return manifest


def expand_fit_paths(paths) -> list[str]:
    """Fit JSON paths from a mix of per-source fit JSONs and per-skyfield fit manifests."""
    expanded = []
    for path in map(str, paths):
        expanded.extend(read_json(path)["fits"] if path.endswith(FIT_MANIFEST_SUFFIX) else [path])
    return expanded
