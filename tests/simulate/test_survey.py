"""The simulated survey: reproducible, archive-like files, and counts that match the truth."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from rassflow.fitting import models
from rassflow.simulate import instrument
from rassflow.simulate.survey import SkyModel, simulate_survey, with_defaults
from tests.simulate.events import Field, events_of, expanded, in_gti, separation_arcmin
from tests.simulate.psf_expectation import expected_eef

# 10 stars: 6 with a 2RXS source, 2 faint, 2 dark (faint_fraction 0.5 of the other 4);
# round(0.25 x 10) = 2 of them with a neighbour; 2 unrelated sources per field
SMALL = {"seed": 7, "n_skyfields": 3, "n_stars": 10, "xray_fraction": 0.6}
CATALOGS = ("sample.csv", "rass2rxs.fits", "truth.csv", "truth_fields.csv")
# background counts/s/arcmin^2 in all PI channels (the 4e-4 default is PI 11-235)
BACKGROUND_ALL = SkyModel(with_defaults({})).background_rate_all


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    out = tmp_path_factory.mktemp("survey")
    paths = simulate_survey(out, SMALL)
    return out, paths


def test_same_seed_gives_identical_files_and_another_seed_does_not(survey, tmp_path):
    out, paths = survey
    again = simulate_survey(tmp_path / "again", SMALL)
    for name in CATALOGS:
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    for seq, files in paths["skyfields"].items():
        first, _, _ = events_of(paths, seq, tmp_path / "a")
        second, _, _ = events_of(again, seq, tmp_path / "b")
        for column in ("X", "Y", "PI", "TIME", "DETX", "DETY"):
            np.testing.assert_array_equal(first[column], second[column])
        for kind in ("bas", "mex", "im1"):
            assert files[kind].read_bytes() == again["skyfields"][seq][kind].read_bytes(), kind
    other = simulate_survey(tmp_path / "other", {**SMALL, "seed": 8})
    assert Path(other["truth"]).read_bytes() != Path(paths["truth"]).read_bytes()


def test_archive_layout_and_event_conventions(survey, tmp_path):
    out, paths = survey
    assert sorted(paths["skyfields"]) == ["RS930001N00", "RS930002N00", "RS930003N00"]
    files = paths["skyfields"]["RS930002N00"]
    assert files["bas"] == out / "archive" / "rs930002n00" / "rs930002n00_bas.fits.Z"
    assert files["mex"].name == "rs930002n00_mex.fits"  # the archive leaves it uncompressed
    for kind in ("bas", "im1"):
        assert files[kind].read_bytes()[:2] == b"\x1f\x9d"
    assert files["mex"].read_bytes()[:6] == b"SIMPLE"

    bas = expanded(files["bas"], tmp_path)
    with fits.open(bas, checksum=True) as hdul:
        assert [hdu.name for hdu in hdul][1:] == ["STDGTI", "STDEVT", "REJEVT"]
        primary, events = hdul[0].header, hdul["STDEVT"]
        assert (primary["TELESCOP"], primary["INSTRUME"]) == ("ROSAT", "PSPCC")
        assert (primary["OBS_MODE"], primary["OBJECT"]) == ("SURVEY", "RS 930002")
        assert (primary["MJDREFI"], primary["MJDREFF"]) == (48043, 0.879745370370074)
        h = events.header
        assert events.columns.names == ["X", "Y", "PHA", "PI", "TIME", "DETX", "DETY"]
        assert [c.format for c in events.columns][:2] == ["J", "J"]
        assert (h["TCTYP1"], h["TCTYP2"]) == ("RA---TAN", "DEC--TAN")
        assert (h["TCRVL1"], h["TCRVL2"]) == (primary["RA_NOM"], primary["DEC_NOM"])
        assert h["TCRPX1"] == h["TCRPX2"] == 23040.5
        assert h["TCDLT1"] == -h["TCDLT2"] and abs(h["TCDLT1"]) == pytest.approx(0.5 / 3600)
        assert (h["TLMIN1"], h["TLMAX1"], h["TLMIN2"], h["TLMAX2"]) == (1, 46080, 1, 46080)
        assert (h["TLMIN4"], h["TLMAX4"]) == (1, 256)
        assert (h["TLMIN6"], h["TLMAX6"]) == (1, 8192)
        assert h["LIVETIME"] < 0 < h["ONTIME"]
        assert (h["HDUCLASS"], h["HDUCLAS1"]) == ("OGIP", "EVENTS")
        data = events.data
        assert data["X"].min() >= 1 and data["X"].max() <= 46080
        assert data["PI"].min() >= 1 and data["PI"].max() <= 256
        np.testing.assert_array_equal(data["PHA"], data["PI"])
        assert np.all(np.diff(data["TIME"]) >= 0)
        gti = hdul["STDGTI"].data
        assert len(gti) >= 2 and np.all(gti["STOP"] > gti["START"])
        assert h["ONTIME"] == pytest.approx(np.sum(gti["STOP"] - gti["START"]), abs=0.01)

    plain = simulate_survey(tmp_path / "plain", {**SMALL, "n_skyfields": 1, "compress": False})
    assert plain["skyfields"]["RS930001N00"]["bas"].name == "rs930001n00_bas.fits"
    assert plain["skyfields"]["RS930001N00"]["bas"].read_bytes()[:6] == b"SIMPLE"


def test_out_of_gti_events_are_few_and_recorded(survey, tmp_path):
    _, paths = survey
    fields = pd.read_csv(paths["truth_fields"]).set_index("seq_id")
    for seq in paths["skyfields"]:
        data, gti, _ = events_of(paths, seq, tmp_path)
        outside = int(np.sum(~in_gti(data["TIME"], gti)))
        assert outside == fields.loc[seq, "n_out_of_gti"] > 0
        assert len(data) == fields.loc[seq, "n_events"]


def test_exposure_map_is_smooth_and_in_range(survey):
    _, paths = survey
    fields = pd.read_csv(paths["truth_fields"]).set_index("seq_id")
    for seq, files in paths["skyfields"].items():
        with fits.open(files["mex"]) as hdul:
            data, header = hdul[0].data, hdul[0].header
        assert data.shape == (512, 512) and header["BITPIX"] == -32 and header["BUNIT"] == "s"
        assert (header["CDELT1"], header["CDELT2"]) == (-0.0125, 0.0125)
        assert header["CRPIX1"] == header["CRPIX2"] == 256.5
        assert 150.0 <= data.min() < data.max() <= 1500.0
        assert data.min() <= fields.loc[seq, "base_exposure_s"] <= data.max()
        # smooth: neighbouring pixels differ by far less than the field's range
        assert np.abs(np.diff(data, axis=1)).max() < 0.05 * (data.max() - data.min() + 1)


def test_im1_counts_the_events_in_pi_7_240_within_gtis(survey, tmp_path):
    _, paths = survey
    for seq, files in paths["skyfields"].items():
        data, gti, _ = events_of(paths, seq, tmp_path)
        with fits.open(expanded(files["im1"], tmp_path)) as hdul:
            image, header = hdul[0].data, hdul[0].header
        assert image.shape == (512, 512) and header["BITPIX"] == 32
        keep = in_gti(data["TIME"], gti) & (data["PI"] >= 7) & (data["PI"] <= 240)
        assert image.sum() == keep.sum()
        expected, _, _ = np.histogram2d(
            data["Y"][keep], data["X"][keep], bins=512, range=[[0.5, 46080.5], [0.5, 46080.5]]
        )
        np.testing.assert_array_equal(image, expected)


def test_bright_source_counts_follow_the_survey_psf(survey, tmp_path):
    """Counts in circles around the brightest source: the survey PSF's share plus background."""
    out, paths = survey
    truth = pd.read_csv(paths["truth"])
    emitting = truth[truth["kind"] != "dark"]
    isolated = [
        i
        for i, row in emitting.iterrows()
        if np.sum(
            separation_arcmin(
                row["ra_rass"], row["dec_rass"], emitting["ra_rass"], emitting["dec_rass"]
            )
            < 8.0
        )
        == 1
    ]
    source = truth.loc[truth.loc[isolated, "expected_counts"].idxmax()]
    assert source["expected_counts"] > 500
    field = Field(paths, source["seq_id"], tmp_path)
    distance = field.distance_arcmin(source["ra_rass"], source["dec_rass"])
    radii = np.array([0.5, 2.0, 5.0])
    eef = expected_eef(source, radii)
    for radius, fraction in zip(radii, eef, strict=True):
        near = distance <= radius
        background = BACKGROUND_ALL * source["exposure_s"] * np.pi * radius**2
        predicted = source["simulated_counts"] * fraction + background
        assert abs(near.sum() - predicted) < 5.0 * np.sqrt(predicted) + 0.01 * predicted, radius
    # the events are centred on the true position
    x0, y0 = field.pixel(source["ra_rass"], source["dec_rass"])
    core = distance <= 1.0
    assert abs(np.median(field.x[core]) - x0) < 6 and abs(np.median(field.y[core]) - y0) < 6


def test_truth_counts_follow_the_response(survey):
    _, paths = survey
    truth = pd.read_csv(paths["truth"])
    lo, hi = instrument.energy_grid()
    area = instrument.onaxis_area(0.5 * (lo + hi))
    rmf = instrument.redistribution_matrix(lo, hi)
    sources = truth[truth["kind"] != "dark"]
    for _, source in sources.iterrows():
        shape = source["kT"] if source["model"] == "bbody" else source["PhoIndex"]
        params = (shape, source["norm"])
        flux = models.energy_flux(source["model"], params, 0.5, 2.0)
        assert flux == pytest.approx(source["flux_0.5-2.0keV"], rel=1e-6)
        broad_flux = models.energy_flux(source["model"], params, 0.1, 2.4)
        assert broad_flux == pytest.approx(source["flux_0.1-2.4keV"], rel=1e-6)
        per_channel = (models.photon_flux(source["model"], params, lo, hi) * area) @ rmf
        expected = source["exposure_s"] * per_channel.sum()
        assert expected == pytest.approx(source["expected_counts"], rel=1e-6)
        rate = per_channel[10:235].sum()  # PI 11-235, all of the PSF
        assert rate == pytest.approx(source["rate_broad"], rel=1e-6)
        assert source["expected_counts_broad"] == pytest.approx(rate * source["exposure_s"])
    targets = truth[truth["kind"] == "target"]
    assert targets["flux_0.5-2.0keV"].between(5e-13, 3e-11).all()
    assert set(sources["model"]) <= {"bbody", "powerlaw"}
    # dark stars: in the truth with zero emission
    dark = truth[truth["kind"] == "dark"]
    assert len(dark) == 2 and (dark["model"] == "none").all()
    for column in ("flux_0.5-2.0keV", "flux_0.1-2.4keV", "rate_broad", "expected_counts"):
        assert (dark[column] == 0).all(), column
    assert (dark["simulated_counts"] == 0).all() and (dark["exposure_s"] > 0).all()
    # total simulated counts are Poisson around the expectation
    bright = sources[sources["expected_counts"] > 0]
    deviation = (bright["simulated_counts"] - bright["expected_counts"]) / np.sqrt(
        bright["expected_counts"]
    )
    assert np.abs(deviation).max() < 5.0


def test_catalogs_link_stars_and_xray_sources(survey):
    _, paths = survey
    sample = pd.read_csv(paths["sample"])
    truth = pd.read_csv(paths["truth"])
    with fits.open(paths["rxs"]) as hdul:
        rxs = hdul[1].data
        assert hdul[1].columns["ra"].unit == "deg"
        assert hdul[1].columns["count_rate"].unit == "count/s"
    assert list(sample.columns) == [
        "No",
        "Karmn",
        "Name",
        "RAdeg",
        "DEdeg",
        "pmRA",
        "pmDE",
        "SpT",
        "Dist",
    ]
    assert list(sample["No"]) == list(range(1, 11))
    assert all(re.fullmatch(r"J\d{5}[+-]\d{3}[A-Z]?", k) for k in sample["Karmn"])
    assert all(re.fullmatch(r"2RXS J\d{6}\.\d[+-]\d{6}", str(n).strip()) for n in rxs["name"])
    assert sample["Name"].is_unique
    # pm_fraction 0 (the default): nobody moves, catalog and RASS positions coincide
    assert (sample["pmRA"] == 0).all() and (sample["pmDE"] == 0).all()
    np.testing.assert_array_equal(truth["ra"], truth["ra_rass"])
    np.testing.assert_array_equal(truth["dec"], truth["dec_rass"])

    # every star has exactly one truth row
    stars = truth.dropna(subset=["star_no"])
    assert sorted(stars["star_no"].astype(int)) == list(range(1, 11))
    assert stars["kind"].value_counts().to_dict() == {"target": 6, "faint": 2, "dark": 2}
    kinds = truth["kind"].value_counts().to_dict()
    assert kinds == {"target": 6, "faint": 2, "dark": 2, "neighbour": 2, "unrelated": 6}
    in_rxs = truth[truth["in_2rxs"]]
    assert set(in_rxs["kind"]) == {"target", "neighbour", "unrelated"}
    assert len(rxs) == len(in_rxs) == 6 + 2 + 3 * 2
    assert sorted(str(n).strip() for n in rxs["name"]) == sorted(in_rxs["rxs_name"])

    sep = separation_arcmin(
        sample["RAdeg"].to_numpy()[:, None],
        sample["DEdeg"].to_numpy()[:, None],
        rxs["ra"][None, :],
        rxs["dec"][None, :],
    )
    nearest_arcsec = sep.min(axis=1) * 60
    xray_stars = set(stars.loc[stars["kind"] == "target", "star_no"].astype(int))
    has_xray = sample["No"].isin(xray_stars).to_numpy()
    assert np.all(nearest_arcsec[has_xray] < 5 * 3.0 * np.sqrt(2))
    # faint and dark stars have no 2RXS source; the nearest is a neighbour (>= 2.1') or > 6'
    assert np.all(nearest_arcsec[~has_xray] > 2.1 * 60 - 30)
    # a star's truth row repeats its catalog name and position exactly
    merged = stars.merge(sample, left_on="star_no", right_on="No")
    assert (merged["star_name"] == merged["Name"]).all()
    np.testing.assert_array_equal(merged["ra"], merged["RAdeg"])
    assert set(rxs["skyfield_number"]) <= {930001, 930002, 930003}


def test_exposure_is_the_model_at_the_source_not_the_nearest_pixel(survey, tmp_path):
    """truth exposure = the smooth model at the true position; the _mex map is its pixel
    average, so the nearest-pixel lookup misses it by the map gradient times the offset
    from the pixel centre (<= 0.5 pixel per axis): a few 0.1 % at most."""
    _, paths = survey
    truth = pd.read_csv(paths["truth"])
    fields = {}
    differences, residuals = [], []
    for _, source in truth.iterrows():
        seq = source["seq_id"]
        field = fields.setdefault(seq, Field(paths, seq, tmp_path))
        looked_up = field.nearest_pixel_exposure(source["ra_rass"], source["dec_rass"])
        exposure = source["exposure_s"]
        differences.append((exposure - looked_up) / looked_up)
        # first order: the map's gradient (central differences) times the offset
        x, y = field.map_wcs.all_world2pix([[source["ra_rass"], source["dec_rass"]]], 0)[0]
        col, row = int(np.round(x)), int(np.round(y))
        patch = field.expmap[row - 1 : row + 2, col - 1 : col + 2]
        if patch.min() <= 150.01 or patch.max() >= 1499.99:
            continue  # clipped to the exposure range here: no gradient to follow
        gx = (field.expmap[row, col + 1] - field.expmap[row, col - 1]) / 2
        gy = (field.expmap[row + 1, col] - field.expmap[row - 1, col]) / 2
        predicted = looked_up + gx * (x - col) + gy * (y - row)
        residuals.append((exposure - predicted) / looked_up)
    differences = np.abs(differences)
    assert differences.max() < 5e-3  # small: the analysis's lookup is a good approximation
    assert np.median(differences) > 5e-5  # but not the simulator's: it is not the same value
    assert len(residuals) >= 0.8 * len(truth)
    assert np.abs(residuals).max() < 3e-4  # and the gradient explains the difference


def test_unknown_setting_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="n_fields"):
        simulate_survey(tmp_path, {"n_fields": 3})


def test_the_simulator_does_not_use_the_analysis_psf():
    """The sky must be free to differ from the analysis: no module of rassflow.simulate
    imports rassflow.calibration.psf (the analysis's PSF model)."""
    import ast

    import rassflow.simulate

    for path in Path(rassflow.simulate.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = [module] + [f"{module}.{alias.name}" for alias in node.names]
            for name in names:
                assert "calibration.psf" not in name and name != "rassflow.calibration", (
                    path.name,
                    name,
                )
