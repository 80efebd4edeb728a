"""A catalog-scale run: a simulated survey plus many blank sample positions, its config and
the checks of its photometry tables (benchmarks/catalog_scale.py and
tests/workflow/test_catalog_scale.py share them).

The survey is rassflow.simulate's (detected stars, faint and dark stars, catalogued
neighbours, proper motions, unrelated 2RXS sources); to its star catalog are added blank
positions drawn uniformly over the skyfields' footprints (so some lie near field edges),
each more than 8' from every simulated X-ray source, so that their true rate is 0. The
sample is written as Parquet with the star catalog's columns; the run reads it as a file
sample, the simulated 2RXS table as a file cross-match, the simulated archive as a local one
and a mini CALDB.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd

from rassflow.simulate import survey

BLANK_MIN_SEPARATION_DEG = 8.0 / 60.0  # from every simulated X-ray source
ID_PREFIX = "CARMENES-"
DETECTION_SIGMA = 3.0  # photometry.detection_sigma's default
# what a run measures per covered member: not per-member products
EXCLUDED_DIRS = ("logs", "benchmarks")


def survey_settings(n_skyfields: int, n_stars: int, n_unrelated: int, seed: int) -> dict:
    """The demo's simulation settings (config/demo.yaml: detected, faint and dark stars,
    neighbours, proper motions) at this size."""
    import yaml

    demo = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "config" / "demo.yaml").read_text()
    )
    return {
        **demo["simulation"],
        "seed": seed,
        "n_skyfields": n_skyfields,
        "n_stars": n_stars,
        "n_unrelated_per_field": n_unrelated,
    }


def _unit(ra, dec) -> np.ndarray:
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


def blank_positions(fields: pd.DataFrame, truth: pd.DataFrame, n: int, seed: int = 0):
    """``n`` positions (ra, dec in deg, rounded to 1e-6) uniform over the skyfields' square
    footprints (tangent-plane half width FIELD_HALF_WIDTH_DEG about each centre of
    truth_fields.csv, the same number expected in each), each more than
    BLANK_MIN_SEPARATION_DEG from every X-ray source of truth.csv (at its RASS-epoch
    position, where its events are)."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    xray = truth[truth["kind"] != "dark"]
    tree = cKDTree(_unit(xray["ra_rass"], xray["dec_rass"])) if len(xray) else None
    chord = 2.0 * math.sin(math.radians(BLANK_MIN_SEPARATION_DEG) / 2.0)
    per_field = rng.multinomial(n, np.full(len(fields), 1.0 / len(fields)))
    half = survey.FIELD_HALF_WIDTH_DEG
    ras, decs = [], []
    for (_, field), wanted in zip(fields.iterrows(), per_field, strict=True):
        wcs = survey.sky_wcs(float(field["ra"]), float(field["dec"]))
        got_ra, got_dec, have = [], [], 0
        while have < wanted:
            draw = int((wanted - have) * 1.3) + 16
            ra, dec = survey.offsets_to_world(wcs, rng.uniform(-half, half, (draw, 2)))
            if tree is not None:
                far = np.isinf(tree.query(_unit(ra, dec), distance_upper_bound=chord)[0])
                ra, dec = ra[far], dec[far]
            take = min(len(ra), wanted - have)
            got_ra.append(ra[:take])
            got_dec.append(dec[:take])
            have += take
        ras += got_ra
        decs += got_dec
    return np.concatenate(ras), np.concatenate(decs)


SURVEY_FILES = {
    "sample": "sample.csv",
    "rxs": "rass2rxs.fits",
    "truth": "truth.csv",
    "truth_fields": "truth_fields.csv",
    "archive": "archive",
}


def write_inputs(
    inputs: Path, n_blank: int, settings: dict, seed: int = 0, survey_from: Path | None = None
) -> dict:
    """Simulate the survey under ``inputs`` (or link the one under ``survey_from``), add ``n_blank`` blank positions to its star
    catalog (sample.parquet), write a CALDB; return the paths and the numbers of stars and
    blank positions. Blank positions are numbered after the stars (No), named "Blank k"."""
    from rassflow.simulate.caldb import write_caldb

    inputs = Path(inputs)
    if survey_from is None:
        paths = survey.simulate_survey(inputs, settings)
    else:  # the same survey, simulated before with the same settings: linked, not redone
        inputs.mkdir(parents=True, exist_ok=True)
        paths = {}
        for key, name in SURVEY_FILES.items():
            (inputs / name).symlink_to(Path(survey_from).resolve() / name)
            paths[key] = inputs / name
    stars = pd.read_csv(paths["sample"])
    truth = pd.read_csv(paths["truth"])
    fields = pd.read_csv(paths["truth_fields"])
    ra, dec = blank_positions(fields, truth, n_blank, seed)
    first = int(stars["No"].max()) + 1
    blanks = pd.DataFrame(
        {
            "No": np.arange(first, first + n_blank),
            "Karmn": [f"B{k}" for k in range(n_blank)],
            "Name": [f"Blank {k}" for k in range(n_blank)],
            "RAdeg": ra,
            "DEdeg": dec,
            "pmRA": np.zeros(n_blank),
            "pmDE": np.zeros(n_blank),
            "SpT": np.full(n_blank, ""),
            "Dist": np.full(n_blank, np.nan),
        }
    )
    sample = pd.concat([stars, blanks], ignore_index=True)
    sample.to_parquet(inputs / "sample.parquet", index=False)
    write_caldb(inputs / "caldb")
    return {
        "sample": inputs / "sample.parquet",
        "rxs": paths["rxs"],
        "truth": paths["truth"],
        "truth_fields": paths["truth_fields"],
        "archive": paths["archive"],
        "caldb": inputs / "caldb",
        "stars": len(stars),
        "blanks": n_blank,
        "first_blank": first,
    }


def inputs_of(inputs: Path) -> dict:
    """What :func:`write_inputs` returned, from the files it wrote under ``inputs``."""
    inputs = Path(inputs)
    sample = pd.read_parquet(inputs / "sample.parquet", columns=["No", "Name"])
    blank = sample["Name"].str.startswith("Blank ")
    return {
        "sample": inputs / "sample.parquet",
        "rxs": inputs / "rass2rxs.fits",
        "truth": inputs / "truth.csv",
        "truth_fields": inputs / "truth_fields.csv",
        "archive": inputs / "archive",
        "caldb": inputs / "caldb",
        "stars": int((~blank).sum()),
        "blanks": int(blank.sum()),
        "first_blank": int(sample.loc[blank, "No"].min()) if blank.any() else len(sample) + 1,
    }


def run_config(inputs: dict) -> dict:
    """The run's config: the Parquet sample as a file (the star catalog's columns and
    proper motions), the simulated 2RXS table and archive as local files, the CALDB."""
    return {
        "results_dir": "results",
        "sample": {
            "source": "file",
            "file": str(inputs["sample"]),
            "format": "parquet",
            "id_column": "No",
            "name_column": "Name",
            "ra_column": "RAdeg",
            "dec_column": "DEdeg",
            "id_prefix": ID_PREFIX,
            "pm_ra_column": "pmRA",
            "pm_dec_column": "pmDE",
        },
        "crossmatch": {"source": "file", "file": str(inputs["rxs"])},
        "archive": {"source": "local", "root": str(inputs["archive"])},
        "caldb": {"root": str(inputs["caldb"])},
    }


# ---------------------------------------------------------------------------------------------
# what the run made
# ---------------------------------------------------------------------------------------------


def photometry_tables(results: Path) -> list[Path]:
    return sorted((Path(results) / "photometry").rglob("*-photometry.fits"))


def file_counts(results: Path, n_skyfields: int) -> dict:
    """Files under ``results`` (logs/ and benchmarks/ left out), those of the fitted sources'
    products (sources/ and fits/), and the rest per skyfield."""
    results = Path(results)
    files = [
        p
        for p in results.rglob("*")
        if p.is_file() and p.relative_to(results).parts[0] not in EXCLUDED_DIRS
    ]
    products = sum(p.relative_to(results).parts[0] in ("sources", "fits") for p in files)
    by_top: dict[str, int] = {}
    for p in files:
        top = p.relative_to(results).parts[0]
        by_top[top] = by_top.get(top, 0) + 1
    return {
        "files": len(files),
        "fitted_products": products,
        "other": len(files) - products,
        "other_per_skyfield": (len(files) - products) / max(n_skyfields, 1),
        "by_directory": dict(sorted(by_top.items())),
    }


def job_benchmarks(results: Path) -> dict:
    """{rule: {jobs, cpu_s, wall_s, max_rss_mb}} from Snakemake's benchmark TSVs."""

    def number(text):
        try:
            return float(text)
        except (TypeError, ValueError):
            return 0.0

    out: dict[str, dict] = {}
    root = Path(results) / "benchmarks"
    for tsv in sorted(root.rglob("*.tsv")):
        relative = tsv.relative_to(root)
        rule = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        with open(tsv) as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        entry = out.setdefault(rule, {"jobs": 0, "cpu_s": 0.0, "wall_s": 0.0, "max_rss_mb": 0.0})
        entry["jobs"] += 1
        entry["cpu_s"] += number(row.get("cpu_time"))
        entry["wall_s"] += number(row.get("s"))
        entry["max_rss_mb"] = max(entry["max_rss_mb"], number(row.get("max_rss")))
    return out


def clopper_pearson(k: int, n: int, level: float) -> tuple[float, float]:
    """Central ``level`` binomial interval of k successes in n trials."""
    from scipy.stats import beta

    tail = (1.0 - level) / 2.0
    lo = 0.0 if k == 0 else float(beta.ppf(tail, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1.0 - tail, k + 1, n - k))
    return lo, hi


def one_sided_upper(k: int, n: int, level: float) -> float:
    """The one-sided ``level`` Clopper-Pearson upper bound of a binomial rate."""
    from scipy.stats import beta

    return 1.0 if k == n else float(beta.ppf(level, k + 1, n - k))


def null_detection_rate(counts_src, counts_bkg, ratio, p_threshold: float):
    """Per position, the probability that the exact detection test (photometry.detection_test
    exact) fires when the true rate is 0: with c = 0 the test (rassflow.photometry.onoff: P(X >= N) = I_rho(N, M + 1), rho =
    ratio / (1 + ratio)) is the conditional binomial test, so given the total t = N + M, N is
    Binomial(t, rho) under the null and the test fires with probability
    max{I_rho(n, t - n + 1) <= p_threshold}: at most p_threshold, less by the discreteness
    of few counts. The tail falls with n, so the smallest n that fires is found by bisection
    (a position beside a bright neighbour's wing can have 10^4 background counts)."""
    from scipy import special

    t = np.asarray(counts_src, float) + np.asarray(counts_bkg, float)
    rho = np.asarray(ratio, float) / (1.0 + np.asarray(ratio, float))

    def tail(n):
        with np.errstate(invalid="ignore"):
            return special.betainc(n, np.maximum(t - n + 1.0, 1.0), rho)

    lo, hi = np.ones(len(t)), np.maximum(t, 1.0)  # the smallest firing n lies in [lo, hi]
    fires = (t >= 1) & (tail(hi) <= p_threshold)
    for _ in range(64):
        mid = np.floor(0.5 * (lo + hi))
        below = tail(mid) <= p_threshold
        hi = np.where(below, mid, hi)
        lo = np.where(below, lo, mid + 1.0)
        if np.all(lo >= hi):
            break
    return np.where(fires, tail(hi), 0.0)


def science(table, truth: pd.DataFrame, first_blank: int) -> dict:
    """The checks of the photometry of every covered member against the truth.

    - blank positions (true rate 0): the detection rate against norm.sf(detection_sigma),
      with its 95 % binomial interval and 99.9 % one-sided upper bound, the 99.9 % two-sided
      binomial range of detections at exactly the promised rate (what the randomized test,
      exact in size, must fall in) and the exact test's own attainable rate at these counts
      (``expected_discrete``, what the exact test falls short of the promise by); the test
      used is the tables' ``detection_test`` (randomized if they record none);
    - undetected members (stars and blank positions): the fraction whose rate_ul is at least
      the true rate (stars: truth.csv rate_broad; blanks 0);
    - detected stars: the fraction whose 68 % interval [net_rate_lo, net_rate_hi] holds the
      true rate.
    Members whose photometry failed (status not ok) are counted, not checked.
    """
    from scipy.stats import norm

    frame = table.to_pandas() if hasattr(table, "to_pandas") else table
    for column in ("id_name", "status"):
        frame[column] = frame[column].astype(str).str.strip()
    number = frame["id_name"].str.slice(len(ID_PREFIX)).astype(int).to_numpy()
    blank = number >= first_blank
    stars = truth[truth["star_no"].notna()]
    rate = dict(zip(stars["star_no"].astype(int), stars["rate_broad"].astype(float), strict=True))
    kind = dict(zip(stars["star_no"].astype(int), stars["kind"], strict=True))
    true_rate = np.array([0.0 if b else rate[k] for k, b in zip(number, blank, strict=True)])
    ok = (frame["status"] == "ok").to_numpy()
    detected = frame["detected"].to_numpy(bool) & ok
    promise = float(norm.sf(DETECTION_SIGMA))
    meta = {str(key).lower(): value for key, value in getattr(table, "meta", {}).items()}
    test = str(meta.get("detection_test", "randomized")).strip()

    n_blank = int((blank & ok).sum())
    k_blank = int((blank & detected).sum())
    lo, hi = clopper_pearson(k_blank, n_blank, 0.95) if n_blank else (math.nan, math.nan)
    upper = one_sided_upper(k_blank, n_blank, 0.999) if n_blank else math.nan
    from scipy.stats import binom

    # the most detections that 0.135 % lets through, 999 times in 1000
    allowed = int(binom.ppf(0.999, n_blank, promise)) if n_blank else 0
    # the detections at exactly the promised rate, 999 times in 1000 (two-sided)
    expected_range = (
        [int(binom.ppf(0.0005, n_blank, promise)), int(binom.ppf(0.9995, n_blank, promise))]
        if n_blank
        else [0, 0]
    )
    sel = blank & ok
    null_rate = null_detection_rate(
        frame["counts_src"].to_numpy(float)[sel],
        frame["counts_bkg"].to_numpy(float)[sel],
        frame["backscal_ratio"].to_numpy(float)[sel],
        promise,
    )

    undetected = ok & ~detected
    ul = frame["rate_ul"].to_numpy(float)
    holds = undetected & (ul >= true_rate)
    is_star = ~blank
    star_detected = detected & is_star
    within = (
        star_detected
        & (frame["net_rate_lo"].to_numpy(float) <= true_rate)
        & (true_rate <= frame["net_rate_hi"].to_numpy(float))
    )
    kinds = np.array([("blank" if b else kind[k]) for k, b in zip(number, blank, strict=True)])
    return {
        "members": len(frame),
        "failed": int((~ok).sum()),
        "members_by_kind": {str(k): int((kinds == k).sum()) for k in np.unique(kinds)},
        "blank_detection": {
            "test": test,
            "detected": k_blank,
            "positions": n_blank,
            "rate": k_blank / n_blank if n_blank else math.nan,
            "interval_95": [lo, hi],
            "upper_99_9": upper,
            "promise": promise,
            "allowed_at_99_9": allowed,
            "range_at_99_9": expected_range,
            "expected_discrete": float(null_rate.mean()) if n_blank else math.nan,
            "blank_counts_src_mean": float(frame["counts_src"].to_numpy(float)[sel].mean())
            if n_blank
            else math.nan,
        },
        "upper_limits": {
            "holding": int(holds.sum()),
            "undetected": int(undetected.sum()),
            "fraction": float(holds.sum() / undetected.sum()) if undetected.any() else math.nan,
            "stars_holding": int((holds & is_star).sum()),
            "stars_undetected": int((undetected & is_star).sum()),
            "target": 0.97,
        },
        "interval_coverage": {
            "covering": int(within.sum()),
            "detected_stars": int(star_detected.sum()),
            "fraction": float(within.sum() / star_detected.sum())
            if star_detected.any()
            else math.nan,
            "target": [0.60, 0.76],
        },
    }


def covered_members(results: Path) -> pd.DataFrame:
    """The checkpoint's covered members (members.csv, status covered)."""
    members = pd.read_csv(
        Path(results) / "sample" / "members.csv", dtype={"id_name": str}, low_memory=False
    )
    return members[members["status"] == "covered"]
