"""Sources at the field edge, in two fields, and hostile names."""

import pandas as pd
import pytest

from rassflow.archive.skyfield import read_events
from rassflow.catalog.crossmatch import crossmatch
from rassflow.catalog.sample import CatalogError, clean_id, prepare_sample
from rassflow.products.regions import source_regions
from rassflow.products.spectra import extract_spectrum
from tests.support.fits import write_events

PROV = {"backend": "native", "tool": "test", "config_hash": "0"}


def test_regions_off_the_field_edge_are_clipped_in_backscal(tmp_path):
    events = read_events(
        write_events(tmp_path / "ev.fits", [100, 46000], [23340, 23040], [50, 50], [1.0, 2.0])
    )
    centre = source_regions(events.wcs(), 150.0, 20.0, 2.0, 1.05, 1.5, events.pixel_scale_deg)
    # 100 sky pixels (50") from the X = 1 edge: most of the annulus lies outside the field
    ra, dec = events.wcs().all_pix2world([[100.0, 23040.5]], 1)[0]
    edge = source_regions(events.wcs(), ra, dec, 2.0, 1.05, 1.5, events.pixel_scale_deg)
    full = extract_spectrum(events, centre, "bkg", 90, 300.0, "S", PROV)[1].header["BACKSCAL"]
    clipped = extract_spectrum(events, edge, "bkg", 90, 300.0, "S", PROV)
    lattice_x, _ = edge.lattice("bkg")
    assert lattice_x.min() >= 1  # only pixels inside the field count
    assert clipped[1].header["BACKSCAL"] == pytest.approx(len(lattice_x) / 46080**2)
    assert 0 < clipped[1].header["BACKSCAL"] < 0.8 * full
    assert clipped[1].data["COUNTS"].sum() == 1  # the event 300 pixels above the centre


def test_a_source_in_two_fields_is_analysed_in_its_2rxs_skyfield():
    sample = prepare_sample(
        pd.DataFrame({"No": [1], "Name": ["GJ 1"], "RAdeg": [10.0], "DEdeg": [0.0]}),
        "No",
        "Name",
        "RAdeg",
        "DEdeg",
        "X-",
    )
    # the 2RXS entry names field 930002 although field 930001 covers the position too
    rxs = pd.DataFrame(
        {"name": ["2RXS A"], "ra": [10.0], "dec": [0.0], "skyfield_number": [930002]}
    )
    table = crossmatch(
        sample, rxs, 8.0, {"name": "name", "ra": "ra", "dec": "dec", "skyfield": "skyfield_number"}
    )
    assert list(table["seq_id"]) == ["RS930002N00"]


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("../../etc/passwd", "X-.._.._etc_passwd"),
        ("/abs/path", "X-_abs_path"),
        ('quote"s and spaces', "X-quote_s_and_spaces"),
        ("Ünïcødé", "X-Unicde"),  # letters without an ASCII form are dropped
    ],
)
def test_hostile_names_become_one_safe_path_component(raw, clean):
    value = clean_id("X-", raw)
    assert value == clean
    assert "/" not in value and value not in (".", "..")


def test_names_that_clean_to_nothing_are_refused():
    with pytest.raises(CatalogError):
        clean_id("", "///")
