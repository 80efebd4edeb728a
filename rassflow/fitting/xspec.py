"""XSPEC fitting backend: the notebook's PyXspec fit of one source, as a JSON-ready dict.

Same signature and result schema as :func:`rassflow.fitting.sherpa.fit_source` (fitter
'xspec', statistic 'cstat'), with the notebook's settings (fact sheet §4, §6):
``Xset.chatter = 0``, ``Fit.statMethod = "cstat"`` (W-stat with a background file),
``Fit.query = "no"``, ``Fit.nIterations``; the background, RMF and ARF set explicitly;
``ignore **-lo hi-**`` and ``ignore bad``; a fit only when more than ``min_noticed_channels``
groups are noticed; ``error <delta> 1 2`` with the 9-letter status string mapped to flags and
good_err; ``calcFlux "lo hi err N conf"`` per band; the data plot in keV.

PyXspec holds global state (loaded data and models, ``~/.xspec``): it is imported once per
process with HOME pointing at a private directory, and every call starts and ends by
clearing all data and models. The plot data are counts/s/keV (``Plot.area`` off), as in
the Sherpa backend.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..backends import working_directory
from ..models import MODELS
from . import FIT_DEFAULTS, json_number, resolve_fit_settings, unfitted_model
from . import parameter_entry as json_parameter_entry

# XSPEC's own starting values, as the notebook uses them
DEFAULT_SETTINGS = {**FIT_DEFAULTS, "start": {}}
XSPEC_MAX_RSTAT = 2.0
STATISTIC = "cstat"
FLAGS_OK = "FFFFFFFFF"
# 0-based positions in XSPEC's error status string (fact sheet §6.3) that void a bound
LOWER_VOID, UPPER_VOID, RSTAT_REFUSED = 6, 7, 8


def import_xspec():
    """PyXspec, imported once per process with HOME set to a private directory, so that
    XSPEC's start-up files and history (``~/.xspec``) are never shared between jobs."""
    if sys.modules.get("xspec") is not None:
        return sys.modules["xspec"]
    home = tempfile.mkdtemp(prefix="rassflow-xspec-home-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    previous = os.environ.get("HOME")
    os.environ["HOME"] = home
    try:
        import xspec
    finally:
        if previous is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = previous
    return xspec


def resolve_settings(settings: dict | None) -> dict:
    """Fit settings with this fitter's defaults filled in; unknown keys and models are an error."""
    return resolve_fit_settings(settings, DEFAULT_SETTINGS)


def _json_list(values) -> list:
    return [json_number(value) for value in np.asarray(values, dtype=float)]


def _source_seed(seed: int, source_id: str) -> int:
    """XSPEC's random seed for one source: the same in every process (str hashes are salted)."""
    digest = hashlib.sha256(f"{int(seed)}:{source_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


# ---------------------------------------------------------------- reading OGIP files


def _spectrum_hdu(hdul, path):
    for hdu in hdul[1:]:
        header = hdu.header
        if header.get("EXTNAME", "").upper() == "SPECTRUM" or header.get("HDUCLAS1") == "SPECTRUM":
            return hdu
    raise KeyError(f"{path}: no SPECTRUM extension")


def _summary(path) -> dict:
    """Counts, EXPOSURE, BACKSCAL and the group widths (channels per group) of a spectrum."""
    with fits.open(path) as hdul:
        hdu = _spectrum_hdu(hdul, path)
        names = hdu.columns.names
        if "COUNTS" not in names:
            raise KeyError(f"{path}: SPECTRUM has no COUNTS column")
        counts = np.asarray(hdu.data["COUNTS"], dtype=float)
        backscal = (
            float(np.mean(hdu.data["BACKSCAL"]))
            if "BACKSCAL" in names
            else float(hdu.header.get("BACKSCAL", 1.0))
        )
        if "GROUPING" in names:
            starts = np.flatnonzero(np.asarray(hdu.data["GROUPING"]) != -1)
            if starts.size == 0 or starts[0] != 0:
                starts = np.concatenate([[0], starts])
        else:
            starts = np.arange(counts.size)  # ungrouped: one group per channel
        widths = np.diff(np.concatenate([starts, [counts.size]]))
        return {
            "counts": int(round(counts.sum())),
            "exposure": float(hdu.header.get("EXPOSURE", float("nan"))),
            "backscal": backscal,
            "widths": widths,
        }


# ---------------------------------------------------------------- fitting


def _configure(xs, settings: dict, source_id: str) -> None:
    xs.Xset.chatter = 0
    xs.Xset.seed = _source_seed(settings["seed"], source_id)
    xs.Fit.statMethod = STATISTIC
    xs.Fit.query = "no"
    xs.Fit.nIterations = int(settings["max_iterations"])
    xs.Plot.xAxis = "keV"


def _load(xs, spectrum, background, rmf, arf, settings: dict):
    """Load the grouped spectrum with its background and responses; notice as the notebook."""
    given = {"spectrum": spectrum, "background": background, "rmf": rmf, "arf": arf}
    paths = {key: str(Path(path).resolve()) for key, path in given.items()}
    for key, path in paths.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"{key} file {path} does not exist")
    with working_directory(Path(paths["spectrum"]).parent):  # header links resolve from here
        spec = xs.Spectrum(paths["spectrum"])
    spec.background = paths["background"]
    spec.response = paths["rmf"]
    spec.response.arf = paths["arf"]
    lo, hi = settings["energy_range_keV"]
    spec.ignore(f"**-{lo:g} {hi:g}-**")
    xs.AllData.ignore("bad")
    return spec


def _plot(xs, with_model: bool) -> dict:
    """The noticed groups as XSPEC plots them: keV, counts/s/keV (background subtracted)."""
    xs.Plot("data")
    return {
        "x": _json_list(xs.Plot.x()),
        "xerr": _json_list(xs.Plot.xErr()),
        "y": _json_list(xs.Plot.y()),
        "yerr": _json_list(xs.Plot.yErr()),
        "model": _json_list(xs.Plot.model()) if with_model else None,
    }


def error_command(settings: dict, n_parameters: int) -> str:
    """XSPEC's error command, e.g. '2.706 1 2' (with 'maximum r' if not XSPEC's 2)."""
    numbers = " ".join(str(index) for index in range(1, n_parameters + 1))
    command = f"{settings['error_delta_stat']:g} {numbers}"
    if float(settings["max_rstat"]) != XSPEC_MAX_RSTAT:
        command = f"maximum {settings['max_rstat']:g} {command}"
    return command


def parameter_entry(value: float, error: tuple, unit: str) -> dict:
    """One parameter from its best value and PyXspec's ``error`` (lower, upper, status).

    XSPEC reports a bound whose search failed (status letters 7/8) or was refused (9) as 0:
    such bounds are null here, as in the Sherpa backend.
    """
    low, high, flags = error
    flags = str(flags)
    lower = None if flags[LOWER_VOID] == "T" or flags[RSTAT_REFUSED] == "T" else low
    upper = None if flags[UPPER_VOID] == "T" or flags[RSTAT_REFUSED] == "T" else high
    return json_parameter_entry(value, lower, upper, flags, unit, FLAGS_OK)


def _fit_model(xs, spec, name: str, settings: dict) -> dict:
    model = xs.Model(name)
    component = getattr(model, name)
    for par, value in settings["start"].get(name, {}).items():
        getattr(component, par).values = value
    xs.Fit.perform()
    xs.Fit.error(error_command(settings, model.nParameters))
    units = dict(zip(MODELS[name]["parameters"], MODELS[name]["units"], strict=True))
    parameters = {}
    for index in range(1, model.nParameters + 1):
        par = model(index)
        parameters[par.name] = parameter_entry(par.values[0], par.error, units.get(par.name, ""))
    fluxes = {}
    for lo, hi in settings["flux_bands_keV"]:
        xs.AllModels.calcFlux(
            f"{lo} {hi} err {int(settings['flux_samples'])} {settings['flux_confidence']:g}"
        )
        value, low, high = spec.flux[:3]  # erg/cm2/s; photon fluxes follow
        fluxes[f"{lo}-{hi}keV"] = {
            "value": json_number(value),
            "lower": json_number(low),
            "upper": json_number(high),
            "err-": json_number(value - low),
            "err+": json_number(high - value),
            "confidence": float(settings["flux_confidence"]),
            "unit": "erg/cm2/s",
        }
    return {
        "status": "ok",
        "reason": "",
        "statistic": json_number(xs.Fit.statistic),
        "dof": int(xs.Fit.dof),
        "nfev": None,  # PyXspec does not report the number of evaluations
        "parameters": parameters,
        "fluxes": fluxes,
        "plot": _plot(xs, with_model=True),
    }


def fit_source(spectrum, background, rmf, arf, settings, source_id: str) -> dict:
    """Fit each configured model to one source with XSPEC; a JSON-ready dict of results.

    ``spectrum`` is the grouped source spectrum, ``background`` its background, ``rmf`` the
    redistribution matrix and ``arf`` the effective area. A model that cannot be fitted gets
    status ``not_fitted`` or ``failed`` and a reason; files that cannot be read raise.
    """
    settings = resolve_settings(settings)
    source, bkg = _summary(spectrum), _summary(background)
    xs = import_xspec()
    xs.AllData.clear()
    xs.AllModels.clear()
    try:
        _configure(xs, settings, source_id)
        spec = _load(xs, spectrum, background, rmf, arf, settings)
        noticed = [int(group) for group in spec.noticed]  # 1-based group numbers
        lo, hi = settings["energy_range_keV"]
        result = {
            "id_name": source_id,
            "fitter": "xspec",
            "fitter_version": str(xs.Xset.version[1]),
            "statistic": STATISTIC,
            "energy_range_keV": [float(lo), float(hi)],
            "error_delta_stat": float(settings["error_delta_stat"]),
            "counts": {
                "source": source["counts"],
                "background": bkg["counts"],
                "backscal_ratio": source["backscal"] / bkg["backscal"],
            },
            "exposure_s": json_number(source["exposure"]),
            "noticed_groups": len(noticed),
            "noticed_channels": int(sum(source["widths"][group - 1] for group in noticed)),
            "models": {},
        }
        needed = settings["min_noticed_channels"]
        if len(noticed) <= needed:
            reason = (
                f"{len(noticed)} group(s) with QUALITY 0 noticed in {lo}-{hi} keV; "
                f"a fit needs more than {needed}"
            )
            plot = _plot(xs, with_model=False) if noticed else _empty_plot()
            for name in settings["models"]:
                result["models"][name] = unfitted_model(name, "not_fitted", reason, plot)
            return result
        data_plot = _plot(xs, with_model=False)
        for name in settings["models"]:
            try:
                result["models"][name] = _fit_model(xs, spec, name, settings)
            except (
                Exception
            ) as err:  # PyXspec raises plain Exceptions; one model must not stop the rest
                message = f"{type(err).__name__}: {err}"
                result["models"][name] = unfitted_model(name, "failed", message, data_plot)
            finally:
                xs.AllModels.clear()
        return result
    finally:
        xs.AllData.clear()
        xs.AllModels.clear()


def _empty_plot() -> dict:
    return {"x": [], "xerr": [], "y": [], "yerr": [], "model": None}
