"""Which tools make the products (native or HEASoft) and fit the spectra (Sherpa or XSPEC):
resolved once per run, by the Snakefile, before any job.

``auto`` picks HEASoft / XSPEC only where their Python interfaces (heasoftpy, PyXspec)
import AND HEASoft is initialised (``HEADAS`` set); otherwise the native products and the
Sherpa fitter, which need nothing beyond the Python environment. Asking for HEASoft or
XSPEC explicitly where they are missing is an error that says how to install them. Jobs
get the resolved names through their params and the registry (rassflow.backends.registry).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os

from rassflow import __version__
from rassflow.backends.registry import FITTERS, PRODUCT_BACKENDS
from rassflow.errors import HEASOFT_INSTALL_HINT, BackendUnavailable


def heasoft_problem(module: str) -> str:
    """Why ``module`` (heasoftpy or xspec) cannot be used here, or '' when it can."""
    # not installed at all: say so without importing (a no-op run of the workflow pays this
    # at every start, and the XSPEC fitter module imports astropy)
    if importlib.util.find_spec(module) is None:
        return f"python module {module!r} does not import (it is not installed)"
    try:
        if module == "xspec":
            _import_xspec()  # in a private HOME, see rassflow.fitting.xspec
        else:
            importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - PyXspec fails with OSError etc. on broken installs
        return f"python module {module!r} does not import ({type(exc).__name__}: {exc})"
    if not os.environ.get("HEADAS"):
        return f"{module!r} imports but HEADAS is not set: HEASoft is not initialised"
    return ""


def _import_xspec():
    from rassflow.fitting.xspec import import_xspec

    return import_xspec()


def _require(module: str, what: str) -> None:
    problem = heasoft_problem(module)
    if problem:
        raise BackendUnavailable(f"{what} needs HEASoft, but {problem}.\n{HEASOFT_INSTALL_HINT}")


def _choose(requested: str, known: tuple, module: str, what: str, notes: list) -> str:
    """The backend for ``requested`` ('auto' or one of ``known``: native first, HEASoft second)."""
    if requested not in ("auto", *known):
        raise ValueError(f"unknown {what} backend {requested!r}; choose auto or one of {known}")
    if requested == known[0]:
        return requested
    if requested == known[1]:
        _require(module, f"{what} backend {requested!r}")
        return requested
    problem = heasoft_problem(module)
    if problem:
        notes.append(f"{what}: {known[0]} ({problem})")
        return known[0]
    return known[1]


def resolve_tools(products: str = "auto", fitter: str = "auto") -> dict:
    """The product backend and fitter to use, and the versions to stamp products with.

    Returns ``{"products": "native"|"heasoft", "fitter": "sherpa"|"xspec",
    "versions": {tool: version}, "notes": [why 'auto' fell back, ...]}``.
    """
    notes: list[str] = []
    chosen_products = _choose(products, tuple(PRODUCT_BACKENDS), "heasoftpy", "products", notes)
    chosen_fitter = _choose(fitter, tuple(FITTERS), "xspec", "fitter", notes)
    versions = {"rassflow": __version__}
    if chosen_products == "heasoft":
        from rassflow.backends.heasoft import heasoft_versions

        versions.update(heasoft_versions())
    if chosen_fitter == "xspec":
        xspec = _import_xspec()
        versions["pyxspec"], versions["xspec"] = (str(v) for v in xspec.Xset.version)
    else:
        versions["sherpa"] = importlib.metadata.version("sherpa")
    return {
        "products": chosen_products,
        "fitter": chosen_fitter,
        "versions": versions,
        "notes": notes,
    }


TOOLS_ENV = "RASSFLOW_TOOLS"


def resolve_tools_once(products: str = "auto", fitter: str = "auto") -> tuple[dict, bool]:
    """:func:`resolve_tools`, once per run: the answer is exported to the environment, so
    that jobs (which re-read the Snakefile, on this machine or on cluster nodes, whose
    environment sbatch passes on) reuse it instead of probing HEASoft again. Returns the
    answer and whether it was resolved now."""
    request = [products, fitter]
    exported = os.environ.get(TOOLS_ENV)
    if exported:
        answer = json.loads(exported)
        if answer.get("request") == request:
            return answer, False
    answer = {**resolve_tools(products, fitter), "request": request}
    os.environ[TOOLS_ENV] = json.dumps(answer, sort_keys=True)
    return answer, True
