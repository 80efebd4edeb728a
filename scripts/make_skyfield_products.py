from rassflow.batch import make_skyfield_products
from rassflow.logs import logged

with logged(snakemake.log[0]):
    make_skyfield_products(
        snakemake.input.events,
        snakemake.input.expmap,
        snakemake.input.rmf,
        snakemake.input.specresp,
        snakemake.params.sources,
        snakemake.params.settings,
        snakemake.output.products,
    )
