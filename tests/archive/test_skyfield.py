import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from rassflow.archive.skyfield import (
    ArchiveError,
    exposure_at,
    find_archive_file,
    prepare_skyfield,
    read_events,
)
from rassflow.files import compress_file
from rassflow.pspc import pi_limits
from tests.support.fits import write_events, write_expmap


def test_pi_limits_match_the_notebook():
    assert pi_limits(0.5, 2.0) == (50, 203)
    assert pi_limits(1.0, 2.0) == (101, 203)


def test_read_events_applies_gti_and_reads_geometry(tmp_path):
    path = write_events(
        tmp_path / "ev.fits",
        x=[1, 2, 3],
        y=[1, 2, 3],
        pi=[10, 20, 30],
        time=[5.0, 15.0, 25.0],
        gti=[(0, 10), (20, 30)],
    )
    events = read_events(path)
    assert list(events.time) == [5.0, 25.0]
    assert events.axis_range("X") == (1, 46080)
    assert events.pixel_scale_deg == pytest.approx(1.388889e-4)


@pytest.mark.parametrize(
    "columns, extname, message",
    [
        (["X", "Y", "TIME"], "STDEVT", "lacks column"),
        (None, "EVENTS", "no STDEVT"),
    ],
)
def test_read_events_errors_name_the_file(tmp_path, columns, extname, message):
    path = write_events(
        tmp_path / "bad.fits", [1], [1], [1], [1.0], columns=columns, extname=extname
    )
    with pytest.raises(ArchiveError, match=message):
        read_events(path)


def test_truncated_or_non_fits_file(tmp_path):
    path = write_events(tmp_path / "ev.fits", [1] * 1000, [1] * 1000, [1] * 1000, [1.0] * 1000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="ev.fits"):
        read_events(path)
    (tmp_path / "text.fits").write_text("hello")
    with pytest.raises(ArchiveError, match="text.fits"):
        read_events(tmp_path / "text.fits")


def test_prepare_skyfield_expands_compressed_files(tmp_path):
    root = tmp_path / "archive" / "rs930001n00"
    root.mkdir(parents=True)
    plain = write_events(tmp_path / "plain.fits", [5], [6], [7], [1.0])
    compress_file(plain, root / "rs930001n00_bas.fits.Z")
    write_expmap(root / "rs930001n00_mex.fits")
    assert find_archive_file(tmp_path / "archive", "RS930001N00", "mex").name.endswith("_mex.fits")
    out = tmp_path / "cache"
    prepare_skyfield(
        tmp_path / "archive", "RS930001N00", {"bas": out / "bas.fits", "mex": out / "mex.fits"}
    )
    assert read_events(out / "bas.fits").x.tolist() == [5]
    with pytest.raises(ArchiveError, match="RS930001N00: no rs930001n00_im1"):
        prepare_skyfield(tmp_path / "archive", "RS930001N00", {"im1": out / "im1.fits"})


def test_exposure_at_nearest_pixel(tmp_path):
    path = write_expmap(tmp_path / "mex.fits", value=0.0)
    with fits.open(path, mode="update") as hdul:
        hdul[0].data[255, 255] = 321.0
    assert exposure_at(path, 150.0, 20.0) == 321.0 or exposure_at(path, 150.0, 20.0) == 0.0
    wcs = WCS(fits.getheader(path))
    ra, dec = wcs.all_pix2world([[255, 255]], 0)[0]
    assert exposure_at(path, ra, dec) == 321.0
    assert np.isnan(exposure_at(path, 150.0, 30.0))


def test_geometry_only_reads_no_rows(tmp_path):
    path = write_events(tmp_path / "ev.fits", x=[5, 6], y=[5, 6], pi=[7, 8], time=[1.0, 2.0])
    events = read_events(path, geometry_only=True)
    assert len(events.x) == 0
    assert events.axis_range("Y") == (1, 46080)
    assert events.wcs().wcs.ctype[0] == "RA---TAN"
