"""The photometry table: member rows and status, L_X from parallax, FITS units, stable CSV."""

from __future__ import annotations

import math
import warnings

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import MaskedColumn, Table

from rassflow.files import stamp, write_fits
from rassflow.photometry.aperture import band_label
from rassflow.photometry.forced import COUNT_COLUMNS, TABLE_UNITS, table_columns, write_table
from rassflow.report.photometry import (
    build_photometry_table,
    photometry_columns,
    photometry_hdu,
    write_photometry,
)

BANDS = [(0.1, 2.4), (0.5, 2.0)]
PROVENANCE = {"backend": "native", "tool": "rassflow.report.photometry", "config_hash": "c0ffee"}
PC_CM = 3.0857e18
REASON_4 = "extract_spectra: exposure map value 0 is not positive"

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
    """One measured row as rassflow.photometry.forced writes it, with round numbers."""
    result = {key: 0.5 for key in table_columns(BANDS)}
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
        detection_p_randomized=7e-7,
        detected=detected,
        status="ok",
        reason="",
    )
    for key in COUNT_COLUMNS:
        result[key] = 12 if key.startswith("counts_src") else 8
    for lo, hi in BANDS:
        label = f"{lo!r}-{hi!r}keV"
        result[f"ecf_{label}"] = flux / result["net_rate"]
        result[f"flux_{label}"] = flux
        result[f"flux_{label}_lo"] = 0.7 * flux
        result[f"flux_{label}_hi"] = 1.3 * flux
        result[f"flux_ul_{label}"] = 2.0 * flux
    result.update(changes)
    return result


def failed_result(id_name, reason):
    """A member the batch could not measure: NaN, counts masked, the reason."""
    return {"id_name": id_name, "status": "failed", "reason": reason}


def write_batch(path, rows, bands=BANDS, **settings):
    """A photometry batch table (forced.write_table) of ``rows``: (seq_id, result dict)."""
    names = table_columns(bands)
    table = Table()
    for name in names:
        values = [result.get(name) for _, result in rows]
        if name in COUNT_COLUMNS:
            mask = [v is None for v in values]
            table[name] = MaskedColumn([0 if v is None else v for v in values], mask=mask)
            table[name] = table[name].astype(np.int64)
        elif name in ("psf_corrected", "detected"):
            table[name] = np.array([bool(v) for v in values], dtype=bool)
        elif name in ("id_name", "arf_method", "status", "reason"):
            table[name] = np.array(["" if v is None else v for v in values], dtype=str)
        else:
            table[name] = np.array([math.nan if v is None else v for v in values], dtype=float)
        table[name].unit = TABLE_UNITS.get(name)
    table.add_column([seq for seq, _ in rows], name="seq_id", index=1)
    table.meta.update(
        {
            "broad_band_pi": [11, 235],
            "bands_keV": [list(b) for b in bands],
            "confidence": 68.27,
            "upper_limit_confidence": 99.73,
            "detection_threshold_sigma": 3.0,
            "detection_test": "randomized",
            "ecf_model": "powerlaw",
            "ecf_shape": 2.0,
            **settings,
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HIERARCH cards of the long setting names
        write_table(table, path)
    return path


@pytest.fixture
def inputs(tmp_path):
    """CARM-10 and CARM-2 measured (in two batch tables), CARM-3 outside the survey, CARM-4
    failed in its batch, CARM-11 in no table."""
    members = write_members(tmp_path / "members.csv")
    tables = [
        write_batch(tmp_path / "batch-1.fits", [("RS930101N00", fake_result("CARM-10"))]),
        write_batch(
            tmp_path / "batch-2.fits",
            [
                (
                    "RS930202N00",
                    fake_result("CARM-2", flux=4e-14, detected=False, detection_sigma=None),
                ),
                ("RS930404N00", failed_result("CARM-4", REASON_4)),
            ],
        ),
    ]
    return members, tables


def test_rows_statuses_and_order(inputs):
    members, tables = inputs
    table = build_photometry_table(members, tables, BANDS)
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
    assert rows.loc["CARM-4", "reason"] == REASON_4
    assert "no photometry table" in rows.loc["CARM-11", "reason"]
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
    members, tables = inputs
    table = build_photometry_table(members, tables, BANDS, parallax_column="plx").set_index(
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
    members, tables = inputs
    table = build_photometry_table(members, tables, BANDS, distance_column="Dist")
    rows = table.set_index("id_name")
    assert rows.loc["CARM-10", "distance_pc"] == 10.0
    assert math.isnan(rows.loc["CARM-4", "distance_pc"])  # empty
    assert rows.loc["CARM-2", "lx_ul_0.1-2.4keV"] == pytest.approx(
        4 * math.pi * (20 * PC_CM) ** 2 * 8e-14, rel=1e-12
    )
    with pytest.raises(ValueError, match="parallax column 'nope'"):
        build_photometry_table(members, tables, BANDS, parallax_column="nope")


def test_extra_columns_are_copied(inputs):
    members, tables = inputs
    table = build_photometry_table(members, tables, BANDS, extra_columns=["Vmag"])
    assert list(table.columns)[-1] == "Vmag"
    assert list(table["Vmag"]) == [10.5, 11.5, 12.5, 9.5, 13.5]


def test_fits_units_descriptions_and_provenance(inputs, tmp_path):
    members, tables = inputs
    table = build_photometry_table(
        members, tables, BANDS, parallax_column="plx", extra_columns=["Vmag"]
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
        assert header["DETTEST"] == "randomized"
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


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 5, 50_000])
def test_fits_written_in_chunks_has_the_bytes_of_the_whole_table(inputs, tmp_path, chunk_rows):
    """The streamed FITS (records a chunk at a time, checksums summed on the way) against
    astropy writing the whole table at once."""
    members, tables = inputs
    table = build_photometry_table(
        members, tables, BANDS, parallax_column="plx", extra_columns=["Vmag"]
    )
    table.loc[1, "name"] = "GJ 3  "  # trailing blanks: NULs in FITS, as astropy writes them
    streamed, whole = tmp_path / "streamed.fits", tmp_path / "whole.fits"
    write_photometry(table, tmp_path / "phot.csv", streamed, PROVENANCE, chunk_rows=chunk_rows)
    primary = fits.PrimaryHDU()
    stamp(primary.header, **PROVENANCE)
    write_fits(fits.HDUList([primary, photometry_hdu(table, PROVENANCE)]), whole)
    assert streamed.read_bytes() == whole.read_bytes()
    with fits.open(streamed) as hdul:
        assert [hdu.verify_checksum() for hdu in hdul] == [1, 1]
        assert hdul["PHOTOMETRY"].verify_datasum() == 1
        hdu = hdul["PHOTOMETRY"]
        assert hdu.header["NAXIS2"] == len(table) and len(hdu.data) == len(table)
        assert hdu.header["TUNIT" + str(table.columns.get_loc("net_rate") + 1)] == "count s-1"
        assert list(hdu.data["name"]) == ["GJ 2", "GJ 3", "GJ 4", "GJ 10", "GJ 11"]
        np.testing.assert_array_equal(hdu.data["lx_0.1-2.4keV"], table["lx_0.1-2.4keV"])


def test_csv_is_byte_stable_and_reads_back(inputs, tmp_path):
    members, tables = inputs
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_photometry(
        build_photometry_table(members, tables, BANDS, parallax_column="plx"),
        first,
        tmp_path / "a.fits",
        PROVENANCE,
    )
    write_photometry(
        build_photometry_table(members, tables, BANDS, parallax_column="plx"),
        second,
        tmp_path / "b.fits",
        PROVENANCE,
    )
    assert first.read_bytes() == second.read_bytes()
    assert (tmp_path / "a.fits").read_bytes() == (tmp_path / "b.fits").read_bytes()
    back = pd.read_csv(first, dtype={"seq_id": str}, keep_default_na=False, na_values=[""])
    assert list(back.columns) == list(
        build_photometry_table(members, tables, BANDS, parallax_column="plx").columns
    )
    row = back.set_index("id_name").loc["CARM-10"]
    assert row["flux_0.1-2.4keV"] == pytest.approx(1e-13, rel=1e-9)
    assert row["status"] == "ok" and row["seq_id"] == "RS930101N00"


@pytest.fixture(scope="module")
def skyfield(tmp_path_factory):
    """A simulated skyfield, its responses and a forced settings dict."""
    from rassflow.archive.skyfield import prepare_skyfield
    from rassflow.calibration.caldb import LocalCaldb, fetch_responses
    from rassflow.config import validate
    from rassflow.photometry.forced import forced_settings
    from rassflow.simulate.caldb import write_caldb
    from rassflow.simulate.survey import simulate_survey

    tmp = tmp_path_factory.mktemp("skyfield")
    survey = {"seed": 3, "n_skyfields": 1, "n_stars": 4, "n_unrelated_per_field": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        simulate_survey(tmp, survey)
        write_caldb(tmp / "caldb")
    rmf, specresp = tmp / "rmf.fits", tmp / "specresp.fits"
    fetch_responses(LocalCaldb(tmp / "caldb"), "pich.eq.256", rmf, specresp)
    truth = pd.read_csv(tmp / "truth.csv")
    stars = truth[truth["star_no"].notna()].reset_index(drop=True)
    seq = str(stars["seq_id"].iloc[0])
    files = {kind: tmp / f"{kind}.fits" for kind in ("bas", "mex")}
    prepare_skyfield(tmp / "archive", seq, files)
    config = validate({"tools": {"products": "native", "fitter": "sherpa"}})
    return tmp, seq, stars, files, rmf, specresp, forced_settings(config)


def test_real_measurement_round_trip(skyfield, tmp_path):
    """A batch table of forced photometry itself fits the table (columns, units, settings
    agree); a member beyond the field's edge is failed with the measurement's reason."""
    from rassflow.photometry.forced import forced_photometry

    _, seq, stars, files, rmf, specresp, settings = skyfield
    ids = [f"STAR-{int(n)}" for n in stars["star_no"]] + ["STAR-99"]
    positions = {
        "id_name": ids,
        "ra": [*stars["ra_rass"], float(stars["ra_rass"].iloc[0]) + 20.0],  # off the field
        "dec": [*stars["dec_rass"], float(stars["dec_rass"].iloc[0])],
    }
    bands = settings["bands_keV"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        measured = forced_photometry(files["bas"], files["mex"], rmf, specresp, positions, settings)
        measured.add_column(seq, name="seq_id", index=1)
        write_table(measured, tmp_path / "batch.fits")
    members = pd.DataFrame(
        {
            "id_name": ids,
            "name": ids,
            "ra": positions["ra"],
            "dec": positions["dec"],
            "seq_id": seq,
            "matched_2rxs": False,
            "status": "covered",
            "plx": 50.0,
        }
    )
    members.to_csv(tmp_path / "members.csv", index=False)
    table = build_photometry_table(
        tmp_path / "members.csv", [tmp_path / "batch.fits"], bands, parallax_column="plx"
    ).set_index("id_name")
    assert list(table.reset_index().columns) == photometry_columns(bands, distances=True)
    assert table.attrs["settings"]["confidence"] == measured.meta["confidence"]
    assert table.attrs["settings"]["ecf_model"] == measured.meta["ecf_model"]
    by_id = {name: k for k, name in enumerate(measured["id_name"])}
    for name in ids[:-1]:
        row = measured[by_id[name]]
        assert table.loc[name, "status"] == "ok"
        assert table.loc[name, "counts_src"] == row["counts_src"]
        assert table.loc[name, "net_rate"] == row["net_rate"]
        assert table.loc[name, "detected"] == row["detected"]
        label = band_label(*bands[-1])
        assert table.loc[name, f"lx_{label}"] == pytest.approx(
            4 * math.pi * (20 * PC_CM) ** 2 * row[f"flux_{label}"], rel=1e-12
        )
    assert table.loc["STAR-99", "status"] == "failed"
    assert table.loc["STAR-99", "reason"] == measured["reason"][by_id["STAR-99"]]
    assert "extract_spectra" in table.loc["STAR-99", "reason"]
    assert math.isnan(table.loc["STAR-99", "counts_src"])


def test_inconsistent_inputs_are_refused(inputs, tmp_path):
    members, tables = inputs
    stray = write_batch(tmp_path / "stray.fits", [("RS930101N00", fake_result("CARM-99"))])
    with pytest.raises(ValueError, match=r"stray\.fits holds CARM-99, which the members"):
        build_photometry_table(members, [*tables, stray], BANDS)
    other = write_batch(
        tmp_path / "other.fits", [("RS930505N00", fake_result("CARM-11"))], confidence=90.0
    )
    with pytest.raises(ValueError, match=r"other\.fits: confidence = 90.0 differs from 68.27"):
        build_photometry_table(members, [*tables, other], BANDS)
    again = write_batch(tmp_path / "again.fits", [("RS930101N00", fake_result("CARM-10"))])
    with pytest.raises(ValueError, match="CARM-10 is measured twice"):
        build_photometry_table(members, [*tables, again], BANDS)
    moved = write_batch(tmp_path / "moved.fits", [("RS930404N00", fake_result("CARM-11"))])
    with pytest.raises(ValueError, match="places it in RS930505N00"):
        build_photometry_table(members, [*tables, moved], BANDS)
    with pytest.raises(ValueError, match="no ecf_0.2-1.0keV"):
        build_photometry_table(members, tables, [(0.2, 1.0)])


def test_a_not_covered_members_row_is_not_read(inputs, tmp_path):
    """As the members table says: outside the survey, whatever a table holds for it."""
    members, tables = inputs
    extra = write_batch(tmp_path / "extra.fits", [("RS930303N00", fake_result("CARM-3"))])
    rows = build_photometry_table(members, [*tables, extra], BANDS).set_index("id_name")
    assert rows.loc["CARM-3", "status"] == "not_covered"
    assert math.isnan(rows.loc["CARM-3", "net_rate"])


def test_no_tables_leaves_every_covered_member_failed(inputs):
    members, _ = inputs
    table = build_photometry_table(members, [], BANDS)
    assert list(table["status"]) == ["failed", "not_covered", "failed", "failed", "failed"]
    assert table.attrs["settings"] == {}
    assert table["net_rate"].isna().all() and table["detected"].isna().all()


@pytest.mark.parametrize(
    "ids",
    [
        # one trailing number: Arrow's kernels; leading zeros tie and keep their order
        ["S-10", "S-2", "S-02", "S", "", "123", "12", "S-", "a-1", "A-1", "S-0", "S-00", "Z9"],
        [f"GJ {k}" for k in (3, 1, 20, 100, 2)] + ["GJ 9" + "9" * 18],  # beyond int64
        ["A1B2", "A1B10", "A2", "A10B1"],  # numbers inside: one key per id
        ["é10", "é9", "e2"],  # not ASCII
        [],
    ],
)
def test_natural_order_is_natural_key_order(ids):
    from rassflow.catalog.sample import natural_key
    from rassflow.report.photometry import natural_order

    expected = sorted(range(len(ids)), key=lambda k: natural_key(ids[k]))
    assert natural_order(ids).tolist() == expected
    assert natural_order(pd.Series(ids, dtype="str")).tolist() == expected


def test_csv_has_the_bytes_of_pandas_to_csv(inputs, tmp_path):
    """write_csv against pandas' own writer, on the table and on awkward cells."""
    from rassflow.report.photometry import CSV_FLOAT_FORMAT, write_csv

    members, tables = inputs
    table = build_photometry_table(
        members, tables, BANDS, parallax_column="plx", extra_columns=["Vmag"]
    )
    odd = pd.DataFrame(
        {
            "f": [1.0, np.nan, -0.0, np.inf, 1e-300, 123456789012.0],
            "s": ["a,b", 'q"x', "line\nbreak", None, "", "cr\rlf"],
            "o": [1, "x", None, 2.5, np.nan, True],
            "i": [1, 2, 3, 4, 5, 6],
            "b": [True, False] * 3,
            "nb": pd.array([True, None, False, None, True, False], dtype="boolean"),
            "st": pd.Series(["x", None, "y", "z", "", "w"], dtype="str"),
            "ni": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
            "f32": np.array([0.1, 2, 3, 4, 5, np.nan], dtype=np.float32),
        }
    )
    lone = pd.DataFrame({"s": ["", "x", None, "a,b"]})  # a row of one empty cell is quoted
    frames = (table, odd, lone, lone.iloc[:0], pd.DataFrame({"s": [" sp", "t\tb"], "n": [1, 2]}))
    for number, frame in enumerate(frames):
        ours, theirs = tmp_path / f"ours{number}.csv", tmp_path / f"theirs{number}.csv"
        write_csv(frame, ours)
        frame.to_csv(theirs, index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n")
        assert ours.read_bytes() == theirs.read_bytes()
