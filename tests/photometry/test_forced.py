"""Vectorised forced photometry against the per-member chain, on a simulated survey.

The chain (regions, spectra, ARF files, then rassflow.photometry.aperture.measure of them,
tests/support/photometry.py) is the reference. Both measure the same positions in two skyfields: the sample stars
(with their catalogued neighbours, cut out of the annulus and deblended), blank positions,
positions whose annulus or circle crosses the field edge, one position beyond the edge
(its regions lie outside the field, a failure) and a neighbour's position itself (a
neighbour inside the circle). Both use a calibrated survey PSF, a mixture of the two
published descriptions with an interval (the default's path; PSFOFF alone is the
calibration's special case w = 0). Every column must agree to 1e-9 relative.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

SURVEY = {
    "seed": 11,
    "n_skyfields": 2,
    "n_stars": 24,
    "xray_fraction": 0.6,
    "faint_fraction": 0.5,
    "n_unrelated_per_field": 2,
    "neighbour_fraction": 0.5,
}
NEIGHBOUR_RADIUS_ARCSEC = 60.0 * (2.0 * 1.5 + 2.0)  # annulus outer radius + exclusion radius
PRODUCT_KEYS = ("src", "bkg", "src_phys", "bkg_phys", "spectrum", "background", "arf", "grouped")
RTOL = 1e-9
# a survey-PSF calibration as rassflow.calibration.psf_stack writes it
CALIBRATION = {"weight": 0.37, "low": 0.3, "high": 0.45}


def _entry(directory: Path, id_name, ra, dec, neighbours) -> dict:
    paths = {key: str(directory / f"{id_name}-{key}.fits") for key in PRODUCT_KEYS}
    return {
        "id_name": id_name,
        "ra": float(ra),
        "dec": float(dec),
        "paths": paths,
        "neighbours": [tuple(map(float, p)) for p in neighbours],
        "fit": False,
    }


def _extra_positions(field, rng, xray) -> list[tuple[str, float, float]]:
    """Blank positions, edge positions and a position beyond the edge of one field."""
    from rassflow.simulate import survey

    wcs = survey.sky_wcs(float(field["ra"]), float(field["dec"]))
    half = survey.FIELD_HALF_WIDTH_DEG
    offsets = [("BLANK", rng.uniform(-2.5, 2.5, 2)) for _ in range(6)]
    offsets += [
        ("EDGE", np.array([half - 0.03, 0.4])),  # the annulus crosses the edge
        ("EDGE", np.array([-0.2, -half + 0.01])),  # the circle crosses it
        ("EDGE", np.array([half - 0.02, half - 0.05])),  # near a corner
        ("BEYOND", np.array([half + 0.2, 0.0])),  # regions outside the field
    ]
    out = []
    for k, (kind, offset) in enumerate(offsets):
        ra, dec = survey.offsets_to_world(wcs, offset[None, :])
        out.append((f"{kind}-{field.name}-{k}", float(ra[0]), float(dec[0])))
    # a catalogued neighbour measured at its own position: the target is in its annulus
    if len(xray):
        row = xray.iloc[0]
        out.append((f"ONXRAY-{field.name}", float(row["ra_rass"]), float(row["dec_rass"])))
    return out


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Both measurements of every position: (chain rows by id, forced tables, entries)."""
    import pandas as pd

    from rassflow.archive.skyfield import prepare_skyfield
    from rassflow.calibration.caldb import LocalCaldb, fetch_responses
    from rassflow.calibration.psf_stack import psf_setting
    from rassflow.catalog.crossmatch import match_sample, read_prepared_sample
    from rassflow.catalog.sample import read_table
    from rassflow.config import validate
    from rassflow.photometry.forced import forced_photometry, forced_settings
    from rassflow.simulate.caldb import write_caldb
    from rassflow.simulate.survey import simulate_survey
    from tests.support import SIMULATED_SAMPLE
    from tests.support.photometry import chain_photometry

    warnings.simplefilter("ignore")  # astropy's long-card warnings of the ARF keywords
    tmp = tmp_path_factory.mktemp("forced")
    simulate_survey(tmp, SURVEY)
    write_caldb(tmp / "caldb")
    rmf, specresp = tmp / "rmf.fits", tmp / "specresp.fits"
    fetch_responses(LocalCaldb(tmp / "caldb"), "pich.eq.256", rmf, specresp)
    config = validate({"tools": {"products": "native", "fitter": "sherpa"}})
    stars = read_prepared_sample(tmp / "sample.csv", SIMULATED_SAMPLE)
    rxs = read_table(tmp / "rass2rxs.fits")
    _, neighbours = match_sample(stars, config["crossmatch"], rxs, NEIGHBOUR_RADIUS_ARCSEC)
    near = {k: g[["ra", "dec"]].to_numpy() for k, g in neighbours.groupby("id_name")}
    truth = pd.read_csv(tmp / "truth.csv")
    fields = pd.read_csv(tmp / "truth_fields.csv").set_index("seq_id")
    members = truth[truth["star_no"].notna()].copy()
    members["id_name"] = [SIMULATED_SAMPLE["id_prefix"] + str(int(no)) for no in members["star_no"]]
    rng = np.random.default_rng(21)
    chain, forced, entries = {}, {}, {}
    for seq, group in members.groupby("seq_id"):
        directory = tmp / "products" / seq
        rows = [
            _entry(directory, m["id_name"], m["ra_rass"], m["dec_rass"], near.get(m["id_name"], []))
            for _, m in group.iterrows()
        ]
        xray = truth[(truth["seq_id"] == seq) & (truth["kind"] == "neighbour")]
        for id_name, ra, dec in _extra_positions(fields.loc[seq], rng, xray):
            rows.append(_entry(directory, id_name, ra, dec, []))
        # the last extra position gets the catalogue around it as neighbours
        rows[-1]["neighbours"] = [
            tuple(p)
            for p in rxs[["ra", "dec"]].to_numpy(float)
            if np.hypot(
                (p[0] - rows[-1]["ra"]) * math.cos(math.radians(rows[-1]["dec"])),
                p[1] - rows[-1]["dec"],
            )
            < NEIGHBOUR_RADIUS_ARCSEC / 3600.0
        ]
        cache = tmp / "cache" / seq
        files = {kind: cache / f"{kind}.fits" for kind in ("bas", "mex")}
        prepare_skyfield(tmp / "archive", seq, files)
        entries_of = [{**row, "seq": seq} for row in rows]
        chain.update(
            chain_photometry(
                entries_of, {seq: (files["bas"], files["mex"])}, rmf, specresp, config, CALIBRATION
            )
        )
        table = {
            "id_name": [r["id_name"] for r in rows],
            "ra": [r["ra"] for r in rows],
            "dec": [r["dec"] for r in rows],
        }
        settings = {**forced_settings(config), "psf": psf_setting(CALIBRATION)}
        forced[seq] = forced_photometry(
            files["bas"], files["mex"], rmf, specresp, table, settings,
            {r["id_name"]: r["neighbours"] for r in rows},
        )  # fmt: skip
        entries[seq] = rows
    return chain, forced, entries


def _same(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if isinstance(a, bool | str) or isinstance(b, bool | str):
        return a == b
    if b is None:
        return False
    return math.isclose(float(a), float(b), rel_tol=RTOL, abs_tol=1e-300)


def test_every_column_equals_the_chain(survey):
    from rassflow.photometry.forced import SETTING_KEYS

    chain, forced, _ = survey
    compared = 0
    for table in forced.values():
        for row in table:
            reference = chain[row["id_name"]]
            if "rassflow_failed" in reference:
                assert row["status"] == "failed"
                assert row["reason"] == reference["rassflow_failed"]
                continue
            assert row["status"] == "ok", row["reason"]
            for key, expected in reference.items():
                if key in SETTING_KEYS:
                    assert table.meta[key] == expected, key
                    continue
                value = row[key]
                value = value.item() if hasattr(value, "item") else value
                assert _same(expected, value), (row["id_name"], key, expected, value)
            compared += 1
    assert compared >= 30


def test_the_sky_has_what_the_comparison_needs(survey):
    """Neighbours cut out and deblended, clipped regions, a failure, blank positions."""
    chain, forced, entries = survey
    rows = [row for table in forced.values() for row in table if row["status"] == "ok"]
    assert len(forced) == 2
    assert sum(row["contamination_counts"] != 0 for row in rows) >= 3
    assert any(row["status"] == "failed" for table in forced.values() for row in table)
    # clipped at the field edge: fewer background pixels than the annulus holds
    from rassflow.config import validate

    regions = validate({})["regions"]
    inner = regions["source_radius_arcmin"] * regions["background_inner_factor"]
    outer = regions["source_radius_arcmin"] * regions["background_outer_factor"]
    annulus = np.pi * (outer**2 - inner**2) / (0.5 / 60.0) ** 2
    full = np.median([row["backscal_bkg"] for row in rows])
    edge = [row for row in rows if row["id_name"].startswith("EDGE")]
    assert edge and min(row["backscal_bkg"] for row in edge) < 0.9 * full
    assert sum(row["id_name"].startswith("BLANK") for row in rows) >= 10
    assert full * 46080**2 == pytest.approx(annulus, rel=0.01)
    assert any(row["detected"] for row in rows) and not all(row["detected"] for row in rows)


def test_table_units_and_metadata(survey):
    _, forced, _ = survey
    table = next(iter(forced.values()))
    assert str(table["exposure_s"].unit) == "s"
    assert str(table["net_rate"].unit) == "ct / s"
    assert table["counts_src"].dtype.kind == "i"
    assert table.meta["confidence"] == 68.27
    assert table.meta["CREATOR"].startswith("rassflow")


def test_a_batch_of_two_skyfield_slices_makes_one_table(tmp_path):
    """measure_skyfields: the rows start:stop of each skyfield's members file, in order, with
    their skyfield, one copy of the shared settings, and a FITS round trip."""
    import pandas as pd

    from rassflow.calibration.caldb import LocalCaldb, fetch_responses
    from rassflow.config import validate
    from rassflow.photometry.forced import (
        forced_settings,
        measure_skyfields,
        read_tables,
        write_table,
    )
    from rassflow.simulate.caldb import write_caldb
    from tests.support.fits import write_events, write_expmap

    write_caldb(tmp_path / "caldb")
    rmf, specresp = tmp_path / "rmf.fits", tmp_path / "specresp.fits"
    fetch_responses(LocalCaldb(tmp_path / "caldb"), "pich.eq.256", rmf, specresp)
    rng = np.random.default_rng(3)
    skyfields = []
    for seq, centre in (("RS930001N00", (150.0, 20.0)), ("RS930002N00", (160.0, 25.0))):
        x, y = rng.uniform(21000, 25000, (2, 3000)).astype(int)
        events = write_events(tmp_path / f"{seq}_bas.fits", x, y, rng.integers(11, 236, 3000),
                              rng.uniform(0, 1000, 3000), centre=centre)  # fmt: skip
        expmap = write_expmap(tmp_path / f"{seq}_mex.fits", 400.0, centre)
        members = pd.DataFrame(
            {
                "id_name": [f"{seq}-{k}" for k in range(4)],
                "ra": centre[0] + np.arange(4) * 0.05,
                "dec": [centre[1]] * 4,
            }
        )
        members.to_csv(tmp_path / f"{seq}-members.csv", index=False)
        pd.DataFrame({"id_name": [], "ra": [], "dec": []}).to_csv(
            tmp_path / f"{seq}-neighbours.csv", index=False
        )
        skyfields.append((seq, events, expmap, tmp_path / f"{seq}-members.csv",
                          tmp_path / f"{seq}-neighbours.csv"))  # fmt: skip
    settings = forced_settings(validate({}))
    # a third skyfield whose event file is cut short: its members fail, the batch goes on
    broken = tmp_path / "RS930003N00_bas.fits"
    broken.write_bytes(skyfields[0][1].read_bytes()[:5000])
    batch = [(*skyfields[0], 1, 4), ("RS930003N00", broken, *skyfields[0][2:], 0, 1),
             (*skyfields[1], 0, 2)]  # fmt: skip
    table = measure_skyfields(batch, rmf, specresp, settings)
    assert list(table["id_name"]) == [
        "RS930001N00-1", "RS930001N00-2", "RS930001N00-3", "RS930001N00-0", "RS930002N00-0",
        "RS930002N00-1",
    ]  # fmt: skip
    assert list(table["seq_id"]) == ["RS930001N00"] * 3 + ["RS930003N00"] + ["RS930002N00"] * 2
    assert list(table["status"]) == ["ok"] * 3 + ["failed"] + ["ok"] * 2
    assert "RS930003N00" in table["reason"][3] and np.isnan(table["net_rate"][3])
    assert list(table.meta["broad_band_pi"]) == [11, 235]
    write_table(table, tmp_path / "batch.fits")
    back = read_tables([tmp_path / "batch.fits"])
    assert list(back["id_name"]) == list(table["id_name"])
    assert np.allclose(back["net_rate"], table["net_rate"], equal_nan=True)
    assert str(back["exposure_s"].unit) == "s"
