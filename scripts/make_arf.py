from rassflow.logs import logged
from rassflow.products import make_arf

with logged(snakemake.log[0]):
    make_arf(
        snakemake.params.backend,
        snakemake.input.spectrum,
        snakemake.input.rmf,
        snakemake.input.specresp,
        snakemake.output.arf,
        snakemake.params.method,
        snakemake.params.provenance,
        chatter=snakemake.config["tools"]["chatter"],
    )
