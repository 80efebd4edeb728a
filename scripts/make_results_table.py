from rassflow.batch import expand_fit_paths
from rassflow.logs import logged
from rassflow.results import build_results_table, write_results

with logged(snakemake.log[0]):
    fit = snakemake.params.fit
    table = build_results_table(snakemake.input.sample, expand_fit_paths(snakemake.input.fits),
                                fit["models"], fit["flux_bands_keV"], snakemake.params.provenance)
    write_results(table, snakemake.output.csv, snakemake.output.fits, snakemake.params.provenance)
