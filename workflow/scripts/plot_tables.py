from rassflow.logs import logged
from rassflow.report.plots import write_table_html

with logged(snakemake.log[0]):
    write_table_html(
        snakemake.input.results,
        snakemake.output.results,
        "Spectral results: one row per 2RXS-matched source",
    )
    write_table_html(
        snakemake.input.photometry,
        snakemake.output.photometry,
        "Photometry: one row per sample member",
    )
