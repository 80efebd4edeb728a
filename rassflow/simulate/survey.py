"""A simulated RASS survey: archive-like skyfields, a sample catalog, a 2RXS-like catalog, truth.

The survey is a pure function of ``settings["seed"]``. Random streams are derived by
SeedSequence spawning: child 0 lays out the survey (field centres, which stars go where and
what they are), child ``i + 1`` owns skyfield ``i``, and inside a field every source has its
own child (a star's neighbour a child of the star's), so one field's content does not depend
on how many fields are simulated or in which order. Proper motions have their own stream
(a child of the layout's), so switching them on changes nothing else.

The sky differs from the analysis's assumptions where the real sky does:

- PSF: every source photon gets its offset from ``scan_psf.sample_offsets`` at its true
  (pre-redistribution) energy: a scan position in the field of view, the pointed PSPC PSF
  at that off-axis angle, attitude jitter. 2' holds ~62-65 % of the counts, not ~99 %.
  ``psf_model`` chooses the published description that draws the sky: ``psfoff``
  (Hasinger et al. as pcrpsf codes it, the analysis's) or ``gof_faq`` (the ROSAT GOF
  FAQ's Gaussian without wing, ~74 % inside 2'), so that the analysis can be tested
  against a sky it does not assume.
- Exposure: a smooth model (``sky.ExposureModel``) evaluated exactly at each source; the
  ``_mex`` file is that model averaged over its 45" pixels, so a nearest-pixel lookup is
  close but not equal. Exposure includes the vignetting: photons are drawn with the on-axis
  area x exposure (fact sheet sect. 11).
- Background: a soft thermal (Local Hot Bubble) plus power-law (extragalactic) sky and a
  flat particle component at RASS levels, ~4e-4 counts/s/arcmin^2, HR1 < 0 (``sky``).
- Neighbours: a fraction of the sample stars get another X-ray source 2.1'-3' (in the
  notebook's background annulus) or 3'-5' away, in the events and in the 2RXS catalog.
- Faint and dark members: stars below the 2RXS limit have events but no 2RXS row; dark
  stars have neither. truth.csv has a row for every star.
- Proper motions (opt-in, ``pm_fraction``): the star catalog is at epoch J2000.0, the
  events and the 2RXS positions at the skyfield's epoch (its mean event time).

Channels: per photon-energy bin a Poisson number of detected photons (on-axis area x
exposure x model photon flux), an energy uniform in the bin (the PSF's energy), a PI
channel from the response row (``response.Response``; photons outside 1..256 are lost, as
the RMF says). The response is the built-in ``instrument`` one or, with ``response_file``,
a full OGIP response (e.g. the real PSPC-C .rsp) while the mini CALDB stays ``instrument``'s.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from rassflow import pspc
from rassflow.archive.skyfield import seq_id
from rassflow.config import section_defaults, section_hash
from rassflow.files import compress_file, stamp, write_fits, write_text
from rassflow.fitting import models
from rassflow.simulate import instrument, scan_psf, sky
from rassflow.simulate.response import Response

# Sky pixels of the events (fact sheet §1.6-1.7): 0.5", 46080 per axis = 6.4 deg
SKY_PIXEL_DEG = pspc.SKY_PIXEL_DEG
SKY_PIXELS = pspc.SKY_PIXELS
SKY_CRPIX = 23040.5
PIXEL_ARCSEC = SKY_PIXEL_DEG * 3600.0
# Exposure map and images: 512 x 512 pixels of 45" (90 sky pixels)
MAP_PIXELS = sky.MAP_PIXELS
MAP_PIXEL_DEG = sky.MAP_PIXEL_DEG
MAP_CRPIX = sky.MAP_CRPIX
MAP_BINNING = 90
MAP_PIXEL_ARCMIN2 = (MAP_PIXEL_DEG * 60.0) ** 2

FIELD_HALF_WIDTH_DEG = sky.FIELD_HALF_WIDTH_DEG
EDGE_MARGIN_DEG = 0.15
# > 6' on the sky; tangent-plane distances exceed sky distances by < 0.3 % in a field
MIN_SEPARATION_DEG = 0.105
MAX_DEC_DEG = 75.0  # field centres avoid the poles, where RA ranges become awkward
MAX_SKYFIELDS = 250  # a Fibonacci lattice of more points lets 6.4 deg fields overlap
# Neighbours: half in the notebook's background annulus (1.05-1.5 x 2'), half beyond it
NEIGHBOUR_SEPARATIONS_ARCMIN = ((2.1, 3.0), (3.0, 5.0))
NEIGHBOUR_FLUX_RATIO = (1.0 / 3.0, 3.0)  # log-uniform, relative to a detected target's flux
# Proper motions (arcsec/yr): the fast fraction are nearby M dwarfs
FAST_PM_ARCSEC_YR = (1.0, 4.0)
SLOW_PM_ARCSEC_YR = 0.3
CATALOG_EPOCH_JYEAR = 2000.0

# Detector coordinates: 0.934" pixels, optical axis at 4119/3929, ~1 deg field radius
DET_PIXELS = 8192
DET_AXIS = (4119.0, 3929.0)
DET_RADIUS = 3850.0

MJDREFI, MJDREFF = 48043, 0.879745370370074
SURVEY_TIME_RANGE_S = (5.02e6, 2.05e7)  # 1990 Jul 30 - 1991 Jan 25 after MJDREF
DEAD_TIME_FRACTION = 0.04
IM1_PI = (7, 240)  # 0.07-2.4 keV
FLUX_BAND_KEV = (0.5, 2.0)
BROAD_FLUX_BAND_KEV = (0.1, 2.4)

SPECTRAL_TYPES = [f"M{sub:g} V" for sub in np.arange(0.0, 9.5, 0.5)]
NAME_FORMATS = (
    ("GJ {}", (1, 1300)),
    ("G {:03d}-{:03d}", (1, 280), (1, 70)),
    ("LP {}-{}", (100, 999), (1, 99)),
    ("Ross {}", (1, 1000)),
    ("Wolf {}", (1, 1500)),
    ("LHS {}", (1, 5000)),
)
SAMPLE_COLUMNS = ["No", "Karmn", "Name", "RAdeg", "DEdeg", "pmRA", "pmDE", "SpT", "Dist"]

EVENT_COLUMNS = (
    ("X", "J", "pixel"),
    ("Y", "J", "pixel"),
    ("PHA", "I", "chan"),
    ("PI", "I", "chan"),
    ("TIME", "D", "s"),
    ("DETX", "I", "pixel"),
    ("DETY", "I", "pixel"),
)
TRUTH_COLUMNS = [
    "rxs_name",
    "star_no",
    "star_name",
    "ra",
    "dec",
    "skyfield_number",
    "seq_id",
    "model",
    "kT",
    "PhoIndex",
    "norm",
    "flux_0.5-2.0keV",
    "expected_counts",
    "simulated_counts",
    "exposure_s",
    # added with the survey PSF, neighbours, faint members and proper motions
    "kind",
    "in_2rxs",
    "neighbour_of",
    "sep_arcmin",
    "ra_rass",
    "dec_rass",
    "epoch_rass",
    "pmRA",
    "pmDE",
    "flux_0.1-2.4keV",
    "rate_broad",
    "expected_counts_broad",
]
RXS_ONLY_COLUMNS = ["cat_ra", "cat_dec", "detection_likelihood"]
KINDS = ("target", "faint", "dark", "neighbour", "unrelated")


def with_defaults(settings: dict | None) -> dict:
    """The settings with every missing key defaulted; unknown keys are an error."""
    defaults = section_defaults("simulation")  # rassflow/schema.yaml
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise ValueError(f"simulation settings: unknown key(s) {', '.join(unknown)}")
    merged = {**defaults, **settings}
    if not 1 <= merged["n_skyfields"] <= MAX_SKYFIELDS:
        raise ValueError(
            f"simulation.n_skyfields must be 1..{MAX_SKYFIELDS}, got {merged['n_skyfields']}"
        )
    if merged["first_skyfield_number"] + merged["n_skyfields"] - 1 > 999999:
        raise ValueError("simulation.first_skyfield_number + n_skyfields exceeds 999999")
    for key in (
        "xray_fraction",
        "faint_fraction",
        "neighbour_fraction",
        "pm_fraction",
        "background_soft_fraction",
        "background_particle_fraction",
    ):
        if not 0.0 <= merged[key] <= 1.0:
            raise ValueError(f"simulation.{key} must be in [0, 1], got {merged[key]}")
    return merged


def field_centres(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (deg) of ``n`` field centres on a Fibonacci lattice with a random longitude offset."""
    index = np.arange(n) + 0.5
    z = (1.0 - 2.0 * index / n) * np.sin(np.radians(MAX_DEC_DEG))
    golden_angle = 180.0 * (3.0 - np.sqrt(5.0))
    ra = (rng.uniform(0.0, 360.0) + golden_angle * np.arange(n)) % 360.0
    return np.round(ra, 5), np.round(np.degrees(np.arcsin(z)), 5)


def sky_wcs(ra: float, dec: float, pixel_deg: float = SKY_PIXEL_DEG, crpix: float = SKY_CRPIX):
    """TAN WCS of a field (1-based pixels): the events' X/Y, or the map with map arguments."""
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [crpix, crpix]
    wcs.wcs.cdelt = [-pixel_deg, pixel_deg]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "FK5"
    wcs.wcs.equinox = 2000.0
    return wcs


def map_wcs(ra: float, dec: float):
    return sky_wcs(ra, dec, MAP_PIXEL_DEG, MAP_CRPIX)


def place_offsets(rng: np.random.Generator, n: int, taken: np.ndarray) -> np.ndarray:
    """``n`` tangent-plane offsets (deg) inside the field margin, apart from ``taken`` and
    each other."""
    limit = FIELD_HALF_WIDTH_DEG - EDGE_MARGIN_DEG
    points = [tuple(p) for p in taken]
    placed = []
    for _ in range(n):
        for _attempt in range(10000):
            candidate = rng.uniform(-limit, limit, 2)
            if all(np.hypot(*(candidate - p)) > MIN_SEPARATION_DEG for p in points):
                break
        else:
            raise RuntimeError("cannot place a source more than 6' from all others in a field")
        points.append(tuple(candidate))
        placed.append(candidate)
    return np.array(placed).reshape(-1, 2)


def offsets_to_world(wcs, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sky positions (deg, rounded to 1e-6) of tangent-plane offsets (deg; +x = west)."""
    x = SKY_CRPIX - offsets[:, 0] / SKY_PIXEL_DEG
    y = SKY_CRPIX + offsets[:, 1] / SKY_PIXEL_DEG
    ra, dec = wcs.all_pix2world(x, y, 1)
    return np.round(np.mod(ra, 360.0), 6), np.round(dec, 6)


def world_to_offsets(wcs, ra, dec) -> np.ndarray:
    """The inverse of ``offsets_to_world``: tangent-plane offsets (deg) of sky positions."""
    x, y = wcs.all_world2pix(np.atleast_1d(ra), np.atleast_1d(dec), 1)
    return np.column_stack([(SKY_CRPIX - x) * SKY_PIXEL_DEG, (y - SKY_CRPIX) * SKY_PIXEL_DEG])


def offset_position(ra: float, dec: float, sep_deg: float, pa_deg: float) -> tuple[float, float]:
    """The point ``sep_deg`` from (ra, dec) at position angle ``pa_deg`` (east of north)."""
    d1, s, pa = np.radians(dec), np.radians(sep_deg), np.radians(pa_deg)
    d2 = np.arcsin(np.sin(d1) * np.cos(s) + np.cos(d1) * np.sin(s) * np.cos(pa))
    dra = np.arctan2(np.sin(pa) * np.sin(s) * np.cos(d1), np.cos(s) - np.sin(d1) * np.sin(d2))
    return float(np.mod(ra + np.degrees(dra), 360.0)), float(np.degrees(d2))


def separation_deg(ra1, dec1, ra2, dec2):
    """Great-circle distance (deg), haversine form."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, dtype=float)) for v in (ra1, dec1, ra2, dec2))
    h = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    return np.degrees(2.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def place_neighbour(rng, wcs, ra: float, dec: float, others: np.ndarray) -> tuple[float, float]:
    """A neighbour of the source at (ra, dec): 2.1'-3' or 3'-5' away (equally likely), more
    than 6' from ``others`` (tangent-plane offsets, deg) and inside the field margin."""
    limit = FIELD_HALF_WIDTH_DEG - EDGE_MARGIN_DEG
    sep_lo, sep_hi = NEIGHBOUR_SEPARATIONS_ARCMIN[int(rng.integers(2))]
    for _attempt in range(10000):
        sep = rng.uniform(sep_lo, sep_hi)
        ra_n, dec_n = offset_position(ra, dec, sep / 60.0, rng.uniform(0.0, 360.0))
        ra_n, dec_n = round(ra_n, 6), round(dec_n, 6)
        offset = world_to_offsets(wcs, ra_n, dec_n)[0]
        true_sep = float(separation_deg(ra, dec, ra_n, dec_n)) * 60.0
        if (
            np.all(np.abs(offset) <= limit)
            and sep_lo <= true_sep <= sep_hi
            and all(np.hypot(*(offset - p)) > MIN_SEPARATION_DEG for p in others)
        ):
            return ra_n, dec_n
    raise RuntimeError("cannot place a neighbour more than 6' from all other sources")


def rass_epoch(gtis: np.ndarray) -> float:
    """The skyfield's epoch (Julian year): the mean time of its events, uniform in the GTIs."""
    from astropy.time import Time

    lengths = gtis[:, 1] - gtis[:, 0]
    mean_time = float(np.sum(0.5 * (gtis[:, 0] + gtis[:, 1]) * lengths) / lengths.sum())
    return float(Time(MJDREFI, MJDREFF + mean_time / 86400.0, format="mjd", scale="utc").jyear)


def propagate(ra, dec, pm_ra, pm_dec, years):
    """Position (deg, rounded to 1e-6) after ``years`` of proper motion (mas/yr, pmRA with cos
    dec), linearly: ample for arcsec/yr over a decade."""
    dec_new = dec + pm_dec * years / 3.6e6
    ra_new = ra + pm_ra * years / 3.6e6 / np.cos(np.radians(dec))
    return np.round(np.mod(ra_new, 360.0), 6), np.round(dec_new, 6)


def draw_proper_motions(rng, n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """pmRA (with cos dec), pmDE in mas/yr: ``fraction`` of the stars move 1-4"/yr, the others
    < 0.3"/yr; all zero when ``fraction`` is 0 (the feature is opt-in)."""
    if fraction <= 0.0 or n == 0:
        return np.zeros(n), np.zeros(n)
    fast = np.zeros(n, dtype=bool)
    fast[rng.permutation(n)[: int(round(fraction * n))]] = True
    total = np.where(
        fast, rng.uniform(*FAST_PM_ARCSEC_YR, n), rng.uniform(0.0, SLOW_PM_ARCSEC_YR, n)
    )
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    return np.round(1e3 * total * np.sin(angle), 2), np.round(1e3 * total * np.cos(angle), 2)


class SkyModel:
    """What every skyfield shares: the response and the background's channel rates."""

    def __init__(self, settings: dict):
        response_file = settings["response_file"]
        self.response = Response.from_file(response_file) if response_file else Response.builtin()
        self.background = sky.background_components(self.response, settings)
        # the spectrum's shape at unit rate, so a zero background still has one
        shape = sum(
            sky.background_components(self.response, {**settings, "background_rate": 1.0}).values()
        )
        # counts/s/arcmin^2 in PI 1..256 (background_rate is PI 11..235)
        self.background_rate_all = settings["background_rate"] * float(shape.sum())
        self.background_pi_probability = shape / shape.sum()


def draw_spectrum(
    rng: np.random.Generator, settings: dict, flux=None, rate_range=None, response=None
) -> dict:
    """A model, its shape and a 0.5-2 keV flux: log-uniform in ``flux_range``, or ``flux``,
    or the flux that gives a broad-band count rate log-uniform in ``rate_range``."""
    model = "bbody" if rng.random() < settings["bbody_fraction"] else "powerlaw"
    shape_range = settings["kT_range"] if model == "bbody" else settings["gamma_range"]
    shape = float(rng.uniform(*shape_range))
    if rate_range is not None:
        rate = float(np.exp(rng.uniform(*np.log(rate_range))))
        photons = models.photon_flux(model, (shape, 1.0), response.lo, response.hi)
        norm = rate / sky.broad_band_sum(response.channel_rates(photons))
        flux = models.energy_flux(model, (shape, norm), *FLUX_BAND_KEV)
    elif flux is None:
        flux = float(np.exp(rng.uniform(*np.log(settings["flux_range"]))))
    norm = models.norm_for_energy_flux(model, shape, flux, *FLUX_BAND_KEV)
    return {"model": model, "shape": shape, "norm": norm, "flux": flux}


def draw_gtis(rng: np.random.Generator, ontime: float) -> np.ndarray:
    """Good time intervals (s after MJDREF) of one skyfield: one per scan pass, orbit apart."""
    n = int(rng.integers(6, 16))
    lengths = ontime * rng.dirichlet(np.full(n, 5.0))
    gaps = rng.uniform(3000.0, 6000.0, n)
    gaps[0] = rng.uniform(*SURVEY_TIME_RANGE_S)
    starts = np.cumsum(gaps) + np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    return np.round(np.column_stack([starts, starts + lengths]), 3)


def times_in(rng: np.random.Generator, intervals: np.ndarray, n: int) -> np.ndarray:
    """``n`` times uniform over the union of ``intervals`` (start, stop)."""
    lengths = intervals[:, 1] - intervals[:, 0]
    which = rng.choice(len(intervals), size=n, p=lengths / lengths.sum())
    return intervals[which, 0] + rng.random(n) * lengths[which]


def detector_positions(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """DETX/DETY uniform over the detector disk: survey scanning averages the detector."""
    radius = DET_RADIUS * np.sqrt(rng.random(n))
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    detx = np.rint(DET_AXIS[0] + radius * np.cos(angle)).astype(np.int16)
    dety = np.rint(DET_AXIS[1] + radius * np.sin(angle)).astype(np.int16)
    return detx, dety


def spectrum_truth(response: Response, spectrum: dict, exposure: float) -> dict:
    """Expected counts (PI 1..256 and broad band), broad-band rate and fluxes of a source."""
    params = (spectrum["shape"], spectrum["norm"])
    photons = models.photon_flux(spectrum["model"], params, response.lo, response.hi)
    rates = response.channel_rates(photons)
    broad = sky.broad_band_sum(rates)
    return {
        "photons": photons,
        "expected_counts": exposure * float(rates.sum()),
        "expected_counts_broad": exposure * broad,
        "rate_broad": broad,
        "flux_0.1-2.4keV": models.energy_flux(spectrum["model"], params, *BROAD_FLUX_BAND_KEV),
    }


def source_events(
    rng, response: Response, photons, exposure: float, x0, y0, gtis, psf_model="psfoff"
) -> dict:
    """Events of one source at sky pixel (x0, y0): photons per energy bin, their energies,
    channels, survey-PSF offsets (at the true energy, PSF description ``psf_model``), times
    and detector positions."""
    n_per_bin = rng.poisson(exposure * response.detected_photons(photons))
    energy_bin = np.repeat(np.arange(response.lo.size), n_per_bin)
    width = response.hi - response.lo
    energy = response.lo[energy_bin] + rng.random(energy_bin.size) * width[energy_bin]
    pi = response.draw_channels(rng, energy_bin)
    detected = pi > 0
    energy, pi = energy[detected], pi[detected]
    n = len(pi)
    dx, dy = scan_psf.sample_offsets(rng, energy, model=psf_model)
    x = np.rint(x0 + dx / PIXEL_ARCSEC)
    y = np.rint(y0 + dy / PIXEL_ARCSEC)
    detx, dety = detector_positions(rng, n)
    return {"X": x, "Y": y, "PI": pi, "TIME": times_in(rng, gtis, n), "DETX": detx, "DETY": dety}


def background_events(rng, sky_model: SkyModel, expmap: np.ndarray, gtis: np.ndarray) -> dict:
    """Background events: Poisson per map pixel, uniform over its 90 x 90 sky pixels."""
    mean = sky_model.background_rate_all * MAP_PIXEL_ARCMIN2 * expmap.astype(float)
    counts = rng.poisson(mean)
    row, col = np.nonzero(counts)
    repeats = counts[row, col]
    row, col = np.repeat(row, repeats), np.repeat(col, repeats)
    n = len(row)
    x = col * MAP_BINNING + 1 + rng.integers(0, MAP_BINNING, n)
    y = row * MAP_BINNING + 1 + rng.integers(0, MAP_BINNING, n)
    pi = 1 + rng.choice(instrument.N_CHANNELS, size=n, p=sky_model.background_pi_probability)
    detx, dety = detector_positions(rng, n)
    return {"X": x, "Y": y, "PI": pi, "TIME": times_in(rng, gtis, n), "DETX": detx, "DETY": dety}


def out_of_gti_events(rng, sky_model: SkyModel, gtis: np.ndarray) -> dict:
    """A few background-like events between the GTIs, which an extraction must drop."""
    n = int(rng.integers(3, 10))
    gaps = np.column_stack([gtis[:-1, 1] + 1.0, gtis[1:, 0] - 1.0])
    limit = (FIELD_HALF_WIDTH_DEG - EDGE_MARGIN_DEG) / SKY_PIXEL_DEG
    x = np.rint(SKY_CRPIX + rng.uniform(-limit, limit, n))
    y = np.rint(SKY_CRPIX + rng.uniform(-limit, limit, n))
    pi = 1 + rng.choice(instrument.N_CHANNELS, size=n, p=sky_model.background_pi_probability)
    detx, dety = detector_positions(rng, n)
    return {"X": x, "Y": y, "PI": pi, "TIME": times_in(rng, gaps, n), "DETX": detx, "DETY": dety}


def karmn_designation(ra: float, dec: float) -> str:
    """CARMENES-style 'Jhhmmm+ddd': RA in tenths of a time minute, Dec in tenths of a degree."""
    ra_tenth_minutes = int(np.floor(ra / 15.0 * 600.0 + 1e-9))
    dec_tenths = int(np.floor(abs(dec) * 10.0 + 1e-9))
    sign = "-" if dec < 0 else "+"
    return f"J{ra_tenth_minutes // 600:02d}{ra_tenth_minutes % 600:03d}{sign}{dec_tenths:03d}"


def rxs_name(ra: float, dec: float) -> str:
    """2RXS designation '2RXS Jhhmmss.s+ddmmss' (truncated, as IAU names are)."""
    ra_tenth_seconds = int(np.floor(ra / 15.0 * 36000.0 + 1e-9))
    hours, rest = divmod(ra_tenth_seconds, 36000)
    minutes, tenths = divmod(rest, 600)
    dec_seconds = int(np.floor(abs(dec) * 3600.0 + 1e-9))
    degrees, rest = divmod(dec_seconds, 3600)
    arcmin, arcsec = divmod(rest, 60)
    sign = "-" if dec < 0 else "+"
    return (
        f"2RXS J{hours:02d}{minutes:02d}{tenths / 10:04.1f}"
        f"{sign}{degrees:02d}{arcmin:02d}{arcsec:02d}"
    )


def star_names(rng: np.random.Generator, n: int) -> list[str]:
    """Distinct catalog-like star names ('GJ 2', 'G 217-032', 'LP 123-45', ...)."""
    names: list[str] = []
    while len(names) < n:
        template, *ranges = NAME_FORMATS[rng.integers(len(NAME_FORMATS))]
        name = template.format(*(int(rng.integers(lo, hi + 1)) for lo, hi in ranges))
        if name not in names:
            names.append(name)
    return names


def unique_designations(designations: list[str]) -> list[str]:
    """Append A, B, ... to designations that two stars share."""
    counts = pd.Series(designations).value_counts()
    seen: dict[str, int] = {}
    out = []
    for designation in designations:
        if counts[designation] > 1:
            seen[designation] = seen.get(designation, 0) + 1
            designation += chr(ord("A") + seen[designation] - 1)
        out.append(designation)
    return out


def detection_likelihood(counts: int, background: float) -> float:
    """-ln P(N >= counts + background | background): a Poisson detection likelihood."""
    from scipy.stats import poisson

    observed = counts + int(round(background))
    if observed <= 0:
        return 0.0
    return float(-poisson.logsf(observed - 1, max(background, 1e-3)))


def choose(rng: np.random.Generator, candidates: np.ndarray, fraction: float, n: int) -> np.ndarray:
    """A boolean mask of length ``n``: round(fraction x len(candidates)) of ``candidates``."""
    mask = np.zeros(n, dtype=bool)
    k = int(round(fraction * len(candidates)))
    mask[candidates[rng.permutation(len(candidates))[:k]]] = True
    return mask


def simulate_survey(out_dir, settings: dict | None = None) -> dict:
    """Write the simulated survey under ``out_dir``; return the paths written.

    Returns ``{"sample", "rxs", "truth", "truth_fields", "archive": Path,
    "skyfields": {seq_id: {"bas", "mex", "im1": Path}}}``. ``truth.csv`` has one row per
    X-ray source (``kind`` target, faint, neighbour or unrelated) and one per dark star
    (``kind`` dark, model ``none``, zero fluxes and counts), so every sample star has exactly
    one row with its ``star_no``. ``expected_counts`` is the mean number of a source's
    events in PI 1..256 (all of the PSF), ``expected_counts_broad`` in PI 11..235 and
    ``rate_broad`` = ``expected_counts_broad / exposure_s`` (counts/s, no PSF or aperture
    correction needed: it is the rate of all its photons); ``simulated_counts`` the number
    drawn, all in GTIs; ``exposure_s`` the exposure model at the source's true position
    (not the map's nearest pixel). ``ra``/``dec`` are the catalog (J2000.0) positions,
    ``ra_rass``/``dec_rass`` the positions at ``epoch_rass``, where the events are.
    """
    settings = with_defaults(settings)
    out_dir = Path(out_dir)
    config_hash = section_hash({"simulation": settings}, "simulation")
    n_fields = settings["n_skyfields"]
    layout_seed, *field_seeds = np.random.SeedSequence(settings["seed"]).spawn(n_fields + 1)
    layout = np.random.default_rng(layout_seed)

    centres_ra, centres_dec = field_centres(n_fields, layout)
    n_stars = settings["n_stars"]
    star_field = layout.integers(0, n_fields, n_stars)
    star_has_xray = np.zeros(n_stars, dtype=bool)
    n_xray_stars = int(round(settings["xray_fraction"] * n_stars))
    star_has_xray[layout.permutation(n_stars)[:n_xray_stars]] = True
    names = star_names(layout, n_stars)
    spectral_types = layout.choice(SPECTRAL_TYPES, n_stars)
    distances = np.round(np.exp(layout.uniform(np.log(3.0), np.log(40.0), n_stars)), 2)
    star_faint = choose(layout, np.flatnonzero(~star_has_xray), settings["faint_fraction"], n_stars)
    star_kind = np.where(star_has_xray, "target", np.where(star_faint, "faint", "dark"))
    star_neighbour = choose(layout, np.arange(n_stars), settings["neighbour_fraction"], n_stars)
    pm_ra, pm_dec = draw_proper_motions(
        np.random.default_rng(layout_seed.spawn(1)[0]), n_stars, settings["pm_fraction"]
    )

    sky_model = SkyModel(settings)
    stars, rows, fields = [], [], []
    skyfields = {}
    for index in range(n_fields):
        number = settings["first_skyfield_number"] + index
        in_field = np.flatnonzero(star_field == index)
        field = simulate_skyfield(
            out_dir / "archive",
            number,
            centres_ra[index],
            centres_dec[index],
            {
                "kind": star_kind[in_field],
                "neighbour": star_neighbour[in_field],
                "pmRA": pm_ra[in_field],
                "pmDE": pm_dec[in_field],
            },
            field_seeds[index],
            settings,
            sky_model,
            config_hash,
        )
        for local, star in enumerate(in_field):
            stars.append(
                {"index": star, "ra": field["star_ra"][local], "dec": field["star_dec"][local]}
            )
        for row in field["rows"]:
            for key in ("star_local", "neighbour_local"):
                local = row.pop(key)
                row[key.replace("local", "index")] = None if local is None else int(in_field[local])
            rows.append(row)
        fields.append(field["summary"])
        skyfields[seq_id(number)] = field["paths"]

    sample = pd.DataFrame(stars).sort_values(["ra", "dec"], kind="stable").reset_index(drop=True)
    sample["No"] = np.arange(1, len(sample) + 1)
    star_no = dict(zip(sample["index"], sample["No"], strict=True))
    sample["Karmn"] = unique_designations(
        [karmn_designation(r, d) for r, d in zip(sample["ra"], sample["dec"], strict=True)]
    )
    sample["Name"] = [names[i] for i in sample["index"]]
    sample["pmRA"] = [pm_ra[i] for i in sample["index"]]
    sample["pmDE"] = [pm_dec[i] for i in sample["index"]]
    sample["SpT"] = [spectral_types[i] for i in sample["index"]]
    sample["Dist"] = [distances[i] for i in sample["index"]]
    sample = sample.rename(columns={"ra": "RAdeg", "dec": "DEdeg"})
    sample = sample[SAMPLE_COLUMNS]

    for row in rows:
        index = row.pop("star_index")
        row["star_no"] = None if index is None else int(star_no[index])
        row["star_name"] = "" if index is None else names[index]
        target = row.pop("neighbour_index")
        row["neighbour_of"] = None if target is None else int(star_no[target])
    truth = pd.DataFrame.from_records(rows, columns=TRUTH_COLUMNS + RXS_ONLY_COLUMNS)
    for column in ("star_no", "neighbour_of"):
        truth[column] = truth[column].astype("Int64")
    truth = truth.sort_values(["ra", "dec"], kind="stable").reset_index(drop=True)

    paths = {
        "sample": out_dir / "sample.csv",
        "rxs": out_dir / "rass2rxs.fits",
        "truth": out_dir / "truth.csv",
        "truth_fields": out_dir / "truth_fields.csv",
        "archive": out_dir / "archive",
        "skyfields": skyfields,
    }
    write_text(sample.to_csv(index=False), paths["sample"])
    write_rxs_catalog(truth[truth["in_2rxs"]], paths["rxs"], settings, config_hash)
    write_text(truth[TRUTH_COLUMNS].to_csv(index=False), paths["truth"])
    write_text(pd.DataFrame(fields).to_csv(index=False), paths["truth_fields"])
    return paths


def write_rxs_catalog(truth: pd.DataFrame, path: Path, settings: dict, config_hash: str) -> None:
    """The 2RXS-like catalog: every detectable source at its measured (offset) position."""
    from astropy.io import fits

    rows = truth.sort_values(["cat_ra", "cat_dec"], kind="stable")
    exposure = rows["exposure_s"].to_numpy(float)
    counts = rows["simulated_counts"].to_numpy(float)
    n = len(rows)
    columns = [
        fits.Column("name", "22A", array=rows["rxs_name"].to_numpy(str)),
        fits.Column("ra", "D", unit="deg", array=rows["cat_ra"].to_numpy(float)),
        fits.Column("dec", "D", unit="deg", array=rows["cat_dec"].to_numpy(float)),
        fits.Column(
            "ra_dec_error", "E", unit="arcsec", array=np.full(n, settings["match_error_arcsec"])
        ),
        fits.Column("skyfield_number", "J", array=rows["skyfield_number"].to_numpy(np.int32)),
        fits.Column("count_rate", "E", unit="count/s", array=counts / exposure),
        fits.Column("count_rate_error", "E", unit="count/s", array=np.sqrt(counts) / exposure),
        fits.Column("exposure", "E", unit="s", array=exposure),
        fits.Column(
            "detection_likelihood", "E", array=rows["detection_likelihood"].to_numpy(float)
        ),
    ]
    table = fits.BinTableHDU.from_columns(columns, name="RASS2RXS")
    table.header["COMMENT"] = "Simulated 2RXS-like catalog; ra_dec_error is the per-axis sigma."
    stamp(table.header, tool="simulate", config_hash=config_hash)
    write_fits(fits.HDUList([fits.PrimaryHDU(), table]), path)


def simulate_skyfield(
    archive_dir: Path,
    number: int,
    ra0: float,
    dec0: float,
    stars: dict,
    seed: np.random.SeedSequence,
    settings: dict,
    sky_model: SkyModel,
    config_hash: str,
) -> dict:
    """Simulate and write one skyfield; return its stars, truth rows, summary row and paths.

    ``stars`` holds arrays over the field's sample stars: ``kind`` (target, faint, dark),
    ``neighbour`` (bool) and ``pmRA``/``pmDE`` (mas/yr).
    """
    response = sky_model.response
    n_stars = len(stars["kind"])
    n_unrelated = settings["n_unrelated_per_field"]
    geometry_seed, background_seed, *source_seeds = seed.spawn(2 + n_stars + n_unrelated)
    geometry = np.random.default_rng(geometry_seed)
    events_wcs = sky_wcs(ra0, dec0)
    exposure_wcs = map_wcs(ra0, dec0)

    exposure_model = sky.ExposureModel(geometry, settings["exposure_range_s"])
    expmap = exposure_model.pixel_map()
    ontime = float(np.round(expmap.max() * geometry.uniform(1.1, 1.4), 3))
    gtis = draw_gtis(geometry, ontime)
    epoch = rass_epoch(gtis)

    # positions at the RASS epoch: stars, their neighbours, then unrelated sources
    star_offsets = place_offsets(geometry, n_stars, np.empty((0, 2)))
    star_ra, star_dec = offsets_to_world(events_wcs, star_offsets)
    taken = list(star_offsets)
    neighbours = []  # (star local index, ra, dec)
    for local in np.flatnonzero(stars["neighbour"]):
        others = [p for i, p in enumerate(taken) if i != local]
        ra_n, dec_n = place_neighbour(geometry, events_wcs, star_ra[local], star_dec[local], others)
        neighbours.append((int(local), ra_n, dec_n))
        taken.append(world_to_offsets(events_wcs, ra_n, dec_n)[0])
    unrelated_offsets = place_offsets(geometry, n_unrelated, np.array(taken).reshape(-1, 2))
    unrelated_ra, unrelated_dec = offsets_to_world(events_wcs, unrelated_offsets)
    # the star catalog's positions: J2000.0
    cat_star_ra, cat_star_dec = propagate(
        star_ra, star_dec, stars["pmRA"], stars["pmDE"], CATALOG_EPOCH_JYEAR - epoch
    )

    def exposure_at(ra, dec) -> float:
        x, y = exposure_wcs.all_world2pix([[ra, dec]], 1)[0]
        return float(exposure_model.at_map_pixel(x, y))

    def base_row(kind, ra_rass, dec_rass, exposure):
        return {
            "kind": kind,
            "ra_rass": ra_rass,
            "dec_rass": dec_rass,
            "ra": ra_rass,
            "dec": dec_rass,
            "epoch_rass": epoch,
            "pmRA": 0.0,
            "pmDE": 0.0,
            "skyfield_number": number,
            "seq_id": seq_id(number),
            "exposure_s": exposure,
            "star_local": None,
            "neighbour_local": None,
            "sep_arcmin": np.nan,
            "in_2rxs": kind in ("target", "neighbour", "unrelated"),
            "rxs_name": "",
        }

    background_rng = np.random.default_rng(background_seed)
    parts = [background_events(background_rng, sky_model, expmap, gtis)]
    rows = []
    star_flux = {}

    def add_source(row, rng, spectrum):
        x0, y0 = events_wcs.all_world2pix([[row["ra_rass"], row["dec_rass"]]], 1)[0]
        truth = spectrum_truth(response, spectrum, row["exposure_s"])
        events = source_events(
            rng,
            response,
            truth.pop("photons"),
            row["exposure_s"],
            x0,
            y0,
            gtis,
            settings["psf_model"],
        )
        parts.append(events)
        n_counts = len(events["PI"])
        row.update(truth)
        row.update(
            {
                "model": spectrum["model"],
                "kT": spectrum["shape"] if spectrum["model"] == "bbody" else np.nan,
                "PhoIndex": spectrum["shape"] if spectrum["model"] == "powerlaw" else np.nan,
                "norm": spectrum["norm"],
                "flux_0.5-2.0keV": spectrum["flux"],
                "simulated_counts": n_counts,
            }
        )
        if row["in_2rxs"]:
            offset = rng.normal(0.0, settings["match_error_arcsec"], 2) / 3600.0
            cat_ra = float(
                np.mod(row["ra_rass"] + offset[0] / np.cos(np.radians(row["dec_rass"])), 360.0)
            )
            cat_dec = float(row["dec_rass"] + offset[1])
            background_in_cell = settings["background_rate"] * row["exposure_s"] * np.pi  # 1'
            row.update(
                {
                    "rxs_name": rxs_name(cat_ra, cat_dec),
                    "cat_ra": cat_ra,
                    "cat_dec": cat_dec,
                    "detection_likelihood": detection_likelihood(n_counts, background_in_cell),
                }
            )
        rows.append(row)

    for local in range(n_stars):
        kind = str(stars["kind"][local])
        row = base_row(
            kind, star_ra[local], star_dec[local], exposure_at(star_ra[local], star_dec[local])
        )
        row.update(
            {
                "star_local": local,
                "ra": cat_star_ra[local],
                "dec": cat_star_dec[local],
                "pmRA": float(stars["pmRA"][local]),
                "pmDE": float(stars["pmDE"][local]),
            }
        )
        if kind == "dark":
            row.update(
                {
                    "model": "none",
                    "norm": 0.0,
                    "flux_0.5-2.0keV": 0.0,
                    "flux_0.1-2.4keV": 0.0,
                    "rate_broad": 0.0,
                    "expected_counts": 0.0,
                    "expected_counts_broad": 0.0,
                    "simulated_counts": 0,
                }
            )
            rows.append(row)
            continue
        rng = np.random.default_rng(source_seeds[local])
        if kind == "faint":
            spectrum = draw_spectrum(
                rng, settings, rate_range=settings["faint_rate_range"], response=response
            )
        else:
            spectrum = draw_spectrum(rng, settings)
        star_flux[local] = spectrum["flux"]
        add_source(row, rng, spectrum)

    for local, ra_n, dec_n in neighbours:
        rng = np.random.default_rng(source_seeds[local].spawn(1)[0])
        row = base_row("neighbour", ra_n, dec_n, exposure_at(ra_n, dec_n))
        row["neighbour_local"] = local
        row["sep_arcmin"] = float(separation_deg(star_ra[local], star_dec[local], ra_n, dec_n)) * 60
        flux = None
        if stars["kind"][local] == "target":
            ratio = np.exp(rng.uniform(*np.log(NEIGHBOUR_FLUX_RATIO)))
            flux = float(np.clip(star_flux[local] * ratio, *settings["flux_range"]))
        add_source(row, rng, draw_spectrum(rng, settings, flux=flux))

    for k, (ra, dec) in enumerate(zip(unrelated_ra, unrelated_dec, strict=True)):
        rng = np.random.default_rng(source_seeds[n_stars + k])
        add_source(
            base_row("unrelated", ra, dec, exposure_at(ra, dec)), rng, draw_spectrum(rng, settings)
        )

    out_of_gti = out_of_gti_events(geometry, sky_model, gtis)
    parts.append(out_of_gti)

    events = {
        name: np.concatenate([p[name] for p in parts])
        for name, _, _ in EVENT_COLUMNS
        if name != "PHA"
    }
    inside = (
        (events["X"] >= 1)
        & (events["X"] <= SKY_PIXELS)
        & (events["Y"] >= 1)
        & (events["Y"] <= SKY_PIXELS)
    )
    order = np.argsort(events["TIME"][inside], kind="stable")
    events = {name: values[inside][order] for name, values in events.items()}
    events["PHA"] = events["PI"]

    stem = seq_id(number).lower()
    directory = archive_dir / stem
    suffix = ".fits.Z" if settings["compress"] else ".fits"
    paths = {
        "bas": directory / f"{stem}_bas{suffix}",
        "mex": directory / f"{stem}_mex.fits",
        "im1": directory / f"{stem}_im1{suffix}",
    }
    primary = primary_header(number, ra0, dec0, gtis, config_hash)
    write_archive_fits(
        events_hdul(events, primary, gtis, ontime, ra0, dec0, config_hash),
        paths["bas"],
        settings["compress"],
    )
    mex = image_hdul(expmap, primary, ra0, dec0, "s", "effective exposure")
    write_fits(mex, paths["mex"])
    image = counts_image(events, gtis)
    im1 = image_hdul(image, primary, ra0, dec0, "count", "events in PI 7-240 (0.07-2.4 keV)")
    im1[0].header["CHANTYPE"] = ("PI", "channel type of the band filter")
    im1[0].header["CHANMIN"] = (IM1_PI[0], "lowest PI channel included")
    im1[0].header["CHANMAX"] = (IM1_PI[1], "highest PI channel included")
    write_archive_fits(im1, paths["im1"], settings["compress"])

    summary = {
        "skyfield_number": number,
        "seq_id": seq_id(number),
        "ra": ra0,
        "dec": dec0,
        "base_exposure_s": round(exposure_model.base, 3),
        "exposure_min_s": float(expmap.min()),
        "exposure_max_s": float(expmap.max()),
        "ontime_s": ontime,
        "epoch_rass": epoch,
        "n_gti": len(gtis),
        "n_sources": sum(1 for r in rows if r["kind"] != "dark"),
        "n_neighbours": len(neighbours),
        "n_events": len(events["TIME"]),
        "n_background_events": len(parts[0]["TIME"]),
        "n_out_of_gti": len(out_of_gti["TIME"]),
        "n_im1_counts": int(image.sum()),
        "response": response.source,
    }
    return {
        "star_ra": cat_star_ra,
        "star_dec": cat_star_dec,
        "rows": rows,
        "summary": summary,
        "paths": paths,
    }


def counts_image(events: dict, gtis: np.ndarray) -> np.ndarray:
    """512x512 image of events in PI 7..240 inside the GTIs (90 sky pixels per image pixel)."""
    in_time = np.zeros(len(events["TIME"]), dtype=bool)
    for start, stop in gtis:
        in_time |= (events["TIME"] >= start) & (events["TIME"] < stop)
    keep = in_time & (events["PI"] >= IM1_PI[0]) & (events["PI"] <= IM1_PI[1])
    col = (events["X"][keep].astype(np.int64) - 1) // MAP_BINNING
    row = (events["Y"][keep].astype(np.int64) - 1) // MAP_BINNING
    flat = np.bincount(row * MAP_PIXELS + col, minlength=MAP_PIXELS * MAP_PIXELS)
    return flat.reshape(MAP_PIXELS, MAP_PIXELS).astype(np.int32)


def mjd_to_iso(seconds: float) -> str:
    from astropy.time import Time

    mjd = Time(MJDREFI, MJDREFF + seconds / 86400.0, format="mjd", scale="utc")
    return mjd.isot[:19]


def primary_header(number: int, ra0: float, dec0: float, gtis: np.ndarray, config_hash: str):
    """Keywords shared by every HDU of a skyfield's files."""
    from astropy.io import fits

    header = fits.Header()
    header["TELESCOP"] = ("ROSAT", "mission name")
    header["INSTRUME"] = ("PSPCC", "instrument")
    header["OBS_MODE"] = ("SURVEY", "observation mode")
    header["FILTER"] = ("NONE", "filter")
    header["OBJECT"] = (f"RS {number:06d}", "skyfield")
    header["ROR_NUM"] = (f"{number:06d}", "skyfield number")
    header["RA_NOM"] = (ra0, "[deg] field centre RA (J2000)")
    header["DEC_NOM"] = (dec0, "[deg] field centre Dec (J2000)")
    header["EQUINOX"] = (2000.0, "equinox of celestial coordinates")
    header["RADECSYS"] = ("FK5", "celestial coordinate frame")
    header["MJDREFI"] = (MJDREFI, "[d] integer part of the reference MJD")
    header["MJDREFF"] = (MJDREFF, "[d] fractional part of the reference MJD")
    header["TIMEUNIT"] = ("s", "unit of TSTART, TSTOP and TIME")
    header["TSTART"] = (float(gtis[0, 0]), "[s] start of the first GTI")
    header["TSTOP"] = (float(gtis[-1, 1]), "[s] end of the last GTI")
    header["DATE-OBS"] = (mjd_to_iso(gtis[0, 0]), "UTC start of the observation")
    header["DATE-END"] = (mjd_to_iso(gtis[-1, 1]), "UTC end of the observation")
    header["ORIGIN"] = ("RASSFLOW", "simulated skyfield, not ROSAT data")
    stamp(header, tool="simulate", config_hash=config_hash)
    return header


def events_hdul(
    events: dict,
    primary,
    gtis: np.ndarray,
    ontime: float,
    ra0: float,
    dec0: float,
    config_hash: str,
):
    """The _bas file: primary, STDGTI, STDEVT (accepted events) and an empty REJEVT."""
    from astropy.io import fits

    livetime = round(ontime * (1.0 - DEAD_TIME_FRACTION), 3)
    hdus = [fits.PrimaryHDU(header=primary.copy())]
    gti_hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("START", "D", unit="s", array=gtis[:, 0]),
            fits.Column("STOP", "D", unit="s", array=gtis[:, 1]),
        ],
        name="STDGTI",
    )
    gti_hdu.header.extend(primary, unique=True)
    gti_hdu.header["HDUCLASS"] = ("OGIP", "format conforms to OGIP standards")
    gti_hdu.header["HDUCLAS1"] = ("GTI", "good time intervals")
    gti_hdu.header["HDUCLAS2"] = ("STANDARD", "")
    hdus.append(gti_hdu)
    for extname, rows in (("STDEVT", slice(None)), ("REJEVT", slice(0, 0))):
        columns = [
            fits.Column(name, form, unit=unit, array=events[name][rows])
            for name, form, unit in EVENT_COLUMNS
        ]
        table = fits.BinTableHDU.from_columns(columns, name=extname)
        header = table.header
        for n, ctype, crval, cdelt in (
            (1, "RA---TAN", ra0, -SKY_PIXEL_DEG),
            (2, "DEC--TAN", dec0, SKY_PIXEL_DEG),
        ):
            header[f"TLMIN{n}"], header[f"TLMAX{n}"] = 1, SKY_PIXELS
            header[f"TCTYP{n}"] = (ctype, "sky coordinate projection")
            header[f"TCRVL{n}"] = (crval, "[deg] sky coordinate at the reference pixel")
            header[f"TCRPX{n}"] = (SKY_CRPIX, "reference pixel")
            header[f"TCDLT{n}"] = (cdelt, "[deg] pixel size (0.5 arcsec)")
            header[f"TCUNI{n}"] = ("deg", "unit of TCRVL and TCDLT")
        header["TLMIN3"], header["TLMAX3"] = 1, instrument.N_CHANNELS  # PHA
        header["TLMIN4"], header["TLMAX4"] = 1, instrument.N_CHANNELS  # PI
        header["TLMIN6"], header["TLMAX6"] = 1, DET_PIXELS
        header["TLMIN7"], header["TLMAX7"] = 1, DET_PIXELS
        header.extend(primary, unique=True)
        header["HDUCLASS"] = ("OGIP", "format conforms to OGIP standards")
        header["HDUCLAS1"] = ("EVENTS", "event list")
        header["HDUCLAS2"] = ("ACCEPTED" if extname == "STDEVT" else "REJECTED", "")
        header["ONTIME"] = (ontime, "[s] sum of the GTIs")
        header["EXPOSURE"] = (livetime, "[s] whole-skyfield exposure")
        header["LIVETIME"] = (-livetime, "[s] whole-skyfield live time, stored negative")
        stamp(header, tool="simulate", config_hash=config_hash)
        hdus.append(table)
    return fits.HDUList(hdus)


def image_hdul(data: np.ndarray, primary, ra0: float, dec0: float, unit: str, what: str):
    """A 512x512 primary image with the field's 45" TAN WCS."""
    from astropy.io import fits
    from astropy.time import Time

    header = primary.copy()
    # images carry dates but no event-time reference; RADESYS is the current WCS keyword
    for key in ("MJDREFI", "MJDREFF", "TIMEUNIT", "TSTART", "TSTOP", "RADECSYS"):
        header.remove(key)
    header.update(map_wcs(ra0, dec0).to_header())
    for key in ("WCSAXES", "MJDREF"):
        header.remove(key, ignore_missing=True)
    for key, date, what in (("MJD-OBS", "DATE-OBS", "start"), ("MJD-END", "DATE-END", "end")):
        mjd = round(Time(header[date], scale="utc").mjd, 6)
        header[key] = (mjd, f"[d] {what} of the observation (MJD, UTC)")
    header["BUNIT"] = (unit, what)
    return fits.HDUList([fits.PrimaryHDU(data, header)])


def write_archive_fits(hdul, path: Path, compress: bool) -> None:
    """Write FITS, unix-compressed (.Z) as the archive stores it when ``compress``."""
    if not compress:
        write_fits(hdul, path)
        return
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / Path(path).name.removesuffix(".Z")
        write_fits(hdul, plain)
        compress_file(plain, path)
