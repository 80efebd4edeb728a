from rassflow.logs import logged
from rassflow.report.plots import plot_parameter_histograms

with logged(snakemake.log[0]):
    plot_parameter_histograms(snakemake.input.results, snakemake.output[0], snakemake.params.cuts)
