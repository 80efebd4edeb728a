"""The photometry table: member rows and status, L_X from parallax, FITS units, stable CSV."""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from rassflow.files import write_json
from rassflow.photometry.aperture import measure, result_keys
from rassflow.report.photometry import (
    build_photometry_table,
    photometry_columns,
    write_photometry,
)
from rassflow.status import write_marker

BANDS = [(0.1, 2.4), (0.5, 2.0)]
PROVENANCE = {"backend": "native", "tool": "rassflow.report.photometry", "config_hash": "c0ffee"}
PC_CM = 3.0857e18

MEMBERS = [
    # id_name, name, ra, dec, seq_id, matched_2rxs, status, plx (mas), Dist (pc)
    ("CARM-10", "GJ 10", 10.0, -5.0, "RS930101N00", True, "covered", 100.0, 10.0),
    ("CARM-2", "GJ 2", 20.0, 5.0, "RS930202N00", False, "covered", 50.0, 20.0),
    ("CARM-3", "GJ 3", 30.0, 15.0, "", False, "not_covered", 25.0, 40.0),
    ("CARM-4", "GJ 4", 40.0, 25.0, "RS930404N00", False, "covered", -1.0, None),
    ("CARM-11", "GJ 11", 50.0, 35.0, "RS930505N00", True, "covered", 10.0, 100.0),
]


def write_members(path, rows=MEMBERS):
    frame = pd.DataFrame(
        rows,
        columns=["id_name", "name", "ra", "dec", "seq_id", "matched_2rxs", "status", "plx", "Dist"],
    )
    frame["ra_rass"] = frame["ra"] + 0.001
    frame["dec_rass"] = frame["dec"] - 0.001
    frame["Vmag"] = np.arange(len(frame)) + 9.5  # any catalog column
    frame.to_csv(path, index=False)
    return path


def fake_result(id_name, flux=1e-13, detected=True, **changes):
    """A photometry JSON as measure() writes it, with round numbers."""
    result = {key: 0.5 for key in result_keys(BANDS)}
    result.update(
        id_name=id_name,
        counts_src=12,
        counts_bkg=8,
        backscal_ratio=0.25,
        bkg_expected=2.0,
        exposure_s=400.0,
        eef=0.8,
        psf_corrected=True,
        arf_method="onaxis",
        net_counts=10.0,
        net_rate=10.0 / 320.0,
        net_rate_lo=7.0 / 320.0,
        net_rate_hi=13.0 / 320.0,
        rate_ul=20.0 / 320.0,
        detection_probability=1e-6,
        detection_sigma=4.75,
        detected=detected,
        broad_band_pi=[11, 235],
        bands_keV=[list(b) for b in BANDS],
        confidence=68.27,
        upper_limit_confidence=99.73,
        detection_threshold_sigma=3.0,
        ecf_model="powerlaw",
        ecf_shape=2.0,
    )
    for lo, hi in BANDS:
        label = f"{lo!r}-{hi!r}keV"
        result[f"ecf_{label}"] = flux / result["net_rate"]
        result[f"flux_{label}"] = flux
        result[f"flux_{label}_lo"] = 0.7 * flux
        result[f"flux_{label}_hi"] = 1.3 * flux
        result[f"flux_ul_{label}"] = 2.0 * flux
    result.update(changes)
    return result


@pytest.fixture
def inputs(tmp_path):
    """CARM-10 and CARM-2 measured, CARM-3 outside the survey, CARM-4 a failure marker,
    CARM-11 without a photometry file."""
    members = write_members(tmp_path / "members.csv")
    paths = {
        "CARM-10": tmp_path / "CARM-10-photometry.json",
        "CARM-2": tmp_path / "CARM-2-photometry.json",
        "CARM-3": None,
        "CARM-4": tmp_path / "CARM-4-photometry.json",
        "CARM-11": tmp_path / "CARM-11-photometry.json",  # never written
    }
    write_json(fake_result("CARM-10", flux=1e-13), paths["CARM-10"])
    write_json(
        fake_result("CARM-2", flux=4e-14, detected=False, detection_sigma=None), paths["CARM-2"]
    )
    write_marker(paths["CARM-4"], "extract_spectra: exposure map value 0 is not positive", "CARM-4")
    return members, paths


def test_rows_statuses_and_order(inputs):
    members, paths = inputs
    table = build_photometry_table(members, paths, BANDS)
    assert list(table["id_name"]) == ["CARM-2", "CARM-3", "CARM-4", "CARM-10", "CARM-11"]
    assert list(table.columns) == photometry_columns(BANDS)
    status = dict(zip(table["id_name"], table["status"], strict=True))
    assert status == {
        "CARM-2": "ok",
        "CARM-3": "not_covered",
        "CARM-4": "failed",
        "CARM-10": "ok",
        "CARM-11": "failed",
    }
    rows = table.set_index("id_name")
    assert rows.loc["CARM-4", "reason"] == "extract_spectra: exposure map value 0 is not positive"
    assert "does not exist" in rows.loc["CARM-11", "reason"]
    assert rows.loc["CARM-3", "reason"] and rows.loc["CARM-3", "seq_id"] == ""
    assert rows.loc["CARM-10", "reason"] == ""
    # member columns come from the members table for every row
    assert rows.loc["CARM-3", "name"] == "GJ 3" and rows.loc["CARM-3", "ra"] == 30.0
    assert rows.loc["CARM-10", "ra_rass"] == pytest.approx(10.001)
    assert rows.loc["CARM-10", "matched_2rxs"] and not rows.loc["CARM-2", "matched_2rxs"]
    assert rows.loc["CARM-10", "seq_id"] == "RS930101N00"
    # measurements for ok rows, NaN / NA elsewhere
    assert rows.loc["CARM-10", "counts_src"] == 12 and rows.loc["CARM-10", "eef"] == 0.8
    assert rows.loc["CARM-10", "flux_0.1-2.4keV"] == 1e-13
    assert rows.loc["CARM-2", "flux_ul_0.5-2.0keV"] == pytest.approx(8e-14)
    assert rows.loc["CARM-10", "detected"] and not rows.loc["CARM-2", "detected"]
    assert math.isnan(rows.loc["CARM-2", "detection_sigma"])
    for member in ("CARM-3", "CARM-4", "CARM-11"):
        assert math.isnan(rows.loc[member, "net_rate"])
        assert math.isnan(rows.loc[member, "flux_0.5-2.0keV"])
        assert pd.isna(rows.loc[member, "detected"])
    assert table.attrs["settings"]["confidence"] == 68.27
    assert "distance_pc" not in table.columns


def test_luminosity_from_parallax(inputs):
    members, paths = inputs
    table = build_photometry_table(members, paths, BANDS, parallax_column="plx").set_index(
        "id_name"
    )
    # 100 mas -> 10 pc; L = 4 pi (10 pc)^2 F by hand
    assert table.loc["CARM-10", "distance_pc"] == pytest.approx(10.0)
    lx = 4 * math.pi * (10 * 3.0857e18) ** 2 * 1e-13
    assert lx == pytest.approx(1.19651e27, rel=1e-5)
    assert table.loc["CARM-10", "lx_0.1-2.4keV"] == pytest.approx(lx, rel=1e-12)
    assert table.loc["CARM-10", "lx_0.1-2.4keV_lo"] == pytest.approx(0.7 * lx, rel=1e-12)
    assert table.loc["CARM-10", "lx_0.5-2.0keV_hi"] == pytest.approx(1.3 * lx, rel=1e-12)
    assert table.loc["CARM-10", "lx_ul_0.5-2.0keV"] == pytest.approx(2 * lx, rel=1e-12)
    # 50 mas -> 20 pc
    assert table.loc["CARM-2", "lx_0.1-2.4keV"] == pytest.approx(
        4 * math.pi * (20 * PC_CM) ** 2 * 4e-14, rel=1e-12
    )
    # a member outside the survey has a distance but no luminosity
    assert table.loc["CARM-3", "distance_pc"] == pytest.approx(40.0)
    assert math.isnan(table.loc["CARM-3", "lx_0.1-2.4keV"])
    # a negative parallax is no distance
    assert math.isnan(table.loc["CARM-4", "distance_pc"])
    assert table.attrs["distance_source"] == "parallax column plx (mas)"


def test_luminosity_from_a_distance_column(inputs):
    members, paths = inputs
    table = build_photometry_table(members, paths, BANDS, distance_column="Dist")
    rows = table.set_index("id_name")
    assert rows.loc["CARM-10", "distance_pc"] == 10.0
    assert math.isnan(rows.loc["CARM-4", "distance_pc"])  # empty
    assert rows.loc["CARM-2", "lx_ul_0.1-2.4keV"] == pytest.approx(
        4 * math.pi * (20 * PC_CM) ** 2 * 8e-14, rel=1e-12
    )
    with pytest.raises(ValueError, match="parallax column 'nope'"):
        build_photometry_table(members, paths, BANDS, parallax_column="nope")


def test_extra_columns_are_copied(inputs):
    members, paths = inputs
    table = build_photometry_table(members, paths, BANDS, extra_columns=["Vmag"])
    assert list(table.columns)[-1] == "Vmag"
    assert list(table["Vmag"]) == [10.5, 11.5, 12.5, 9.5, 13.5]


def test_fits_units_descriptions_and_provenance(inputs, tmp_path):
    members, paths = inputs
    table = build_photometry_table(
        members, paths, BANDS, parallax_column="plx", extra_columns=["Vmag"]
    )
    csv, fits_path = tmp_path / "out" / "phot.csv", tmp_path / "out" / "phot.fits"
    write_photometry(table, csv, fits_path, PROVENANCE)
    with fits.open(fits_path, checksum=True) as hdul:
        header = hdul["PHOTOMETRY"].header
        names = hdul["PHOTOMETRY"].columns.names
        for number in range(1, len(names) + 1):
            assert header.get(f"TCOMM{number}"), f"{names[number - 1]} has no description"
        assert (header["RFTOOL"], header["RFCONFIG"]) == (PROVENANCE["tool"], "c0ffee")
        assert hdul[0].header["RFCONFIG"] == "c0ffee"
        assert header["NMEMBERS"] == 5 and header["NMEASURD"] == 2 and header["NDETECT"] == 1
        assert (header["CONFLEV"], header["ULCONF"], header["DETSIGMA"]) == (68.27, 99.73, 3.0)
        assert (header["ECFMODEL"], header["ECFSHAPE"]) == ("powerlaw", 2.0)
        assert header["FLUXBAND"] == "0.1-2.4keV,0.5-2.0keV"
    back = Table.read(fits_path, hdu="PHOTOMETRY")
    expected = {
        "ra": u.deg,
        "dec_rass": u.deg,
        "counts_src": u.ct,
        "counts_bkg_A": u.ct,
        "bkg_expected": u.ct,
        "exposure_s": u.s,
        "net_rate": u.ct / u.s,
        "net_rate_hi": u.ct / u.s,
        "rate_ul": u.ct / u.s,
        "flux_0.1-2.4keV": u.erg / u.cm**2 / u.s,
        "flux_ul_0.5-2.0keV": u.erg / u.cm**2 / u.s,
        "ecf_0.5-2.0keV": u.erg / u.cm**2 / u.ct,
        "lx_0.1-2.4keV": u.erg / u.s,
        "lx_ul_0.5-2.0keV": u.erg / u.s,
        "distance_pc": u.pc,
    }
    for name, unit in expected.items():
        assert back[name].unit == unit, name
    for name in ("eef", "hr1", "detected", "status", "backscal_ratio"):
        assert back[name].unit is None
    assert list(back["id_name"]) == list(table["id_name"])
    assert list(back["detected"]) == [False, False, False, True, False]
    assert list(back["status"]) == list(table["status"])
    np.testing.assert_array_equal(back["flux_0.1-2.4keV"], table["flux_0.1-2.4keV"])


def test_csv_is_byte_stable_and_reads_back(inputs, tmp_path):
    members, paths = inputs
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_photometry(
        build_photometry_table(members, paths, BANDS, parallax_column="plx"),
        first,
        tmp_path / "a.fits",
        PROVENANCE,
    )
    write_photometry(
        build_photometry_table(members, paths, BANDS, parallax_column="plx"),
        second,
        tmp_path / "b.fits",
        PROVENANCE,
    )
    assert first.read_bytes() == second.read_bytes()
    assert (tmp_path / "a.fits").read_bytes() == (tmp_path / "b.fits").read_bytes()
    back = pd.read_csv(first, dtype={"seq_id": str}, keep_default_na=False, na_values=[""])
    assert list(back.columns) == list(
        build_photometry_table(members, paths, BANDS, parallax_column="plx").columns
    )
    row = back.set_index("id_name").loc["CARM-10"]
    assert row["flux_0.1-2.4keV"] == pytest.approx(1e-13, rel=1e-9)
    assert row["status"] == "ok" and row["seq_id"] == "RS930101N00"


def test_real_measurement_round_trip(tmp_path):
    """A JSON written from measure() itself fits the table (keys agree)."""
    from rassflow.products.responses import make_arf
    from rassflow.simulate import caldb
    from tests.support.photometry import SETTINGS, write_spectrum

    rmf = caldb.write_rmf(tmp_path / "pspcc_gain1_256.rmf")
    specresp = caldb.write_specresp(tmp_path / "pspcc_v1.spec_resp")
    arf = make_arf(rmf, specresp, tmp_path / "a.arf")
    src = write_spectrum(tmp_path / "s.pi", {30: 5, 100: 20})
    bkg = write_spectrum(tmp_path / "b.pi", {30: 4, 100: 4}, backscal=4e-4)
    result = measure(src, bkg, rmf, specresp, arf, SETTINGS, BANDS, "CARM-2")
    write_json(result, tmp_path / "CARM-2.json")
    members = write_members(tmp_path / "members.csv", MEMBERS[1:3])
    table = build_photometry_table(
        members, {"CARM-2": tmp_path / "CARM-2.json"}, BANDS, parallax_column="plx"
    ).set_index("id_name")
    assert table.loc["CARM-2", "status"] == "ok"
    assert table.loc["CARM-2", "counts_src"] == 25
    assert table.loc["CARM-2", "net_rate"] == pytest.approx(result["net_rate"])
    assert table.loc["CARM-2", "lx_0.5-2.0keV"] == pytest.approx(
        4 * math.pi * (20 * PC_CM) ** 2 * result["flux_0.5-2.0keV"]
    )
    assert table.loc["CARM-3", "status"] == "not_covered"


def test_inconsistent_inputs_are_refused(inputs, tmp_path):
    members, paths = inputs
    with pytest.raises(ValueError, match="CARM-99"):
        build_photometry_table(members, {**paths, "CARM-99": None}, BANDS)
    write_json(fake_result("CARM-2", confidence=90.0), paths["CARM-2"])
    with pytest.raises(ValueError, match="confidence"):
        build_photometry_table(members, paths, BANDS)
    write_json(fake_result("CARM-10"), paths["CARM-2"])
    with pytest.raises(ValueError, match="is for 'CARM-10'"):
        build_photometry_table(members, paths, BANDS)
    write_json(fake_result("CARM-2"), paths["CARM-2"])
    with pytest.raises(ValueError, match="no ecf_0.2-1.0keV"):
        build_photometry_table(members, paths, [(0.2, 1.0)])
