# Fits and photometry of one batch of sources (rassflow.batch).
from rassflow.batch import measure_job
from rassflow.logs import logged

with logged(snakemake.log[0]):
    measure_job(snakemake)
