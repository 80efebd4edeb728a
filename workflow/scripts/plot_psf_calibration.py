from rassflow.logs import logged
from rassflow.report.plots import plot_psf_calibration

with logged(snakemake.log[0]):
    plot_psf_calibration(snakemake.input.calibration, snakemake.output[0])
