"""What a source's events should look like: its photons' survey PSF, sampled independently.

The expectation draws fresh photon energies from the source's true spectrum (detected
photons: model x on-axis area x the fraction that lands in a channel), channels from the
response, and offsets from ``scan_psf.sample_offsets``, with its own random numbers.
"""

from __future__ import annotations

import numpy as np

from rassflow.fitting import models
from rassflow.simulate import scan_psf
from rassflow.simulate.response import Response

N_SAMPLE = 40_000


def sample_source_photons(source, response: Response | None = None, n=N_SAMPLE, seed=0):
    """(energy keV, PI channel, radius arcmin) of ``n`` photons of a truth row's source."""
    response = response or Response.builtin()
    rng = np.random.default_rng(seed)
    shape = source["kT"] if source["model"] == "bbody" else source["PhoIndex"]
    photons = models.photon_flux(source["model"], (shape, 1.0), response.lo, response.hi)
    detected = photons * response.area * response.kept
    energy_bin = rng.choice(response.lo.size, n, p=detected / detected.sum())
    # a channel given a detected (not lost) photon: redraw the lost ones
    pi = response.draw_channels(rng, energy_bin)
    while np.any(pi == 0):
        lost = pi == 0
        pi[lost] = response.draw_channels(rng, energy_bin[lost])
    width = response.hi - response.lo
    energy = response.lo[energy_bin] + rng.random(n) * width[energy_bin]
    dx, dy = scan_psf.sample_offsets(rng, energy)
    return energy, pi, np.hypot(dx, dy) / 60.0


def expected_eef(source, radii_arcmin, band=None, response=None, seed=0) -> np.ndarray:
    """Expected fraction of a source's events within each radius (of those in PI ``band``)."""
    _, pi, radius = sample_source_photons(source, response, seed=seed)
    if band is not None:
        radius = radius[(pi >= band[0]) & (pi <= band[1])]
    return np.array([np.mean(radius <= r) for r in np.atleast_1d(radii_arcmin)])
