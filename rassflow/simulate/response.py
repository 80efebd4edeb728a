"""The response the simulator folds spectra through: the built-in instrument or an OGIP file.

Two sources of the same three pieces (photon-energy bins, the on-axis area of the photons
that reach the detector, the probability of each PI channel given the photon energy):

- ``Response.builtin()``: ``rassflow.simulate.instrument`` (the table area and a Gaussian
  redistribution), the response the mini CALDB is written from;
- ``Response.from_file(path)``: a full OGIP response (``SPECRESP MATRIX`` = redistribution x
  on-axis area, e.g. the real PSPC-C ``pspcc_gain1_256.rsp``: 729 energies x 256 channels,
  with zero-width bins at the absorption edges and rows without groups). A full response
  only gives the product; the simulator takes each row's sum as the area of photons that
  reach a channel, and the row divided by it as their channel probability, so the expected
  counts per channel are exactly ``sum_E photons(E) x matrix(E, channel)``.

A pure redistribution matrix (rows summing to <= 1) is refused: it carries no area.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rassflow.simulate import instrument

N_CHANNELS = instrument.N_CHANNELS


class Response:
    """Energy bins (keV), on-axis area (cm^2) and channel probabilities (n_energy x 256)."""

    def __init__(self, lo, hi, area, redistribution, source: str):
        self.lo = np.asarray(lo, dtype=float)
        self.hi = np.asarray(hi, dtype=float)
        self.area = np.asarray(area, dtype=float)
        self.redistribution = np.asarray(redistribution, dtype=float)
        self.source = source
        if self.redistribution.shape != (self.lo.size, N_CHANNELS):
            raise ValueError(
                f"response {source}: matrix {self.redistribution.shape}, expected "
                f"({self.lo.size}, {N_CHANNELS})"
            )
        self.kept = self.redistribution.sum(axis=1)  # photons that land in a channel
        # channel sampling: per energy row the cumulative probabilities of channels 1..256
        # and of "lost" (outside the channels), offset by the row index so one sorted,
        # flat array serves every row (see draw_channels)
        lost = np.clip(1.0 - self.kept, 0.0, None)
        cdf = np.cumsum(np.column_stack([self.redistribution, lost]), axis=1)
        total = cdf[:, -1:]
        cdf = np.divide(cdf, total, out=np.ones_like(cdf), where=total > 0)
        cdf[:, -1] = 1.0
        self._flat_cdf = (cdf + np.arange(self.lo.size)[:, None]).ravel()

    @classmethod
    def builtin(cls) -> Response:
        lo, hi = instrument.energy_grid()
        area = instrument.onaxis_area(0.5 * (lo + hi))
        return cls(lo, hi, area, instrument.redistribution_matrix(lo, hi), "instrument")

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Response:
        """Read a full OGIP response (RSP): MATRIX or SPECRESP MATRIX, and EBOUNDS."""
        from astropy.io import fits

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"simulation.response_file {path} does not exist")
        with fits.open(path) as hdul:
            names = [hdu.name for hdu in hdul]
            extname = next((n for n in ("MATRIX", "SPECRESP MATRIX") if n in names), None)
            if extname is None or "EBOUNDS" not in names:
                raise ValueError(f"{path}: no MATRIX/SPECRESP MATRIX and EBOUNDS extensions")
            table = hdul[extname]
            channels = np.asarray(hdul["EBOUNDS"].data["CHANNEL"], dtype=int)
            matrix = _dense_matrix(table, path)
            lo = np.asarray(table.data["ENERG_LO"], dtype=float)
            hi = np.asarray(table.data["ENERG_HI"], dtype=float)
        if matrix.shape[1] != N_CHANNELS or list(channels) != list(
            range(channels[0], channels[0] + N_CHANNELS)
        ):
            raise ValueError(f"{path}: {matrix.shape[1]} channels, the simulator needs 256")
        area = matrix.sum(axis=1)
        if area.max() <= 1.0 + 1e-6:
            raise ValueError(
                f"{path}: rows sum to <= 1, a redistribution matrix without area; "
                "the simulator needs a full response (RSP)"
            )
        redistribution = np.divide(
            matrix, area[:, None], out=np.zeros_like(matrix), where=area[:, None] > 0
        )
        return cls(lo, hi, area, redistribution, str(path))

    def channel_rates(self, photons) -> np.ndarray:
        """Expected counts per PI channel 1..256 of ``photons`` (photons/cm^2/s per bin)."""
        return (np.asarray(photons, dtype=float) * self.area) @ self.redistribution

    def detected_photons(self, photons) -> np.ndarray:
        """Expected photons per energy bin that reach the detector (before redistribution)."""
        return np.asarray(photons, dtype=float) * self.area

    def draw_channels(self, rng, energy_bin: np.ndarray) -> np.ndarray:
        """A PI channel (1..256) per photon of energy bin ``energy_bin``; 0 = lost."""
        energy_bin = np.asarray(energy_bin, dtype=np.int64)
        query = energy_bin + rng.random(energy_bin.size)
        index = np.searchsorted(self._flat_cdf, query, side="right") - energy_bin * (N_CHANNELS + 1)
        index = np.clip(index, 0, N_CHANNELS)
        return np.where(index < N_CHANNELS, index + 1, 0)


def _dense_matrix(table, path) -> np.ndarray:
    """The n_energy x n_channel matrix of an OGIP MATRIX table (groups expanded)."""
    data = table.data
    header = table.header
    n_channels = int(header.get("DETCHANS", 0))
    columns = [name.upper() for name in data.columns.names]
    f_index = columns.index("F_CHAN") + 1
    first_channel = int(header.get(f"TLMIN{f_index}", 1))
    if n_channels <= 0:
        raise ValueError(f"{path}: no DETCHANS keyword")
    matrix = np.zeros((len(data), n_channels))
    for row_number, row in enumerate(data):
        n_groups = int(row["N_GRP"])
        starts = np.atleast_1d(row["F_CHAN"]).astype(int)
        widths = np.atleast_1d(row["N_CHAN"]).astype(int)
        values = np.atleast_1d(row["MATRIX"]).astype(float)
        used = 0
        for group in range(n_groups):
            start = starts[group] - first_channel
            width = widths[group]
            matrix[row_number, start : start + width] = values[used : used + width]
            used += width
    return matrix
