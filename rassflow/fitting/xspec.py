"""XSPEC fitting backend: the notebook's PyXspec fit of one source, as a JSON-ready dict.

Same signature and result (:class:`rassflow.fitting.result.FitResult`) as
:func:`rassflow.fitting.sherpa.fit_source` (fitter 'xspec', statistic 'cstat'), with the
notebook's settings (fact sheet §4, §6): ``Xset.chatter = 0``, ``Fit.statMethod = "cstat"``
(W-stat with a background file), ``Fit.query = "no"``, ``Fit.nIterations``; the background,
RMF and ARF set explicitly; ``ignore **-lo hi-**`` and ``ignore bad``; a fit only when more
than ``min_noticed_channels`` groups are noticed; ``error <delta> 1 2`` with the 9-letter
status string mapped to flags and good_err; the data plot in keV.

Beyond the notebook, and the same in the Sherpa fitter:

- absorbed models (``tbabs*bbody``, ...): ``Xset.abund``/``Xset.xsect`` from the fit
  settings, nH (PyXspec's ``TBabs``/``phabs`` component) free with soft = hard limits
  ``nh_bounds`` and in the start scan, or frozen at its fixed value and left out of
  ``error``; fluxes absorbed (calcFlux; ``cflux*tbabs*bbody``) and unabsorbed (calcFlux
  with nH 0; ``tbabs*cflux*bbody``);

- start: the coarse scan of ``rassflow.fitting.models.START_GRIDS``: the shape parameter
  (kT, PhoIndex) frozen at each grid value, the norm scaled to the net rate
  (``Spectrum.rate``) and fitted (``Fit.perform``), then thawed and ``Fit.perform`` from the
  grid point with the lowest statistic (not ``steppar``, whose bookkeeping of the best fit
  differs between XSPEC versions; this loop is the one the Sherpa fitter runs);
- fluxes, ``flux_method: profile`` (default): per band, ``calcFlux "lo hi"`` on the fitted
  model gives the value; then, as HEASARC documents the cflux convolution model, the model
  ``cflux*<model>`` with Emin/Emax the band, the component's norm frozen (at its best
  fit), lg10Flux free from log10 of that value, ``Fit.perform`` and ``error <delta> 3`` on
  lg10Flux at the delta-stat of ``flux_confidence`` (0.989 for 68 %). Bounds whose search
  failed, was refused or stopped at lg10Flux's hard limits (status letters 4, 5, 7, 8, 9)
  are null; a bound on the wrong side of the value (``error`` found a new minimum) too.
  ``flux_method: draws``: ``calcFlux "lo hi err N conf"``, as the notebook.

Catalogued neighbours (a CONTAMINATION table in the background file, see
:mod:`rassflow.products.contamination`): their fixed counts per channel are a second
source of the spectrum, as XSPEC fits several sources in one spectrum
(``Spectrum.multiresponse[1]``): a diagonal response (each channel's EBOUNDS as its energy
bin, unit area) and a local additive model (``AllModels.addPyMod``) whose photons/cm^2/s
per bin are the channel's counts/s, its norm frozen at 1. The fit then compares the
spectrum with target + neighbours + background, as the Sherpa fitter does with
``set_full_model``; fluxes, errors and cflux act on the target's model (source 1).

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

from rassflow.files import spectrum_index, working_directory
from rassflow.fitting import absorption_record, fit_defaults, nh_setting, resolve_fit_settings
from rassflow.fitting import result as fit_result
from rassflow.fitting.models import (
    MODELS,
    absorber,
    base_model,
    best_grid_point,
    delta_stat_for_confidence,
    start_points,
)
from rassflow.products.contamination import fixed_counts

# "start": {model: {parameter: value}} replaces a model's start scan by these values
DEFAULT_SETTINGS = {**fit_defaults(), "start": {}}
STATISTIC = "cstat"
# 0-based positions in XSPEC's error status string (fact sheet §6.3) that void a bound
HARD_LOWER, HARD_UPPER = 3, 4
LOWER_VOID, UPPER_VOID, RSTAT_REFUSED = 6, 7, 8
FLUX_COMPONENT = "cflux"  # XSPEC's convolution model that makes a flux a parameter
NEIGHBOUR_MODEL = "rfneighb"  # local model (its function's name): neighbours' fixed counts/s
NEIGHBOUR_SOURCE, NEIGHBOUR_MODEL_NAME = 2, "neighbours"
_NEIGHBOUR_RATES: list[float] = []  # counts/s per channel of the spectrum being fitted
_LOCAL_MODELS: list = []  # the PyXspec AllModels objects the local model was added to


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


def _source_seed(seed: int, source_id: str) -> int:
    """XSPEC's random seed for one source: the same in every process (str hashes are salted)."""
    digest = hashlib.sha256(f"{int(seed)}:{source_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


# ---------------------------------------------------------------- reading OGIP files


def _summary(path) -> dict:
    """Counts, EXPOSURE, BACKSCAL and the group widths (channels per group) of a spectrum."""
    with fits.open(path) as hdul:
        hdu = hdul[spectrum_index(hdul, path)]
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
            "channels": np.asarray(hdu.data["CHANNEL"], dtype=int),
            "grouping": np.asarray(hdu.data["GROUPING"]) if "GROUPING" in names else None,
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
    if any(absorber(name) for name in settings["models"]):
        xs.Xset.abund = settings["abundances"]  # XSPEC's 'abund wilm'
        xs.Xset.xsect = settings["cross_sections"]  # XSPEC's 'xsect vern'


class _Components:
    """The components of a PyXspec model of ``name``: ``additive`` (bbody, powerlaw) and,
    for an absorbed model, ``absorber`` (TBabs, phabs: PyXspec names components as
    XSPEC's model.dat spells them)."""

    def __init__(self, model, name: str):
        names = list(model.componentNames)
        self.additive = getattr(model, names[-1])
        self.absorber = None
        if absorber(name):  # also inside cflux*tbabs*bbody, tbabs*cflux*bbody
            found = [component for component in names if component.lower() == absorber(name)]
            self.absorber = getattr(model, found[0])

    def parameter(self, par: str):
        if par == "nH":
            return self.absorber.nH
        return getattr(self.additive, par)


def _set_nh(components: _Components, nh: dict, value: float | None = None) -> None:
    """nH of an absorbed model: free within its bounds (soft = hard limits, as the Sherpa
    fitter sets them) or frozen at its fixed value; ``value`` overrides the start."""
    par = components.absorber.nH
    start = nh["value"] if value is None else value
    if nh["free"]:
        lo, hi = nh["bounds"]
        par.values = [start, 0.001, lo, lo, hi, hi]  # value, delta, min, bot, top, max
    else:
        par.values = start
        par.frozen = True


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
    spec.ignore(f"**-{xspec_number(lo)} {xspec_number(hi)}-**")
    xs.AllData.ignore("bad")
    return spec


def rfneighb(energies, params, flux):
    """The local model: through the diagonal response of unit area, photons/cm^2/s in a
    bin are counts/s in its channel."""
    for index in range(len(energies) - 1):
        flux[index] = _NEIGHBOUR_RATES[index]


def write_diagonal_response(rmf, path) -> Path:
    """An OGIP RMF that maps each channel's EBOUNDS bin onto that channel alone (MATRIX 1,
    no ARF: unit area), for a model given in counts/s per channel."""
    with fits.open(rmf) as hdul:
        ebounds = hdul["EBOUNDS"].copy()
    channel = np.asarray(ebounds.data["CHANNEL"], dtype=np.int32)
    e_min = np.asarray(ebounds.data["E_MIN"], dtype=np.float64)
    e_max = np.asarray(ebounds.data["E_MAX"], dtype=np.float64)
    first = int(channel.min())
    matrix = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=e_min),
            fits.Column("ENERG_HI", "E", unit="keV", array=e_max),
            fits.Column("N_GRP", "I", array=np.ones(channel.size, np.int16)),
            fits.Column("F_CHAN", "J", array=channel),
            fits.Column("N_CHAN", "J", array=np.ones(channel.size, np.int32)),
            fits.Column("MATRIX", "E", array=np.ones(channel.size, np.float32)),
        ],
        name="MATRIX",
    )
    matrix.header.update(
        HDUCLASS="OGIP", HDUCLAS1="RESPONSE", HDUCLAS2="RSP_MATRIX", HDUVERS="1.3.0",
        HDUCLAS3="REDIST", CHANTYPE=ebounds.header.get("CHANTYPE", "PI"),
        DETCHANS=channel.size, LO_THRES=0.0, TELESCOP=ebounds.header.get("TELESCOP", "ROSAT"),
        INSTRUME=ebounds.header.get("INSTRUME", "PSPCC"),
    )  # fmt: skip
    matrix.header["TLMIN4"] = first
    matrix.header["TLMAX4"] = first + channel.size - 1
    fits.HDUList([fits.PrimaryHDU(), matrix, ebounds]).writeto(path, overwrite=True)
    return Path(path)


def _load_neighbours(xs, spec, counts, exposure: float, rmf, directory) -> None:
    """Make the neighbours' fixed counts source 2 of the spectrum (see the module docstring)."""
    _NEIGHBOUR_RATES[:] = [float(value) / exposure for value in counts]
    if not any(known is xs.AllModels for known in _LOCAL_MODELS):  # XSPEC keeps local models
        xs.AllModels.addPyMod(rfneighb, (), "add")
        _LOCAL_MODELS.append(xs.AllModels)
    diagonal = write_diagonal_response(rmf, Path(directory) / "neighbours-diagonal.rmf")
    spec.multiresponse[NEIGHBOUR_SOURCE - 1] = str(diagonal)


def _neighbour_model(xs) -> None:
    """The neighbours' model on source 2, norm frozen at 1 (made again after every clear)."""
    model = xs.Model(NEIGHBOUR_MODEL, NEIGHBOUR_MODEL_NAME, NEIGHBOUR_SOURCE)
    norm = getattr(model, NEIGHBOUR_MODEL).norm
    norm.values = 1.0
    norm.frozen = True


def xspec_number(value: float) -> str:
    """A number for an XSPEC command: short (``:g``) when that is the same number, else
    every digit, so that XSPEC compares channel energies with exactly the limits the
    Sherpa fitter uses."""
    short = f"{float(value):g}"
    return short if float(short) == float(value) else repr(float(value))


def _plot(xs, with_model: bool) -> fit_result.PlotData:
    """The noticed groups as XSPEC plots them: keV, counts/s/keV (background subtracted)."""
    xs.Plot("data")
    return fit_result.PlotData.from_arrays(
        x=xs.Plot.x(),
        xerr=xs.Plot.xErr(),
        y=xs.Plot.y(),
        yerr=xs.Plot.yErr(),
        model=xs.Plot.model() if with_model else None,
    )


def error_command(settings: dict, n_parameters: int, fixed=()) -> str:
    """XSPEC's error command, e.g. '2.706 1 2', at XSPEC's own maximum reduced statistic
    of 2 (which the Sherpa backend copies); ``fixed`` parameter indices are left out."""
    numbers = " ".join(
        str(index) for index in range(1, n_parameters + 1) if index not in set(fixed)
    )
    return f"{settings['error_delta_stat']:g} {numbers}"


def parameter_from_error(value: float, error: tuple, unit: str) -> fit_result.ParameterResult:
    """One parameter from its best value and PyXspec's ``error`` (lower, upper, status).

    XSPEC reports a bound whose search failed (status letters 7/8) or was refused (9) as 0:
    such bounds are null here, as in the Sherpa backend.
    """
    low, high, flags = error
    flags = str(flags)
    lower = None if flags[LOWER_VOID] == "T" or flags[RSTAT_REFUSED] == "T" else low
    upper = None if flags[UPPER_VOID] == "T" or flags[RSTAT_REFUSED] == "T" else high
    return fit_result.ParameterResult.from_bounds(value, lower, upper, flags, unit)


def _scale_norm(spec, norm, neighbour_rate: float = 0.0) -> None:
    """Scale the norm so that the predicted rate matches the net rate of the noticed
    channels (``Spectrum.rate`` = net rate, its error, total rate, model rate), both less
    the neighbours' rate (counts/s in the noticed groups) when source 2 holds them; a
    tenth of the net rate when the neighbours explain it all."""
    net, _, _, predicted = (float(value) for value in spec.rate[:4])
    target = net - neighbour_rate
    if target <= 0:
        target = 0.1 * net
    predicted -= neighbour_rate
    value = float(norm.values[0])
    if target > 0 and predicted > 0 and np.isfinite(target / predicted) and value > 0:
        norm.values = value * target / predicted


def scan_start(xs, spec, component, name: str, settings: dict, neighbour_rate: float = 0.0):
    """Start the model at the best point of the start scan (shared with the Sherpa fitter):
    the scanned parameters (the shape, and nH when it is free) frozen at each point, the
    norm scaled and fitted; (points, statistics). ``component`` is the model's
    :class:`_Components` (or its additive component). ``settings['start'][name]`` replaces
    the scan by its values."""
    if not isinstance(component, _Components):
        component = _bare_components(component)
    given = settings["start"].get(name)
    if given:
        for par, value in given.items():
            component.parameter(par).values = value
        return None, None
    nh = nh_setting(settings) if absorber(name) else None
    names, points = start_points(name, nh["bounds"] if nh and nh["free"] else None)
    scanned = [component.parameter(par) for par in names]
    norm = component.additive.norm
    statistics, norms, failure = [], [], None
    for par in scanned:
        par.frozen = True
    try:
        for point in points:
            for par, value in zip(scanned, point, strict=True):
                par.values = float(value)
            _scale_norm(spec, norm, neighbour_rate)
            try:
                xs.Fit.perform()
                statistic = float(xs.Fit.statistic)
            except Exception as err:  # PyXspec raises plain Exceptions; that point is lost
                statistic, failure = float("nan"), err
            statistics.append(statistic)
            norms.append(float(norm.values[0]))
    finally:
        for par in scanned:
            par.frozen = False
    if failure is not None and not np.isfinite(statistics).any():
        raise failure  # no grid point could be fitted: XSPEC's own message is the reason
    best = best_grid_point(statistics)
    for par, value in zip(scanned, points[best], strict=True):
        par.values = float(value)
    norm.values = norms[best]
    return points, np.array(statistics)


def _bare_components(component) -> _Components:
    holder = _Components.__new__(_Components)
    holder.additive, holder.absorber = component, None
    return holder


def flux_bound(value: float, error: tuple, side: str) -> float | None:
    """A flux bound (erg/cm^2/s) from PyXspec's ``error`` on lg10Flux (lower, upper,
    status): None when that search failed (7/8), was refused (9) or stopped at lg10Flux's
    hard limit (4/5: the flux reaches ~0 or has no upper end)."""
    low, high, flags = error
    flags = str(flags)
    void = (HARD_LOWER, LOWER_VOID) if side == "lower" else (HARD_UPPER, UPPER_VOID)
    if flags[RSTAT_REFUSED] == "T" or any(flags[position] == "T" for position in void):
        return None
    return 10.0 ** float(low if side == "lower" else high)


def _calc_flux(xs, spec, lo, hi, components: _Components, unabsorbed: bool) -> float:
    """calcFlux of the fitted model in [lo, hi] keV (erg/cm^2/s); ``unabsorbed``: with nH
    set to 0 for the calculation, as XSPEC users quote unabsorbed fluxes."""
    if not unabsorbed:
        xs.AllModels.calcFlux(f"{lo} {hi}")
        return float(spec.flux[0])
    nh = components.absorber.nH
    value = float(nh.values[0])
    nh.values = 0.0
    try:
        xs.AllModels.calcFlux(f"{lo} {hi}")
        return float(spec.flux[0])
    finally:
        nh.values = value


def _flux_kinds(name: str) -> tuple[bool, ...]:
    return (False, True) if absorber(name) else (False,)


def _flux_expression(name: str, unabsorbed: bool) -> str:
    """cflux*<model>, or for an absorbed model's unabsorbed flux <absorber>*cflux*<model>
    (HEASARC's cflux documentation)."""
    if unabsorbed:
        return f"{absorber(name)}*{FLUX_COMPONENT}*{base_model(name)}"
    return f"{FLUX_COMPONENT}*{name}"


def _profile_fluxes(xs, spec, name: str, best: dict, settings: dict, components) -> dict:
    """Per band: calcFlux's value at the best fit and its cflux profile interval (absorbed
    and unabsorbed for an absorbed model)."""
    confidence = float(settings["flux_confidence"])
    delta = delta_stat_for_confidence(confidence)
    values = {}
    for lo, hi in settings["flux_bands_keV"]:
        for unabsorbed in _flux_kinds(name):  # the fitted model: its flux is the value
            values[(lo, hi, unabsorbed)] = _calc_flux(xs, spec, lo, hi, components, unabsorbed)
    nh = nh_setting(settings) if absorber(name) else None
    fluxes = {}
    for (lo, hi, unabsorbed), value in values.items():
        lower = upper = None
        if value > 0 and np.isfinite(value):
            model = xs.Model(_flux_expression(name, unabsorbed))  # replaces the fitted model
            flux_components = _Components(model, name)
            cflux = getattr(model, FLUX_COMPONENT)
            cflux.Emin.values = float(lo)
            cflux.Emax.values = float(hi)
            for par, par_value in best.items():
                if par == "nH":
                    _set_nh(flux_components, nh, par_value)
                else:
                    flux_components.parameter(par).values = par_value
            flux_components.additive.norm.frozen = True  # cflux: the flux sets the norm
            cflux.lg10Flux.values = float(np.log10(value))
            xs.Fit.perform()
            xs.Fit.error(f"{delta:g} {cflux.lg10Flux.index}")
            error = cflux.lg10Flux.error
            lower, upper = flux_bound(value, error, "lower"), flux_bound(value, error, "upper")
        fluxes[fit_result.band_key(lo, hi, unabsorbed)] = fit_result.FluxResult.profile(
            value, lower, upper, confidence
        )
    return fluxes


def _draw_fluxes(xs, spec, name: str, settings: dict, components) -> dict:
    """Per band: calcFlux err (parameter draws from the covariance), as the notebook. An
    absorbed model's unabsorbed flux has its value (calcFlux at nH 0) and no range:
    calcFlux err draws the absorbed model only."""
    fluxes = {}
    confidence = settings["flux_confidence"]
    for lo, hi in settings["flux_bands_keV"]:
        xs.AllModels.calcFlux(
            f"{lo} {hi} err {int(settings['flux_samples'])} {settings['flux_confidence']:g}"
        )
        value, low, high = spec.flux[:3]  # erg/cm2/s; photon fluxes follow
        fluxes[fit_result.band_key(lo, hi)] = fit_result.FluxResult.from_bounds(
            value, low, high, confidence, method="draws"
        )
        if absorber(name):
            value = _calc_flux(xs, spec, lo, hi, components, unabsorbed=True)
            fluxes[fit_result.band_key(lo, hi, True)] = fit_result.FluxResult.from_bounds(
                value, None, None, confidence, method="draws"
            )
    return fluxes


def _fit_model(
    xs, spec, name: str, settings: dict, neighbour_rate: float | None = None
) -> fit_result.ModelResult:
    """Fit one model (source 1; ``neighbour_rate`` not None: the neighbours' counts/s in
    the noticed groups, whose fixed model is source 2)."""
    nh = nh_setting(settings) if absorber(name) else None
    if nh is not None and nh["value"] is None:
        raise ValueError(f"no nH for this source in the sample ({nh['origin']})")
    model = xs.Model(name)
    if neighbour_rate is not None:
        _neighbour_model(xs)
    components = _Components(model, name)
    if nh is not None:
        _set_nh(components, nh)
    scan_start(xs, spec, components, name, settings, neighbour_rate or 0.0)
    xs.Fit.perform()
    fixed = [index for index in range(1, model.nParameters + 1) if model(index).frozen]
    xs.Fit.error(error_command(settings, model.nParameters, fixed))
    units = dict(zip(MODELS[name]["parameters"], MODELS[name]["units"], strict=True))
    parameters = {}
    for index in range(1, model.nParameters + 1):
        par = model(index)
        unit = units.get(par.name, "")
        if index in fixed:
            parameters[par.name] = fit_result.ParameterResult.fixed(par.values[0], unit)
        else:
            parameters[par.name] = parameter_from_error(par.values[0], par.error, unit)
    statistic, dof = xs.Fit.statistic, xs.Fit.dof  # before any flux model replaces this one
    plot = _plot(xs, with_model=True)
    best = {par: float(components.parameter(par).values[0]) for par in MODELS[name]["parameters"]}
    if settings["flux_method"] == "profile":
        fluxes = _profile_fluxes(xs, spec, name, best, settings, components)
    else:
        fluxes = _draw_fluxes(xs, spec, name, settings, components)
    library = f"XSPEC {xs.Xset.version[1]} (PyXspec {xs.Xset.version[0]})"
    return fit_result.ModelResult.ok(
        statistic=statistic,
        dof=dof,
        nfev=None,  # PyXspec does not report the number of evaluations
        parameters=parameters,
        fluxes=fluxes,
        plot=plot,
        absorption=absorption_record(name, settings, library),
    )


def fit_source(spectrum, background, rmf, arf, settings, source_id: str) -> dict:
    """Fit each configured model to one source with XSPEC; the JSON-ready dict of its
    fit_result.FitResult.

    ``spectrum`` is the grouped source spectrum, ``background`` its background, ``rmf`` the
    redistribution matrix and ``arf`` the effective area. A model that cannot be fitted gets
    status ``not_fitted`` or ``failed`` and a reason; files that cannot be read raise.
    """
    settings = resolve_settings(settings)
    source, bkg = _summary(spectrum), _summary(background)
    xs = import_xspec()
    xs.AllData.clear()
    xs.AllModels.clear()
    workdir = tempfile.mkdtemp(prefix="rassflow-xspec-fit-")  # the neighbours' response
    try:
        _configure(xs, settings, source_id)
        spec = _load(xs, spectrum, background, rmf, arf, settings)
        noticed = [int(group) for group in spec.noticed]  # 1-based group numbers
        lo, hi = settings["energy_range_keV"]
        result = fit_result.FitResult(
            id_name=source_id,
            fitter="xspec",
            fitter_version=str(xs.Xset.version[1]),
            statistic=STATISTIC,
            energy_range_keV=(float(lo), float(hi)),
            error_delta_stat=float(settings["error_delta_stat"]),
            counts=fit_result.CountsResult(
                source=source["counts"],
                background=bkg["counts"],
                backscal_ratio=source["backscal"] / bkg["backscal"],
            ),
            exposure_s=fit_result.json_number(source["exposure"]),
            noticed_groups=len(noticed),
            noticed_channels=int(sum(source["widths"][group - 1] for group in noticed)),
            models={},
        )
        models = {}
        needed = settings["min_noticed_channels"]
        if len(noticed) <= needed:
            reason = (
                f"{len(noticed)} group(s) with QUALITY 0 noticed in {lo}-{hi} keV; "
                f"a fit needs more than {needed}"
            )
            plot = (
                _plot(xs, with_model=False)
                if noticed
                else fit_result.PlotData.from_arrays([], [], [], [])
            )
            for name in settings["models"]:
                models[name] = fit_result.ModelResult.unfitted(name, "not_fitted", reason, plot)
            return result.replace(models=models).to_json()
        data_plot = _plot(xs, with_model=False)
        neighbour_rate = None
        neighbours = fixed_counts(background, source["channels"], source["grouping"])
        if neighbours is not None and np.any(neighbours > 0):
            _load_neighbours(xs, spec, neighbours, source["exposure"], rmf, workdir)
            starts = np.concatenate([[0], np.cumsum(source["widths"])[:-1]])
            per_group = np.add.reduceat(neighbours, starts)
            noticed_counts = sum(float(per_group[group - 1]) for group in noticed)
            neighbour_rate = noticed_counts / source["exposure"]
        for name in settings["models"]:
            try:
                models[name] = _fit_model(xs, spec, name, settings, neighbour_rate)
            except Exception as err:  # PyXspec raises plain Exceptions; one must not stop the rest
                message = f"{type(err).__name__}: {err}"
                models[name] = fit_result.ModelResult.unfitted(name, "failed", message, data_plot)
            finally:
                xs.AllModels.clear()
        return result.replace(models=models).to_json()
    finally:
        xs.AllData.clear()
        xs.AllModels.clear()
        shutil.rmtree(workdir, ignore_errors=True)
