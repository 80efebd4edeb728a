"""The analysis of one source, stage by stage: regions, spectra, ARF, grouped spectrum, fit.

This is the one per-source chain. A per-source job runs some of the stages for one source
(SOURCE_JOB_STAGES); a batch runs every stage for each source of a skyfield (or of a few)
in a loop, reading each skyfield's files once. Either way a stage reads the same input
files, writes the same output files and goes through :func:`rassflow.status.run_stage`, so
a failed source has the same failure reason, and every product the same bytes, whichever
granularity ran it.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from rassflow.config import runtime
from rassflow.status import run_stage

log = logging.getLogger(__name__)

PRODUCT_STAGES = ("make_regions", "extract_spectra", "make_arf", "group_spectrum")
MEASURE_STAGES = ("fit_spectrum",)
STAGES = (*PRODUCT_STAGES, *MEASURE_STAGES)
FIT_ONLY_STAGES = ("group_spectrum", "fit_spectrum")
"""Stages run only for sources that get a spectral fit (those matched with 2RXS); the
other members the chain runs for (``photometry.products: all``) get regions, spectra and
an ARF. Every covered member's photometry is measured per skyfield
(rassflow.photometry.forced), not by the chain."""
# granularity per_source: what each of a source's two jobs runs, so that every member
# with products has one job and a fitted source one more; the stages' order within a source
# holds (group_spectrum reads only what make_arf has made)
SOURCE_JOB_STAGES = {
    "products": ("make_regions", "extract_spectra", "make_arf"),
    "fit": FIT_ONLY_STAGES,
}


def stages_for(stages: tuple[str, ...], fitted: bool) -> tuple[str, ...]:
    """The stages of ``stages`` that a source runs: all of them when it is fitted."""
    return stages if fitted else tuple(s for s in stages if s not in FIT_ONLY_STAGES)


REGION_KEYS = ("src", "bkg", "src_phys", "bkg_phys")
# what each stage writes, by the keys of Source.paths (the per-source file names)
STAGE_OUTPUTS = {
    "make_regions": REGION_KEYS,
    "extract_spectra": ("spectrum", "background"),
    "make_arf": ("arf",),
    "group_spectrum": ("grouped",),
    "fit_spectrum": ("fit",),
}
SOURCE_JOB_OUTPUTS = {
    job: tuple(key for stage in stages for key in STAGE_OUTPUTS[stage])
    for job, stages in SOURCE_JOB_STAGES.items()
}


def stage_settings(config: dict) -> dict:
    """Settings of each stage from the validated config (tools resolved), the same for
    per-source and batched jobs, so that both make the same bytes."""
    from rassflow.config import provenance, section_hash
    from rassflow.plan import Layout

    backend = config["tools"]["products"]
    grouping = {"grouping": config["grouping"], "range": config["fit"]["energy_range_keV"]}
    return {
        "make_regions": config["regions"],
        "extract_spectra": {
            "backend": backend,
            "wmap_binning": config["spectra"]["wmap_binning"],
            "psf": fixed_psf(config),
            "provenance": provenance(config, "rassflow.products.spectra", "regions", "spectra"),
        },
        "make_arf": {
            "backend": backend,
            "method": config["responses"]["arf_method"],
            "psf_correction": config["responses"]["psf_correction"],
            "regions": config["regions"],
            "psf": fixed_psf(config),
            "provenance": provenance(
                config, "rassflow.products.responses", "responses", "caldb", "regions"
            ),
        },
        "group_spectrum": {
            "backend": backend,
            "min_counts": config["grouping"]["min_counts"],
            # channels outside the fit's noticed range are bad before grouping (or None)
            "energy_range_keV": (
                config["fit"]["energy_range_keV"]
                if config["grouping"]["within_fit_range"]
                else None
            ),
            # what a grouped spectrum depends on: the grouping section and the noticed range
            "provenance": {
                **provenance(config, "rassflow.products.grouping"),
                "config_hash": section_hash(grouping, "grouping", "range"),
            },
        },
        "fit_spectrum": {
            "fit": config["fit"],
            "backend": backend,
            "fitter": config["tools"]["fitter"],
            # absorbed models: each source's nH from this sample column (None: fit.nh)
            "nh_column": config["sample"].get("nh_column"),
            "sample": Layout(config["results_dir"]).sample,
        },
    }


PSF_STAGES = ("extract_spectra", "make_arf")
"""The stages that use the survey PSF (the deblending, the aperture correction)."""


def fixed_psf(config: dict) -> dict | None:
    """The ``psf`` setting of a description taken on trust (``responses.psf``); None when the
    run calibrates it: the jobs then read the calibration (:func:`with_psf`)."""
    from rassflow.calibration.psf import FIXED_PSF

    return FIXED_PSF.get(config["responses"]["psf"])


def with_psf(settings: dict, calibration) -> dict:
    """Settings by stage with the survey PSF of a calibration (its file, or the dict of
    :func:`rassflow.calibration.psf_stack.calibrate`) in :data:`PSF_STAGES`; as given
    without one."""
    if not calibration:
        return settings
    from rassflow.calibration.psf_stack import psf_setting

    psf = psf_setting(calibration)
    return {k: {**v, "psf": psf} if k in PSF_STAGES else v for k, v in settings.items()}


@dataclass(frozen=True)
class Source:
    """One source: its id, region centre (deg), the paths of its products by key, and the
    (ra, dec) of the other catalogued 2RXS sources near it."""

    id_name: str
    ra: float
    dec: float
    paths: dict
    neighbours: tuple = ()


@dataclass(frozen=True)
class Responses:
    """The PSPC-C RMF and SPECRESP file from the CALDB, shared by every source."""

    rmf: str
    specresp: str


class Skyfield:
    """A skyfield's event list and exposure map, each read at most once."""

    def __init__(self, events_path, expmap_path):
        self.events_path, self.expmap_path = str(events_path), str(expmap_path)

    @functools.cached_property
    def events(self):
        from rassflow.archive.skyfield import read_events

        return read_events(self.events_path)

    @functools.cached_property
    def geometry(self):
        """The event file's headers (sky WCS, TLMIN/TLMAX); the events if already read."""
        from rassflow.archive.skyfield import read_events

        if "events" in self.__dict__:
            return self.events
        return read_events(self.events_path, geometry_only=True)

    def exposure_at(self, source: Source) -> float:
        from rassflow.archive.skyfield import ArchiveError, exposure_at
        from rassflow.products.spectra import SpectrumError

        try:
            return exposure_at(self.expmap_path, source.ra, source.dec)
        except (OSError, ArchiveError) as exc:
            raise SpectrumError(
                f"source {source.id_name}: cannot read exposure map {self.expmap_path}: {exc}"
            ) from exc


def stage_inputs(stage: str, skyfield: Skyfield | None, source: Source, responses: Responses):
    """The files a stage reads, in the order their failure markers are looked for."""
    paths = source.paths
    return {
        "make_regions": lambda: [skyfield.events_path],
        "extract_spectra": lambda: [
            skyfield.events_path,
            skyfield.expmap_path,
            paths["src_phys"],
            paths["bkg_phys"],
        ],
        "make_arf": lambda: [
            paths["spectrum"],
            paths["background"],
            responses.rmf,
            responses.specresp,
        ],
        "group_spectrum": lambda: [
            paths["spectrum"],
            paths["background"],
            paths["arf"],
            responses.rmf,
        ],
        "fit_spectrum": lambda: [
            paths["grouped"],
            paths["background"],
            responses.rmf,
            paths["arf"],
        ],
    }[stage]()


# --- the stages ---------------------------------------------------------------------------


def make_regions(skyfield: Skyfield, source: Source, settings: dict, responses=None) -> None:
    """Source circle and background annulus as DS9 files (fk5 and physical sky pixels).

    ``settings``: the ``regions`` config section."""
    from rassflow.products.regions import source_regions, write_region_files

    geometry = skyfield.geometry
    regions = source_regions(
        geometry.wcs(),
        source.ra,
        source.dec,
        settings["source_radius_arcmin"],
        settings["background_inner_factor"],
        settings["background_outer_factor"],
        geometry.pixel_scale_deg,
        neighbours=source.neighbours,
        exclusion_radius_arcmin=settings["exclusion_radius_arcmin"],
    )
    write_region_files(
        regions,
        source.ra,
        source.dec,
        settings["source_radius_arcmin"],
        settings["background_inner_factor"],
        settings["background_outer_factor"],
        {key: source.paths[key] for key in REGION_KEYS},
        wcs=geometry.wcs(),
    )


def extract_spectra(skyfield: Skyfield, source: Source, settings: dict, responses=None) -> None:
    """Source and background spectra from the physical region files (WMAP primary, EXPOSURE
    from the exposure map at the region centre), the neighbours' CONTAMINATION table in the
    background's file.

    ``settings``: ``backend``, ``wmap_binning``, ``provenance``, ``psf`` (the survey PSF of
    the deblending, :func:`rassflow.calibration.psf.analysis_psf`)."""
    from rassflow.backends.registry import extract_spectra as extract

    extract(
        settings["backend"],
        skyfield,
        source,
        settings["wmap_binning"],
        settings["provenance"],
        lambda background, regions: add_contamination(
            background, skyfield, source, regions, settings.get("psf")
        ),
        chatter=runtime("tools.chatter", 0),
    )


def add_contamination(
    background, skyfield: Skyfield, source: Source, regions, psf: dict | None = None
) -> None:
    """Append the CONTAMINATION table (the catalogued neighbours' expected counts in the
    source circle under the survey PSF ``psf``, rassflow.products.contamination) to a
    background spectrum's HDUList; nothing when the source has no catalogued neighbour."""
    if not source.neighbours:
        return
    import numpy as np

    from rassflow.products.contamination import contamination_hdu, neighbour_contamination

    events = skyfield.events
    pixels = events.wcs().all_world2pix(np.asarray(source.neighbours, float).reshape(-1, 2), 1)
    channels, counts, info = neighbour_contamination(
        events, regions, pixels, events.pixel_scale_deg, psf
    )
    background.append(contamination_hdu(channels, counts, info))


def make_arf(skyfield, source: Source, settings: dict, responses: Responses) -> None:
    """The ARF of the source spectrum, aperture-corrected for the survey PSF unless
    ``psf_correction`` is false. ``settings``: ``backend``, ``method``, ``psf_correction``,
    ``regions`` (the config section), ``provenance``, ``psf`` (the survey PSF,
    :func:`rassflow.calibration.psf.analysis_psf`)."""
    from rassflow.backends.registry import make_arf as make
    from rassflow.products.responses import apply_psf_correction

    paths = source.paths
    make(
        settings["backend"],
        paths["spectrum"],
        responses.rmf,
        responses.specresp,
        paths["arf"],
        settings["method"],
        settings["provenance"],
        chatter=runtime("tools.chatter", 0),
    )
    if settings["psf_correction"]:
        apply_psf_correction(
            paths["arf"],
            paths["spectrum"],
            paths["background"],
            settings["regions"],
            psf=settings.get("psf"),
        )


def group_spectrum(skyfield, source: Source, settings: dict, responses: Responses) -> None:
    """The grouped spectrum that links RMF, ARF and background. ``settings``: ``backend``,
    ``min_counts``, ``energy_range_keV`` (channels outside it are bad before grouping; None =
    group the whole spectrum, as the notebook's ftgrouppha), ``provenance``."""
    from rassflow.backends.registry import group_spectrum as group

    paths = source.paths
    group(
        settings["backend"],
        paths["spectrum"],
        paths["grouped"],
        settings["min_counts"],
        responses.rmf,
        paths["arf"],
        paths["background"],
        settings["provenance"],
        chatter=runtime("tools.chatter", 0),
        energy_range_keV=settings["energy_range_keV"],
    )


def fit_spectrum(skyfield, source: Source, settings: dict, responses: Responses) -> None:
    """Fit every configured model and write the fit JSON. ``settings``: ``fit`` (the config
    section), ``backend`` (of the products), ``fitter``, and ``nh_column`` and ``sample``
    (the sample table) when the absorbed models take each source's nH from a column."""
    from rassflow.fitting import nh_from_sample, source_fit_settings
    from rassflow.fitting.run import fit_and_write

    paths = source.paths
    fit = dict(settings["fit"])
    nh_column = settings.get("nh_column")
    if nh_column and any("*" in name for name in fit["models"]):
        nh = nh_from_sample(settings["sample"], nh_column, source.id_name)
        fit = source_fit_settings(fit, nh_column, nh)
    fit_and_write(
        paths["grouped"],
        paths["background"],
        responses.rmf,
        paths["arf"],
        fit,
        source.id_name,
        paths["fit"],
        backend=settings["backend"],
        fitter=settings["fitter"],
    )


STAGE_FUNCTIONS = {
    "make_regions": make_regions,
    "extract_spectra": extract_spectra,
    "make_arf": make_arf,
    "group_spectrum": group_spectrum,
    "fit_spectrum": fit_spectrum,
}


def run(stage: str, skyfield, source: Source, settings: dict, responses=None) -> str | None:
    """Run one stage for one source; None, or the reason it failed (then its outputs are
    failure markers, or for the fit a fit JSON with status failed)."""
    on_failure = None
    if stage == "fit_spectrum":
        from rassflow.files import write_json
        from rassflow.fitting.result import failed_fit

        def on_failure(reason):
            write_json(
                failed_fit(
                    source.id_name,
                    settings["fit"]["models"],
                    reason,
                    settings["backend"],
                    settings["fitter"],
                ),
                source.paths["fit"],
            )

    return run_stage(
        stage,
        stage_inputs(stage, skyfield, source, responses),
        [source.paths[key] for key in STAGE_OUTPUTS[stage]],
        lambda: STAGE_FUNCTIONS[stage](skyfield, source, settings, responses),
        source.id_name,
        on_failure,
    )


def run_job(job) -> str | None:
    """Run the stages ``params.stages`` in turn for the one source of a per-source Snakemake
    job; None, or the first reason one failed.

    The rule names its files by the keys of Source.paths (``events``, ``expmap``, ``rmf``
    and ``specresp`` for the shared inputs) and passes ``params.centre`` and
    ``params.settings`` (by stage)."""
    files = {**dict(job.input.items()), **dict(job.output.items())}
    skyfield = None
    if "events" in files:
        skyfield = Skyfield(files["events"], files.get("expmap", ""))
    responses = None
    if "rmf" in files:
        responses = Responses(files["rmf"], files.get("specresp", ""))
    params = dict(job.params.items())
    ra, dec = params.get("centre", (None, None))  # for regions and spectra
    neighbours = tuple(map(tuple, params.get("neighbours", ())))
    source = Source(job.wildcards.src, ra, dec, files, neighbours)
    settings = with_psf(params["settings"], files.get("psf"))
    reasons = [
        run(stage, skyfield, source, settings[stage], responses)
        for stage in params["stages"]  # every stage runs: a failed one leaves markers
    ]
    return next((reason for reason in reasons if reason), None)
