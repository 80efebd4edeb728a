# Forced photometry of one batch of skyfield slices (rassflow.photometry.forced).
from rassflow.logs import logged
from rassflow.photometry.forced import measure_photometry_job

with logged(snakemake.log[0]):
    measure_photometry_job(snakemake)
