from rassflow.batch import expand_fit_paths
from rassflow.logs import logged
from rassflow.plots import plot_spectra

with logged(snakemake.log[0]):
    plot_spectra(expand_fit_paths(snakemake.input.fits), snakemake.output[0])
