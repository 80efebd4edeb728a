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


def extract_skyfield(
    seq: str,
    events_path,
    expmap_path,
    rmf,
    specresp,
    sources: list[dict],
    settings: dict,
    manifest_path,
    chatter: int = 0,
) -> dict:
    """Regions, spectra, ARF and grouped spectrum for every source of one skyfield.

    ``sources``: dicts with ``id_name``, ``ra``, ``dec`` (region centre, deg) and ``paths``
    (the per-source file names). ``settings``: ``backend`` (native or heasoft, as resolved
    at start), the config sections ``regions``, ``spectra``, ``responses``, ``grouping`` and
    ``provenance`` dicts per tool. ``chatter``: verbosity of HEASoft tasks.
    """
    from . import products
    from .archive import exposure_at, read_events
    from .backends import BackendUnavailable
    from .regions import source_regions, write_region_files
    from .spectra import SpectrumError, extract_spectrum
    from .status import marker_reason

    backend = settings.get("backend", "native")
    # a skyfield whose files are unusable fails each of its sources with the reason
    skyfield_problem = marker_reason(events_path) or marker_reason(expmap_path)
    if skyfield_problem is None:
        try:  # read once: regions need its WCS, native spectra its events
            events = read_events(events_path)
        except DATA_ERRORS as exc:
            skyfield_problem = f"extract_skyfield: {exc}"
    reg, provenance = settings["regions"], settings["provenance"]
    wmap_binning = settings["spectra"]["wmap_binning"]
    entries = []
    for source in sources:
        name, ra, dec, paths = source["id_name"], source["ra"], source["dec"], source["paths"]
        if skyfield_problem is not None:
            entries.append(
                {"id_name": name, "status": "failed", "reason": skyfield_problem, "paths": paths}
            )
            continue
        try:
            regions = source_regions(
                events.wcs(),
                ra,
                dec,
                reg["source_radius_arcmin"],
                reg["background_inner_factor"],
                reg["background_outer_factor"],
                events.pixel_scale_deg,
            )
            write_region_files(
                regions,
                ra,
                dec,
                reg["source_radius_arcmin"],
                reg["background_inner_factor"],
                reg["background_outer_factor"],
                {k: paths[k] for k in ("src", "bkg", "src_phys", "bkg_phys")},
            )
            if backend == "native":  # from the events already in memory
                exposure = exposure_at(expmap_path, ra, dec)
                for which, key in (("src", "spectrum"), ("bkg", "background")):
                    write_fits(
                        extract_spectrum(
                            events,
                            regions,
                            which,
                            wmap_binning,
                            exposure,
                            name,
                            provenance["spectra"],
                        ),
                        paths[key],
                    )
            else:
                products.extract_spectra(
                    backend,
                    events_path,
                    expmap_path,
                    paths["src_phys"],
                    paths["bkg_phys"],
                    ra,
                    dec,
                    wmap_binning,
                    name,
                    paths["spectrum"],
                    paths["background"],
                    provenance["spectra"],
                    chatter=chatter,
                )
            products.make_arf(
                backend,
                paths["spectrum"],
                rmf,
                specresp,
                paths["arf"],
                settings["responses"]["arf_method"],
                provenance["arf"],
                chatter=chatter,
            )
            products.group_spectrum(
                backend,
                paths["spectrum"],
                paths["grouped"],
                settings["grouping"]["min_counts"],
                rmf,
                paths["arf"],
                paths["background"],
                provenance["grouping"],
                chatter=chatter,
            )
            entries.append({"id_name": name, "status": "ok", "reason": "", "paths": paths})
        except BackendUnavailable:
            raise  # the tools are missing: no source of this skyfield can be made
        except (SpectrumError, *DATA_ERRORS) as exc:
            log.error("skyfield %s, source %s: %s", seq, name, exc)
            reason = f"extract_skyfield: {exc}"
            entries.append({"id_name": name, "status": "failed", "reason": reason, "paths": paths})
    manifest = {"seq_id": seq, "stage": "spectra", "sources": entries}
    write_json(manifest, manifest_path)
    return manifest


def failed_fit(
    source_id: str, models, reason: str, backend: str, fitter: str | None = None
) -> dict:
    """The fit JSON of a source whose products could not be made (or fitted)."""
    from .fitting import unfitted_model

    return {
        "id_name": source_id,
        "backend": backend,
        "fitter": fitter,
        "fitter_version": None,
        "counts": {},
        "exposure_s": None,
        "noticed_groups": 0,
        "noticed_channels": 0,
        "models": {m: unfitted_model(m, "failed", reason) for m in models},
    }


def fit_skyfield(
    spectra_manifest,
    rmf,
    settings: dict,
    manifest_path,
    backend: str = "native",
    fitter: str = "sherpa",
) -> dict:
    """Fit every source listed in a skyfield's spectra manifest; one JSON per source."""
    from .backends import BackendUnavailable
    from .fitting import fit_and_write

    spectra = read_json(spectra_manifest)
    fits = []
    for entry in spectra["sources"]:
        name, paths = entry["id_name"], entry["paths"]
        if entry["status"] == "ok":
            try:
                fit_and_write(
                    paths["grouped"],
                    paths["background"],
                    rmf,
                    paths["arf"],
                    settings,
                    name,
                    paths["fit"],
                    backend=backend,
                    fitter=fitter,
                )
            except BackendUnavailable:
                raise  # the fitter is missing: no source can be fitted
            except DATA_ERRORS as exc:
                log.error("source %s: fit failed: %s", name, exc)
                write_json(
                    failed_fit(name, settings["models"], f"fit failed: {exc}", backend, fitter),
                    paths["fit"],
                )
        else:
            write_json(
                failed_fit(name, settings["models"], entry["reason"], backend, fitter), paths["fit"]
            )
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
