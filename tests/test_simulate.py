"""The simulated survey: reproducible, archive-like files, and counts that match the truth."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from rassflow import models, response
from rassflow.io import decompress_to
from rassflow.simulate import psf_fraction_within, simulate_survey

SMALL = {"seed": 7, "n_skyfields": 3, "n_stars": 10, "xray_fraction": 0.6}
CATALOGS = ("sample.csv", "rass2rxs.fits", "truth.csv", "truth_fields.csv")


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    out = tmp_path_factory.mktemp("survey")
    paths = simulate_survey(out, SMALL)
    return out, paths


def expanded(path: Path, tmp_path: Path) -> Path:
    """A .Z archive file expanded into tmp_path (plain FITS files are used as they are)."""
    if path.suffix != ".Z":
        return path
    return decompress_to(path, tmp_path / path.name.removesuffix(".Z"))


def events_of(paths, seq, tmp_path):
    with fits.open(expanded(paths["skyfields"][seq]["bas"], tmp_path)) as hdul:
        return hdul["STDEVT"].data.copy(), hdul["STDGTI"].data.copy(), hdul["STDEVT"].header.copy()


def in_gti(time, gti):
    return np.any((time[:, None] >= gti["START"]) & (time[:, None] < gti["STOP"]), axis=1)


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
        assert files["bas"].read_bytes() == again["skyfields"][seq]["bas"].read_bytes()
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


def test_bright_source_counts_match_expected(survey, tmp_path):
    out, paths = survey
    truth = pd.read_csv(paths["truth"])
    source = truth.loc[truth["expected_counts"].idxmax()]
    assert source["expected_counts"] > 500
    data, gti, header = events_of(paths, source["seq_id"], tmp_path)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = [header["TCTYP1"], header["TCTYP2"]]
    wcs.wcs.crval = [header["TCRVL1"], header["TCRVL2"]]
    wcs.wcs.crpix = [header["TCRPX1"], header["TCRPX2"]]
    wcs.wcs.cdelt = [header["TCDLT1"], header["TCDLT2"]]
    x0, y0 = wcs.all_world2pix([[source["ra"], source["dec"]]], 1)[0]
    distance_arcsec = 0.5 * np.hypot(data["X"] - x0, data["Y"] - y0)
    for radius in (120.0, 30.0):  # the 2' extraction circle, and the PSF core
        near = in_gti(data["TIME"], gti) & (distance_arcsec <= radius)
        background = 3e-4 * source["exposure_s"] * np.pi * (radius / 60) ** 2
        # the stated PSF: 92 % in a 20" Gaussian core, 8 % in a 60" wing
        in_circle = sum(
            fraction * (1 - np.exp(-0.5 * (radius / sigma) ** 2))
            for fraction, sigma in ((0.92, 20.0), (0.08, 60.0))
        )
        assert psf_fraction_within(radius) == pytest.approx(in_circle)
        predicted = source["expected_counts"] * in_circle + background
        assert abs(near.sum() - predicted) < 5.0 * np.sqrt(predicted), radius
    # the events are centred on the true position
    assert abs(np.median(data["X"][near]) - x0) < 4 and abs(np.median(data["Y"][near]) - y0) < 4


def test_truth_counts_and_exposure_follow_the_response(survey):
    _, paths = survey
    truth = pd.read_csv(paths["truth"])
    lo, hi = response.energy_grid()
    area = response.onaxis_area(0.5 * (lo + hi))
    rmf_kept = response.redistribution_matrix(lo, hi).sum(axis=1)
    for _, source in truth.iterrows():
        shape = source["kT"] if source["model"] == "bbody" else source["PhoIndex"]
        params = (shape, source["norm"])
        flux = models.energy_flux(source["model"], params, 0.5, 2.0)
        assert flux == pytest.approx(source["flux_0.5-2.0keV"], rel=1e-6)
        photons = models.photon_flux(source["model"], params, lo, hi)
        expected = source["exposure_s"] * np.sum(photons * area * rmf_kept)
        assert expected == pytest.approx(source["expected_counts"], rel=1e-6)
        with fits.open(paths["skyfields"][source["seq_id"]]["mex"]) as hdul:
            col, row = np.round(WCS(hdul[0].header).all_world2pix([[source.ra, source.dec]], 0)[0])
            assert hdul[0].data[int(row), int(col)] == pytest.approx(source["exposure_s"])
    lo_range, hi_range = 5e-13, 3e-11
    assert truth["flux_0.5-2.0keV"].between(lo_range, hi_range).all()
    assert set(truth["model"]) <= {"bbody", "powerlaw"}
    # total simulated counts are Poisson around the expectation
    deviation = (truth["simulated_counts"] - truth["expected_counts"]) / np.sqrt(
        truth["expected_counts"]
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
    assert list(sample.columns) == ["No", "Karmn", "Name", "RAdeg", "DEdeg", "SpT", "Dist"]
    assert list(sample["No"]) == list(range(1, 11))
    assert all(re.fullmatch(r"J\d{5}[+-]\d{3}[A-Z]?", k) for k in sample["Karmn"])
    assert all(re.fullmatch(r"2RXS J\d{6}\.\d[+-]\d{6}", str(n).strip()) for n in rxs["name"])
    assert sample["Name"].is_unique

    xray_stars = set(truth["star_no"].dropna().astype(int))
    assert len(xray_stars) == 6  # xray_fraction 0.6 of 10 stars
    assert len(rxs) == len(truth) == 6 + 3 * 2  # plus 2 unrelated sources per field
    star_pos = np.radians(sample[["RAdeg", "DEdeg"]].to_numpy())
    rxs_pos = np.radians(np.column_stack([rxs["ra"], rxs["dec"]]))
    cos_sep = np.sin(star_pos[:, None, 1]) * np.sin(rxs_pos[None, :, 1]) + np.cos(
        star_pos[:, None, 1]
    ) * np.cos(rxs_pos[None, :, 1]) * np.cos(star_pos[:, None, 0] - rxs_pos[None, :, 0])
    nearest_arcsec = np.degrees(np.arccos(np.clip(cos_sep, -1, 1))).min(axis=1) * 3600
    has_xray = sample["No"].isin(xray_stars).to_numpy()
    assert np.all(nearest_arcsec[has_xray] < 5 * 3.0 * np.sqrt(2))
    assert np.all(nearest_arcsec[~has_xray] > 6 * 60 - 30)
    # a star's truth row repeats its catalog name and position exactly
    merged = truth.dropna(subset=["star_no"]).merge(sample, left_on="star_no", right_on="No")
    assert (merged["star_name"] == merged["Name"]).all()
    np.testing.assert_array_equal(merged["ra"], merged["RAdeg"])
    assert set(rxs["skyfield_number"]) <= {930001, 930002, 930003}


def test_unknown_setting_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="n_fields"):
        simulate_survey(tmp_path, {"n_fields": 3})
