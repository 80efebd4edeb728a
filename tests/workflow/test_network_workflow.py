"""The workflow's network path end to end: real Snakemake runs against local servers.

A simulated survey is served as the services serve the real one: its star catalog as a
VizieR catalog over TLS, its 2RXS-like table on a TAP service, its skyfields in the
archive's directory layout and a CALDB tree. The servers are reached through configuration
only (plus REQUESTS_CA_BUNDLE for the throw-away CA). The results must equal those of the
offline run on the same survey; faults in the archive must cost only the skyfields hit.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from rassflow.archive.heasarc import ARCHIVE_PATH
from rassflow.config import validate
from rassflow.simulate.caldb import write_caldb
from rassflow.simulate.survey import simulate_survey
from tests.support.servers import FileTreeApp, HeasarcApp, LocalServer, VizierApp, tls_context

pytestmark = pytest.mark.slow

CATALOG = "J/A+A/577/A128"
RESULTS = "results/results/rass-spectral-results.csv"
# a small survey (5 stars, each with an X-ray source, in 3 skyfields), fitted per skyfield
SURVEY = {
    "results_dir": "results",
    "granularity": "per_skyfield",
    "simulation": {
        "seed": 1,
        "n_skyfields": 3,
        "n_stars": 5,
        "xray_fraction": 1.0,
        "n_unrelated_per_field": 0,
    },
    "images": {"binnings": [270]},
    "fit": {"flux_samples": 10},
    # a PSF description taken on trust: a calibrated survey PSF (the default) follows every
    # skyfield, so a skyfield that cannot be downloaded holds back every product until a
    # re-run fetches it (README, "Faults"); here the faults must cost only the skyfields hit
    "responses": {"psf": "psfoff"},
}
OFFLINE = {
    "sample": {"source": "simulated"},
    "crossmatch": {"source": "simulated"},
    "archive": {"source": "simulated"},
}


def vizier_table(sample_csv: Path) -> Table:
    """The simulated star catalog as VizieR serves a catalog: computed _RAJ2000/_DEJ2000 in
    degrees first, sexagesimal RAJ2000/DEJ2000 strings, no RAdeg/DEdeg."""
    stars = pd.read_csv(sample_csv)
    coords = SkyCoord(stars["RAdeg"].to_numpy() * u.deg, stars["DEdeg"].to_numpy() * u.deg)
    table = Table.from_pandas(stars.drop(columns=["RAdeg", "DEdeg"]))
    table.add_column(stars["RAdeg"].to_numpy(), name="_RAJ2000", index=0)
    table.add_column(stars["DEdeg"].to_numpy(), name="_DEJ2000", index=1)
    table.add_column(coords.ra.to_string(u.hour, sep=" ", precision=2), name="RAJ2000", index=4)
    table.add_column(
        coords.dec.to_string(sep=" ", precision=1, alwayssign=True), name="DEJ2000", index=5
    )
    return table


def archive_tree(survey_archive: Path, root: Path) -> Path:
    """The simulated skyfield directories moved into the HEASARC FTP layout under ``root``."""
    for directory in sorted(survey_archive.iterdir()):
        group = int(directory.name[2:8]) // 100000 * 100000
        target = root / "FTP" / ARCHIVE_PATH / str(group) / directory.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(directory, target)
    return root


def file_url_path(tree: Path, seq: str, kind: str) -> str:
    """URL path of a skyfield file in the served tree (whichever of .fits / .fits.Z it is)."""
    stem = seq.lower()
    (path,) = (tree / "FTP").rglob(f"{stem}/{stem}_{kind}.fits*")
    return "/" + path.relative_to(tree).as_posix()


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def fit_jsons(workdir: Path, sources) -> list[Path]:
    return [
        p for src in sources for p in (workdir / "results/fits").glob(f"*/*-name{src}-*-fit.json")
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, run_workflow):
    """An offline run, then a network run with archive faults (--keep-going), then a re-run."""
    base = tmp_path_factory.mktemp("network_workflow")
    offline_dir, network_dir = base / "offline", base / "network"
    offline_dir.mkdir()
    network_dir.mkdir()
    run_workflow(offline_dir, {**SURVEY, **OFFLINE}, RESULTS)
    sample = pd.read_csv(offline_dir / "results/sample/sample.csv")

    settings = validate({**SURVEY, **OFFLINE})["simulation"]
    survey = simulate_survey(base / "survey", settings)
    tree = archive_tree(survey["archive"], base / "served")
    write_caldb(base / "caldb")
    seqs = sorted(sample["seq_id"].unique())
    assert len(seqs) == 3, "the test survey should have matched sources in 3 skyfields"
    retried, cut, missing = seqs
    faulty = {
        "retried": file_url_path(tree, retried, "bas"),
        "cut": file_url_path(tree, cut, "im1"),
        "missing": file_url_path(tree, missing, "bas"),
    }

    context, ca_bundle = tls_context()
    env = {k: v for k, v in os.environ.items() if k != "CALDB"}
    env.update(REQUESTS_CA_BUNDLE=ca_bundle, NO_PROXY="127.0.0.1,localhost")
    vizier = VizierApp(
        CATALOG,
        {"mstars": vizier_table(survey["sample"]), "refs": Table({"Ref": ["a", "b"]})},
        sexagesimal=("RAJ2000", "DEJ2000"),
    )
    fields = pd.read_csv(survey["truth_fields"])  # the RASS field list, as rassmaster has it
    rassmaster = Table(
        {
            "seq_id": fields["seq_id"].to_numpy(str),
            "ra": fields["ra"].to_numpy(float),
            "dec": fields["dec"].to_numpy(float),
            "exposure": fields["exposure_max_s"].to_numpy(float),
        }
    )
    tap = HeasarcApp({"rass2rxs": Table.read(survey["rxs"]), "rassmaster": rassmaster})
    with (
        LocalServer(vizier, ssl_context=context) as vizier_server,
        LocalServer(tap) as tap_server,
        LocalServer(FileTreeApp(tree)) as archive,
        LocalServer(FileTreeApp(base / "caldb")) as caldb,
    ):
        network = {
            "sample": {
                "source": "vizier",
                "vizier": {"catalog": CATALOG, "table": 0, "server": vizier_server.host},
            },
            "crossmatch": {"source": "heasarc", "tap_url": f"{tap_server.url}/tap"},
            "archive": {
                "source": "heasarc",
                "host": "heasarc",
                "base_url": archive.url,
                "attempts": 3,
                "timeout_s": 10,
            },
            "caldb": {"url": caldb.url},
        }
        archive.faults.update(
            {faulty["retried"]: ["500"], faulty["cut"]: ["cut"] * 3, faulty["missing"]: ["404"]}
        )
        first = run_workflow(
            network_dir, {**SURVEY, **network}, "--keep-going", RESULTS, env=env, check=False
        )
        hits_first = dict(archive.hits)
        downloaded = {seq: listing(network_dir / "results/archive" / seq.lower()) for seq in seqs}
        fitted = {
            seq: fit_jsons(network_dir, sample.loc[sample["seq_id"] == seq, "id_name"])
            for seq in seqs
        }
        second = run_workflow(network_dir, {**SURVEY, **network}, RESULTS, env=env, check=False)
        hits_second = dict(archive.hits)
        services = {
            "vizier": vizier_server.hits["/viz-bin/votable"],
            "tap": tap_server.hits["/tap/sync"],
            "caldb": sum(caldb.hits.values()),
        }
    return SimpleNamespace(
        offline=offline_dir,
        network=network_dir,
        sample=sample,
        archive_url=archive.url,
        retried=retried,
        cut=cut,
        missing=missing,
        faulty=faulty,
        first=(first.returncode, first.stdout),
        second=(second.returncode, second.stdout),
        hits_first=hits_first,
        hits_second=hits_second,
        downloaded=downloaded,
        fitted=fitted,
        services=services,
    )


def test_faults_cost_only_the_skyfields_hit(runs):
    code, out = runs.first
    assert code != 0
    # the 404: a message naming the skyfield and the URL, no retries
    assert f"skyfield {runs.missing}" in out
    assert f"{runs.archive_url}{runs.faulty['missing']}: 404 Not Found" in out
    assert runs.hits_first[runs.faulty["missing"]] == 1
    # the 500 was retried and its skyfield's sources were fitted
    assert runs.hits_first[runs.faulty["retried"]] == 2
    n_sources = runs.sample["seq_id"].value_counts()
    assert len(runs.fitted[runs.retried]) == n_sources[runs.retried] > 0
    assert runs.fitted[runs.cut] == runs.fitted[runs.missing] == []
    # the cut transfer (3 attempts): no partial file, no temporary left
    assert runs.hits_first[runs.faulty["cut"]] == 3
    assert f"skyfield {runs.cut}" in out and "failed after 3 attempt(s)" in out
    cut_name = runs.faulty["cut"].rsplit("/", 1)[1]
    assert cut_name not in runs.downloaded[runs.cut]
    assert not [name for name in runs.downloaded[runs.cut] if name.startswith(".")]
    assert len(runs.downloaded[runs.cut]) == 2  # the other two files of that skyfield


def test_rerun_fetches_only_what_is_missing(runs):
    code, out = runs.second
    assert code == 0, out[-6000:]
    assert runs.hits_second[runs.faulty["cut"]] == 4
    assert runs.hits_second[runs.faulty["missing"]] == 2
    assert runs.hits_second[runs.faulty["retried"]] == 2  # kept from the first run
    # the sample, the match (and the RASS field list for the coverage) and the CALDB files
    # came once, in the first run
    assert runs.services["vizier"] == 1 and runs.services["tap"] == 2
    assert runs.services["caldb"] == 3  # index, RMF, SPECRESP file
    for seq in (runs.retried, runs.cut, runs.missing):
        record = runs.network / "results/archive" / f"{seq}-download.json"
        assert sorted(pd.read_json(record, typ="series")["files"]) == ["bas", "im1", "mex"]


def test_network_results_equal_offline_results(runs):
    assert runs.second[0] == 0, runs.second[1][-6000:]
    cached = pd.read_csv(runs.network / f"results/sample/vizier/{CATALOG.replace('/', '_')}-0.csv")
    assert {"_RAJ2000", "_DEJ2000", "Karmn"} <= set(cached.columns)
    assert not {"RAJ2000", "DEJ2000"} & set(cached.columns)  # sexagesimal, dropped
    offline = pd.read_csv(runs.offline / RESULTS)
    network = pd.read_csv(runs.network / RESULTS)
    # the simulated catalog's distances give the offline run L_X columns; the VizieR sample
    # names no distance column here
    distances = [
        c for c in offline.columns if c == "distance_pc" or c.endswith(("_lx", "_lx_lo", "_lx_hi"))
    ]
    assert distances and not set(distances) & set(network.columns)
    offline = offline.drop(columns=distances)
    assert len(offline) == len(runs.sample) > 0
    pd.testing.assert_frame_equal(network, offline)
    np.testing.assert_array_equal(
        pd.read_csv(runs.network / "results/sample/sample.csv")["seq_id"], runs.sample["seq_id"]
    )
