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


def simulated(section):
    return config[section]["source"] == "simulated"


def sample_input():
    return f"{SIMULATED}/sample.csv" if simulated("sample") else config["sample"]["file"]


def rxs_input():
    return f"{SIMULATED}/rass2rxs.fits" if simulated("crossmatch") else config["crossmatch"]["file"]


def caldb_root():
    """CALDB root: caldb.root, then $CALDB (not for the demo), then the simulated CALDB."""
    return rassflow.caldb.resolve_root(
        config["caldb"]["root"], f"{SIMULATED}/caldb", config["archive"]["source"] == "simulated"
    )


def archive_root():
    if config["archive"]["source"] == "simulated":
        return f"{SIMULATED}/archive"
    return config["archive"]["root"]


@functools.lru_cache
def _read_sample(path, mtime):
    return rassflow.catalog.read_sample(path)


def sample_table():
    """The matched sample (after the checkpoint has run)."""
    path = checkpoints.match_sample.get().output.table
    return _read_sample(path, os.path.getmtime(path))


def source_row(src):
    table = sample_table()
    return table.loc[table["id_name"] == src].iloc[0]


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
        source_stem(row) + SUFFIX[key] for _, row in sample_table().iterrows()
    ]


def fit_results(wildcards):
    """Every source's fit JSON, or per skyfield the manifests that list them."""
    if config["granularity"] == "per_skyfield":
        return [FITS_MANIFEST.format(seq=seq) for seq in skyfields()]
    return per_source("fit")(wildcards)


def skyfield_sources(wildcards):
    """Region centre and product paths of every source of one skyfield (batched rules)."""
    table = sample_table()
    sources = []
    for _, row in table[table["seq_id"] == wildcards.seq].iterrows():
        ra, dec = region_centre(row)
        stem = source_stem(row)
        paths = {key: stem + suffix for key, suffix in SUFFIX.items()}
        sources.append({"id_name": row["id_name"], "ra": ra, "dec": dec, "paths": paths})
    return sources

def skyfields():
    return sorted(sample_table()["seq_id"].unique())


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
    return [f"{SIMULATED}/archive"] if config["archive"]["source"] == "simulated" else []


def caldb_index(wildcards):
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
