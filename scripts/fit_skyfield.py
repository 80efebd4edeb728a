from rassflow.batch import fit_skyfield
from rassflow.logs import logged

with logged(snakemake.log[0]):
    fit_skyfield(
        snakemake.input.manifest,
        snakemake.input.rmf,
        dict(snakemake.params.fit),
        snakemake.output.manifest,
        backend=snakemake.params.backend,
        fitter=snakemake.params.fitter,
    )
