"""What the tests share: paths, file writers (fits.py), local servers (servers.py)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKES = REPO / "tests" / "fakes"  # stand-ins for heasoftpy and PyXspec
SHARED_REFERENCE = REPO.parent / "shared" / "reference"
