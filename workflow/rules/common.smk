# Paths, wildcard constraints and input functions: the one place file names are built.

import functools
import os

import rassflow.batch
import rassflow.calibration.caldb
import rassflow.chain
import rassflow.catalog.sample

R = config["results_dir"]
SIMULATED = f"{R}/simulated"
LOGS = f"{R}/logs"
BENCH = f"{R}/benchmarks"


wildcard_constraints:
    seq=r"RS\d{6}N00",
    src=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    ra=r"\d+\.\d+",
    dec=r"[-+]?\d+\.\d+",
    rad=r"\d+\.\d+",
    batch=r"RS\d{6}N00-(part[1-9]\d*of[1-9]\d*|to-RS\d{6}N00)",


# Per-source products follow the notebook's names, e.g.
# sources/RS930204N00/CARMENES-2/rosat-pspc-seqidRS930204N00-nameCARMENES-2-ra12.34567-dec-4.56789-radius0.0333deg-enALL-spectrum.fits
# They sit in one directory per skyfield (sources/{seq}/), the fits in fits/{seq}/, so that a
# per-skyfield batch job declares exactly what it writes as one directory() each.
SOURCES_DIR = f"{R}/sources/{{seq}}"
FITS_DIR = f"{R}/fits/{{seq}}"
NAME = "rosat-pspc-seqid{seq}-name{src}-ra{ra}-dec{dec}-radius{rad}deg"
STEM = f"{SOURCES_DIR}/{{src}}/{NAME}"
# log and benchmark names of per-source jobs (they need every wildcard of the outputs)
SOURCE_TAG = "{seq}/{src}-ra{ra}-dec{dec}-radius{rad}deg"
# granularity auto: batches of sources (a skyfield, a slice of one, or a few small ones;
# rassflow.batch.plan_batches), each declaring a manifest JSON (which sources it ran and
# why any failed) beside the per-source files it writes; {seq} is its first skyfield
BATCH = f"{R}/batches/{{seq}}/{{batch}}"
BATCH_TAG = "{seq}" if config["granularity"] == "per_skyfield" else "{seq}/{batch}"
SKYFIELD = f"{R}/skyfields/{{seq}}/{{seq}}"
IMAGE = f"{R}/skyfields/{{seq}}/images/rosat-pspc-seqid{{seq}}-en{{lo}}-{{hi}}keV-bin{{binning}}-image.fits"
# per-source products: key (as rassflow.chain.Source.paths has them) -> path template
PRODUCT = {
    key: f"{STEM}{suffix}"
    for key, suffix in {
        "src": "-src.reg",
        "bkg": "-bkg.reg",
        "src_phys": "-src-physical.reg",
        "bkg_phys": "-bkg-physical.reg",
        "spectrum": "-enALL-spectrum.fits",
        "background": "-enALL-background.fits",
        "arf": "-enALL.arf",
        "grouped": "-enALL-grp.fits",
    }.items()
}
PRODUCT["fit"] = f"{FITS_DIR}/{NAME}-fit.json"
PRODUCT["photometry"] = f"{FITS_DIR}/{NAME}-photometry.json"
RMF = f"{R}/caldb/pspcc_gain1_256.rmf"
SPECRESP = f"{R}/caldb/pspcc_v1.spec_resp"
SAMPLE = f"{R}/sample/sample.csv"
NEIGHBOURS = f"{R}/sample/neighbours.csv"  # other 2RXS sources near each sample source
MEMBERS = f"{R}/sample/members.csv"  # every sample member, its skyfield and coverage
PHOTOMETRY_CSV = f"{R}/results/rass-photometry.csv"
PHOTOMETRY_FITS = f"{R}/results/rass-photometry.fits"
RESULTS_CSV = f"{R}/results/rass-spectral-results.csv"
RESULTS_FITS = f"{R}/results/rass-spectral-results.fits"
FIGURES = f"{R}/figures"


def provenance(tool, *sections):
    """Provenance stamped into products: backend, tool, and a hash of the config they use."""
    return rassflow.config.provenance(config, tool, *sections)


def radius_deg():
    return f"{config['regions']['source_radius_arcmin'] / 60.0:.4f}"


def sample_input():
    source = config["sample"]["source"]
    if source == "vizier":
        return vizier_sample()
    return (
        f"{SIMULATED}/sample.csv" if source == "simulated" else config["sample"]["file"]
    )


def rxs_input():
    source = config["crossmatch"]["source"]
    if source == "heasarc":
        return []  # the 2RXS table stays on the TAP service
    return (
        f"{SIMULATED}/rass2rxs.fits"
        if source == "simulated"
        else config["crossmatch"]["file"]
    )


def caldb_root():
    """Local CALDB root: caldb.root, then $CALDB (not for the demo), then the simulated CALDB;
    None when the responses come from the remote CALDB at caldb.url."""
    if caldb_remote():
        return None
    return rassflow.calibration.caldb.resolve_root(
        config["caldb"]["root"],
        f"{SIMULATED}/caldb",
        config["archive"]["source"] == "simulated",
    )


def archive_root():
    source = config["archive"]["source"]
    if source == "simulated":
        return f"{SIMULATED}/archive"
    return f"{R}/archive" if source == "heasarc" else config["archive"]["root"]


@functools.lru_cache(maxsize=2)
def _read_sample(path, mtime, members_path, neighbours_path, batch_jobs):
    """The plan of the per-source stages, built once from the checkpoint's tables (input
    functions run once or more per job, for up to ~10^5 sources, and must not scan them):
    the matched rows, the members analysed (covered by a skyfield: matched with 2RXS or
    not) by id and by skyfield, and the batches (granularity auto)."""
    import csv

    matched = rassflow.catalog.sample.table_rows(
        rassflow.catalog.sample.read_sample(path)
    )
    near = {}
    with open(neighbours_path) as handle:
        for entry in csv.DictReader(handle):
            near.setdefault(entry["id_name"], []).append(
                (float(entry["ra"]), float(entry["dec"]))
            )
    members = rassflow.catalog.sample.read_sample(members_path, ("id_name", "status"))
    analysed = rassflow.catalog.sample.table_rows(
        members[members["status"] == "covered"]
    )
    by_id, by_seq = {}, {}
    for row in analysed:
        row["neighbours"] = near.get(row["id_name"], [])
        by_id[row["id_name"]] = row
        by_seq.setdefault(row["seq_id"], []).append(row)
    batches = (
        rassflow.batch.plan_batches(by_seq, batch_jobs)
        if config["granularity"] == "auto"
        else []
    )
    return Plan(matched, by_id, by_seq, batches)


class Plan:
    """The checkpoint's sample, indexed once, and every per-source path, made once."""

    def __init__(self, matched, by_id, by_seq, batches):
        self.matched, self.by_id, self.by_seq = matched, by_id, by_seq
        # granularity auto: (seq, tag) -> members rows, in plan_batches' order
        self.batches = {(seq, tag): rows for seq, tag, rows in batches}
        self._paths, self._lists = {}, {}

    def __getitem__(self, index):  # (matched, by_id, by_seq), as rules may unpack it
        return (self.matched, self.by_id, self.by_seq)[index]

    def batch_rows(self, seq, tag=None):
        """The members rows of a batch (seq, tag), or of skyfield ``seq`` (per_skyfield)."""
        return self.by_seq[seq] if tag is None else self.batches[seq, tag]

    def batch_of(self, src):
        """The batch (seq, tag) that runs a source (granularity auto)."""
        if not hasattr(self, "_batch_of"):
            self._batch_of = {
                row["id_name"]: batch
                for batch, rows in self.batches.items()
                for row in rows
            }
        return self._batch_of[src]

    def paths(self, row):
        """{key: path} of one source (a members row)."""
        src = row["id_name"]
        if src not in self._paths:
            self._paths[src] = make_source_paths(row)
        return self._paths[src]

    def path_list(self, key, rows):
        """The ``key`` path of the matched sources (rows "matched") or of every member
        analysed (rows "analysed"), in sample order."""
        if (key, rows) not in self._lists:
            chosen = (
                (self.by_id[row["id_name"]] for row in self.matched)
                if rows == "matched"
                else self.by_id.values()
            )
            self._lists[key, rows] = [self.paths(row)[key] for row in chosen]
        return self._lists[key, rows]


# how many batch jobs run at once: --cores, or --jobs with a cluster executor
BATCH_JOBS = (
    rassflow.batch.batch_jobs_once(
        workflow.resource_settings.cores
        if workflow.local_exec
        else workflow.resource_settings.nodes
    )
    if config["granularity"] == "auto"
    else 1
)


_PLAN = {}  # the Plan, once the match_sample checkpoint is done


def _sample():
    """The Plan of the checkpoint's tables. Input functions call this for every row they
    look up, up to ~10^6 times per planning, so it is made once: the checkpoint is asked
    until it is done (get() raises before), and a checkpoint that is done stays done, with
    the same output, for the rest of the run."""
    if "plan" not in _PLAN:
        output = checkpoints.match_sample.get().output
        _PLAN["plan"] = _read_sample(
            output.table,
            os.path.getmtime(output.table),
            output.members,
            output.neighbours,
            BATCH_JOBS,
        )
    return _PLAN["plan"]


def sample_rows():
    """The matched sample's rows as dicts (after the checkpoint has run)."""
    return _sample().matched


def analysed_rows():
    """Every member measured (matched or not), as the members table has it."""
    return list(_sample().by_id.values())


def source_row(src):
    return _sample().by_id[src]


def region_centre(row):
    if config["regions"]["centre"] == "xray":
        return float(row["rasscat_ra"]), float(row["rasscat_dec"])
    if "ra_rass" in row:  # proper motions: the position at the skyfield's epoch
        return float(row["ra_rass"]), float(row["dec_rass"])
    return float(row["ra"]), float(row["dec"])


def match_archive_root(wildcards, input):
    """The archive whose exposure maps and epochs the match reads; None: HEASARC's field list."""
    if config["archive"]["source"] == "heasarc":
        return None
    return input.archive[0] if input.archive else archive_root()


def match_archive_input():
    """The simulated archive, whose exposure maps (coverage) and epochs the match reads."""
    return (
        [f"{SIMULATED}/archive"] if config["archive"]["source"] == "simulated" else []
    )


def source_wildcards(row):
    ra, dec = region_centre(row)
    return dict(
        src=row["id_name"],
        seq=row["seq_id"],
        ra=f"{ra:.5f}",
        dec=f"{dec:.5f}",
        rad=radius_deg(),
    )


# PRODUCT's templates as (directory template, suffix): a source's paths are two formats
_SPLIT = {
    key: (
        (STEM, template[len(STEM) :])
        if template.startswith(STEM)
        else (f"{FITS_DIR}/{NAME}", template[len(f"{FITS_DIR}/{NAME}") :])
    )
    for key, template in PRODUCT.items()
}


def make_source_paths(row):
    """Every per-source product path of one sample row, by key (as PRODUCT has them)."""
    names = source_wildcards(row)
    stems = {
        stem: stem.format(**names) for stem in {stem for stem, _ in _SPLIT.values()}
    }
    return {key: stems[stem] + suffix for key, (stem, suffix) in _SPLIT.items()}


def source_paths(row):
    """Every per-source product path of one sample row, by key (made once per source)."""
    return _sample().paths(row)


def per_source(key):
    """Input function: one file per matched source."""
    return lambda wildcards: _sample().path_list(key, "matched")


def per_member(key):
    """Input function: one file per member analysed (matched with 2RXS or not)."""
    return lambda wildcards: _sample().path_list(key, "analysed")


def batch_output(kind, seq, tag=None):
    """What the batch that makes sources' products (kind "products") or their fits and
    photometry (kind "fits") declares: per_skyfield the skyfield's directory, auto the
    batch's manifest."""
    if config["granularity"] == "per_skyfield":
        return (SOURCES_DIR if kind == "products" else FITS_DIR).format(seq=seq)
    return f"{BATCH}-{kind}.json".format(seq=seq, batch=tag)


def batch_outputs(kind):
    """What every batch declares (see batch_output)."""
    if config["granularity"] == "per_skyfield":
        return [batch_output(kind, seq) for seq in skyfields()]
    return [batch_output(kind, *batch) for batch in _sample().batches]


def product_inputs(rows, keys):
    """Input function helper: what to declare for the per-source files ``keys`` (PRODUCT's
    keys) of these members rows. per_source: the files; batches: what the batches that
    write them declare (the fits' batches when a key is fit or photometry), since the
    files are not targets of their own there."""
    granularity = config["granularity"]
    if granularity == "per_source":
        return [source_paths(row)[key] for row in rows for key in keys]
    kind = "fits" if {"fit", "photometry"} & set(keys) else "products"
    if granularity == "per_skyfield":
        return sorted({batch_output(kind, row["seq_id"]) for row in rows})
    plan = _sample()
    return sorted({batch_output(kind, *plan.batch_of(row["id_name"])) for row in rows})


def fit_inputs(wildcards):
    """Every source's fit JSON, or what the batches that wrote them declare."""
    if config["granularity"] == "per_source":
        return per_source("fit")(wildcards)
    return batch_outputs("fits")


def photometry_inputs(wildcards):
    """Every member's photometry JSON, or what the batches that wrote them declare."""
    if config["granularity"] == "per_source":
        return per_member("photometry")(wildcards)
    return batch_outputs("fits")


def photometry_paths(wildcards):
    """{id_name: photometry JSON} of every member analysed."""
    plan = _sample()
    return dict(zip(plan.by_id, plan.path_list("photometry", "analysed"), strict=True))


def fit_paths(wildcards):
    """Every source's fit JSON path, whichever job wrote it."""
    return per_source("fit")(wildcards)


@functools.lru_cache(maxsize=4096)
def _batch_sources(plan, seq, tag):
    sources = []
    for row in plan.batch_rows(seq, tag):
        ra, dec = region_centre(row)
        sources.append(
            {
                "id_name": row["id_name"],
                "seq": row["seq_id"],
                "ra": ra,
                "dec": dec,
                "paths": plan.paths(row),
                "neighbours": row["neighbours"],
                "fit": bool(row["matched_2rxs"]),  # spectral fits for 2RXS sources only
            }
        )
    return sources


def _batch_key(wildcards):
    """(seq, tag) of a batch job: tag None for a skyfield (per_skyfield)."""
    return wildcards.seq, wildcards.get("batch")


def skyfield_sources(wildcards):
    """Region centre, skyfield and product paths of every source of one batch: a skyfield
    (per_skyfield), or a batch of plan_batches (auto)."""
    return _batch_sources(_sample(), *_batch_key(wildcards))


@functools.lru_cache(maxsize=4096)
def _batch_skyfield_files(plan, seq, tag):
    seqs = dict.fromkeys(row["seq_id"] for row in plan.batch_rows(seq, tag))
    return {
        "events": [f"{SKYFIELD}_bas.fits".format(seq=seq) for seq in seqs],
        "expmap": [f"{SKYFIELD}_mex.fits".format(seq=seq) for seq in seqs],
    }


def batch_skyfield_files(wildcards):
    """Input function (unpack): the event lists and the exposure maps of the skyfields
    whose sources a batch runs, in the order of its sources."""
    return _batch_skyfield_files(_sample(), *_batch_key(wildcards))


def skyfields():
    return sorted(_sample().by_seq)


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


def report_targets():
    return [
        f"{FIGURES}/cutouts",
        f"{FIGURES}/skyfield-images.png",
        f"{FIGURES}/parameter-histograms.png",
        f"{FIGURES}/spectra",
    ]


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


# --- network sources: VizieR sample, HEASARC TAP cross-match, archive and CALDB downloads ---


def vizier_sample():
    """Cache of the VizieR table, named by catalog and table (a changed catalog is a new file)."""
    vizier = config["sample"]["vizier"]
    name = rassflow.catalog.sample.clean_id(
        "", f"{vizier['catalog']}-{vizier['table']}"
    )
    return f"{R}/sample/vizier/{name}.csv"


def sample_settings():
    """sample settings as the matching reads them: the simulated star catalog has its own
    column names, and a format applies only to a local file."""
    settings = dict(config["sample"])
    if settings["source"] == "simulated":
        settings.update(
            id_column="No", name_column="Name", ra_column="RAdeg", dec_column="DEdeg"
        )
    if settings["source"] != "file":
        settings["format"] = "auto"
    return settings


def skyfield_download(seq):
    """Record of a skyfield's downloaded files (JSON); the files sit in {R}/archive/rsNNNNNNn00/."""
    return f"{R}/archive/{seq}-download.json"


def caldb_remote():
    """Responses come from the remote CALDB: no caldb.root, no $CALDB, a real archive."""
    return (
        config["caldb"]["root"] is None
        and not os.environ.get("CALDB")
        and config["archive"]["source"] != "simulated"
    )


def distance_columns():
    """(parallax column, distance column) of the sample for L_X; the simulated catalog has
    its distances in Dist (pc)."""
    sample = config["sample"]
    if sample["source"] == "simulated" and not (
        sample["parallax_column"] or sample["distance_column"]
    ):
        return {"parallax_column": None, "distance_column": "Dist"}
    return {
        "parallax_column": sample["parallax_column"],
        "distance_column": sample["distance_column"],
    }


def neighbour_radius_arcsec():
    """How far from a source a 2RXS source can reach into its background annulus."""
    regions = config["regions"]
    if regions["exclusion_radius_arcmin"] == 0:
        return 0.0
    outer = regions["source_radius_arcmin"] * regions["background_outer_factor"]
    return 60.0 * (outer + regions["exclusion_radius_arcmin"])


def matching_settings():
    """crossmatch settings that decide the match (not the service's URL or request size)."""
    return {
        k: v
        for k, v in config["crossmatch"].items()
        if k not in ("tap_url", "chunk_size")
    }


STAGE_SETTINGS = rassflow.chain.stage_settings(config)


def source_centre(wildcards):
    return region_centre(source_row(wildcards.src))


def source_neighbours(wildcards):
    """(ra, dec) of the other 2RXS sources near a source (cut out of its annulus)."""
    return source_row(wildcards.src)["neighbours"]
