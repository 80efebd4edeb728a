"""Photoelectric absorption by XSPEC's own model code (the ``xspectrampoline`` package).

``tbabs`` (Wilms, Allen & McCray 2000, ApJ 542, 914; XSPEC's ``C_tbabs``) and ``phabs``
(XSPEC's ``xsphab``, cross-sections chosen by XSPEC's ``xsect``: Verner et al. 1996, ApJ 465,
487 for ``vern``; Balucinska-Church & McCammon 1992, ApJ 400, 699 for ``bcmc``/``obcm``) are
evaluated by XSPEC 12.15.0's compiled model library, as ``xspectrampoline`` (PyPI, GPL)
distributes it, so that both fitters use one absorption code and no cross-section table is
copied into this project. Each returns the transmission of every energy bin [lo, hi] keV
for a column NH in 10^22 cm^-2, as XSPEC multiplies it into an additive model on the same
bins.

XSPEC keeps the abundance table (``abund``) and the cross-sections (``xsect``) as global
settings of its library: :func:`xspec_transmission` sets them before every call that needs
other ones. ``tbabs`` reads the abundance table and always uses its own Verner-based
cross-sections (its start-up message says it ignores ``xsect``); ``phabs`` reads both.

Both compute exp(-nH sigma(E)) per bin, so :func:`transmission`, what the fitters call,
reads sigma per bin off a few calls of XSPEC's function per energy grid and setting
(:func:`cross_section`) and returns exp(-nH sigma): a fit then costs an exponential per
evaluation (~30 us for 729 bins) instead of an XSPEC call (2-7 ms). It equals a direct call
to 4e-15 for tbabs and within phabs's single precision (tests/fitting/test_xspec_models.py).

The library prints its settings and tbabs's banner on the C stdout once; that is XSPEC's
own record of what it computed.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os

import numpy as np

PACKAGE = "xspectrampoline"
INSTALL_HINT = (
    "absorbed models (tbabs*..., phabs*...) evaluate XSPEC's own absorption code from the "
    "'xspectrampoline' package (XSPEC 12.15 model library; wheels for Linux x86_64 and "
    "macOS): pip install xspectrampoline"
)
NH_UNIT = "10^22 cm^-2"
"""XSPEC's unit of nH (model.dat), the unit of the absorbed models' nH parameter."""

ABSORBERS = {
    "tbabs": {
        "symbol": "C_tbabs",
        "xspec_component": "TBabs",  # the component's name in a PyXspec model
        "reference": "Wilms, Allen & McCray 2000, ApJ 542, 914 (own Verner-based sections)",
    },
    "phabs": {
        "symbol": "xsphab_",
        "xspec_component": "phabs",
        "reference": "XSPEC phabs: photoelectric absorption with the xsect cross-sections",
    },
}
ABUNDANCE_TABLES = (
    "angr", "aspl", "feld", "aneb", "grsa", "wilm", "lodd", "lpgp", "lpgs", "felc",
)  # fmt: skip
"""XSPEC's built-in abundance tables (``abund``), as its abundances.dat lists them."""
CROSS_SECTIONS = ("vern", "bcmc", "obcm")
"""XSPEC's photoionisation cross-section tables (``xsect``)."""


class XspecModelsUnavailable(RuntimeError):
    """XSPEC's model library (xspectrampoline) is not installed or cannot be loaded."""


def installed() -> bool:
    """Whether the xspectrampoline package is installed (without loading the library)."""
    return importlib.util.find_spec(PACKAGE) is not None


@functools.cache
def library():
    """xspectrampoline's handle on XSPEC's libraries (loaded and initialised once)."""
    if not installed():
        raise XspecModelsUnavailable(INSTALL_HINT)
    headas = os.environ.get("HEADAS")
    try:
        import xspectrampoline
    except Exception as error:  # NoLibXSPEC or a missing shared library on this platform
        raise XspecModelsUnavailable(
            f"{INSTALL_HINT} (it is installed but could not be loaded: {error!r})"
        ) from error
    finally:
        # the import sets HEADAS to its own copy when unset (XSPEC's initialisation reads
        # it); the process must not look like an initialised HEASoft afterwards
        # (rassflow.backends tells HEASoft's presence by HEADAS)
        if headas is None:
            os.environ.pop("HEADAS", None)
    libs = xspectrampoline.get_libraries()
    functions = libs.lib_xs_functions
    for name in ("FPSOLR", "FPXSCT"):
        getattr(functions, name).argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
        getattr(functions, name).restype = None
    for name in ("FGSOLR", "FGXSCT"):
        getattr(functions, name).restype = ctypes.c_char_p
    return libs


def version() -> str:
    """XSPEC's version string of the loaded model library, e.g. '12.15.0'."""
    buffer = ctypes.create_string_buffer(64)
    library().lib_xs_functions.xs_getVersion(buffer, len(buffer))
    return buffer.value.decode()


def library_description() -> str:
    """What computes the absorption, for the products' provenance."""
    from importlib.metadata import version as package_version

    return f"XSPEC {version()} model library ({PACKAGE} {package_version(PACKAGE)})"


def _set(name: str, value: str) -> None:
    functions = library().lib_xs_functions
    getter = {"FPSOLR": functions.FGSOLR, "FPXSCT": functions.FGXSCT}[name]
    if getter().decode().strip().lower() == value:
        return
    status = ctypes.c_int(0)
    getattr(functions, name)(value.encode(), ctypes.byref(status))
    if status.value != 0:
        raise ValueError(f"XSPEC refused the setting {value!r} ({name} status {status.value})")


def configure(abundances: str = "wilm", cross_sections: str = "vern") -> None:
    """Set XSPEC's abundance table and cross-sections (its ``abund`` and ``xsect``)."""
    if abundances not in ABUNDANCE_TABLES:
        raise ValueError(f"unknown abundance table {abundances!r}; one of {ABUNDANCE_TABLES}")
    if cross_sections not in CROSS_SECTIONS:
        raise ValueError(f"unknown cross-sections {cross_sections!r}; one of {CROSS_SECTIONS}")
    _set("FPSOLR", abundances)
    _set("FPXSCT", cross_sections)


def _call(symbol: str, edges: np.ndarray, parameters) -> np.ndarray:
    """XSPEC model ``symbol`` on the energy grid ``edges`` (keV, n + 1 values): n values.
    Fortran models (name ending in '_') take single precision, C models double."""
    function = library().get_model(symbol)
    dtype = np.float32 if symbol.endswith("_") else np.float64
    edges = np.ascontiguousarray(edges, dtype=dtype)
    output = np.zeros(edges.size - 1, dtype=dtype)
    error = np.zeros(edges.size - 1, dtype=dtype)
    function(edges, np.ascontiguousarray(parameters, dtype=dtype), output, error)
    return output.astype(float)


def evaluate(symbol: str, lo, hi, parameters) -> np.ndarray:
    """XSPEC model ``symbol`` (e.g. 'C_powerLaw', 'xsblbd_', 'C_tbabs') per bin [lo, hi] keV,
    with its parameters but not the norm: photons/cm^2/s per bin at norm 1 for an additive
    model, the factor per bin for a multiplicative one. Bins must be contiguous (XSPEC takes
    n + 1 edges); non-contiguous bins are evaluated one at a time."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    if lo.size == 0:
        return np.zeros(0)
    if np.array_equal(lo[1:], hi[:-1]):
        return _call(symbol, np.append(lo, hi[-1]), parameters)
    return np.array([_call(symbol, [a, b], parameters)[0] for a, b in zip(lo, hi, strict=True)])


def xspec_transmission(
    absorber: str, lo, hi, nh: float, abundances: str = "wilm", cross_sections: str = "vern"
) -> np.ndarray:
    """Transmission of each bin [lo, hi] keV through a column ``nh`` (10^22 cm^-2): one
    call of XSPEC's ``absorber`` ('tbabs' or 'phabs') with the given ``abund`` and
    ``xsect``."""
    if absorber not in ABSORBERS:
        raise KeyError(f"unknown absorber {absorber!r}; one of {', '.join(ABSORBERS)}")
    configure(abundances, cross_sections)
    return evaluate(ABSORBERS[absorber]["symbol"], lo, hi, [float(nh)])


REFERENCE_COLUMNS = (1.0e-3, 1.0e-2, 0.1, 1.0, 10.0)  # 10^22 cm^-2
"""Columns at which XSPEC's absorber is called to read off its cross-section per bin."""


@functools.lru_cache(maxsize=64)
def _cross_section(absorber, abundances, cross_sections, lo_bytes, hi_bytes):
    lo, hi = np.frombuffer(lo_bytes), np.frombuffer(hi_bytes)
    sigma = np.full(lo.size, np.nan)
    # per bin, the largest reference column that leaves a resolvable transmission: the
    # best relative precision of -ln T (XSPEC's phabs computes in single precision)
    for nh in REFERENCE_COLUMNS:
        values = xspec_transmission(absorber, lo, hi, nh, abundances, cross_sections)
        usable = (values > 1.0e-30) & (values < 1.0 - 1.0e-4)
        sigma[usable] = -np.log(values[usable]) / nh
        untouched = np.isnan(sigma) & (values >= 1.0 - 1.0e-4)
        sigma[untouched] = -np.log(values[untouched]) / nh  # nearly transparent at every nH
    sigma[np.isnan(sigma)] = np.inf  # opaque at even the smallest reference column
    sigma.setflags(write=False)
    return sigma


def cross_section(
    absorber: str, lo, hi, abundances: str = "wilm", cross_sections: str = "vern"
) -> np.ndarray:
    """XSPEC's ``absorber`` cross-section per bin (per 10^22 cm^-2), read off its own
    transmission: both tbabs and phabs compute exp(-nH sigma) per bin, so that
    transmission(nH) = exp(-nH sigma) (checked against every call in
    tests/fitting/test_xspec_models.py). Cached per energy grid."""
    if absorber not in ABSORBERS:
        raise KeyError(f"unknown absorber {absorber!r}; one of {', '.join(ABSORBERS)}")
    lo = np.ascontiguousarray(lo, dtype=float)
    hi = np.ascontiguousarray(hi, dtype=float)
    return _cross_section(absorber, abundances, cross_sections, lo.tobytes(), hi.tobytes())


def transmission(
    absorber: str, lo, hi, nh: float, abundances: str = "wilm", cross_sections: str = "vern"
) -> np.ndarray:
    """Transmission of each bin [lo, hi] keV through a column ``nh`` (10^22 cm^-2) of
    XSPEC's ``absorber`` with the given ``abund`` and ``xsect``: exp(-nh sigma) with
    XSPEC's cross-section per bin (:func:`cross_section`), so that a fit evaluating
    hundreds of columns calls XSPEC a few times per energy grid, not once per column."""
    sigma = cross_section(absorber, lo, hi, abundances, cross_sections)
    with np.errstate(invalid="ignore"):  # 0 * inf: no absorption at nH 0
        exponent = float(nh) * sigma
    return np.exp(-np.where(np.isnan(exponent), 0.0, exponent))


def provenance(absorber: str, abundances: str, cross_sections: str, library=None) -> dict:
    """What the absorption of a fit was computed with (written into the fit result);
    ``library`` names the XSPEC that computed it (default: xspectrampoline's)."""
    info = ABSORBERS[absorber]
    return {
        "model": absorber,
        "abundances": abundances,
        "cross_sections": cross_sections,  # the setting (tbabs: see its reference)
        "reference": info["reference"],
        "library": library or library_description(),
    }
