"""A recording stand-in for PyXspec, for contract tests where XSPEC is not installed.

It mimics the parts of PyXspec's API the fitter uses (Xset, Fit, AllData, AllModels, Plot,
Spectrum, Model) and records every setting and command in ``log`` as (name, value) pairs.
Fits are scripted: ``script[model]`` gives the best-fit values, the ``error`` tuples
(lower, upper, status string), the statistic, dof and the calcFlux tuple; ``noticed`` the
noticed group numbers; ``failures[command]`` makes that command raise, as PyXspec raises a
plain Exception when XSPEC reports an error.
"""

from __future__ import annotations

import os

log: list[tuple] = []
home_at_import = os.environ.get("HOME")
noticed = list(range(3, 12))
failures: dict[str, str] = {}
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
PARAMETERS = {"bbody": ("kT", "norm"), "powerlaw": ("PhoIndex", "norm")}
UNITS = {"kT": "keV", "PhoIndex": "", "norm": ""}


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

    def error(self, command):
        _command("Fit.error", command)

    @property
    def statistic(self):
        return script[AllModels.current.name]["statistic"]

    @property
    def dof(self):
        return script[AllModels.current.name]["dof"]


class _Response(_Settings):
    pass


class Spectrum(_Settings):
    def __init__(self, filename):
        super().__init__("Spectrum")
        _command("Spectrum", filename)
        log.append(("Spectrum.cwd", os.getcwd()))
        object.__setattr__(self, "flux", ())
        object.__setattr__(self, "_response", _Response("Spectrum.response"))
        AllData.spectra.append(self)

    @property
    def response(self):
        return self._response

    @response.setter
    def response(self, path):  # assignment is logged by _Settings
        pass

    @property
    def noticed(self):
        return list(noticed)

    def ignore(self, ranges):
        _command("Spectrum.ignore", ranges)


class _AllData:
    spectra: list = []

    def __call__(self, index):
        return self.spectra[index - 1]

    def clear(self):
        _command("AllData.clear")
        self.spectra.clear()

    def ignore(self, ranges):
        _command("AllData.ignore", ranges)


class Parameter:
    """A model parameter whose best fit (values[0]) and error come from ``script``."""

    def __init__(self, model, name):
        self.name = name
        self.unit = UNITS[name]
        self._values = [script[model]["values"][name], 0.01]
        self.error = script[model]["errors"][name]

    @property
    def values(self):
        return list(self._values)

    @values.setter
    def values(self, value):  # PyXspec accepts a number or a list
        log.append((f"{self.name}.values", value))
        self._values[0] = value[0] if isinstance(value, list | tuple) else value


class _Component:
    def __init__(self, model, names):
        for name in names:
            setattr(self, name, Parameter(model, name))


class Model:
    def __init__(self, expression):
        _command("Model", expression)
        self.name = expression
        self.nParameters = len(PARAMETERS[expression])
        setattr(self, expression, _Component(expression, PARAMETERS[expression]))
        AllModels.current = self

    def __call__(self, index):
        return getattr(getattr(self, self.name), PARAMETERS[self.name][index - 1])


class _AllModels:
    current = None

    def __call__(self, index):
        return self.current

    def clear(self):
        _command("AllModels.clear")
        self.current = None

    def calcFlux(self, arguments):
        _command("AllModels.calcFlux", arguments)
        AllData(1).__dict__["flux"] = script[self.current.name]["flux"]


class _Plot(_Settings):
    def __call__(self, *commands):
        _command("Plot", commands)

    def x(self, group=1):
        return [0.1 * n for n in noticed]

    def xErr(self, group=1):
        return [0.05] * len(noticed)

    def y(self, group=1):
        return [1.0] * len(noticed)

    def yErr(self, group=1):
        return [0.5] * len(noticed)

    def model(self, group=1):
        if AllModels.current is None:
            raise Exception("***XSPEC Error: no model defined")
        return [0.9] * len(noticed)


Xset = _Xset("Xset")
Fit = _Fit("Fit")
AllData = _AllData()
AllModels = _AllModels()
Plot = _Plot("Plot")
