"""The one taxonomy of bad input data.

A stage that meets data it cannot use raises a :class:`DataError` (or one of the standard
errors that astropy and numpy raise on bad files and values, see :data:`DATA_ERRORS`). The
source (or skyfield) then fails with that reason and the run goes on; any other exception
is a bug and fails the job. Both granularities catch exactly these, so a failed source gets
the same row whichever ran it.
"""

from __future__ import annotations


class DataError(Exception):
    """Input data that a stage cannot use; the message names the file, source or skyfield."""


DATA_ERRORS: tuple[type[BaseException], ...] = (DataError, OSError, ValueError, KeyError)
"""What counts as bad data: ours, plus what astropy raises on unreadable or truncated files
(OSError), bad values (ValueError) and missing header keywords (KeyError)."""


class BackendUnavailable(RuntimeError):
    """A requested tool backend cannot run here; the message says how to install it."""


HEASOFT_INSTALL_HINT = (
    "Install HEASoft (with heasoftpy and PyXspec) from HEASARC's conda channel:\n"
    "  conda install -c https://heasarc.gsfc.nasa.gov/FTP/software/conda -c conda-forge "
    "heasoft xspec-data\n"
    "(or create the environment in workflow/envs/heasoft.yaml), activate it so that HEADAS is set, or "
    "run inside the Fornax HEA container, which ships HEASoft, heasoftpy and PyXspec "
    "initialised. Without them, use products: native and fitter: sherpa."
)
