from rassflow.logs import logged
from rassflow.report.plots import plot_rate_comparison

with logged(snakemake.log[0]):
    summary = plot_rate_comparison(
        snakemake.input.photometry, snakemake.input.sample, snakemake.output[0]
    )
    print(summary)
