# One per-source stage of rassflow.chain for one source; the stage is the rule's name.
from rassflow.chain import run_job
from rassflow.logs import logged

with logged(snakemake.log[0]):
    run_job(snakemake, snakemake.rule)
