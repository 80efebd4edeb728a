# Regions, spectra, ARFs and grouped spectra of one batch of sources (rassflow.batch).
from rassflow.batch import products_job
from rassflow.logs import logged

with logged(snakemake.log[0]):
    products_job(snakemake)
