from rassflow.logs import logged
from rassflow.report.results import build_results_table, write_results

with logged(snakemake.log[0]):
    fit = snakemake.params.fit
    table = build_results_table(
        snakemake.input.sample,
        snakemake.params.fits,
        fit["models"],
        fit["flux_bands_keV"],
        snakemake.params.provenance,
        **snakemake.params.distance,
    )
    write_results(table, snakemake.output.csv, snakemake.output.fits, snakemake.params.provenance)
