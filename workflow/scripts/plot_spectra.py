from rassflow.logs import logged
from rassflow.report.plots import plot_spectra

with logged(snakemake.log[0]):
    plot_spectra(snakemake.params.fits, snakemake.output[0], snakemake.params.grouped)
