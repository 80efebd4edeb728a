"""What the benchmarks share: the workflow's batches rebuilt outside Snakemake, and timing.

batch_sources makes the sources of each skyfield's batch as workflow/rules/common.smk does
(members covered by the skyfield in the members table's order, region centres as
region_centre, neighbours from neighbours.csv, product paths as PRODUCT), so that a
benchmark can call rassflow.batch.make_skyfield_products / measure_skyfield on exactly the
files a workflow run makes.
"""

from __future__ import annotations

import copy
import csv
import os
import subprocess
import sys
import time

# the per-source products, as PRODUCT of workflow/rules/common.smk names them
NAME = "rosat-pspc-seqid{seq}-name{src}-ra{ra}-dec{dec}-radius{rad}deg"
SUFFIX = {
    "src": "-src.reg",
    "bkg": "-bkg.reg",
    "src_phys": "-src-physical.reg",
    "bkg_phys": "-bkg-physical.reg",
    "spectrum": "-enALL-spectrum.fits",
    "background": "-enALL-background.fits",
    "arf": "-enALL.arf",
    "grouped": "-enALL-grp.fits",
}


def merged(base: dict, update: dict) -> dict:
    """``update`` over ``base``, nested dicts merged, as Snakemake merges --configfile."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def timed(command, cwd, log, env=None) -> dict:
    """{wall_s, cpu_s, peak_rss_mb} of one command, its output in ``log``; exits if it
    fails. CPU is user+sys of the command and everything it waited for (os.wait4); the peak
    is wait4's ru_maxrss, which on Linux includes this process's own peak at the fork."""
    start = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.Popen(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code:
        sys.exit(f"{' '.join(map(str, command))} failed ({code}), see {log}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def region_centre(row: dict, centre: str) -> tuple[float, float]:
    """The centre of a source's regions (region_centre of workflow/rules/common.smk)."""
    if centre == "xray":
        return float(row["rasscat_ra"]), float(row["rasscat_dec"])
    if "ra_rass" in row:
        return float(row["ra_rass"]), float(row["dec_rass"])
    return float(row["ra"]), float(row["dec"])


def batch_sources(config: dict, workdir: str = ".") -> dict[str, list[dict]]:
    """{seq: the sources of its per_skyfield batch} of the run in ``workdir`` whose match
    checkpoint has run (a validated config), with paths relative to ``workdir`` as the
    run's jobs see them."""
    from rassflow.catalog.sample import read_sample, table_rows

    results = config["results_dir"]
    sample = f"{workdir}/{results}/sample"
    near = {}
    with open(f"{sample}/neighbours.csv") as handle:
        for entry in csv.DictReader(handle):
            near.setdefault(entry["id_name"], []).append((float(entry["ra"]), float(entry["dec"])))
    members = read_sample(f"{sample}/members.csv", ("id_name", "status"))
    rad = f"{config['regions']['source_radius_arcmin'] / 60.0:.4f}"
    by_seq: dict[str, list[dict]] = {}
    for row in table_rows(members[members["status"] == "covered"]):
        seq = row["seq_id"]
        ra, dec = region_centre(row, config["regions"]["centre"])
        name = NAME.format(seq=seq, src=row["id_name"], ra=f"{ra:.5f}", dec=f"{dec:.5f}", rad=rad)
        stem = f"{results}/sources/{seq}/{row['id_name']}/{name}"
        paths = {key: stem + suffix for key, suffix in SUFFIX.items()}
        paths["fit"] = f"{results}/fits/{seq}/{name}-fit.json"
        paths["photometry"] = f"{results}/fits/{seq}/{name}-photometry.json"
        by_seq.setdefault(seq, []).append(
            {
                "id_name": row["id_name"],
                "ra": ra,
                "dec": dec,
                "paths": paths,
                "neighbours": near.get(row["id_name"], []),
                "fit": bool(row["matched_2rxs"]),
            }
        )
    return {seq: by_seq[seq] for seq in sorted(by_seq)}
