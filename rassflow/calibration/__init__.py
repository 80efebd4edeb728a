"""Calibration of the ROSAT PSPC: CALDB look-up and the survey point-spread function."""
