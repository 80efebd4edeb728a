"""A PSPC-C-like instrument response: effective area, channel grid and redistribution.

The simulator folds injected spectra through it by default (``response.Response.builtin``;
``simulation.response_file`` swaps in a real OGIP response) and the mini CALDB is always
written from it, so by default the demo survey's responses are consistent by construction.

Facts and where they come from:
- On-axis effective area: the table given in the project's specification, measured from
  the instrument's published response (the deep gap above 0.284 keV is the carbon edge).
- Channel grid: 256 channels of 9.9128 eV starting at 0.014956 keV, read off the EBOUNDS of
  a real PSPC-C response (pspcc_gain1_256.rsp, Sherpa's public test data).
- Redistribution: Gaussian, FWHM/E = 0.44 at 1 keV scaling as E^-0.5.
- Off-axis: an energy-independent mirror vignetting (an approximation; the simulator's
  exposure maps carry the survey-averaged vignetting, so photons are drawn with the
  on-axis area and this function is not applied per photon).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

N_CHANNELS = 256
CHANNEL_WIDTH_KEV = 0.0099128
FIRST_CHANNEL_EMIN_KEV = 0.014956

ONAXIS_AREA_TABLE = np.array(
    [
        (0.08, 0.02),
        (0.10, 4.9),
        (0.12, 26),
        (0.14, 68),
        (0.16, 118),
        (0.18, 160),
        (0.20, 180),
        (0.24, 223),
        (0.28, 255),
        (0.284, 0.05),
        (0.30, 0.15),
        (0.35, 1.6),
        (0.40, 7.6),
        (0.45, 21),
        (0.50, 39),
        (0.60, 70),
        (0.70, 114),
        (0.80, 153),
        (0.90, 186),
        (1.0, 209),
        (1.1, 222),
        (1.2, 225),
        (1.3, 219),
        (1.4, 205),
        (1.5, 183),
        (1.6, 159),
        (1.8, 108),
        (2.0, 57),
        (2.1, 20),
        (2.2, 5.2),
        (2.4, 3.7),
        (2.6, 1.5),
        (2.8, 0.4),
        (3.0, 0.07),
    ]
)  # keV, cm^2

FWHM_OVER_E_AT_1KEV = 0.44
OFFAXIS_ANGLES_ARCMIN = np.arange(0.0, 70.0, 5.0)  # 14 angles, like pspcc_v1.spec_resp


def onaxis_area(energy_kev):
    """On-axis effective area in cm^2, linear between the table's points, 0 outside."""
    energy, area = ONAXIS_AREA_TABLE.T
    return np.interp(energy_kev, energy, area, left=0.0, right=0.0)


def vignetting(theta_arcmin):
    """Fraction of the on-axis area kept at off-axis angle ``theta_arcmin``."""
    theta = np.asarray(theta_arcmin, dtype=float)
    return np.clip(1.0 - 0.45 * (theta / 57.0) ** 2, 0.3, 1.0)


def energy_grid():
    """The response's photon-energy bins (keV): 5 eV steps from 0.05 to 3.01 keV."""
    edges = np.round(np.arange(0.05, 3.0100001, 0.005), 6)
    return edges[:-1], edges[1:]


def channel_bounds():
    """EBOUNDS: (channel, e_min, e_max) in keV for PI channels 1..256."""
    channel = np.arange(1, N_CHANNELS + 1)
    e_min = FIRST_CHANNEL_EMIN_KEV + (channel - 1) * CHANNEL_WIDTH_KEV
    return channel, e_min, e_min + CHANNEL_WIDTH_KEV


def fwhm_kev(energy_kev):
    energy = np.asarray(energy_kev, dtype=float)
    return FWHM_OVER_E_AT_1KEV * np.sqrt(energy)


def redistribution_matrix(energ_lo=None, energ_hi=None):
    """Probability (n_energy x 256) that a photon of each energy bin lands in each channel.

    Rows do not sum to 1 where the Gaussian spills below channel 1 or above 256.
    """
    if energ_lo is None:
        energ_lo, energ_hi = energy_grid()
    centre = 0.5 * (np.asarray(energ_lo) + np.asarray(energ_hi))
    sigma = fwhm_kev(centre) / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    _, e_min, e_max = channel_bounds()
    upper = ndtr((e_max[None, :] - centre[:, None]) / sigma[:, None])
    lower = ndtr((e_min[None, :] - centre[:, None]) / sigma[:, None])
    return upper - lower
