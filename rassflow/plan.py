"""The plan of a run: where every file goes, which inputs a configuration chooses, and which
job analyses which sample member.

The workflow's rules/common.smk holds thin input functions over this module; benchmarks and
tests build the same plan from the same tables, so that nothing here is copied.

- :class:`Layout`: every path template of a run under its ``results_dir``; the per-source
  names follow the HEASARC notebook's
  (``rosat-pspc-seqid{seq}-name{src}-ra{ra}-dec{dec}-radius{rad}deg-enALL-spectrum.fits``).
- The inputs a configuration chooses: sample, 2RXS table, archive and CALDB roots
  (:func:`sample_input`, :func:`rxs_input`, :func:`archive_root`, :func:`caldb_root`, ...).
- :class:`Plan`: the match checkpoint's tables, indexed once, with every member's product
  paths, the batches (:func:`plan_batches`) and what each job declares.
"""

from __future__ import annotations

import csv
import functools
import os

# granularity: how the per-source stages are split into jobs (rassflow/schema.yaml)
BATCHED = ("auto", "per_skyfield")
PER_SOURCE = "per_source"

# the simulated star catalog's columns (rassflow.simulate.survey writes them)
SIMULATED_SAMPLE_COLUMNS = {
    "id_column": "No",
    "name_column": "Name",
    "ra_column": "RAdeg",
    "dec_column": "DEdeg",
}
SIMULATED_DISTANCE_COLUMN = "Dist"  # pc

NAME = "rosat-pspc-seqid{seq}-name{src}-ra{ra}-dec{dec}-radius{rad}deg"
# per-source products: key (as rassflow.chain.Source.paths has them) -> suffix of the name;
# regions, spectra and responses under sources/{seq}/{src}/, fits and photometry under fits/{seq}/
SOURCE_SUFFIX = {
    "src": "-src.reg",
    "bkg": "-bkg.reg",
    "src_phys": "-src-physical.reg",
    "bkg_phys": "-bkg-physical.reg",
    "spectrum": "-enALL-spectrum.fits",
    "background": "-enALL-background.fits",
    "arf": "-enALL.arf",
    "grouped": "-enALL-grp.fits",
}
MEASURE_SUFFIX = {"fit": "-fit.json"}
# what a batch job declares: a manifest per kind (its skyfields, sources and failures)
BATCH_KINDS = ("products", "fitted")


class Layout:
    """Every path template of a run under ``results_dir`` (wildcards in braces)."""

    def __init__(self, results_dir: str):
        r = self.results = str(results_dir)
        self.simulated = f"{r}/simulated"
        self.logs = f"{r}/logs"
        self.benchmarks = f"{r}/benchmarks"
        self.skyfield = f"{r}/skyfields/{{seq}}/{{seq}}"
        self.image = (
            f"{r}/skyfields/{{seq}}/images/"
            "rosat-pspc-seqid{seq}-en{lo}-{hi}keV-bin{binning}-image.fits"
        )
        self.sources_dir = f"{r}/sources/{{seq}}"
        self.fits_dir = f"{r}/fits/{{seq}}"
        self.stem = f"{self.sources_dir}/{{src}}/{NAME}"
        self.product = {key: self.stem + suffix for key, suffix in SOURCE_SUFFIX.items()}
        self.product.update(
            {key: f"{self.fits_dir}/{NAME}{suffix}" for key, suffix in MEASURE_SUFFIX.items()}
        )
        # log and benchmark names of per-source jobs (every wildcard of their outputs)
        self.source_tag = "{seq}/{src}-ra{ra}-dec{dec}-radius{rad}deg"
        # a batch's manifests, under its first skyfield: batches/{seq}/{batch}-{kind}.json
        self.batch = f"{r}/batches/{{seq}}/{{batch}}"
        self.batch_tag = "{seq}/{batch}"
        # forced photometry of every covered member, one table per photometry batch
        self.photometry_batch = f"{r}/photometry/{{seq}}/{{batch}}-photometry.fits"
        # the checkpoint's members and neighbours of each skyfield (what a photometry job reads)
        self.skyfield_members = f"{r}/sample/skyfields"
        self.members_of = f"{self.skyfield_members}/{{seq}}-members.csv"
        self.neighbours_of = f"{self.skyfield_members}/{{seq}}-neighbours.csv"
        self.rmf = f"{r}/caldb/pspcc_gain1_256.rmf"
        self.specresp = f"{r}/caldb/pspcc_v1.spec_resp"
        self.sample = f"{r}/sample/sample.csv"
        self.neighbours = f"{r}/sample/neighbours.csv"
        self.members = f"{r}/sample/members.csv"
        # the survey PSF measured on the run's sources (rassflow.calibration.psf_stack)
        self.psf_calibration = f"{r}/calibration/psf-calibration.json"
        self.photometry_csv = f"{r}/results/rass-photometry.csv"
        self.photometry_fits = f"{r}/results/rass-photometry.fits"
        self.results_csv = f"{r}/results/rass-spectral-results.csv"
        self.results_fits = f"{r}/results/rass-spectral-results.fits"
        self.figures = f"{r}/figures"

    def batch_output(self, kind: str, seq: str, tag: str) -> str:
        """The manifest a batch declares (``kind`` products or fitted)."""
        return f"{self.batch}-{kind}.json".format(seq=seq, batch=tag)

    def skyfield_download(self, seq: str) -> str:
        """Record of a skyfield's downloaded files; the files sit in archive/rsNNNNNNn00/."""
        return f"{self.results}/archive/{seq}-download.json"

    def source_paths(self, wildcards: dict) -> dict:
        """Every per-source path of one source, by key, from its wildcards (:func:`source_wildcards`)."""
        return {key: template.format(**wildcards) for key, template in self.product.items()}


# --- per-source names -------------------------------------------------------------------


def radius_deg(config: dict) -> str:
    """The source circle's radius as the file names write it (deg, 4 decimals)."""
    return f"{config['regions']['source_radius_arcmin'] / 60.0:.4f}"


def region_centre(row: dict, centre: str) -> tuple[float, float]:
    """(ra, dec) in deg of a source's regions: the 2RXS position (``centre`` xray, for a
    member matched with 2RXS), else the member's position at the skyfield's epoch (proper
    motions applied) or as catalogued."""
    if centre == "xray" and _known(row.get("rasscat_ra")):
        return float(row["rasscat_ra"]), float(row["rasscat_dec"])
    if "ra_rass" in row:
        return float(row["ra_rass"]), float(row["dec_rass"])
    return float(row["ra"]), float(row["dec"])


def _known(value) -> bool:
    return value is not None and value == value and value != ""  # not None, NaN or empty


def psf_calibrators(rows, centre: str) -> dict:
    """{seq_id: [[id_name, ra, dec], ...]}: the region centres (:func:`region_centre`) of
    the matched sources without a catalogued neighbour, the candidates that
    :func:`rassflow.calibration.psf_stack.calibrate` stacks. ``rows``: dicts with
    ``id_name``, ``seq_id``, ``neighbours`` and the position columns."""
    out: dict[str, list] = {}
    for row in rows:
        if not row["neighbours"]:
            ra, dec = region_centre(row, centre)
            out.setdefault(str(row["seq_id"]), []).append([str(row["id_name"]), ra, dec])
    return dict(sorted(out.items()))


def region_centres(members, matched, centre: str):
    """(ra, dec) arrays of the region centres of a members table (pandas), as
    :func:`region_centre` gives them row by row; ``matched``: the sample table (rasscat_*)."""
    import numpy as np

    if "ra_rass" in members.columns:
        ra, dec = members["ra_rass"].to_numpy(float), members["dec_rass"].to_numpy(float)
    else:
        ra, dec = members["ra"].to_numpy(float), members["dec"].to_numpy(float)
    if centre == "xray" and len(matched):
        xray = matched.set_index("id_name")[["rasscat_ra", "rasscat_dec"]]
        found = members["id_name"].map(xray["rasscat_ra"]).to_numpy(float)
        use = np.isfinite(found)
        ra = np.where(use, found, ra)
        dec = np.where(use, members["id_name"].map(xray["rasscat_dec"]).to_numpy(float), dec)
    return ra, dec


def write_skyfield_members(members, matched, neighbours, centre: str, directory) -> list[str]:
    """The checkpoint's members and neighbours split by skyfield, for the photometry jobs
    (which must not read the whole sample): ``{seq}-members.csv`` (id_name and the region
    centre ra, dec in deg, in the members table's order) and ``{seq}-neighbours.csv``
    (id_name, ra, dec of each catalogued 2RXS neighbour of those members), for every
    skyfield that covers a member. Returns the skyfields."""
    from pathlib import Path

    import pandas as pd

    from rassflow.catalog.sample import write_sample

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    covered = members[members["status"] == "covered"]
    ra, dec = region_centres(covered, matched, centre)
    centres = pd.DataFrame(
        {"id_name": covered["id_name"].to_numpy(), "ra": ra, "dec": dec},
        index=covered.index,
    )
    seq_of = dict(zip(covered["id_name"], covered["seq_id"], strict=True))
    near = neighbours[["id_name", "ra", "dec"]].copy()
    near["seq_id"] = near["id_name"].map(seq_of)
    near_by_seq = dict(tuple(near.dropna(subset=["seq_id"]).groupby("seq_id", sort=False)))
    seqs = []
    for seq, rows in centres.groupby(covered["seq_id"].to_numpy(), sort=True):
        seqs.append(str(seq))
        write_sample(rows, directory / f"{seq}-members.csv")
        found = near_by_seq.get(seq, near.iloc[:0])
        write_sample(found[["id_name", "ra", "dec"]], directory / f"{seq}-neighbours.csv")
    return seqs


def source_wildcards(row: dict, config: dict) -> dict:
    """The wildcards of one member's product names (a members row)."""
    ra, dec = region_centre(row, config["regions"]["centre"])
    return {
        "src": row["id_name"],
        "seq": row["seq_id"],
        "ra": f"{ra:.5f}",
        "dec": f"{dec:.5f}",
        "rad": radius_deg(config),
    }


# --- the inputs a configuration chooses ---------------------------------------------------


def vizier_sample(config: dict, layout: Layout) -> str:
    """Cache of the VizieR table, named by catalog and table (a changed catalog is a new file)."""
    from rassflow.catalog.sample import clean_id

    vizier = config["sample"]["vizier"]
    name = clean_id("", f"{vizier['catalog']}-{vizier['table']}")
    return f"{layout.results}/sample/vizier/{name}.csv"


def sample_input(config: dict, layout: Layout) -> str:
    """The sample table the match reads: VizieR's cache, the simulated catalog or a file."""
    source = config["sample"]["source"]
    if source == "vizier":
        return vizier_sample(config, layout)
    return f"{layout.simulated}/sample.csv" if source == "simulated" else config["sample"]["file"]


def rxs_input(config: dict, layout: Layout) -> list | str:
    """The local 2RXS table, or [] when the match runs on HEASARC's TAP service."""
    source = config["crossmatch"]["source"]
    if source == "heasarc":
        return []
    if source == "simulated":
        return f"{layout.simulated}/rass2rxs.fits"
    return config["crossmatch"]["file"]


def sample_settings(config: dict) -> dict:
    """The sample section as the match reads it: the simulated catalog has its own column
    names, and a format applies only to a local file."""
    settings = dict(config["sample"])
    if settings["source"] == "simulated":
        settings.update(SIMULATED_SAMPLE_COLUMNS)
    if settings["source"] != "file":
        settings["format"] = "auto"
    return settings


def matching_settings(config: dict) -> dict:
    """crossmatch settings that decide the match (not the service's URL or request size)."""
    return {k: v for k, v in config["crossmatch"].items() if k not in ("tap_url", "chunk_size")}


def neighbour_radius_arcsec(config: dict) -> float:
    """How far (arcsec) from a source a 2RXS source can reach into its background annulus:
    the annulus's outer radius plus the exclusion circle's; 0 when nothing is excluded."""
    from rassflow.products.regions import neighbour_reach_arcmin

    return 60.0 * neighbour_reach_arcmin(config["regions"])


def distance_columns(config: dict) -> dict:
    """{parallax_column, distance_column} of the sample for L_X; the simulated catalog has
    its distances in pc."""
    sample = config["sample"]
    if sample["source"] == "simulated" and not (
        sample["parallax_column"] or sample["distance_column"]
    ):
        return {"parallax_column": None, "distance_column": SIMULATED_DISTANCE_COLUMN}
    return {
        "parallax_column": sample["parallax_column"],
        "distance_column": sample["distance_column"],
    }


def archive_root(config: dict, layout: Layout) -> str:
    """Where the skyfields' archive files are: simulated, downloaded, or a local mirror."""
    source = config["archive"]["source"]
    if source == "simulated":
        return f"{layout.simulated}/archive"
    return f"{layout.results}/archive" if source == "heasarc" else config["archive"]["root"]


def caldb_remote(config: dict, environ=os.environ) -> bool:
    """The responses come from the remote CALDB: no caldb.root, no $CALDB, a real archive."""
    return (
        config["caldb"]["root"] is None
        and not environ.get("CALDB")
        and config["archive"]["source"] != "simulated"
    )


def caldb_root(config: dict, layout: Layout, environ=os.environ) -> str | None:
    """Local CALDB root: caldb.root, then $CALDB (not for the demo), then the simulated
    CALDB; None when the responses come from the remote CALDB at caldb.url."""
    from rassflow.calibration.caldb import resolve_root

    if caldb_remote(config, environ):
        return None
    return resolve_root(
        config["caldb"]["root"],
        f"{layout.simulated}/caldb",
        config["archive"]["source"] == "simulated",
    )


def forced_settings(config: dict) -> dict:
    """The settings of rassflow.photometry.forced from the validated config: the ``regions``
    and ``photometry`` sections, the flux bands, the ARF method and PSF correction (here, so
    that starting the workflow does not import the photometry)."""
    from rassflow.calibration.psf import FIXED_PSF

    return {
        "regions": config["regions"],
        "photometry": config["photometry"],
        "bands_keV": config["fit"]["flux_bands_keV"],
        "arf_method": config["responses"]["arf_method"],
        "psf_correction": config["responses"]["psf_correction"],
        # a described PSF; a calibrated one is read by the jobs (rassflow.calibration.psf_stack)
        "psf": FIXED_PSF.get(config["responses"]["psf"]),
    }


# --- batches -------------------------------------------------------------------------------

BATCH_JOBS_ENV = "RASSFLOW_BATCH_JOBS"


def batch_jobs_once(jobs) -> int:
    """How many batch jobs run at once (--cores, or --jobs on a cluster), fixed once per
    run: exported to the environment, so that jobs, which re-read the Snakefile on cluster
    nodes with their own --cores, see the same batches as the run that planned them."""
    exported = os.environ.get(BATCH_JOBS_ENV)
    if exported:
        return int(exported)
    jobs = jobs if isinstance(jobs, int) and 0 < jobs < 100_000 else 1
    os.environ[BATCH_JOBS_ENV] = str(jobs)
    return jobs


# how many batches granularity auto aims at per job slot (for load balance), and the
# fewest sources a batch of several small skyfields gathers before it closes (a job starts
# in 0.7-1.6 s, which a batch should spend on more than one or two sources)
BATCHES_PER_JOB = 4
MERGE_SOURCES = 25


def plan_batches(by_seq: dict, batch_jobs: int) -> list[tuple[str, str, list]]:
    """The batches of granularity auto: [(seq, tag, rows)], rows the members of ``by_seq``
    ({skyfield: rows}, each skyfield's rows in order) that the batch runs, in skyfield
    order; ``seq`` is the batch's first skyfield and ``tag`` its name.

    - A skyfield with more than 1/``batch_jobs`` of all sources is cut into that many
      consecutive slices (tag ``{seq}-part{k}of{n}``), so that all cores work on a sample
      in few skyfields.
    - Consecutive small skyfields are gathered until a batch holds at least
      min(total / (BATCHES_PER_JOB x batch_jobs), MERGE_SOURCES) sources (and at most the
      slice size), tag ``{first}-to-{last}``; a skyfield alone is ``{seq}-part1of1``.
    """
    total = sum(len(rows) for rows in by_seq.values())
    jobs = max(1, batch_jobs)
    most = max(1, -(-total // jobs))  # sources per batch, at most
    least = max(1, min(most, MERGE_SOURCES, -(-total // (BATCHES_PER_JOB * jobs))))
    batches, group = [], []  # group: the small skyfields gathered so far

    def close():
        if group:
            first, last = group[0], group[-1]
            tag = f"{first}-part1of1" if first == last else f"{first}-to-{last}"
            batches.append((first, tag, [row for seq in group for row in by_seq[seq]]))
            group.clear()

    def gathered():
        return sum(len(by_seq[seq]) for seq in group)

    for seq in sorted(by_seq):
        rows = by_seq[seq]
        if len(rows) >= least:
            close()
            parts = -(-len(rows) // most)
            for part in range(1, parts + 1):
                piece = rows[(part - 1) * len(rows) // parts : part * len(rows) // parts]
                batches.append((seq, f"{seq}-part{part}of{parts}", piece))
            continue
        if gathered() + len(rows) > most:
            close()
        group.append(seq)
        if gathered() >= least:
            close()
    close()
    return batches


def skyfield_batches(by_seq: dict) -> list[tuple[str, str, list]]:
    """The batches of granularity per_skyfield: one per skyfield, tag ``{seq}-part1of1``."""
    return [(seq, f"{seq}-part1of1", by_seq[seq]) for seq in sorted(by_seq)]


# --- the plan of the per-source stages -----------------------------------------------------


def _slices(rows) -> dict:
    """{skyfield: (start, stop)} of a batch's (skyfield, index) rows."""
    out: dict = {}
    for seq, index in rows:
        start, stop = out.get(seq, (index, index))
        out[seq] = (min(start, index), max(stop, index + 1))
    return out


def read_neighbours(path) -> dict[str, list[tuple[float, float]]]:
    """{id_name: [(ra, dec) of each catalogued 2RXS neighbour]} from neighbours.csv."""
    near: dict[str, list] = {}
    with open(path) as handle:
        for entry in csv.DictReader(handle):
            near.setdefault(entry["id_name"], []).append((float(entry["ra"]), float(entry["dec"])))
    return near


class Plan:
    """The match checkpoint's tables, indexed once, and every per-source path, made once.

    ``matched``: the sample rows matched with 2RXS (sample.csv), in sample order;
    ``by_id`` / ``by_seq``: the members the per-source chain runs for (those with a
    spectral fit; every covered member with ``photometry.products: all``) by id and by
    skyfield, each with its ``neighbours`` (and its 2RXS position when matched);
    ``batches``: {(seq, tag): rows} of those members in the batched granularities (empty
    for per_source); ``photometry_batches``: {(seq, tag): {skyfield: (start, stop)}}, the
    slices of each skyfield's covered members (in the members table's order) that each
    forced-photometry job measures. Members without per-source products are counted per
    skyfield, never held row by row, so that a sample of 10^6 members plans in seconds.
    """

    def __init__(self, config: dict, matched: list, chain: list, near: dict, covered: dict,
                 batch_jobs=1):  # fmt: skip
        self.config = config
        self.layout = Layout(config["results_dir"])
        self.granularity = config["granularity"]
        self.batch_jobs = batch_jobs
        self.matched = matched
        xray = {row["id_name"]: row for row in matched}
        self.by_id, self.by_seq = {}, {}
        for row in chain:
            row["neighbours"] = near.get(row["id_name"], [])
            twin = xray.get(row["id_name"])
            if twin is not None and "rasscat_ra" in twin:
                row["rasscat_ra"], row["rasscat_dec"] = twin["rasscat_ra"], twin["rasscat_dec"]
            self.by_id[row["id_name"]] = row
            self.by_seq.setdefault(row["seq_id"], []).append(row)
        self.covered = dict(sorted(covered.items()))  # {seq: covered members}
        self.batches = {(seq, tag): rows for seq, tag, rows in self._plan(self.by_seq, PER_SOURCE)}
        slots = {seq: [(seq, i) for i in range(n)] for seq, n in self.covered.items()}
        self.photometry_batches = {
            (seq, tag): _slices(rows) for seq, tag, rows in self._plan(slots, None)
        }
        self._paths: dict = {}

    def _plan(self, by_seq, skip):
        if self.granularity == skip:
            return []
        if self.granularity == "per_skyfield":
            return skyfield_batches(by_seq)
        return plan_batches(by_seq, self.batch_jobs)

    @classmethod
    def from_tables(cls, config: dict, sample, members, neighbours, batch_jobs=1) -> Plan:
        """The plan from the checkpoint's sample.csv, members.csv and neighbours.csv."""
        from rassflow.catalog.sample import read_sample, table_rows

        table = read_sample(members, ("id_name", "status", "seq_id", "matched_2rxs"))
        covered = table[table["status"] == "covered"]
        matched = covered["matched_2rxs"].astype(str).str.lower() == "true"
        chain = covered if config["photometry"]["products"] == "all" else covered[matched]
        rows = table_rows(chain)
        for row in rows:
            row["matched_2rxs"] = str(row["matched_2rxs"]).lower() == "true"
        return cls(
            config,
            table_rows(read_sample(sample)),
            rows,
            read_neighbours(neighbours),
            covered.groupby("seq_id", sort=True).size().to_dict(),
            batch_jobs,
        )

    # -- paths --

    def paths(self, row: dict) -> dict:
        """{key: path} of one member's products (a members row)."""
        src = row["id_name"]
        if src not in self._paths:
            self._paths[src] = self.layout.source_paths(source_wildcards(row, self.config))
        return self._paths[src]

    def matched_rows(self) -> list:
        """The members rows of the sources matched with 2RXS, in sample order."""
        return [self.by_id[row["id_name"]] for row in self.matched]

    @functools.cache  # noqa: B019 - one plan per run, kept for the run
    def path_list(self, key: str, which: str) -> list:
        """The ``key`` path of the matched sources (``which`` "matched") or of every member
        analysed ("analysed"), in sample order."""
        rows = self.matched_rows() if which == "matched" else self.by_id.values()
        return [self.paths(row)[key] for row in rows]

    def skyfields(self) -> list:
        return sorted(self.by_seq)

    @functools.cached_property
    def psf_calibrators(self) -> dict:
        """{seq: [[id_name, ra, dec], ...]}: the region centres of the matched sources
        without a catalogued neighbour, the candidates that calibrate the survey PSF
        (:func:`rassflow.calibration.psf_stack.calibrate`)."""
        return psf_calibrators(self.matched_rows(), self.config["regions"]["centre"])

    # -- jobs --

    @functools.cached_property
    def _batch_of(self) -> dict:
        return {row["id_name"]: batch for batch, rows in self.batches.items() for row in rows}

    def declared(self, key: str, rows) -> list:
        """What the jobs that write the ``key`` files (Layout.product's keys) of these
        members rows declare: the files themselves (per_source), or the manifests of the
        batches that write them (fitted for the fits, else products)."""
        if self.granularity == PER_SOURCE:
            return [self.paths(row)[key] for row in rows]
        kind = "fitted" if key in MEASURE_SUFFIX else "products"
        batches = {self._batch_of[row["id_name"]] for row in rows}
        return sorted(self.layout.batch_output(kind, *batch) for batch in batches)

    @functools.cache  # noqa: B019
    def batch_outputs(self, kind: str) -> list:
        """The manifest of ``kind`` of every batch."""
        return [self.layout.batch_output(kind, *batch) for batch in self.batches]

    @functools.cache  # noqa: B019
    def batch_sources(self, seq: str, tag: str) -> list[dict]:
        """Region centre, skyfield, product paths and neighbours of every source of a batch,
        as rassflow.batch takes them."""
        centre = self.config["regions"]["centre"]
        sources = []
        for row in self.batches[seq, tag]:
            ra, dec = region_centre(row, centre)
            sources.append(
                {
                    "id_name": row["id_name"],
                    "seq": row["seq_id"],
                    "ra": ra,
                    "dec": dec,
                    "paths": self.paths(row),
                    "neighbours": row["neighbours"],
                    "fit": bool(row["matched_2rxs"]),  # spectral fits for 2RXS sources only
                }
            )
        return sources

    @functools.cache  # noqa: B019
    def batch_skyfield_files(self, seq: str, tag: str) -> dict:
        """{events: [...], expmap: [...]}: the files of the skyfields whose sources a batch
        runs, in the order of its sources."""
        seqs = dict.fromkeys(row["seq_id"] for row in self.batches[seq, tag])
        skyfield = self.layout.skyfield
        return {
            "events": [f"{skyfield}_bas.fits".format(seq=s) for s in seqs],
            "expmap": [f"{skyfield}_mex.fits".format(seq=s) for s in seqs],
        }

    # -- forced photometry of every covered member --

    def photometry_outputs(self) -> list:
        """The table of every photometry batch, in batch order."""
        return [
            self.layout.photometry_batch.format(seq=seq, batch=tag)
            for seq, tag in self.photometry_batches
        ]

    def photometry_files(self, seq: str, tag: str) -> dict:
        """{events, expmap, members, neighbours}: lists of the files of a photometry batch's
        skyfields, in its order (the members and neighbours as the checkpoint split them)."""
        seqs = list(self.photometry_batches[seq, tag])
        layout = self.layout
        return {
            "events": [f"{layout.skyfield}_bas.fits".format(seq=s) for s in seqs],
            "expmap": [f"{layout.skyfield}_mex.fits".format(seq=s) for s in seqs],
            "members": [layout.members_of.format(seq=s) for s in seqs],
            "neighbours": [layout.neighbours_of.format(seq=s) for s in seqs],
        }

    def photometry_slices(self, seq: str, tag: str) -> list:
        """[[skyfield, start, stop]]: the rows of each skyfield's members file a photometry
        batch measures, in its order."""
        return [[s, *span] for s, span in self.photometry_batches[seq, tag].items()]
