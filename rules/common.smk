# Paths, wildcard constraints and input functions: the one place file names are built.

import functools
import os

import rassflow.caldb
import rassflow.catalog

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


# Per-source products follow the notebook's names, e.g.
# rosat-pspc-seqidRS930204N00-nameCARMENES-2-ra12.34567-dec-4.56789-radius0.0333deg-enALL-spectrum.fits
SOURCE_DIR = f"{R}/sources/{{src}}"
STEM = f"{SOURCE_DIR}/rosat-pspc-seqid{{seq}}-name{{src}}-ra{{ra}}-dec{{dec}}-radius{{rad}}deg"
# log and benchmark names of per-source jobs (they need every wildcard of the outputs)
SOURCE_TAG = "{src}/seqid{seq}-ra{ra}-dec{dec}-radius{rad}deg"
SKYFIELD = f"{R}/skyfields/{{seq}}/{{seq}}"
IMAGE = (
    f"{R}/skyfields/{{seq}}/images/rosat-pspc-seqid{{seq}}-en{{lo}}-{{hi}}keV-bin{{binning}}-image.fits"
)
# per-source products: key -> suffix after STEM (one table for per-source and batched rules)
SUFFIX = {
    "src": "-src.reg",
    "bkg": "-bkg.reg",
    "src_phys": "-src-physical.reg",
    "bkg_phys": "-bkg-physical.reg",
    "spectrum": "-enALL-spectrum.fits",
    "background": "-enALL-background.fits",
    "arf": "-enALL.arf",
    "grouped": "-enALL-grp.fits",
    "fit": "-fit.json",
}
SPECTRA_MANIFEST = f"{R}/skyfields/{{seq}}/{{seq}}-spectra-manifest.json"
FITS_MANIFEST = f"{R}/skyfields/{{seq}}/{{seq}}-fits-manifest.json"
RMF = f"{R}/caldb/pspcc_gain1_256.rmf"
SPECRESP = f"{R}/caldb/pspcc_v1.spec_resp"
SAMPLE = f"{R}/sample/sample.csv"
RESULTS_CSV = f"{R}/results/rass-spectral-results.csv"
RESULTS_FITS = f"{R}/results/rass-spectral-results.fits"
FIGURES = f"{R}/figures"


def provenance(tool, *sections):
    """Provenance stamped into products: backend, tool, and a hash of the config they use."""
    return {
        "backend": config["tools"]["products"],
        "tool": tool,
        "config_hash": rassflow.config.section_hash(config, *sections),
    }


def radius_deg():
    return f"{config['regions']['source_radius_arcmin'] / 60.0:.4f}"


def sample_input():
    source = config["sample"]["source"]
    if source == "vizier":
        return vizier_sample()
    return f"{SIMULATED}/sample.csv" if source == "simulated" else config["sample"]["file"]


def rxs_input():
    source = config["crossmatch"]["source"]
    if source == "heasarc":
        return []  # the 2RXS table stays on the TAP service
    return f"{SIMULATED}/rass2rxs.fits" if source == "simulated" else config["crossmatch"]["file"]


def caldb_root():
    """Local CALDB root: caldb.root, then $CALDB (not for the demo), then the simulated CALDB;
    None when the responses come from the remote CALDB at caldb.url."""
    if caldb_remote():
        return None
    return rassflow.caldb.resolve_root(
        config["caldb"]["root"], f"{SIMULATED}/caldb", config["archive"]["source"] == "simulated"
    )


def archive_root():
    source = config["archive"]["source"]
    if source == "simulated":
        return f"{SIMULATED}/archive"
    return f"{R}/archive" if source == "heasarc" else config["archive"]["root"]


@functools.lru_cache(maxsize=2)
def _read_sample(path, mtime):
    table = rassflow.catalog.read_sample(path)
    # indexes built once: input functions run once per job, for up to ~10^5 sources
    records = table.to_dict("records")
    by_id = {row["id_name"]: row for row in records}
    by_seq = {}
    for row in records:
        by_seq.setdefault(row["seq_id"], []).append(row)
    return records, by_id, by_seq


def _sample():
    path = checkpoints.match_sample.get().output.table
    return _read_sample(path, os.path.getmtime(path))


def sample_rows():
    """The matched sample's rows as dicts (after the checkpoint has run)."""
    return _sample()[0]


def source_row(src):
    return _sample()[1][src]


def region_centre(row):
    if config["regions"]["centre"] == "xray":
        return float(row["rasscat_ra"]), float(row["rasscat_dec"])
    return float(row["ra"]), float(row["dec"])


def source_stem(row):
    ra, dec = region_centre(row)
    return STEM.format(src=row["id_name"], seq=row["seq_id"], ra=f"{ra:.5f}", dec=f"{dec:.5f}",
                       rad=radius_deg())


def per_source(key):
    """Input function: one file per matched source."""
    return lambda wildcards: [
        source_stem(row) + SUFFIX[key] for row in sample_rows()
    ]


def fit_results(wildcards):
    """Every source's fit JSON, or per skyfield the manifests that list them."""
    if config["granularity"] == "per_skyfield":
        return [FITS_MANIFEST.format(seq=seq) for seq in skyfields()]
    return per_source("fit")(wildcards)


def skyfield_sources(wildcards):
    """Region centre and product paths of every source of one skyfield (batched rules)."""
    sources = []
    for row in _sample()[2][wildcards.seq]:
        ra, dec = region_centre(row)
        stem = source_stem(row)
        paths = {key: stem + suffix for key, suffix in SUFFIX.items()}
        sources.append({"id_name": row["id_name"], "ra": ra, "dec": dec, "paths": paths})
    return sources


def skyfields():
    return sorted(_sample()[2])


def image_paths(seq):
    return {
        (lo, hi, b): IMAGE.format(seq=seq, lo=lo, hi=hi, binning=b)
        for lo, hi in config["images"]["bands_keV"]
        for b in config["images"]["binnings"]
    }


def all_targets(wildcards):
    return [RESULTS_CSV, RESULTS_FITS] + report_targets()


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
        return f"{SIMULATED}/caldb/data/rosat/pspc/caldb.indx"
    return []


def report_targets():
    return [
        f"{FIGURES}/cutouts.png",
        f"{FIGURES}/skyfield-images.png",
        f"{FIGURES}/parameter-histograms.png",
        f"{FIGURES}/spectra",
    ]


# Conda environments of the rules that run HEASoft tasks (products) or PyXspec (fits),
# chosen by the backends resolved at start.
PRODUCTS_ENV = (
    "../envs/heasoft.yaml" if config["tools"]["products"] == "heasoft" else "../envs/python.yaml"
)
FIT_ENV = "../envs/heasoft.yaml" if config["tools"]["fitter"] == "xspec" else "../envs/python.yaml"


# --- network sources: VizieR sample, HEASARC TAP cross-match, archive and CALDB downloads ---


def vizier_sample():
    """Cache of the VizieR table, named by catalog and table (a changed catalog is a new file)."""
    vizier = config["sample"]["vizier"]
    name = rassflow.catalog.clean_id("", f"{vizier['catalog']}-{vizier['table']}")
    return f"{R}/sample/vizier/{name}.csv"


def sample_settings():
    """sample settings as the matching reads them: the simulated star catalog has its own
    column names, and a format applies only to a local file."""
    settings = dict(config["sample"])
    if settings["source"] == "simulated":
        settings.update(id_column="No", name_column="Name", ra_column="RAdeg", dec_column="DEdeg")
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


def matching_settings():
    """crossmatch settings that decide the match (not the service's URL or request size)."""
    return {k: v for k, v in config["crossmatch"].items() if k not in ("tap_url", "chunk_size")}
