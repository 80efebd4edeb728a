from rassflow.logs import logged
from rassflow.regions import make_source_regions
from rassflow.status import run_guarded

with logged(snakemake.log[0]):
    ra, dec = snakemake.params.centre
    run_guarded(
        snakemake,
        "make_regions",
        lambda: make_source_regions(
            snakemake.input.events, ra, dec, snakemake.params.regions, dict(snakemake.output.items())
        ),
    )
