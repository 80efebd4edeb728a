from rassflow.logs import logged
from rassflow.plots import plot_spectra

with logged(snakemake.log[0]):
    plot_spectra(list(snakemake.input.fits), snakemake.output[0])
