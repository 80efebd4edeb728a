# The per-source stages of one job (params.stages) of rassflow.chain, for one source.
from rassflow.chain import run_job
from rassflow.logs import logged

with logged(snakemake.log[0]):
    run_job(snakemake)
