from rassflow.logs import logged
from rassflow.products import make_arf
from rassflow.status import run_guarded

with logged(snakemake.log[0]):
    run_guarded(
        snakemake,
        "make_arf",
        lambda: make_arf(
            snakemake.params.backend,
            snakemake.input.spectrum,
            snakemake.input.rmf,
            snakemake.input.specresp,
            snakemake.output.arf,
            snakemake.params.method,
            snakemake.params.provenance,
            chatter=snakemake.config["tools"]["chatter"],
        ),
    )
