# The survey PSF measured on the run's bright isolated sources (rassflow.calibration.psf_stack).
from rassflow.calibration.psf_stack import calibrate_job
from rassflow.logs import logged

with logged(snakemake.log[0]):
    calibrate_job(snakemake)
