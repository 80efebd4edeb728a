from pathlib import Path

from rassflow.logs import logged
from rassflow.report.plots import plot_cutouts

with logged(snakemake.log[0]):
    images = {path.split("/")[-2]: path for path in snakemake.input.images}
    plot_cutouts(
        snakemake.input.sample,
        images,
        Path(snakemake.output[0]) / "cutouts.png",
        half_size_arcmin=snakemake.params.half_size,
        regions=snakemake.params.regions,
    )
