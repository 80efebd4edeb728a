"""Grouping as ftgrouppha grouptype=min, on hand-worked examples and real spectrum files."""

import numpy as np
import pytest
from astropy.io import fits

from rassflow import caldb
from rassflow.arf import make_arf
from rassflow.grouping import group_min_counts, group_spectrum


@pytest.mark.parametrize(
    ("counts", "min_counts", "grouping", "quality"),
    [
        # 3+0+2 reaches 5; 5 alone is a group; 1+1+0 never reaches 5 and fails
        ([3, 0, 2, 5, 1, 1, 0], 5, [1, -1, -1, 1, 1, 1, 1], [0, 0, 0, 0, 2, 2, 2]),
        # every channel alone reaches the minimum
        ([7, 9, 5], 5, [1, 1, 1], [0, 0, 0]),
        # the last group completes exactly on the last channel
        ([2, 3, 4, 1], 5, [1, -1, 1, -1], [0, 0, 0, 0]),
        # no counts at all: one failed group, every channel bad
        ([0, 0, 0, 0], 1, [1, 1, 1, 1], [2, 2, 2, 2]),
        # minimum 1 only groups empty channels onto the next count
        ([0, 0, 1, 0, 2], 1, [1, -1, -1, 1, -1], [0, 0, 0, 0, 0]),
        ([], 5, [], []),
    ],
)
def test_group_min_counts_hand_worked(counts, min_counts, grouping, quality):
    got_grouping, got_quality = group_min_counts(counts, min_counts)
    assert got_grouping.dtype == np.int16 and got_quality.dtype == np.int16
    np.testing.assert_array_equal(got_grouping, grouping)
    np.testing.assert_array_equal(got_quality, quality)


def test_group_min_counts_rejects_bad_input():
    with pytest.raises(ValueError, match="min_counts"):
        group_min_counts([1, 2], 0)
    with pytest.raises(ValueError, match="negative"):
        group_min_counts([1, -2], 1)


def write_spectrum(path, counts, grouping_column=False):
    """An extractor-like spectrum: WMAP primary, SPECTRUM, GTI."""
    wmap = fits.PrimaryHDU(np.array([[-1.0, 2.0], [3.0, -1.0]], dtype=np.float32))
    wmap.header["HDUNAME"] = "WMAP"
    wmap.header["WMREBIN"] = 90
    channel = np.arange(1, len(counts) + 1)
    columns = [
        fits.Column("CHANNEL", "J", array=channel),
        fits.Column("COUNTS", "J", unit="count", array=counts),
    ]
    if grouping_column:  # an earlier grouping to be replaced, before a column with TLMIN
        columns.insert(1, fits.Column("GROUPING", "I", array=np.ones(len(counts))))
    columns.append(fits.Column("PI_COPY", "J", array=channel))
    spectrum = fits.BinTableHDU.from_columns(columns, name="SPECTRUM")
    header = spectrum.header
    header.update(
        {"HDUCLASS": "OGIP", "HDUCLAS1": "SPECTRUM", "EXPOSURE": 1000.0, "POISSERR": True}
    )
    header["TLMIN1"], header["TLMAX1"] = 1, len(counts)
    last = len(columns)
    header[f"TLMIN{last}"], header[f"TLMAX{last}"] = 1, len(counts)
    header["QUALITY"] = 0
    if not grouping_column:
        header["GROUPING"] = 0
    for key in ("RESPFILE", "ANCRFILE", "BACKFILE"):
        header[key] = "none"
    gti = fits.BinTableHDU.from_columns(
        [fits.Column("START", "D", unit="s", array=[0.0]), fits.Column("STOP", "D", array=[1e3])],
        name="GTI",
    )
    fits.HDUList([wmap, spectrum, gti]).writeto(path)
    return path


@pytest.mark.parametrize("grouping_column", [False, True])
def test_group_spectrum_keeps_every_hdu_and_sets_keywords(tmp_path, grouping_column):
    counts = np.array([3, 0, 2, 5, 1, 1, 0])
    source = write_spectrum(tmp_path / "src.pi", counts, grouping_column)
    out = group_spectrum(
        source,
        tmp_path / "grp" / "src_grp.pi",
        5,
        respfile="../pspcc_gain1_256.rmf",
        ancrfile="src.arf",
        backfile="bkg.pi",
        provenance={"tool": "native grouping", "config_hash": "c0ffee"},
    )
    with fits.open(out) as grouped, fits.open(source) as original:
        assert [h.name for h in grouped] == ["PRIMARY", "SPECTRUM", "GTI"]
        np.testing.assert_array_equal(grouped[0].data, original[0].data)
        assert grouped[0].header["HDUNAME"] == "WMAP"
        assert grouped["GTI"].data["STOP"][0] == 1e3

        spectrum = grouped["SPECTRUM"]
        header, data = spectrum.header, spectrum.data
        assert "QUALITY" not in header and "GROUPING" not in header
        np.testing.assert_array_equal(data["GROUPING"], [1, -1, -1, 1, 1, 1, 1])
        np.testing.assert_array_equal(data["QUALITY"], [0, 0, 0, 0, 2, 2, 2])
        np.testing.assert_array_equal(data["COUNTS"], counts)
        forms = dict(zip(spectrum.columns.names, spectrum.columns.formats, strict=True))
        assert forms["GROUPING"] == "I" and forms["QUALITY"] == "I"
        assert spectrum.columns.names.count("GROUPING") == 1
        # column-numbered keywords still describe the same columns
        pi_copy = spectrum.columns.names.index("PI_COPY") + 1
        assert header[f"TLMAX{pi_copy}"] == len(counts)
        assert (header["RESPFILE"], header["ANCRFILE"], header["BACKFILE"]) == (
            "../pspcc_gain1_256.rmf",
            "src.arf",
            "bkg.pi",
        )
        assert (header["GRPTYPE"], header["GRPSCAL"]) == ("MIN", 5)
        assert (header["EXPOSURE"], header["POISSERR"]) == (1000.0, True)
        assert (header["RFTOOL"], header["RFCONFIG"]) == ("native grouping", "c0ffee")


def test_group_spectrum_without_spectrum_extension_raises(tmp_path):
    path = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((2, 2))).writeto(path)
    with pytest.raises(KeyError, match="image.fits"):
        group_spectrum(path, tmp_path / "out.pi", 5, "a.rmf", "a.arf", "b.pi")
    assert not (tmp_path / "out.pi").exists()


def test_sherpa_reads_the_grouped_spectrum_with_its_responses(tmp_path):
    from sherpa.astro.io import read_pha

    rmf = caldb.write_rmf(tmp_path / "pspcc_gain1_256.rmf")
    specresp = caldb.write_specresp(tmp_path / "pspcc_v1.spec_resp")
    make_arf(rmf, specresp, tmp_path / "src.arf")
    counts = np.zeros(256, dtype=int)
    counts[40:60] = 4
    source = write_spectrum(tmp_path / "src.pi", counts)
    out = group_spectrum(source, tmp_path / "src_grp.pi", 10, rmf.name, "src.arf", "none")

    pha = read_pha(str(out))
    assert pha.grouped
    assert pha.get_response()[0] is not None and pha.get_response()[1] is not None
    # zeros then 20 channels of 4 counts: 6 groups of 12 counts, then channels 59-256 fail
    assert (pha.quality[:58] == 0).all() and (pha.quality[58:] == 2).all()
    assert len(pha.get_dep(filter=False)) == 256
    assert pha.apply_grouping(pha.counts)[:6].tolist() == [12] * 6
