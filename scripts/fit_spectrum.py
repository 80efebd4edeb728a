from rassflow.fitting import fit_and_write
from rassflow.logs import logged

with logged(snakemake.log[0]):
    fit_and_write(
        snakemake.input.grouped,
        snakemake.input.background,
        snakemake.input.rmf,
        snakemake.input.arf,
        dict(snakemake.params.fit),
        snakemake.wildcards.src,
        snakemake.output.fit,
        backend=snakemake.params.backend,
        fitter=snakemake.params.fitter,
    )
