"""Failure markers: a bad input becomes a named reason downstream, never a crash."""

from types import SimpleNamespace

import pytest
from astropy.io import fits

from rassflow.status import marker_reason, run_guarded, write_marker


@pytest.mark.parametrize("name", ["a.fits", "a.arf", "a.json", "a.reg"])
def test_marker_round_trip(tmp_path, name):
    path = tmp_path / name
    write_marker(path, 'extract_spectra: exposure map is 0 at "S1"', source="S1")
    assert marker_reason(path) == 'extract_spectra: exposure map is 0 at "S1"'


def test_real_products_are_not_markers(tmp_path):
    fits.PrimaryHDU().writeto(tmp_path / "ok.fits")
    (tmp_path / "ok.json").write_text('{"id_name": "S1"}')
    (tmp_path / "ok.reg").write_text("# Region file format: DS9 version 4.1\nfk5\n")
    for name in ("ok.fits", "ok.json", "ok.reg", "missing.fits"):
        assert marker_reason(tmp_path / name) is None


def job(tmp_path, inputs, outputs):
    return SimpleNamespace(
        input=[tmp_path / i for i in inputs],
        output=[tmp_path / o for o in outputs],
        wildcards=SimpleNamespace(src="S1"),
    )


def test_data_error_writes_markers_and_job_succeeds(tmp_path):
    fits.PrimaryHDU().writeto(tmp_path / "in.fits")

    def work():
        raise ValueError("no STDEVT extension in in.fits")

    assert (
        run_guarded(job(tmp_path, ["in.fits"], ["out.fits", "out.reg"]), "make_regions", work)
        is False
    )
    assert marker_reason(tmp_path / "out.fits") == "make_regions: no STDEVT extension in in.fits"
    assert marker_reason(tmp_path / "out.reg") == "make_regions: no STDEVT extension in in.fits"


def test_failed_input_is_passed_on_without_running(tmp_path):
    write_marker(tmp_path / "in.fits", "prepare_skyfield: truncated file")
    ran = []
    assert (
        run_guarded(job(tmp_path, ["in.fits"], ["out.json"]), "fit_spectrum", lambda: ran.append(1))
        is False
    )
    assert ran == []
    assert marker_reason(tmp_path / "out.json") == "prepare_skyfield: truncated file"


def test_bugs_are_not_swallowed(tmp_path):
    def work():
        raise TypeError("a bug")

    with pytest.raises(TypeError):
        run_guarded(job(tmp_path, [], ["out.fits"]), "stage", work)
    assert not (tmp_path / "out.fits").exists()
