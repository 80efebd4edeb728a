"""rassflow.catalog.vizier: the sample from a local VizieR server (TLS), cleaned and cached."""

from __future__ import annotations

import pandas as pd
import pytest
from astropy.table import Table

from rassflow.catalog.vizier import fetch_vizier_sample, unique_lowercase_names
from tests.support.servers import LocalServer, VizierApp, tls_context


def test_unique_lowercase_names_rule():
    names = ["e_pEWa", "E_pEWa", "SpTC", "SpTc", "a", "a_2", "A", "Vmag"]
    assert unique_lowercase_names(names) == [
        "e_pEWa",
        "E_pEWa_2",
        "SpTC",
        "SpTc_2",
        "a",
        "a_2",
        "A_3",
        "Vmag",
    ]


def test_vizier_fetch_cleans_columns_and_caches(tmp_path, monkeypatch):
    mstars = Table(
        {
            "_RAJ2000": [1.2953, 10.5],
            "_DEJ2000": [-16.71, 45.0],
            "Karmn": ["J00051+457", "J00067-075"],
            "RAJ2000": ["00 05 10.89", "00 42 00.00"],
            "DEJ2000": ["+45 47 11.6", "+45 00 00.0"],
            "RAs": ["00 05 10.9", "00 42 00.0"],  # dropped for its unit 'h:m:s' alone
            "e_pEWa": [0.1, 0.2],
            "E_pEWa": [0.3, 0.4],
            "SpTC": ["M1.0", "M2.0"],
            "SpTc": [1.0, 2.0],
        }
    )
    refs = Table({"Ref": ["A", "B", "C"]})
    context, ca_bundle = tls_context()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_bundle)
    app = VizierApp(
        "J/A+A/577/A128",
        {"mstars": mstars, "refs": refs},
        sexagesimal=("RAJ2000", "DEJ2000", "RAs"),
    )
    cache = tmp_path / "cache" / "sample.csv"
    with LocalServer(app, ssl_context=context) as server:
        first = fetch_vizier_sample(cache_path=cache, vizier_server=server.host)
        hits = server.hits["/viz-bin/votable"]
        second = fetch_vizier_sample(cache_path=cache, vizier_server=server.host)
        assert server.hits["/viz-bin/votable"] == hits == 1
        refs_frame = fetch_vizier_sample(
            table=1, cache_path=tmp_path / "refs.fits", vizier_server=server.host
        )
    assert app.requests[0]["-out.max"] == ["unlimited"]
    assert list(first.columns) == [
        "_RAJ2000",
        "_DEJ2000",
        "Karmn",
        "e_pEWa",
        "E_pEWa_2",
        "SpTC",
        "SpTc_2",
    ]
    assert first["E_pEWa_2"].tolist() == [0.3, 0.4]
    pd.testing.assert_frame_equal(first, second)
    assert refs_frame["Ref"].tolist() == ["A", "B", "C"]


def test_vizier_missing_table_names_catalog(tmp_path, monkeypatch):
    context, ca_bundle = tls_context()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_bundle)
    app = VizierApp("J/A+A/577/A128", {"mstars": Table({"x": [1.0]})})
    with LocalServer(app, ssl_context=context) as server:
        with pytest.raises(RuntimeError, match=r"J/A\+A/577/A128.*no table 3"):
            fetch_vizier_sample(table=3, cache_path=tmp_path / "s.csv", vizier_server=server.host)
    assert not (tmp_path / "s.csv").exists()
