"""Choosing the tool backends: 'auto' with and without HEASoft, and the errors when missing."""

from __future__ import annotations

import sys

import pytest

from rassflow.backends import heasoft
from rassflow.errors import BackendUnavailable
from rassflow.tools import resolve_tools
from tests.support import FAKES

MODULES = ("heasoftpy", "xspec")


def _unload() -> None:
    for module in [m for m in sys.modules if m.split(".")[0] in MODULES]:
        del sys.modules[module]


@pytest.fixture
def clean_modules():
    _unload()
    heasoft.heasoft_versions.cache_clear()
    yield
    _unload()
    heasoft.heasoft_versions.cache_clear()


@pytest.fixture
def without_heasoft(clean_modules, monkeypatch):
    """Neither heasoftpy nor PyXspec imports (even where they are installed)."""
    for module in MODULES:
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError


@pytest.fixture
def fake_heasoft(clean_modules, tmp_path, monkeypatch):
    """The stand-ins for heasoftpy and PyXspec importable, HEASoft initialised."""
    monkeypatch.syspath_prepend(str(FAKES))
    (tmp_path / "headas" / "syspfiles").mkdir(parents=True)
    monkeypatch.setenv("HEADAS", str(tmp_path / "headas"))


def test_auto_without_heasoft_is_native_and_sherpa(without_heasoft, monkeypatch):
    monkeypatch.setenv("HEADAS", "/opt/heasoft")
    tools = resolve_tools()
    assert (tools["products"], tools["fitter"]) == ("native", "sherpa")
    assert set(tools["versions"]) == {"rassflow", "sherpa"}
    assert len(tools["notes"]) == 2
    assert all("does not import" in note for note in tools["notes"])


def test_auto_with_heasoft_is_heasoft_and_xspec(fake_heasoft):
    tools = resolve_tools("auto", "auto")
    assert (tools["products"], tools["fitter"]) == ("heasoft", "xspec")
    assert tools["versions"] == {
        "rassflow": tools["versions"]["rassflow"],
        "heasoftpy": "1.5.0+fake",
        "heasoft": "6.99.1",
        "pyxspec": "2.1.5-fake",
        "xspec": "12.15.0-fake",
    }
    assert tools["notes"] == []


def test_auto_needs_headas_as_well(fake_heasoft, monkeypatch):
    monkeypatch.delenv("HEADAS")
    tools = resolve_tools()
    assert (tools["products"], tools["fitter"]) == ("native", "sherpa")
    assert all("HEADAS is not set" in note for note in tools["notes"])
    with pytest.raises(BackendUnavailable, match="HEADAS is not set"):
        resolve_tools(products="heasoft")


def test_explicit_native_and_sherpa_need_no_heasoft(fake_heasoft):
    tools = resolve_tools("native", "sherpa")
    assert (tools["products"], tools["fitter"]) == ("native", "sherpa")
    assert "heasoftpy" not in sys.modules and "xspec" not in sys.modules


@pytest.mark.parametrize(
    ("products", "fitter", "missing"),
    [("heasoft", "sherpa", "heasoftpy"), ("native", "xspec", "xspec")],
)
def test_missing_heasoft_says_how_to_install(without_heasoft, products, fitter, missing):
    with pytest.raises(BackendUnavailable) as raised:
        resolve_tools(products, fitter)
    message = str(raised.value)
    assert f"'{missing}' does not import" in message
    assert (
        "conda install -c https://heasarc.gsfc.nasa.gov/FTP/software/conda -c conda-forge "
        "heasoft xspec-data" in message
    )
    assert "workflow/envs/heasoft.yaml" in message and "Fornax" in message


def test_unknown_backend_names_are_rejected():
    with pytest.raises(ValueError, match="unknown products backend 'ciao'"):
        resolve_tools(products="ciao")
    with pytest.raises(ValueError, match="unknown fitter backend 'isis'"):
        resolve_tools(fitter="isis")
