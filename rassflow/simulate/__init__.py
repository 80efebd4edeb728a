"""The offline demo's simulated sky: survey, instrument and a mini CALDB.

Production code never imports from this package; it only writes files that the
pipeline then reads as it reads the real archive and CALDB.
"""

from .survey import simulate_survey

__all__ = ["simulate_survey"]
