"""The analysis chain in-process on a simulated survey, for injection-and-recovery tests and
the coverage benchmark: the same functions the workflow's jobs call (rassflow.batch)."""

from __future__ import annotations

import pandas as pd

from rassflow.archive.skyfield import prepare_skyfield
from rassflow.batch import fit_batch, make_batch_products
from rassflow.calibration import psf_stack
from rassflow.calibration.caldb import LocalCaldb, fetch_responses
from rassflow.catalog.crossmatch import match_sample, read_prepared_sample
from rassflow.catalog.sample import read_table
from rassflow.chain import stage_settings, with_psf
from rassflow.config import validate
from rassflow.plan import psf_calibrators
from rassflow.products.regions import neighbour_reach_arcmin
from rassflow.simulate.caldb import write_caldb
from rassflow.simulate.survey import simulate_survey
from tests.support import SIMULATED_SAMPLE

SHAPE = {"bbody": "kT", "powerlaw": "PhoIndex"}
SURVEY = {
    "seed": 2024,
    "n_skyfields": 16,
    "n_stars": 72,
    "xray_fraction": 1.0,
    "n_unrelated_per_field": 0,
    "neighbour_fraction": 0.25,
}


def recover(tmp, simulation: dict, analysis: dict | None = None) -> list[dict]:
    """Simulate, then analyse every matched source with its injected model.

    ``analysis``: config sections merged over the defaults (e.g. ``{"regions": {...}}``)."""
    simulate_survey(tmp, simulation)
    write_caldb(tmp / "caldb")
    rmf, specresp = tmp / "rmf.fits", tmp / "specresp.fits"
    fetch_responses(LocalCaldb(tmp / "caldb"), "pich.eq.256", rmf, specresp)
    config = validate(
        {
            "tools": {"products": "native", "fitter": "sherpa"},
            **(analysis or {}),
            "fit": {"flux_confidence": 90, **(analysis or {}).get("fit", {})},
        }
    )
    settings = stage_settings(config)
    stars = read_prepared_sample(tmp / "sample.csv", SIMULATED_SAMPLE)
    reach = 60.0 * neighbour_reach_arcmin(config["regions"])  # as the workflow's lookup
    matched, neighbours = match_sample(
        stars, config["crossmatch"], read_table(tmp / "rass2rxs.fits"), reach
    )
    truth = pd.read_csv(tmp / "truth.csv")
    truth = truth[truth["kind"] == "target"].set_index("star_no")
    near = {
        k: [tuple(p) for p in g[["ra", "dec"]].to_numpy()] for k, g in neighbours.groupby("id_name")
    }
    skyfields = {}
    for seq in sorted(set(matched["seq_id"])):
        cache = tmp / "cache" / seq
        skyfields[seq] = {kind: cache / f"{kind}.fits" for kind in ("bas", "mex")}
        prepare_skyfield(tmp / "archive", seq, skyfields[seq])
    matched_rows = matched.to_dict("records")
    if config["responses"]["psf"] == "calibrated":  # as the workflow's calibrate_psf job
        calibration = psf_stack.calibrate(
            {seq: files["bas"] for seq, files in skyfields.items()},
            psf_calibrators(
                [{**row, "neighbours": near.get(row["id_name"], [])} for row in matched_rows],
                config["regions"]["centre"],
            ),
            psf_stack.stack_radius_arcmin(config["regions"]),
            config["responses"]["psf_calibration"],
        )
        psf_stack.write_calibration(calibration, tmp / "psf-calibration.json")
        settings = with_psf(settings, calibration)
    rows = []
    for seq, group in matched.groupby("seq_id"):
        files = skyfields[seq]
        sources, models = [], {}
        for _, source in group.iterrows():
            star = truth.loc[int(source["No"])]
            stem = tmp / "products" / seq / source["id_name"]
            paths = {
                key: f"{stem}-{key}.fits"
                for key in (
                    "src",
                    "bkg",
                    "src_phys",
                    "bkg_phys",
                    "spectrum",
                    "background",
                    "arf",
                    "grouped",
                    "photometry",
                )
            }
            paths["fit"] = f"{stem}-fit.json"
            sources.append(
                {
                    "id_name": source["id_name"],
                    "seq": seq,
                    "ra": source["ra"],
                    "dec": source["dec"],
                    "paths": paths,
                    "neighbours": near.get(source["id_name"], []),
                }
            )
            models[source["id_name"]] = star
        make_batch_products({seq: (files["bas"], files["mex"])}, rmf, specresp, sources, settings)
        for entry in sources:  # each source fitted with its injected model
            star = models[entry["id_name"]]
            fit = {
                **settings["fit_spectrum"],
                "fit": {**settings["fit_spectrum"]["fit"], "models": [star["model"]]},
            }
            fit_batch(rmf, specresp, [entry], {"fit_spectrum": fit})
            rows.append(
                {
                    "id_name": entry["id_name"],
                    "truth": star,
                    "fit": pd.read_json(entry["paths"]["fit"], typ="series").to_dict(),
                    "neighbours": len(entry["neighbours"]),
                }
            )
    return rows


def fitted(rows):
    return [r for r in rows if r["fit"]["models"][r["truth"]["model"]]["status"] == "ok"]


def covers(entry, truth) -> bool:
    """The interval contains the truth; a bound that was not found never covers."""
    return (
        entry["lower"] is not None
        and entry["upper"] is not None
        and entry["lower"] <= truth <= entry["upper"]
    )


def flux_ratios(rows, band="0.5-2.0keV", min_counts=100):
    ratios = []
    for row in fitted(rows):
        if row["fit"]["counts"]["source"] < min_counts:
            continue
        flux = row["fit"]["models"][row["truth"]["model"]]["fluxes"][band]["value"]
        ratios.append((flux / row["truth"][f"flux_{band}"], row["neighbours"] > 0))
    return ratios
