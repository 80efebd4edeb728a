# Spectral fits of one batch of sources (rassflow.batch).
from rassflow.batch import fit_job
from rassflow.logs import logged

with logged(snakemake.log[0]):
    fit_job(snakemake)
