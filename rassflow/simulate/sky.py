"""The simulated sky's smooth parts: the exposure model of a skyfield and the diffuse background.

Exposure
--------
``ExposureModel`` is a function of the position in the field's tangent plane: RASS scans
along great circles through the ecliptic poles, so exposure changes mostly along one
direction (a linear gradient plus shallow stripes from overlapping scans), clipped to the
configured range. A source's exposure is this function at its true position; the ``_mex``
file is the function averaged over each 45" pixel (``MAP_OVERSAMPLE``^2 points per pixel),
as an exposure map made by projecting the attitude onto pixels is. The analysis reads the
map at the nearest pixel, so its exposure differs from the truth by the map's gradient
times the distance to the pixel centre (<= 32"), a few 0.1 % here. Exposure already
includes the survey-averaged vignetting (fact sheet sect. 11), so photons are drawn with
the on-axis area times exposure.

Diffuse background
------------------
Snowden et al. (1997, ApJ 485, 125) RASS maps: a few 1e-4 counts/s/arcmin^2 in the broad
band, most of it in the 1/4 keV band (HR1 < 0). Modelled as the sum of

- a soft thermal continuum standing in for the Local Hot Bubble: thermal bremsstrahlung,
  ``dN/dE ~ E^-1 exp(-E / kT)`` (Gaunt factor 1; the real ~0.1 keV plasma is line
  dominated, which the PSPC's resolution does not separate), kT = ``background_kT_keV``;
- an extragalactic power law, photon index ``background_gamma`` (unabsorbed);
- a particle background flat in PI (channels 1..256),

each folded through the on-axis response, normalised so that the total in the broad band
(PI 11-235) is ``background_rate`` counts/s/arcmin^2 per second of exposure map, of which
``background_particle_fraction`` is particles and, of the rest, ``background_soft_fraction``
the thermal component. Everything is spatially uniform on the sky, i.e. the counts follow
the (vignetted) exposure map: during the survey the sky and the particles are recorded
for the same time at every place, and the map's vignetting factor is the survey average,
the same everywhere.
"""

from __future__ import annotations

import numpy as np
from scipy.special import exp1

from rassflow import pspc
from rassflow.fitting import models

MAP_PIXELS = 512
MAP_PIXEL_DEG = 0.0125
MAP_CRPIX = 256.5
FIELD_HALF_WIDTH_DEG = 3.2
MAP_OVERSAMPLE = 3  # sub-samples per map pixel and axis for the pixel average


class ExposureModel:
    """A skyfield's effective exposure (s) as a function of map-plane offsets (deg).

    The offsets are along the map's pixel axes from its reference pixel: ``dx = (x - 256.5)
    x 0.0125``, ``dy = (y - 256.5) x 0.0125`` for 1-based map pixel coordinates (x, y).
    """

    def __init__(self, rng: np.random.Generator, exposure_range):
        self.lo, self.hi = (float(v) for v in exposure_range)
        self.base = float(np.exp(rng.uniform(np.log(self.lo), np.log(self.hi))))
        self.angle = rng.uniform(0.0, np.pi)
        self.gradient = rng.uniform(0.1, 0.4)
        self.stripe_amplitude = rng.uniform(0.02, 0.06)
        self.stripe_period = rng.uniform(0.8, 2.0)  # deg
        self.phase = rng.uniform(0.0, 2.0 * np.pi)

    def _along(self, dx, dy):
        return (dx * np.cos(self.angle) + dy * np.sin(self.angle)) / FIELD_HALF_WIDTH_DEG

    def __call__(self, dx, dy):
        along = self._along(np.asarray(dx, dtype=float), np.asarray(dy, dtype=float))
        stripes = self.stripe_amplitude * np.sin(
            2.0 * np.pi * along * FIELD_HALF_WIDTH_DEG / self.stripe_period + self.phase
        )
        return np.clip(self.base * (1.0 + self.gradient * along + stripes), self.lo, self.hi)

    def at_map_pixel(self, x, y):
        """Exposure at 1-based (continuous) map pixel coordinates."""
        return self(
            (np.asarray(x) - MAP_CRPIX) * MAP_PIXEL_DEG, (np.asarray(y) - MAP_CRPIX) * MAP_PIXEL_DEG
        )

    def pixel_map(self, oversample: int = MAP_OVERSAMPLE) -> np.ndarray:
        """The 512 x 512 map (float32, [row, col]): the model averaged over each pixel.

        Evaluated on the oversampled grid by separating the plane wave of the stripes,
        sin(kx dx + ky dy + phase) = sin(kx dx + phase) cos(ky dy) + cos(kx dx + phase)
        sin(ky dy), so only 1-D sines are computed.
        """
        sub = (np.arange(oversample) + 0.5) / oversample - 0.5
        centres = np.arange(MAP_PIXELS) + 1.0
        points = ((centres[:, None] + sub[None, :]).ravel() - MAP_CRPIX) * MAP_PIXEL_DEG
        cos_a, sin_a = np.cos(self.angle), np.sin(self.angle)
        wave = 2.0 * np.pi / self.stripe_period
        along_x = points * cos_a / FIELD_HALF_WIDTH_DEG
        along_y = points * sin_a / FIELD_HALF_WIDTH_DEG
        amplitude = self.base * self.stripe_amplitude
        values = self.base * (1.0 + self.gradient * (along_y[:, None] + along_x[None, :]))
        values += np.outer(
            amplitude * np.cos(wave * sin_a * points), np.sin(wave * cos_a * points + self.phase)
        )
        values += np.outer(
            amplitude * np.sin(wave * sin_a * points), np.cos(wave * cos_a * points + self.phase)
        )
        np.clip(values, self.lo, self.hi, out=values)
        shape = (MAP_PIXELS, oversample, MAP_PIXELS, oversample)
        return values.reshape(shape).mean(axis=(1, 3)).astype(np.float32)


def bremsstrahlung(lo, hi, kT):
    """Photons per bin of ``E^-1 exp(-E / kT)`` (unit norm), integrated exactly."""
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    return exp1(lo / kT) - exp1(hi / kT)


def broad_band_sum(channel_values) -> float:
    lo, hi = pspc.BROAD_BAND
    return float(np.sum(channel_values[lo - 1 : hi]))


def background_components(response, settings: dict) -> dict[str, np.ndarray]:
    """Counts/s/arcmin^2 per PI channel 1..256 (per second of exposure map) of each component."""
    total = settings["background_rate"]
    particle = settings["background_particle_fraction"]
    soft = settings["background_soft_fraction"]
    shares = {
        "thermal": total * (1.0 - particle) * soft,
        "powerlaw": total * (1.0 - particle) * (1.0 - soft),
        "particle": total * particle,
    }
    shapes = {
        "thermal": response.channel_rates(
            bremsstrahlung(response.lo, response.hi, settings["background_kT_keV"])
        ),
        "powerlaw": response.channel_rates(
            models.powerlaw(response.lo, response.hi, settings["background_gamma"], 1.0)
        ),
        "particle": np.ones(response.redistribution.shape[1]),
    }
    out = {}
    for name, shape in shapes.items():
        norm = broad_band_sum(shape)
        out[name] = shape * (shares[name] / norm) if norm > 0 else np.zeros_like(shape)
    return out


def hardness_ratio_1(channel_values) -> float:
    """2RXS HR1 = (B - A) / (B + A) of counts (or rates) per PI channel 1..256."""
    (a_lo, a_hi), (b_lo, b_hi) = pspc.HR_BANDS["A"], pspc.HR_BANDS["B"]
    a = float(np.sum(channel_values[a_lo - 1 : a_hi]))
    b = float(np.sum(channel_values[b_lo - 1 : b_hi]))
    return (b - a) / (b + a)
