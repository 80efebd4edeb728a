"""A simulated RASS survey: archive-like skyfields, a sample catalog, a 2RXS-like catalog, truth.

The survey is a pure function of ``settings["seed"]``. Random streams are derived by
SeedSequence spawning: child 0 lays out the survey (field centres, which stars go where),
child ``i + 1`` owns skyfield ``i``, and inside a field every source has its own child, so
one field's content does not depend on how many fields are simulated or in which order.

Physics, kept deliberately simple and consistent with ``rassflow.response``:
- Exposure maps are the effective (survey-averaged, vignetting-weighted) exposure, so a
  source's expected counts are exposure(position) x on-axis area x photon flux.
- Channels: counts in each PI channel are Poisson with mean sum_E mu(E) R(E, channel).
  This is exactly the distribution of drawing a Poisson total, photon energies from the
  binned spectrum and a channel per photon from the RMF row (Poisson thinning); photons
  whose channel falls outside 1..256 are lost, as the RMF says.
- PSF: a two-Gaussian profile (core and wing constants below), no energy dependence.
- Background: uniform in counts/s/arcmin^2 times the local exposure; its spectrum is a
  0.2 keV blackbody shape folded through the on-axis area and the RMF.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import models, response
from .config import section_hash
from .io import atomic_path, compress_file, stamp, write_text

DEFAULTS = {
    "seed": 1,
    "n_skyfields": 12,
    "n_stars": 40,
    "xray_fraction": 0.7,
    "n_unrelated_per_field": 2,
    "exposure_range_s": [150.0, 1500.0],
    "background_rate": 3.0e-4,  # counts/s/arcmin^2
    "flux_range": [5.0e-13, 3.0e-11],  # erg/cm^2/s in 0.5-2 keV
    "kT_range": [0.08, 0.4],  # keV
    "gamma_range": [1.5, 4.0],
    "bbody_fraction": 0.5,
    "match_error_arcsec": 3.0,
    "compress": True,
    "first_skyfield_number": 930001,
}

# PSF: fraction of photons in a Gaussian core, the rest in a broad wing
PSF_CORE_FRACTION = 0.92
PSF_CORE_SIGMA_ARCSEC = 20.0
PSF_WING_SIGMA_ARCSEC = 60.0

# Sky pixels of the events (fact sheet §1.6-1.7): 0.5", 46080 per axis = 6.4 deg
SKY_PIXEL_DEG = 1.388889e-4
SKY_PIXELS = 46080
SKY_CRPIX = 23040.5
# Exposure map and images: 512 x 512 pixels of 45" (90 sky pixels)
MAP_PIXELS = 512
MAP_PIXEL_DEG = 0.0125
MAP_CRPIX = 256.5
MAP_BINNING = 90
MAP_PIXEL_ARCMIN2 = (MAP_PIXEL_DEG * 60.0) ** 2

FIELD_HALF_WIDTH_DEG = 3.2
EDGE_MARGIN_DEG = 0.15
# > 6' on the sky; tangent-plane distances exceed sky distances by < 0.3 % in a field
MIN_SEPARATION_DEG = 0.105
MAX_DEC_DEG = 75.0  # field centres avoid the poles, where RA ranges become awkward
MAX_SKYFIELDS = 250  # a Fibonacci lattice of more points lets 6.4 deg fields overlap

# Detector coordinates: 0.934" pixels, optical axis at 4119/3929, ~1 deg field radius
DET_PIXELS = 8192
DET_AXIS = (4119.0, 3929.0)
DET_RADIUS = 3850.0

MJDREFI, MJDREFF = 48043, 0.879745370370074
SURVEY_TIME_RANGE_S = (5.02e6, 2.05e7)  # 1990 Jul 30 - 1991 Jan 25 after MJDREF
DEAD_TIME_FRACTION = 0.04
IM1_PI = (7, 240)  # 0.07-2.4 keV
BACKGROUND_KT_KEV = 0.2
FLUX_BAND_KEV = (0.5, 2.0)
CHECKSUM_COMMENT = "checksum, written by rassflow.simulate"

SPECTRAL_TYPES = [f"M{sub:g} V" for sub in np.arange(0.0, 9.5, 0.5)]
NAME_FORMATS = (
    ("GJ {}", (1, 1300)),
    ("G {:03d}-{:03d}", (1, 280), (1, 70)),
    ("LP {}-{}", (100, 999), (1, 99)),
    ("Ross {}", (1, 1000)),
    ("Wolf {}", (1, 1500)),
    ("LHS {}", (1, 5000)),
)

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
]
RXS_ONLY_COLUMNS = ["cat_ra", "cat_dec", "detection_likelihood"]


def with_defaults(settings: dict | None) -> dict:
    """The settings with every missing key defaulted; unknown keys are an error."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"simulation settings: unknown key(s) {', '.join(unknown)}")
    merged = {**DEFAULTS, **settings}
    if not 1 <= merged["n_skyfields"] <= MAX_SKYFIELDS:
        raise ValueError(
            f"simulation.n_skyfields must be 1..{MAX_SKYFIELDS}, got {merged['n_skyfields']}"
        )
    if merged["first_skyfield_number"] + merged["n_skyfields"] - 1 > 999999:
        raise ValueError("simulation.first_skyfield_number + n_skyfields exceeds 999999")
    return merged


def seq_id(skyfield_number: int) -> str:
    return f"RS{skyfield_number:06d}N00"


def psf_fraction_within(radius_arcsec: float) -> float:
    """Fraction of a source's events within ``radius_arcsec`` of its position."""

    def enclosed(sigma):
        return 1.0 - np.exp(-0.5 * (radius_arcsec / sigma) ** 2)

    return float(
        PSF_CORE_FRACTION * enclosed(PSF_CORE_SIGMA_ARCSEC)
        + (1.0 - PSF_CORE_FRACTION) * enclosed(PSF_WING_SIGMA_ARCSEC)
    )


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


def exposure_map(rng: np.random.Generator, exposure_range) -> tuple[np.ndarray, float]:
    """A smooth 512x512 effective-exposure map (s) and the field's base exposure.

    RASS scans along great circles through the ecliptic poles, so exposure changes mostly
    along one direction: a linear gradient plus shallow stripes from overlapping scans.
    """
    lo, hi = exposure_range
    base = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    angle = rng.uniform(0.0, np.pi)
    gradient = rng.uniform(0.1, 0.4)
    stripe_amplitude = rng.uniform(0.02, 0.06)
    stripe_period = rng.uniform(0.8, 2.0)  # deg
    phase = rng.uniform(0.0, 2.0 * np.pi)
    offsets = (np.arange(MAP_PIXELS) + 1 - MAP_CRPIX) * MAP_PIXEL_DEG
    dx, dy = np.meshgrid(offsets, offsets)
    along = (dx * np.cos(angle) + dy * np.sin(angle)) / FIELD_HALF_WIDTH_DEG
    stripes = stripe_amplitude * np.sin(
        2.0 * np.pi * along * FIELD_HALF_WIDTH_DEG / stripe_period + phase
    )
    values = base * (1.0 + gradient * along + stripes)
    return np.clip(values, lo, hi).astype(np.float32), base


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


class Folding:
    """The response pieces the simulator folds spectra through, computed once."""

    def __init__(self):
        self.lo, self.hi = response.energy_grid()
        self.area = response.onaxis_area(0.5 * (self.lo + self.hi))  # cm^2
        self.rmf = response.redistribution_matrix(self.lo, self.hi)
        background = models.bbody(self.lo, self.hi, BACKGROUND_KT_KEV, 1.0) * self.area @ self.rmf
        self.background_pi_probability = background / background.sum()

    def channel_rates(self, model: str, params) -> np.ndarray:
        """Expected counts/s per PI channel 1..256 on axis (for exposure 1 s)."""
        return (models.photon_flux(model, params, self.lo, self.hi) * self.area) @ self.rmf


def draw_spectrum(rng: np.random.Generator, settings: dict) -> dict:
    model = "bbody" if rng.random() < settings["bbody_fraction"] else "powerlaw"
    shape_range = settings["kT_range"] if model == "bbody" else settings["gamma_range"]
    shape = float(rng.uniform(*shape_range))
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


def source_events(
    rng, folding: Folding, spectrum: dict, exposure: float, x0: float, y0: float, gtis: np.ndarray
) -> tuple[dict, float]:
    """Events of one source at sky pixel (x0, y0) and its expected number of events."""
    params = (spectrum["shape"], spectrum["norm"])
    expected_per_channel = exposure * folding.channel_rates(spectrum["model"], params)
    counts = rng.poisson(expected_per_channel)
    pi = np.repeat(np.arange(1, response.N_CHANNELS + 1), counts)
    n = len(pi)
    sigma_arcsec = np.where(
        rng.random(n) < PSF_CORE_FRACTION, PSF_CORE_SIGMA_ARCSEC, PSF_WING_SIGMA_ARCSEC
    )
    pixel_arcsec = SKY_PIXEL_DEG * 3600.0
    x = np.rint(x0 + rng.normal(0.0, 1.0, n) * sigma_arcsec / pixel_arcsec)
    y = np.rint(y0 + rng.normal(0.0, 1.0, n) * sigma_arcsec / pixel_arcsec)
    detx, dety = detector_positions(rng, n)
    events = {"X": x, "Y": y, "PI": pi, "TIME": times_in(rng, gtis, n), "DETX": detx, "DETY": dety}
    return events, float(expected_per_channel.sum())


def background_events(
    rng, folding: Folding, expmap: np.ndarray, rate: float, gtis: np.ndarray
) -> dict:
    """Background events: Poisson per map pixel, uniform over its 90 x 90 sky pixels."""
    counts = rng.poisson(rate * MAP_PIXEL_ARCMIN2 * expmap.astype(float))
    row, col = np.nonzero(counts)
    repeats = counts[row, col]
    row, col = np.repeat(row, repeats), np.repeat(col, repeats)
    n = len(row)
    x = col * MAP_BINNING + 1 + rng.integers(0, MAP_BINNING, n)
    y = row * MAP_BINNING + 1 + rng.integers(0, MAP_BINNING, n)
    pi = 1 + rng.choice(response.N_CHANNELS, size=n, p=folding.background_pi_probability)
    detx, dety = detector_positions(rng, n)
    return {"X": x, "Y": y, "PI": pi, "TIME": times_in(rng, gtis, n), "DETX": detx, "DETY": dety}


def out_of_gti_events(rng, folding: Folding, gtis: np.ndarray) -> dict:
    """A few background-like events between the GTIs, which an extraction must drop."""
    n = int(rng.integers(3, 10))
    gaps = np.column_stack([gtis[:-1, 1] + 1.0, gtis[1:, 0] - 1.0])
    limit = (FIELD_HALF_WIDTH_DEG - EDGE_MARGIN_DEG) / SKY_PIXEL_DEG
    x = np.rint(SKY_CRPIX + rng.uniform(-limit, limit, n))
    y = np.rint(SKY_CRPIX + rng.uniform(-limit, limit, n))
    pi = 1 + rng.choice(response.N_CHANNELS, size=n, p=folding.background_pi_probability)
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


def simulate_survey(out_dir, settings: dict | None = None) -> dict:
    """Write the simulated survey under ``out_dir``; return the paths written.

    Returns ``{"sample", "rxs", "truth", "truth_fields", "archive": Path,
    "skyfields": {seq_id: {"bas", "mex", "im1": Path}}}``. In ``truth.csv``,
    ``expected_counts`` is the mean number of a source's events in PI 1..256 (what the
    response predicts for its model), ``simulated_counts`` the number drawn, all in GTIs.
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

    folding = Folding()
    stars, sources, fields = [], [], []
    skyfields = {}
    for index in range(n_fields):
        number = settings["first_skyfield_number"] + index
        in_field = np.flatnonzero(star_field == index)
        field = simulate_skyfield(
            out_dir / "archive",
            number,
            centres_ra[index],
            centres_dec[index],
            star_has_xray[in_field],
            field_seeds[index],
            settings,
            folding,
            config_hash,
        )
        for local, star in enumerate(in_field):
            stars.append(
                {"index": star, "ra": field["star_ra"][local], "dec": field["star_dec"][local]}
            )
        for source in field["sources"]:
            local = source.pop("star_local")
            source["star_index"] = None if local is None else int(in_field[local])
            sources.append(source)
        fields.append(field["summary"])
        skyfields[seq_id(number)] = field["paths"]

    sample = pd.DataFrame(stars).sort_values(["ra", "dec"], kind="stable").reset_index(drop=True)
    sample["No"] = np.arange(1, len(sample) + 1)
    star_no = dict(zip(sample["index"], sample["No"], strict=True))
    sample["Karmn"] = unique_designations(
        [karmn_designation(r, d) for r, d in zip(sample["ra"], sample["dec"], strict=True)]
    )
    sample["Name"] = [names[i] for i in sample["index"]]
    sample["SpT"] = [spectral_types[i] for i in sample["index"]]
    sample["Dist"] = [distances[i] for i in sample["index"]]
    sample = sample.rename(columns={"ra": "RAdeg", "dec": "DEdeg"})
    sample = sample[["No", "Karmn", "Name", "RAdeg", "DEdeg", "SpT", "Dist"]]

    for source in sources:
        index = source.pop("star_index")
        source["star_no"] = None if index is None else int(star_no[index])
        source["star_name"] = "" if index is None else names[index]
    truth = pd.DataFrame.from_records(sources, columns=TRUTH_COLUMNS + RXS_ONLY_COLUMNS)
    truth["star_no"] = truth["star_no"].astype("Int64")
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
    write_rxs_catalog(truth, paths["rxs"], settings, config_hash)
    write_text(truth[TRUTH_COLUMNS].to_csv(index=False), paths["truth"])
    write_text(pd.DataFrame(fields).to_csv(index=False), paths["truth_fields"])
    return paths


def write_rxs_catalog(truth: pd.DataFrame, path: Path, settings: dict, config_hash: str) -> None:
    """The 2RXS-like catalog: every injected source at its measured (offset) position."""
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
    write_reproducible_fits(fits.HDUList([fits.PrimaryHDU(), table]), path)


def simulate_skyfield(
    archive_dir: Path,
    number: int,
    ra0: float,
    dec0: float,
    star_has_xray: np.ndarray,
    seed: np.random.SeedSequence,
    settings: dict,
    folding: Folding,
    config_hash: str,
) -> dict:
    """Simulate and write one skyfield; return its stars, sources, summary row and paths."""
    n_stars = len(star_has_xray)
    n_unrelated = settings["n_unrelated_per_field"]
    geometry_seed, background_seed, *source_seeds = seed.spawn(2 + n_stars + n_unrelated)
    geometry = np.random.default_rng(geometry_seed)
    events_wcs = sky_wcs(ra0, dec0)

    expmap, base_exposure = exposure_map(geometry, settings["exposure_range_s"])
    ontime = float(np.round(expmap.max() * geometry.uniform(1.1, 1.4), 3))
    gtis = draw_gtis(geometry, ontime)
    star_offsets = place_offsets(geometry, n_stars, np.empty((0, 2)))
    unrelated_offsets = place_offsets(geometry, n_unrelated, star_offsets)
    star_ra, star_dec = offsets_to_world(events_wcs, star_offsets)
    unrelated_ra, unrelated_dec = offsets_to_world(events_wcs, unrelated_offsets)

    # X-ray sources: stars that have one, then the unrelated sources
    xray_stars = np.flatnonzero(star_has_xray)
    source_list = [(int(i), star_ra[i], star_dec[i]) for i in xray_stars]
    source_list += [(None, r, d) for r, d in zip(unrelated_ra, unrelated_dec, strict=True)]
    seeds = [source_seeds[i] for i in xray_stars] + source_seeds[n_stars:]

    background_rng = np.random.default_rng(background_seed)
    parts = [background_events(background_rng, folding, expmap, settings["background_rate"], gtis)]
    bkg_per_arcmin2 = settings["background_rate"]
    sources = []
    for (star_local, ra, dec), source_seed in zip(source_list, seeds, strict=True):
        rng = np.random.default_rng(source_seed)
        spectrum = draw_spectrum(rng, settings)
        x0, y0 = events_wcs.all_world2pix([[ra, dec]], 1)[0]
        exposure = exposure_at_pixel(expmap, x0, y0)
        events, expected = source_events(rng, folding, spectrum, exposure, x0, y0, gtis)
        parts.append(events)
        offset = rng.normal(0.0, settings["match_error_arcsec"], 2) / 3600.0
        cat_ra = float(np.mod(ra + offset[0] / np.cos(np.radians(dec)), 360.0))
        cat_dec = float(dec + offset[1])
        n_counts = len(events["PI"])
        background_in_cell = bkg_per_arcmin2 * exposure * np.pi  # 1' detection cell
        sources.append(
            {
                "rxs_name": rxs_name(cat_ra, cat_dec),
                "star_local": star_local,
                "ra": ra,
                "dec": dec,
                "cat_ra": cat_ra,
                "cat_dec": cat_dec,
                "skyfield_number": number,
                "seq_id": seq_id(number),
                "model": spectrum["model"],
                "kT": spectrum["shape"] if spectrum["model"] == "bbody" else np.nan,
                "PhoIndex": spectrum["shape"] if spectrum["model"] == "powerlaw" else np.nan,
                "norm": spectrum["norm"],
                "flux_0.5-2.0keV": spectrum["flux"],
                "expected_counts": expected,
                "simulated_counts": n_counts,
                "exposure_s": exposure,
                "detection_likelihood": detection_likelihood(n_counts, background_in_cell),
            }
        )
    out_of_gti = out_of_gti_events(geometry, folding, gtis)
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
    write_reproducible_fits(mex, paths["mex"])
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
        "base_exposure_s": round(base_exposure, 3),
        "exposure_min_s": float(expmap.min()),
        "exposure_max_s": float(expmap.max()),
        "ontime_s": ontime,
        "n_gti": len(gtis),
        "n_sources": len(sources),
        "n_events": len(events["TIME"]),
        "n_out_of_gti": len(out_of_gti["TIME"]),
        "n_im1_counts": int(image.sum()),
    }
    return {
        "star_ra": star_ra,
        "star_dec": star_dec,
        "sources": sources,
        "summary": summary,
        "paths": paths,
    }


def exposure_at_pixel(expmap: np.ndarray, x: float, y: float) -> float:
    """Map value (s) at sky pixel (x, y): nearest map pixel, as the pipeline looks it up."""
    col = int(np.round((x - SKY_CRPIX) / MAP_BINNING + MAP_CRPIX - 1))
    row = int(np.round((y - SKY_CRPIX) / MAP_BINNING + MAP_CRPIX - 1))
    return float(expmap[row, col])


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
        header["TLMIN3"], header["TLMAX3"] = 1, response.N_CHANNELS  # PHA
        header["TLMIN4"], header["TLMAX4"] = 1, response.N_CHANNELS  # PI
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


def write_reproducible_fits(hdul, path: Path) -> None:
    """Write FITS atomically with checksums whose comments carry no time stamp.

    ``rassflow.io.write_fits`` stamps the checksum comments with the write time; a fixed
    comment keeps the survey byte-for-byte a function of its seed.
    """
    for hdu in hdul:
        hdu.add_checksum(when=CHECKSUM_COMMENT)
    with atomic_path(path) as tmp:
        hdul.writeto(tmp, checksum=False)


def write_archive_fits(hdul, path: Path, compress: bool) -> None:
    """Write FITS, unix-compressed (.Z) as the archive stores it when ``compress``."""
    if not compress:
        write_reproducible_fits(hdul, path)
        return
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / Path(path).name.removesuffix(".Z")
        write_reproducible_fits(hdul, plain)
        compress_file(plain, path)
