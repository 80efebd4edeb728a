"""Benchmark: coverage of the absorbed models' 90 % intervals (nH free).

Simulated tbabs*bbody (kT 0.3 keV) and tbabs*powerlaw (Gamma 2) spectra, nH log-uniform in
0.01-1 x 10^22 cm^-2, 400 source counts, folded through the real PSPC-C response when
../shared/reference is present (else a synthetic PSPC-like one), fitted by the Sherpa
fitter (tests/fitting/test_absorbed_coverage.py holds the simulation). Prints the fraction of
90 % intervals that contain the truth for nH, the shape and the absorbed and unabsorbed
0.1-2.4 keV fluxes, per model and overall; a bound that was not found never covers.

    python benchmarks/absorbed_coverage.py [--spectra 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fitting.test_absorbed_coverage import measure_coverage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spectra", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # Sherpa's notes on the response's zero-width bins
    with tempfile.TemporaryDirectory(prefix="rassflow-absorbed-") as directory:
        _, report = measure_coverage(Path(directory), args.spectra, args.workers)
    print(report)


if __name__ == "__main__":
    main()
