"""Benchmark: the run's photometry table (rassflow.report.photometry) of a catalog-scale
sample, from its photometry batch tables, as the make_photometry_table step runs it.

Writes a members table of N members (ids in shuffled order; 5 % outside the survey, the
rest in 1,378 skyfields, a parallax for 90 %) and batch tables of --batch rows each
(rassflow.photometry.forced.write_table of synthetic values: 2 % failed, 1 % of the covered
members in no table), then builds and writes the CSV + FITS table in a child process and
prints its wall and CPU seconds and peak memory.

    python benchmarks/photometry_table.py [--rows 1000000] [--batch 20000]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

RASS_SKYFIELDS = 1378
BANDS = [(0.5, 2.0), (0.1, 2.4)]  # config/config.yaml fit.flux_bands_keV
SETTINGS = {
    "broad_band_pi": [11, 235],
    "bands_keV": [list(b) for b in BANDS],
    "confidence": 68.27,
    "upper_limit_confidence": 99.73,
    "detection_threshold_sigma": 3.0,
    "ecf_model": "powerlaw",
    "ecf_shape": 2.0,
}


def members_table(directory: Path, rows: int, rng) -> pd.DataFrame:
    ids = np.array([f"S-{k}" for k in range(1, rows + 1)], dtype=object)[rng.permutation(rows)]
    covered = rng.random(rows) >= 0.05
    seq = np.array([f"RS{930001 + k:06d}N00" for k in range(RASS_SKYFIELDS)], dtype=object)
    members = pd.DataFrame(
        {
            "id_name": ids,
            "name": [f"Star {k}" for k in range(rows)],
            "ra": rng.uniform(0.0, 360.0, rows).round(7),
            "dec": np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, rows))).round(7),
            "seq_id": np.where(covered, seq[rng.integers(0, RASS_SKYFIELDS, rows)], ""),
            "matched_2rxs": rng.random(rows) < 0.03,
            "status": np.where(covered, "covered", "not_covered"),
            "plx": np.where(rng.random(rows) < 0.9, rng.uniform(10.0, 200.0, rows), np.nan),
        }
    )
    members["ra_rass"] = members["ra"]
    members["dec_rass"] = members["dec"]
    members.to_csv(directory / "members.csv", index=False)
    return members


def batch_tables(directory: Path, members: pd.DataFrame, size: int, rng) -> list[Path]:
    """Synthetic batch tables of the covered members (skyfield by skyfield, as the plan
    cuts them), with the columns, units and settings of forced photometry."""
    from astropy.table import MaskedColumn, Table

    from rassflow.photometry.forced import COUNT_COLUMNS, TABLE_UNITS, table_columns, write_table

    covered = members[members["status"] == "covered"].sort_values("seq_id", kind="stable")
    covered = covered[rng.random(len(covered)) >= 0.01]  # in no table: failed
    paths = []
    for number, start in enumerate(range(0, len(covered), size)):
        part = covered.iloc[start : start + size]
        n = len(part)
        ok = rng.random(n) >= 0.02
        rate = rng.lognormal(-4.0, 1.5, n)  # counts/s
        table = Table()
        for name in table_columns(BANDS):
            if name == "id_name":
                values = part["id_name"].to_numpy(str)
            elif name in COUNT_COLUMNS:
                values = MaskedColumn(rng.poisson(20.0, n).astype(np.int64), mask=~ok)
            elif name in ("psf_corrected", "detected"):
                values = (rng.random(n) < 0.3) if name == "detected" else np.ones(n, bool)
            elif name == "arf_method":
                values = np.full(n, "onaxis")
            elif name == "status":
                values = np.where(ok, "ok", "failed")
            elif name == "reason":
                values = np.where(ok, "", "extract_spectra: src region lies outside the skyfield")
            elif name.startswith(("flux_", "ecf_")):
                values = np.where(ok, rate * 1e-11 * rng.uniform(0.5, 2.0, n), np.nan)
            else:
                values = np.where(ok, rate * rng.uniform(0.5, 2.0, n), np.nan)
            table[name] = values
            table[name].unit = TABLE_UNITS.get(name)
        table.add_column(part["seq_id"].to_numpy(str), name="seq_id", index=1)
        table.meta.update(SETTINGS)
        path = directory / f"photometry-batch{number:04d}.fits"
        write_table(table, path)
        paths.append(path)
    return paths


def measure(directory: Path) -> dict:
    """Build and write the table of the inputs in ``directory`` (the child process)."""
    from rassflow.report.photometry import build_photometry_table, write_photometry

    tables = sorted(directory.glob("photometry-batch*.fits"))
    start, cpu = time.perf_counter(), time.process_time()
    table = build_photometry_table(directory / "members.csv", tables, BANDS, parallax_column="plx")
    build_wall, build_cpu = time.perf_counter() - start, time.process_time() - cpu
    build_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start, cpu = time.perf_counter(), time.process_time()
    write_photometry(table, directory / "photometry.csv", directory / "photometry.fits")
    return {
        "members": len(table),
        "tables": len(tables),
        "status": table["status"].value_counts().to_dict(),
        "build_wall_s": build_wall,
        "build_cpu_s": build_cpu,
        "write_wall_s": time.perf_counter() - start,
        "write_cpu_s": time.process_time() - cpu,
        "csv_mb": (directory / "photometry.csv").stat().st_size / 1e6,
        "fits_mb": (directory / "photometry.fits").stat().st_size / 1e6,
        "build_peak_rss_mb": build_peak,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="sample members")
    parser.add_argument("--batch", type=int, default=20_000, help="rows per batch table")
    parser.add_argument("--inputs", type=Path, help="keep (or reuse) the inputs here")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    from batches import timed

    warnings.simplefilter("ignore")  # HIERARCH cards of the long setting names
    rng = np.random.default_rng(21)
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.inputs or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        if not (directory / "members.csv").is_file():
            start = time.perf_counter()
            members = members_table(directory, args.rows, rng)
            tables = batch_tables(directory, members, args.batch, rng)
            print(f"inputs: {args.rows} members, {len(tables)} batch tables "
                  f"({time.perf_counter() - start:.1f} s to make)")  # fmt: skip
        log = directory / "measure.log"
        child = timed([sys.executable, __file__, "--measure", str(directory)], ".", log)
        result = json.loads(log.read_text().strip().splitlines()[-1])
    print(f"status: {result['status']}")
    print(
        f"build: {result['build_wall_s']:.1f} s wall, {result['build_cpu_s']:.1f} CPU-s, "
        f"peak memory {result['build_peak_rss_mb']:.0f} MB"
    )
    print(
        f"write: {result['write_wall_s']:.1f} s wall, {result['write_cpu_s']:.1f} CPU-s "
        f"(CSV {result['csv_mb']:.0f} MB, FITS {result['fits_mb']:.0f} MB)"
    )
    print(f"child: {child['wall_s']:.1f} s wall, {child['cpu_s']:.1f} CPU-s in all, "
          f"peak memory {child['peak_rss_mb']:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
