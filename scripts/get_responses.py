from rassflow.caldb import fetch_responses
from rassflow.logs import logged

with logged(snakemake.log[0]):
    fetch_responses(snakemake.params.root, snakemake.params.expression,
                    snakemake.output.rmf, snakemake.output.specresp)
