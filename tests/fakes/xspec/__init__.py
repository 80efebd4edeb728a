"""A recording stand-in for PyXspec, for contract tests where XSPEC is not installed.

It mimics the parts of PyXspec's API the fitter uses (Xset, Fit, AllData, AllModels, Plot,
Spectrum, Model with components and parameters, cflux) and records every setting and
command in ``log`` as (name, value) pairs. Parameters start at XSPEC's defaults and only
change when the fitter sets them (logged) or when ``Fit.perform`` "fits" them (not logged):

- a model whose shape parameter (kT, PhoIndex) is frozen is a point of the start scan: the
  statistic and fitted norm at that shape come from ``profiles[model](shape)`` when the test
  gives one (e.g. Sherpa's profile on the same spectrum), else from a parabola in the shape
  around the scripted best fit;
- any other fit jumps to ``script[model]``'s best-fit values and statistic; a cflux model
  to lg10Flux = log10 of the scripted flux.

``script[model]`` gives the best-fit values, the ``error`` tuples (lower, upper, status
string), the statistic, dof, the calcFlux tuple (``flux``) and optionally ``flux_error``,
the ``error`` tuple of lg10Flux (by default log10 of the calcFlux bounds, status all fine).
``noticed`` gives the noticed group numbers, unless ``compute_noticed`` is True: then they
follow from the files as XSPEC decides (fact sheet §4.3-4.4): a group (GROUPING of the
spectrum) is ignored by ``ignore **-lo hi-**`` unless its first channel's E_MIN >= lo and
its last channel's E_MAX < hi (EBOUNDS of the response), and by ``ignore bad`` when any of
its channels has QUALITY != 0. ``failures[command]`` makes that command raise, as PyXspec
raises a plain Exception when XSPEC reports an error.
"""

from __future__ import annotations

import math
import os
import re

log: list[tuple] = []
home_at_import = os.environ.get("HOME")
noticed = list(range(3, 12))
compute_noticed = False
failures: dict[str, str] = {}
profiles: dict = {}  # model name -> callable(shape value) -> (statistic, fitted norm)
script = {
    "bbody": {
        "values": {"kT": 0.12, "norm": 2.0e-5},
        "errors": {"kT": (0.07, 0.15, "FFFFFFFFF"), "norm": (1.0e-5, 3.0e-5, "FFFFFFFFF")},
        "statistic": 12.5,
        "dof": 7,
        "flux": (5.6e-12, 3.2e-12, 7.6e-12, 1.0e-3, 0.8e-3, 1.2e-3),
    },
    "powerlaw": {
        "values": {"PhoIndex": -3.0, "norm": 1.0e-4},
        "errors": {"PhoIndex": (-3.0, -1.0, "FFFTFFFFF"), "norm": (0.5e-4, 2.0e-4, "FFFFFFFFF")},
        "statistic": 14.0,
        "dof": 7,
        "flux": (4.0e-12, 2.0e-12, 6.0e-12, 2.0e-3, 1.0e-3, 3.0e-3),
    },
}
script["tbabs*bbody"] = {
    **script["bbody"],
    "values": {"nH": 0.3, "kT": 0.12, "norm": 2.0e-5},
    "errors": {"nH": (0.1, 0.6, "FFFFFFFFF"), **script["bbody"]["errors"]},
    "flux_unabsorbed": (9.0e-12, 5.0e-12, 1.3e-11, 2.0e-3, 1.5e-3, 2.5e-3),
}
PARAMETERS = {
    "TBabs": ("nH",),
    "phabs": ("nH",),
    "bbody": ("kT", "norm"),
    "powerlaw": ("PhoIndex", "norm"),
    "cflux": ("Emin", "Emax", "lg10Flux"),
    "rfneighb": ("norm",),  # the fitter's local model (AllModels.addPyMod): norm only
}
DEFAULTS = {"kT": 3.0, "PhoIndex": 1.0, "norm": 1.0, "Emin": 0.5, "Emax": 10.0, "lg10Flux": -12.0,
            "nH": 1.0}  # fmt: skip
UNITS = {"kT": "keV", "PhoIndex": "", "norm": "", "Emin": "keV", "Emax": "keV", "lg10Flux": "cgs",
         "nH": "10^22"}  # fmt: skip
COMPONENT_NAMES = {"tbabs": "TBabs"}  # XSPEC spells components as model.dat does
FROZEN_BY_DEFAULT = ("Emin", "Emax")  # as XSPEC's cflux has them


def _command(name: str, value=None) -> None:
    log.append((name, value))
    if name in failures:
        raise Exception(failures[name])


class _Settings:
    """An object whose attribute assignments are logged as '<prefix>.<attribute>'."""

    def __init__(self, prefix: str):
        object.__setattr__(self, "_prefix", prefix)

    def __setattr__(self, key, value):
        log.append((f"{self._prefix}.{key}", value))
        object.__setattr__(self, key, value)


class _Xset(_Settings):
    version = ("2.1.5-fake", "12.15.0-fake")


class _Fit(_Settings):
    def perform(self):
        _command("Fit.perform")
        AllModels.current._perform()

    def error(self, command):
        _command("Fit.error", command)

    @property
    def statistic(self):
        return AllModels.current._statistic

    @property
    def dof(self):
        return script[AllModels.current.key]["dof"]


class _Response(_Settings):
    def __init__(self, prefix: str):
        super().__init__(prefix)
        object.__setattr__(self, "path", None)


def _read_groups(path):
    """(first, last) 0-based channel of each group and whether any of its channels is bad."""
    import numpy as np
    from astropy.io import fits

    with fits.open(path) as hdul:
        data = hdul["SPECTRUM"].data
        size = len(data)
        names = data.columns.names
        grouping = np.asarray(data["GROUPING"]) if "GROUPING" in names else np.ones(size)
        quality = np.asarray(data["QUALITY"]) if "QUALITY" in names else np.zeros(size)
    starts = [index for index in range(size) if index == 0 or grouping[index] != -1]
    stops = [start - 1 for start in starts[1:]] + [size - 1]
    bad = [bool(np.any(quality[a : b + 1] != 0)) for a, b in zip(starts, stops, strict=True)]
    return starts, stops, bad


class _MultiResponse:
    """Spectrum.multiresponse: the responses of sources 2, 3, ... (index 1, 2, ...)."""

    def __init__(self):
        self.paths = {}

    def __setitem__(self, index, path):
        log.append((f"Spectrum.multiresponse[{index}]", path))
        self.paths[index] = path

    def __getitem__(self, index):
        return self.paths[index]


class Spectrum(_Settings):
    def __init__(self, filename):
        super().__init__("Spectrum")
        _command("Spectrum", filename)
        log.append(("Spectrum.cwd", os.getcwd()))
        object.__setattr__(self, "filename", filename)
        object.__setattr__(self, "flux", ())
        object.__setattr__(self, "_response", _Response("Spectrum.response"))
        object.__setattr__(self, "_ignored", [])
        object.__setattr__(self, "_ignore_bad", False)
        object.__setattr__(self, "multiresponse", _MultiResponse())
        AllData.spectra.append(self)

    @property
    def response(self):
        return self._response

    @response.setter
    def response(self, path):  # the assignment is logged by _Settings
        object.__setattr__(self._response, "path", path)

    @property
    def rate(self):
        """(net rate, its error, total rate, model rate): the model always matches."""
        return (1.0, 0.1, 1.2, 1.0)

    @property
    def noticed(self):
        if not compute_noticed:
            return list(noticed)
        from astropy.io import fits

        starts, stops, bad = _read_groups(self.filename)
        with fits.open(self._response.path) as hdul:
            e_min, e_max = hdul["EBOUNDS"].data["E_MIN"], hdul["EBOUNDS"].data["E_MAX"]
        kept = []
        for number, (first, last, is_bad) in enumerate(zip(starts, stops, bad, strict=True), 1):
            inside = all(
                (lo is None or float(e_min[first]) >= lo)
                and (hi is None or float(e_max[last]) < hi)
                for lo, hi in self._ignored
            )
            if inside and not (is_bad and self._ignore_bad):
                kept.append(number)
        return kept

    def ignore(self, ranges):
        _command("Spectrum.ignore", ranges)
        for part in ranges.split():
            match = re.fullmatch(r"\*\*-([0-9.eE+-]+)", part)
            if match:
                self._ignored.append((float(match[1]), None))
            match = re.fullmatch(r"([0-9.eE+-]+)-\*\*", part)
            if match:
                self._ignored.append((None, float(match[1])))


class _AllData:
    spectra: list = []

    def __call__(self, index):
        return self.spectra[index - 1]

    def clear(self):
        _command("AllData.clear")
        self.spectra.clear()

    def ignore(self, ranges):
        _command("AllData.ignore", ranges)
        if ranges == "bad":
            for spectrum in self.spectra:
                object.__setattr__(spectrum, "_ignore_bad", True)


class Parameter:
    """A model parameter: ``values`` = [value, delta], ``frozen``, ``error``, ``index``."""

    def __init__(self, model, component, name, index):
        self.model, self.component, self.name, self.index = model, component, name, index
        self.unit = UNITS[name]
        self._values = [DEFAULTS[name], 0.01]
        self._frozen = name in FROZEN_BY_DEFAULT

    @property
    def values(self):
        return list(self._values)

    @values.setter
    def values(self, value):  # PyXspec accepts a number or a list
        log.append((f"{self.name}.values", value))
        self._values[0] = value[0] if isinstance(value, list | tuple) else value

    @property
    def frozen(self):
        return self._frozen

    @frozen.setter
    def frozen(self, value):
        log.append((f"{self.name}.frozen", value))
        self._frozen = bool(value)

    @property
    def error(self):
        base = script[self.model.key]
        if self.name == "lg10Flux":
            flux = base[self.model.model_flux_key()]
            return base.get("flux_error", (math.log10(flux[1]), math.log10(flux[2]), "FFFFFFFFF"))
        return base["errors"][self.name]


class _Component:
    def __init__(self, model, component, names, first_index):
        for offset, name in enumerate(names):
            setattr(self, name, Parameter(model, component, name, first_index + offset))


class Model:
    def __init__(self, expression, modName="", sourceNum=1):  # noqa: N803 - PyXspec's names
        _command("Model", expression if sourceNum == 1 else (expression, modName, sourceNum))
        if sourceNum != 1:  # a named model of another source: not the one being fitted
            if expression not in AllModels.local:
                raise Exception(f"***XSPEC Error: no model named {expression}")
            holder = _Component(self, expression, PARAMETERS[expression], 1)
            setattr(self, expression, holder)
            AllModels.others[modName] = self
            return
        self.name = expression
        self.components = [COMPONENT_NAMES.get(c.lower(), c) for c in expression.split("*")]
        self.componentNames = list(self.components)
        self.base = self.components[-1]  # the additive model: bbody or powerlaw
        # the scripted model: the expression without cflux (e.g. tbabs*bbody), else the base
        key = "*".join(c for c in expression.split("*") if c != "cflux")
        self.key = key if key in script else self.base
        # <absorber>*cflux*<model>: cflux's flux is the unabsorbed one
        self.flux_key = "flux_unabsorbed" if "cflux" in self.components[1:] else "flux"
        self._parameters = []
        for component in self.components:
            holder = _Component(self, component, PARAMETERS[component], len(self._parameters) + 1)
            setattr(self, component, holder)
            self._parameters += [getattr(holder, name) for name in PARAMETERS[component]]
        self.nParameters = len(self._parameters)
        self._statistic = None
        AllModels.current = self

    def __call__(self, index):
        return self._parameters[index - 1]

    def model_flux_key(self):
        return self.flux_key if self.flux_key in script[self.key] else "flux"

    def _perform(self):
        """What Fit.perform does to this model (see the module docstring)."""
        base = script[self.key]
        component = getattr(self, self.base)
        shape = getattr(component, PARAMETERS[self.base][0])
        if "cflux" in self.components:
            self.cflux.lg10Flux._values[0] = math.log10(base[self.model_flux_key()][0])
            self._statistic = base["statistic"]
        elif shape.frozen:  # a point of the start scan
            value = shape._values[0]
            if self.base in profiles:
                statistic, norm = profiles[self.base](value)
            else:
                best = base["values"][shape.name]
                distance = math.log(value / best) if self.base == "bbody" else value - best
                statistic, norm = base["statistic"] + 10.0 * distance**2, base["values"]["norm"]
            component.norm._values[0] = norm
            self._statistic = statistic
        else:
            for name, value in base["values"].items():
                owner = component if name != "nH" else getattr(self, self.components[0])
                if not getattr(owner, name).frozen:
                    getattr(owner, name)._values[0] = value
            self._statistic = base["statistic"]


class _AllModels:
    current = None
    local: dict = {}  # local models added with addPyMod, by name
    others: dict = {}  # named models of sources other than 1

    def __call__(self, index, modName=""):  # noqa: N803 - PyXspec's names
        return self.others[modName] if modName else self.current

    def clear(self):
        _command("AllModels.clear")
        self.current = None
        self.others.clear()

    def addPyMod(self, func, parInfo, compType, spectrumDependent=False):  # noqa: N802, N803
        _command("AllModels.addPyMod", (func.__name__, tuple(parInfo), compType))
        self.local[func.__name__] = func

    def calcFlux(self, arguments):
        _command("AllModels.calcFlux", arguments)
        scripted = script[self.current.key]
        absorber = self.current.components[0]
        unabsorbed = (
            absorber in ("TBabs", "phabs") and getattr(self.current, absorber).nH.values[0] == 0
        )
        flux = scripted["flux_unabsorbed"] if unabsorbed else scripted["flux"]
        AllData(1).__dict__["flux"] = flux


class _Plot(_Settings):
    def __call__(self, *commands):
        _command("Plot", commands)

    def _noticed(self):
        return AllData(1).noticed if AllData.spectra else list(noticed)

    def x(self, group=1):
        return [0.1 * n for n in self._noticed()]

    def xErr(self, group=1):
        return [0.05] * len(self._noticed())

    def y(self, group=1):
        return [1.0] * len(self._noticed())

    def yErr(self, group=1):
        return [0.5] * len(self._noticed())

    def model(self, group=1):
        if AllModels.current is None:
            raise Exception("***XSPEC Error: no model defined")
        return [0.9] * len(self._noticed())


Xset = _Xset("Xset")
Fit = _Fit("Fit")
AllData = _AllData()
AllModels = _AllModels()
Plot = _Plot("Plot")
