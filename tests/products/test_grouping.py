"""Grouping as ftgrouppha grouptype=min, on hand-worked examples and real spectrum files."""

import numpy as np
import pytest
from astropy.io import fits

from rassflow.products.grouping import group_min_counts, group_spectrum
from rassflow.products.responses import make_arf
from rassflow.simulate import caldb


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


# ---------------------------------------------------------------- within the fit range

from rassflow.products.grouping import (  # noqa: E402
    QUALITY_OUTSIDE,
    channels_in_range,
    group_min_counts_in_range,
    read_ebounds,
    restrict_to_range,
)

FIT_RANGE = (0.11, 2.02)


@pytest.mark.parametrize(
    ("counts", "inside", "grouping", "quality"),
    [
        # outside channels: own groups, QUALITY 5; inside: greedy from the first channel
        ([9, 1, 2, 0, 3, 4, 9], [0, 1, 1, 1, 1, 0, 0], [1, 1, -1, 1, -1, 1, 1],
         [5, 0, 0, 0, 0, 5, 5]),
        # the failed tail inside (0 + 1) joins the group before it instead of QUALITY 2
        ([0, 3, 0, 1, 7], [0, 1, 1, 1, 0], [1, 1, -1, -1, 1], [5, 0, 0, 0, 5]),
        # fewer counts inside than the minimum: ftgrouppha's failed group, QUALITY 2
        ([9, 1, 1, 9], [0, 1, 1, 0], [1, 1, 1, 1], [5, 2, 2, 5]),
        # nothing inside: every channel outside
        ([1, 2], [0, 0], [1, 1], [5, 5]),
    ],
)  # fmt: skip
def test_group_min_counts_in_range_hand_worked(counts, inside, grouping, quality):
    got_grouping, got_quality = group_min_counts_in_range(counts, 3, np.array(inside, bool))
    assert got_grouping.dtype == np.int16 and got_quality.dtype == np.int16
    np.testing.assert_array_equal(got_grouping, grouping)
    np.testing.assert_array_equal(got_quality, quality)


def _ftgrouppha_min(counts, min_counts, minchannel, maxchannel):
    """What ftgrouppha grouptype=min minchannel= maxchannel= writes (heasp's loadMin and
    setGrouping): greedy between the channels, GROUPING 1 outside them with the input
    QUALITY (0 from extractor), the failed trailing group QUALITY 2 and GROUPING 1."""
    grouping = np.ones(len(counts), dtype=np.int16)
    quality = np.zeros(len(counts), dtype=np.int16)
    part = slice(minchannel - 1, maxchannel)
    grouping[part], quality[part] = group_min_counts(np.asarray(counts)[part], min_counts)
    return grouping, quality


def test_the_heasoft_route_gives_the_native_grouping():
    """ftgrouppha between the range's first and last channel, then restrict_to_range: the
    same GROUPING/QUALITY as the native grouping, for many random spectra."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        counts = rng.poisson(rng.uniform(0.01, 2.0), 60)
        first, last = sorted(rng.choice(np.arange(60), 2, replace=False))
        inside = np.zeros(60, bool)
        inside[first : last + 1] = True
        native = group_min_counts_in_range(counts, 3, inside)
        heasoft = restrict_to_range(*_ftgrouppha_min(counts, 3, first + 1, last + 1), inside)
        np.testing.assert_array_equal(native[0], heasoft[0])
        np.testing.assert_array_equal(native[1], heasoft[1])


@pytest.fixture(scope="module")
def pspc_rmf(tmp_path_factory):
    return caldb.write_rmf(tmp_path_factory.mktemp("rmf") / "pspcc_gain1_256.rmf")


def test_a_channel_is_inside_iff_the_fitter_notices_it_alone(pspc_rmf):
    from rassflow.fitting.sherpa import notice_groups

    channel, e_min, e_max = read_ebounds(pspc_rmf)
    inside = channels_in_range(channel, pspc_rmf, FIT_RANGE)
    ones = np.ones(channel.size, dtype=np.int16)
    np.testing.assert_array_equal(inside, notice_groups(ones, 0 * ones, e_min, e_max, FIT_RANGE))
    # channel 10 (0.104-0.114 keV) and 203 (2.017-2.027 keV) straddle the limits
    assert channel[inside][[0, -1]].tolist() == [11, 202]
    with pytest.raises(ValueError, match="EBOUNDS channels"):
        channels_in_range(channel[:-1], pspc_rmf, FIT_RANGE)


def _soft_source(seed=4):
    """About 20 counts of a soft (kT 0.1 keV) source plus a little flat background."""
    from rassflow.simulate import instrument

    energ_lo, energ_hi = instrument.energy_grid()
    from rassflow.fitting import models

    norm = models.norm_for_energy_flux("bbody", 0.1, 1.0e-13, 0.5, 2.0)
    photons = models.photon_flux("bbody", (0.1, norm), energ_lo, energ_hi)
    photons = photons * instrument.onaxis_area(0.5 * (energ_lo + energ_hi))
    expected = 300.0 * photons @ instrument.redistribution_matrix(energ_lo, energ_hi)
    expected = expected * 18.0 / expected.sum() + 0.005
    return np.random.default_rng(seed).poisson(expected)


def test_a_faint_soft_source_keeps_every_count_inside_the_range(tmp_path, pspc_rmf):
    from rassflow.fitting.sherpa import group_edges, notice_groups

    counts = _soft_source()
    assert 10 <= counts.sum() <= 35  # about 20
    source = write_spectrum(tmp_path / "src.pi", counts)
    channel, e_min, e_max = read_ebounds(pspc_rmf)
    inside = channels_in_range(channel, pspc_rmf, FIT_RANGE)
    noticed_counts = {}
    for label, energy_range in (("whole", None), ("range", FIT_RANGE)):
        out = group_spectrum(source, tmp_path / f"{label}.pi", 3, "r.rmf", "a.arf", "b.pi",
                             energy_range_keV=energy_range, rmf=pspc_rmf)  # fmt: skip
        data = fits.getdata(out, "SPECTRUM")
        grouping, quality = data["GROUPING"], data["QUALITY"]
        starts, stops = group_edges(grouping)
        noticed = notice_groups(grouping, quality, e_min, e_max, FIT_RANGE)
        noticed_counts[label] = sum(
            counts[a : b + 1].sum() for a, b, n in zip(starts, stops, noticed, strict=True) if n
        )
        if energy_range is not None:
            # no group straddles a limit: every group is inside or outside entirely
            for a, b in zip(starts, stops, strict=True):
                assert inside[a : b + 1].all() or not inside[a : b + 1].any()
            assert (quality[~inside] == QUALITY_OUTSIDE).all()
            assert (grouping[~inside] == 1).all() and (quality[inside] == 0).all()
            header = fits.getheader(out, "SPECTRUM")
            assert (header["GRPELO"], header["GRPEHI"]) == FIT_RANGE
    assert noticed_counts["range"] == counts[inside].sum()  # nothing inside is lost
    assert noticed_counts["whole"] < counts[inside].sum()  # as the notebook grouped


def test_grouping_within_a_range_needs_the_rmf(tmp_path):
    source = write_spectrum(tmp_path / "src.pi", np.ones(256, dtype=int))
    with pytest.raises(ValueError, match="needs the RMF"):
        group_spectrum(source, tmp_path / "out.pi", 3, "a", "b", "c", energy_range_keV=FIT_RANGE)


# ---------------------------------------------------------------- the HEASoft route


@pytest.fixture
def fake_hsp(tmp_path, monkeypatch):
    """The heasoftpy stand-in (tests/fakes/heasoftpy), with an initialised-looking HEASoft."""
    import importlib
    import sys
    from pathlib import Path

    from rassflow.backends import heasoft
    from tests.support import FAKES

    monkeypatch.syspath_prepend(str(FAKES))
    for name in [m for m in sys.modules if m == "heasoftpy" or m.startswith("heasoftpy.")]:
        del sys.modules[name]
    (tmp_path / "headas" / "syspfiles").mkdir(parents=True)
    monkeypatch.setenv("HEADAS", str(tmp_path / "headas"))
    monkeypatch.delenv("PFILES", raising=False)
    heasoft.heasoft_versions.cache_clear()
    module = importlib.import_module("heasoftpy")
    assert Path(module.__file__).is_relative_to(FAKES)
    yield module
    heasoft.heasoft_versions.cache_clear()
    for name in [m for m in sys.modules if m == "heasoftpy" or m.startswith("heasoftpy.")]:
        del sys.modules[name]


def test_ftgrouppha_groups_between_the_range_channels(fake_hsp, tmp_path, pspc_rmf):
    """The call the HEASoft backend makes, and its astropy finish. (The stand-in's grouping
    is not ftgrouppha's: the parity of the numbers needs real HEASoft, test below.)"""
    from rassflow.backends.registry import group_spectrum as group

    source = write_spectrum(tmp_path / "src.pi", _soft_source())
    out = tmp_path / "grouped" / "src-grp.pi"
    arf, background = tmp_path / "src.arf", tmp_path / "bkg.pi"
    arf.write_text(""), background.write_text("")
    group("heasoft", source, out, 3, pspc_rmf, arf, background, {"config_hash": "c5"},
          energy_range_keV=FIT_RANGE)  # fmt: skip
    (call,) = [call for call in fake_hsp.calls if call["task"] == "ftgrouppha"]
    params = dict(call["params"])
    params.pop("infile")
    assert params == {
        "outfile": "grouped.fits", "grouptype": "min", "groupscale": 3, "minchannel": 11,
        "maxchannel": 202, "noprompt": True, "clobber": True, "chatter": 0,
    }  # fmt: skip
    with fits.open(out) as hdul:
        data, header = hdul["SPECTRUM"].data, hdul["SPECTRUM"].header
        inside = channels_in_range(data["CHANNEL"], pspc_rmf, FIT_RANGE)
        assert (data["QUALITY"][~inside] == QUALITY_OUTSIDE).all()
        assert (data["GROUPING"][~inside] == 1).all()
        assert (header["GRPELO"], header["GRPEHI"]) == FIT_RANGE
        assert header["RESPFILE"].endswith("pspcc_gain1_256.rmf")
        assert header["RFBACKND"] == "heasoft"


@pytest.mark.heasoft
def test_ftgrouppha_and_the_native_grouping_agree(tmp_path, pspc_rmf):
    """With real HEASoft: the same GROUPING/QUALITY from both backends, within the range."""
    import os

    hsp = pytest.importorskip("heasoftpy")
    if "fakes" in str(hsp.__file__) or not os.environ.get("HEADAS"):
        pytest.skip("needs real HEASoft (heasoftpy and HEADAS)")
    from rassflow.backends.registry import group_spectrum as group

    source = write_spectrum(tmp_path / "src.pi", _soft_source())
    arf, background = tmp_path / "src.arf", tmp_path / "bkg.pi"
    arf.write_text(""), background.write_text("")
    grouped = {}
    for backend in ("native", "heasoft"):
        out = tmp_path / backend / "src-grp.pi"
        group(backend, source, out, 3, pspc_rmf, arf, background,
              {"config_hash": "c6", "backend": backend}, energy_range_keV=FIT_RANGE)  # fmt: skip
        data = fits.getdata(out, "SPECTRUM")
        grouped[backend] = (data["GROUPING"].copy(), data["QUALITY"].copy())
    for native, heasoft in zip(grouped["native"], grouped["heasoft"], strict=True):
        np.testing.assert_array_equal(native, heasoft)
