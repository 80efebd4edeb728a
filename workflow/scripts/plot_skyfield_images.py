from rassflow.logs import logged
from rassflow.report.plots import plot_image_grid

with logged(snakemake.log[0]):
    plot_image_grid(
        snakemake.params.images,
        snakemake.output[0],
        snakemake.params.seq,
        snakemake.params.regions,
    )
