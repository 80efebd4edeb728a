"""A recording stand-in for heasoftpy, for contract tests where HEASoft is not installed.

Tasks behave like heasoftpy's: keyword parameters in, an ``HSPResult`` out (returncode,
stdout, stderr, params, ``output`` as lines). Each call is appended to ``calls`` with its
parameters, working directory and PFILES. Input files are opened relative to the working
directory, as the real tools do; outputs are small valid FITS files. A task named in
``failures`` returns code 1 with the given text as output, or, when
``Config.allow_failure`` is False, raises ``HSPTaskException`` as heasoftpy does.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from astropy.io import fits

from . import utils

__version__ = "1.5.0+fake"
HEASOFT_RELEASE = "6.99.1"
CALDB_RMF = "/caldb/data/rosat/pspc/cpf/matrices/pspcc_gain1_256.rmf"
WRONG_EXPOSURE = 1234.5  # what extractor writes from the GTIs (fact sheet §1.9)

calls: list[dict] = []
failures: dict[str, str] = {}


class Config:
    allow_failure = True


class HSPTaskException(Exception):
    pass


class HSPResult:
    def __init__(self, returncode, stdout, stderr=None, params=None):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.params = dict(params or {})

    @property
    def output(self):
        return self.stdout.split("\n")


def _task(function):
    """Record the call; fail on request or when an input is missing; else run ``function``."""
    name = function.__name__

    def task(**params):
        calls.append(
            {"task": name, "params": params, "cwd": os.getcwd(), "pfiles": os.environ.get("PFILES")}
        )
        try:
            message = failures.get(name) or function(**params)
            code = 1 if name in failures else 0
        except FileNotFoundError as exc:
            message, code = f"{name}: unable to open file {exc}", 1
        if code and not Config.allow_failure:
            raise HSPTaskException(message)
        return HSPResult(code, message or f"{name} done", None, params)

    task.__name__ = name
    return task


def _input(filename: str) -> Path:
    """The file part of an input name with a [filter] suffix; must exist (cwd-relative)."""
    path = Path(re.sub(r"\[.*\]$", "", filename))
    if not path.is_file():
        raise FileNotFoundError(str(path))
    return path


def _write(hdus, name: str, clobber) -> None:
    fits.HDUList(hdus).writeto(name, overwrite=bool(clobber))


@_task
def fversion():
    return f"heasoft-{HEASOFT_RELEASE}"


@_task
def extractor(filename, imgfile="NONE", phafile="NONE", regionfile="NONE", clobber=False, **_):
    _input(filename)
    if regionfile != "NONE":
        _input(regionfile)
    if imgfile != "NONE":
        image = fits.PrimaryHDU(np.arange(12, dtype=np.int32).reshape(3, 4))
        image.header["EXPOSURE"] = WRONG_EXPOSURE
        _write([image], imgfile, clobber)
    if phafile != "NONE":
        wmap = fits.PrimaryHDU(np.ones((2, 2), dtype=np.float32))
        spectrum = fits.BinTableHDU.from_columns(
            [
                fits.Column("CHANNEL", "J", array=np.arange(1, 257)),
                fits.Column("COUNTS", "J", array=np.arange(256) % 3),
            ],
            name="SPECTRUM",
        )
        spectrum.header["HDUCLAS1"] = "SPECTRUM"
        spectrum.header["BACKSCAL"] = 8.5e-5
        gti = fits.BinTableHDU.from_columns(
            [fits.Column("START", "D", array=[0.0]), fits.Column("STOP", "D", array=[1.0])],
            name="GTI",
        )
        for hdu in (wmap, spectrum, gti):
            hdu.header["EXPOSURE"] = WRONG_EXPOSURE
        _write([wmap, spectrum, gti], phafile, clobber)


@_task
def quzcif(codename, expr, retrieve=False, clobber=False, **_):
    name = os.path.basename(CALDB_RMF)
    if retrieve:
        ebounds = fits.BinTableHDU.from_columns(
            [fits.Column("CHANNEL", "J", array=np.arange(1, 257))], name="EBOUNDS"
        )
        _write([fits.PrimaryHDU(), ebounds], name, clobber)
    return f"{CALDB_RMF}    1\n"


@_task
def pcarf(phafil, rmffil, outfil, clobber=False, **_):
    _input(phafil)
    _input(rmffil)
    energies = np.linspace(0.1, 2.5, 5)
    arf = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", array=energies[:-1]),
            fits.Column("ENERG_HI", "E", array=energies[1:]),
            fits.Column("SPECRESP", "E", array=[100.0, 200.0, 150.0, 50.0]),
        ],
        name="SPECRESP",
    )
    _write([fits.PrimaryHDU(), arf], outfil, clobber)


@_task
def ftgrouppha(infile, outfile, grouptype, groupscale, clobber=False, **_):
    with fits.open(_input(infile)) as hdul:
        spectrum = hdul["SPECTRUM"]
        size = len(spectrum.data)
        columns = list(spectrum.columns) + [
            fits.Column("GROUPING", "I", array=np.where(np.arange(size) % 2 == 0, 1, -1)),
            fits.Column("QUALITY", "I", array=np.zeros(size)),
        ]
        grouped = fits.BinTableHDU.from_columns(columns, header=spectrum.header)
        # the task leaves '&'-continued long strings that PyXspec cannot follow
        grouped.header["RESPFILE"] = "none&"
        _write([hdul[0].copy(), grouped], outfile, clobber)


__all__ = ["Config", "HSPResult", "HSPTaskException", "utils", "calls", "failures"]
