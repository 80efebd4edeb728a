from rassflow.logs import logged
from rassflow.report.plots import plot_sample_fluxes

with logged(snakemake.log[0]):
    print(plot_sample_fluxes(snakemake.input.photometry, snakemake.output[0]))
