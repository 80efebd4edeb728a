"""Benchmark: the sample path of a catalog-scale sample (reading, proper motions, 2RXS match,
coverage, members table), as the match_sample step runs it, library calls only.

Writes a synthetic sample of N stars uniform on the sky with proper motions (Parquet and,
with --csv, CSV), a 2RXS-like catalog of 135,000 sources (every 40th star has one within
5"), and a field list of the 1,378 RASS skyfields (Fibonacci lattice, 6.4 deg squares, as
HEASARC's rassmaster), then times each step and prints CPU and wall seconds.

    python benchmarks/sample_scale.py [--rows 1000000] [--csv]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RXS_SOURCES = 135_000  # 2RXS (Boller et al. 2016)
RASS_SKYFIELDS = 1378
SAMPLE = {
    "format": "auto",
    "id_column": "No",
    "name_column": "Name",
    "ra_column": "RAdeg",
    "dec_column": "DEdeg",
    "id_prefix": "S-",
}


def sky(rng, n):
    """(ra, dec) in deg, uniform on the sphere."""
    return rng.uniform(0.0, 360.0, n), np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))


def inputs(directory: Path, rows: int, csv: bool):
    rng = np.random.default_rng(1378)
    ra, dec = sky(rng, rows)
    sample = pd.DataFrame(
        {
            "No": np.arange(1, rows + 1),
            "Name": [f"Star {k}" for k in range(1, rows + 1)],
            "RAdeg": ra.round(7),
            "DEdeg": dec.round(7),
            "pmRA": rng.normal(0.0, 200.0, rows).round(2),  # mas/yr, with cos dec
            "pmDE": rng.normal(0.0, 200.0, rows).round(2),
        }
    )
    sample.to_parquet(directory / "sample.parquet")
    if csv:
        sample.to_csv(directory / "sample.csv", index=False)
    # 2RXS-like: a counterpart near every 40th star, the rest anywhere
    near = np.arange(0, rows, 40)[:RXS_SOURCES]
    offset = rng.normal(0.0, 3.0 / 3600.0, (2, len(near)))
    xra, xdec = sky(rng, RXS_SOURCES - len(near))
    rxs = pd.DataFrame(
        {
            "name": [f"2RXS J{k:06d}" for k in range(RXS_SOURCES)],
            "ra": np.concatenate([(ra[near] + offset[0]) % 360.0, xra]),
            "dec": np.concatenate([np.clip(dec[near] + offset[1], -90, 90), xdec]),
            "skyfield_number": 930001 + rng.integers(0, RASS_SKYFIELDS, RXS_SOURCES),
        }
    )
    index = np.arange(RASS_SKYFIELDS) + 0.5
    fields = pd.DataFrame(
        {
            "seq_id": [f"RS{930001 + k:06d}N00" for k in range(RASS_SKYFIELDS)],
            "ra": (137.50776405 * np.arange(RASS_SKYFIELDS)) % 360.0,
            "dec": np.degrees(np.arcsin(1.0 - 2.0 * index / RASS_SKYFIELDS)),
            "exposure": rng.uniform(100.0, 900.0, RASS_SKYFIELDS).round(1),
        }
    )
    return rxs, fields


class Timer:
    def __init__(self):
        self.rows = []

    def __call__(self, label, work):
        cpu, wall = time.process_time(), time.perf_counter()
        result = work()
        self.rows.append((label, time.process_time() - cpu, time.perf_counter() - wall))
        print(f"{label:<40} {self.rows[-1][1]:7.2f} CPU-s {self.rows[-1][2]:7.2f} s", flush=True)
        return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--csv", action="store_true", help="also time reading the CSV")
    args = parser.parse_args(argv)

    from rassflow.archive.coverage import field_list_coverage, members_table
    from rassflow.catalog.crossmatch import match_sample
    from rassflow.catalog.motion import with_rass_positions
    from rassflow.catalog.sample import prepare_sample, read_table
    from rassflow.config import validate

    settings = validate({})["crossmatch"]
    timer = Timer()
    with tempfile.TemporaryDirectory(prefix="rassflow-sample-") as tmp:
        tmp = Path(tmp)
        rxs, fields = inputs(tmp, args.rows, args.csv)
        print(f"{args.rows:,} sample rows, {len(rxs):,} 2RXS sources, {len(fields):,} fields")
        if args.csv:
            timer("read CSV", lambda: read_table(tmp / "sample.csv"))
        frame = timer("read Parquet", lambda: read_table(tmp / "sample.parquet"))
        stars = timer(
            "prepare (ids, positions)",
            lambda: prepare_sample(frame, *(SAMPLE[k] for k in list(SAMPLE)[1:]), "sample"),
        )
        stars = timer(
            "proper motions to the RASS epoch",
            lambda: with_rass_positions(stars, "pmRA", "pmDE", 2000.0),
        )
        matched, neighbours = timer(
            "2RXS match (KD-tree) and neighbours",
            lambda: match_sample(stars, settings, rxs, 300.0),
        )
        coverage = timer(
            "coverage (field list, KD-tree)",
            lambda: field_list_coverage(stars, fields, "ra_rass", "dec_rass"),
        )
        members = timer("members table", lambda: members_table(stars, matched, coverage))
    total_cpu = sum(cpu for _, cpu, _ in timer.rows)
    total_wall = sum(wall for _, _, wall in timer.rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    covered = int((members["status"] == "covered").sum())
    print(
        f"{len(matched):,} matched, {len(neighbours):,} neighbour rows, {covered:,} covered; "
        f"total {total_cpu:.1f} CPU-s, {total_wall:.1f} s; peak memory {peak:,.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
