"""Native fitting backend: XSPEC-equivalent fits of one source with Sherpa.

What the notebook did in XSPEC, and how it is reproduced here (fact sheet §4, §6):
- models: XSPEC's ``bbody`` and ``powerlaw`` with XSPEC's parameter names and limits,
  evaluated by ``rassflow.fitting.models`` (PyPI Sherpa has no XSPEC models); the absorbed
  ``tbabs*...``/``phabs*...`` multiply them by XSPEC's own absorption
  (``rassflow.fitting.absorption``), nH free within ``nh_bounds`` or frozen (``fit.nh``, or
  a sample column); their fluxes are absorbed and unabsorbed;
- statistic: ``cstat`` with a background file, i.e. W-stat (``wstat`` in Sherpa);
- noticed groups: ``ignore bad`` and ``ignore **-0.11 2.02-**``, built as an explicit mask
  because Sherpa's ``ignore_bad`` misbehaves after notice/ignore;
- start: the coarse scan of ``rassflow.fitting.models.START_GRIDS`` (the statistic over kT
  or PhoIndex with the norm fitted at each point), shared with the XSPEC fitter, then the
  fit from the best grid point;
- catalogued neighbours (the background file's CONTAMINATION table): their fixed counts
  per channel (``rassflow.products.contamination.fixed_counts``) are added to the folded
  model, ``set_full_model(1, rsp(model) + neighbours)``, as the XSPEC fitter adds them as
  a second source; fluxes are those of the target's model alone;
- optimiser: Levenberg-Marquardt then Nelder-Mead (levmar alone can stop short under wstat);
- ``error 2.706``: Sherpa's ``conf`` with sigma = sqrt(2.706); failed bounds are reported as
  null with XSPEC's 9-letter error status; a bound where the profile stays below the
  delta-stat up to the parameter's hard limit is that limit, flagged 4 or 5, as XSPEC's
  ``error`` reports it (Sherpa's conf gives None there);
- flux intervals (``flux_method``): ``profile`` = each model refitted with its norm replaced
  by lg10Flux, log10 of the energy flux in the band (``BandFluxModel``; XSPEC: cflux), and
  ``conf`` on lg10Flux at the delta-stat of ``flux_confidence``; ``draws`` = XSPEC's
  ``calcFlux err``: parameter draws from the covariance matrix, central 68 % range.

Every source has its own ``SourceFit`` (its data set, model and Sherpa optimisers), so fits
of different sources never share state; it uses Sherpa's objects (sherpa.fit.Fit) directly,
without sherpa.astro.ui's Session, whose imports and per-call set-up cost more than the fits.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
import sys

import numpy as np
import sherpa
from astropy.io import fits

from rassflow.files import spectrum_index
from rassflow.fitting import (
    absorption_record,
    fit_defaults,
    nh_setting,
    resolve_fit_settings,
)
from rassflow.fitting.models import (
    BASE_MODELS,
    MODELS,
    absorber,
    base_model,
    bbody,
    best_grid_point,
    delta_stat_for_confidence,
    energy_flux,
    powerlaw,
    split_parameters,
    start_points,
    unit_energy_flux,
)
from rassflow.fitting.result import (
    CountsResult,
    FitResult,
    FluxResult,
    ModelResult,
    ParameterResult,
    PlotData,
    band_key,
)
from rassflow.products.contamination import fixed_counts
from rassflow.products.grouping import in_fit_range

SHERPA_LOGGER = logging.getLogger("sherpa")


@contextlib.contextmanager
def _sherpa_log_level(level: int):
    """Raise the level of Sherpa's logger for a while; Sherpa logs every step at INFO."""
    previous = SHERPA_LOGGER.level
    SHERPA_LOGGER.setLevel(level)
    try:
        yield
    finally:
        SHERPA_LOGGER.setLevel(previous)


# This backend fits with Sherpa's own optimisers (LevMar, NelderMead). sherpa.optmethods
# also wraps scipy.optimize's when it can import it ("If scipy is installed, classes are
# created automatically", sherpa.optmethods.optscipy), which costs ~0.45 s of a fit job's
# ~1 s of imports. Unless it is loaded already, scipy.optimize is hidden during Sherpa's
# import (a None entry makes "import" raise ImportError, which optscipy catches) and is
# importable as usual afterwards. (Sherpa's plotting is not imported: no sherpa.astro.ui.)
_HIDDEN = [name for name in ("scipy.optimize",) if name not in sys.modules]
sys.modules.update(dict.fromkeys(_HIDDEN))
# Importing Sherpa can warn about optional parts this backend does not use (e.g. XSPEC).
try:
    with _sherpa_log_level(logging.ERROR):
        from sherpa.astro.data import DataPHA
        from sherpa.astro.instrument import rmf_to_matrix
        from sherpa.astro.io import read_arf, read_rmf
        from sherpa.data import DataSimulFit
        from sherpa.estmethods import Confidence, Covariance
        from sherpa.fit import Fit
        from sherpa.models.model import ArithmeticModel, CompositeModel, RegriddableModel1D
        from sherpa.models.parameter import Parameter
        from sherpa.optmethods import LevMar, NelderMead
        from sherpa.stats import WStat, truncation_value
        from sherpa.utils.err import ModelErr, SherpaErr
finally:
    for _name in _HIDDEN:
        if sys.modules.get(_name, 0) is None:
            del sys.modules[_name]

# "start": {model: {parameter: value}} replaces a model's start scan by these values
DEFAULT_SETTINGS = {**fit_defaults(), "start": {}}

STATISTIC = "wstat"
# XSPEC's 'error' refuses to search when the reduced statistic exceeds 2 (its fixed
# 'maximum', which the notebook never changes; Sherpa's conf default is 3): fact sheet §6.3
XSPEC_ERROR_MAX_RSTAT = 2.0
# Positions (1-based) in XSPEC's error status string, fact sheet §6.3
FLAG_NEW_MINIMUM, FLAG_HARD_LOWER, FLAG_HARD_UPPER = 1, 4, 5
FLAG_LOWER_FAILED, FLAG_UPPER_FAILED, FLAG_RSTAT = 7, 8, 9
NEW_MINIMUM_TOLERANCE = 1.0e-3  # statistic drop that counts as a new minimum found by 'error'


def _bin_upper_edges(model, hi):
    if hi is None:
        raise ModelErr(f"model {model.name} needs energy bins (lo, hi), got points")
    return hi


class XSBBody(RegriddableModel1D):
    """XSPEC's ``bbody``: photons/cm^2/s per bin; norm = L39 / D10^2."""

    def __init__(self, name: str = "bbody"):
        self.kT = Parameter(
            name, "kT", 3.0, min=0.01, max=100.0, hard_min=1.0e-4, hard_max=200.0, units="keV"
        )
        self.norm = Parameter(name, "norm", 1.0, min=0.0, max=1.0e24, hard_min=0.0, hard_max=1.0e24)
        super().__init__(name, (self.kT, self.norm))

    def calc(self, pars, lo, hi=None, *args, **kwargs):
        return bbody(lo, _bin_upper_edges(self, hi), pars[0], pars[1])


class XSPowerLaw(RegriddableModel1D):
    """XSPEC's ``powerlaw``: norm in photons/keV/cm^2/s at 1 keV, exact bin integrals."""

    def __init__(self, name: str = "powerlaw"):
        self.PhoIndex = Parameter(
            name, "PhoIndex", 1.0, min=-2.0, max=9.0, hard_min=-3.0, hard_max=10.0
        )
        self.norm = Parameter(name, "norm", 1.0, min=0.0, max=1.0e24, hard_min=0.0, hard_max=1.0e24)
        super().__init__(name, (self.PhoIndex, self.norm))

    def calc(self, pars, lo, hi=None, *args, **kwargs):
        return powerlaw(lo, _bin_upper_edges(self, hi), pars[0], pars[1])


MODEL_CLASSES = {"bbody": XSBBody, "powerlaw": XSPowerLaw}
NH_HARD_MAX = 1.0e6  # XSPEC's hard maximum of nH (model.dat), for a fixed nH


def _copy_parameter(owner: str, template, value=None) -> Parameter:
    return Parameter(
        owner, template.name, template.val if value is None else value, min=template.min,
        max=template.max, hard_min=template.hard_min, hard_max=template.hard_max,
        units=template.units,
    )  # fmt: skip


class XSAbsorbed(RegriddableModel1D):
    """XSPEC's ``absorber*base`` (e.g. ``tbabs*bbody``): nH (10^22 cm^-2) then the additive
    model's parameters, in XSPEC's order. The transmission is XSPEC's own function
    (rassflow.fitting.absorption) with the configured abundances and cross-sections. nH is
    free within ``nh_bounds`` (soft = hard limits, as the XSPEC fitter sets them) or frozen
    at a fixed value."""

    def __init__(self, name: str, settings: dict):
        from rassflow.fitting.absorption import NH_UNIT

        self.absorber, self.base = absorber(name), base_model(name)
        self.abundances = settings["abundances"]
        self.cross_sections = settings["cross_sections"]
        nh = nh_setting(settings)
        if nh["value"] is None:
            raise ValueError(f"no nH for this source in the sample ({nh['origin']})")
        if nh["free"]:
            lo, hi = nh["bounds"]
            self.nH = Parameter(name, "nH", nh["value"], min=lo, max=hi, hard_min=lo,
                                hard_max=hi, units=NH_UNIT)  # fmt: skip
        else:
            self.nH = Parameter(name, "nH", nh["value"], min=0.0, max=NH_HARD_MAX, hard_min=0.0,
                                hard_max=NH_HARD_MAX, units=NH_UNIT, frozen=True)  # fmt: skip
        template = MODEL_CLASSES[self.base](self.base)
        pars = [self.nH]
        for par in template.pars:
            copied = _copy_parameter(name, par)
            setattr(self, par.name, copied)
            pars.append(copied)
        self._function = BASE_MODELS[self.base]["function"]
        super().__init__(name, tuple(pars))

    def transmission(self, lo, hi, nh: float):
        from rassflow.fitting.absorption import transmission

        return transmission(self.absorber, lo, hi, nh, self.abundances, self.cross_sections)

    def calc(self, pars, lo, hi=None, *args, **kwargs):
        hi = _bin_upper_edges(self, hi)
        nh, shape, norm = pars
        return self.transmission(lo, hi, nh) * self._function(lo, hi, shape, norm)


def make_model(name: str, settings: dict):
    """The Sherpa model of ``name`` (absorbed models read nH and the absorption settings)."""
    if absorber(name):
        return XSAbsorbed(name, settings)
    return MODEL_CLASSES[name](name)


class NeighbourCounts(ArithmeticModel):
    """Catalogued neighbours' counts per channel in the source circle, added to the folded
    model with no free parameter (rassflow.products.contamination.fixed_counts): the
    statistic then compares the spectrum with target + neighbours + background, and the
    target's model alone gives its fluxes (Sherpa's set_full_model)."""

    def __init__(self, counts, name: str = "neighbours"):
        self.counts = np.asarray(counts, dtype=float)
        self.scale = Parameter(name, "scale", 1.0, frozen=True, alwaysfrozen=True)
        super().__init__(name, (self.scale,))

    def calc(self, pars, x, *args, **kwargs):
        # every channel, as the response model beside it returns them; the data's filter
        # (noticed groups) then applies to the sum
        return pars[0] * self.counts


LG10FLUX_SPAN = 10.0  # lg10Flux limits: the best fit's +- 10 decades (norm 0 is at -inf)


class BandFluxModel(RegriddableModel1D):
    """A model with its norm replaced by lg10Flux, log10 of its energy flux (erg/cm^2/s) in
    the band [lo, hi] keV: norm = 10^lg10Flux / (flux of norm 1 with the same shape), which
    is exact because the models are linear in norm. The other parameters keep their names,
    limits and frozen state; lg10Flux spans the best fit's +- ``LG10FLUX_SPAN`` decades
    (XSPEC's cflux parameter has the same name). ``unabsorbed``: the flux of an absorbed
    model's additive part (XSPEC: ``tbabs*cflux*bbody``), else of the whole model
    (``cflux*tbabs*bbody``)."""

    def __init__(self, template, band, lg10flux: float, unabsorbed: bool = False):
        model = template.name
        self.model, self.band = model, (float(band[0]), float(band[1]))
        self.unabsorbed = unabsorbed
        self.template = template
        pars = []
        for par in template.pars:
            if par.name == "norm":
                continue
            copied = _copy_parameter(model, par)
            if par.frozen:
                copied.freeze()
            setattr(self, par.name, copied)
            pars.append(copied)
        self.norm_max = template.norm.hard_max
        low, high = lg10flux - LG10FLUX_SPAN, lg10flux + LG10FLUX_SPAN
        self.lg10Flux = Parameter(
            model, "lg10Flux", lg10flux, min=low, max=high, hard_min=low, hard_max=high,
            units="log10(erg/cm2/s)",
        )  # fmt: skip
        super().__init__(f"{model}_lg10flux", (*pars, self.lg10Flux))

    def norm(self, pars) -> float:
        """The norm of the underlying model (capped at its hard maximum)."""
        *others, lg10flux = pars
        nh, shape, _ = split_parameters(self.model, [*others, 1.0])
        settings = {}
        if nh is not None and not self.unabsorbed:
            settings = {"nh": nh, "abundances": self.template.abundances,
                        "xsect": self.template.cross_sections}  # fmt: skip
        unit = unit_energy_flux(self.model, shape, *self.band, **settings)
        if not unit > 0:  # no flux in the band at this shape: no finite norm gives it
            return self.norm_max
        return min(10.0**lg10flux / unit, self.norm_max)

    def calc(self, pars, lo, hi=None, *args, **kwargs):
        *others, _ = pars
        return self.template.calc([*others, self.norm(pars)], lo, hi)


def resolve_settings(settings: dict | None) -> dict:
    """Fit settings with this fitter's defaults filled in; unknown keys and models are an error."""
    return resolve_fit_settings(settings, DEFAULT_SETTINGS)


# ---------------------------------------------------------------- reading OGIP files


def _column_or_keyword(hdu, name: str, default: float):
    """OGIP allows BACKSCAL and AREASCAL as a column or a keyword."""
    if name in hdu.columns.names:
        return np.asarray(hdu.data[name], dtype=float)
    return float(hdu.header.get(name, default))


def read_spectrum(path: str | os.PathLike, use_errors: bool = False) -> DataPHA:
    """A type-I OGIP spectrum (COUNTS, or RATE times EXPOSURE) as a Sherpa DataPHA (a
    FoldingPHA, which SourceFit folds models for by a matrix).

    Only the SPECTRUM extension is read: RESPFILE/ANCRFILE/BACKFILE keywords are ignored,
    responses and backgrounds are attached by the caller. ``use_errors`` keeps STAT_ERR.
    """
    with fits.open(path) as hdul:
        hdu = hdul[spectrum_index(hdul, path)]
        names = hdu.columns.names
        exposure = hdu.header.get("EXPOSURE")
        if exposure is None or not exposure > 0:
            raise ValueError(f"{path}: EXPOSURE must be > 0 s, got {exposure!r}")
        if "COUNTS" in names:
            counts, per_count = np.asarray(hdu.data["COUNTS"], dtype=float), 1.0
        elif "RATE" in names:
            counts, per_count = np.asarray(hdu.data["RATE"], dtype=float) * exposure, exposure
        else:
            raise KeyError(f"{path}: SPECTRUM has neither a COUNTS nor a RATE column")
        staterror = None
        if use_errors and "STAT_ERR" in names:
            staterror = np.asarray(hdu.data["STAT_ERR"], dtype=float) * per_count
        grouping = hdu.data["GROUPING"].astype(np.int16) if "GROUPING" in names else None
        quality = hdu.data["QUALITY"].astype(np.int16) if "QUALITY" in names else None
        return FoldingPHA(
            str(path),
            np.asarray(hdu.data["CHANNEL"], dtype=float),
            counts,
            staterror=staterror,
            grouping=grouping,
            quality=quality,
            exposure=float(exposure),
            backscal=_column_or_keyword(hdu, "BACKSCAL", 1.0),
            areascal=_column_or_keyword(hdu, "AREASCAL", 1.0),
        )


def shared_rmf(path: str | os.PathLike):
    """The RMF at ``path``, read once per process while the file is unchanged: every source
    of a batch has the CALDB's RMF. Sherpa only reads it: a fit folds through a filtered
    view of it (sherpa.astro.instrument's ARF_RMFModelPHA.startup)."""
    stat = os.stat(path)
    return _read_rmf(os.fspath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _read_rmf(path: str, mtime_ns: int, size: int):
    return read_rmf(path)


@functools.lru_cache(maxsize=2)
def _dense_rmf(rmf) -> np.ndarray:
    """The RMF as a dense (energy, channel) matrix, by Sherpa's own expansion of the OGIP
    groups (F_CHAN, N_CHAN, OFFSET): rmf_to_matrix. Once per RMF object (shared_rmf)."""
    return rmf_to_matrix(rmf).matrix


# ---------------------------------------------------------------- groups and the mask


def group_edges(grouping) -> tuple[np.ndarray, np.ndarray]:
    """First and last channel index (0-based, inclusive) of each group.

    A channel with GROUPING -1 continues the group before it; any other value starts one.
    """
    grouping = np.asarray(grouping)
    starts = np.flatnonzero(grouping != -1)
    if grouping.size and (starts.size == 0 or starts[0] != 0):
        starts = np.concatenate([[0], starts])
    stops = np.concatenate([starts[1:] - 1, [grouping.size - 1]]) if starts.size else starts
    return starts, stops


def notice_groups(grouping, quality, e_min, e_max, energy_range_keV) -> np.ndarray:
    """Boolean per group: kept as XSPEC's ``ignore bad`` + ``ignore **-lo hi-**`` keep it.

    A group is kept when its first channel's E_MIN >= lo, its last channel's E_MAX < hi
    (straddling groups are dropped) and none of its channels has QUALITY != 0.
    """
    starts, stops = group_edges(grouping)
    e_min, e_max = np.asarray(e_min, dtype=float), np.asarray(e_max, dtype=float)
    bad = np.asarray(quality) != 0 if quality is not None else np.zeros(len(e_min), bool)
    bad_groups = np.add.reduceat(bad.astype(int), starts) > 0 if starts.size else bad[:0]
    return in_fit_range(e_min[starts], e_max[stops], energy_range_keV) & ~bad_groups


def flag_string(positions) -> str:
    """XSPEC's 9-letter error status with 'T' at the given 1-based positions."""
    return "".join("T" if position in set(positions) else "F" for position in range(1, 10))


# ---------------------------------------------------------------- the fitter


class FixedDataWStat(WStat):
    """Sherpa's W-statistic (XSPEC's cstat with a background) with its data side computed
    once per data set and filter.

    WStat.calc_stat groups and filters the source counts, the background counts, both
    BACKSCAL and AREASCAL and the exposures on every call, although only the model changes
    during a fit; that is half the cost of a statistic. Here those arrays are computed the
    way WStat.calc_stat computes them (first background only, BACKSCAL and AREASCAL grouped
    with the data's ``_middle``) when the data set or its mask object changes, and each
    call folds the model and calls the same C function, so the statistic is the same to
    the last bit. The mask must be replaced, not changed in place."""

    def __init__(self, name: str = "wstat"):
        self._key = None  # (data set, mask) of the cached arrays
        self._arrays = None
        super().__init__(name)

    def _data_arrays(self, data):
        bkg = data.get_background(data.background_ids[0])
        ones = np.ones(data.get_dep(False).size)
        nbins = data.get_dep(True).size

        def grouped(values, func):
            return data.apply_filter(values * ones, groupfunc=func)

        src_backscal = grouped(data.backscal, data._middle)
        bkg_backscal = grouped(bkg.backscal, data._middle)
        src_area = ones[:nbins] if data.areascal is None else grouped(data.areascal, data._middle)
        bkg_area = ones[:nbins] if bkg.areascal is None else grouped(bkg.areascal, data._middle)
        counts = data.to_fit(staterrfunc=None)[0]
        return (
            counts,
            [counts.size],
            data.exposure * src_area,
            bkg.exposure * bkg_area,
            data.apply_filter(bkg.get_dep(False), groupfunc=np.sum),
            bkg_backscal / src_backscal,
        )

    def calc_stat(self, data, model):
        if isinstance(data, DataSimulFit) and len(data.datasets) == 1:
            # Fit's optimiser loop (IterFit) wraps one data set and its model
            data, model = data.datasets[0], model.parts[0]
        if not isinstance(data, DataPHA) or data.subtracted or not data.background_ids:
            return super().calc_stat(data, model)  # Sherpa's own checks and errors
        if self._key is None or self._key[0] is not data or self._key[1] is not data.mask:
            self._arrays = self._data_arrays(data)
            self._key = (data, data.mask)  # held, so that their ids are not reused
        counts, nelems, exp_src, exp_bkg, bkg_counts, backscales = self._arrays
        folded = data.eval_model_to_fit(model)
        return self._calc(
            counts, folded, nelems, exp_src, exp_bkg, bkg_counts, backscales, truncation_value
        )


class Folding:
    """The data set's response as one dense matrix from the source model's values per
    energy bin to the counts per noticed group, for the data set's mask at creation.

    Sherpa folds ``exposure * model`` (get_full_response) through the ARF then the RMF
    (RSPModelPHA.calc: ``apply_rmf(apply_arf(src))``), multiplies the channels by AREASCAL
    (apply_areascal), and DataPHA.eval_model_to_fit sums the channels of each group (the
    channel with GROUPING != -1 starts one) and keeps the noticed groups. All of that is
    linear in the model's values, so it is one matrix, computed once per data set: a
    statistic is then a matrix product instead of those steps with their Python overhead.
    The model is evaluated on the energy bins that reach a noticed group, as Sherpa's
    filtered response (_notice_resp) evaluates it on those reaching a noticed channel."""

    def __init__(self, data: DataPHA, arf, rmf):
        per_channel = (data.exposure * arf.specresp)[:, None] * _dense_rmf(rmf)
        if data.areascal is not None:
            per_channel = per_channel * data.areascal
        self.mask = data.mask
        self.starts, _ = group_edges(data.grouping)
        matrix = np.add.reduceat(per_channel, self.starts, axis=1)[:, self.mask]
        rows = matrix.any(axis=1)
        self.matrix = matrix[rows]
        self.elo, self.ehi = arf.energ_lo[rows], arf.energ_hi[rows]

    @staticmethod
    def applies(data: DataPHA, arf, rmf) -> bool:
        """Whether the matrix reproduces Sherpa's folding: an ARF on the RMF's energy grid,
        grouped data in energy units, a mask per group and no quality filter (else
        Sherpa's own response is used)."""
        return (
            arf is not None
            and len(arf.energ_lo) == len(rmf.energ_lo)
            and data.grouped
            and data.units == "energy"
            and data.quality_filter is None
            and np.iterable(data.mask)
        )

    def group(self, counts) -> np.ndarray:
        """Counts per channel summed per group, noticed groups only."""
        return np.add.reduceat(counts, self.starts)[self.mask]


class FoldedModel(CompositeModel, ArithmeticModel):
    """``model`` folded by a ``Folding`` (counts per noticed group), plus ``added``, a model
    of counts per channel (NeighbourCounts), when given: the values of Sherpa's
    ``response(model) + added`` for ``FoldingPHA.eval_model_to_fit``."""

    def __init__(self, folding: Folding, model, added=None):
        self.folding, self.model, self.added = folding, model, added
        self._pars = ()  # as Sherpa's response models, for ArithmeticModel.__init__
        parts = (model,) if added is None else (model, added)
        CompositeModel.__init__(self, f"fold({model.name})", parts)

    def startup(self, cache=False):
        for part in self.parts:
            part.startup(cache)
        CompositeModel.startup(self, cache)

    def teardown(self):
        for part in self.parts:
            part.teardown()
        CompositeModel.teardown(self)

    def calc(self, p, *args, **kwargs):
        n = len(self.model.pars)
        counts = self.model.calc(p[:n], self.folding.elo, self.folding.ehi) @ self.folding.matrix
        if self.added is not None:
            counts = counts + self.folding.group(self.added.calc(p[n:], None))
        return counts


class FoldingPHA(DataPHA):
    """A DataPHA whose eval_model_to_fit takes a FoldedModel's counts per noticed group as
    they are (any other model as DataPHA does); used by Sherpa's Fit, the statistic and the
    fit results alike."""

    def eval_model_to_fit(self, modelfunc):
        if isinstance(modelfunc, FoldedModel):
            if modelfunc.folding.mask is not self.mask:
                raise ValueError("the data set's mask changed after its folding was made")
            return modelfunc.calc([par.val for par in modelfunc.pars])
        return super().eval_model_to_fit(modelfunc)


class SourceFit:
    """One source's data set with its responses and background, fitted with Sherpa's
    objects (sherpa.fit.Fit, its optimisers and confidence methods) as sherpa.astro.ui's
    Session fits one data set: the model is ``response(model)`` (the data set's full
    response, ARF times RMF, as Session.set_source builds it for an unsubtracted PHA without
    background models), plus a model added after the response (Session.set_full_model);
    each call builds a Fit, as each Session call does. Without a session's bookkeeping and
    imports. ``stat``: default the W-statistic (``FixedDataWStat``)."""

    def __init__(self, data: DataPHA, rmf, arf=None, background=None, stat=None,
                 max_iterations: int = 500):  # fmt: skip
        data.set_rmf(rmf)
        if arf is not None:
            data.set_arf(arf)
        if background is not None:
            data.set_background(background)  # takes the source grouping, as XSPEC does
        data.set_analysis("energy")  # as Session.set_rmf sets it for a matching RMF
        self.data = data
        self.stat = FixedDataWStat() if stat is None else stat
        self.methods = {"levmar": LevMar(), "neldermead": NelderMead()}
        for method in self.methods.values():
            method.maxfev = int(max_iterations)
        self.confidence = Confidence()
        self.confidence.max_rstat = XSPEC_ERROR_MAX_RSTAT
        self.confidence.parallel = False  # no worker processes inside pipeline jobs
        self.covariance = Covariance()
        self.model = None  # the full model (folded counts per channel)
        self._folding = None

    def set_source(self, model, added=None) -> None:
        """Fit ``model`` folded by the response, plus ``added`` counts when given: by the
        data set's folding matrix (Folding) when it reproduces Sherpa's response, which
        needs a FoldingPHA, else by Sherpa's response."""
        data = self.data
        arf, rmf = data.get_response()
        if isinstance(data, FoldingPHA) and Folding.applies(data, arf, rmf):
            if self._folding is None or self._folding.mask is not data.mask:
                self._folding = Folding(data, arf, rmf)
            self.model = FoldedModel(self._folding, model, added)
            return
        full = data.get_full_response()(model)
        self.model = full if added is None else full + added

    def _fit(self, method: str = "levmar", estmethod=None) -> Fit:
        return Fit(self.data, self.model, self.stat, self.methods[method], estmethod)

    def fit(self, method: str = "levmar"):
        """Fit with ``method`` ('levmar' or 'neldermead'); Sherpa's FitResults."""
        return self._fit(method).fit()

    def calc_stat(self) -> float:
        return float(self._fit().calc_stat())

    def folded(self):
        """The full model's counts in the noticed groups."""
        return self.data.eval_model_to_fit(self.model)

    def conf(self, sigma: float, *pars, method: str = "levmar"):
        """Sherpa's ``conf`` at ``sigma`` on ``pars`` (all free parameters when none), its
        profile fits with ``method``; Sherpa's ErrorEstResults."""
        self.confidence.sigma = sigma
        fit = self._fit(method, self.confidence)
        return fit.est_errors(self.methods, list(pars) or None)

    def covar(self, sigma: float = 1.0):
        self.covariance.sigma = sigma
        return self._fit("levmar", self.covariance).est_errors(self.methods)


# ---------------------------------------------------------------- fitting


def fit_source(spectrum, background, rmf, arf, settings, source_id: str) -> dict:
    """Fit each configured model to one source; the JSON-ready dict of its FitResult.

    ``spectrum`` is the grouped source spectrum, ``background`` its (ungrouped) background,
    ``rmf`` the redistribution matrix and ``arf`` the effective area. Low-count cases never
    raise: a model that cannot be fitted gets status ``not_fitted`` or ``failed`` and a reason.
    """
    settings = resolve_settings(settings)
    with _sherpa_log_level(logging.WARNING):
        data = read_spectrum(spectrum)
        bkg = read_spectrum(background)
        rmf_data = shared_rmf(rmf)
        arf_data = read_arf(str(arf))
        _check_channels(data, bkg, rmf_data, spectrum, background, rmf)
        if data.grouping is None:  # an ungrouped spectrum: one group per channel
            data.grouping = np.ones(len(data.channel), dtype=np.int16)
            data.grouped = True
        groups = _Groups(data, bkg, rmf_data, settings["energy_range_keV"])
        groups.add_neighbours(fixed_counts(background, data.channel, data.grouping))
        lo, hi = settings["energy_range_keV"]
        summary = {
            "id_name": source_id,
            "fitter": "sherpa",
            "fitter_version": sherpa.__version__,
            "statistic": STATISTIC,
            "energy_range_keV": (float(lo), float(hi)),
            "error_delta_stat": float(settings["error_delta_stat"]),
            "counts": CountsResult(
                source=int(round(data.counts.sum())),
                background=int(round(bkg.counts.sum())),
                backscal_ratio=float(np.mean(data.backscal) / np.mean(bkg.backscal)),
            ),
            "exposure_s": float(data.exposure),
            "noticed_groups": int(groups.noticed.sum()),
            "noticed_channels": groups.noticed_channels,
        }
        reason = _not_fittable_reason(groups, settings)
        if not reason:
            fitter = SourceFit(data, rmf_data, arf_data, bkg,
                               max_iterations=settings["max_iterations"])  # fmt: skip
            data.mask = groups.noticed
        models = {}
        for name in settings["models"]:
            if reason:
                fitted = ModelResult.unfitted(name, "not_fitted", reason, groups.plot())
            else:
                try:
                    fitted = _fit_model(fitter, name, groups, settings, source_id)
                except Exception as err:  # Sherpa raises many types; one model must not stop
                    message = f"{type(err).__name__}: {err}"
                    fitted = ModelResult.unfitted(name, "failed", message, groups.plot())
            models[name] = fitted
    return FitResult(**summary, models=models).to_json()


def _check_channels(data, bkg, rmf_data, spectrum, background, rmf):
    for path, n_channels in ((background, len(bkg.channel)), (rmf, len(rmf_data.e_min))):
        if n_channels != len(data.channel):
            raise ValueError(
                f"{path} has {n_channels} channels but the spectrum {spectrum} "
                f"has {len(data.channel)}"
            )


class _Groups:
    """Per-group counts and energy edges of the source spectrum, and which are noticed."""

    def __init__(self, data, bkg, rmf_data, energy_range_keV):
        self.starts, self.stops = group_edges(data.grouping)
        self.noticed = notice_groups(
            data.grouping, data.quality, rmf_data.e_min, rmf_data.e_max, energy_range_keV
        )
        self.noticed_channels = int((self.stops - self.starts + 1)[self.noticed].sum())
        self.e_lo = np.asarray(rmf_data.e_min, float)[self.starts][self.noticed]  # keV
        self.e_hi = np.asarray(rmf_data.e_max, float)[self.stops][self.noticed]  # keV
        if self.starts.size:
            self.source = np.add.reduceat(data.counts, self.starts)[self.noticed]
            self.background = np.add.reduceat(bkg.counts, self.starts)[self.noticed]
        else:
            self.source = self.background = np.zeros(0)
        self.exposure = float(data.exposure)  # s
        # background counts -> counts in the source region and exposure
        self.background_scale = float(
            (np.mean(data.backscal) * data.exposure * np.mean(data.areascal))
            / (np.mean(bkg.backscal) * bkg.exposure * np.mean(bkg.areascal))
        )

        self.neighbours = None  # NeighbourCounts, when catalogued neighbours add counts
        self.neighbour_counts = 0.0  # their counts in the noticed groups

    def add_neighbours(self, counts) -> None:
        """The neighbours' fixed counts per channel (None: no neighbours)."""
        if counts is None or not np.any(counts > 0):
            return
        self.neighbours = NeighbourCounts(counts)
        if self.starts.size:
            self.neighbour_counts = float(np.add.reduceat(counts, self.starts)[self.noticed].sum())

    def use(self, fitter: SourceFit, model) -> None:
        """Make ``model`` the fitter's source model (folded by the response), plus the
        neighbours' fixed counts when there are any."""
        fitter.set_source(model, self.neighbours)

    @property
    def net_counts(self) -> float:
        return float(self.source.sum() - self.background_scale * self.background.sum())

    def plot(self, model_counts=None) -> PlotData:
        """Background-subtracted rates and the folded model in counts/s/keV, per group."""
        width = (self.e_hi - self.e_lo) * self.exposure  # keV s
        net = self.source - self.background_scale * self.background
        error = np.sqrt(self.source + self.background_scale**2 * self.background)
        return PlotData.from_arrays(
            x=0.5 * (self.e_lo + self.e_hi),
            xerr=0.5 * (self.e_hi - self.e_lo),
            y=net / width,
            yerr=error / width,
            model=None if model_counts is None else np.asarray(model_counts) / width,
        )


def _not_fittable_reason(groups: _Groups, settings: dict) -> str:
    lo, hi = settings["energy_range_keV"]
    needed = settings["min_noticed_channels"]
    noticed = int(groups.noticed.sum())
    if noticed <= needed:
        return (
            f"{noticed} group(s) with QUALITY 0 noticed in {lo}-{hi} keV; "
            f"a fit needs more than {needed}"
        )
    if groups.net_counts <= 0:
        return (
            f"no net source counts in the noticed groups: {groups.source.sum():.0f} source, "
            f"{groups.background_scale * groups.background.sum():.2f} scaled background counts"
        )
    return ""


def _scale_norm(fitter: SourceFit, model, groups: _Groups) -> None:
    """Set the norm so that the folded counts match the net counts less the neighbours'
    (at the current shape; a tenth of the net counts when the neighbours explain them all)."""
    model.norm.val = 1.0
    predicted = float(np.sum(fitter.folded()))
    predicted -= groups.neighbour_counts
    target = groups.net_counts - groups.neighbour_counts
    if target <= 0:
        target = 0.1 * groups.net_counts
    if predicted > 0 and math.isfinite(predicted):
        model.norm.val = min(target / predicted, model.norm.max)


def scan_statistics(fitter: SourceFit, model, name: str, groups: _Groups, settings: dict):
    """The start scan: (points, statistics, norms) with the scanned parameters (the shape,
    and nH when it is free: ``rassflow.fitting.models.start_points``) frozen at each point
    and the norm fitted (levmar); ``points`` has one row per point, one column per scanned
    parameter. A point whose fit fails has statistic NaN."""
    nh = nh_setting(settings) if absorber(name) else None
    names, points = start_points(name, nh["bounds"] if nh and nh["free"] else None)
    scanned = [getattr(model, par) for par in names]
    statistics, norms, failure = [], [], None
    for par in scanned:
        par.freeze()
    try:
        for point in points:
            for par, value in zip(scanned, point, strict=True):
                par.val = float(value)
            _scale_norm(fitter, model, groups)
            try:
                fitter.fit("levmar")
                statistic = fitter.calc_stat()
            except SherpaErr as err:
                statistic, failure = math.nan, err
            statistics.append(statistic)
            norms.append(float(model.norm.val))
    finally:
        for par in scanned:
            par.thaw()
    if failure is not None and not np.isfinite(statistics).any():
        raise failure  # no grid point could be fitted: Sherpa's own message is the reason
    return points, np.array(statistics), np.array(norms)


def _start_model(fitter: SourceFit, name: str, groups: _Groups, settings: dict):
    """The model at its start: the best point of the start scan (shared with the XSPEC
    fitter), or the values of ``settings['start'][name]`` with the norm scaled to the net
    counts."""
    model = make_model(name, settings)
    groups.use(fitter, model)
    given = settings["start"].get(name)
    if given:
        for par, value in given.items():
            getattr(model, par).val = value
        _scale_norm(fitter, model, groups)
        return model
    points, statistics, norms = scan_statistics(fitter, model, name, groups, settings)
    best = best_grid_point(statistics)
    nh = nh_setting(settings) if absorber(name) else None
    names, _ = start_points(name, nh["bounds"] if nh and nh["free"] else None)
    for par, value in zip(names, points[best], strict=True):
        getattr(model, par).val = float(value)
    model.norm.val = float(norms[best])
    return model


def _fit_model(fitter: SourceFit, name, groups, settings, source_id) -> ModelResult:
    model = _start_model(fitter, name, groups, settings)
    nfev = 0
    for method in ("levmar", "neldermead"):
        fit = fitter.fit(method)
        nfev += int(fit.nfev)
    statistic = fitter.calc_stat()
    if not fit.succeeded or not math.isfinite(statistic):
        reason = f"fit did not converge: {fit.message}"
        return ModelResult.unfitted(name, "failed", reason, groups.plot())

    parameters, statistic = _parameter_errors(fitter, model, statistic, fit.dof, settings)
    folded = fitter.folded()
    if settings["flux_method"] == "profile":
        fluxes = _profile_fluxes(fitter, model, name, statistic, fit.dof, settings, groups)
    else:
        fluxes = _draw_fluxes(fitter, model, name, settings, source_id)
    return ModelResult.ok(
        statistic=statistic,
        dof=fit.dof,
        nfev=nfev,
        parameters=parameters,
        fluxes=fluxes,
        plot=groups.plot(folded),
        absorption=absorption_record(name, settings),
    )


def _parameter_errors(fitter: SourceFit, model, statistic: float, dof: int, settings: dict):
    """XSPEC-style 'error' on every parameter: (entries by name, best statistic)."""
    delta_stat = float(settings["error_delta_stat"])
    pars = [par for par in model.pars if not par.frozen]  # a fixed nH has no interval
    flags = {par.name: set() for par in pars}
    lower = dict.fromkeys(flags)
    upper = dict.fromkeys(flags)
    if dof > 0 and statistic / dof > XSPEC_ERROR_MAX_RSTAT:
        for par in pars:
            flags[par.name].add(FLAG_RSTAT)  # XSPEC refuses the search: bounds stay null
    else:
        # The profile fits start at the best fit, where levmar gives Nelder-Mead's bounds
        # (checked on simulated bbody and powerlaw sources) at a tenth of the cost.
        try:
            conf = fitter.conf(math.sqrt(delta_stat), method="levmar")
        except SherpaErr:  # e.g. too few degrees of freedom: every search failed
            for par in pars:
                flags[par.name] |= {FLAG_LOWER_FAILED, FLAG_UPPER_FAILED}
            return _parameter_entries(model, lower, upper, flags), statistic
        refitted = fitter.calc_stat()
        if refitted < statistic - NEW_MINIMUM_TOLERANCE:
            for par in pars:
                flags[par.name].add(FLAG_NEW_MINIMUM)
        statistic = refitted
        for par, low, high in zip(pars, conf.parmins, conf.parmaxes, strict=True):
            for bound, store, limit, hard, failed in (
                (low, lower, par.hard_min, FLAG_HARD_LOWER, FLAG_LOWER_FAILED),
                (high, upper, par.hard_max, FLAG_HARD_UPPER, FLAG_UPPER_FAILED),
            ):
                if bound is not None and math.isfinite(bound):
                    store[par.name] = par.val + bound
                elif _profile_reaches(fitter, model, par, limit, statistic + delta_stat):
                    store[par.name] = limit  # XSPEC reports the hard limit with flag 4/5
                    flags[par.name].add(hard)
                else:
                    flags[par.name].add(failed)
    return _parameter_entries(model, lower, upper, flags), statistic


def _parameter_entries(model, lower: dict, upper: dict, flags: dict) -> dict:
    units = dict(zip(MODELS[model.name]["parameters"], MODELS[model.name]["units"], strict=True))
    return {
        par.name: (
            ParameterResult.fixed(par.val, units[par.name])
            if par.name not in flags
            else ParameterResult.from_bounds(
                par.val,
                lower[par.name],
                upper[par.name],
                flag_string(flags[par.name]),
                units[par.name],
            )  # fmt: skip
        )
        for par in model.pars
    }


def _profile_reaches(fitter: SourceFit, model, par, limit: float, threshold: float) -> bool:
    """Whether the statistic, minimised over the other parameters with ``par`` held at its
    hard ``limit``, stays within ``threshold``: the interval then ends at the hard limit
    (XSPEC flags 4/5) rather than its search failing (flags 7/8)."""
    saved = [(p.val, p.min, p.max) for p in model.pars]
    try:
        par.min, par.max = par.hard_min, par.hard_max
        par.val = limit
        par.freeze()
        if any(not p.frozen for p in model.pars):
            fitter.fit("neldermead")
        return fitter.calc_stat() <= threshold
    finally:
        par.thaw()
        for p, (val, low, high) in zip(model.pars, saved, strict=True):
            p.val = val  # inside both the widened and the original limits
            p.min, p.max = low, high


def _flux_kinds(name: str) -> tuple[bool, ...]:
    """``unabsorbed`` of each flux of a band: (False,) or, for an absorbed model, the
    absorbed (observed) flux and the unabsorbed one."""
    return (False, True) if absorber(name) else (False,)


def _absorption_settings(settings: dict) -> dict:
    return {"abundances": settings["abundances"], "cross_sections": settings["cross_sections"]}


def _profile_fluxes(
    fitter: SourceFit,
    model,
    name: str,
    statistic: float,
    dof: int,
    settings: dict,
    groups: _Groups,
):
    """Energy flux per band at the best fit with its profile-likelihood interval: the model
    refitted as ``BandFluxModel`` (norm -> lg10Flux, the same likelihood maximum) and
    ``conf`` on lg10Flux at the delta-stat of ``flux_confidence``. The value is the flux
    of the ordinary fit; bounds that are not found, or refused as XSPEC's error refuses
    them (reduced statistic > 2), are None. An absorbed model has its absorbed and its
    unabsorbed flux. The fitter's source is ``model`` again after."""
    confidence = float(settings["flux_confidence"])
    best = [float(par.val) for par in model.pars]
    refused = dof > 0 and statistic / dof > XSPEC_ERROR_MAX_RSTAT
    absorption = _absorption_settings(settings)
    fluxes = {}
    try:
        for lo, hi in settings["flux_bands_keV"]:
            for unabsorbed in _flux_kinds(name):
                value = energy_flux(name, best, lo, hi, unabsorbed, absorption)
                lower = upper = None
                if value > 0 and math.isfinite(value) and not refused:
                    lower, upper = _flux_bounds(
                        fitter, model, (lo, hi), best, value, confidence, groups, unabsorbed
                    )
                fluxes[band_key(lo, hi, unabsorbed)] = FluxResult.profile(
                    value, lower, upper, confidence
                )
    finally:
        groups.use(fitter, model)
        for par, val in zip(model.pars, best, strict=True):
            par.val = val
    return fluxes


def _flux_bounds(fitter, model, band, best, value, confidence, groups, unabsorbed=False):
    """(lower, upper) flux bounds (erg/cm^2/s, None when not found) from conf on lg10Flux."""
    lg10flux = math.log10(value)
    for par, val in zip(model.pars, best, strict=True):
        par.val = val
    # The ordinary best fit in the flux parametrisation (the same likelihood maximum): the
    # interval is that of this fit, whose flux is reported, so conf starts from it.
    flux_model = BandFluxModel(model, band, lg10flux, unabsorbed)
    groups.use(fitter, flux_model)
    sigma = math.sqrt(delta_stat_for_confidence(confidence))
    try:
        conf = fitter.conf(sigma, flux_model.lg10Flux, method="levmar")
    except SherpaErr:
        return None, None
    centre = lg10flux if conf.parvals is None else float(conf.parvals[0])
    bounds = []
    for bound in (conf.parmins[0], conf.parmaxes[0]):
        if bound is None or not math.isfinite(bound):
            bounds.append(None)  # not found, or at the lg10Flux limit (norm ~ 0)
        else:
            bounds.append(10.0 ** (centre + float(bound)))
    return tuple(bounds)


def _source_seed(seed: int, source_id: str) -> list[int]:
    """A seed that depends on the source but not on the process (str hashes are salted)."""
    digest = hashlib.sha256(str(source_id).encode()).digest()
    return [int(seed), int.from_bytes(digest[:8], "little")]


def _draw_fluxes(fitter: SourceFit, model, name: str, settings: dict, source_id: str) -> dict:
    """Energy flux per band at the best fit, with the central ``flux_confidence`` % range of
    fluxes from parameter draws from the covariance matrix (as XSPEC's calcFlux err)."""
    best = np.array([par.val for par in model.pars])
    draws = _parameter_draws(fitter, model, best, settings, source_id)
    confidence = float(settings["flux_confidence"])
    absorption = _absorption_settings(settings)
    fluxes = {}
    for lo, hi in settings["flux_bands_keV"]:
        for unabsorbed in _flux_kinds(name):
            value = energy_flux(name, best, lo, hi, unabsorbed, absorption)
            low = high = None
            if draws is not None:
                sampled = [
                    energy_flux(name, params, lo, hi, unabsorbed, absorption) for params in draws
                ]
                low, high = np.percentile(sampled, [50.0 - confidence / 2, 50.0 + confidence / 2])
            fluxes[band_key(lo, hi, unabsorbed)] = FluxResult.from_bounds(
                value, low, high, confidence, method="draws"
            )
    return fluxes


def _parameter_draws(fitter: SourceFit, model, best, settings, source_id):
    """Parameter sets drawn from the fit's covariance (of the free parameters; a fixed nH
    keeps its value), kept inside the hard limits (models are undefined beyond them); None
    when the covariance is unusable."""
    free = np.array([not par.frozen for par in model.pars])
    try:
        covar = fitter.covar(sigma=1.0)
    except SherpaErr:
        return None
    covariance = np.asarray(covar.extra_output, dtype=float)
    n_free = int(free.sum())
    if covariance.shape != (n_free, n_free) or not np.all(np.isfinite(covariance)):
        return None
    if np.any(np.diag(covariance) < 0):
        return None
    rng = np.random.default_rng(_source_seed(settings["seed"], source_id))
    drawn = rng.multivariate_normal(best[free], covariance, size=int(settings["flux_samples"]))
    draws = np.tile(best, (drawn.shape[0], 1))
    draws[:, free] = drawn
    hard_min = np.array([par.hard_min for par in model.pars])
    hard_max = np.array([par.hard_max for par in model.pars])
    return np.clip(draws, hard_min, hard_max)
