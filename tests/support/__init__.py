"""What the tests share: paths, file writers (fits.py, archive.py), local servers (servers.py),
reference implementations (bayes_reference.py)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKES = REPO / "tests" / "fakes"  # stand-ins for heasoftpy and PyXspec
SHARED_REFERENCE = REPO.parent / "shared" / "reference"

# the simulated star catalog's columns, as the workflow reads them (workflow/rules/common.smk)
SIMULATED_SAMPLE = {
    "format": "auto",
    "id_column": "No",
    "name_column": "Name",
    "ra_column": "RAdeg",
    "dec_column": "DEdeg",
    "id_prefix": "CARMENES-",
}
