# Paths, wildcard constraints and thin input functions over the run's plan (rassflow.plan):
# the one place the rules get file names from.

import os

import rassflow.chain
import rassflow.plan

LAYOUT = rassflow.plan.Layout(config["results_dir"])
R = LAYOUT.results
SIMULATED = LAYOUT.simulated
LOGS = LAYOUT.logs
BENCH = LAYOUT.benchmarks
SKYFIELD = LAYOUT.skyfield
IMAGE = LAYOUT.image
PRODUCT = LAYOUT.product
SOURCE_TAG = LAYOUT.source_tag
BATCH = LAYOUT.batch
BATCH_TAG = LAYOUT.batch_tag
RMF = LAYOUT.rmf
SPECRESP = LAYOUT.specresp
SAMPLE = LAYOUT.sample
NEIGHBOURS = LAYOUT.neighbours  # other 2RXS sources near each sample source
MEMBERS = LAYOUT.members  # every sample member, its skyfield and coverage
PHOTOMETRY_CSV = LAYOUT.photometry_csv
PHOTOMETRY_FITS = LAYOUT.photometry_fits
RESULTS_CSV = LAYOUT.results_csv
RESULTS_FITS = LAYOUT.results_fits
FIGURES = LAYOUT.figures
RATES_FIGURE = f"{FIGURES}/rate-comparison.png"
FLUXES_FIGURE = f"{FIGURES}/sample-fluxes.png"
PSF_FIGURE = f"{FIGURES}/psf-calibration.png"
RESULTS_HTML = f"{FIGURES}/tables/rass-spectral-results.html"
PHOTOMETRY_HTML = f"{FIGURES}/tables/rass-photometry.html"


wildcard_constraints:
    seq=r"RS\d{6}N00",
    src=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    ra=r"\d+\.\d+",
    dec=r"[-+]?\d+\.\d+",
    rad=r"\d+\.\d+",
    batch=r"RS\d{6}N00-(part[1-9]\d*of[1-9]\d*|to-RS\d{6}N00)",


def provenance(tool, *sections):
    """Provenance stamped into products: backend, tool, and a hash of the config they use."""
    return rassflow.config.provenance(config, tool, *sections)


STAGE_SETTINGS = rassflow.chain.stage_settings(config)
PHOTOMETRY_SETTINGS = {
    **rassflow.plan.forced_settings(config),
    "provenance": provenance(
        "rassflow.photometry.forced",
        "regions",
        "photometry",
        "responses",
        "caldb",
        "fit.flux_bands_keV",
    ),
}
# how many batch jobs run at once: --cores, or --jobs with a cluster executor
BATCH_JOBS = rassflow.plan.batch_jobs_once(
    workflow.resource_settings.cores
    if workflow.local_exec
    else workflow.resource_settings.nodes
)
_PLAN = {}  # the Plan, once the match_sample checkpoint is done


def plan():
    """The run's rassflow.plan.Plan. Input functions call this for every row they look
    up, up to ~10^6 times per planning, so it is made once: the checkpoint is asked until
    it is done (get() raises before), and a checkpoint that is done stays done, with the
    same output, for the rest of the run."""
    if "plan" not in _PLAN:
        output = checkpoints.match_sample.get().output
        _PLAN["plan"] = rassflow.plan.Plan.from_tables(
            config, output.table, output.members, output.neighbours, BATCH_JOBS
        )
    return _PLAN["plan"]


# --- the inputs a configuration chooses ---


def sample_input():
    return rassflow.plan.sample_input(config, LAYOUT)


def rxs_input():
    return rassflow.plan.rxs_input(config, LAYOUT)


def vizier_sample():
    return rassflow.plan.vizier_sample(config, LAYOUT)


def skyfield_download(seq):
    return LAYOUT.skyfield_download(seq)


def archive_root():
    return rassflow.plan.archive_root(config, LAYOUT)


def caldb_remote():
    return rassflow.plan.caldb_remote(config)


def caldb_root():
    return rassflow.plan.caldb_root(config, LAYOUT)


def match_archive_input():
    """The simulated archive, whose exposure maps (coverage) and epochs the match reads."""
    return (
        [f"{SIMULATED}/archive"] if config["archive"]["source"] == "simulated" else []
    )


def match_archive_root(wildcards, input):
    """The archive whose exposure maps and epochs the match reads; None: HEASARC's field list."""
    if config["archive"]["source"] == "heasarc":
        return None
    return input.archive[0] if input.archive else archive_root()


def archive_input(wildcards):
    # A local archive is not declared as input: a missing skyfield then fails its own job
    # with a message naming it, and --keep-going finishes the others.
    source = config["archive"]["source"]
    if source == "heasarc":
        return [skyfield_download(wildcards.seq)]
    return [f"{SIMULATED}/archive"] if source == "simulated" else []


def caldb_index(wildcards):
    if caldb_remote():
        return []
    if config["caldb"]["root"] is None and caldb_root() == f"{SIMULATED}/caldb":
        return f"{SIMULATED}/caldb"
    return []


# --- per-source and per-batch input functions (after the checkpoint) ---


def skyfields():
    return plan().skyfields()


def source_row(src):
    return plan().by_id[src]


def source_paths(row):
    """Every per-source product path of one members row, by key."""
    return plan().paths(row)


def matched_rows():
    return plan().matched_rows()


def declared(key, rows):
    """What the jobs that write the ``key`` files of these members rows declare."""
    return plan().declared(key, rows)


def fit_inputs(wildcards):
    """Every matched source's fit JSON, or the manifests of the batches that wrote them."""
    return plan().declared("fit", matched_rows())


def fit_paths(wildcards):
    """Every matched source's fit JSON path, whichever job wrote it."""
    return plan().path_list("fit", "matched")


def photometry_tables(wildcards):
    """The forced-photometry table of every photometry batch."""
    return plan().photometry_outputs()


def photometry_files(wildcards):
    """Input function (unpack): the event lists, exposure maps and members and neighbours
    files of a photometry batch's skyfields, in its order."""
    return plan().photometry_files(wildcards.seq, wildcards.batch)


def photometry_slices(wildcards):
    """[[skyfield, start, stop]] of a photometry batch."""
    return plan().photometry_slices(wildcards.seq, wildcards.batch)


def batch_sources(wildcards):
    """Region centre, skyfield and product paths of every source of one batch."""
    return plan().batch_sources(wildcards.seq, wildcards.batch)


def batch_skyfield_files(wildcards):
    """Input function (unpack): the event lists and the exposure maps of the skyfields
    whose sources a batch runs, in the order of its sources."""
    return plan().batch_skyfield_files(wildcards.seq, wildcards.batch)


def batch_outputs(kind):
    return plan().batch_outputs(kind)


def psf_calibrators(wildcards):
    """{seq: [[id_name, ra, dec]]}: the sources that may calibrate the survey PSF."""
    return plan().psf_calibrators


def psf_calibration_events(wildcards):
    return [f"{SKYFIELD}_bas.fits".format(seq=seq) for seq in plan().psf_calibrators]


def psf_calibration():
    """The PSF calibration a products or photometry job reads ([]: a described PSF)."""
    return LAYOUT.psf_calibration if config["responses"]["psf"] == "calibrated" else []


def source_centre(wildcards):
    return rassflow.plan.region_centre(
        source_row(wildcards.src), config["regions"]["centre"]
    )


def source_neighbours(wildcards):
    """(ra, dec) of the other 2RXS sources near a source (cut out of its annulus)."""
    return source_row(wildcards.src)["neighbours"]


def image_paths(seq):
    return {
        (lo, hi, b): IMAGE.format(seq=seq, lo=lo, hi=hi, binning=b)
        for lo, hi in config["images"]["bands_keV"]
        for b in config["images"]["binnings"]
    }


def all_targets(wildcards):
    return [
        RESULTS_CSV,
        RESULTS_FITS,
        PHOTOMETRY_CSV,
        PHOTOMETRY_FITS,
    ] + report_targets()


def report_targets():
    return [
        f"{FIGURES}/cutouts",
        f"{FIGURES}/skyfield-images.png",
        f"{FIGURES}/parameter-histograms.png",
        f"{FIGURES}/spectra",
        RATES_FIGURE,
        FLUXES_FIGURE,
        RESULTS_HTML,
        PHOTOMETRY_HTML,
    ] + ([PSF_FIGURE] if psf_calibration() else [])


# Conda environments of the rules that run HEASoft tasks (products) or PyXspec (fits),
# chosen by the backends resolved at start.
PRODUCTS_ENV = (
    "../envs/heasoft.yaml"
    if config["tools"]["products"] == "heasoft"
    else "../envs/python.yaml"
)
FIT_ENV = (
    "../envs/heasoft.yaml"
    if config["tools"]["fitter"] == "xspec"
    else "../envs/python.yaml"
)


def region_files(rows):
    """(id_name, source region, background region) of members rows."""
    return [
        (row["id_name"], source_paths(row)["src"], source_paths(row)["bkg"])
        for row in rows
    ]


def region_inputs(rows):
    """The region files of members rows, or what the jobs that wrote them declare."""
    return sorted({*declared("src", rows), *declared("bkg", rows)})


def first_skyfield_rows():
    """The members rows of the first skyfield (the report's skyfield figure)."""
    return plan().by_seq[skyfields()[0]]
