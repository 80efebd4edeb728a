from rassflow.batch import measure_skyfield
from rassflow.logs import logged

with logged(snakemake.log[0]):
    measure_skyfield(
        snakemake.input.rmf,
        snakemake.input.specresp,
        snakemake.params.sources,
        snakemake.params.settings,
        snakemake.output.fits,
    )
