"""Benchmark: forced photometry of many positions in one simulated skyfield.

Simulates one skyfield (the demo's background, stars and 2RXS sources), draws random
positions over it (a tenth of them beside a catalogued 2RXS source, so that they have
neighbours to cut out and deblend; a few across the field edge) and measures them all with
:func:`rassflow.photometry.forced.forced_photometry`. Prints the positions per CPU-second
of the whole call, of its posterior part (:func:`posterior_columns`, timed again on the same
counts) and of the call without neighbours (no exclusions or deblending), and the peak
resident memory of the process (the survey is simulated in a child process).

    python benchmarks/forced_photometry.py [--positions 10000 100000] [--stars 300]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

NEIGHBOUR_RADIUS_DEG = 5.0 / 60.0  # annulus outer radius + exclusion radius (defaults)


def positions(rng, field, rxs, n: int):
    """``n`` (id, ra, dec) over the field; a tenth within 2-4' of a 2RXS source."""
    from rassflow.simulate import survey

    wcs = survey.sky_wcs(float(field["ra"]), float(field["dec"]))
    half = survey.FIELD_HALF_WIDTH_DEG
    offsets = rng.uniform(-half + 0.02, half - 0.02, (n, 2))
    ra, dec = (np.asarray(v, float) for v in survey.offsets_to_world(wcs, offsets))
    close = rng.random(n) < 0.1
    source = rng.integers(0, len(rxs), n)
    angle = rng.uniform(0, 2 * np.pi, n)
    sep = rng.uniform(2.0, 4.0, n) / 60.0
    ra = np.where(
        close,
        rxs["ra"].to_numpy()[source] + sep * np.sin(angle) / np.cos(np.radians(dec)),
        ra,
    )
    dec = np.where(close, rxs["dec"].to_numpy()[source] + sep * np.cos(angle), dec)
    ids = [f"P{k}" for k in range(n)]
    return {"id_name": ids, "ra": ra % 360.0, "dec": dec}


def neighbours_of(members, rxs) -> dict:
    """2RXS sources within NEIGHBOUR_RADIUS_DEG of each position (KD-tree on unit vectors)."""
    from scipy.spatial import cKDTree

    def unit(ra, dec):
        ra, dec = np.radians(ra), np.radians(dec)
        return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])

    catalog = rxs[["ra", "dec"]].to_numpy(float)
    tree = cKDTree(unit(catalog[:, 0], catalog[:, 1]))
    chord = 2.0 * np.sin(np.radians(NEIGHBOUR_RADIUS_DEG) / 2.0)
    found = tree.query_ball_point(unit(members["ra"], members["dec"]), chord)
    return {
        name: [tuple(catalog[j]) for j in sorted(hits)]
        for name, hits in zip(members["id_name"], found, strict=True)
        if hits
    }


def make_survey(directory: Path, stars: int) -> None:
    """One simulated skyfield, expanded, and the responses from the mini CALDB."""
    import pandas as pd

    from rassflow.archive.skyfield import prepare_skyfield
    from rassflow.calibration.caldb import LocalCaldb, fetch_responses
    from rassflow.simulate.caldb import write_caldb
    from rassflow.simulate.survey import simulate_survey

    simulate_survey(directory, {"seed": 3, "n_skyfields": 1, "n_stars": stars})
    write_caldb(directory / "caldb")
    fetch_responses(
        LocalCaldb(directory / "caldb"), "pich.eq.256", directory / "rmf.fits",
        directory / "specresp.fits",
    )  # fmt: skip
    seq = pd.read_csv(directory / "truth_fields.csv").iloc[0]["seq_id"]
    files = {kind: directory / f"{kind}.fits" for kind in ("bas", "mex")}
    prepare_skyfield(directory / "archive", seq, files)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--stars", type=int, default=300, help="sample stars in the skyfield")
    args = parser.parse_args(argv)

    import pandas as pd

    from rassflow.archive.skyfield import read_events
    from rassflow.catalog.sample import read_table
    from rassflow.config import validate
    from rassflow.photometry import forced

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="rassflow-forced-") as tmp:
        tmp = Path(tmp)
        # the survey is made in a child process, so that the peak memory printed below is
        # that of the photometry (and of reading the events), not of the simulation
        child = multiprocessing.get_context("spawn").Process(
            target=make_survey, args=(tmp, args.stars)
        )
        child.start()
        child.join()
        if child.exitcode:
            raise SystemExit(f"simulating the survey failed (exit code {child.exitcode})")
        rmf, specresp = tmp / "rmf.fits", tmp / "specresp.fits"
        field = pd.read_csv(tmp / "truth_fields.csv").iloc[0]
        files = {kind: tmp / f"{kind}.fits" for kind in ("bas", "mex")}
        rxs = read_table(tmp / "rass2rxs.fits")
        settings = forced.forced_settings(validate({}))
        start = time.process_time()
        events = read_events(files["bas"])
        read_s = time.process_time() - start
        print(f"skyfield {field['seq_id']}: {len(events.x):,} events (read in {read_s:.2f} CPU-s)")
        rng = np.random.default_rng(2026)
        for n in args.positions:
            members = positions(rng, field, rxs, n)
            near = neighbours_of(members, rxs)
            start = time.process_time()
            table = forced.forced_photometry(
                events, files["mex"], rmf, specresp, members, settings, near
            )
            total = time.process_time() - start
            ok = np.asarray(table["status"]) == "ok"
            bands = {
                band: (
                    np.asarray(table[f"counts_src_{band}"])[ok],
                    np.asarray(table[f"counts_bkg_{band}"])[ok],
                    np.zeros(ok.sum()),
                )
                for band in ("A", "B", "C", "D")
            }
            start = time.process_time()
            forced.posterior_columns(
                [str(v) for v in np.asarray(table["id_name"])[ok]],
                np.asarray(table["counts_src"])[ok],
                np.asarray(table["counts_bkg"])[ok],
                np.asarray(table["backscal_ratio"])[ok],
                np.asarray(table["contamination_counts"])[ok],
                bands,
                np.ones(ok.sum()),
                settings["photometry"],
            )
            posterior = time.process_time() - start
            start = time.process_time()
            forced.forced_photometry(events, files["mex"], rmf, specresp, members, settings)
            alone = time.process_time() - start
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            print(
                f"{n:>8,} positions ({len(near):,} with neighbours, {int((~ok).sum())} failed): "
                f"{total:.1f} CPU-s, {n / total:,.0f} positions per CPU-second; "
                f"posterior {posterior:.1f} CPU-s ({ok.sum() / posterior:,.0f} per CPU-s); "
                f"without neighbours (no exclusions, no deblending) {alone:.1f} CPU-s "
                f"({n / alone:,.0f} per CPU-s); "
                f"peak memory {peak_mb:,.0f} MB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
