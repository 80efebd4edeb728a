from rassflow.logs import logged
from rassflow.products import group_spectrum
from rassflow.status import run_guarded

with logged(snakemake.log[0]):
    run_guarded(
        snakemake,
        "group_spectrum",
        lambda: group_spectrum(
            snakemake.params.backend,
            snakemake.input.spectrum,
            snakemake.output.grouped,
            snakemake.params.min_counts,
            snakemake.input.rmf,
            snakemake.input.arf,
            snakemake.input.background,
            snakemake.params.provenance,
            chatter=snakemake.config["tools"]["chatter"],
        ),
    )
