from rassflow.logs import logged
from rassflow.products import group_spectrum

with logged(snakemake.log[0]):
    group_spectrum(
        snakemake.params.backend,
        snakemake.input.spectrum,
        snakemake.output.grouped,
        snakemake.params.min_counts,
        snakemake.input.rmf,
        snakemake.input.arf,
        snakemake.input.background,
        snakemake.params.provenance,
        chatter=snakemake.config["tools"]["chatter"],
    )
