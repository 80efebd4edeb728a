"""The HEASoft backend against a recording heasoftpy stand-in (tests/fakes/heasoftpy), and,
where HEASoft is installed, against the real tools and the native backend (parity)."""

from __future__ import annotations

import importlib
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rassflow.backends import heasoft
from rassflow.backends.heasoft import HeasoftTaskError
from rassflow.errors import BackendUnavailable
from rassflow.simulate.caldb import write_rmf
from tests.support import FAKES
from tests.support.fits import PIXEL_DEG, write_events, write_expmap

CENTRE = (23040.5, 23040.5)  # sky pixel of RA 150, Dec 20 in conftest's event files


def _unload(name: str) -> None:
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


@pytest.fixture
def fake_hsp(tmp_path, monkeypatch):
    """The heasoftpy stand-in, imported fresh, with an initialised-looking HEASoft."""
    monkeypatch.syspath_prepend(str(FAKES))
    _unload("heasoftpy")
    (tmp_path / "headas" / "syspfiles").mkdir(parents=True)
    monkeypatch.setenv("HEADAS", str(tmp_path / "headas"))
    monkeypatch.delenv("PFILES", raising=False)
    heasoft.heasoft_versions.cache_clear()
    module = importlib.import_module("heasoftpy")
    assert Path(module.__file__).is_relative_to(FAKES)
    yield module
    heasoft.heasoft_versions.cache_clear()
    _unload("heasoftpy")


@pytest.fixture
def survey(tmp_path):
    """A small event file, exposure map (400 s) and physical region files."""
    rng = np.random.default_rng(3)
    n_src, n_bkg = 300, 3000
    x = np.concatenate([rng.normal(CENTRE[0], 40, n_src), rng.uniform(21000, 25000, n_bkg)])
    y = np.concatenate([rng.normal(CENTRE[1], 40, n_src), rng.uniform(21000, 25000, n_bkg)])
    pi = np.concatenate([rng.integers(15, 120, n_src), rng.integers(10, 250, n_bkg)])
    time = rng.uniform(0, 1000, x.size)
    data = tmp_path / "data"
    data.mkdir()
    events = write_events(data / "rs930000n00_bas.fits", x.astype(int), y.astype(int), pi, time)
    expmap = write_expmap(data / "rs930000n00_mex.fits", value=400.0)
    radius = 2.0 / 60 / PIXEL_DEG
    src = data / "src_phys.reg"
    bkg = data / "bkg_phys.reg"
    src.write_text(f"physical\ncircle({CENTRE[0]},{CENTRE[1]},{radius:.4f})\n")
    bkg.write_text(
        f"physical\nannulus({CENTRE[0]},{CENTRE[1]},{1.05 * radius:.4f},{1.5 * radius:.4f})\n"
    )
    return {"events": events, "expmap": expmap, "src": src, "bkg": bkg, "radius": radius}


def _calls(hsp, task):
    return [call for call in hsp.calls if call["task"] == task]


def _resolves_to(call, name: str, path: Path) -> bool:
    """Whether a task's input name is relative (short, as the notebook passes it) and points
    at ``path`` from the task's working directory."""
    return (
        not os.path.isabs(name)
        and Path(os.path.normpath(Path(call["cwd"]) / name)) == path.resolve()
    )


def _assert_isolated(call, out: Path):
    """The task ran in its own directory beside the output, with private PFILES, now gone."""
    cwd = Path(call["cwd"])
    assert cwd.parent == out.parent.resolve() and cwd != out.parent.resolve()
    assert call["pfiles"].split(";")[0] == str(cwd / "pfiles")
    assert not cwd.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def _assert_stamped(path: Path, task: str, config_hash: str):
    with fits.open(path) as hdul:
        for hdu in hdul:
            assert hdu.header["RFBACKND"] == "heasoft"
            assert hdu.header["RFTOOL"] == f"{task} (HEASoft 6.99.1)"
            assert hdu.header["RFCONFIG"] == config_hash


def test_make_image_calls_extractor_as_the_notebook(fake_hsp, survey, tmp_path):
    out = tmp_path / "images" / "image.fits"
    heasoft.make_image(survey["events"], out, 50, 203, 90, chatter=3, config_hash="c1")
    (call,) = _calls(fake_hsp, "extractor")
    params = dict(call["params"])
    filename = params.pop("filename")
    assert filename.endswith("[PI=50:203]")
    assert _resolves_to(call, filename.removesuffix("[PI=50:203]"), survey["events"])
    assert params == {
        "imgfile": "image.fits",
        "phafile": "NONE",
        "eventsout": "NONE",
        "fitsbinlc": "NONE",
        "regionfile": "NONE",
        "binf": 90,
        "xcolf": "X",
        "ycolf": "Y",
        "gti": "STDGTI",
        "events": "STDEVT",
        "noprompt": True,
        "clobber": True,
        "chatter": 3,
    }
    _assert_isolated(call, out)
    assert os.environ["PFILES"].endswith("syspfiles")  # the private directory is dropped
    _assert_stamped(out, "extractor", "c1")
    np.testing.assert_array_equal(fits.getdata(out), np.arange(12).reshape(3, 4))


def test_extract_spectrum_calls_extractor_and_sets_exposure(fake_hsp, survey, tmp_path):
    out = tmp_path / "spectra" / "src.fits"
    heasoft.extract_spectrum(
        survey["events"], survey["src"], out, 8, survey["expmap"], 150.0, 20.0, config_hash="c2"
    )
    (call,) = _calls(fake_hsp, "extractor")
    params = dict(call["params"])
    filename, region = params.pop("filename"), params.pop("regionfile")
    assert filename.endswith("[PI=0:256]")
    assert _resolves_to(call, filename.removesuffix("[PI=0:256]"), survey["events"])
    assert _resolves_to(call, region, survey["src"])
    assert params == {
        "phafile": "spectrum.fits",
        "imgfile": "NONE",
        "eventsout": "NONE",
        "fitsbinlc": "NONE",
        "xcolf": "X",
        "ycolf": "Y",
        "xcolh": "X",
        "ycolh": "Y",
        "binh": 8,
        "ecol": "PI",
        "gti": "STDGTI",
        "events": "STDEVT",
        "fullimage": False,
        "noprompt": True,
        "clobber": True,
        "chatter": 0,
    }
    _assert_isolated(call, out)
    _assert_stamped(out, "extractor", "c2")
    with fits.open(out) as hdul:
        assert [hdu.header["EXPOSURE"] for hdu in hdul] == [400.0, 400.0, 400.0]


def test_extract_spectrum_refuses_a_position_without_exposure(fake_hsp, survey, tmp_path):
    with pytest.raises(ValueError, match="not positive"):
        heasoft.extract_spectrum(
            survey["events"], survey["src"], tmp_path / "s.fits", 8, survey["expmap"], 155.0, 20.0
        )
    assert _calls(fake_hsp, "extractor") == []


def test_make_arf_calls_pcarf_with_spectrum_and_rmf(fake_hsp, survey, tmp_path):
    spectrum, rmf = tmp_path / "src.fits", tmp_path / "pspcc.rmf"
    heasoft.extract_spectrum(
        survey["events"], survey["src"], spectrum, 8, survey["expmap"], 150, 20
    )
    write_rmf(rmf)
    out = tmp_path / "arf" / "src.arf"
    heasoft.make_arf(spectrum, rmf, out, chatter=1, config_hash="c3")
    (call,) = _calls(fake_hsp, "pcarf")
    params = dict(call["params"])
    assert _resolves_to(call, params.pop("phafil"), spectrum)
    assert _resolves_to(call, params.pop("rmffil"), rmf)
    assert params == {"outfil": "response.arf", "noprompt": True, "clobber": True, "chatter": 1}
    _assert_isolated(call, out)
    _assert_stamped(out, "pcarf", "c3")


def test_group_spectrum_calls_ftgrouppha_then_links_responses(fake_hsp, survey, tmp_path):
    spectrum = tmp_path / "src.fits"
    heasoft.extract_spectrum(
        survey["events"], survey["src"], spectrum, 8, survey["expmap"], 150, 20
    )
    out = tmp_path / "grouped" / "src-grp.fits"
    heasoft.group_spectrum(
        spectrum, out, "min", 3, "a.rmf", "b.arf", "c-background.fits", config_hash="c4"
    )
    (call,) = _calls(fake_hsp, "ftgrouppha")
    params = dict(call["params"])
    assert _resolves_to(call, params.pop("infile"), spectrum)
    assert params == {
        "outfile": "grouped.fits",
        "grouptype": "min",
        "groupscale": 3,
        "noprompt": True,
        "clobber": True,
        "chatter": 0,
    }
    _assert_isolated(call, out)
    _assert_stamped(out, "ftgrouppha", "c4")
    with fits.open(out) as hdul:
        header = hdul["SPECTRUM"].header
        assert (header["RESPFILE"], header["ANCRFILE"], header["BACKFILE"]) == (
            "a.rmf",
            "b.arf",
            "c-background.fits",
        )
        assert "GROUPING" in hdul["SPECTRUM"].columns.names
        assert header["EXPOSURE"] == 400.0  # kept from the extracted spectrum


@pytest.mark.parametrize("allow_failure", [True, False])
def test_failed_task_raises_with_its_output(fake_hsp, survey, tmp_path, allow_failure):
    fake_hsp.Config.allow_failure = allow_failure
    fake_hsp.failures["extractor"] = "ERROR: no events in the region"
    out = tmp_path / "images" / "image.fits"
    with pytest.raises(HeasoftTaskError, match="no events in the region") as raised:
        heasoft.make_image(survey["events"], out, 50, 203, 90)
    assert "extractor" in str(raised.value)
    assert list(out.parent.iterdir()) == []  # no product, no working directory left


def test_task_that_cannot_open_its_input_raises(fake_hsp, survey, tmp_path):
    spectrum = tmp_path / "src.fits"
    spectrum.write_bytes(b"")
    missing = tmp_path / "missing.rmf"
    with pytest.raises(FileNotFoundError, match="missing.rmf"):
        heasoft.make_arf(spectrum, missing, tmp_path / "x.arf")
    assert _calls(fake_hsp, "pcarf") == []


def test_heasoft_needs_headas(fake_hsp, survey, tmp_path, monkeypatch):
    monkeypatch.delenv("HEADAS")
    with pytest.raises(BackendUnavailable, match="HEADAS is not set") as raised:
        heasoft.make_image(survey["events"], tmp_path / "i.fits", 50, 203, 90)
    assert "heasarc.gsfc.nasa.gov/FTP/software/conda" in str(raised.value)


# ---------------------------------------------------------------- parity with the real tools


def _require_real(module: str) -> None:
    if not os.environ.get("HEADAS"):
        pytest.skip("HEASoft is not initialised (HEADAS unset): no parity test with real tools")
    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        pytest.skip(f"{module} does not import ({exc}): no parity test with real tools")
    if Path(loaded.__file__).is_relative_to(FAKES):
        pytest.skip(f"{module} is the test stand-in, not the real package")


def caldb_responses():
    """The PSPC-C RMF and SPECRESP file of the installed CALDB ($CALDB), as the workflow picks them."""
    from rassflow.calibration.caldb import LocalCaldb, find_file

    if not os.environ.get("CALDB"):
        pytest.skip("no $CALDB: the parity tests need HEASoft's CALDB")
    caldb = LocalCaldb(os.environ["CALDB"])
    return find_file(caldb, "MATRIX", "pich.eq.256"), find_file(caldb, "SPECRESP")


@pytest.fixture
def native_products(survey, tmp_path):
    """The native backend's spectra of the survey source, as the workflow makes them."""
    from rassflow.chain import Skyfield, Source, extract_spectra

    out = {
        "spectrum": tmp_path / "native" / "src.fits",
        "background": tmp_path / "native" / "bkg.fits",
    }
    paths = {"src_phys": survey["src"], "bkg_phys": survey["bkg"], **out}
    settings = {
        "backend": "native",
        "wmap_binning": 8,
        "provenance": {"tool": "rassflow.products.spectra"},
    }
    extract_spectra(
        Skyfield(survey["events"], survey["expmap"]), Source("S1", 150.0, 20.0, paths), settings
    )
    return {"src": out["spectrum"], "bkg": out["background"]}


@pytest.mark.heasoft
def test_parity_images(survey, tmp_path):
    _require_real("heasoftpy")
    from rassflow.products.images import make_images
    from rassflow.pspc import pi_limits

    native = tmp_path / "native.fits"
    make_images(survey["events"], "RS930000N00", [(0.5, 2.0)], [90], {(0.5, 2.0, 90): native}, {})
    tool = heasoft.make_image(survey["events"], tmp_path / "tool.fits", *pi_limits(0.5, 2.0), 90)
    np.testing.assert_array_equal(fits.getdata(native), fits.getdata(tool))


@pytest.mark.heasoft
def test_parity_spectra(survey, native_products, tmp_path):
    _require_real("heasoftpy")
    for which in ("src", "bkg"):
        tool = heasoft.extract_spectrum(
            survey["events"], survey[which], tmp_path / f"tool-{which}.fits", 8,
            survey["expmap"], 150.0, 20.0,
        )  # fmt: skip
        with fits.open(native_products[which]) as ours, fits.open(tool) as theirs:
            np.testing.assert_array_equal(
                ours["SPECTRUM"].data["COUNTS"], theirs["SPECTRUM"].data["COUNTS"]
            )
            assert math.isclose(
                ours["SPECTRUM"].header["BACKSCAL"], theirs["SPECTRUM"].header["BACKSCAL"],
                rel_tol=1e-6,
            )  # fmt: skip
            assert [h.header["EXPOSURE"] for h in ours] == [h.header["EXPOSURE"] for h in theirs]


@pytest.mark.heasoft
def test_parity_arf(native_products, tmp_path):
    _require_real("heasoftpy")
    from rassflow.products.responses import make_arf

    rmf, specresp = caldb_responses()
    ours = make_arf(rmf, specresp, tmp_path / "native.arf", "pcarf", wmap=native_products["src"])
    theirs = heasoft.make_arf(native_products["src"], rmf, tmp_path / "tool.arf")
    ours, theirs = (fits.getdata(path, "SPECRESP")["SPECRESP"] for path in (ours, theirs))
    significant = theirs > 0.01 * theirs.max()
    np.testing.assert_allclose(ours[significant], theirs[significant], rtol=0.02)


@pytest.mark.heasoft
@pytest.mark.xspec
def test_parity_fits(native_products, tmp_path):
    _require_real("heasoftpy")
    _require_real("xspec")
    from rassflow.fitting.sherpa import fit_source as sherpa_fit
    from rassflow.fitting.xspec import fit_source as xspec_fit
    from rassflow.products.grouping import group_spectrum

    rmf, _ = caldb_responses()
    arf = heasoft.make_arf(native_products["src"], rmf, tmp_path / "src.arf")
    grouped = group_spectrum(
        native_products["src"], tmp_path / "src-grp.fits", 3, rmf.name, arf.name,
        os.path.relpath(native_products["bkg"], tmp_path),
    )  # fmt: skip
    files = (grouped, native_products["bkg"], rmf, arf)
    ours, theirs = sherpa_fit(*files, {}, "S1"), xspec_fit(*files, {}, "S1")
    for name, model in theirs["models"].items():
        assert model["status"] == ours["models"][name]["status"] == "ok"
        for par, entry in model["parameters"].items():
            other = ours["models"][name]["parameters"][par]
            sigma = max(entry["err-"] or 0, entry["err+"] or 0) / 1.645  # 90 % -> 1 sigma
            assert abs(entry["value"] - other["value"]) <= sigma, (name, par)
